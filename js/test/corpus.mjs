// The conformance corpus through the JS module in Node, compared field by field with the
// native decisions (`vigil test --json`) and with each case's `expect`.
//
// Usage: node js/test/corpus.mjs [--vigil PATH] [--verbose] [DIRS or FILES...]
//        (default: corpus examples/policies; PATH default target/debug/vigil)
// Loads the nodejs build with require() (dist/js, built by scripts/build). Every JSON test
// file runs (YAML ones are the CLI's); a case passes when every field of the native decision
// is equal in the module's decision and the case's expectations hold. Prints one line per
// failure and `N passed, N failed (N files)`; exit 1 on any failure.
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { compareExpect, sameValue } from "./expect.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const require = createRequire(import.meta.url);

const args = process.argv.slice(2);
let vigil = join(root, process.env.CARGO_TARGET_DIR || "target", "debug", "vigil");
let verbose = false;
const targets = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--vigil") vigil = args[++i];
  else if (args[i] === "--verbose" || args[i] === "-v") verbose = true;
  else targets.push(args[i]);
}
if (!targets.length) targets.push("corpus", "examples/policies");

const vigilJs = require(join(root, "dist", "js"));

function walk(p, out) {
  if (statSync(p).isDirectory()) {
    for (const e of readdirSync(p).sort()) {
      if (!e.startsWith(".")) walk(join(p, e), out);
    }
  } else if (p.endsWith(".json") && !p.endsWith(".policy.json")) {
    out.push(p);
  }
  return out;
}

const files = targets.flatMap((t) => walk(resolve(root, t), []));
const testFiles = [];
for (const f of files) {
  const doc = JSON.parse(readFileSync(f, "utf8"));
  if (doc && typeof doc === "object" && "cases" in doc && "policy" in doc) testFiles.push([f, doc]);
}

// Native decisions, by absolute file path.
let nativeOut;
try {
  nativeOut = execFileSync(vigil, ["test", "--json", ...testFiles.map(([f]) => f)], {
    encoding: "utf8",
    maxBuffer: 1 << 28,
  });
} catch (e) {
  if (e.status === 1 && e.stdout) nativeOut = e.stdout; // some case failed natively: still compare
  else throw e;
}
const native = new Map();
for (const f of JSON.parse(nativeOut).files) native.set(resolve(root, f.file), f);

let passed = 0;
let failed = 0;
const fail = (file, name, why) => {
  failed++;
  console.log(`FAIL ${relative(root, file)} :: ${name}: ${why.join("; ")}`);
};

for (const [file, doc] of testFiles) {
  const nat = native.get(file);
  const policy =
    typeof doc.policy === "string"
      ? readFileSync(resolve(dirname(file), doc.policy), "utf8")
      : doc.policy;
  const compiled = vigilJs.compile(policy);
  if (!nat) {
    fail(file, "(file)", ["no native result"]);
    continue;
  }
  if (!compiled.ok) {
    if (nat.error && nat.error.includes(compiled.error.message)) {
      passed++; // the same refusal both ways
    } else {
      fail(file, "(policy)", [`module: ${JSON.stringify(compiled.error)}; native: ${nat.error}`]);
    }
    continue;
  }
  const engine = compiled.engine;
  doc.cases.forEach((c, i) => {
    const name = c.name ?? `cases[${i}]`;
    const now = c.time ?? doc.time;
    const state = c.state ?? doc.state;
    const d = engine.decide(c.request, { now, state });
    const why = [];
    const nd = nat.cases[i]?.decision;
    if (!nd) why.push("no native decision");
    else {
      for (const [k, v] of Object.entries(nd)) {
        if (!sameValue(d[k], v)) why.push(`${k}: module ${JSON.stringify(d[k])}, native ${JSON.stringify(v)}`);
      }
    }
    why.push(...compareExpect(c.expect, d));
    if (why.length) fail(file, name, why);
    else {
      passed++;
      if (verbose) console.log(`ok   ${relative(root, file)} :: ${name}`);
    }
  });
  engine.free();
}
console.log(`${passed} passed, ${failed} failed (${testFiles.length} files)`);
process.exit(failed ? 1 : 0);
