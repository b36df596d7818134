// Writes the publishable package.json and README.md around dist/js/{web,nodejs}.
// Usage: node js/package/make.mjs VERSION OUT_DIR   (scripts/build calls it)
import { copyFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const [version, out] = process.argv.slice(2);
if (!version || !out) {
  console.error("usage: make.mjs VERSION OUT_DIR");
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
const pkg = {
  name: "vigil-policy",
  version,
  description:
    "Vigil's Zero Trust policy engine (Rust, WebAssembly) for edge workers, browsers and Node: " +
    "the same decision as the Envoy/Istio filter.",
  license: "Apache-2.0",
  keywords: ["zero-trust", "authorization", "jwt", "istio", "policy", "webassembly", "workers"],
  files: ["web/", "nodejs/", "README.md"],
  main: "./nodejs/vigil.js",
  module: "./web/vigil.js",
  types: "./web/vigil.d.ts",
  exports: {
    ".": {
      node: { types: "./nodejs/vigil.d.ts", default: "./nodejs/vigil.js" },
      workerd: { types: "./web/vigil.d.ts", default: "./web/vigil.js" },
      browser: { types: "./web/vigil.d.ts", default: "./web/vigil.js" },
      default: { types: "./web/vigil.d.ts", default: "./web/vigil.js" },
    },
    "./web": { types: "./web/vigil.d.ts", default: "./web/vigil.js" },
    "./web/vigil_bg.wasm": "./web/vigil_bg.wasm",
    "./nodejs": { types: "./nodejs/vigil.d.ts", default: "./nodejs/vigil.js" },
    "./package.json": "./package.json",
  },
  sideEffects: false,
  engines: { node: ">=18" },
};
writeFileSync(join(out, "package.json"), JSON.stringify(pkg, null, 2) + "\n");
copyFileSync(join(here, "README.md"), join(out, "README.md"));
