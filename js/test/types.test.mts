// Type-checked (never run) by `tsc -p js/test` in scripts/test: the hand-written types in
// js/src/types.d.ts, as emitted into dist/js/*/vigil.d.ts, describe what the API takes and
// returns. The @ts-expect-error lines prove the types are not `any`: if a wrong use stopped
// being an error, tsc would fail on the unused directive.
import * as web from "../../dist/js/web/vigil.js";
import type { CheckRequest, Decision, DecideOptions, Diff, Explanation, Lint, VigilError } from "../../dist/js/web/vigil.js";
import * as node from "../../dist/js/nodejs/vigil.js";

async function usage(wasm: WebAssembly.Module): Promise<void> {
  web.initSync({ module: wasm });
  const r = web.compile({ authorizationPolicies: [] }, { tokenCacheSize: 16, verify: "webcrypto" });
  if (!r.ok) {
    const e: VigilError = r.error;
    console.log(e.code, e.path, e.message);
    // @ts-expect-error no engine on a failed compile
    r.engine.decide({});
    return;
  }
  const req: CheckRequest = {
    method: "GET",
    path: "/a?b=1",
    host: "shop",
    headers: { authorization: "Bearer x", "x-multi": ["a", "b"] },
    source: { address: "10.0.0.1", port: 443, principal: "spiffe://x" },
  };
  const opts: DecideOptions = {
    now: 1700000000,
    state: { behavior: { newCountry: true }, revocation: { jtis: ["j"] }, rate: [{ limit: "l", key: "k", tokens: 1, updated: 1 }],
      networkLists: { lists: { tor: ["185.220.100.0/22"] } }, riskLabels: { labels: [{ sid: "s", labels: ["x"] }] } },
  };
  const d: Decision = r.engine.decide(req, opts);
  const status: number = d.status;
  const outcome: "allow" | "deny" | "unauthenticated" | "step_up" | "rate_limited" = d.decision;
  const www: string | undefined = d.responseHeaders["www-authenticate"];
  const score: number | undefined = d.trust?.score;
  console.log(status, outcome, www, score, d.rateUpdates[0]?.tokens, d.error?.path);
  const later: Decision = await r.engine.decideAsync(req);
  const ex: Explanation = r.engine.explain(req, { now: 1 });
  const lints: Lint[] = r.engine.check();
  const cb = web.compileBundle("a.b.c", { keys: { keys: [] }, afterRevision: 3, tokenCacheSize: 8 });
  if (cb.ok) {
    const rev: number = cb.revision;
    console.log(rev, cb.kid, cb.engine.decide(req).status);
  } else {
    console.log(cb.error.path);
  }
  const bs = web.bundleSource({
    url: "https://bundles.example/app.bundle",
    keys: "{}",
    fetch: async (_url: string, { etag }: { etag?: string }) => ({ status: etag ? 304 : 200, body: "a.b.c", etag: '"1"' }),
  });
  if (bs.ok) {
    const refreshed = await bs.source.refresh();
    const changed: boolean = refreshed.changed;
    const st = bs.source.stats();
    const rev: number | null = st.revision;
    console.log(changed, rev, st.lastError, bs.source.engine()?.decide(req).decision);
  }
  const dr = web.diff({ authorizationPolicies: [] }, "{}", 1700000000);
  if (dr.ok) {
    const dd: Diff = dr.diff;
    const kind: "newly_allowed" | "newly_denied" | "changed" | undefined = dd.changes[0]?.kind;
    console.log(dd.equivalent, kind, dd.notAnalysed.length, dd.changes[0]?.before.status);
  } else {
    // @ts-expect-error no diff on a failed comparison
    console.log(dr.diff);
  }
  const set = r.engine.setJwks("https://idp", { keys: [] });
  if (!set.ok) console.log(set.error.message);
  const refreshed = await r.engine.refreshKeys();
  console.log(later.reason, ex.trace[0]?.stage, lints[0]?.level, refreshed[0]?.ok, r.engine.stats().tokenCache.hits);
  // @ts-expect-error now is seconds, a number
  r.engine.decide(req, { now: "soon" });
  // @ts-expect-error unknown option
  r.engine.decide(req, { clock: 1 });
  // @ts-expect-error headers are strings
  r.engine.decide({ headers: { a: 1 } });
  // @ts-expect-error decision is one of five outcomes
  const wrong: "permit" = d.decision;
  console.log(wrong);
  // The nodejs build has the same API without init.
  const n = node.compile("{}");
  if (n.ok) console.log(n.engine.decide({ path: "/" }).dryRun);
  // @ts-expect-error verify is "wasm" or "webcrypto"
  node.compile("{}", { verify: "native" });
}
export { usage };
