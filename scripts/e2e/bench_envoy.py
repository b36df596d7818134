#!/usr/bin/env python3
"""Envoy benchmark (issue 5's performance section; scripts/bench calls it with --json).

Envoy (--concurrency 1, pinned to CPU 0) answers with a direct response, so only the filters
cost anything; wrk (pinned to CPU 1, 32 connections) sends RS256 tokens. Configs, interleaved
in rounds within one run:
  none                  no auth filter
  none+accesslog        no auth filter, a file access log writing a constant 440-byte line
                        (the size of Vigil's record): what the line itself costs in Envoy
  vigil                 dist/filter.wasm: jwtRules (inline JWKS) + requestPrincipals ALLOW; the
                        same token on every request (the verified-token cache hits)
  vigil+sampled-log     the same with "decisionLog": {"sample": 100} (every denial, 1 in 100
                        allowed requests logged)
  vigil-verify          Vigil verifying every request: wrk cycles through more distinct tokens
                        (a `jti` each) than the filter's cache holds (4,096, oldest evicted), so
                        every lookup misses; the measured hit ratio is reported (`cache_hits`).
                        No decision record, as jwt_authn+RBAC writes none
  vigil-verify+log      the same with the default decision log line per request
  jwt_authn+rbac        Envoy's native jwt_authn + RBAC on the same policy, no jwt_cache_config
                        (verifies every request)
  jwt_authn+rbac+cache  the same with jwt_cache_config (1,000 tokens), the same token each time
  vigil-forged          every request a distinct, well-formed RS256 token (right kid, a `jti`
                        each) whose signature is wrong: the cost of an attacker who makes the
                        proxy verify (every request is a 401)
  jwt_authn+rbac-forged the same tokens against jwt_authn + RBAC (no cache)
  vigil-native          dist/libvigil.so (the Envoy dynamic module) with the policy of `vigil`,
                        the same token (cache hits), every decision recorded in Envoy's access
                        log (decisionLog.to: accessLog, a file access log writing the record)
  vigil-native-nolog    the same with no decision record (the record's own cost is the difference)
  vigil-native-verify   the module verifying every request (the tokens of `vigil-verify`)
  vigil-native-forged   the module against the forged tokens
  vigil+accesslog       filter.wasm with the record in the access log, as `vigil-native`
  jwt_authn+rbac+cache+accesslog  the cached pair with a file access log writing the verified
                        claims (%DYNAMIC_METADATA(envoy.filters.http.jwt_authn:jwt_payload)%):
                        the peer's own per-request record, beside `vigil-native`
Reports, per config, the median over rounds of Envoy CPU µs per request (utime+stime from
/proc/PID/stat), requests/s, p50/p99 latency (wrk) and Envoy's resident memory after the run
(VmRSS). Numbers are never asserted.

Usage: bench_envoy.py [--rounds N] [--seconds S] [--quick] [--json] [--baseline-wasm PATH]
                      [--baseline-native PATH] [--only A,B]
  --quick          1 round of 3 s per config (under 90 s in all)
  --json           print one JSON document on stdout (the table goes to stderr)
  --baseline-wasm  also run `vigil` and `vigil-verify` with another build of the filter
                   (before/after comparisons in one interleaved run)
  --baseline-native  also run `vigil-native` and `vigil-native-nolog` with another build of
                   the module (a libvigil.so), as `vigil-native@baseline` and
                   `vigil-native-nolog@baseline`
  --only           only these configs (comma-separated names)
Needs wrk (scripts/setup installs it) and the fixtures binary (target/debug/vigil-fixtures).
"""

import base64
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
sys.dont_write_bytecode = True
import harness  # noqa: E402
from envoy_test import ISSUER, WASM, fixture, jwks_with, token  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def direct_listener(name, port, filters, access_logs=None):
    lst = harness.listener(name, port, filters, access_logs=access_logs)
    hcm = lst["filter_chains"][0]["filters"][0]["typed_config"]
    hcm["route_config"]["virtual_hosts"][0]["routes"] = [
        {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "ok"}}}]
    return lst


