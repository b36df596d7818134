
/** A policy document (docs/policy.md; JSON Schema: docs/policy.schema.json). */
export type Policy = { [field: string]: unknown };

/** A JSON Web Key Set (RFC 7517). */
export interface Jwks {
  keys: Array<{ [member: string]: unknown }>;
}

/** An error, always returned as data: a stable `code`, the JSON `path` it is about and a
 * lower-case `message` quoting user input in backticks. */
export interface VigilError {
  code:
    | "syntax"
    | "type"
    | "missing"
    | "unknown_field"
    | "invalid"
    | "unsupported"
    | "limit"
    | (string & {});
  path: string;
  message: string;
}

/** A peer of the connection. */
export interface Peer {
  address?: string;
  port?: number;
  /** The mTLS principal (SPIFFE ID), for `source` only. */
  principal?: string;
}

/** The check request (design §3): what `vigil eval`, test cases and the module take. */
export interface CheckRequest {
  method?: string;
  /** The raw request target: path and query, as received. */
  path?: string;
  host?: string;
  scheme?: string;
  /** Lower-case names; a repeated header as an array of values. */
  headers?: { [name: string]: string | string[] };
  source?: Peer;
  destination?: Omit<Peer, "principal">;
  sni?: string;
  /** Unix seconds. */
  time?: number;
}

/** One rate-limit counter level (`state.rate` in, `rateUpdates` out). */
export interface RateLevel {
  limit: string;
  key: string;
  /** Requests available now (fractions allowed). */
  tokens: number;
  /** Unix seconds of that level. */
  updated: number;
}

/** Revocations from a feed (the shape of the policy's `revocation`). */
export interface Revocation {
  version?: string | number | null;
  jtis?: string[];
  sids?: string[];
  subjects?: Array<{ sub: string; iss?: string; notBefore: number }>;
}

/** A network-list feed snapshot (`network.feed`): ranges added to the declared lists. */
export interface NetworkLists {
  version?: string | number | null;
  lists: { [name: string]: string[] };
}

/** A risk-label feed snapshot (`riskLabels.feed`), read by conditions as `subject.labels`. */
export interface RiskLabels {
  version?: string | number | null;
  labels?: Array<
    ({ sub: string; iss?: string } | { sid: string } | { principal: string }) & { labels: string[] }
  >;
}

/** State the caller keeps, in the shape of a test case's `state` (docs/testing.md). */
export interface State {
  /** Behaviour signals (`behavior.NAME` in conditions). */
  behavior?: { [name: string]: string | number | boolean | null };
  revocation?: Revocation;
  rate?: RateLevel[];
  /** Read only when the policy has `network.feed` (you poll the feed; docs/bundles.md). */
  networkLists?: NetworkLists;
  /** Read only when the policy has `riskLabels.feed`. */
  riskLabels?: RiskLabels;
}

export interface DecideOptions {
  /** Unix seconds to decide at; default: the request's `time`, else the clock. */
  now?: number;
  state?: State;
}

export type Outcome = "allow" | "deny" | "unauthenticated" | "step_up" | "rate_limited";

/** The decision object: what `vigil eval` prints (design §3), plus `rateUpdates`. */
export interface Decision {
  decision: Outcome;
  /** 200 on allow; 400, 401, 403, 429 or 503 otherwise (500 for unreadable options). */
  status: number;
  /** A stable machine code for the reason, e.g. `invalid_token`, `no_policy_matched`. */
  code: string;
  reason: string;
  policy: string | null;
  rule: number | null;
  principal: string | null;
  resource: { name: string; classification: string } | null;
  trust: {
    score: number;
    minimum: number | null;
    risks: Array<{ name: string; weight: number }>;
  } | null;
  /** Headers for the local response (lower-case names), e.g. `www-authenticate`. */
  responseHeaders: { [name: string]: string };
  /** Identity headers to set on the forwarded request. */
  upstreamHeaders: { [name: string]: string };
  /** Headers to remove from the forwarded request before setting `upstreamHeaders`. */
  removeHeaders: string[];
  audit: string[];
  dryRun: boolean;
  /** The rate-limit counters this request moved: store them, pass them back as `state.rate`. */
  rateUpdates: RateLevel[];
  /** Present only when the request or options could not be read (a denial). */
  error?: VigilError;
}

