// The hand-written peer of Vigil's edge worker for scripts/bench: what a team would write with
// `jose` (WebCrypto) instead of Vigil, doing the same checks as the benchmark's Vigil policy —
// a bearer token from `Authorization`, RS256 only, the key chosen by `kid` from an inline JWKS
// (imported once per isolate), `iss`, `aud`, `exp`/`nbf` with 60 s of skew; then the policy:
// only `/api/*` paths, any principal of the issuer. 401 with a Bearer challenge, 403, or the
// request forwarded to the ORIGIN service with the token removed and `x-user` set from `sub`
// (as Vigil's edge worker does).
import { createLocalJWKSet, jwtVerify } from 'jose';

let keys;

function deny(status, error) {
  const headers = { 'content-type': 'text/plain' };
  if (status === 401) {
    headers['www-authenticate'] = error ? `Bearer realm="api", error="${error}"` : 'Bearer realm="api"';
  }
  return new Response(status === 401 ? 'unauthenticated\n' : 'forbidden\n', { status, headers });
}

export default {
  async fetch(request, env) {
    keys ??= createLocalJWKSet(JSON.parse(env.JWKS));
    const auth = request.headers.get('authorization');
    if (!auth) return deny(401);
    const m = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/.exec(auth);
    if (!m) return deny(401, 'invalid_token');
    let payload;
    try {
      ({ payload } = await jwtVerify(m[1], keys, {
        issuer: env.ISSUER, audience: env.AUDIENCE, algorithms: ['RS256'], clockTolerance: 60,
      }));
    } catch {
      return deny(401, 'invalid_token');
    }
    const path = new URL(request.url).pathname;
    if (!path.startsWith('/api/')) return deny(403);
    const headers = new Headers(request.headers);
    headers.delete('authorization');
    headers.delete('x-user');
    headers.set('x-user', String(payload.sub ?? ''));
    return env.ORIGIN.fetch(new Request(request.url, { method: request.method, headers, body: request.body, redirect: 'manual' }));
  },
};
