// The nodejs build used as docs/js.md shows: require() it, compile a policy, decide requests;
// errors as data; the decision's shape against the .d.ts; key sets (setJwks, decideAsync with
// a fetch callback: single flight, unknown-kid refetch with cooldown, last good set kept).
// Usage: node js/test/node.test.cjs   (needs dist/js from scripts/build and target/debug/
// {vigil,vigil-fixtures} from cargo test). Exit 1 on the first failed check.
"use strict";
const assert = require("node:assert/strict");
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const root = path.resolve(__dirname, "../..");
const bin = (name) => path.join(root, process.env.CARGO_TARGET_DIR || "target", "debug", name);
const fixturesBin = process.env.VIGIL_FIXTURES || bin("vigil-fixtures");
const fixtures = (...args) => execFileSync(fixturesBin, args, { encoding: "utf8" }).trim();

// As a user would: the package directory (its package.json picks nodejs/ under Node).
const vigil = require(path.join(root, "dist", "js"));
const { compile, compileBundle, bundleSource, diff, version } = vigil;

const tests = [];
const test = (name, fn) => tests.push([name, fn]);

test("require() and decide, the same decision as `vigil eval`", () => {
  const policyFile = path.join(root, "examples/policies/payment.policy.json");
  const r = compile(fs.readFileSync(policyFile, "utf8"));
  assert.equal(r.ok, true);
  const request = {
    method: "POST",
    path: "/checkout/42",
    host: "shop",
    source: { address: "10.0.0.7", principal: "spiffe://cluster.local/ns/production/sa/frontend" },
  };
  for (const req of [request, { ...request, method: "GET" }]) {
    const d = r.engine.decide(req, { now: 1700000000 });
    const native = JSON.parse(
      execFileSync(bin("vigil"), ["eval", "--policy", policyFile, "--request", JSON.stringify(req), "--time", "1700000000"], {
        encoding: "utf8",
      }),
    );
    for (const [k, v] of Object.entries(native)) assert.deepEqual(d[k], v, `field ${k}`);
  }
  assert.equal(r.engine.decide(request).decision, "allow");
  assert.equal(r.engine.decide({ ...request, method: "GET" }).status, 403);
  assert.match(version(), /^\d+\.\d+\.\d+/);
});

test("diff: the same changes and witnesses as `vigil diff --json`", () => {
  const dir = path.join(root, "examples/diff");
  const oldFile = path.join(dir, "payment.policy.json");
  const newFile = path.join(dir, "payment-widened.policy.json");
  const r = diff(fs.readFileSync(oldFile, "utf8"), JSON.parse(fs.readFileSync(newFile, "utf8")), 1700000000);
  assert.equal(r.ok, true);
  let native;
  try {
    execFileSync(bin("vigil"), ["diff", oldFile, newFile, "--json", "--time", "1700000000"], { encoding: "utf8" });
    assert.fail("vigil diff exits 1 when the documents differ");
  } catch (e) {
    assert.equal(e.status, 1);
    native = JSON.parse(e.stdout);
  }
  assert.deepEqual(r.diff, native);
  assert.equal(r.diff.equivalent, false);
  assert.deepEqual(r.diff.changes.map((c) => c.kind), ["newly_allowed", "newly_allowed"]);
  // Each witness really is decided as reported by the engine compiled from the same document
  // (it carries no token, so no analysis key is needed).
  const after = compile(fs.readFileSync(newFile, "utf8")).engine;
  for (const c of r.diff.changes) {
    assert.equal(after.decide(c.request, { now: 1700000000 }).decision, c.after.decision);
  }
  const same = diff(fs.readFileSync(oldFile, "utf8"), fs.readFileSync(oldFile, "utf8"), 1700000000);
  assert.equal(same.diff.equivalent, true);
  assert.deepEqual(same.diff.changes, []);
  const bad = diff("{", "{}");
  assert.equal(bad.ok, false);
  assert.equal(bad.error.path, "old");
  assert.equal(diff({}, { authorizationPolicies: [{ name: "x", action: "MAYBE" }] }).error.path, "new.authorizationPolicies[0].action");
});

