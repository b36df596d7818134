#!/usr/bin/env node
// Per-verify time of Vigil's JS module against WebCrypto (npm `jose`), in Node and in one
// workerd run, for RS256, ES256 and EdDSA. Prints one JSON document on stdout.
//
// Usage: node scripts/e2e/js_verify_bench.mjs [--n 200] [--rounds 7] [--no-workerd]
// Needs dist/js (scripts/build) and node_modules (jose, workerd). Variants are described in
// js_bench_core.mjs. Figures are medians over rounds of n operations, in microseconds per
// operation; workerd figures are timed from outside (wall time of a request running n
// operations, minus a request running none), since workerd's clock stands still while a
// request computes. `ratio` is module / jose per algorithm: `wasm` (signatures in wasm) and
// `webcrypto` (the module's WebCrypto path). Benchmarks, not tests: nothing here asserts a time.
import { spawn } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync, openSync } from "node:fs";
import { createRequire } from "node:module";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import * as jose from "jose";
import { ALGS, VARIANTS, makeData, makeRunners } from "./js_bench_core.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const N = opt("--n", 200);
const ROUNDS = opt("--rounds", 7);
const withWorkerd = !args.includes("--no-workerd");

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const round1 = (x) => Math.round(x * 10) / 10;

function ratios(table) {
  const out = {};
  for (const alg of ALGS) {
    const jose = table.jose[alg];
    out[alg] = { wasm: round1((table.wasm[alg] / jose) * 100) / 100, webcrypto: round1((table.webcrypto[alg] / jose) * 100) / 100 };
  }
  return out;
}

async function benchNode(data) {
  const vigil = createRequire(import.meta.url)(join(root, "dist", "js"));
  const runners = await makeRunners(vigil, jose, data);
  const table = {};
  for (const v of VARIANTS) {
    table[v] = {};
    for (const alg of ALGS) {
      await runners[v][alg](Math.max(5, N / 10)); // warm up
      const per = [];
      for (let r = 0; r < ROUNDS; r++) {
        const t0 = performance.now();
        await runners[v][alg](N);
        per.push(((performance.now() - t0) * 1000) / N);
      }
      table[v][alg] = round1(median(per));
    }
  }
  return table;
}

function freePort() {
  return new Promise((res) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => res(p));
    });
  });
}

function get(port, path) {
  return new Promise((res, rej) => {
    const req = http.get({ host: "127.0.0.1", port, path, agent: keepAlive }, (r) => {
      let body = "";
      r.on("data", (c) => (body += c));
      r.on("end", () => (r.statusCode === 200 ? res(body) : rej(new Error(`${path}: ${r.statusCode} ${body}`))));
    });
    req.on("error", rej);
  });
}
const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });

async function benchWorkerd(data) {
  const work = mkdtempSync(join(tmpdir(), "vigil-bench-"));
  let proc;
  try {
    const web = join(root, "dist", "js", "web");
    cpSync(join(web, "vigil.js"), join(work, "vigil.js"));
    cpSync(join(web, "vigil_bg.wasm"), join(work, "vigil_bg.wasm"));
    cpSync(join(here, "js_bench_core.mjs"), join(work, "js_bench_core.mjs"));
    cpSync(join(here, "js_bench_worker.mjs"), join(work, "worker.mjs"));
    cpSync(join(root, "node_modules", "jose", "dist", "webapi"), join(work, "jose"), { recursive: true });
    writeFileSync(join(work, "data.json"), JSON.stringify(data));
    const jsFiles = [];
    const walk = (d) => {
      for (const e of readdirSync(d)) {
        const p = join(d, e);
        if (statSync(p).isDirectory()) walk(p);
        else if (p.endsWith(".js")) jsFiles.push(relative(work, p));
      }
    };
    walk(join(work, "jose"));
    const modules = [
      `(name = "worker.mjs", esModule = embed "worker.mjs")`,
      `(name = "js_bench_core.mjs", esModule = embed "js_bench_core.mjs")`,
      `(name = "vigil.js", esModule = embed "vigil.js")`,
      `(name = "vigil_bg.wasm", wasm = embed "vigil_bg.wasm")`,
      ...jsFiles.map((f) => `(name = ${JSON.stringify(f)}, esModule = embed ${JSON.stringify(f)})`),
    ];
    const port = await freePort();
    writeFileSync(
      join(work, "config.capnp"),
      `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [(name = "bench", worker = (modules = [${modules.join(", ")}],
    bindings = [(name = "BENCH_DATA", text = embed "data.json")], compatibilityDate = "2026-11-01"))],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "bench")],
);
`,
    );
    const log = openSync(join(work, "workerd.log"), "w");
    proc = spawn(join(root, "node_modules", ".bin", "workerd"), ["serve", join(work, "config.capnp")], {
      stdio: ["ignore", log, log],
    });
    for (let i = 0; ; i++) {
      try {
        await get(port, "/run?v=noop&alg=RS256&n=1");
        break;
      } catch (e) {
        if (i > 600 || proc.exitCode !== null) throw new Error(`workerd did not start: ${e.message}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const timeReq = async (v, alg, n) => {
      const t0 = performance.now();
      await get(port, `/run?v=${v}&alg=${alg}&n=${n}`);
      return performance.now() - t0;
    };
    const table = {};
    for (const v of VARIANTS) table[v] = {};
    for (const alg of ALGS) {
      for (const v of VARIANTS) await timeReq(v, alg, Math.max(5, N / 10)); // warm up
      for (const v of VARIANTS) {
        const per = [];
        for (let r = 0; r < ROUNDS; r++) {
          const base = await timeReq("noop", alg, 0);
          const t = await timeReq(v, alg, N);
          per.push((Math.max(0, t - base) * 1000) / N);
        }
        table[v][alg] = round1(median(per));
      }
    }
    return table;
  } finally {
    if (proc && proc.exitCode === null) proc.kill("SIGTERM");
    keepAlive.destroy();
    rmSync(work, { recursive: true, force: true });
  }
}

const data = await makeData(jose, Math.floor(Date.now() / 1000));
const node = await benchNode(data);
const out = {
  unit: "microseconds per operation (median)",
  n: N,
  rounds: ROUNDS,
  node: { version: process.version, ...node, ratioToJose: ratios(node) },
};
if (withWorkerd) {
  const wd = await benchWorkerd(data);
  out.workerd = { ...wd, ratioToJose: ratios(wd) };
}
console.log(JSON.stringify(out, null, 2));
