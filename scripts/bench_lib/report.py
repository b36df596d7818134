"""Writes scripts/bench's report: results.json (everything measured), results.md (the tables,
the targets, the machine and the commands) and hand-written SVG charts (no dependencies)."""

import json
import math
import os
import statistics

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"]


# ---------------------------------------------------------------------------- formatting

def human(ns):
    if ns is None or (isinstance(ns, float) and math.isnan(ns)):
        return "—"
    if ns >= 1e9:
        return f"{ns / 1e9:.2f} s"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.0f} ns" if ns >= 10 else f"{ns:.1f} ns"


def kb(n):
    return f"{n / 1024:.0f} KiB" if n < 1048576 else f"{n / 1048576:.2f} MiB"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def stat_of(stats, name):
    for s in stats:
        if s["name"] == name:
            return s
    return None


def spread(s):
    return f"{human(s['p10_ns'])} – {human(s['p90_ns'])}"


# ---------------------------------------------------------------------------- svg

def line_chart(path, title, series, ylabel):
    """series: [(name, [(x, y), ...])]; log x and log y axes."""
    w, h, ml, mr, mt, mb = 720, 420, 80, 170, 40, 50
    pts = [p for _, s in series for p in s if p[1] and p[1] > 0]
    if not pts:
        return False
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    x0, x1 = math.floor(math.log10(min(xs))), math.ceil(math.log10(max(xs)))
    y0, y1 = math.floor(math.log10(min(ys))), math.ceil(math.log10(max(ys)))
    x1 = max(x1, x0 + 1)
    y1 = max(y1, y0 + 1)

    def px(x):
        return ml + (math.log10(x) - x0) / (x1 - x0) * (w - ml - mr)

    def py(y):
        return h - mb - (math.log10(y) - y0) / (y1 - y0) * (h - mt - mb)

    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
         f'font-family="sans-serif" font-size="12">',
         f'<rect width="{w}" height="{h}" fill="white"/>',
         f'<text x="{w / 2}" y="22" text-anchor="middle" font-size="15">{title}</text>']
    for e in range(x0, x1 + 1):
        x = px(10 ** e)
        o.append(f'<line x1="{x:.1f}" y1="{mt}" x2="{x:.1f}" y2="{h - mb}" stroke="#ddd"/>')
        o.append(f'<text x="{x:.1f}" y="{h - mb + 16}" text-anchor="middle">{10 ** e:,}</text>')
    for e in range(y0, y1 + 1):
        y = py(10 ** e)
        o.append(f'<line x1="{ml}" y1="{y:.1f}" x2="{w - mr}" y2="{y:.1f}" stroke="#ddd"/>')
        o.append(f'<text x="{ml - 6}" y="{y + 4:.1f}" text-anchor="end">{human(10 ** e)}</text>')
    o.append(f'<text x="{(ml + w - mr) / 2}" y="{h - 12}" text-anchor="middle">size (log scale)</text>')
    o.append(f'<text x="16" y="{(mt + h - mb) / 2}" text-anchor="middle" '
             f'transform="rotate(-90 16 {(mt + h - mb) / 2})">{ylabel} (log scale)</text>')
    for i, (name, s) in enumerate(series):
        c = COLORS[i % len(COLORS)]
        s = [p for p in s if p[1] and p[1] > 0]
        if not s:
            continue
        d = " ".join(f"{'M' if k == 0 else 'L'}{px(x):.1f},{py(y):.1f}" for k, (x, y) in enumerate(s))
        o.append(f'<path d="{d}" fill="none" stroke="{c}" stroke-width="2"/>')
        for x, y in s:
            o.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{c}"><title>{name} {x:,}: '
                     f'{human(y)}</title></circle>')
        ly = mt + 10 + i * 20
        o.append(f'<line x1="{w - mr + 12}" y1="{ly}" x2="{w - mr + 32}" y2="{ly}" stroke="{c}" stroke-width="2"/>')
        o.append(f'<text x="{w - mr + 38}" y="{ly + 4}">{name}</text>')
    o.append("</svg>")
    open(path, "w").write("\n".join(o) + "\n")
    return True


def bar_chart(path, title, bars):
    """bars: [(label, ns)]; log x axis."""
    bars = [(l, v) for l, v in bars if v and v > 0]
    if not bars:
        return False
    w, bh, ml, mr, mt = 720, 26, 230, 90, 40
    h = mt + bh * len(bars) + 40
    lo = math.floor(math.log10(min(v for _, v in bars)))
    hi = math.ceil(math.log10(max(v for _, v in bars)))
    hi = max(hi, lo + 1)

    def px(v):
        return ml + (math.log10(v) - lo) / (hi - lo) * (w - ml - mr)

    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
         f'font-family="sans-serif" font-size="12">', f'<rect width="{w}" height="{h}" fill="white"/>',
         f'<text x="{w / 2}" y="22" text-anchor="middle" font-size="15">{title}</text>']
    for e in range(lo, hi + 1):
        x = px(10 ** e)
        o.append(f'<line x1="{x:.1f}" y1="{mt}" x2="{x:.1f}" y2="{h - 30}" stroke="#ddd"/>')
        o.append(f'<text x="{x:.1f}" y="{h - 14}" text-anchor="middle">{human(10 ** e)}</text>')
    for i, (label, v) in enumerate(bars):
        y = mt + i * bh
        c = COLORS[0] if label.startswith("Vigil") else "#999"
        o.append(f'<text x="{ml - 8}" y="{y + bh / 2 + 4}" text-anchor="end">{label}</text>')
        o.append(f'<rect x="{ml}" y="{y + 4}" width="{max(px(v) - ml, 1):.1f}" height="{bh - 8}" fill="{c}"/>')
        o.append(f'<text x="{px(v) + 6:.1f}" y="{y + bh / 2 + 4}">{human(v)}</text>')
    o.append("</svg>")
    open(path, "w").write("\n".join(o) + "\n")
    return True


