#!/usr/bin/env python3
"""Signed policy bundles and a signed revocation feed across a fleet of real Envoys.

Three Envoys — two with dist/filter.wasm, one with dist/libvigil.so, each `--concurrency 2` —
are configured with only `{"bundle": {...}}`, and a workerd runs the edge worker
(examples/edge-worker, the JS module's `bundleSource`) with `BUNDLE_URL`; all poll one origin (a plain HTTP server with
ETag / If-None-Match, standing in for an object store or CDN). Bundles are signed with the
real CLI (`vigil bundle keygen | sign`). Checked, through real requests:

* nothing is served before the first valid bundle (503), then revision 1 everywhere;
* every new revision is enforced on every worker of every Envoy: after the first request that
  sees it, no request on that Envoy sees the old one; the time from publishing to "enforced
  on all three" is measured over repeated publications (median and p99, target 1 s);
* a signed revocation, a signed network-list feed (100,000 ranges) and an unsigned risk-label
  feed reach every Envoy the same way (the edge worker does not poll feeds: Envoys only);
* a tampered bundle, a replayed older revision, and a bundle signed by an unknown key are
  refused by every Envoy (counter and log line), the last good policy stays;
* an origin outage keeps the last good state; a rotated key (the second trusted key) works;
* the origin's request rate with the fleet idle: conditional requests answered 304.

Usage: fleet_test.py [--publications N]   (default 12)
Prints one row per check and `N passed, N failed`; exit 1 on any failure.
"""

import argparse
import hashlib
import http.server
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
import workerd  # noqa: E402

ROOT = harness.ROOT
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
VIGIL = os.environ.get("VIGIL_CLI", os.path.join(TARGET, "debug", "vigil"))
FIXTURES = os.environ.get("VIGIL_FIXTURES", os.path.join(TARGET, "debug", "vigil-fixtures"))
ISSUER = "https://idp.vigil.test"
POLICY_POLL_MS = 500
FEED_POLL_MS = 300


class Origin:
    """Serves bundles with a strong ETag (SHA-256 of the body) and answers If-None-Match with
    304; counts requests and bytes; `down` answers 503."""

    def __init__(self):
        self.docs = {}
        self.lock = threading.Lock()
        self.down = False
        self.reset()
        outer = self

        class H(harness._Quiet):
            def do_GET(self):
                path = self.path.split("?")[0]
                with outer.lock:
                    body = outer.docs.get(path)
                    down = outer.down
                if down:
                    outer.count(path, 503, 0)
                    return self.reply(503, '{"error":"down"}')
                if body is None:
                    outer.count(path, 404, 0)
                    return self.reply(404, '{"error":"not found"}')
                etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'
                if self.headers.get("if-none-match") == etag:
                    outer.count(path, 304, 0)
                    self.send_response(304)
                    self.send_header("etag", etag)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                outer.count(path, 200, len(body))
                self.reply(200, body, ctype="application/jose", extra=[("etag", etag)])

        self.port = harness.free_port()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), H)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self, path, status, size):
        with self.lock:
            k = (path, status)
            self.hits[k] = self.hits.get(k, 0) + 1
            self.bytes += size

    def reset(self):
        self.hits = {}
        self.bytes = 0

    def publish(self, path, body):
        with self.lock:
            self.docs[path] = body

    def stop(self):
        self.server.shutdown()


def run(*args, stdin=None):
    r = subprocess.run(list(args), capture_output=True, text=True, input=stdin)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")
    return r.stdout


class Signer:
    def __init__(self, work):
        self.work = work
        sets = []
        self.keys = {}
        for kid in ("fleet-a", "fleet-b"):
            path = os.path.join(work, f"{kid}.jwk")
            sets.append(json.loads(run(VIGIL, "bundle", "keygen", "--kid", kid, "--out", path)))
            self.keys[kid] = path
        # A key nobody trusts, for the forged bundle.
        self.rogue = os.path.join(work, "rogue.jwk")
        run(VIGIL, "bundle", "keygen", "--kid", "fleet-a", "--out", self.rogue)
        self.jwks = {"keys": [k for s in sets for k in s["keys"]]}

    def sign(self, kind, revision, doc, kid="fleet-a", key=None):
        path = os.path.join(self.work, f"{kind}-{revision}.json")
        with open(path, "w") as f:
            json.dump(doc, f)
        return run(VIGIL, "bundle", "sign", "--key", key or self.keys[kid], "--kind", kind,
                   "--revision", str(revision), path).strip()