def configs(jwks, baseline=None, baseline_native=None):
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

    sampled = dict(vigil_policy, decisionLog={"sample": 100})
    # The proxy-wasm floor: the filter with nothing to check (no token, default ALLOW, no
    # decision log): what any Wasm filter costs in this Envoy before doing anything.
    floor = {"defaultAction": "ALLOW", "decisionLog": {"sample": "none", "denied": "none"}}
    to_access_log = dict(vigil_policy, decisionLog={"to": "accessLog"})
    # The verify and forged rows compare signature work: neither side writes a per-request
    # record (jwt_authn+RBAC writes none), as in the native rows. `vigil-verify+log` is the
    # same with the default decision log line.
    no_log = dict(vigil_policy, decisionLog={"sample": "none", "denied": "none"})

    def wasm(policy):
        return [harness.vigil_filter(json.dumps(policy), build="wasm")]

    def module(policy):
        return [harness.vigil_filter(json.dumps(policy), build="native")]

    # name: (filters, tokens: "same", "unique" or "forged"[, access-log format])
    extra = {}
    if baseline:
        # Another build of the filter (e.g. main's), for before/after in one interleaved run.
        extra = {"vigil@baseline": ([harness.wasm_filter(json.dumps(vigil_policy), baseline)], "same"),
                 "vigil-verify@baseline": ([harness.wasm_filter(json.dumps(no_log), baseline)], "unique")}
    if baseline_native:
        # These rows load the module from a folder holding the baseline (see main).
        extra |= {"vigil-native@baseline": (module(to_access_log), "same", harness.RECORD_FORMAT["native"]),
                  "vigil-native-nolog@baseline": (module(no_log), "same")}
    return extra | {
        "none": ([], "same"),
        # Envoy's own cost of one access-log line the size of Vigil's record (440 bytes).
        "none+accesslog": ([], "same", "x" * 440),
        "vigil": (wasm(vigil_policy), "same"),
        "vigil+sampled-log": (wasm(sampled), "same"),
        "vigil+accesslog": (wasm(to_access_log), "same", harness.RECORD_FORMAT["wasm"]),
        "vigil-floor": (wasm(floor), "same"),
        "vigil-verify": (wasm(no_log), "unique"),
        "vigil-verify+log": (wasm(vigil_policy), "unique"),
        "jwt_authn+rbac": (native(False), "same"),
        "jwt_authn+rbac+cache": (native(True), "same"),
        "jwt_authn+rbac+cache+accesslog": (native(True), "same",
                                           "%DYNAMIC_METADATA(envoy.filters.http.jwt_authn:jwt_payload)%"),
        "vigil-forged": (wasm(no_log), "forged"),
        "jwt_authn+rbac-forged": (native(False), "forged"),
        "vigil-native": (module(to_access_log), "same", harness.RECORD_FORMAT["native"]),
        "vigil-native-nolog": (module(no_log), "same"),
        "vigil-native-verify": (module(no_log), "unique"),
        "vigil-native-forged": (module(no_log), "forged"),
    }


def wrk_script(tokens):
    """A wrk Lua script sending `tokens` in turn (one token: a fixed header)."""
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    if len(tokens) == 1:
        script.write(f'wrk.headers["Authorization"] = "Bearer {tokens[0]}"\n')
    else:
        listing = tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False)
        listing.write("\n".join(tokens) + "\n")
        listing.close()
        # Each wrk run starts where the previous one stopped (its first argument), so the warm-up
        # run does not fill the cache with the tokens the measured run sends.
        script.write(f"""
local tokens, i = {{}}, 0
for line in io.lines("{listing.name}") do tokens[#tokens + 1] = line end
init = function(args) i = tonumber(args[1] or "0") or 0 end
request = function()
  i = i % #tokens + 1
  return wrk.format("GET", nil, {{["Authorization"] = "Bearer " .. tokens[i]}})
end
""")
    script.close()
    return script.name


def run_wrk(port, script, seconds, offset=0):
    out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", "-c32", f"-d{seconds}s", "--latency", "-s", script,
                          f"http://127.0.0.1:{port}/api/orders", "--", str(offset)],
                         capture_output=True, text=True, timeout=seconds + 60).stdout
    reqs = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    return reqs, int(non2xx.group(1)) if non2xx else 0, lat


def to_ms(text):
    """wrk latency text (`812.00us`, `1.20ms`, `2.00s`) in milliseconds."""
    if not text:
        return None
    m = re.match(r"([\d.]+)(us|ms|s)$", text)
    if not m:
        return None
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]


