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
            harness.listener("plain", port, [harness.wasm_filter(pj, WASM)]),
            harness.listener("mtls", mtls_port, [harness.wasm_filter(pj, WASM)],
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
            ok = stats.get("wasmcustom.vigil_allowed", 0) >= 3 and stats.get("wasmcustom.vigil_denied", 0) >= 5
            res.check("counters in /stats", "GET /stats", 200, ok, json.dumps(stats))
            prom = envoy.prometheus()
            res.check("counters in /stats/prometheus", "GET /stats/prometheus", 200, "vigil_denied" in prom)
            time.sleep(0.5)
            log = envoy.log()
            res.check("decision records in the log", "envoy.log", "-", '"decision":"deny"' in log and "vigil decision" in log)
            # An invalid policy must be refused by --mode validate with the precise error.
            bad = json.loads(json.dumps(config))
            bad["static_resources"]["listeners"] = [harness.listener(
                "plain", port, [harness.wasm_filter(json.dumps({"authorizationPolicies": [{"name": "x", "action": "deny"}]}), WASM)])]
            v = harness.Envoy(bad, work, base_id=envoy.base_id + 1)
            rc, out = v.validate()
            res.check("invalid policy refused by --mode validate", "envoy --mode validate", rc,
                      rc != 0 and "expected `ALLOW`, `DENY` or `AUDIT`" in out, out.strip().splitlines()[-1][:100] if out else "")
            # dry_run: decisions are made and logged, never enforced.
            dry = dict(POLICY, mode="dry_run")
            dcfg = json.loads(json.dumps(config))
            dport = harness.free_port()
            dcfg["static_resources"]["listeners"] = [harness.listener("dry", dport, [harness.wasm_filter(json.dumps(dry), WASM)])]
            denv = harness.Envoy(dcfg, work, base_id=envoy.base_id + 2)
            denv.start(concurrency=1)
            try:
                case("dry_run forwards a denied request", "GET", "/admin", 200, p=dport)
                time.sleep(0.5)
                s = denv.stats()
                res.check("dry_run counts what it would have denied", "GET /stats", 200,
                          s.get("wasmcustom.vigil_dry_run_not_enforced", 0) >= 1, json.dumps(s))
            finally:
                denv.stop()
    finally:
        envoy.stop()
        up.stop()
        keys.stop()
    res.print()
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main())
