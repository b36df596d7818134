// Per-verify cost of Vigil's JS module (wasm-bindgen, dist/js/nodejs) in Node, on the fixture
// tokens scripts/bench wrote. Three engines on the same policy: token cache off (every decide
// verifies, signatures in wasm), token cache off with `verify: "webcrypto"` (decideAsync;
// signatures by Node's WebCrypto, everything else by the core), and the cache on (decide after
// the first hit). verify ≈ uncached − cached.
// Usage: node bench/node/js_module.mjs FIXTURES_DIR [--quick]   → one JSON document on stdout.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { measure } from './measure.mjs';

const require = createRequire(import.meta.url);
const vigil = require('../../dist/js/nodejs/vigil.js');
const dir = process.argv[2];
const fx = JSON.parse(readFileSync(`${dir}/tokens.json`, 'utf8'));
const policy = readFileSync(`${dir}/verify.policy.json`, 'utf8');

function engine(opts) {
  const r = vigil.compile(policy, opts);
  if (!r.ok) throw new Error(`policy refused: ${JSON.stringify(r.error)}`);
  return r.engine;
}

const uncached = engine({ tokenCacheSize: 0 });
const webcrypto = engine({ tokenCacheSize: 0, verify: 'webcrypto' });
const cached = engine({});
const out = { module: vigil.version(), verify: [] };
for (const [alg, token] of Object.entries(fx.tokens)) {
  const req = { method: 'GET', path: '/api/documents/1', host: 'app.vigil.test',
                headers: { authorization: `Bearer ${token}` } };
  const opts = { now: fx.now };
  for (const [name, d] of [['wasm', uncached.decide(req, opts)], ['webcrypto', await webcrypto.decideAsync(req, opts)],
                           ['cached', cached.decide(req, opts)]]) {
    if (d.decision !== 'allow') throw new Error(`${alg} ${name}: ${d.decision} ${d.reason}`);
  }
  const wasm = await measure(() => uncached.decide(req, opts));
  const wc = await measure(() => webcrypto.decideAsync(req, opts));
  const hit = await measure(() => cached.decide(req, opts));
  out.verify.push({ alg, stat: { median_ns: wasm.median_ns - hit.median_ns },
                    decide_uncached: wasm, decide_webcrypto: wc, decide_cached: hit });
}
console.log(JSON.stringify(out));