export interface TraceStep {
  stage: string;
  policy: string | null;
  rule: number | null;
  matched: boolean;
  detail: string;
}

export interface Explanation {
  decision: Decision;
  trace: TraceStep[];
}

export interface Lint {
  level: "info" | "warning";
  code: string;
  path: string;
  message: string;
}

export interface CompileOptions {
  /** Verified tokens kept (default 4096; 0 disables the cache). */
  tokenCacheSize?: number;
  /** Fetches a JWKS (or discovery) document for `jwksUri` rules: resolve to its text or the
   * parsed object; throw (or reject) on failure. */
  fetchJwks?: (url: string, issuer: string) => Promise<string | object> | string | object;
  /** Who checks token signatures in `decideAsync`: policy-core's own crypto in wasm
   * (default), or the runtime's WebCrypto (`crypto.subtle`), which is faster at the edge.
   * Every other rule (grammar, key choice, algorithm, claims) is the core's either way. */
  verify?: "wasm" | "webcrypto";
}

/** One region of requests two policies decide differently (`diff`). */
export interface DiffChange {
  /** `newly_allowed`, `newly_denied`, or `changed` (same outcome, another status, code or policy). */
  kind: "newly_allowed" | "newly_denied" | "changed";
  /** A request of the region (its token carries an analysis signature: see docs/policy.md). */
  request: CheckRequest;
  /** The claims of the witness's token, when it has one. */
  tokenClaims?: { [claim: string]: unknown };
  before: Decision;
  after: Decision;
  /** How many regions of the search fell here. */
  cubes: number;
}

export interface Diff {
  /** True when no request is decided differently (for what the analysis covers). */
  equivalent: boolean;
  /** False when the search stopped before covering every region (then nothing is claimed). */
  complete: boolean;
  changes: DiffChange[];
  /** What the analysis does not cover and held fixed (trust, rate limits, time, ...). */
  notAnalysed: string[];
  cubes: number;
}

export type DiffResult = { ok: true; diff: Diff } | { ok: false; error: VigilError };

export interface CoverageKind {
  covered: number;
  total: number;
  uncovered: string[];
}

export interface Coverage {
  /** `coverage: 3/4 policies, 5/7 rules, …` */
  summary: string;
  items: {
    policy: CoverageKind;
    rule: CoverageKind;
    resource: CoverageKind;
    classification: CoverageKind;
    risk: CoverageKind;
  };
}

export type CoverageResult = { ok: true; coverage: Coverage } | { ok: false; error: VigilError };

export type CompileBundleResult =
  | { ok: true; engine: Engine; revision: number; kid: string }
  | { ok: false; error: VigilError };

export interface BundleSourceOptions {
  /** Where the bundle is served (an object store, a CDN, any HTTP origin). */
  url: string;
  /** The Ed25519 public keys (a JWK Set, each key with a `kid`) bundles must be signed by. */
  keys: string | { keys: object[] };
  /** Fetches the bundle: resolve to `{status: 200, body, etag?}` or `{status: 304}`. Send
   * `If-None-Match: etag` when `etag` is given. */
  fetch: (url: string, options: { etag?: string }) => Promise<{ status: number; body?: string; etag?: string }>;
  /** Options for the engine each bundle's policy is compiled into (as `compile`). */
  compile?: CompileOptions;
}

export type BundleSourceResult = { ok: true; source: BundleSource } | { ok: false; error: VigilError };

export interface BundleRefresh {
  /** False when the fetch failed or the bundle was refused (the last good engine stays). */
  ok: boolean;
  /** True when a newer bundle was installed. */
  changed: boolean;
  error: string | null;
}

export interface BundleSourceStats {
  revision: number | null;
  kid: string | null;
  /** Milliseconds since the epoch. */
  fetchedAt: number | null;
  installedAt: number | null;
  lastError: string | null;
  refused: number;
  unchanged: number;
}

export type CompileResult =
  | { ok: true; engine: Engine }
  | { ok: false; error: VigilError };

export type SetJwksResult = { ok: true; keys: number } | { ok: false; error: VigilError };

export interface RefreshResult {
  issuer: string;
  ok: boolean;
  error: string | null;
}

export interface EngineStats {
  tokenCache: { size: number; capacity: number; hits: number; misses: number };
  keySets: Array<{
    issuer: string;
    keys: number;
    remote: boolean;
    fetchedAt: number | null;
    lastError: string | null;
  }>;
}
