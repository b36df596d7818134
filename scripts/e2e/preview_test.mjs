#!/usr/bin/env node
// End-to-end test of the browser policy preview in a real Chromium (Debian `chromium`, driven
// by npm playwright-core): serves dist/preview (built by scripts/build) from 127.0.0.1, loads
// the page, and checks that the decision, status, response headers, trust score, trace and
// inline policy errors follow what is typed; that the URL fragment restores the whole state;
// and that nothing is logged to the console as an error. Saves screenshots to
// $VIGIL_ARTIFACTS (default target/artifacts)/preview-*.png and prints their paths.
// Prints one line per check and `N passed, N failed`; exits 1 when a check fails.
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const site = path.join(root, "dist/preview");
const artifacts = path.resolve(root, process.env.VIGIL_ARTIFACTS ?? path.join(process.env.CARGO_TARGET_DIR ?? "target", "artifacts"));
const CHROMIUM = process.env.VIGIL_CHROMIUM ?? "/usr/bin/chromium";
const TIMEOUT_MS = 15000;

const results = [];
function check(name, ok, detail = "") {
  results.push({ name, ok: !!ok });
  console.log(`${ok ? "ok  " : "FAIL"} ${name}${ok || !detail ? "" : `: ${detail}`}`);
}

// ------------------------------------------------------------------ static server

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".ts": "text/plain; charset=utf-8",
};

function serve(dir) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://127.0.0.1");
    const rel = decodeURIComponent(url.pathname).replace(/^\/+/, "") || "index.html";
    const file = path.resolve(dir, rel);
    if (!file.startsWith(dir + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404).end("not found");
      return;
    }
    res.writeHead(200, { "content-type": TYPES[path.extname(file)] ?? "application/octet-stream", "cache-control": "no-store" });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

// ------------------------------------------------------------------ page helpers

const text = (page, sel) => page.locator(sel).innerText();

/** Waits until the decision panel shows `decision` and `status`; returns what it shows. */
async function expectDecision(page, name, decision, status) {
  try {
    await page.waitForFunction(
      ([d, s]) => document.getElementById("decision").textContent === d && document.getElementById("status").textContent === s,
      [decision, String(status)],
      { timeout: TIMEOUT_MS },
    );
    check(name, true);
  } catch {
    check(name, false, `shows ${await text(page, "#decision")} ${await text(page, "#status")} (${await text(page, "#reason")}), expected ${decision} ${status}`);
  }
}

async function shot(page, name) {
  const file = path.join(artifacts, `preview-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`screenshot: ${file}`);
  return file;
}

async function openPage(context, url, consoleErrors) {
  const page = await context.newPage();
  await page.setViewportSize({ width: 1440, height: 1300 });
  page.on("console", (m) => {
    if (m.type() === "error") consoleErrors.push(`${url}: console: ${m.text()}`);
  });
  page.on("pageerror", (e) => consoleErrors.push(`${url}: page error: ${e.message}`));
  page.on("response", (r) => {
    if (r.status() >= 400) consoleErrors.push(`${url}: HTTP ${r.status()} for ${r.url()}`);
  });
  await page.goto(url);
  await page.waitForSelector("body[data-ready=true]", { timeout: TIMEOUT_MS });
  return page;
}

/** 1-based line of the first occurrence of `needle` in `text`. */
function lineOf(textValue, needle) {
  const at = textValue.indexOf(needle);
  if (at < 0) throw new Error(`\`${needle}\` not in the policy`);
  return textValue.slice(0, at).split("\n").length;
}

// ------------------------------------------------------------------ the scenarios