# ---------------------------------------------------------------------------- sections

ENGINE_LABELS = {
    "vigil": "Vigil `decide_cached` (canonicalisation, cached-token lookup, policy, decision)",
    "vigil_caller": "Vigil `decide_caller` (token already verified: canonicalisation, policy, decision)",
    "floor": "hand-written Rust on a typed struct (the floor)",
    "regorus_rvm": "regorus, compiled RVM (prebuilt input)",
    "regorus": "regorus, interpreter (prebuilt input)",
    "cedar": "Cedar `is_authorized` (prebuilt request + entities)",
    "cedar_from_json": "Cedar, request + entities built from JSON per decision",
    "regorus_rvm_from_json": "regorus RVM, input parsed from JSON per decision",
}


def policy_section(native, md, out, charts):
    suites = native.get("policy") or []
    for k, s in enumerate(suites):
        md.append(f"### {s['suite']}\n")
        md.append(f"{len(s['inputs'])} inputs, "
                  f"{sum(1 for i in s['inputs'] if i['allow'])} allow / "
                  f"{sum(1 for i in s['inputs'] if not i['allow'])} deny; agreement checked: "
                  f"{s['agreement']}.\n")
        rows = []
        vigil = stat_of(s["stats"], "vigil")["median_ns"]
        for st in s["stats"]:
            ratio = st["median_ns"] / vigil
            rows.append([ENGINE_LABELS.get(st["name"], st["name"]), human(st["median_ns"]), spread(st),
                         f"{ratio:.2f}×" if ratio < 10 else f"{ratio:.0f}×"])
        md.append(table(["engine", "median / decision", "p10 – p90", "÷ Vigil"], rows) + "\n")
        name = f"policy-eval-{k}.svg"
        if bar_chart(os.path.join(out, name), f"ns per decision — {s['suite']}",
                     [(("Vigil" if st["name"] == "vigil" else st["name"]), st["median_ns"])
                      for st in s["stats"]]):
            charts.append(name)
            md.append(f"![{s['suite']}]({name})\n")


def verify_rows(results):
    nat = (results.get("native") or {}).get("verify") or {}
    node = results.get("node") or {}
    jsm = results.get("js_module") or {}
    wasm = (results.get("wasm") or {}).get("verify") or {}
    rows, data = [], {}
    for v in nat.get("verify", []):
        alg = v["alg"]
        vig = stat_of(v["stats"], f"vigil {alg}")
        jwt = stat_of(v["stats"], f"jsonwebtoken {alg}")
        w = wasm.get(alg, {}).get("wasm")
        wfirst = w["first"]["median_ns"] if w else None
        wcached = w["cached"]["median_ns"] if w else None
        west = (wfirst - wcached) if w else None
        jose = next((x["stat"]["median_ns"] for x in node.get("verify", []) if x["alg"] == alg), None)
        jmx = next((x for x in jsm.get("verify", []) if x.get("alg") == alg), {})
        jm = (jmx.get("decide_uncached") or {}).get("median_ns")
        jwc = (jmx.get("decide_webcrypto") or {}).get("median_ns")
        data[alg] = {"vigil": vig["median_ns"], "jsonwebtoken": jwt["median_ns"], "wasm_first": wfirst,
                     "wasm_cached": wcached, "wasm_verify": west, "jose": jose, "js_module": jm,
                     "js_module_webcrypto": jwc}
        rows.append([alg, human(vig["median_ns"]), human(jwt["median_ns"]),
                     human(wfirst), human(west), human(jm) if jm else "not measured",
                     human(jwc) if jwc else "not measured", human(jose) if jose else "not measured"])
    return rows, data


# The families of issue 13's per-algorithm targets (bench/verify).
VERIFY_FAMILIES = [("RSASSA-PKCS1-v1_5 (RS256/384/512)", ("RS256", "RS384", "RS512")),
                   ("RSASSA-PSS (PS256/384/512)", ("PS256", "PS384", "PS512")),
                   ("ECDSA (ES256, ES384)", ("ES256", "ES384")), ("EdDSA (Ed25519)", ("EdDSA",))]


