#!/usr/bin/env python3
"""Seed corpora for the fuzz targets (fuzz/fuzz_targets), from the repository's own inputs:
the tokens, key sets, policies and requests of corpus/ and examples/, the Istio YAML of
examples/istio, and revocation feeds. Writes fuzz/corpus/<target>/<n>; libFuzzer adds what it
finds next to them. Usage: scripts/fuzz_seeds.py OUT_DIR"""
import base64
import glob
import hashlib
import json
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# The token target verifies only the tokens of this file (fuzz_targets/common.rs): only they
# seed it.
TOKENS = f"{ROOT}/corpus/tokens/validation.json"


def policies():
    out = []
    for p in sorted(glob.glob(f"{ROOT}/corpus/*/*.json")):
        doc = load(p)
        if isinstance(doc.get("policy"), dict):
            out.append((doc["policy"], doc.get("cases", []), p == TOKENS))
    for p in sorted(glob.glob(f"{ROOT}/examples/**/*.policy.json", recursive=True)):
        out.append((load(p), [], False))
    for p in sorted(glob.glob(f"{ROOT}/examples/policies/*.test.json")):
        doc = load(p)
        out.append(({}, doc.get("cases", []), False))
    return out


def encode_map(pairs):
    b = struct.pack("<I", len(pairs))
    for k, v in pairs:
        b += struct.pack("<II", len(k), len(v))
    for k, v in pairs:
        b += k + b"\0" + v + b"\0"
    return b


def main(out):
    seeds = {t: set() for t in ["token", "jwks", "policy", "request", "feed", "header_map", "yaml",
                                "analysis", "bundle"]}
    for policy, cases, tokens in policies():
        if policy:
            seeds["policy"].add(json.dumps(policy).encode())
            for rule in policy.get("jwtRules", []):
                if isinstance(rule.get("jwks"), str):
                    seeds["jwks"].add(rule["jwks"].encode())
            if "revocation" in policy:
                seeds["feed"].add(json.dumps(policy["revocation"]).encode())
        for case in cases:
            req = case.get("request") or {}
            headers = req.get("headers") or {}
            seeds["request"].add(json.dumps(req).encode())
            fields = [req.get("path", "/"), req.get("method", "GET"), req.get("host", "app")]
            pairs = [(":path", fields[0]), (":method", fields[1]), (":authority", fields[2])]
            for k, v in headers.items():
                for one in v if isinstance(v, list) else [v]:
                    fields += [k, str(one)]
                    pairs.append((k, str(one)))
                    if tokens and k == "authorization" and str(one).startswith("Bearer "):
                        seeds["token"].add(str(one)[7:].encode())
            seeds["request"].add("\0".join(fields).encode())
            seeds["header_map"].add(encode_map([(k.encode(), v.encode()) for k, v in pairs]))
    # Each key of every set alone, and in the shapes providers publish or get wrong.
    for text in list(seeds["jwks"]):
        for key in json.loads(text).get("keys", []):
            variants = [dict(key), {k: v for k, v in key.items() if k not in ("alg", "kid")},
                        dict(key, use="enc"), dict(key, key_ops=["encrypt"]), dict(key, alg="ES512"),
                        dict(key, d="AQAB"), {"kty": "oct", "k": "c2VjcmV0", "kid": key.get("kid")}]
            for v in variants:
                seeds["jwks"].add(json.dumps({"keys": [v]}).encode())
            seeds["jwks"].add(json.dumps({"keys": [key, key]}).encode())
    for p in sorted(glob.glob(f"{ROOT}/corpus/zt/*.json")):
        for case in load(p).get("cases", []):
            rev = (case.get("state") or {}).get("revocation")
            if rev:
                seeds["feed"].add(json.dumps(rev).encode())
    seeds["feed"].add(b'{"version": 3, "jtis": ["4f1c"], "sids": ["s-81"], '
                      b'"subjects": [{"sub": "mallory", "iss": "https://idp.example.com", "notBefore": 1700000000}]}')
    for p in sorted(glob.glob(f"{ROOT}/examples/**/*.yaml", recursive=True)):
        with open(p, "rb") as f:
            seeds["yaml"].add(f.read())
    # Policy pairs with known differences (examples/diff), old NUL new, and each policy alone.
    for p in sorted(glob.glob(f"{ROOT}/examples/diff/*.diff.json")):
        doc = load(p)
        side = lambda v: json.dumps(v if isinstance(v, dict) else load(os.path.join(os.path.dirname(p), v)))
        seeds["analysis"].add(side(doc["old"]).encode() + b"\0" + side(doc["new"]).encode())
    for item in list(seeds["policy"])[:40]:
        seeds["analysis"].add(item)
    # Bundle shapes (signed by a key the target does not trust, or not at all).
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=")
    header = b64(b'{"alg":"EdDSA","kid":"k1","typ":"vigil-bundle"}')
    for payload in [b'{"kind":"policy","revision":4,"document":{}}',
                    b'{"kind":"revocation","revision":1,"issuedAt":1700000000,"document":{"jtis":["a"]}}',
                    b'{"kind":"policy","revision":9007199254740991,"document":{"authorizationPolicies":[]}}']:
        seeds["bundle"].add(header + b"." + b64(payload) + b"." + b64(bytes(64)))
    seeds["bundle"].add(b64(b'{"alg":"none","typ":"vigil-bundle"}') + b"." + b64(b"{}") + b".")
    for target, items in seeds.items():
        d = os.path.join(out, target)
        os.makedirs(d, exist_ok=True)
        for item in items:
            name = hashlib.sha1(item).hexdigest()[:16]
            with open(os.path.join(d, f"seed-{name}"), "wb") as f:
                f.write(item)
        print(f"fuzz seeds: {target}: {len(items)}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "fuzz", "corpus"))
