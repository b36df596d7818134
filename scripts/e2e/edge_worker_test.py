#!/usr/bin/env python3
"""examples/edge-worker in a real workerd, as a user would run it (stdlib only).

Runs examples/edge-worker/config.capnp itself (its three addresses replaced by free
127.0.0.1 ports; its policy with a 1 s refetch cooldown so the test need not wait 10 s) in
front of an echo origin and a JWKS server standing in for the IdP, then checks what a client
sees: open and protected paths, identity headers set and spoofed copies removed, 401 with
WWW-Authenticate for bad tokens, 403 with the {error, reason} body, 429 with Retry-After,
keys fetched once through the IDP service binding and refetched on an unknown kid (once per
cooldown). Tokens come from vigil-fixtures (target/debug). Exit 1 on the first failure.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import workerd  # noqa: E402

ROOT = harness.ROOT
EXAMPLE = os.path.join(ROOT, "examples", "edge-worker")
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
FIXTURES = os.environ.get("VIGIL_FIXTURES", os.path.join(TARGET, "debug", "vigil-fixtures"))


def fixtures(*args):
    return subprocess.run([FIXTURES, *args], check=True, capture_output=True, text=True).stdout.strip()


def token(sub="alice", scope="read", *extra):
    claims = json.dumps({"scope": scope}) if scope else "{}"
    return fixtures("token", "--sub", sub, "--claims", claims, "--now", str(int(time.time())), *extra)


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print(f"ok   {what}")


def main():
    for need in (workerd.WORKERD, FIXTURES, os.path.join(workerd.WEB, "vigil_bg.wasm")):
        if not os.path.exists(need):
            print(f"missing {need}", file=sys.stderr)
            return 2
    origin = harness.Upstream()
    idp = harness.KeyServer()
    jwks = json.loads(fixtures("jwks"))
    # First the IdP publishes only renamed keys: the token's kid is unknown until it rotates.
    idp.docs["/jwks"] = json.dumps({"keys": [dict(k, kid="old-" + k["kid"]) for k in jwks["keys"]]})
    port = harness.free_port()
    wd = None
    with tempfile.TemporaryDirectory(prefix="vigil-edge-") as work:
        os.makedirs(os.path.join(work, "examples", "edge-worker"))
        os.makedirs(os.path.join(work, "dist", "js"))
        shutil.copytree(workerd.WEB, os.path.join(work, "dist", "js", "web"))
        here = os.path.join(work, "examples", "edge-worker")
        shutil.copy(os.path.join(EXAMPLE, "worker.mjs"), here)
        with open(os.path.join(EXAMPLE, "policy.json")) as fh:
            policy = json.load(fh)
        policy["jwtRules"][0]["jwksCache"]["refetchCooldownSeconds"] = 1
        with open(os.path.join(here, "policy.json"), "w") as fh:
            json.dump(policy, fh)
        with open(os.path.join(EXAMPLE, "config.capnp")) as fh:
            cfg = fh.read()
        for old, new in (("127.0.0.1:8080", f"127.0.0.1:{port}"), ("127.0.0.1:9000", f"127.0.0.1:{origin.port}"),
                         ("127.0.0.1:9001", f"127.0.0.1:{idp.port}")):
            assert old in cfg, old
            cfg = cfg.replace(old, new)
        with open(os.path.join(here, "config.capnp"), "w") as fh:
            fh.write(cfg)
        wd = workerd.Workerd.from_config(os.path.join(here, "config.capnp"), work)
        try:
            wd.start()
            wd.wait_port(port)
            run(port, origin, idp, jwks)
        except Exception:
            print(wd.log()[-3000:])
            raise
        finally:
            wd.stop()
            origin.stop()
            idp.stop()
    print("edge worker e2e: all checks passed")
    return 0


def get(port, path, headers=()):
    return harness.request(port, "GET", path, list(headers), host="api.example.com")


def run(port, origin, idp, jwks):
    status, hdrs, body = get(port, "/public/a", [("x-user", "mallory")])
    check(status == 200, f"/public/a without a token is forwarded (got {status} {body[:200]})")
    seen = json.loads(body)["headers"]
    check("x-user" not in seen, "a client-sent x-user never reaches the origin")
    check(idp.hits.get("/jwks") == 1, f"the first request fetched the key set through IDP (hits {idp.hits})")

    t = token()
    status, hdrs, body = get(port, "/api/orders", [("authorization", f"Bearer {t}")])
    check(status == 401, f"unknown kid: 401 (got {status})")
    check(hdrs.get("www-authenticate", "").startswith('Bearer realm=') and 'error="invalid_token"' in hdrs["www-authenticate"],
          f"401 carries WWW-Authenticate invalid_token ({hdrs.get('www-authenticate')})")
    doc = json.loads(body)
    check(set(doc) == {"error", "reason"} and doc["error"] == "unauthenticated", f"body is {{error, reason}}: {doc}")
    check(hdrs.get("content-type") == "application/json" and hdrs.get("cache-control") == "no-store",
          "refusals are application/json, no-store")
    check(idp.hits.get("/jwks") == 2, f"an unknown kid refetched the set once (hits {idp.hits})")
    status, _, _ = get(port, "/api/orders", [("authorization", f"Bearer {t}")])
    check(status == 401 and idp.hits.get("/jwks") == 2, "within the cooldown an unknown kid does not refetch")

    idp.docs["/jwks"] = json.dumps(jwks)  # the IdP rotates
    time.sleep(1.1)
    status, hdrs, body = get(port, "/api/orders", [("authorization", f"Bearer {t}"), ("x-user", "mallory")])
    check(status == 200, f"after the cooldown the rotated key is fetched and the token allowed (got {status} {body[:200]})")
    check(idp.hits.get("/jwks") == 3, f"one refetch (hits {idp.hits})")
    seen = json.loads(body)["headers"]
    check(seen.get("x-user") == ["alice"], f"the origin sees the verified x-user only: {seen.get('x-user')}")
    check(seen.get("authorization") == [f"Bearer {t}"], "the token is forwarded (forwardOriginalToken default)")

    status, _, body = get(port, "/api/orders", [("authorization", f"Bearer {token(scope='write')}")])
    check(status == 403 and json.loads(body)["error"] == "deny", f"a token without the read scope: 403 deny ({status} {body})")

    expired = fixtures("token", "--claims", '{"scope":"read"}', "--now", str(int(time.time()) - 7200), "--exp-in", "60")
    status, hdrs, _ = get(port, "/api/orders", [("authorization", f"Bearer {expired}")])
    check(status == 401 and "expired" in hdrs.get("www-authenticate", ""), f"an expired token: 401 ({hdrs.get('www-authenticate')})")

    status, _, _ = get(port, "/api/orders")
    check(status == 403, f"no token on /api: 403 (got {status})")

    bob = token(sub="bob")
    statuses = []
    for _ in range(12):
        status, hdrs, _ = get(port, "/api/x", [("authorization", f"Bearer {bob}")])
        statuses.append(status)
        if status == 429:
            check(int(hdrs.get("retry-after", "0")) >= 1, f"429 carries Retry-After ({hdrs.get('retry-after')})")
            break
    check(429 in statuses and statuses[0] == 200, f"per-user rate limit: {statuses}")
    check(idp.hits.get("/jwks") == 3, "keys are cached: no further fetches")


if __name__ == "__main__":
    sys.exit(main())
