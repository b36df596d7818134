// Per-verify cost of WebCrypto through `jose` in Node, on the fixture tokens scripts/bench
// wrote (the same tokens the native peers verify). Keys are imported once; each verify
// checks the signature, alg, iss, aud and exp — what Vigil and jsonwebtoken check.
// Usage: node bench/node/verify.mjs FIXTURES.json [--quick]   → one JSON document on stdout.
import { readFileSync } from 'node:fs';
import { importJWK, jwtVerify } from 'jose';
import { measure } from './measure.mjs';

const fx = JSON.parse(readFileSync(process.argv[2], 'utf8'));

const out = { node: process.version, jose: JSON.parse(readFileSync(new URL('./node_modules/jose/package.json', import.meta.url))).version, verify: [] };
for (const [alg, token] of Object.entries(fx.tokens)) {
  const jwk = fx.jwks.keys.find((k) => k.alg === alg);
  const key = await importJWK(jwk, alg);
  const opts = { issuer: fx.issuer, audience: fx.audience, algorithms: [alg] };
  await jwtVerify(token, key, opts); // must accept before timing
  out.verify.push({ alg, stat: await measure(() => jwtVerify(token, key, opts)) });
}
console.log(JSON.stringify(out));
