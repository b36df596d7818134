#!/usr/bin/env python3
"""The edge half of scripts/bench: workerd requests/s and CPU per request with Vigil's edge
worker vs the hand-written jose worker (bench/edge/jose-worker.mjs), same token, same policy.

workerd (npm `workerd`, the Cloudflare Workers runtime) is pinned to CPU 0, wrk to CPU 1;
allowed requests go to an origin worker in the same workerd (a service binding that answers
"ok"), the same for both, so the difference is the workers' own cost; configs are interleaved
in rounds. CPU per request = workerd's utime+stime (/proc/PID/stat) over the run /
requests. Numbers are printed, never asserted; the last line is JSON.

Usage: bench_edge.py FIXTURES_DIR [--quick]   (FIXTURES_DIR from vigil-bench-peers
--write-fixtures: tokens.json with the JWKS and an RS256 token issued now)
"""

import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TICKS = os.sysconf("SC_CLK_TCK")
WORKERD = os.path.join(ROOT, "node_modules", ".bin", "workerd")
JOSE = os.path.join(ROOT, "bench", "node", "node_modules", "jose", "dist", "webapi")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def cpu_seconds(pid):
    total = 0.0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            f = open(f"/proc/{pid}/task/{tid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(f[11]) + int(f[12])) / TICKS
    return total


def capnp_text(s):
    return json.dumps(s)


ORIGIN = '(name = "origin", worker = (modules = [(name = "origin.mjs", esModule = embed "origin.mjs")], compatibilityDate = "2024-09-23"))'
ORIGIN_JS = 'export default { fetch() { return new Response("ok\\n"); } };\n'


def jose_config(work, port, fx):
    """workerd config for the jose worker: every jose module embedded under its own path."""
    d = os.path.join(work, "jose")
    shutil.copytree(JOSE, os.path.join(d, "node_modules", "jose"), dirs_exist_ok=True)
    shutil.copy(os.path.join(ROOT, "bench", "edge", "jose-worker.mjs"), os.path.join(d, "worker.mjs"))
    open(os.path.join(d, "jose-shim.mjs"), "w").write('export * from "node_modules/jose/index.js";\n')
    open(os.path.join(d, "origin.mjs"), "w").write(ORIGIN_JS)
    mods = ['(name = "worker.mjs", esModule = embed "worker.mjs")',
            '(name = "jose", esModule = embed "jose-shim.mjs")']
    base = os.path.join(d, "node_modules", "jose")
    for dirpath, _, files in os.walk(base):
        for f in sorted(files):
            if f.endswith(".js"):
                rel = os.path.relpath(os.path.join(dirpath, f), d)
                mods.append(f'(name = {capnp_text(rel)}, esModule = embed {capnp_text(rel)})')
    cfg = f"""using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .w), {ORIGIN} ],
  sockets = [ (name = "http", address = "127.0.0.1:{port}", http = (), service = "main") ],
);
const w :Workerd.Worker = (
  modules = [ {", ".join(mods)} ],
  compatibilityDate = "2024-09-23",
  bindings = [ (name = "JWKS", text = {capnp_text(json.dumps(fx["jwks"]))}),
               (name = "ISSUER", text = {capnp_text(fx["issuer"])}),
               (name = "AUDIENCE", text = {capnp_text(fx["audience"])}),
               (name = "ORIGIN", service = "origin") ],
);
"""
    path = os.path.join(d, "config.capnp")
    open(path, "w").write(cfg)
    return path


def vigil_config(work, port, fx):
    """workerd config for Vigil's edge worker (examples/edge-worker/worker.mjs with the
    wasm-bindgen module from dist/js/web), given the benchmark's policy; None when this
    checkout has no edge worker or no built module."""
    worker = os.path.join(ROOT, "examples", "edge-worker", "worker.mjs")
    web = os.path.join(ROOT, "dist", "js", "web")
    if not os.path.exists(worker) or not os.path.exists(os.path.join(web, "vigil_bg.wasm")):
        return None
    policy = {"jwtRules": [{"issuer": fx["issuer"], "audiences": [fx["audience"]], "jwks": fx["jwks"],
                            "algorithms": ["RS256"], "outputClaimToHeaders": [{"header": "x-user", "claim": "sub"}]}],
              "authorizationPolicies": [{"name": "api-users", "rules": [{
                  "from": [{"source": {"requestPrincipals": [f"{fx['issuer']}/*"]}}],
                  "to": [{"operation": {"paths": ["/api/*"]}}]}]}]}
    d = os.path.join(work, "vigil")
    os.makedirs(d, exist_ok=True)
    shutil.copy(worker, os.path.join(d, "worker.mjs"))
    shutil.copy(os.path.join(web, "vigil.js"), os.path.join(d, "vigil.js"))
    shutil.copy(os.path.join(web, "vigil_bg.wasm"), os.path.join(d, "vigil_bg.wasm"))
    open(os.path.join(d, "origin.mjs"), "w").write(ORIGIN_JS)
    cfg = f"""using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .w), {ORIGIN} ],
  sockets = [ (name = "http", address = "127.0.0.1:{port}", http = (), service = "main") ],
);
const w :Workerd.Worker = (
  modules = [ (name = "worker.mjs", esModule = embed "worker.mjs"),
              (name = "vigil.js", esModule = embed "vigil.js"),
              (name = "vigil_bg.wasm", wasm = embed "vigil_bg.wasm") ],
  compatibilityDate = "2026-11-01",
  bindings = [ (name = "POLICY", text = {capnp_text(json.dumps(policy))}),
               (name = "ORIGIN", service = "origin") ],
);
"""
    path = os.path.join(d, "config.capnp")
    open(path, "w").write(cfg)
    return path


def wait_port(port, proc, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def run_wrk(port, tok, seconds):
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    script.write(f'wrk.headers["Authorization"] = "Bearer {tok}"\n')
    script.close()
    out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", "-c16", f"-d{seconds}s", "--latency", "-s",
                          script.name, f"http://127.0.0.1:{port}/api/orders"],
                         capture_output=True, text=True, timeout=seconds + 60).stdout
    os.unlink(script.name)
    reqs = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    return reqs, int(non2xx.group(1)) if non2xx else 0, lat


