#!/usr/bin/env python3
"""Vigil in a real Envoy against a real OpenID provider (npm `oidc-provider`).

The IdP (scripts/e2e/oidc_idp.mjs) issues RFC 9068 JWT access tokens by the client-credentials
grant in RS256, ES256 and EdDSA. The filter finds the key set by OpenID Connect discovery
(`ISSUER/.well-known/openid-configuration` → `jwks_uri`) through an Envoy cluster, and follows
the IdP through a key rotation (new kid, then the old kid withdrawn) and an outage.

Usage: oidc_test.py        Prints one row per case and `N passed, N failed`; exit 1 on failure.
"""

import base64
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from harness import request  # noqa: E402
from envoy_test import Results, body_reason  # noqa: E402

ROOT = harness.ROOT
WASM = os.environ.get("VIGIL_WASM", os.path.join(ROOT, "dist", "filter.wasm"))
IDP_SCRIPT = os.path.join(os.path.dirname(__file__), "oidc_idp.mjs")
API = "https://api.vigil.test"


class Idp:
    """The OpenID provider as a child process; restart() changes the published keys."""

    def __init__(self, work):
        self.port = harness.free_port()
        self.state = os.path.join(work, "idp")
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def start(self, keys):
        self.proc = subprocess.Popen(
            ["node", IDP_SCRIPT, "--port", str(self.port), "--state", self.state, "--keys", keys],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("ready "):
            self.proc.kill()
            raise RuntimeError(f"oidc-provider did not start: {line}{self.proc.stderr.read()[-2000:]}")

    def stop(self):
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None

    def restart(self, keys):
        self.stop()
        self.start(keys)

    def token(self, kid, scope="read", audience_host=None):
        resource = f"{audience_host or API}/{kid}"
        body = urllib.parse.urlencode({"grant_type": "client_credentials", "resource": resource, "scope": scope}).encode()
        req = urllib.request.Request(f"{self.issuer}/token", data=body, method="POST")
        req.add_header("authorization", "Basic " + base64.b64encode(b"vigil-e2e:vigil-e2e-secret").decode())
        req.add_header("content-type", "application/x-www-form-urlencoded")
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())["access_token"]


def header_of(tok):
    seg = tok.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4)))


