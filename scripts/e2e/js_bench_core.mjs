// Signature verification, measured the same way in Node and in workerd (js_verify_bench.mjs
// runs it in both): Vigil's JS module against WebCrypto through npm `jose`.
//
// Variants, per algorithm (each call verifies one fresh token signature unless said):
//   wasm        engine.decide() with the token cache off: the whole decision, signature
//               checked by policy-core's crypto inside wasm
//   wasm-cached engine.decide() with the cache on (same token): the decision without the
//               signature — what every repeated token costs
//   webcrypto   await engine.decideAsync() with {verify: "webcrypto"}, cache off: the whole
//               decision, signature checked by crypto.subtle
//   jose        await jose.jwtVerify(token, key): WebCrypto verify plus jose's claim checks
//   subtle      await crypto.subtle.verify(...) alone: the floor
//   noop        nothing (the harness's own overhead in workerd)

export const ALGS = ["RS256", "ES256", "EdDSA"];
export const VARIANTS = ["wasm", "wasm-cached", "webcrypto", "jose", "subtle", "noop"];
const ISSUER = "https://idp.bench.test";

/** Keys and tokens for each algorithm (made with jose; run once, in Node). */
export async function makeData(jose, now) {
  const out = {};
  for (const alg of ALGS) {
    const { publicKey, privateKey } = await jose.generateKeyPair(alg, { extractable: true });
    const jwk = { ...(await jose.exportJWK(publicKey)), kid: `${alg}-1`, alg, use: "sig" };
    const token = await new jose.SignJWT({ scope: "read" })
      .setProtectedHeader({ alg, kid: jwk.kid, typ: "JWT" })
      .setIssuer(ISSUER)
      .setAudience("api")
      .setSubject("alice")
      .setIssuedAt(now)
      .setExpirationTime(now + 86400)
      .sign(privateKey);
    out[alg] = { jwk, token };
  }
  return { now, algs: out };
}

function policy(alg, jwk) {
  return {
    jwtRules: [{ issuer: ISSUER, audiences: ["api"], algorithms: [alg], jwks: { keys: [jwk] } }],
    authorizationPolicies: [
      { name: "users", action: "ALLOW", rules: [{ from: [{ source: { requestPrincipals: ["*"] } }] }] },
    ],
  };
}

function b64urlBytes(s) {
  const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

const SUBTLE = {
  RS256: [{ name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, { name: "RSASSA-PKCS1-v1_5" }],
  ES256: [{ name: "ECDSA", namedCurve: "P-256" }, { name: "ECDSA", hash: "SHA-256" }],
  EdDSA: [{ name: "Ed25519" }, { name: "Ed25519" }],
};

/** `{variant: {alg: async (n) => void}}`: each runs n operations. */
export async function makeRunners(vigil, jose, data) {
  const runners = Object.fromEntries(VARIANTS.map((v) => [v, {}]));
  for (const alg of ALGS) {
    const { jwk, token } = data.algs[alg];
    const req = { method: "GET", path: "/", host: "api", headers: { authorization: `Bearer ${token}` } };
    const opts = { now: data.now + 60 };
    const mk = (o) => {
      const r = vigil.compile(policy(alg, jwk), o);
      if (!r.ok) throw new Error(`${alg}: ${JSON.stringify(r.error)}`);
      return r.engine;
    };
    const uncached = mk({ tokenCacheSize: 0 });
    const cached = mk({});
    const viaWebcrypto = mk({ tokenCacheSize: 0, verify: "webcrypto" });
    for (const e of [uncached, cached]) {
      const d = e.decide(req, opts);
      if (d.decision !== "allow") throw new Error(`${alg}: ${d.reason}`);
    }
    const d = await viaWebcrypto.decideAsync(req, opts);
    if (d.decision !== "allow") throw new Error(`${alg} webcrypto: ${d.reason}`);
    const key = await jose.importJWK(jwk, alg);
    const joseOpts = { issuer: ISSUER, audience: "api", currentDate: new Date((data.now + 60) * 1000) };
    await jose.jwtVerify(token, key, joseOpts);
    const [imp, ver] = SUBTLE[alg];
    const { kid, alg: _a, use, ...bare } = jwk;
    const ckey = await crypto.subtle.importKey("jwk", bare, imp, false, ["verify"]);
    const [h, p, s] = token.split(".");
    const sig = b64urlBytes(s);
    const msg = new TextEncoder().encode(`${h}.${p}`);
    if (!(await crypto.subtle.verify(ver, ckey, sig, msg))) throw new Error(`${alg}: subtle refused`);
    runners.wasm[alg] = async (n) => { for (let i = 0; i < n; i++) uncached.decide(req, opts); };
    runners["wasm-cached"][alg] = async (n) => { for (let i = 0; i < n; i++) cached.decide(req, opts); };
    runners.webcrypto[alg] = async (n) => { for (let i = 0; i < n; i++) await viaWebcrypto.decideAsync(req, opts); };
    runners.jose[alg] = async (n) => { for (let i = 0; i < n; i++) await jose.jwtVerify(token, key, joseOpts); };
    runners.subtle[alg] = async (n) => { for (let i = 0; i < n; i++) await crypto.subtle.verify(ver, ckey, sig, msg); };
    runners.noop[alg] = async () => {};
  }
  return runners;
}