class Results:
    def __init__(self):
        self.rows = []
        self.failed = 0

    def check(self, name, ok, detail=""):
        self.rows.append(("ok" if ok else "FAIL", name, detail))
        if not ok:
            self.failed += 1
        print(f"{'ok' if ok else 'FAIL':4}  {name}  {detail[:160]}", flush=True)


def stats(env, build):
    prefix = harness.STATS_PREFIX[build]
    with urllib.request.urlopen(f"http://127.0.0.1:{env.admin}/stats?filter=^{prefix}vigil_", timeout=5) as r:
        out = {}
        for line in r.read().decode().splitlines():
            k, _, v = line.partition(": ")
            out[k[len(prefix):]] = int(v) if v.isdigit() else v
        return out


def status(port, path, token=None):
    headers = [("authorization", f"Bearer {token}")] if token else []
    try:
        return harness.request(port, "GET", path, headers=headers, timeout=5)[0]
    except OSError:
        return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--publications", type=int, default=12)
    args = ap.parse_args()
    for need in (VIGIL, FIXTURES, harness.WASM, os.path.join(harness.NATIVE_DIR, "libvigil.so")):
        if not os.path.exists(need):
            print(f"fleet_test: {need} is missing (scripts/build, cargo test)", file=sys.stderr)
            return 2
    res = Results()
    work = tempfile.mkdtemp(prefix="vigil-fleet-")
    signer = Signer(work)
    jwks = json.loads(subprocess.run([FIXTURES, "jwks"], check=True, capture_output=True, text=True).stdout)
    jwks = {"keys": [k for k in jwks["keys"] if k["kid"] == "rsa-1"]}
    token = subprocess.run([FIXTURES, "token", "--issuer", ISSUER, "--aud", "api", "--sub", "fleet-user", "--alg", "RS256",
                            "--exp-in", "3600", "--claims", json.dumps({"jti": "j-fleet"})],
                           check=True, capture_output=True, text=True).stdout.strip()
    origin = Origin()
    up = harness.Upstream()
    feed_uri = f"http://127.0.0.1:{origin.port}/revocations.bundle"
    feed = lambda path, **kw: {"uri": f"http://127.0.0.1:{origin.port}{path}", "cluster": "origin",  # noqa: E731
                               "pollMs": FEED_POLL_MS, **kw}

    def policy(rev):
        return {
            "jwtRules": [{"issuer": ISSUER, "audiences": ["api"], "jwks": jwks}],
            "revocation": {"feed": {"uri": feed_uri, "cluster": "origin", "pollMs": FEED_POLL_MS, "keys": signer.jwks}},
            "network": {"lists": {"blocked": []}, "feed": feed("/networks.bundle", keys=signer.jwks)},
            "riskLabels": {"feed": feed("/labels.json")},
            "authorizationPolicies": [
                {"name": "blocked", "action": "DENY", "rules": [{"when": [{"key": "network.list[blocked]", "values": ["true"]}]}]},
                {"name": "compromised", "action": "DENY", "rules": [{"when": [{"key": "subject.labels", "values": ["compromised"]}]}]},
                {"name": f"rev-{rev}", "rules": [{"to": [{"operation": {"paths": [f"/v{rev}"]}}]}]},
                {"name": "users", "rules": [{"from": [{"source": {"requestPrincipals": ["*"]}}],
                                             "to": [{"operation": {"paths": ["/tok"]}}]}]},
            ],
        }

    # The runnable example (a bundled Vigil and Envoy's global rate limit service keyed by the
    # verified identity) loads; a bundled configuration with an unusable key does not.
    example = open(os.path.join(ROOT, "examples", "envoy", "fleet.yaml")).read().replace("dist/filter.wasm", harness.WASM)
    for label, text, want_ok, needle in [
        ("examples/envoy/fleet.yaml (bundle + global rate limit) loads", example, True, ""),
        ("a bundle key that is not Ed25519 is refused at configuration", example.replace('"crv": "Ed25519"', '"crv": "X25519"'),
         False, "vigil: invalid bundle configuration: bundle.keys"),
    ]:
        path = os.path.join(work, "fleet-example.yaml")
        open(path, "w").write(text)
        r = subprocess.run([harness.ENVOY, "--mode", "validate", "-c", path, "--base-id", "4190"],
                           capture_output=True, text=True, timeout=120, env=harness.envoy_env())
        out = (r.stdout + r.stderr).strip()
        res.check(label, (r.returncode == 0) == want_ok and needle in out, out.splitlines()[-1][:160] if out else "")

    config = json.dumps({"bundle": {"uri": f"http://127.0.0.1:{origin.port}/policy.bundle", "cluster": "origin",
                                    "keys": signer.jwks, "pollMs": POLICY_POLL_MS}})
    fleet = []
    edge = None
    try:
        for i, build in enumerate(("wasm", "wasm", "native")):
            port = harness.free_port()
            cfg = {"static_resources": {
                "listeners": [harness.listener("fleet", port, [harness.vigil_filter(config, build=build)])],
                "clusters": [harness.cluster("upstream", up.port), harness.cluster("origin", origin.port)]}}
            env = harness.Envoy(cfg, work, base_id=4100 + i)
            rc, out = env.validate()
            if rc != 0:
                res.check(f"envoy {i} ({build}): bundled configuration validates", False, out[-300:])
                return 1
            env.start(concurrency=2)
            fleet.append((f"envoy-{i}-{build}", build, port, env))
        envoys = list(fleet)
        # The edge: the same signed bundles through the JS module in a real workerd.
        edge = workerd.Workerd(work, [("edge", "{}", [
            f'(name = "BUNDLE_URL", text = {workerd.capnp_str(f"http://127.0.0.1:{origin.port}/policy.bundle")})',
            f'(name = "BUNDLE_KEYS", text = {workerd.capnp_str(json.dumps(signer.jwks))})',
            '(name = "BUNDLES", service = "origin")',
            f'(name = "BUNDLE_POLL_MS", text = "{POLICY_POLL_MS}")',
            '(name = "ORIGIN", service = "upstream")',
        ])], {"origin": origin.port, "upstream": up.port})
        edge.start()
        fleet.append(("workerd-edge", "js", edge.ports["edge"], None))
        names = ", ".join(n for n, *_ in fleet)

        # Before the first bundle: closed.
        got = {n: status(p, "/v1") for n, _, p, _ in fleet}
        res.check("no bundle yet: every Envoy and the edge refuse (503)", set(got.values()) == {503}, json.dumps(got))

        origin.publish("/revocations.bundle", signer.sign("revocation", 1, {"jtis": []}))
        ranges = [f"{10 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}.0/24" for i in range(100_000)]
        origin.publish("/networks.bundle", signer.sign("networkLists", 1, {"lists": {"blocked": ranges}}))
        origin.publish("/labels.json", json.dumps({"labels": []}))
        origin.publish("/policy.bundle", signer.sign("policy", 1, policy(1)))

        def enforced(path, want, t0, deadline_s=5.0, token=None, members=None):
            """Polls every member (default: the Envoys and the edge) until each answers `want`
            for 8 requests in a row; returns (seconds until all did, {member: old answers seen
            after its first new one})."""
            members = members or fleet
            done, streak, regress, first = {}, {}, {}, {}
            while len(done) < len(members) and time.time() - t0 < deadline_s:
                for n, _, p, _ in members:
                    if n in done:
                        continue
                    st = status(p, path, token)
                    now = time.time()
                    if st == want:
                        first.setdefault(n, now)
                        streak[n] = streak.get(n, 0) + 1
                        if streak[n] >= 8:
                            done[n] = first[n] - t0
                    else:
                        if n in first:
                            regress[n] = regress.get(n, 0) + 1
                        streak[n] = 0
                time.sleep(0.01)
            enforced.last = done
            return (max(done.values()) if len(done) == len(members) else None), regress

        t, regress = enforced("/v1", 200, time.time(), deadline_s=10)
        res.check("revision 1 installed on every Envoy and the edge", t is not None,
                  json.dumps({n: round(v, 3) for n, v in enforced.last.items()}))
        res.check("authenticated route works", all(status(p, "/tok", token) == 200 for _, _, p, _ in fleet))

        # Repeated publications: time to enforcement on all three.
        times, regressions = [], {}
        rev = 1
        for _ in range(args.publications):
            rev += 1
            time.sleep(0.15 + (rev % 5) * 0.07)  # publish at different phases of the poll
            origin.publish("/policy.bundle", signer.sign("policy", rev, policy(rev)))
            t0 = time.time()
            t, regress = enforced(f"/v{rev}", 200, t0)
            for n, c in regress.items():
                regressions[n] = regressions.get(n, 0) + c
            if t is None:
                res.check(f"revision {rev} enforced everywhere", False, "not within 5 s")
                break
            times.append(t)
            old = {n: status(p, f"/v{rev - 1}") for n, _, p, _ in fleet}
            if not set(old.values()) <= {401, 403}:
                res.check(f"revision {rev}: the old revision's route is refused", False, json.dumps(old))
        if times:
            times.sort()
            p99 = times[min(len(times) - 1, int(round(0.99 * (len(times) - 1))))]
            res.check(f"new revision enforced on every worker of 3 Envoys and a workerd: p99 {p99:.3f} s (target 1 s)",
                      p99 < 1.0 and len(times) == args.publications,
                      f"{len(times)} publications, median {statistics.median(times):.3f} s, max {times[-1]:.3f} s, "
                      f"policy polled every {POLICY_POLL_MS} ms")
        res.check("no old answer after a new one on any Envoy or the edge (every worker installs at once)",
                  not regressions, json.dumps(regressions))
        for n, build, _, env in envoys:
            s = stats(env, build)
            res.check(f"{n}: vigil_bundle_installed counts every worker's installs",
                      s.get("vigil_bundle_installed", 0) >= rev, json.dumps({k: v for k, v in s.items() if "bundle" in k}))

        # A signed revocation.
        origin.publish("/revocations.bundle", signer.sign("revocation", 2, {"jtis": ["j-fleet"]}))
        t, regress = enforced("/tok", 401, time.time(), token=token, members=envoys)
        res.check("signed revocation enforced on every Envoy", t is not None and t < 1.0 and not regress,
                  f"{t if t is None else round(t, 3)} s, feed polled every {FEED_POLL_MS} ms")

        # A network-list feed entry (the client's own address, beside 100,000 ranges), then a
        # risk label on the token's subject; each enforced everywhere, then withdrawn.
        origin.publish("/networks.bundle", signer.sign("networkLists", 2, {"lists": {"blocked": ranges + ["127.0.0.1/32"]}}))
        t, regress = enforced(f"/v{rev}", 403, time.time(), members=envoys)
        res.check("network-list feed (signed, 100,001 ranges): a new range enforced on every Envoy",
                  t is not None and t < 1.0 and not regress, f"{t if t is None else round(t, 3)} s, polled every {FEED_POLL_MS} ms")
        origin.publish("/networks.bundle", signer.sign("networkLists", 3, {"lists": {"blocked": ranges}}))
        t, _ = enforced(f"/v{rev}", 200, time.time(), members=envoys)
        res.check("network-list feed: the range withdrawn everywhere", t is not None, f"{t}")
        second = subprocess.run([FIXTURES, "token", "--issuer", ISSUER, "--aud", "api", "--sub", "flagged", "--alg", "RS256",
                                 "--exp-in", "3600"], check=True, capture_output=True, text=True).stdout.strip()
        res.check("a second user is allowed before the label", all(status(p, "/tok", second) == 200 for _, _, p, _ in fleet))
        origin.publish("/labels.json", json.dumps({"labels": [{"sub": "flagged", "iss": ISSUER, "labels": ["compromised"]}]}))
        t, regress = enforced("/tok", 403, time.time(), token=second, members=envoys)
        res.check("risk-label feed: `compromised` on a subject enforced on every Envoy (subject.labels)",
                  t is not None and t < 1.0 and not regress, f"{t if t is None else round(t, 3)} s")
        for n, build, _, env in envoys:
            s = stats(env, build)
            res.check(f"{n}: feed counters", s.get("vigil_network_feed_poll_ok", 0) > 0 and s.get("vigil_labels_feed_poll_ok", 0) > 0,
                      json.dumps({k: v for k, v in s.items() if "feed" in k}))

        # Refusals: tampered, replayed, unknown key, another key's signature under a trusted kid.
        good = f"/v{rev}"
        before = {n: stats(env, b).get("vigil_bundle_refused", 0) for n, b, _, env in envoys}
        # The edge logs the JS module's message (the code is the Envoy log's).
        edge_says = {"bad_signature": "does not verify", "stale_revision": "is not above"}
        current = signer.sign("policy", rev + 1, policy(rev + 1))
        h, p, s = current.split(".")
        tampered = f"{h}.{p}.{('B' if s[0] != 'B' else 'C') + s[1:]}"
        for label, body, code in [
            ("tampered signature", tampered, "bad_signature"),
            ("replayed revision 1", signer.sign("policy", 1, policy(1)), "stale_revision"),
            ("signed by an untrusted key under a trusted kid", signer.sign("policy", rev + 1, policy(rev + 1), key=signer.rogue),
             "bad_signature"),
        ]:
            for n, _, _, env in envoys:
                env._log_mark = len(env.log())
            edge_mark = len(edge.log())
            origin.publish("/policy.bundle", body)
            time.sleep(1.5)
            got = {n: status(p, good) for n, _, p, _ in fleet}
            newer = {n: status(p, f"/v{rev + 1}") for n, _, p, _ in fleet}
            logged = {n: f"[{code}]" in env.log()[env._log_mark:] for n, _, _, env in envoys}
            logged["workerd-edge"] = edge_says[code] in edge.log()[edge_mark:]
            res.check(f"{label}: refused by every Envoy and the edge, last good policy kept ({code})",
                      set(got.values()) == {200} and set(newer.values()) <= {401, 403} and all(logged.values()),
                      json.dumps({"kept": got, "logged": logged}))
        after = {n: stats(env, b).get("vigil_bundle_refused", 0) for n, b, _, env in envoys}
        res.check("vigil_bundle_refused counted on every Envoy", all(after[n] > before[n] for n in after), json.dumps(after))

        # Origin outage: the last good state stays.
        origin.down = True
        time.sleep(1.5)
        got = {n: status(p, good) for n, _, p, _ in fleet}
        failed = {n: stats(env, b).get("vigil_bundle_poll_failed", 0) for n, b, _, env in envoys}
        res.check("origin down: every Envoy and the edge keep the last good policy", set(got.values()) == {200}
                  and all(v > 0 for v in failed.values()), json.dumps({"status": got, "poll_failed": failed}))
        origin.down = False

        # Rotation: the second trusted key signs the next revision.
        rev += 1
        origin.publish("/policy.bundle", signer.sign("policy", rev, policy(rev), kid="fleet-b"))
        t, _ = enforced(f"/v{rev}", 200, time.time())
        res.check("key rotation: a bundle signed by the second trusted key is installed", t is not None, f"{t}")

        # The origin's load with the fleet idle.
        time.sleep(1.0)
        origin.reset()
        window = 5.0
        time.sleep(window)
        with origin.lock:
            hits, served = dict(origin.hits), origin.bytes
        total = sum(hits.values())
        not_modified = sum(v for (path, st), v in hits.items() if st == 304)
        # The edge polls only when requests come (none while idle).
        expected = len(envoys) * window * (1000 / POLICY_POLL_MS + 3 * 1000 / FEED_POLL_MS)
        res.check(f"origin load, 3 idle Envoys: {total / window:.1f} requests/s, {not_modified * 100 // max(total, 1)} % answered 304, "
                  f"{served} body bytes in {window:.0f} s",
                  total > 0 and not_modified == total and total <= expected * 1.3,
                  json.dumps({f"{k[0]} {k[1]}": v for k, v in hits.items()}) + f"; one poll per Envoy per period: {expected:.0f}")
    finally:
        for *_, env in fleet:
            if env is not None:
                env.stop()
        if edge is not None:
            edge.stop()
        origin.stop()
        up.stop()
    print(f"{len(res.rows) - res.failed} passed, {res.failed} failed")
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main())
