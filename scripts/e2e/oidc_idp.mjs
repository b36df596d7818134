// A real OpenID provider (npm `oidc-provider`) for Vigil's end-to-end tests.
//
// Usage: node oidc_idp.mjs --port P --state DIR --keys kid:ALG[,kid:ALG...]
//
// Serves discovery (/.well-known/openid-configuration), the key set (/jwks) and a token
// endpoint issuing RFC 9068 JWT access tokens (`typ: at+jwt`) by the client-credentials grant
// to client `vigil-e2e` (secret `vigil-e2e-secret`). The resource indicator chooses audience and
// signing key: `resource=https://api.vigil.test/KID` gives `aud: https://api.vigil.test` signed
// with KID; any other host gives that host as the audience.
//
// Keys are generated once per kid and kept in DIR/keys.json, so a restart with a different
// `--keys` list rotates the published set the way an IdP rolls keys: kids that stay keep their
// key material, new kids get new keys, dropped kids disappear from /jwks.
// Prints `ready <issuer>` on stdout once it listens.

import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Provider from 'oidc-provider';

function arg(name) {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0 || i + 1 >= process.argv.length) {
    console.error(`oidc_idp: missing --${name}`);
    process.exit(2);
  }
  return process.argv[i + 1];
}

const port = Number(arg('port'));
const stateDir = arg('state');
const wanted = arg('keys').split(',').map((s) => {
  const [kid, alg] = s.split(':');
  return { kid, alg };
});

const GEN = {
  RS256: () => generateKeyPairSync('rsa', { modulusLength: 2048 }),
  ES256: () => generateKeyPairSync('ec', { namedCurve: 'P-256' }),
  EdDSA: () => generateKeyPairSync('ed25519'),
};

fs.mkdirSync(stateDir, { recursive: true });
const store = path.join(stateDir, 'keys.json');
const known = fs.existsSync(store) ? JSON.parse(fs.readFileSync(store, 'utf8')) : {};
for (const { kid, alg } of wanted) {
  if (!GEN[alg]) {
    console.error(`oidc_idp: unsupported alg ${alg}`);
    process.exit(2);
  }
  if (!known[kid]) {
    const { privateKey } = GEN[alg]();
    known[kid] = { ...privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
  }
}
fs.writeFileSync(store, JSON.stringify(known));
const keys = wanted.map(({ kid }) => known[kid]);

const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  jwks: { keys },
  clients: [{
    client_id: 'vigil-e2e',
    client_secret: 'vigil-e2e-secret',
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
  }],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'https://api.vigil.test/' + wanted[0].kid,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resource) => {
        const url = new URL(resource);
        const kid = url.pathname.slice(1) || wanted[0].kid;
        const key = keys.find((k) => k.kid === kid);
        if (!key) throw new Error(`unknown signing kid ${kid}`);
        return {
          audience: `${url.protocol}//${url.host}`,
          scope: 'read write',
          accessTokenFormat: 'jwt',
          accessTokenTTL: 600,
          jwt: { sign: { alg: key.alg, kid } },
        };
      },
    },
  },
});

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => server.close(() => process.exit(0)));
}
