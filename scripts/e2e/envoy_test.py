#!/usr/bin/env python3
"""Vigil in a real Envoy: end-to-end cases over HTTP.

Usage: envoy_test.py [--demo] [--keep]
  --demo  print the readable table of the main scenarios only (scripts/demo)
Prints one row per case and a final `N passed, N failed` line; exit 1 on any failure.
"""

import json
import os
import ssl
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from harness import request  # noqa: E402
import certs  # noqa: E402

ROOT = harness.ROOT
WASM = os.environ.get("VIGIL_WASM", os.path.join(ROOT, "dist", "filter.wasm"))

POLICY = {
    "realm": "vigil-e2e",
    "authorizationPolicies": [
        {"name": "block-admin", "action": "DENY",
         "rules": [{"to": [{"operation": {"paths": ["/admin", "/admin/*"]}}]}]},
        {"name": "public-read", "rules": [{"to": [{"operation": {"methods": ["GET", "HEAD"], "paths": ["/public/*"]}}]}]},
        {"name": "payments", "rules": [{
            "from": [{"source": {"principals": ["cluster.local/ns/production/sa/frontend"]}}],
            "to": [{"operation": {"methods": ["POST"], "paths": ["/checkout/*"]}}]}]},
        {"name": "audit-checkout", "action": "AUDIT", "rules": [{"to": [{"operation": {"paths": ["/checkout/*"]}}]}]},
    ],
}


class Results:
    def __init__(self):
        self.rows = []
        self.failed = 0

    def check(self, name, req_desc, got_status, ok, detail=""):
        self.rows.append((name, req_desc, got_status, "ok" if ok else "FAIL", detail))
        if not ok:
            self.failed += 1

    def print(self):
        w = [max(len(str(r[i])) for r in self.rows) for i in range(3)]
        for r in self.rows:
            print(f"{r[3]:4}  {r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]!s:<{w[2]}}  {r[4][:110]}")
        print(f"{len(self.rows) - self.failed} passed, {self.failed} failed")


def body_reason(body):
    try:
        return json.loads(body).get("reason", "")
    except ValueError:
        return body[:80]


FIXTURES = os.environ.get("VIGIL_FIXTURES", os.path.join(ROOT, "target", "debug", "vigil-fixtures"))
ISSUER = "https://idp.vigil.test"


def fixture(*args):
    import subprocess
    return subprocess.run([FIXTURES, *args], check=True, capture_output=True, text=True).stdout.strip()


def jwks_with(kids):
    full = json.loads(fixture("jwks"))
    return json.dumps({"keys": [k for k in full["keys"] if k["kid"] in kids]})


def token(sub, alg="RS256", claims=None, exp_in=3600, extra=()):
    args = ["token", "--issuer", ISSUER, "--aud", "api", "--sub", sub, "--alg", alg, "--exp-in", str(exp_in)]
    if claims:
        args += ["--claims", json.dumps(claims)]
    return fixture(*args, *extra)