def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def unique_tokens(n):
    """`n` distinct RS256 tokens (a `jti` each) and the JWK that verifies them: signed with a
    key made here (Python `cryptography`: 5,000 signatures take seconds), else minted by the
    fixtures binary (slow: minutes)."""
    try:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding, rsa
    except ImportError:
        print("python3 cryptography missing: minting tokens with vigil-fixtures (slow)", file=sys.stderr)
        toks = fixture("token", "--issuer", ISSUER, "--aud", "api", "--sub", "bench", "--exp-in", "3600",
                       "--count", str(n)).split()
        return None, toks

    def b64(b):
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pub = key.public_key().public_numbers()
    jwk = {"kty": "RSA", "kid": "bench-rsa", "alg": "RS256", "use": "sig",
           "n": b64(pub.n.to_bytes(256, "big")), "e": b64(pub.e.to_bytes(3, "big"))}
    header = b64(json.dumps({"alg": "RS256", "kid": "bench-rsa", "typ": "JWT"}).encode())
    now = int(time.time())
    toks = []
    for i in range(n):
        claims = {"iss": ISSUER, "sub": "bench", "aud": "api", "iat": now, "exp": now + 3600, "jti": f"bench-{i}"}
        signing_input = f"{header}.{b64(json.dumps(claims).encode())}"
        sig = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        toks.append(f"{signing_input}.{b64(sig)}")
    return jwk, toks


def forge(tok):
    """The token with one signature character changed: still canonical base64url of the
    modulus' length (an inner character carries 6 full bits), so only the arithmetic refuses it."""
    head, sig = tok.rsplit(".", 1)
    i = len(sig) // 2
    c = "A" if sig[i] != "A" else "B"
    return f"{head}.{sig[:i]}{c}{sig[i + 1:]}"


def stats_of(env, name):
    """The filter's counters, for either build (`vigil-native*` configs run the module)."""
    if not name.startswith("vigil"):
        return {}
    prefix = harness.STATS_PREFIX["native" if name.startswith("vigil-native") else "wasm"]
    with harness.urllib.request.urlopen(f"http://127.0.0.1:{env.admin}/stats?filter=^{prefix}vigil", timeout=5) as r:
        out = {}
        for line in r.read().decode().splitlines():
            k, _, v = line.partition(": ")
            out[k[len(prefix):]] = int(v) if v.isdigit() else v
        return out