async function run(base, context, consoleErrors) {
  const samples = JSON.parse(fs.readFileSync(path.join(site, "samples.json"), "utf8")).samples;
  const sample = (name) => samples.find((s) => s.name === name);
  const page = await openPage(context, `${base}/`, consoleErrors);

  check("the sample list holds every example policy", (await page.locator("#sample option").count()) === samples.length + 1);

  // 1. payment: allow, then change the request: deny 403, then 400 for an encoded slash.
  await page.selectOption("#sample", "payment");
  await page.selectOption("#sample-request", { label: "the frontend may POST to /checkout/*" });
  await expectDecision(page, "payment: the frontend's POST is allowed", "allow", 200);
  check("payment: the deciding policy is shown", (await text(page, "#facts")).includes("frontend-checkout, rule 0"));
  check("payment: the test file's expectation is met", (await text(page, "#expected")).startsWith("✓"));
  check("payment: the trace ends with the matching ALLOW rule", /✓\s*matched\s*allow\s*frontend-checkout rule 0/.test(await text(page, "#trace")));
  await shot(page, "allow");
  await page.fill("#path", "/admin/keys");
  await expectDecision(page, "payment: changing the path to /admin/keys denies (403)", "deny", 403);
  check("payment: code no_matching_policy", (await text(page, "#code")) === "no_matching_policy");
  check("payment: the expectation is hidden once the request is edited", (await text(page, "#expected")) === "");
  await page.fill("#path", "/checkout/42");
  await expectDecision(page, "payment: back to /checkout/42 allows again", "allow", 200);
  await page.fill("#method", "GET");
  await expectDecision(page, "payment: GET instead of POST denies (403)", "deny", 403);
  check("payment: the trace names the failing clause", (await text(page, "#trace")).includes("methods did not match GET"));
  await page.fill("#method", "POST");
  await page.fill("#path", "/checkout%2F42");
  await expectDecision(page, "payment: an encoded slash is refused (400)", "deny", 400);
  check("payment: the reason quotes the path", (await text(page, "#reason")).includes("/checkout%2F42"));
  await page.fill("#principal", "spiffe://cluster.local/ns/production/sa/other");
  await page.fill("#path", "/checkout/42");
  await expectDecision(page, "payment: another source principal is denied (403)", "deny", 403);

  // Layout: a changing decision moves neither the editor nor the request form.
  const boxes = async () => JSON.stringify(await page.evaluate(() => ["policy", "path", "jwt", "time"].map((id) => {
    const r = document.getElementById(id).getBoundingClientRect();
    return [Math.round(r.x), Math.round(r.y), Math.round(r.width), Math.round(r.height)];
  })));
  const before = await boxes();
  await page.fill("#path", "/checkout/x/../../admin");
  await expectDecision(page, "payment: a dot-segment path to /admin is denied (403)", "deny", 403);
  check("layout: the editor and the form stay where they were when the decision changes", before === (await boxes()), `${before} → ${await boxes()}`);
  await page.fill("#path", "/checkout/42");

  // Keyboard: Tab indents in the editor; Escape then Tab moves on to the next control.
  await page.focus("#policy");
  await page.evaluate(() => document.getElementById("policy").setSelectionRange(0, 0));
  await page.keyboard.press("Tab");
  check("keyboard: Tab in the editor indents", (await page.inputValue("#policy")).startsWith("  {"));
  await page.keyboard.press("Control+z");
  await page.keyboard.press("Escape");
  await page.keyboard.press("Tab");
  check("keyboard: Escape then Tab leaves the editor", await page.evaluate(() => document.activeElement?.id !== "policy" && document.activeElement !== document.body));
  check("keyboard: undo restores the text", (await page.inputValue("#policy")).startsWith("{"));

  // Review: no edits yet; the sample's tests cover its policy; widening the principal to the
  // namespace shows a newly allowed region whose witness, tried, is allowed.
  await page.waitForFunction(() => document.getElementById("diff-summary").textContent.startsWith("No edits"), null, { timeout: TIMEOUT_MS });
  check("review: an unedited sample has no changes", (await text(page, "#diff-summary")).startsWith("No edits"));
  check("review: the sample's tests give its coverage", /\d+ test requests · coverage: 1\/1 policies, 1\/1 rules/.test(await text(page, "#coverage-summary")), await text(page, "#coverage-summary"));
  const original = await page.inputValue("#policy");
  await page.fill("#policy", original.replace('"principals": ["cluster.local/ns/production/sa/frontend"]', '"namespaces": ["production"]'));
  await page.waitForFunction(() => /newly allowed/.test(document.getElementById("diff-summary").textContent), null, { timeout: TIMEOUT_MS });
  const diffText = await text(page, "#diff-list");
  check("review: widening to the namespace is a newly allowed region with a witness", /\+ newly allowed\s*POST \/checkout\/\S*, peer spiffe:\/\/cluster\.local\/ns\/production\/sa\//.test(diffText), diffText);
  check("review: the witness's decisions are shown", /before: deny 403 no_matching_policy → after: allow 200 allowed_by_policy by frontend-checkout/.test(diffText), diffText);
  await page.locator("#review-title").scrollIntoViewIfNeeded();
  await shot(page, "review");
  await page.click("#diff-list li button");
  await expectDecision(page, "review: the witness, tried, is allowed by the edited policy", "allow", 200);
  await page.fill("#policy", original);
  await page.waitForFunction(() => document.getElementById("diff-summary").textContent.startsWith("No edits"), null, { timeout: TIMEOUT_MS });

  // 2. app-authz: a role claim. The editor's token allows the update; pasting the viewer's
  //    token (role viewer) into the JWT field denies it.
  await page.selectOption("#sample", "app-authz");
  await page.selectOption("#sample-request", { label: "an editor with MFA may update" });
  await expectDecision(page, "app-authz: an editor with MFA may update", "allow", 200);
  check("app-authz: the decoded claims show the role", /roles\s*\["editor"\]/.test(await text(page, "#jwt-claims")));
  check("app-authz: upstream identity header from the token", (await text(page, "#upstream-headers")).includes("x-user"));
  const viewer = sample("app-authz").requests.find((r) => r.name === "a viewer with MFA may not create");
  const viewerToken = /^Bearer (.+)$/.exec(viewer.request.headers.authorization)[1];
  await page.fill("#jwt", viewerToken);
  await expectDecision(page, "app-authz: the same update with a viewer's token is denied", "deny", 403);
  check("app-authz: the decoded claims now show the viewer role", /roles\s*\["viewer"\]/.test(await text(page, "#jwt-claims")));
  await page.fill("#jwt", "");
  await expectDecision(page, "app-authz: no token at all: 401", "unauthenticated", 401);
  check("app-authz: WWW-Authenticate without an error code", /www-authenticate\s+Bearer realm="[^"]*"$/m.test(await text(page, "#response-headers")));

  // 3. step-up (RFC 9470): a password token on the OTP dashboard; moving to the public
  //    reports, which a password satisfies, allows.
  await page.selectOption("#sample", "step-up");
  await page.selectOption("#sample-request", { label: "password on internal_dashboard: step up to OTP" });
  await expectDecision(page, "step-up: a password on internal_dashboard asks for a step-up (401)", "step_up", 401);
  check("step-up: the challenge names acr_values", /www-authenticate.*insufficient_user_authentication.*acr_values="otp fido2"/s.test(await text(page, "#response-headers")));
  check("step-up: the resource is shown", (await text(page, "#facts")).includes("internal_dashboard (internal)"));
  await shot(page, "step-up");
  await page.fill("#path", "/reports/2023");
  await expectDecision(page, "step-up: the same token on /reports/2023 is allowed", "allow", 200);

  // 4. containment: trust score and named risks from a behaviour signal in the adapter state.
  await page.selectOption("#sample", "containment");
  await page.selectOption("#sample-request", { label: "stolen password, unmanaged device, new country: the step-up the attacker cannot pass" });
  await expectDecision(page, "containment: low trust asks for a step-up", "step_up", 401);
  const trust = await text(page, "#trust");
  check("containment: the trust score and minimum are shown", /10\s*\/ minimum 70/.test(trust), trust);
  check("containment: the named risks are listed", trust.includes("unmanaged_device") && trust.includes("new_location"), trust);
  await shot(page, "trust");
  await page.fill("#state", "");
  await page.waitForFunction(() => !document.getElementById("trust").innerText.includes("new_location"), null, { timeout: TIMEOUT_MS }).then(
    () => check("containment: without the new-country signal the risk is gone", true),
    async () => check("containment: without the new-country signal the risk is gone", false, await text(page, "#trust")),
  );

  // 4b. Key sets: an issuer whose keys are fetched (`jwksUri`) has none in the page (503)
  //     until its JWKS is pasted (engine.setJwks).
  await page.selectOption("#sample", "validate-token");
  const tokenCase = sample("validate-token").requests.find((r) => r.expect.decision === "allow");
  await page.selectOption("#sample-request", { label: tokenCase.name });
  await expectDecision(page, "validate-token: the sample's token is allowed (inline jwks)", "allow", 200);
  const vtPolicy = JSON.parse(sample("validate-token").policy);
  const jwks = vtPolicy.jwtRules[0].jwks;
  delete vtPolicy.jwtRules[0].jwks;
  vtPolicy.jwtRules[0].jwksUri = "https://idp.vigil.test/jwks";
  await page.fill("#policy", JSON.stringify(vtPolicy, null, 2));
  await expectDecision(page, "validate-token: with jwksUri and no key set: 503", "deny", 503);
  check("validate-token: code keys_unavailable", (await text(page, "#code")) === "keys_unavailable");
  await page.click("#jwks-box summary");
  await page.fill("#jwks-issuer", "https://idp.vigil.test/other");
  await page.fill("#jwks", typeof jwks === "string" ? jwks : JSON.stringify(jwks));
  await page.waitForFunction(() => document.getElementById("jwks-error").textContent !== "", null, { timeout: TIMEOUT_MS }).catch(() => {});
  check("key set: an issuer the policy does not have is refused", (await text(page, "#jwks-error")).includes("no `jwtRules` item has the issuer"), await text(page, "#jwks-error"));
  await page.fill("#jwks-issuer", "https://idp.vigil.test");
  await expectDecision(page, "key set: the pasted JWKS verifies the token", "allow", 200);
  check("key set: no error shown", (await text(page, "#jwks-error")) === "");

  // 5. An invalid policy: the error is marked inline on the line of the offending key.
  await page.selectOption("#sample", "payment");
  await expectDecision(page, "payment again: allowed", "allow", 200);
  const policy = await page.inputValue("#policy");
  const broken = policy.replace('"principals"', '"principles"');
  const badLine = lineOf(broken, '"principles"');
  await page.fill("#policy", broken);
  await page.waitForFunction(() => document.getElementById("policy-state").textContent === "invalid", null, { timeout: TIMEOUT_MS }).catch(() => {});
  check("invalid policy: the state says invalid", (await text(page, "#policy-state")) === "invalid");
  const problem = await text(page, "#problems li.error");
  check(`invalid policy: the error names line ${badLine}`, problem.includes(`line ${badLine},`), problem);
  check("invalid policy: the error has the JSON path and the suggestion", problem.includes("authorizationPolicies[1].rules[0].from[0].source.principles") && problem.includes("did you mean principals"), problem);
  const gutter = await page.locator(".gutter .gl.error").allInnerTexts();
  check(`invalid policy: the gutter marks line ${badLine} and only it`, gutter.length === 1 && gutter[0] === String(badLine), JSON.stringify(gutter));
  const lens = await page.locator(".backdrop .ln").nth(badLine - 1).locator(".lens").innerText().catch(() => "");
  check("invalid policy: the message is shown on that line", lens.includes("unknown field `principles`"), lens);
  const marked = await page.locator(".backdrop .ln").nth(badLine - 1).locator("mark.error").innerText().catch(() => "");
  check("invalid policy: the key itself is underlined", marked === '"principles"', marked);
  check("invalid policy: no decision is made", (await text(page, "#decision")) === "no decision");
  check("invalid policy: the textarea is aria-invalid", (await page.getAttribute("#policy", "aria-invalid")) === "true");
  await shot(page, "invalid");
  // Going to the error by keyboard: the problem's button puts the cursor on the key.
  await page.locator("#problems li.error button").focus();
  await page.keyboard.press("Enter");
  const sel = await page.evaluate(() => {
    const ta = document.getElementById("policy");
    return { focused: document.activeElement === ta, text: ta.value.slice(ta.selectionStart, ta.selectionEnd) };
  });
  check("invalid policy: the problem's button selects the key in the editor", sel.focused && sel.text === '"principles"', JSON.stringify(sel));

  // A syntax error (a missing comma) is placed by the engine's byte offset.
  const noComma = policy.replace('"action": "ALLOW",', '"action": "ALLOW"');
  const commaLine = lineOf(noComma, '"action": "ALLOW"') + 1;
  await page.fill("#policy", noComma);
  await page.waitForFunction(() => document.querySelector("#problems li.error code")?.textContent === "syntax", null, { timeout: TIMEOUT_MS }).catch(() => {});
  const syntax = await text(page, "#problems li.error").catch(() => "");
  check(`syntax error: marked at line ${commaLine}`, syntax.includes(`line ${commaLine},`) && syntax.includes("syntax"), syntax);

  // Fixed again: the decision comes back.
  await page.fill("#policy", policy);
  await expectDecision(page, "fixed policy: the decision comes back", "allow", 200);

  // 6. Schema hints follow the cursor.
  const at = policy.indexOf('"methods"');
  await page.evaluate((offset) => {
    const ta = document.getElementById("policy");
    ta.focus();
    ta.setSelectionRange(offset, offset);
    ta.dispatchEvent(new KeyboardEvent("keyup", { key: "ArrowRight" }));
  }, at);
  const hint = await text(page, "#hint");
  check("hints: the operation's fields are listed", hint.includes("notMethods") && hint.includes("paths") && hint.includes("hosts"), hint);
  await page.locator("#hint button.insert", { hasText: "notPaths" }).click();
  const inserted = await page.inputValue("#policy");
  check("hints: a field's button inserts it at the cursor", inserted.slice(at).startsWith('"notPaths": "methods"'), inserted.slice(at - 10, at + 30));
  await page.fill("#policy", policy);

  // 7. The URL fragment: edit, reload from the link in a new page, same state and decision.
  await page.fill("#path", "/checkout/7");
  await page.click("#add-header");
  await page.locator("#headers .header-row").last().locator(".h-name").fill("x-trace");
  await page.locator("#headers .header-row").last().locator(".h-value").fill("abc");
  await page.fill("#method", "PUT");
  await expectDecision(page, "share: PUT is denied before sharing", "deny", 403);
  await page.waitForFunction(() => location.hash.startsWith("#z="), null, { timeout: TIMEOUT_MS });
  // The fragment is written a moment after the last change: wait until it stays the same.
  let link = page.url();
  for (let tries = 0; tries < 20; tries++) {
    await page.waitForTimeout(400);
    if (page.url() === link) break;
    link = page.url();
  }
  const page2 = await openPage(context, link, consoleErrors);
  await expectDecision(page2, "share: the link restores the decision", "deny", 403);
  check("share: the link restores the policy text", (await page2.inputValue("#policy")) === (await page.inputValue("#policy")));
  check("share: the link restores the request", (await page2.inputValue("#path")) === "/checkout/7" && (await page2.inputValue("#method")) === "PUT");
  check("share: the link restores the header rows", (await page2.locator("#headers .h-name").last().inputValue()) === "x-trace" && (await page2.locator("#headers .h-value").last().inputValue()) === "abc");
  check("share: the link restores the sample choice", (await page2.inputValue("#sample")) === "payment");
  check("share: the fragment is compressed and small", link.length < 2000, `${link.length} characters`);
  await shot(page2, "restored");
  await page2.close();

  // 8. Layout: nothing overflows the viewport horizontally at desktop and narrow widths.
  for (const width of [1440, 1024, 700]) {
    await page.setViewportSize({ width, height: 900 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    check(`layout at ${width}px: no horizontal page scroll`, overflow <= 0, `${overflow}px too wide`);
  }
  await shot(page, "narrow");
  await page.close();
}

async function main() {
  if (!fs.existsSync(path.join(site, "index.html"))) {
    console.error("preview_test: dist/preview is missing: run scripts/build first");
    process.exit(2);
  }
  if (!fs.existsSync(CHROMIUM)) {
    console.error(`preview_test: ${CHROMIUM} is missing: scripts/setup installs Debian chromium`);
    process.exit(2);
  }
  fs.mkdirSync(artifacts, { recursive: true });
  const server = await serve(site);
  const base = `http://127.0.0.1:${server.address().port}`;
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "vigil-chromium-"));
  const consoleErrors = [];
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    console.log(`serving ${site} at ${base}; ${CHROMIUM} ${context.browser()?.version() ?? ""}`);
    await run(base, context, consoleErrors);
  } catch (e) {
    check("the test ran to the end", false, e.stack ?? String(e));
  } finally {
    await context?.close();
    server.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  check("no console errors, page errors or failed requests", consoleErrors.length === 0, consoleErrors.join("\n"));
  const failed = results.filter((r) => !r.ok).length;
  console.log(`${results.length - failed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main();
