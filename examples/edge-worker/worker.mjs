// Vigil at the edge: a module Worker (workerd, Cloudflare Workers) that authorises every
// request with a Vigil policy before it reaches the origin.
//
// Bindings (config.capnp for workerd, wrangler.toml for Cloudflare):
//   POLICY   text     the policy document (JSON)
//   IDP      service  the identity provider: `jwksUri` documents are fetched through it
//   ORIGIN   service  where allowed requests go (optional; else ORIGIN_URL, else fetch())
//   ORIGIN_URL text   base URL of the origin when there is no ORIGIN service
//   CLIENT_IP_HEADER text  a header the platform sets with the client address, e.g.
//                          `cf-connecting-ip` on Cloudflare (never one a client can send)
//   DECISION_HEADER text   tests only: every response carries this header with
//                          {"decision","status","code","dryRun"} (the e2e reads it)
//   NOW      text     tests only: decide at this Unix time instead of the clock
//   BUNDLE_URL  text  instead of POLICY: poll a signed policy bundle (docs/bundles.md) here
//   BUNDLE_KEYS text  the Ed25519 public keys (a JWK Set) bundles must be signed by
//   BUNDLES     service  where the bundle is fetched through (optional; else fetch())
//   BUNDLE_POLL_MS text  how often an isolate polls, at most (default 1000): the request
//                        that finds the poll due starts it, and requests after it answers
//                        use the new policy; until the first good bundle, every request is 503
//
// Answers exactly as the Envoy filter: a refusal is `status` with the decision's response
// headers (WWW-Authenticate, Retry-After), `content-type: application/json`, `cache-control:
// no-store` and the body {"error", "reason"}; an allowed request (or any, in dry-run mode) is
// forwarded with every client-sent copy of the identity headers removed and the verified ones
// set. One line `vigil decision {...}` is logged per decision.
import wasm from "./vigil_bg.wasm";
import { initSync, compile, bundleSource } from "./vigil.js";

initSync({ module: wasm });

// One engine per isolate, rebuilt only if the policy text changes; its key sets and token
// cache live as long as the isolate.
let current = null;
// Rate-limit counters of this isolate (a fleet-wide limit belongs to a rate limit service).
const buckets = new Map();
const MAX_BUCKETS = 10000;

function compileOptions(env) {
  return {
    // Signatures through the runtime's WebCrypto: much faster than RSA/ECDSA in wasm.
    verify: "webcrypto",
    fetchJwks: async (url) => {
      const via = env.IDP ?? globalThis;
      const r = await via.fetch(url, { headers: { accept: "application/json" } });
      if (!r.ok) throw new Error(`status ${r.status}`);
      return r.text();
    },
  };
}

// A signed policy bundle polled by this isolate (BUNDLE_URL): one source, one poll at a time.
let bundle = null;
let lastPoll = 0;
let polling = null;

async function bundledEngine(env, ctx) {
  if (!bundle) {
    const built = bundleSource({
      url: env.BUNDLE_URL,
      keys: env.BUNDLE_KEYS,
      compile: compileOptions(env),
      fetch: async (url, { etag }) => {
        const via = env.BUNDLES ?? globalThis;
        const headers = { accept: "application/jose, */*" };
        if (etag) headers["if-none-match"] = etag;
        const r = await via.fetch(url, { headers });
        if (r.status === 304) return { status: 304 };
        return { status: r.status, body: await r.text(), etag: r.headers.get("etag") ?? undefined };
      },
    });
    if (!built.ok) {
      console.error(`vigil: bundle source refused: ${built.error.path}: ${built.error.message}`);
      return { ok: false };
    }
    bundle = built.source;
  }
  const now = Date.now();
  if (!polling && now - lastPoll >= Number(env.BUNDLE_POLL_MS ?? 1000)) {
    lastPoll = now;
    polling = bundle
      .refresh()
      .then((r) => {
        if (!r.ok) console.error(`vigil: policy bundle kept at revision ${bundle.stats().revision}: ${r.error}`);
      })
      .finally(() => {
        polling = null;
      });
    // The poll outlives the request that started it (workerd cancels a request's unfinished
    // I/O when it ends, which would leave the poll pending for ever).
    ctx?.waitUntil?.(polling);
  }
  // Before the first good bundle, wait for the poll in flight rather than refuse at once.
  if (!bundle.engine() && polling) await polling;
  const engine = bundle.engine();
  return engine ? { ok: true, engine } : { ok: false };
}

