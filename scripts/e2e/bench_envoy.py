#!/usr/bin/env python3
"""A first Envoy benchmark (issue 5's performance section; issue 8 grows it into scripts/bench).

Envoy (--concurrency 1, pinned to CPU 0) answers with a direct response, so only the filters
cost anything; wrk (pinned to CPU 1) sends the same RS256 token on every request. Configs,
interleaved in rounds within one run:
  none            no auth filter
  vigil           dist/filter.wasm: jwtRules (inline JWKS) + requestPrincipals ALLOW
  jwt_authn+rbac  Envoy's native jwt_authn + RBAC on the same policy, without jwt_cache_config
  jwt_authn+rbac+cache   the same with jwt_cache_config
Reports, per config, the median over rounds of Envoy CPU µs per request (utime+stime from
/proc/PID/stat), requests/s and p50/p99 latency. Numbers are never asserted.

Usage: bench_envoy.py [--rounds N] [--seconds S]   (needs wrk: apt-get install wrk)
"""

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
sys.dont_write_bytecode = True
import harness  # noqa: E402
from envoy_test import ISSUER, WASM, fixture, jwks_with, token  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def direct_listener(name, port, filters):
    lst = harness.listener(name, port, filters)
    hcm = lst["filter_chains"][0]["filters"][0]["typed_config"]
    hcm["route_config"]["virtual_hosts"][0]["routes"] = [
        {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "ok"}}}]
    return lst


def configs(jwks):
    vigil_policy = {
        "jwtRules": [{"issuer": ISSUER, "audiences": ["api"], "jwks": jwks, "algorithms": ["RS256"]}],
        "authorizationPolicies": [{"name": "api-users", "rules": [{
            "from": [{"source": {"requestPrincipals": [f"{ISSUER}/*"]}}],
            "to": [{"operation": {"paths": ["/api/*"]}}]}]}],
    }

    def native(cache):
        provider = {"issuer": ISSUER, "audiences": ["api"], "local_jwks": {"inline_string": jwks},
                    "payload_in_metadata": "jwt_payload", "forward": False}
        if cache:
            provider["jwt_cache_config"] = {"jwt_cache_size": 1000}
        return [
            {"name": "envoy.filters.http.jwt_authn", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
                "providers": {"idp": provider},
                "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "idp"}}]}},
            {"name": "envoy.filters.http.rbac", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
                "rules": {"action": "ALLOW", "policies": {"api-users": {
                    "permissions": [{"url_path": {"path": {"prefix": "/api/"}}}],
                    "principals": [{"metadata": {"filter": "envoy.filters.http.jwt_authn",
                                                 "path": [{"key": "jwt_payload"}, {"key": "iss"}],
                                                 "value": {"string_match": {"exact": ISSUER}}}}]}}}}},
        ]

    return {
        "none": [],
        "vigil": [harness.wasm_filter(json.dumps(vigil_policy), WASM)],
        "jwt_authn+rbac": native(False),
        "jwt_authn+rbac+cache": native(True),
    }


def run_wrk(port, tok, seconds):
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    script.write(f'wrk.headers["Authorization"] = "Bearer {tok}"\n')
    script.close()
    out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", "-c32", f"-d{seconds}s", "--latency", "-s", script.name,
                          f"http://127.0.0.1:{port}/api/orders"], capture_output=True, text=True, timeout=seconds + 60).stdout
    reqs = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    return reqs, int(non2xx.group(1)) if non2xx else 0, lat


def main():
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 3
    seconds = int(sys.argv[sys.argv.index("--seconds") + 1]) if "--seconds" in sys.argv else 5
    jwks = jwks_with({"rsa-1"})
    tok = token("bench", exp_in=3600)
    work = tempfile.mkdtemp(prefix="vigil-bench-")
    results = {name: [] for name in configs(jwks)}
    for r in range(rounds):
        for i, (name, filters) in enumerate(configs(jwks).items()):
            port = harness.free_port()
            cfg = {"static_resources": {"listeners": [direct_listener(name, port, filters)], "clusters": []}}
            env = harness.Envoy(cfg, work, base_id=300 + i)
            env.start(concurrency=1)
            try:
                subprocess.run(["taskset", "-pc", "0", str(env.pid)], capture_output=True)
                run_wrk(port, tok, 1)  # warm-up (VM start, caches)
                c0 = cpu_seconds(env.pid)
                reqs, bad, lat = run_wrk(port, tok, seconds)
                cpu = cpu_seconds(env.pid) - c0
                results[name].append({"us_per_req": cpu * 1e6 / max(reqs, 1), "rps": reqs / seconds,
                                      "p50": lat.get("50"), "p99": lat.get("99"), "non2xx": bad})
            finally:
                env.stop()
        print(f"round {r + 1}/{rounds} done", file=sys.stderr)
    print(f"{'config':<22} {'CPU µs/req (median)':>20} {'req/s (median)':>15} {'p50':>9} {'p99':>9}  non-2xx")
    for name, rs in results.items():
        us = statistics.median(x["us_per_req"] for x in rs)
        rps = statistics.median(x["rps"] for x in rs)
        print(f"{name:<22} {us:>20.1f} {rps:>15.0f} {rs[-1]['p50']:>9} {rs[-1]['p99']:>9}  {sum(x['non2xx'] for x in rs)}")
    base = statistics.median(x["us_per_req"] for x in results["jwt_authn+rbac+cache"])
    vig = statistics.median(x["us_per_req"] for x in results["vigil"])
    print(f"vigil / jwt_authn+rbac+cache CPU ratio: {vig / base:.2f}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