def main():
    work = tempfile.mkdtemp(prefix="vigil-oidc-")
    res = Results()
    up = harness.Upstream()
    idp = Idp(work)
    idp.start("k1:RS256,k2:ES256,k3:EdDSA")
    policy = {
        "realm": "vigil-oidc",
        "jwtRules": [{
            "issuer": idp.issuer, "audiences": [API], "algorithms": ["RS256", "ES256", "EdDSA"],
            "requiredType": "at+jwt",
            "jwksCache": {"discovery": True, "cluster": "idp", "ttlSeconds": 2, "refetchCooldownSeconds": 1},
            "outputClaimToHeaders": [{"header": "x-client-id", "claim": "client_id"}, {"header": "x-scope", "claim": "scope"}],
        }],
        "authorizationPolicies": [
            {"name": "readers", "rules": [{"from": [{"source": {"requestPrincipals": [f"{idp.issuer}/vigil-e2e"]}}],
                                           "to": [{"operation": {"methods": ["GET"], "paths": ["/api/*"]}}]}]},
            {"name": "writers", "rules": [{"from": [{"source": {"requestPrincipals": [f"{idp.issuer}/vigil-e2e"]}}],
                                           "to": [{"operation": {"methods": ["POST"], "paths": ["/api/*"]}}],
                                           "when": [{"key": "request.auth.claims[scope]", "values": ["write"]}]}]},
        ],
    }
    cfg = {"static_resources": {"listeners": [], "clusters": [harness.cluster("upstream", up.port), harness.cluster("idp", idp.port)]}}
    port = harness.free_port()
    cfg["static_resources"]["listeners"] = [harness.listener("oidc", port, [harness.vigil_filter(json.dumps(policy))])]
    env = harness.Envoy(cfg, work, base_id=int(os.environ.get("VIGIL_OIDC_BASE_ID", "71")))

    def case(name, method, path, want, headers=(), check=None):
        try:
            st, h, b = request(port, method, path, headers=list(headers))
        except Exception as e:  # a transport failure is a failed case, not a crash of the run
            res.check(name, f"{method} {path}", "error", False, repr(e))
            return
        detail = check(st, h, b) if check and st == want else None
        ok = st == want and detail is None
        res.check(name, f"{method} {path}", st, ok, detail or ("" if ok else f"want {want}: {body_reason(b)}"))

    saw = harness.upstream_saw
    bearer = lambda t: [("authorization", f"Bearer {t}")]  # noqa: E731
    try:
        env.start()
        for kid, alg in (("k1", "RS256"), ("k2", "ES256"), ("k3", "EdDSA")):
            t = idp.token(kid)
            hdr = header_of(t)
            res.check(f"IdP issued an at+jwt {alg} token", f"POST /token ({kid})", 200,
                      hdr.get("alg") == alg and hdr.get("kid") == kid and hdr.get("typ") == "at+jwt", json.dumps(hdr))
            case(f"{alg} access token via discovery → allowed, claims forwarded", "GET", "/api/orders", 200,
                 headers=bearer(t), check=saw({"x-client-id": "vigil-e2e", "x-scope": "read", "authorization": None}))
        read_only = idp.token("k1", scope="read")
        writer = idp.token("k1", scope="read write")
        case("scope `read` may not POST → 403", "POST", "/api/orders", 403, headers=bearer(read_only))
        case("scope `read write` may POST (space-delimited scope)", "POST", "/api/orders", 200, headers=bearer(writer))
        other_aud = idp.token("k1", audience_host="https://other.vigil.test")
        case("token for another resource (aud) → 401 invalid_token", "GET", "/api/orders", 401, headers=bearer(other_aud),
             check=lambda st, h, b: None if 'error="invalid_token"' in h.get("www-authenticate", "") else h.get("www-authenticate"))
        case("no token → 401 with a bare challenge", "GET", "/api/orders", 401,
             check=lambda st, h, b: None if h.get("www-authenticate") == 'Bearer realm="vigil-oidc"' else h.get("www-authenticate"))

        # Rotation, step 1: the IdP adds k4 and signs with it; Vigil refetches on the unknown kid.
        old = idp.token("k1")
        idp.restart("k1:RS256,k4:RS256")
        new = idp.token("k4")
        case("rotation: token signed with the new kid accepted (refetch while waiting)", "GET", "/api/orders", 200,
             headers=bearer(new), check=saw({"x-client-id": "vigil-e2e"}))
        case("rotation: token signed with the old kid still accepted", "GET", "/api/orders", 200, headers=bearer(old))
        # Step 2: the IdP withdraws k1. After the cache TTL (2 s) the new set replaces the old one.
        # A scheduled refresh can land while the IdP restarts and fail (then it is retried after
        # a back-off), so wait for the refresh with a deadline instead of one fixed delay.
        # Envoy runs one VM per worker: the worker that fetched installs the set at once, the
        # others on their next tick (500 ms), so the first 401 is from one worker only. Allow
        # two ticks after it, then every worker must refuse the withdrawn kid.
        idp.restart("k4:RS256")
        t0 = time.time()
        st = None
        while time.time() < t0 + 15:
            st, _, _ = request(port, "GET", "/api/orders", headers=bearer(old))
            if st == 401:
                break
            time.sleep(0.5)
        res.check("rotation: withdrawn kid refused once the set is refreshed", "GET /api/orders", st, st == 401,
                  f"after {time.time() - t0:.1f} s")
        time.sleep(1.0)
        statuses = sorted({request(port, "GET", "/api/orders", headers=bearer(old))[0] for _ in range(20)})
        res.check("rotation: every worker refuses the withdrawn kid within two ticks", "GET /api/orders x20",
                  statuses, statuses == [401])
        case("rotation: current kid accepted", "GET", "/api/orders", 200, headers=bearer(new))
        # Outage: the last good key set keeps working past its TTL.
        idp.stop()
        time.sleep(3)
        case("IdP down: cached keys keep working past the TTL", "GET", "/api/orders", 200, headers=bearer(new))
        # The failed refresh is counted when the next scheduled fetch (TTL 2 s, 500 ms ticks)
        # gets its connection refused: poll for it rather than guess a delay.
        deadline = time.time() + 8
        s = env.stats()
        while s.get("vigil_jwks_fetch_failed", 0) < 1 and time.time() < deadline:
            time.sleep(0.25)
            s = env.stats()
        res.check("discovery + JWKS fetch counters", "GET /stats", 200,
                  s.get("vigil_jwks_fetch_ok", 0) >= 3 and s.get("vigil_jwks_fetch_failed", 0) >= 1,
                  json.dumps({k: v for k, v in s.items() if "jwks" in k}))
    finally:
        env.stop()
        idp.stop()
        up.stop()
    res.print()
    if res.failed:
        print(f"envoy log: {env.log_path}")
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main())