def token_phase(res, case, base_config, work, up, keys, base_id, demo):
    """Tokens with keys fetched from a key server through an Envoy cluster: allow with forwarded
    claims, missing/invalid/forbidden, spoofed headers, key rotation, key server down."""
    keys.docs["/jwks"] = jwks_with({"rsa-1"})
    policy = {
        "realm": "vigil-e2e",
        "jwtRules": [
            {"issuer": ISSUER, "audiences": ["api"], "jwksUri": f"http://127.0.0.1:{keys.port}/jwks",
             "algorithms": ["RS256", "ES256", "EdDSA"],
             "jwksCache": {"cluster": "keys", "ttlSeconds": 2, "refetchCooldownSeconds": 1},
             "outputClaimToHeaders": [{"header": "x-user", "claim": "sub"}, {"header": "x-groups", "claim": "groups"}]},
            {"issuer": "https://down.vigil.test", "jwksUri": "http://127.0.0.1:9/jwks", "algorithms": ["RS256"],
             "jwksCache": {"cluster": "nowhere"}},
        ],
        "authorizationPolicies": [
            {"name": "public", "rules": [{"to": [{"operation": {"methods": ["GET"], "paths": ["/public/*"]}}]}]},
            {"name": "api-users", "rules": [{"from": [{"source": {"requestPrincipals": [f"{ISSUER}/*"]}}],
                                             "to": [{"operation": {"paths": ["/api/*"]}}]}]},
            {"name": "admins", "rules": [{"to": [{"operation": {"paths": ["/admin/*"]}}],
                                          "when": [{"key": "request.auth.claims[groups]", "values": ["admin"]}]}]},
        ],
    }
    cfg = json.loads(json.dumps(base_config))
    port = harness.free_port()
    cfg["static_resources"]["listeners"] = [harness.listener("auth", port, [harness.vigil_filter(json.dumps(policy))])]
    cfg["static_resources"]["clusters"].append(harness.cluster("nowhere", 9))
    env = harness.Envoy(cfg, work, base_id=base_id)
    env.start()
    try:
        alice = token("alice", claims={"groups": ["staff"]})
        root = token("root", claims={"groups": ["staff", "admin"]})

        upstream_saw = harness.upstream_saw
        bearer = lambda t: [("authorization", f"Bearer {t}")]  # noqa: E731
        case("token: allowed, claims forwarded, token stripped", "GET", "/api/orders", 200, headers=bearer(alice),
             check=upstream_saw({"x-user": "alice", "x-groups": "staff", "authorization": None}), p=port)
        case("token: missing → 401 with a bare challenge", "GET", "/api/orders", 401, p=port,
             check=lambda st, h, b: None if h.get("www-authenticate") == 'Bearer realm="vigil-e2e"' else f"challenge {h.get('www-authenticate')}")
        forged = alice[:-4] + ("AAAA" if not alice.endswith("AAAA") else "BBBB")
        case("token: forged signature → 401 invalid_token", "GET", "/api/orders", 401, headers=bearer(forged), p=port,
             check=lambda st, h, b: None if 'error="invalid_token"' in h.get("www-authenticate", "") else f"challenge {h.get('www-authenticate')}")
        case("token: valid but not admin → 403", "GET", "/admin/keys", 403, headers=bearer(alice), p=port)
        case("token: admin group → allowed", "GET", "/admin/keys", 200, headers=bearer(root), p=port)
        if demo:
            return
        case("spoofed identity header replaced", "GET", "/api/orders", 200,
             headers=bearer(alice) + [("x-user", "root"), ("x-groups", "admin")],
             check=upstream_saw({"x-user": "alice", "x-groups": "staff"}), p=port)
        case("spoofed identity header stripped on an anonymous public request", "GET", "/public/a", 200,
             headers=[("x-user", "root")], check=upstream_saw({"x-user": None}), p=port)
        case("cached token (second use)", "GET", "/api/orders", 200, headers=bearer(alice), p=port)
        # Rotation: the IdP starts signing with a new key (ec-1) it now publishes; the first
        # request with the new kid waits for one refetch and succeeds.
        keys.docs["/jwks"] = jwks_with({"rsa-1", "ec-1"})
        rotated = token("carol", alg="ES256")
        case("rotation: new kid accepted after one refetch", "GET", "/api/orders", 200, headers=bearer(rotated),
             check=upstream_saw({"x-user": "carol"}), p=port)
        case("rotation: old key still accepted", "GET", "/api/orders", 200, headers=bearer(token("dave")), p=port)
        # Key server down: fetched keys keep working past their TTL.
        keys.down = True
        time.sleep(3)
        case("key server down: cached keys keep working", "GET", "/api/orders", 200, headers=bearer(token("erin")), p=port)
        case("key server down: unknown kid still refused", "GET", "/api/orders", 401,
             headers=bearer(token("frank", alg="EdDSA")), p=port)
        keys.down = False
        downtok = fixture("token", "--issuer", "https://down.vigil.test", "--sub", "x", "--aud", "api", "--alg", "RS256")
        case("issuer whose keys never loaded → 503, never a pass", "GET", "/public/a", 503, headers=bearer(downtok), p=port)
        time.sleep(0.5)
        s = env.stats()
        res.check("jwks and token-cache counters", "GET /stats", 200,
                  s.get("vigil_jwks_fetch_ok", 0) >= 2 and s.get("vigil_jwks_fetch_failed", 0) >= 1
                  and s.get("vigil_token_cache_hit", 0) >= 1, json.dumps(s))
    finally:
        env.stop()