async function engineFor(env, ctx) {
  if (env.BUNDLE_URL) return bundledEngine(env, ctx);
  if (current && current.text === env.POLICY) return current;
  const built = compile(env.POLICY, compileOptions(env));
  current = { text: env.POLICY, ...built };
  if (!built.ok) console.error(`vigil: policy refused: ${built.error.path}: ${built.error.message}`);
  return current;
}

/** The check request (docs/js.md) for a Fetch API Request. */
export function checkRequest(request, env) {
  const url = request.url;
  // The target and host as received: a URL object would normalise both (dot segments, IPv4
  // forms, ports, IDNA), and Vigil must see, and refuse, what the client sent.
  const colon = url.indexOf("://");
  const afterScheme = colon + 3;
  const slash = url.indexOf("/", afterScheme);
  const path = slash < 0 ? "/" : url.slice(slash);
  const host = request.headers.get("host") ?? url.slice(afterScheme, slash < 0 ? url.length : slash);
  const headers = {};
  for (const [k, v] of request.headers) {
    if (k === "host") continue;
    // The Fetch API has already joined repeated headers with ", " (docs/js.md).
    (headers[k] ??= []).push(v);
  }
  const req = { method: request.method, path, host, scheme: url.slice(0, colon), headers };
  const ipHeader = env.CLIENT_IP_HEADER;
  const ip = ipHeader ? request.headers.get(ipHeader) : null;
  if (ip) req.source = { address: ip };
  return req;
}

function rateState() {
  return [...buckets.values()];
}

function remember(updates) {
  for (const u of updates) {
    if (buckets.size >= MAX_BUCKETS && !buckets.has(`${u.limit}\n${u.key}`)) buckets.clear();
    buckets.set(`${u.limit}\n${u.key}`, u);
  }
}

function refusal(d) {
  const headers = new Headers(d.responseHeaders);
  headers.set("content-type", "application/json");
  headers.set("cache-control", "no-store");
  return new Response(JSON.stringify({ error: d.decision, reason: d.reason }), {
    status: d.status,
    headers,
  });
}

async function forward(request, env, d) {
  const headers = new Headers(request.headers);
  for (const h of d.removeHeaders) headers.delete(h);
  for (const [k, v] of Object.entries(d.upstreamHeaders)) headers.set(k, v);
  const init = { method: request.method, headers, body: request.body, redirect: "manual" };
  if (env.ORIGIN) return env.ORIGIN.fetch(new Request(request.url, init));
  if (env.ORIGIN_URL) {
    const u = new URL(request.url);
    return fetch(new Request(env.ORIGIN_URL.replace(/\/$/, "") + u.pathname + u.search, init));
  }
  return fetch(new Request(request.url, init));
}

export default {
  async fetch(request, env, ctx) {
    const e = await engineFor(env, ctx);
    if (!e.ok) {
      // Fail closed: an unusable policy denies everything.
      return refusal({
        decision: "deny",
        status: 503,
        reason: "the authorization policy is not usable",
        responseHeaders: { "retry-after": "30" },
      });
    }
    const d = await e.engine.decideAsync(checkRequest(request, env), {
      now: env.NOW ? Number(env.NOW) : undefined,
      state: { rate: rateState() },
    });
    remember(d.rateUpdates);
    console.log(`vigil decision ${JSON.stringify(d)}`);
    const response = d.decision === "allow" || d.dryRun ? await forward(request, env, d) : refusal(d);
    if (!env.DECISION_HEADER) return response;
    const marked = new Response(response.body, response);
    const { decision, status, code, dryRun } = d;
    marked.headers.set(env.DECISION_HEADER, JSON.stringify({ decision, status, code, dryRun }));
    return marked;
  },
};