def main():
    if "--help" in sys.argv or "-h" in sys.argv:
        print(__doc__)
        return
    quick = "--quick" in sys.argv
    as_json = "--json" in sys.argv
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else (1 if quick else 3)
    seconds = int(sys.argv[sys.argv.index("--seconds") + 1]) if "--seconds" in sys.argv else (3 if quick else 5)
    table = sys.stderr if as_json else sys.stdout
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (scripts/setup installs it: apt-get install wrk)")
    baseline = sys.argv[sys.argv.index("--baseline-wasm") + 1] if "--baseline-wasm" in sys.argv else None
    baseline_native = (sys.argv[sys.argv.index("--baseline-native") + 1]
                       if "--baseline-native" in sys.argv else None)
    jwks = jwks_with({"rsa-1"})
    same = wrk_script([token("bench", exp_in=3600)])
    # More distinct tokens than the filter's verified-token cache holds (4,096).
    jwk, toks = unique_tokens(5000)
    if jwk:
        full = json.loads(jwks)
        full["keys"].append(jwk)
        jwks = json.dumps(full)
    unique = wrk_script(toks)
    scripts = {"same": same, "unique": unique, "forged": wrk_script([forge(t) for t in toks])}
    work = tempfile.mkdtemp(prefix="vigil-bench-")
    only = sys.argv[sys.argv.index("--only") + 1].split(",") if "--only" in sys.argv else None
    chosen = {k: v for k, v in configs(jwks, baseline, baseline_native).items() if only is None or k in only}
    module_dir = None
    if baseline_native:
        module_dir = os.path.join(work, "baseline-module")
        os.makedirs(module_dir, exist_ok=True)
        shutil.copy(baseline_native, os.path.join(module_dir, "libvigil.so"))
    results = {name: [] for name in chosen}
    for r in range(rounds):
        for i, (name, (filters, tokens, *record)) in enumerate(chosen.items()):
            port = harness.free_port()
            logs = [harness.access_log(os.path.join(work, f"{name}.access.log"), record[0])] if record else None
            cfg = {"static_resources": {"listeners": [direct_listener(name, port, filters, logs)], "clusters": []}}
            env = harness.Envoy(cfg, work, base_id=300 + i,
                                module_dir=module_dir if name.startswith("vigil-native") and name.endswith("@baseline") else None)
            env.start(concurrency=1)
            try:
                subprocess.run(["taskset", "-pc", "0", str(env.pid)], capture_output=True)
                warm, _, _ = run_wrk(port, scripts[tokens], 1)  # warm-up (VM start, caches)
                stats0 = stats_of(env, name)
                c0 = cpu_seconds(env.pid)
                reqs, bad, lat = run_wrk(port, scripts[tokens], seconds, offset=warm)
                cpu = cpu_seconds(env.pid) - c0
                row = {"us_per_req": cpu * 1e6 / max(reqs, 1), "rps": reqs / seconds,
                       "p50_ms": to_ms(lat.get("50")), "p99_ms": to_ms(lat.get("99")), "non2xx": bad,
                       "rss_kb": rss_kb(env.pid)}
                if name.startswith("vigil"):
                    stats = stats_of(env, name)
                    d = {k: stats.get(k, 0) - stats0.get(k, 0) for k in
                         ("vigil_token_cache_hit", "vigil_token_cache_miss")}
                    hits, misses = d["vigil_token_cache_hit"], d["vigil_token_cache_miss"]
                    row["cache_hits"] = round(hits / max(hits + misses, 1), 3)
                results[name].append(row)
            finally:
                env.stop()
        print(f"round {r + 1}/{rounds} done", file=sys.stderr)
    summary = {}
    for name, rs in results.items():
        med = lambda k: statistics.median(x[k] for x in rs if x.get(k) is not None) if any(x.get(k) is not None for x in rs) else None  # noqa: E731
        summary[name] = {"us_per_req": med("us_per_req"), "rps": med("rps"), "p50_ms": med("p50_ms"),
                         "p99_ms": med("p99_ms"), "rss_kb": med("rss_kb"),
                         "non2xx": sum(x["non2xx"] for x in rs), "cache_hits": med("cache_hits")}
    print(f"{'config':<30} {'CPU µs/req':>11} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'RSS MB':>8} {'cache hits':>10}  non-2xx",
          file=table)
    fmt = lambda v, f: "-" if v is None else format(v, f)  # noqa: E731
    for name, m in summary.items():
        print(f"{name:<30} {fmt(m['us_per_req'], '11.1f')} {fmt(m['rps'], '8.0f')} {fmt(m['p50_ms'], '8.2f')} "
              f"{fmt(m['p99_ms'], '8.2f')} {fmt(m['rss_kb'] and m['rss_kb'] / 1024, '8.1f')} "
              f"{fmt(m['cache_hits'], '10.3f')}  {m['non2xx']}", file=table)
    ratios = {}
    if "vigil" in summary and "jwt_authn+rbac+cache" in summary:
        ratio = summary["vigil"]["us_per_req"] / summary["jwt_authn+rbac+cache"]["us_per_req"]
        print(f"vigil / jwt_authn+rbac+cache CPU ratio: {ratio:.2f} (target ≤ 1.00)", file=table)
        ratios["ratio_vigil_to_native_cached"] = ratio
    for ours, theirs, target in (("vigil-verify", "jwt_authn+rbac", 2.0),
                                 ("vigil-verify+log", "jwt_authn+rbac", 2.0),
                                 ("vigil-forged", "jwt_authn+rbac-forged", 2.0),
                                 ("vigil-native", "jwt_authn+rbac+cache", 1.0),
                                 ("vigil-native", "jwt_authn+rbac+cache+accesslog", 1.0),
                                 ("vigil-native-nolog", "jwt_authn+rbac+cache", 1.0),
                                 ("vigil-native-verify", "jwt_authn+rbac", 1.0),
                                 ("vigil-native-forged", "jwt_authn+rbac-forged", 1.0)):
        a, b = (summary.get(ours) or {}).get("us_per_req"), (summary.get(theirs) or {}).get("us_per_req")
        if a and b:
            ratios[f"ratio_{ours}_to_{theirs}"] = a / b
            print(f"{ours} / {theirs} CPU ratio: {a / b:.2f} (target ≤ {target:.2f})", file=table)
    doc = {"bench": "envoy", "rounds": rounds, "seconds": seconds, "concurrency": 1, "connections": 32,
           "wasm_bytes": os.path.getsize(WASM), "summary": summary, **ratios, "runs": results}
    print(json.dumps(doc) if as_json else json.dumps(results))


if __name__ == "__main__":
    main()