def zero_trust_phase(res, case, base_config, work, keys, base_id):
    """Step-up (RFC 9470), rate limits (429) and a revocation published on the feed. The rule
    has no `algorithms` (as an Istio RequestAuthentication rule), and the key set carries
    members Vigil cannot use (a symmetric key, a P-521 key of the wrong length, an encryption key): they are
    skipped and counted, the others work."""
    served = json.loads(jwks_with({"rsa-1", "ec-1", "ed-1"}))
    served["keys"] += [{"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
                       {"kty": "EC", "crv": "P-521", "kid": "p521", "x": "AA", "y": "AA"},
                       dict(served["keys"][0], kid="enc", use="enc")]
    keys.docs["/jwks"] = json.dumps(served)
    keys.docs["/revocations"] = json.dumps({"version": 1, "jtis": []})
    policy = {
        "jwtRules": [{"issuer": ISSUER, "audiences": ["api"], "jwksUri": f"http://127.0.0.1:{keys.port}/jwks",
                      "jwksCache": {"cluster": "keys"}}],
        "acrLevels": ["pwd", "mfa"],
        "resources": [{"name": "finance", "classification": "confidential", "paths": ["/finance/*"], "minAcr": "mfa"}],
        "rateLimits": [{"name": "per-user", "key": "principal", "requestsPerUnit": 3, "unit": "minute", "burst": 3,
                        "resources": ["finance"]}],
        "revocation": {"feed": {"uri": f"http://127.0.0.1:{keys.port}/revocations", "cluster": "keys", "pollMs": 300}},
        "authorizationPolicies": [{"name": "users", "rules": [{"from": [{"source": {"requestPrincipals": ["*"]}}]}]}],
    }
    cfg = json.loads(json.dumps(base_config))
    port = harness.free_port()
    cfg["static_resources"]["listeners"] = [harness.listener("zt", port, [harness.vigil_filter(json.dumps(policy))])]
    env = harness.Envoy(cfg, work, base_id=base_id)
    env.start()
    try:
        bearer = lambda t: [("authorization", f"Bearer {t}")]  # noqa: E731
        pwd = token("paul", claims={"acr": "pwd", "jti": "j-paul"})
        case("step-up: password token on an MFA resource → 401 RFC 9470", "GET", "/finance/q3", 401, headers=bearer(pwd), p=port,
             check=lambda st, h, b: None if 'error="insufficient_user_authentication"' in h.get("www-authenticate", "")
             and 'acr_values="mfa"' in h.get("www-authenticate", "") else f"challenge {h.get('www-authenticate')}")
        mfa = token("mia", claims={"acr": "mfa", "jti": "j-mia"})
        for i in range(3):
            case(f"rate limit: request {i + 1} of 3 allowed", "GET", "/finance/q3", 200, headers=bearer(mfa), p=port)
        case("rate limit: 4th request in the minute → 429 with Retry-After", "GET", "/finance/q3", 429, headers=bearer(mfa), p=port,
             check=lambda st, h, b: None if h.get("retry-after", "").isdigit() else f"retry-after {h.get('retry-after')}")
        victim = token("vic", claims={"acr": "mfa", "jti": "j-vic"})
        case("revocation: token works before", "GET", "/other", 200, headers=bearer(victim), p=port)
        keys.docs["/revocations"] = json.dumps({"version": 2, "jtis": ["j-vic"]})
        t0 = time.time()
        deadline, got = t0 + 5, None
        while time.time() < deadline:
            got, _, _ = harness.request(port, "GET", "/other", headers=bearer(victim))
            if got == 401:
                break
            time.sleep(0.05)
        elapsed = time.time() - t0
        res.check("revocation: enforced on every worker within a second of publishing", "GET /other", got,
                  got == 401 and elapsed < 1.0, f"took {elapsed:.2f} s")
        # Every worker must refuse it now, not just the one that polled.
        statuses = {harness.request(port, "GET", "/other", headers=bearer(victim))[0] for _ in range(20)}
        res.check("revocation: refused on every following request", "GET /other x20", sorted(statuses), statuses == {401})
        s = env.stats()
        res.check("unusable key-set members skipped and counted", "GET /stats", s.get("vigil_jwks_keys_skipped"),
                  s.get("vigil_jwks_keys_skipped", 0) >= 3 and s.get("vigil_jwks_fetch_ok", 0) >= 1, json.dumps(s))
    finally:
        env.stop()


def main():
    demo = "--demo" in sys.argv
    res = Results()
    work = tempfile.mkdtemp(prefix="vigil-e2e-")
    up = harness.Upstream()
    keys = harness.KeyServer()
    pki = certs.make_pki(work, {
        "frontend": "spiffe://cluster.local/ns/production/sa/frontend",
        "intruder": "spiffe://cluster.local/ns/dev/sa/tester",
    })
    port, mtls_port = harness.free_port(), harness.free_port()
    pj = json.dumps(POLICY)
    config = {"static_resources": {
        "listeners": [
            harness.listener("plain", port, [harness.vigil_filter(pj)]),
            harness.listener("mtls", mtls_port, [harness.vigil_filter(pj)],
                             tls={"cert": pki["cert"], "key": pki["key"], "ca": pki["ca"]}),
        ],
        "clusters": [harness.cluster("upstream", up.port), harness.cluster("keys", keys.port)],
    }}
    envoy = harness.Envoy(config, work, base_id=int(os.environ.get("VIGIL_BASE_ID", "41")))
    envoy.start()
    try:
        def case(name, method, path, want_status, headers=None, check=None, tls=None, p=None):
            try:
                st, hdrs, body = request(p or port, method, path, headers=headers, tls_context=tls)
            except Exception as e:  # connection errors are failures, not crashes
                res.check(name, f"{method} {path}", "error", False, repr(e))
                return
            ok = st == want_status
            detail = body_reason(body) if st != 200 else "forwarded"
            if ok and check:
                problem = check(st, hdrs, body)
                if problem:
                    ok, detail = False, problem
            res.check(name, f"{method} {path}", st, ok, detail)

        def mtls_ctx(client):
            ctx = ssl.create_default_context(cafile=pki["ca"])
            ctx.check_hostname = False
            cert, key = pki["clients"][client]
            ctx.load_cert_chain(cert, key)
            return ctx

        case("public read allowed", "GET", "/public/index.html", 200)
        case("admin denied", "GET", "/admin", 403)
        case("path trick: dot segments", "GET", "/public/../admin", 403)
        case("path trick: double slash", "GET", "//admin", 403)
        case("path trick: encoded slash", "GET", "/public%2F..%2Fadmin", 400)
        case("path trick: encoded letter", "GET", "/%61dmin", 403)
        case("path trick: backslash", "GET", "/public\\..\\admin", 400)
        case("lower-case method refused", "get", "/public/x", 400)
        case("no ALLOW matched", "DELETE", "/public/x", 403)
        case("frontend may pay (mTLS SPIFFE principal)", "POST", "/checkout/1", 200,
             tls=mtls_ctx("frontend"), p=mtls_port)
        case("other workload may not pay", "POST", "/checkout/1", 403, tls=mtls_ctx("intruder"), p=mtls_port)
        case("no client certificate, no principal", "POST", "/checkout/1", 403)

        if not demo:
            # Upstream sees the canonical decision, not a rewritten path: Vigil decides, Envoy routes.
            def upstream_saw(path):
                return lambda st, h, b: None if json.loads(b)["path"] == path else f"upstream saw {json.loads(b)['path']}"
            case("query string kept for upstream", "GET", "/public/a?x=1", 200, check=upstream_saw("/public/a?x=1"))
            stats = envoy.stats()
            ok = stats.get("vigil_allowed", 0) >= 3 and stats.get("vigil_denied", 0) >= 5
            res.check("counters in /stats", "GET /stats", 200, ok, json.dumps(stats))
            prom = envoy.prometheus()
            res.check("counters in /stats/prometheus", "GET /stats/prometheus", 200, "vigil_denied" in prom)
            time.sleep(0.5)
            log = envoy.log()
            res.check("decision records in the log", "envoy.log", "-", '"decision":"deny"' in log and "vigil decision" in log)
            # An invalid policy must be refused by --mode validate with the precise error.
            bad = json.loads(json.dumps(config))
            bad["static_resources"]["listeners"] = [harness.listener(
                "plain", port, [harness.vigil_filter(json.dumps({"authorizationPolicies": [{"name": "x", "action": "deny"}]}))])]
            v = harness.Envoy(bad, work, base_id=envoy.base_id + 1)
            rc, out = v.validate()
            res.check("invalid policy refused by --mode validate", "envoy --mode validate", rc,
                      rc != 0 and "expected `ALLOW`, `DENY` or `AUDIT`" in out, out.strip().splitlines()[-1][:100] if out else "")
            # The runnable examples in examples/envoy load (the sidecar with this run's PKI).
            import subprocess
            for name in ("gateway.yaml", "sidecar.yaml"):
                text = open(os.path.join(ROOT, "examples", "envoy", name)).read()
                text = (text.replace("/etc/certs/cert-chain.pem", pki["cert"]).replace("/etc/certs/key.pem", pki["key"])
                        .replace("/etc/certs/root-cert.pem", pki["ca"]).replace("dist/filter.wasm", WASM))
                path = os.path.join(work, name)
                open(path, "w").write(text)
                r = subprocess.run([harness.ENVOY, "--mode", "validate", "-c", path, "--base-id", str(envoy.base_id + 5)],
                                   capture_output=True, text=True, timeout=120)
                res.check(f"examples/envoy/{name} loads (--mode validate)", "envoy --mode validate", r.returncode,
                          r.returncode == 0, (r.stdout + r.stderr).strip().splitlines()[-1][:100] if r.stdout + r.stderr else "")
            # dry_run: decisions are made and recorded, never enforced; the records go to Envoy's
            # access log (decisionLog.to: accessLog), one JSON record per request.
            dry = dict(POLICY, mode="dry_run", decisionLog={"to": "accessLog"})
            dcfg = json.loads(json.dumps(config))
            dport = harness.free_port()
            alog = os.path.join(work, "access.log")
            dcfg["static_resources"]["listeners"] = [harness.listener(
                "dry", dport, [harness.vigil_filter(json.dumps(dry))],
                access_logs=[harness.access_log(alog, "vigil " + harness.RECORD_FORMAT[harness.BUILD])])]
            denv = harness.Envoy(dcfg, work, base_id=envoy.base_id + 2)
            denv.start(concurrency=1)
            try:
                case("dry_run forwards a denied request", "GET", "/admin", 200, p=dport)
                time.sleep(0.5)
                s = denv.stats()
                res.check("dry_run counts what it would have denied", "GET /stats", 200,
                          s.get("vigil_dry_run_not_enforced", 0) >= 1, json.dumps(s))
                case("dry_run: an allowed request", "GET", "/public/x", 200, p=dport)
                records, deadline = [], time.time() + 5
                while len(records) < 2 and time.time() < deadline:
                    time.sleep(0.2)
                    try:
                        records = [json.loads(ln[len("vigil "):]) for ln in open(alog).read().splitlines()
                                   if ln.startswith("vigil {")]
                    except (OSError, ValueError):
                        records = []
                want = [("deny", "/admin"), ("allow", "/public/x")]
                got = [(r.get("decision"), r.get("path")) for r in records]
                res.check("decision records in Envoy's access log", "access.log", len(records),
                          got == want and all(r.get("dryRun") for r in records[:1]), json.dumps(got))
            finally:
                denv.stop()
        token_phase(res, case, config, work, up, keys, envoy.base_id + 3, demo)
        if not demo:
            zero_trust_phase(res, case, config, work, keys, envoy.base_id + 4)
    finally:
        envoy.stop()
        up.stop()
        keys.stop()
    res.print()
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main())
