#!/usr/bin/env python3
"""scripts/demo: Vigil in a real Envoy in front of a sample upstream, with a local key server.

Builds nothing itself (scripts/demo does), starts everything on 127.0.0.1, sends a scripted set
of requests through Envoy, prints what happened to each, and stops everything it started."""

import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from envoy_test import ISSUER, WASM, jwks_with, token  # noqa: E402

ROOT = harness.ROOT


def main():
    work = tempfile.mkdtemp(prefix="vigil-demo-")
    up, keys = harness.Upstream(), harness.KeyServer()
    keys.docs["/jwks"] = jwks_with({"rsa-1", "ec-1"})
    with open(os.path.join(ROOT, "examples", "envoy", "demo.policy.json")) as f:
        policy = json.load(f)
    # The only thing that differs per run: where the local key server listens.
    policy["jwtRules"][0]["jwksUri"] = f"http://127.0.0.1:{keys.port}/jwks"
    policy["revocation"]["feed"]["uri"] = f"http://127.0.0.1:{keys.port}/revocations"
    keys.docs["/revocations"] = json.dumps({"version": 1, "jtis": []})
    port = harness.free_port()
    config = {"static_resources": {
        "listeners": [harness.listener("demo", port, [harness.vigil_filter(json.dumps(policy))])],
        "clusters": [harness.cluster("upstream", up.port), harness.cluster("idp", keys.port)],
    }}
    envoy = harness.Envoy(config, work, base_id=int(os.environ.get("VIGIL_BASE_ID", "61")))
    artefact = "dist/libvigil.so, the dynamic module" if harness.BUILD == "native" else "dist/filter.wasm"
    print(f"demo: starting Envoy ({artefact}) on 127.0.0.1:{port}, upstream :{up.port}, key server :{keys.port}")
    envoy.start(concurrency=1)
    alice = token("alice", claims={"roles": ["viewer"], "acr": "pwd"})
    alice_mfa = token("alice", claims={"roles": ["viewer"], "acr": "mfa"})
    stolen = token("bob", claims={"roles": ["viewer"], "acr": "mfa", "jti": "session-bob-7"})
    erin = token("erin", alg="ES256", claims={"roles": ["editor"]})
    forged = alice[:-6] + ("AAAAAA" if not alice.endswith("AAAAAA") else "BBBBBB")
    bearer = lambda t: [("authorization", f"Bearer {t}")]  # noqa: E731
    scenarios = [
        ("allowed user reads a report", "GET", "/reports/q3", bearer(alice)),
        ("editor updates a report (ES256 token)", "PUT", "/reports/q3", bearer(erin)),
        ("missing token", "GET", "/reports/q3", []),
        ("forged token (signature altered)", "GET", "/reports/q3", bearer(forged)),
        ("wrong role: viewer tries to update", "PUT", "/reports/q3", bearer(alice)),
        ("path trick: /reports/../admin", "GET", "/reports/../admin/keys", bearer(alice)),
        ("path trick: encoded slash", "GET", "/reports%2F..%2Fadmin", bearer(alice)),
        ("spoofed x-user header from the client", "GET", "/reports/q3", bearer(alice) + [("x-user", "root")]),
        ("health check, no token needed", "GET", "/healthz", []),
        ("step-up needed: finance report with a password login", "GET", "/reports/finance/q3", bearer(alice)),
        ("the same user after MFA", "GET", "/reports/finance/q3", bearer(alice_mfa)),
        ("stolen session, before it is revoked", "GET", "/reports/q3", bearer(stolen)),
        ("REVOKE", "", "", []),
        ("revoked session (published on the feed)", "GET", "/reports/q3", bearer(stolen)),
    ]
    rows = []
    try:
        for name, method, path, headers in scenarios:
            if name == "REVOKE":
                keys.docs["/revocations"] = json.dumps({"version": 2, "jtis": ["session-bob-7"]})
                time.sleep(0.8)  # one poll (300 ms) and a margin
                continue
            status, hdrs, body = harness.request(port, method, path, headers=headers, host="reports.example.com")
            if status == 200:
                seen = json.loads(body)["headers"]
                decision, reason = "allow", f"upstream saw x-user={seen.get('x-user', ['-'])[0]}"
            else:
                try:
                    b = json.loads(body)
                    decision, reason = b.get("error", "?"), b.get("reason", "")
                except ValueError:
                    decision, reason = "-", body.strip()[:60]
                if hdrs.get("www-authenticate"):
                    reason += f"  [WWW-Authenticate: {hdrs['www-authenticate'][:70]}]"
            rows.append((name, f"{method} {path}", decision, str(status), reason))
        time.sleep(0.3)
        stats = envoy.stats()
    finally:
        envoy.stop()
        up.stop()
        keys.stop()
    w = [max(len(r[i]) for r in rows + [("SCENARIO", "REQUEST", "DECISION", "STATUS", "")]) for i in range(4)]
    print()
    print(f"{'SCENARIO':<{w[0]}}  {'REQUEST':<{w[1]}}  {'DECISION':<{w[2]}}  {'STATUS':<{w[3]}}  REASON")
    for r in rows:
        print(f"{r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]:<{w[2]}}  {r[3]:<{w[3]}}  {r[4][:120]}")
    print()
    print("Envoy counters: " + ", ".join(f"{k.split('.')[-1]}={v}" for k, v in sorted(stats.items()) if v))
    print("demo: stopped Envoy, the upstream and the key server")
    return 0


if __name__ == "__main__":
    sys.exit(main())