test("signed policy bundles: compileBundle and a polled bundleSource keep the last good policy", async () => {
  const dir = fs.mkdtempSync(path.join(require("node:os").tmpdir(), "vigil-bundle-"));
  const keyFile = path.join(dir, "ops.jwk");
  const jwks = execFileSync(bin("vigil"), ["bundle", "keygen", "--kid", "ops-1", "--out", keyFile], { encoding: "utf8" });
  const open = path.join(dir, "open.json");
  const closed = path.join(dir, "closed.json");
  fs.writeFileSync(open, JSON.stringify({ authorizationPolicies: [{ name: "open", rules: [{}] }] }));
  fs.writeFileSync(closed, JSON.stringify({ authorizationPolicies: [{ name: "admins", rules: [{ to: [{ operation: { paths: ["/admin/*"] } }] }] }] }));
  const sign = (file, revision) =>
    execFileSync(bin("vigil"), ["bundle", "sign", "--key", keyFile, "--kind", "policy", "--revision", String(revision), file], { encoding: "utf8" }).trim();
  const b1 = sign(open, 1);
  const b2 = sign(closed, 2);
  const one = compileBundle(b1, { keys: jwks });
  assert.equal(one.ok, true);
  assert.equal(one.revision, 1);
  assert.equal(one.kid, "ops-1");
  assert.equal(one.engine.decide({ path: "/x" }).decision, "allow");
  assert.equal(compileBundle(b1, { keys: jwks, afterRevision: 1 }).error.path, "bundle.stale_revision");
  const parts = b2.split(".");
  const forged = [parts[0], Buffer.from(JSON.stringify({ kind: "policy", revision: 3, document: { authorizationPolicies: [{ name: "open", rules: [{}] }] } })).toString("base64url"), parts[2]].join(".");
  assert.equal(compileBundle(forged, { keys: jwks }).error.path, "bundle.bad_signature");

  // The origin serves b1, then 304, then a forged bundle, then b1 again (a replay once b2 is
  // installed), then b2.
  const served = [
    { status: 200, body: b1, etag: '"1"' },
    { status: 304 },
    { status: 200, body: forged, etag: '"f"' },
    { status: 200, body: b2, etag: '"2"' },
    { status: 200, body: b1, etag: '"1"' },
    { status: 503 },
  ];
  const asked = [];
  const src = bundleSource({
    url: "https://bundles.example/app.bundle",
    keys: jwks,
    fetch: async (url, { etag }) => {
      asked.push([url, etag ?? null]);
      return served.shift();
    },
  });
  assert.equal(src.ok, true);
  const s = src.source;
  assert.equal(s.engine(), undefined);
  assert.deepEqual(await s.refresh(), { ok: true, changed: true, error: null });
  assert.equal(s.engine().decide({ path: "/admin/x" }).decision, "allow");
  assert.deepEqual(await s.refresh(), { ok: true, changed: false, error: null });
  const refused = await s.refresh();
  assert.equal(refused.ok, false);
  assert.match(refused.error, /\[bad_signature\]/);
  assert.equal(s.stats().revision, 1, "the last good bundle stays");
  assert.deepEqual(await s.refresh(), { ok: true, changed: true, error: null });
  assert.equal(s.engine().decide({ path: "/x" }).decision, "deny");
  assert.equal(s.engine().decide({ path: "/admin/x" }).decision, "allow");
  const replay = await s.refresh();
  assert.match(replay.error, /\[stale_revision\]/);
  assert.match((await s.refresh()).error, /status 503/);
  const st = s.stats();
  assert.equal(st.revision, 2);
  assert.equal(st.kid, "ops-1");
  assert.equal(st.refused, 3);
  assert.equal(st.unchanged, 1);
  // Conditional requests: the ETag of the installed bundle is sent back.
  assert.deepEqual(asked.map((a) => a[1]), [null, '"1"', '"1"', '"1"', '"2"', '"2"']);
  assert.equal(bundleSource({ url: "x", keys: jwks }).error.path, "options.fetch");
  assert.equal(bundleSource({ url: "x", keys: { keys: [] }, fetch: async () => ({}) }).error.path, "keys");
});

test("policy errors come back as data with a JSON path", () => {
  const syntax = compile("{");
  assert.equal(syntax.ok, false);
  assert.equal(syntax.error.code, "syntax");
  const bad = compile({ authorizationPolicies: [{ name: "x", action: "MAYBE" }] });
  assert.deepEqual(Object.keys(bad.error).sort(), ["code", "message", "path"]);
  assert.equal(bad.error.path, "authorizationPolicies[0].action");
  assert.equal(compile(undefined).error.code, "missing");
  assert.equal(compile({}, { tokenCacheSize: -1 }).error.path, "options.tokenCacheSize");
  assert.equal(compile({}, { fetchJwks: 42 }).error.path, "options.fetchJwks");
  assert.equal(compile({}, { other: 1 }).error.code, "unknown_field");
});

test("a request or options it cannot read is a denial carrying the error", () => {
  const { engine } = compile({ defaultAction: "ALLOW" });
  const d = engine.decide({ method: "GET", headers: { "bad name": "x" } });
  assert.equal(d.decision, "deny");
  assert.equal(d.status, 400);
  assert.equal(d.code, "invalid_request");
  assert.equal(d.error.path, "headers.bad name");
  const o = engine.decide({ method: "GET" }, { now: Date.now() });
  assert.equal(o.status, 500);
  assert.equal(o.error.path, "options.now");
  assert.equal(engine.decide({ method: "GET" }, { state: { rate: "x" } }).status, 500);
  assert.equal(engine.decide({ path: "/" }).decision, "allow");
});

