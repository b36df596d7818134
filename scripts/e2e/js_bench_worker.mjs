// The workerd side of js_verify_bench.mjs: GET /run?v=VARIANT&alg=ALG&n=N runs N operations
// (Date.now() does not advance during computation in workerd, so the caller times requests).
import wasm from "./vigil_bg.wasm";
import * as vigil from "./vigil.js";
import * as jose from "./jose/index.js";
import { makeRunners } from "./js_bench_core.mjs";

vigil.initSync({ module: wasm });
let runners = null;

export default {
  async fetch(request, env) {
    runners ??= await makeRunners(vigil, jose, JSON.parse(env.BENCH_DATA));
    const u = new URL(request.url);
    const run = runners[u.searchParams.get("v")]?.[u.searchParams.get("alg")];
    if (!run) return new Response("unknown variant", { status: 404 });
    const n = Number(u.searchParams.get("n") || "1");
    await run(n);
    return new Response(JSON.stringify({ n }), { headers: { "content-type": "application/json" } });
  },
};
