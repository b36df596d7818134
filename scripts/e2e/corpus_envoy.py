#!/usr/bin/env python3
"""The conformance corpus through a real Envoy (stdlib only).

Usage: corpus_envoy.py [--verbose] [DIRS or FILES...]   (default: corpus)

Every corpus case that can be expressed over plain HTTP is sent through a real Envoy
(`.venv/bin/envoy`, V8) running dist/filter.wasm configured with the test file's policy, in
front of an echo upstream; what Envoy answered is compared with the case's `expect`:
  - `status` equals the HTTP status (a dry-run case that is not an allow is forwarded: 200,
    and the `vigil_dry_run_not_enforced` counter must move);
  - on a refusal, the JSON body's `error` equals `decision`, its `reason` equals `reason`
    and contains `reasonContains`;
  - `responseHeaders` are present with those values (null: absent);
  - on a forwarded request, the upstream saw `upstreamHeaders` (null: absent) and none of
    `removeHeaders` unless also set in `upstreamHeaders`.
Fields only a native run can see (`code`, `policy`, `rule`, `principal`, `audit`, `trust`,
`resource`) are not checked here: the corpus runners of every target check them.

Cases that cannot be expressed through Envoy over plain HTTP are skipped with a reason (listed
with --verbose): adapter `state`, clock dependence, `source.principal` (mTLS), source or
destination addresses and ports and `sni` (Envoy sets them), a `host` header apart from
:authority, `x-forwarded-for` (Envoy's to manage), pseudo-headers. Requests that Envoy's
HTTP/1 codec refuses before the filter runs (bad method tokens, raw spaces, control or
non-ASCII bytes in the target, empty or absolute-form targets, ...) are still sent; a plain 400
from Envoy is a refusal too and is counted as passed, separately.

One Envoy per test file (`--concurrency 1`, its own `--base-id`), 127.0.0.1 only; every Envoy
and server started here is stopped on the way out. Prints one line per failure and a final
`N passed, N failed, N skipped`; exit 1 on any failure.
"""

import argparse
import base64
import glob
import http.client
import http.server
import json
import os
import socket
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ left in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

ROOT = harness.ROOT
WASM = os.environ.get("VIGIL_WASM", os.path.join(ROOT, "dist", "filter.wasm"))
# Policy sections whose decisions depend on the clock (tokens, trust windows, feeds, buckets).
CLOCK_KEYS = ("jwtRules", "trust", "revocation", "rateLimits")
# Corpus areas whose file-level `time` is only a formality when the policy has none of those.
TIME_TOLERANT = ("authz", "paths", "request")
DRY_RUN_STAT = "vigil_dry_run_not_enforced"
DECISION_STATS = tuple(f"vigil_{o}" for o in ("allowed", "denied", "unauthenticated", "step_up", "rate_limited"))
ECHO_HEADER = "x-corpus-echo"


class Echo:
    """The upstream: echoes method, target and headers as JSON, in the body and (so that HEAD
    answers carry it too) base64 in a response header; answers every method, and never sends a
    body on HEAD (one would poison Envoy's pooled connection)."""

    def __init__(self):
        class H(harness._Quiet):
            def handle_one_request(self):
                try:
                    line = self.rfile.readline(65537)
                    if not line:
                        self.close_connection = True
                        return
                    self.raw_requestline = line
                    if not self.parse_request():
                        return
                    n = int(self.headers.get("content-length") or 0)
                    if n:
                        self.rfile.read(n)
                    headers = {}
                    for k, v in self.headers.items():
                        headers.setdefault(k.lower(), []).append(v)
                    view = json.dumps({"method": self.command, "path": self.path, "headers": headers})
                    data = b"" if self.command == "HEAD" else view.encode()
                    self.send_response(200)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(view.encode())))
                    self.send_header(ECHO_HEADER, base64.b64encode(view.encode()).decode())
                    self.end_headers()
                    self.wfile.write(data)
                    self.wfile.flush()
                except (OSError, ValueError):
                    self.close_connection = True

        self.port = harness.free_port()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), H)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_files(args):
    out = []
    for a in args:
        p = a if os.path.isabs(a) else os.path.join(os.getcwd(), a)
        if not os.path.exists(p):
            p = os.path.join(ROOT, a)
        if os.path.isdir(p):
            out += sorted(glob.glob(os.path.join(p, "**", "*.json"), recursive=True))
        else:
            out.append(p)
    files = []
    for f in out:
        try:
            with open(f) as fh:
                doc = json.load(fh)
        except (OSError, ValueError) as e:
            files.append((f, None, f"unreadable: {e}"))
            continue
        if isinstance(doc, dict) and "cases" in doc and "policy" in doc:
            files.append((f, doc, None))
    return files


