// The engine, as the page uses it: the wasm-bindgen `web` build of Vigil (docs/js.md), copied
// into ./pkg/ by scripts/build. This file is the only place that knows the module's API.

import init, * as mod from "./pkg/index.js";

/**
 * Loads and instantiates the module. Resolves to:
 * - compile(text) → { engine } | { error: {code, path, message} }
 * - lints(engine) → [{ level, code, path, message }]
 * - explain(engine, request, { now, state }) → { decision, trace }
 * - setJwks(engine, issuer, text) → null | { code, path, message }
 * - diff(oldText, newText, now) → { diff } | { error }: regions decided differently (vigil diff)
 * - coverage(engine, cases) → { coverage } | { error }: what the cases exercised
 * - version
 */
export async function loadVigil() {
  await init();
  return {
    version: typeof mod.version === "function" ? mod.version() : "",
    compile(text) {
      const r = mod.compile(text, {});
      return r.ok ? { engine: r.engine } : { error: r.error };
    },
    lints(engine) {
      return engine.check();
    },
    explain(engine, request, options) {
      return engine.explain(request, options);
    },
    diff(oldText, newText, now) {
      const r = mod.diff(oldText, newText, now);
      return r.ok ? { diff: r.diff } : { error: r.error };
    },
    coverage(engine, cases) {
      const r = engine.coverage(cases);
      return r.ok ? { coverage: r.coverage } : { error: r.error };
    },
    setJwks(engine, issuer, text) {
      const r = engine.setJwks(issuer, text);
      return r.ok ? null : r.error;
    },
  };
}