def verify_matrix(results, md, targets):
    """Section 2's per-algorithm table from bench/verify (scripts/bench step `verify`) and the
    issue-13 targets: inside Wasm within 3x of ring natively, natively within 1.5x of ring."""
    v = results.get("verify") or {}
    nat = v.get("native")
    md.append("### Signature verification per algorithm: Vigil vs *ring*, natively and inside Wasm\n")
    if not nat:
        md.append(f"Not measured: {results['not_measured'].get('verify', 'unknown')}.\n")
        return
    crates = v.get("crates") or {}
    md.append("`bench/verify` (its own crate and lock file, outside the workspace): one JWKS per case parsed "
              "once with `JwkSet::parse`, then the timed call is "
              "`policy_core::authenticate::jwt::verify_signature(alg, key, message, signature)` on a "
              "~310-byte JWS signing input — the hash, the RSA/ECDSA/EdDSA arithmetic and the encoding "
              "checks, nothing of the JWS grammar or the claims. Both verifiers must accept the valid "
              "signature and refuse it with one bit flipped before anything is timed. "
              f"**ring** {crates.get('ring', '')} natively (its assembly): `RsaPublicKeyComponents::verify` "
              "(`RSA_PKCS1_2048_8192_SHA*`, `RSA_PSS_2048_8192_SHA*`) and `UnparsedPublicKey::verify` "
              "(`ECDSA_P256_SHA256_FIXED`, `ECDSA_P384_SHA384_FIXED`, `ED25519`) from the raw public key — "
              "ring parses the key on each call (it has no pre-parsed public key for verification), "
              "which is what a ring user pays. Natively the two are timed in interleaved batches in "
              "one process. **Wasm**: the same binary built for wasm32-wasip1 and run by Node "
              f"{(results.get('machine') or {}).get('node') or ''}'s V8 (the engine family Envoy embeds) "
              "through `node:wasi` (`bench/verify/run.mjs`; Liftoff off, as Envoy's proxy-wasm host "
              "configures V8, so TurboFan code is timed), with the filter's size-first profile "
              "(opt-level z, LTO, `vigil-crypto`, the curve crates and sha2 at opt-level 3, as "
              "filter.wasm is built; no wasm-opt pass) and, last column, at opt-level 3 everywhere. "
              f"Batches of ~{nat.get('batch_ms'):.0f} ms, {nat.get('batches')} per contender after a "
              "warm-up: the median batch, and in brackets the fastest (the machine is shared: the "
              "minimum is the steadier figure under load); ratios are of medians.\n")

    def by_case(doc):
        return {(c.get("alg"), c.get("key")): c for c in (doc or {}).get("cases", [])}
    wasm, wrel = by_case(v.get("wasm")), by_case(v.get("wasm_release"))

    def us(stat):
        if not stat or stat.get("median_us") is None:
            return None
        return f"{human(stat['median_us'] * 1e3)} (min {human(stat['min_us'] * 1e3)})"

    def why(c):
        if c is None:
            return "not measured"
        if c.get("skipped"):
            return f"skipped: {c['skipped']}"
        if c.get("error"):
            return f"error: {c['error']}"
        return None
    rows, ratios = [], []
    for c in nat.get("cases", []):
        k = (c.get("alg"), c.get("key"))
        vig, ring = (c.get("vigil") or {}), (c.get("ring") or {})
        w, wr = wasm.get(k), wrel.get(k)
        vm, rm = vig.get("median_us"), ring.get("median_us")
        wm = (w or {}).get("vigil", {}).get("median_us") if not why(w) else None
        wrm = (wr or {}).get("vigil", {}).get("median_us") if not why(wr) else None
        rows.append([k[0], k[1],
                     why(c) or us(vig), us(ring) or (f"error: {ring['error']}" if ring.get("error") else "—"),
                     f"{vm / rm:.2f}×" if vm and rm else "—",
                     why(w) or us(w["vigil"]), f"{wm / rm:.1f}×" if wm and rm else "—",
                     why(wr) or us(wr["vigil"]), f"{wrm / rm:.1f}×" if wrm and rm else "—"])
        ratios.append((k, vm / rm if vm and rm else None, wm / rm if wm and rm else None, why(c)))
    md.append(table(["alg", "key", "Vigil native", "ring native", "Vigil ÷ ring", "Vigil in Wasm (filter profile)",
                     "Wasm ÷ ring native", "Vigil in Wasm (opt-level 3)", "÷ ring native"], rows) + "\n")
    wb = v.get("wasm_bytes") or {}
    if wb:
        md.append("Module sizes (before wasm-opt): " + ", ".join(
            f"{'filter profile' if n == 'wasm' else 'opt-level 3'} {kb(b)}" for n, b in wb.items()) + ".\n")
    for label, idx, limit in [("inside Wasm (filter profile) ≤ 3× ring natively", 2, 3.0),
                              ("natively ≤ 1.5× ring", 1, 1.5)]:
        for fam, members in VERIFY_FAMILIES:
            cases = [r for r in ratios if r[0][0] in members]
            if not cases:
                continue
            got = [(r[0], r[idx]) for r in cases if r[idx] is not None]
            missing = [f"{a} {k}" for (a, k), *_ in cases if (a, k) not in {g[0] for g in got}]
            if not got:
                targets.append([f"{fam}: verify {label}",
                                "no figure (skipped or failed): " + ", ".join(missing), "—"])
                continue
            (wa, wk), worst = max(got, key=lambda g: g[1])
            met = sum(1 for _, r in got if r <= limit)
            measured = (f"worst {worst:.2f}× ({wa} {wk}); {met} of {len(got)} cases within: "
                        + ", ".join(f"{a} {k} {r:.2f}×" for (a, k), r in got))
            if missing:
                measured += "; no figure (skipped or failed): " + ", ".join(missing)
            targets.append([f"{fam}: verify {label}", measured,
                            "met" if met == len(got) and not missing else "**not met**"])