def display(f):
    return os.path.relpath(f, ROOT)


def area(f):
    """The corpus area of a file: the directory under `corpus/` (authz, paths, ...)."""
    parts = os.path.relpath(f, ROOT).split(os.sep)
    if "corpus" in parts and parts.index("corpus") + 1 < len(parts) - 1:
        return parts[parts.index("corpus") + 1]
    return os.path.basename(os.path.dirname(f))


def load_policy(f, doc):
    pol = doc["policy"]
    if isinstance(pol, str):
        with open(os.path.join(os.path.dirname(f), pol)) as fh:
            pol = json.load(fh)
    return pol


def file_skip(f, doc, policy):
    if "state" in doc:
        return "adapter state (file)"
    if "time" in doc:
        if area(f) not in TIME_TOLERANT or any(k in policy for k in CLOCK_KEYS):
            return "decisions depend on the clock"
    return None


def header_items(req):
    """(name, value) pairs in order; array values become repeated headers."""
    out = []
    for k, v in (req.get("headers") or {}).items():
        for item in (v if isinstance(v, list) else [v]):
            out.append((k, item))
    return out


def case_skip(case):
    req = case.get("request", {})
    if "state" in case:
        return "adapter state (case)"
    if "time" in case or "time" in req:
        return "decisions depend on the clock"
    src = req.get("source") or {}
    if src.get("principal"):
        return "source.principal needs mTLS"
    if "address" in src or "port" in src:
        return "source address/port is set by Envoy"
    if req.get("destination"):
        return "destination is set by Envoy"
    if "sni" in req:
        return "sni is set by Envoy (TLS)"
    for k, _ in header_items(req):
        lk = k.lower()
        if lk.startswith(":"):
            return "pseudo-header"
        if lk == "host":
            return "host header apart from :authority"
        if lk == "x-forwarded-for":
            return "x-forwarded-for is Envoy's to append"
    return None


def send(port, req, timeout=10):
    """Sends the request exactly as written (raw bytes: no client-side validation).
    Returns (status, headers dict of lists, body text)."""
    method = req.get("method", "GET")
    path = req.get("path", "/")
    host = req.get("host", "")
    lines = [f"{method} {path} HTTP/1.1"]
    if host:
        lines.append(f"host: {host}")
    for k, v in header_items(req):
        lines.append(f"{k}: {v}")
    lines.append("connection: close")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        r = http.client.HTTPResponse(s, method=method if method in ("HEAD",) else "GET")
        r.begin()
        body = r.read().decode(errors="replace")
        hdrs = {}
        for k, v in r.getheaders():
            hdrs.setdefault(k.lower(), []).append(v)
        return r.status, hdrs, body
    finally:
        s.close()


def parse_json(body):
    try:
        v = json.loads(body)
        return v if isinstance(v, dict) else None
    except ValueError:
        return None


def rewritten_target(req):
    """True when Envoy's HTTP/1 codec would hand the filter a different target than the one
    written: absolute-form or asterisk-form targets, or whitespace inside the target."""
    path = req.get("path", "/")
    return bool(path) and (not path.startswith("/") or any(c in path for c in " \t"))