test("feed snapshots in state: network lists and risk labels, where the policy has the feeds", () => {
  const policy = (feeds) => ({
    network: { lists: { blocked: [] }, ...(feeds ? { feed: { uri: "https://feeds.example/n" } } : {}) },
    ...(feeds ? { riskLabels: { feed: { uri: "https://feeds.example/l" } } } : {}),
    authorizationPolicies: [
      { name: "blocked", action: "DENY", rules: [{ when: [{ key: "network.list[blocked]", values: ["true"] }] }] },
      { name: "flagged", action: "DENY", rules: [{ when: [{ key: "subject.labels", values: ["compromised"] }] }] },
      { name: "any", rules: [{}] },
    ],
  });
  const state = {
    networkLists: { lists: { blocked: ["203.0.113.0/24"] } },
    riskLabels: { labels: [{ principal: "cluster.local/ns/ci/sa/runner", labels: ["compromised"] }] },
  };
  const req = (address, principal) => ({ method: "GET", path: "/x", host: "h", source: { address, principal } });
  const { engine } = compile(policy(true));
  assert.equal(engine.decide(req("203.0.113.9"), { state }).policy, "blocked");
  assert.equal(engine.decide(req("192.0.2.1", "spiffe://cluster.local/ns/ci/sa/runner"), { state }).policy, "flagged");
  assert.equal(engine.decide(req("192.0.2.1"), { state }).decision, "allow");
  // Without the feeds in the policy, the snapshots are not read.
  const { engine: plain } = compile(policy(false));
  assert.equal(plain.decide(req("203.0.113.9", "spiffe://cluster.local/ns/ci/sa/runner"), { state }).decision, "allow");
  const bad = engine.decide(req("192.0.2.1"), { state: { networkLists: { lists: { blocked: ["10.0.0.0/33"] } } } });
  assert.equal(bad.status, 500);
  assert.equal(bad.error.path, "options.state.networkLists.lists.blocked[0]");
});