def envoy_rows(env):
    data = env.get("data") or env
    for key in ("summary", "configs"):
        if isinstance(data.get(key), dict):
            data = data[key]
            break
    rows, summary = [], {}
    for name, v in data.items():
        if isinstance(v, list) and v and isinstance(v[0], dict):
            def med(key):
                xs = [x[key] for x in v if isinstance(x.get(key), (int, float))]
                return statistics.median(xs) if xs else None
            s = {"us_per_req": med("us_per_req"), "rps": med("rps"), "p50": v[-1].get("p50"),
                 "p99": v[-1].get("p99"), "rss_mib": med("rss_mib"), "rounds": len(v)}
        elif isinstance(v, dict):
            ms = lambda k: f"{v[k]:.2f}ms" if isinstance(v.get(k), (int, float)) else None  # noqa: E731
            s = {"us_per_req": v.get("us_per_req"), "rps": v.get("rps"),
                 "p50": v.get("p50") or ms("p50_ms"), "p99": v.get("p99") or ms("p99_ms"),
                 "rss_mib": v.get("rss_mib") or (v["rss_kb"] / 1024 if v.get("rss_kb") else None),
                 "cache_hits": v.get("cache_hits")}
        else:
            continue
        summary[name] = s
        rows.append([name, f"{s['us_per_req']:.1f}" if s["us_per_req"] else "—",
                     f"{s['rps']:.0f}" if s["rps"] else "—", s["p50"] or "—", s["p99"] or "—",
                     f"{s['rss_mib']:.1f}" if s.get("rss_mib") else "—"])
    return rows, summary