def check(case, status, hdrs, body, decided, dry_delta):
    """("ok", failures) when the filter decided; ("envoy", []) when Envoy refused the request
    itself before the filter; ("rewritten", []) when the filter decided on a target Envoy's
    codec rewrote."""
    exp = case["expect"]
    doc = parse_json(body)
    echo = hdrs.get(ECHO_HEADER)
    view = json.loads(base64.b64decode(echo[0])) if echo else None
    forwarded = view is not None
    refusal = doc is not None and "error" in doc and "reason" in doc and not forwarded
    if decided == 0 and not forwarded and 400 <= status < 500:
        return "envoy", []
    if decided == 0:
        return "ok", [f"the filter did not decide (status {status}, body {body[:120]!r})"]
    if rewritten_target(case["request"]):
        return "rewritten", []
    dry = exp.get("dryRun") is True and exp.get("decision", "allow") != "allow"
    fails = []
    want_status = exp.get("status")
    if dry:
        # Dry run: the decision is recorded (counter), the request is forwarded.
        if status != 200 or not forwarded:
            fails.append(f"status: expected forwarded 200 (dry run of {want_status}), got {status}")
        if dry_delta != 1:
            fails.append(f"{DRY_RUN_STAT}: expected +1, got {dry_delta:+d}")
    elif want_status is not None and status != want_status:
        fails.append(f"status: expected {want_status}, got {status}")
    if not forwarded:
        if not refusal:
            fails.append(f"body: expected {{error, reason}}, got {body[:120]!r}")
        else:
            if "decision" in exp and doc["error"] != exp["decision"]:
                fails.append(f"error: expected {exp['decision']!r}, got {doc['error']!r}")
            if "reason" in exp and doc["reason"] != exp["reason"]:
                fails.append(f"reason: expected {exp['reason']!r}, got {doc['reason']!r}")
            if "reasonContains" in exp and exp["reasonContains"] not in doc["reason"]:
                fails.append(f"reason: expected to contain {exp['reasonContains']!r}, got {doc['reason']!r}")
    elif exp.get("decision") not in (None, "allow") and not dry:
        fails.append(f"decision: expected {exp['decision']!r}, got forwarded ({status})")
    for h, v in (exp.get("responseHeaders") or {}).items():
        got = hdrs.get(h.lower())
        if v is None:
            if got is not None:
                fails.append(f"responseHeaders.{h}: expected absent, got {got}")
        elif got != [v]:
            fails.append(f"responseHeaders.{h}: expected {v!r}, got {got if got is not None else 'absent'}")
    if forwarded:
        seen = view["headers"]
        set_here = set()
        for h, v in (exp.get("upstreamHeaders") or {}).items():
            got = seen.get(h.lower())
            if v is None:
                if got is not None:
                    fails.append(f"upstreamHeaders.{h}: expected absent, got {got}")
            else:
                set_here.add(h.lower())
                if got != [v]:
                    fails.append(f"upstreamHeaders.{h}: expected {v!r}, got {got if got is not None else 'absent'}")
        for h in exp.get("removeHeaders") or []:
            if h.lower() not in set_here and h.lower() in seen:
                fails.append(f"removeHeaders: {h} reached the upstream: {seen[h.lower()]}")
    return "ok", fails


def counters(env):
    return env.stats("vigil_")


def vigil_log_lines(env, needles=()):
    time.sleep(0.4)  # the log is flushed every 200 ms
    lines = [ln for ln in env.log().splitlines() if "vigil" in ln.lower()]
    if needles:
        hit = [ln for ln in lines if any(n and n in ln for n in needles)]
        lines = hit or lines[-5:]
    return lines[-8:]


def run_file(f, doc, policy, up, work, base_id, res, verbose):
    name = display(f)
    todo = []
    for i, case in enumerate(doc["cases"]):
        cname = case.get("name", f"cases[{i}]")
        why = case_skip(case)
        if why:
            res.skip(name, cname, why)
        else:
            todo.append((cname, case))
    if not todo:
        return
    port = harness.free_port()
    config = {"static_resources": {
        "listeners": [harness.listener("corpus", port, [harness.vigil_filter(json.dumps(policy))])],
        "clusters": [harness.cluster("upstream", up.port)],
    }}
    env = harness.Envoy(config, work, base_id=base_id)
    try:
        try:
            env.start(concurrency=1)
        except Exception as e:
            for cname, case in todo:
                res.fail(name, cname, case, [f"envoy did not start: {str(e)[:300]}"])
            return
        failed_here = []
        for cname, case in todo:
            try:
                before = counters(env)
                status, hdrs, body = send(port, case["request"])
                after = counters(env)
            except Exception as e:  # a reset or timeout is a failure, not a crash
                res.fail(name, cname, case, [f"no answer: {e!r}"])
                failed_here.append(case)
                continue
            moved = {k: int(after.get(k, 0)) - int(before.get(k, 0)) for k in after}
            decided = sum(moved.get(k, 0) for k in DECISION_STATS)
            kind, fails = check(case, status, hdrs, body, decided, moved.get(DRY_RUN_STAT, 0))
            if not res.tally(name, cname, case, status, kind, fails):
                failed_here.append(case)
        if failed_here and verbose:
            for ln in vigil_log_lines(env, [c["request"].get("path", "") for c in failed_here]):
                print(f"    envoy log: {ln[:800]}")
    finally:
        env.stop()