// The .d.ts declares the shapes; real outputs must have exactly those fields.
function declaredFields(dts, name) {
  const m = dts.match(new RegExp(`export interface ${name} \\{([\\s\\S]*?)\\n\\}`));
  assert.ok(m, `interface ${name} in vigil.d.ts`);
  const body = m[1].replace(/\/\*\*[\s\S]*?\*\//g, "");
  const fields = [];
  let depth = 0;
  for (const line of body.split("\n")) {
    const f = depth === 0 && line.match(/^\s+(\w+)(\?)?:/);
    if (f) fields.push([f[1], f[2] === "?"]);
    depth += (line.match(/[{(]/g) || []).length - (line.match(/[})]/g) || []).length;
  }
  return fields;
}

function checkShape(dts, name, value) {
  const fields = declaredFields(dts, name);
  const names = fields.map(([f]) => f);
  for (const k of Object.keys(value)) assert.ok(names.includes(k), `${name}.${k} is not declared`);
  for (const [f, optional] of fields) if (!optional) assert.ok(f in value, `${name}.${f} is missing`);
}

test("the .d.ts matches real outputs", () => {
  for (const target of ["nodejs", "web"]) {
    const dts = fs.readFileSync(path.join(root, "dist/js", target, "vigil.d.ts"), "utf8");
    for (const decl of ["interface Decision", "type CompileResult", "class Engine", "function compile"]) {
      assert.ok(dts.includes(decl), `${target}: ${decl}`);
    }
    assert.match(dts, /decide\(request: CheckRequest, options\?: DecideOptions \| null\): Decision;/);
    const policy = JSON.parse(fs.readFileSync(path.join(root, "examples/policies/step-up.policy.json"), "utf8"));
    const { engine } = compile(policy);
    const d = engine.decide({ method: "GET", path: "/", host: "x" }, { now: 1700000000 });
    checkShape(dts, "Decision", d);
    const bad = engine.decide({ headers: { "": "x" } });
    checkShape(dts, "Decision", bad);
    checkShape(dts, "VigilError", bad.error);
    const ex = engine.explain({ method: "GET", path: "/", host: "x" }, { now: 1700000000 });
    checkShape(dts, "Explanation", ex);
    for (const s of ex.trace) checkShape(dts, "TraceStep", s);
    for (const l of compile({ mode: "dry_run" }).engine.check()) checkShape(dts, "Lint", l);
    checkShape(dts, "EngineStats", engine.stats());
  }
});

test("explain and check", () => {
  const { engine } = compile({ mode: "dry_run", authorizationPolicies: [] });
  const ex = engine.explain({ method: "GET", path: "/", host: "x" }, { now: 1700000000 });
  assert.equal(ex.decision.dryRun, true);
  assert.ok(ex.trace.length > 0);
  assert.ok(engine.check().some((l) => l.code === "dry_run" && l.level === "info"));
});

const ISSUER = "https://idp.vigil.test";
const jwks = JSON.parse(fixtures("jwks"));
const token = (...extra) => fixtures("token", "--now", String(Math.floor(Date.now() / 1000)), ...extra);
const remotePolicy = {
  jwtRules: [{ issuer: ISSUER, audiences: ["api"], algorithms: ["RS256", "ES256", "EdDSA"], jwksUri: `${ISSUER}/jwks`, jwksCache: { refetchCooldownSeconds: 60 } }],
  authorizationPolicies: [{ name: "any-user", action: "ALLOW", rules: [{ from: [{ source: { requestPrincipals: ["*"] } }] }] }],
};
const bearer = (t) => ({ method: "GET", path: "/", host: "api", headers: { authorization: `Bearer ${t}` } });

test("setJwks: keys parsed once, errors as data, last set kept", () => {
  const { engine } = compile(remotePolicy);
  const t = token("--alg", "ES256");
  assert.equal(engine.decide(bearer(t)).status, 503, "no keys yet: keys_unavailable");
  assert.equal(engine.setJwks("https://other", jwks).error.path, "issuer");
  assert.equal(engine.setJwks(ISSUER, "{").error.code, "syntax");
  const ok = engine.setJwks(ISSUER, jwks);
  assert.deepEqual(ok, { ok: true, keys: jwks.keys.length });
  assert.equal(engine.decide(bearer(t)).decision, "allow");
  assert.equal(engine.setJwks(ISSUER, { keys: [] }).ok, false);
  assert.equal(engine.decide(bearer(t)).decision, "allow", "the last good set stays");
  const s = engine.stats();
  assert.equal(s.tokenCache.size, 1);
  assert.ok(s.tokenCache.hits >= 1);
});

test("decideAsync: single flight, unknown-kid refetch once per cooldown, last good set kept", async () => {
  const renamed = { keys: jwks.keys.map((k) => ({ ...k, kid: `old-${k.kid}` })) };
  let served = renamed;
  const calls = [];
  let failing = false;
  const { engine } = compile(remotePolicy, {
    fetchJwks: async (url, issuer) => {
      calls.push([url, issuer]);
      await new Promise((r) => setTimeout(r, 20));
      if (failing) throw new Error("idp down");
      return JSON.stringify(served);
    },
  });
  const t = token("--alg", "EdDSA");
  // Five concurrent first requests: one fetch. The kid is not in the served set: one refetch.
  const first = await Promise.all([1, 2, 3, 4, 5].map(() => engine.decideAsync(bearer(t))));
  assert.deepEqual(calls[0], [`${ISSUER}/jwks`, ISSUER]);
  assert.equal(calls.length, 2, `fetches: ${JSON.stringify(calls)}`);
  for (const d of first) assert.equal(d.status, 401);
  assert.match(first[0].responseHeaders["www-authenticate"], /invalid_token/);
  // Within the cooldown an unknown kid does not fetch again.
  served = jwks;
  assert.equal((await engine.decideAsync(bearer(t))).status, 401);
  assert.equal(calls.length, 2);
  // refreshKeys fetches now: the rotated set is used.
  assert.deepEqual(await engine.refreshKeys(), [{ issuer: ISSUER, ok: true, error: null }]);
  assert.equal((await engine.decideAsync(bearer(t))).decision, "allow");
  // A failing IdP changes nothing.
  failing = true;
  const [r] = await engine.refreshKeys();
  assert.equal(r.ok, false);
  assert.equal(r.error, "idp down");
  assert.equal((await engine.decideAsync(bearer(token("--alg", "RS256")))).decision, "allow");
  assert.equal(engine.stats().keySets[0].lastError, "idp down");
});

test("decideAsync without a callback, and a callback that returns garbage", async () => {
  const plain = compile(remotePolicy).engine;
  assert.equal((await plain.decideAsync(bearer(token()))).status, 503);
  const garbage = compile(remotePolicy, { fetchJwks: () => "not json" }).engine;
  const d = await garbage.decideAsync(bearer(token()));
  assert.equal(d.status, 503);
  assert.match(garbage.stats().keySets[0].lastError, /invalid key set/);
});

(async () => {
  let n = 0;
  for (const [name, fn] of tests) {
    try {
      await fn();
      n++;
      console.log(`ok   ${name}`);
    } catch (e) {
      console.log(`FAIL ${name}\n${e.stack}`);
      process.exit(1);
    }
  }
  console.log(`${n} passed`);
})();
