// Per-verify cost of WebCrypto through `jose` in Node, on the fixture tokens scripts/bench
// wrote (the same tokens the native peers verify). Keys are imported once; each verify
// checks the signature, alg, iss, aud and exp — what Vigil and jsonwebtoken check.
// Usage: node bench/node/verify.mjs FIXTURES.json [--quick]   → one JSON document on stdout.
import { readFileSync } from 'node:fs';
import { importJWK, jwtVerify } from 'jose';

const fx = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const quick = process.argv.includes('--quick');
const samples = quick ? 7 : 31;
const sampleNs = quick ? 5e6 : 20e6;

async function measure(fn) {
  for (let i = 0; i < 200; i++) await fn(); // warm-up: JIT, key caches
  // Calibrate: double the batch until it takes a tenth of a sample.
  let n = 1;
  for (;;) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await fn();
    const e = Number(process.hrtime.bigint() - t);
    if (e >= sampleNs / 10 || n >= 1 << 24) { n = Math.max(1, Math.round((sampleNs / e) * n)); break; }
    n *= 2;
  }
  const per = [];
  for (let s = 0; s < samples; s++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await fn();
    per.push(Number(process.hrtime.bigint() - t) / n);
  }
  per.sort((a, b) => a - b);
  const at = (p) => per[Math.round((per.length - 1) * p)];
  return { median_ns: Math.round(at(0.5)), p10_ns: Math.round(at(0.1)), p90_ns: Math.round(at(0.9)), samples, iters_per_sample: n };
}

const out = { node: process.version, jose: JSON.parse(readFileSync(new URL('./node_modules/jose/package.json', import.meta.url))).version, verify: [] };
for (const [alg, token] of Object.entries(fx.tokens)) {
  const jwk = fx.jwks.keys.find((k) => k.alg === alg);
  const key = await importJWK(jwk, alg);
  const opts = { issuer: fx.issuer, audience: fx.audience, algorithms: [alg] };
  await jwtVerify(token, key, opts); // must accept before timing
  out.verify.push({ alg, stat: await measure(() => jwtVerify(token, key, opts)) });
}
console.log(JSON.stringify(out));