def main():
    fxdir = sys.argv[1]
    quick = "--quick" in sys.argv
    rounds, seconds = (1, 2) if quick else (3, 5)
    fx = json.load(open(os.path.join(fxdir, "tokens.json")))
    tok = fx["tokens"]["RS256"]
    work = tempfile.mkdtemp(prefix="vigil-edge-")
    makers = {"jose worker": jose_config, "vigil edge worker": vigil_config}
    results = {name: [] for name in makers}
    skipped = {}
    for r in range(rounds):
        for name, make in makers.items():
            if name in skipped:
                continue
            port = free_port()
            cfg = make(work, port, fx)
            if cfg is None:
                skipped[name] = "no examples/edge-worker/worker.mjs or dist/js/web (scripts/build)"
                continue
            log = open(os.path.join(work, f"{name.replace(' ', '-')}.log"), "w")
            p = subprocess.Popen(["taskset", "-c", "0", WORKERD, "serve", cfg], stdout=log, stderr=log,
                                 start_new_session=True)
            try:
                if not wait_port(port, p):
                    raise SystemExit(f"{name}: workerd did not start; see {log.name}")
                run_wrk(port, tok, 1)  # warm-up: isolate, keys imported, JIT
                c0 = cpu_seconds(p.pid)
                reqs, bad, lat = run_wrk(port, tok, seconds)
                cpu = cpu_seconds(p.pid) - c0
                rss = int(re.search(r"VmRSS:\s+(\d+)", open(f"/proc/{p.pid}/status").read()).group(1)) / 1024
                results[name].append({"us_per_req": cpu * 1e6 / max(reqs, 1), "rps": reqs / seconds,
                                      "p50": lat.get("50"), "p99": lat.get("99"), "non2xx": bad,
                                      "rss_mib": rss})
            finally:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
        print(f"round {r + 1}/{rounds} done", file=sys.stderr)
    print(f"{'worker':<20} {'CPU µs/req':>11} {'req/s':>9} {'p50':>9} {'p99':>9}  non-2xx")
    for name, rs in results.items():
        if not rs:
            continue
        print(f"{name:<20} {statistics.median(x['us_per_req'] for x in rs):>11.1f} "
              f"{statistics.median(x['rps'] for x in rs):>9.0f} {rs[-1]['p50']:>9} {rs[-1]['p99']:>9}  "
              f"{sum(x['non2xx'] for x in rs)}")
    print(json.dumps({"configs": {k: v for k, v in results.items() if v}, "skipped": skipped,
                      "rounds": rounds, "seconds": seconds}))


if __name__ == "__main__":
    main()