class Results:
    def __init__(self, verbose, proxy="Envoy"):
        self.verbose = verbose
        self.proxy = proxy  # who may refuse a request before Vigil sees it
        self.passed = self.failed = 0
        self.codec_rejected = []
        self.skipped = []

    def ok(self):
        self.passed += 1

    def tally(self, f, c, case, status, kind, fails):
        """Counts what check() found; False when the case failed."""
        if kind == "envoy":
            self.codec(f, c, case, status)
        elif kind == "rewritten":
            self.skip(f, c, f"target rewritten by {self.proxy} before Vigil",
                      f"Vigil answered {status} on {self.proxy}'s reading of it")
        elif fails:
            self.fail(f, c, case, fails)
            return False
        else:
            self.ok()
        return True

    def fail(self, f, c, case, fails):
        self.failed += 1
        r = case.get("request", {})
        exp = case.get("expect", {})
        print(f"FAIL {f} :: {c}: {r.get('method', 'GET')} {r.get('path', '/')!r} host={r.get('host', '')!r}"
              f" expected {json.dumps(exp, sort_keys=True)[:300]} got: {'; '.join(fails)}")

    def codec(self, f, c, case, status):
        self.passed += 1
        r = case.get("request", {})
        self.codec_rejected.append((f, c, r, case["expect"], status))

    def skip(self, f, c, why, note=""):
        self.skipped.append((f, c, why, note))

    def report(self, took=None):
        if self.verbose:
            for f, c, why, note in self.skipped:
                print(f"skip {f} :: {c}: {why}" + (f" ({note})" if note else ""))
            for f, c, r, exp, status in self.codec_rejected:
                note = "" if exp.get("status") != 200 else "  (the engine would allow it)"
                print(f"{self.proxy.lower()}-{status} {f} :: {c}: {r.get('method', 'GET')!r} {r.get('path', '/')!r} "
                      f"host={r.get('host', '')!r}: refused by {self.proxy} before Vigil "
                      f"(expected {exp.get('status')} {exp.get('decision')}){note}")
        by = {}
        for _, _, why, _ in self.skipped:
            by[why] = by.get(why, 0) + 1
        summary = ", ".join(f"{n} {why}" for why, n in sorted(by.items(), key=lambda x: -x[1]))
        allow = sum(1 for *_, exp, _ in self.codec_rejected if exp.get("status") == 200)
        st = {}
        for *_, status in self.codec_rejected:
            st[status] = st.get(status, 0) + 1
        if self.codec_rejected:
            print(f"of the passed, {len(self.codec_rejected)} were refused by {self.proxy} before Vigil "
                  f"({', '.join(f'{n}x {k}' for k, n in sorted(st.items()))}; "
                  f"{allow} of them the engine would allow)")
        if summary:
            print(f"skipped: {summary}")
        if took is not None:
            print(f"took {took:.1f}s")
        print(f"{self.passed} passed, {self.failed} failed, {len(self.skipped)} skipped")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dirs", nargs="*", default=["corpus"])
    ap.add_argument("--verbose", "-v", action="store_true")
    args = ap.parse_args()
    for need in (harness.ENVOY, WASM):
        if not os.path.exists(need):
            print(f"missing {need}", file=sys.stderr)
            return 2
    res = Results(args.verbose)
    started = time.time()
    up = Echo()
    base = 20000 + (os.getpid() % 2000) * 16
    try:
        with tempfile.TemporaryDirectory(prefix="vigil-corpus-envoy-") as work:
            for n, (f, doc, err) in enumerate(test_files(args.dirs)):
                if err:
                    res.failed += 1
                    print(f"FAIL {display(f)}: {err}")
                    continue
                try:
                    policy = load_policy(f, doc)
                except (OSError, ValueError) as e:
                    res.failed += 1
                    print(f"FAIL {display(f)}: policy: {e}")
                    continue
                why = file_skip(f, doc, policy)
                if why:
                    for i, case in enumerate(doc["cases"]):
                        res.skip(display(f), case.get("name", f"cases[{i}]"), why)
                    continue
                run_file(f, doc, policy, up, work, base + n, res, args.verbose)
    finally:
        up.stop()
    res.report(time.time() - started if args.verbose else None)
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main())