def write(results, out):
    os.makedirs(out, exist_ok=True)
    native = results.get("native") or {}
    m = results.get("machine") or {}
    md, charts, targets = [], [], []
    quick = results.get("quick")
    md.append("# Vigil benchmarks\n")
    md.append(f"Generated by `scripts/bench{' --quick' if quick else ''}` on {results.get('generated')} "
              f"in {results.get('seconds', 0):.0f} s. Every ratio below comes from runs interleaved in "
              f"that one invocation (round-robin samples); every figure is a median. Numbers are "
              f"measured, never asserted; the machine is shared, so compare ratios, not absolutes."
              + (" **Quick mode: few samples — a smoke run, not a result.**" if quick else "") + "\n")

    for later in results.get("added_later", []):
        md.append(f"Sections added by a later `scripts/bench --add {','.join(later['sections'])}` on "
                  f"{later['generated']}, load average {' / '.join(later.get('loadavg') or ['?'])} "
                  f"(their ratios are within that invocation; comparisons with other sections cross "
                  f"invocations).\n")
    # -- targets (filled below, printed first)
    target_idx = len(md)
    md.append("")

    # -- policy evaluation
    md.append("## 1. Policy evaluation (native, token already verified)\n")
    md.append("Each engine decides the same inputs: the seeds' app.authz test cases whose outcome is an "
              "authorization decision (`examples/policies/app-authz.test.json`, less the one refused at "
              "authentication), written as [Vigil JSON](../examples/policies/app-authz.policy.json), "
              "[Rego](policies/app-authz.rego) and [Cedar](policies/app-authz.cedar); and a generated "
              "policy of 1,000 rules (user *uK* may GET `/svc/K/*`). Before timing, every engine must "
              "give the test file's allow/deny on every input, or nothing is reported.\n")
    md.append("What each row includes. **Vigil**: `Engine::decide_cached` on the raw `CheckRequest` — "
              "method/host/path canonicalisation, finding the bearer and device tokens, SHA-256 of each "
              "and the verified-token cache lookup (signatures verified once, before timing), resource "
              "classification, DENY/ALLOW policies, and the full decision (reason, upstream and removed "
              "headers). **Vigil, token already verified** (the issue's definition, and what the peers get): "
              "`Engine::decide_caller` with the caller from `Engine::authenticate` done once outside the timing — "
              "everything above but finding, hashing and looking up the tokens. **Cedar**: `is_authorized` on a prebuilt `Request` and `Entities` (the "
              "classification and claims already turned into entities, outside the timing); the "
              "*from JSON* row builds them per decision. **regorus**: `set_input` of a prebuilt `Value` "
              "and evaluation of `data.app.authz.allow` (interpreter) or the compiled program (RVM). "
              "**Floor**: plain Rust on a typed struct, prebuilt.\n")
    policy_section(native, md, out, charts)
    suites = native.get("policy") or []
    if suites:
        s0 = suites[0]["stats"]
        for vname, how in [("vigil_caller", "token already verified"), ("vigil", "whole request path, cached token")]:
            vs = stat_of(s0, vname)
            if not vs:
                continue
            v = vs["median_ns"]
            for peer, label in [("cedar", "Cedar (prebuilt request + entities)"), ("regorus_rvm", "regorus RVM")]:
                p = stat_of(s0, peer)["median_ns"]
                targets.append([f"app.authz ({how}): Vigil ≥ 10× faster than {label}",
                                f"{p / v:.1f}× ({human(v)} vs {human(p)})",
                                "met" if p / v >= 10 else "**not met**"])

    prof = results.get("profile")
    if prof:
        md.append("**Where Vigil's decision time goes** (`perf record` over the two policy benchmarks with "
                  "only Vigil's contender running; set-up, the harness loop and the kernel filtered out; "
                  "self time, share of what remains):\n")
        md.append(table(["symbol", "share"], [[f"`{' '.join(p['symbol'].split())[:90]}`", f"{p['share']:.1f} %"]
                                              for p in prof[:15]]) + "\n")
    for sname, s in [(x["suite"], x) for x in suites]:
        pi = s.get("vigil_per_input")
        if pi:
            md.append(f"Vigil per input ({sname}): " + "; ".join(
                f"{p['name']} {human(p['median_ns'])}" for p in pi) + ".\n")

    # -- verification
    md.append("## 2. Token verification (per verify)\n")
    md.append("The same RS256 (RSA-2048), ES256 (P-256) and EdDSA (Ed25519) tokens from the fixture keys "
              "(`vigil-fixtures`). **Vigil native**: `Authenticator::verify` — strict JWS grammar, header "
              "checks, claims (iss, aud, exp, nbf, iat), signature (vigil-crypto; RSA by ring on x86-64 and AArch64), release "
              "build at opt-level 3. **jsonwebtoken**: `decode` with the same checks (ring). **filter.wasm, "
              "first decision**: one request through the proxy-wasm filter in the wasmtime host "
              "(`vigil bench --wasm`), each request carrying a token the filter has never seen, so each "
              "verifies — the whole request path (hostcalls, canonicalisation, policy, decision record) is "
              "included. **filter.wasm, verify** = that minus the same filter's cached-token decision: "
              "the verification cost inside Wasm. **JS module** (wasm-bindgen, Node): a whole `decide` with "
              "the token cache off, so it verifies every time — signatures in wasm, or by Node's WebCrypto "
              "(`verify: \"webcrypto\"`, `decideAsync`); **jose** (WebCrypto, Node, key imported once; "
              "async): the verify alone.\n")
    rows, vdata = verify_rows(results)
    if rows:
        md.append(table(["alg", "Vigil native", "jsonwebtoken (ring)", "filter.wasm: first decision",
                         "filter.wasm: verify", "JS module, decide, cache off (Node)",
                         "JS module, decide, cache off, WebCrypto (Node)", "jose / WebCrypto (Node)"], rows) + "\n")
        for alg, d in vdata.items():
            if d["wasm_verify"]:
                # Against the same crypto built natively (Vigil native), and against ring
                # (jsonwebtoken), the fastest native verifier here.
                for ref, label in [("vigil", "Vigil's own crypto, native"), ("jsonwebtoken", "jsonwebtoken/ring")]:
                    r = d["wasm_verify"] / d[ref]
                    targets.append([f"{alg} verify in Wasm within 3× of native ({label})",
                                    f"{r:.1f}× ({human(d['wasm_verify'])} vs {human(d[ref])})",
                                    "met" if r <= 3 else "**not met**"])
    nv = native.get("verify") or {}
    if nv.get("cache_hit"):
        ch = nv["cache_hit"]
        md.append(f"Verified-token cache hit (SHA-256 of a {nv['token_bytes'][0]['bytes']}-byte RS256 token, "
                  f"lookup, exp/nbf re-check, identity copy), natively: **{human(ch['median_ns'])}** "
                  f"(p10–p90 {spread(ch)}).\n")
        targets.append(["verified-token cache hit < 1 µs natively", human(ch["median_ns"]),
                        "met" if ch["median_ns"] < 1000 else "**not met**"])
    wa = (results.get("wasm") or {}).get("app_authz")
    if wa:
        md.append(f"app.authz through filter.wasm in the wasmtime host ({wa['requests']} requests, tokens "
                  f"cached): **{human(wa['wasm']['cached']['median_ns'])}** per request (natively in the "
                  f"same debug-profile CLI: {human(wa['native']['cached']['median_ns'])}).\n")
    verify_matrix(results, md, targets)

    # -- envoy
    md.append("## 3. In Envoy\n")
    env = results.get("envoy")
    if env:
        erows, es = envoy_rows(env)
        md.append("`scripts/e2e/bench_envoy.py`: Envoy `--concurrency 1` pinned to CPU 0 with a direct "
                  "response (only the filters cost), wrk pinned to CPU 1, configurations interleaved in "
                  "rounds; Envoy CPU µs per request from /proc/PID/stat (the steadiest figure here).\n")
        md.append(table(["config", "Envoy CPU µs / request", "req/s", "p50", "p99", "RSS MiB"], erows) + "\n")
        md.append("`vigil`: the same token on every request (cache hits); `vigil-verify`: a distinct "
                  "token per request from a set larger than the filter's cache (every request verifies), "
                  "with no decision record, as jwt_authn+RBAC writes none (`vigil-verify+log`: the same "
                  "with the default log line per decision); "
                  "`vigil-forged` / `jwt_authn+rbac-forged`: the same distinct tokens with one signature "
                  "character changed (well-formed, right kid: every request verifies and is refused; no "
                  "record either); "
                  "`vigil+sampled-log`: decision records sampled (see docs/filter.md); "
                  "`vigil-native*`: the same policy in `dist/libvigil.so`, the Envoy dynamic module "
                  "(`vigil-native`: every decision recorded through Envoy's access log; `-nolog`: no "
                  "record); `+accesslog`: a file access log writing the decision record (Vigil) or "
                  "the verified claims (jwt_authn).\n")
        vig = next((es[k]["us_per_req"] for k in es if k in ("vigil", "vigil cached", "vigil_cached")), None)
        nat = es.get("jwt_authn+rbac+cache", {}).get("us_per_req")
        if vig and nat:
            targets.append(["Envoy: Vigil (cached tokens) ≤ jwt_authn+RBAC with jwt_cache_config, CPU/request",
                            f"{vig:.1f} vs {nat:.1f} µs ({vig / nat:.2f}×)", "met" if vig <= nat else "**not met**"])
        for ours, theirs, what in (("vigil-verify", "jwt_authn+rbac", "every request a new RS256 token"),
                                   ("vigil-forged", "jwt_authn+rbac-forged",
                                    "every request a new token with a forged signature")):
            a, b = es.get(ours, {}).get("us_per_req"), es.get(theirs, {}).get("us_per_req")
            if a and b:
                targets.append([f"Envoy: {what}, `{ours}` ≤ 2× `{theirs}`, CPU/request",
                                f"{a:.1f} vs {b:.1f} µs ({a / b:.2f}×)", "met" if a <= 2 * b else "**not met**"])
        for ours, theirs, what in (("vigil-native", "jwt_authn+rbac+cache+accesslog",
                                    "native module, cached token, decision record in the access log"),
                                   ("vigil-native", "jwt_authn+rbac+cache",
                                    "native module, cached token + record, against the pair without a log"),
                                   ("vigil-native-verify", "jwt_authn+rbac",
                                    "native module, every request a new RS256 token"),
                                   ("vigil-native-forged", "jwt_authn+rbac-forged",
                                    "native module, every request a forged signature")):
            a, b = es.get(ours, {}).get("us_per_req"), es.get(theirs, {}).get("us_per_req")
            if a and b:
                targets.append([f"Envoy: {what}, `{ours}` ≤ 1× `{theirs}`, CPU/request",
                                f"{a:.1f} vs {b:.1f} µs ({a / b:.2f}×)", "met" if a <= b else "**not met**"])
    else:
        md.append(f"Not measured: {results['not_measured'].get('envoy', 'unknown')}.\n")

    # -- envoy instructions
    ins = (results.get("envoy_instructions") or {}).get("data")
    md.append("### 3b. Instructions per request (callgrind)\n")
    if ins:
        md.append("`scripts/e2e/bench_instructions.py`: the same Envoy configurations under valgrind's "
                  "callgrind, one keep-alive client, instructions of every Envoy thread per request after "
                  "a warm-up. Deterministic (two runs agree within 0.05 %) where the CPU time above moves "
                  "by ±10 % between rounds; it ignores the kernel and instruction-level parallelism. With "
                  "`--cache-sim` (this run, when the misses columns are filled) valgrind's cache model "
                  "counts first-level misses, and the estimated cycles are Ir + 10 × L1 misses + 100 × "
                  "last-level misses (KCachegrind's estimate): a filter's code footprint shows there, "
                  "not in the instruction count. valgrind does not run SHA-NI: Vigil's SHA-256 of the "
                  "token runs the portable code here (its own column; natively SHA-NI does it in "
                  "≈ 0.3–0.45 µs).\n")
        rows = []
        for name, r in ins.items():
            objs = r.get("by_object", {})
            module = sum(v for k, v in objs.items() if k.startswith("libvigil"))
            envoy = objs.get("envoy", 0)
            libc = objs.get("libc.so.6", 0)
            other = r["per_request"] - module - envoy - libc
            miss = r.get("misses_per_request") or {}
            cest = r.get("cycles_estimate_per_request")
            rows.append([name, f"{r['per_request']:,.0f}", f"{r.get('soft_sha256_per_request', 0):,.0f}",
                         f"{envoy:,.0f}", f"{module:,.0f}" if module else "—", f"{libc:,.0f}", f"{other:,.0f}",
                         f"{miss['I1mr']:,.0f}" if "I1mr" in miss else "—",
                         f"{cest:,.0f}" if cest else "—", f"{r.get('requests')}"])
        md.append(table(["config", "instructions / request", "of which soft SHA-256", "envoy", "libvigil.so",
                         "libc", "other (allocator)", "I1 misses", "est. cycles", "requests"], rows) + "\n")
        lines = []
        for a, b in (("vigil-native", "jwt_authn+rbac+cache"), ("vigil-native", "jwt_authn+rbac+cache+accesslog"),
                     ("vigil-native-nolog", "jwt_authn+rbac+cache"), ("vigil-native-verify", "jwt_authn+rbac")):
            if a in ins and b in ins:
                ra, rb = ins[a], ins[b]
                sa = ra["per_request"] - ra.get("soft_sha256_per_request", 0)
                sb = rb["per_request"] - rb.get("soft_sha256_per_request", 0)
                lines.append(f"`{a}` / `{b}`: {ra['per_request'] / rb['per_request']:.3f}× "
                             f"({sa / sb:.3f}× without the soft SHA-256)")
                ca, cb = ra.get("cycles_estimate_per_request"), rb.get("cycles_estimate_per_request")
                if ca and cb:
                    xa = ca - ra.get("soft_sha256_cycles_estimate_per_request", 0)
                    xb = cb - rb.get("soft_sha256_cycles_estimate_per_request", 0)
                    lines.append(f"  estimated cycles (Ir + 10 × L1 misses + 100 × LL misses): {ca / cb:.3f}× "
                                 f"({xa / xb:.3f}× without the soft SHA-256)")
        rec = [(a, b) for a, b in (("vigil-native", "vigil-native-nolog"), ("jwt_authn+rbac+cache+accesslog",
                                   "jwt_authn+rbac+cache"), ("none+accesslog", "none")) if a in ins and b in ins]
        for a, b in rec:
            lines.append(f"one record, `{a}` − `{b}`: {ins[a]['per_request'] - ins[b]['per_request']:,.0f} instructions")
        if lines:
            md.append("".join(f"- {x}\n" for x in lines) + "\n")
    else:
        md.append(f"Not measured: {results.get('not_measured', {}).get('envoy instructions', 'unknown')}.\n")

    # -- edge
    md.append("## 4. At the edge (workerd)\n")
    edge = results.get("edge")
    if edge:
        erows, es = envoy_rows(edge)
        md.append("`bench/edge/bench_edge.py`: workerd pinned to CPU 0, wrk (16 connections) to CPU 1, the "
                  "same RS256 token on every request (so Vigil's token cache hits; jose verifies every "
                  "time — it has no cache, as a hand-written worker usually has none); allowed requests go "
                  "to an origin worker in the same workerd for both. CPU µs per request: workerd's "
                  "utime+stime over the run.\n")
        md.append(table(["worker", "workerd CPU µs / request", "req/s", "p50", "p99", "RSS MiB"], erows) + "\n")
    else:
        md.append(f"Not measured: {results['not_measured'].get('edge', 'unknown')}.\n")

    # -- sizes and start-up
    md.append("## 5. Size and start-up\n")
    srows = [[k, kb(v["raw"]), kb(v["gzip"])] for k, v in (results.get("sizes") or {}).items()]
    if srows:
        md.append(table(["artifact", "raw", "gzip -9"], srows) + "\n")
    if wa:
        md.append(f"filter.wasm in the wasmtime host: compile the module {human(wa['wasm']['compile_ns'])} "
                  f"(Cranelift, once per process), instantiate + configure app.authz "
                  f"{human(wa['wasm']['instantiate_configure']['median_ns'])}; natively, configure "
                  f"{human(wa['native']['configure']['median_ns'])} (debug-profile CLI).\n")
    for sec in ["js module", "edge"]:
        if sec in results["not_measured"]:
            md.append(f"- {sec}: not measured: {results['not_measured'][sec]}\n")

    # -- scale
    md.append("## 6. Scale\n")
    scale = native.get("scale") or []
    if scale:
        md.append("Generated policies, Vigil only (release build): **rules** — one ALLOW policy per user "
                  "(*uK* may access `/svc/K/*`, any method: 100,000 such policies fit the 16 MiB document limit), the request matching the last; **principals** — one policy "
                  "listing N `requestPrincipals`; **CIDRs** — one policy with N `ipBlocks` (/24s), the "
                  "client in the last; **revoked** — N revoked `jti`s. Decision time is the median of an "
                  "allowed and a denied request (tokens cached); configure is parse + compile.\n")
        sizes = sorted({p["n"] for d in scale for p in d["points"] + d.get("skipped", [])})
        rows = []
        for d in scale:
            by = {p["n"]: p for p in d["points"]}
            sk = {p["n"]: p for p in d.get("skipped", [])}

            def cell(n, key):
                if n in by:
                    return human(by[n][key])
                if n in sk:
                    if "estimated_configure_ns" in sk[n]:
                        return f"skipped (est. {human(sk[n]['estimated_configure_ns'])})" if key == "configure_ns" else "skipped"
                    return "refused"
                return "—"
            rows.append([f"{d['dimension']}: decide"] + [cell(n, "decide_ns") for n in sizes])
            rows.append([f"{d['dimension']}: configure"] + [cell(n, "configure_ns") for n in sizes])
        md.append(table(["N"] + [f"{n:,}" for n in sizes], rows) + "\n")
        if any("estimated_configure_ns" in p for d in scale for p in d.get("skipped", [])):
            md.append("A size is skipped when its configure time, extrapolated quadratically from the "
                      "previous size, would exceed 30 s — configure cost that grows faster than linearly "
                      "is itself a finding (see the chart).\n")
        for d in scale:
            for p in d.get("skipped", []):
                if "estimated_configure_ns" not in p:
                    md.append(f"{d['dimension']} at {p['n']:,} ({p.get('policy_bytes', 0):,} bytes): {p['why']}.\n")
        for kind, key, label in [("decide", "decide_ns", "decision time"),
                                 ("configure", "configure_ns", "configure time")]:
            name = f"scale-{kind}.svg"
            if line_chart(os.path.join(out, name), f"Vigil {label} as the policy grows",
                          [(d["dimension"], [(p["n"], p[key]) for p in d["points"]]) for d in scale], label):
                charts.append(name)
                md.append(f"![{label}]({name})\n")

    fd = native.get("feeds")
    if fd:
        md.append("**Network lists from a feed** (`network.feed`, issue 16): one DENY policy on "
                  "`network.list[blocked]`; the same two clients (one in the list, one outside) decided "
                  f"with the list inline (10 ranges) and from a feed snapshot of {fd['feed_ranges']:,} "
                  f"ranges ({fd['feed_bytes']:,} bytes of JSON, parsed once per update in "
                  f"{human(fd['feed_parse_ns'])}). Median per decision, same run:\n")
        md.append(table(["list", "decide", "p10–p90"],
                        [["inline, 10 ranges", human(fd["static_ns"]), f"{human(fd['static_p10_ns'])}–{human(fd['static_p90_ns'])}"],
                         [f"feed, {fd['feed_ranges']:,} ranges", human(fd["feed_ns"]), f"{human(fd['feed_p10_ns'])}–{human(fd['feed_p90_ns'])}"],
                         ["ratio", f"{fd['feed_ns'] / max(fd['static_ns'], 1):.2f}×", ""]]) + "\n")

    # -- policy analysis
    an = native.get("analysis") or []
    if an:
        md.append("## 7. Policy analysis (`vigil diff`)\n")
        md.append("Two generated N-rule documents (*uK* may GET `/svc/K/*`); the new one narrows one "
                  "policy's path and opens another to every subject. The diff must report exactly one "
                  "newly allowed and one newly refused region, each with a witness decided by both "
                  "engines, or nothing is reported. Median of 5 runs (release build); target: 1,000 "
                  "rules within 1 s.\n")
        md.append(table(["N", "diff", "p10–p90", "regions decided"],
                        [[f"{p['n']:,}", human(p["diff_ns"]), f"{human(p['p10_ns'])}–{human(p['p90_ns'])}",
                          f"{p['regions']:,}"] for p in an]) + "\n")

    # -- machine, versions, commands
    md.append("## Machine, versions, commands\n")
    md.append(table(["", ""], [
        ["CPU", f"{m.get('cpu')} ({m.get('cores')} cores{', SHA-NI' if m.get('sha_ni') else ''})"],
        ["memory / kernel", f"{m.get('memory')} / Linux {m.get('kernel')}"],
        ["load average (1/5/15 min) at start", " / ".join(m.get("loadavg_at_start") or ["not recorded"])],
        ["rustc", m.get("rustc")], ["node", m.get("node")], ["Envoy", m.get("envoy") or "—"],
        ["workerd", m.get("workerd") or "—"], ["wasmtime (host)", m.get("wasmtime") or "—"],
        ["crates (bench/peers/Cargo.lock)", ", ".join(f"{k} {v}" for k, v in sorted((m.get("crates") or {}).items()))],
        ["npm", ", ".join(f"{k} {v}" for k, v in sorted((m.get("npm") or {}).items()) if v)],
    ]) + "\n")
    b = native.get("budget") or {}
    pb = results.get("peers_build") or {}
    md.append(f"Native harness: per contender, calibrated batches of ~{b.get('sample_ms')} ms, "
              f"{b.get('samples')} samples taken round-robin across contenders after a warm-up; "
              f"bench/peers built with profile `{pb.get('profile')}` "
              f"({'opt-level 1, 256 codegen units' if pb.get('profile') == 'quick' else 'opt-level 3, no LTO, 16 codegen units'}; "
              f"{pb.get('seconds')} s, {'cold' if pb.get('cold') else 'incremental/warm'} this run). "
              f"The wasm rows run in `{(results.get('wasm') or {}).get('host', 'vigil')}` (dev profile: "
              f"wasmtime and Cranelift built at opt-level 2, the host's own glue at 0 — it adds to both "
              f"wasm columns alike and cancels in the *verify* column).\n")
    md.append("Commands run:\n\n```\n" + "\n".join(results.get("commands", [])) + "\n```\n")
    if results.get("not_measured"):
        md.append("Not measured in this run:\n")
        for k, v in results["not_measured"].items():
            md.append(f"- {k}: {v}")
        md.append("")

    md[target_idx] = "## Targets\n\n" + (table(["target", "measured", ""], targets) if targets else
                                          "No target could be evaluated.") + "\n"
    results["targets"] = [{"target": t, "measured": v, "status": s.strip("*")} for t, v, s in targets]
    results["charts"] = charts
    open(os.path.join(out, "results.md"), "w").write("\n".join(md) + "\n")
    open(os.path.join(out, "results.json"), "w").write(json.dumps(results, indent=1) + "\n")
