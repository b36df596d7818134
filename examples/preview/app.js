// The Vigil policy preview: a policy editor, a request builder and the engine's decision with
// its explanation, recomputed as you type. Everything runs in the page (the engine is the
// wasm-bindgen build of policy-core); the state lives in the URL fragment.

import { Editor } from "./editor.js";
import { charOffsetOfByte, containerAt, joinKey, lineCol, mapJson, rangeForPath } from "./jsonmap.js";
import { allowedValues, describe, fieldsAt, schemaAt } from "./schema.js";
import { decodeState, encodeState } from "./share.js";
import { loadVigil } from "./vigil.js";

const $ = (id) => document.getElementById(id);
const DEBOUNCE_MS = 150;

const ui = {
  sample: $("sample"),
  sampleRequest: $("sample-request"),
  share: $("share"),
  shareStatus: $("share-status"),
  policyState: $("policy-state"),
  problems: $("problems"),
  hint: $("hint"),
  method: $("method"),
  path: $("path"),
  host: $("host"),
  scheme: $("scheme"),
  headers: $("headers"),
  addHeader: $("add-header"),
  jwt: $("jwt"),
  jwtClaims: $("jwt-claims"),
  principal: $("principal"),
  address: $("address"),
  time: $("time"),
  now: $("now"),
  timeHuman: $("time-human"),
  state: $("state"),
  stateError: $("state-error"),
  jwksBox: $("jwks-box"),
  jwksIssuer: $("jwks-issuer"),
  jwks: $("jwks"),
  jwksError: $("jwks-error"),
  verdict: $("verdict"),
  decision: $("decision"),
  status: $("status"),
  code: $("code"),
  reason: $("reason"),
  expected: $("expected"),
  facts: $("facts"),
  trust: $("trust"),
  responseHeaders: $("response-headers"),
  upstreamHeaders: $("upstream-headers"),
  trace: $("trace"),
  raw: $("raw"),
};

const editor = new Editor($("editor"), $("policy"));

let vigil = null; // the loaded module
let schema = null; // docs/policy.schema.json
let samples = []; // samples.json
let compiled = { text: null, engine: null, error: null, lints: [] };
let jwksApplied = { engine: null, key: "" };
let expectation = null; // { snapshot, expect } of the loaded sample request
let timer = 0;
let hashTimer = 0;
let restoring = false;

// ---------------------------------------------------------------- request form

function headerRow(name = "", value = "") {
  const row = document.createElement("div");
  row.className = "header-row";
  const n = document.createElement("input");
  const v = document.createElement("input");
  const del = document.createElement("button");
  const idx = ui.headers.children.length + 1;
  n.value = name;
  v.value = value;
  n.spellcheck = v.spellcheck = false;
  n.placeholder = "name";
  v.placeholder = "value";
  n.className = "h-name";
  v.className = "h-value";
  n.setAttribute("aria-label", `Header ${idx} name`);
  v.setAttribute("aria-label", `Header ${idx} value`);
  del.type = "button";
  del.className = "small remove";
  del.textContent = "Remove";
  del.setAttribute("aria-label", `Remove header ${idx}`);
  del.addEventListener("click", () => {
    const next = row.nextElementSibling || row.previousElementSibling;
    row.remove();
    relabelHeaders();
    (next?.querySelector("input") || ui.addHeader).focus();
    schedule();
  });
  row.append(n, v, del);
  return row;
}

function relabelHeaders() {
  [...ui.headers.children].forEach((row, i) => {
    const [n, v, del] = row.children;
    n.setAttribute("aria-label", `Header ${i + 1} name`);
    v.setAttribute("aria-label", `Header ${i + 1} value`);
    del.setAttribute("aria-label", `Remove header ${i + 1}`);
  });
}

function setHeaders(pairs) {
  ui.headers.replaceChildren(...pairs.map(([n, v]) => headerRow(n, v)));
  relabelHeaders();
}

function headerPairs() {
  return [...ui.headers.children]
    .map((row) => [row.children[0].value.trim(), row.children[1].value])
    .filter(([n]) => n !== "");
}

/** The form as plain data (what the URL fragment keeps). */
function formState() {
  return {
    method: ui.method.value,
    path: ui.path.value,
    host: ui.host.value,
    scheme: ui.scheme.value,
    headers: headerPairs(),
    jwt: ui.jwt.value.trim(),
    principal: ui.principal.value,
    address: ui.address.value,
    time: ui.time.value.trim(),
    state: ui.state.value,
  };
}

function setForm(f) {
  ui.method.value = f.method ?? "GET";
  ui.path.value = f.path ?? "/";
  ui.host.value = f.host ?? "";
  ui.scheme.value = f.scheme ?? "";
  setHeaders(f.headers ?? []);
  ui.jwt.value = f.jwt ?? "";
  ui.principal.value = f.principal ?? "";
  ui.address.value = f.address ?? "";
  ui.time.value = f.time ?? "";
  ui.state.value = f.state ?? "";
  if (ui.state.value) ui.state.closest("details").open = true;
}

/** A check request (test-file shape) → form data. */
function formFromRequest(req, time, state) {
  const pairs = [];
  let jwt = "";
  for (const [name, value] of Object.entries(req.headers ?? {})) {
    for (const v of Array.isArray(value) ? value : [value]) {
      const m = /^Bearer\s+(\S+)$/i.exec(v);
      if (name.toLowerCase() === "authorization" && m && !jwt) jwt = m[1];
      else pairs.push([name, v]);
    }
  }
  return {
    method: req.method ?? "GET",
    path: req.path ?? "/",
    host: req.host ?? "",
    scheme: req.scheme ?? "",
    headers: pairs,
    jwt,
    principal: req.source?.principal ?? "",
    address: req.source?.address ?? "",
    time: time != null ? String(time) : req.time != null ? String(req.time) : "",
    state: state ? JSON.stringify(state) : "",
  };
}

/** Form data → { request, now, state } for the engine, or { error } naming the bad field. */
function requestFromForm(f) {
  const headers = {};
  const add = (name, value) => {
    const key = name.toLowerCase();
    if (key in headers) headers[key] = [].concat(headers[key], value);
    else headers[key] = value;
  };
  for (const [n, v] of f.headers) add(n, v);
  if (f.jwt) add("authorization", `Bearer ${f.jwt}`);
  const request = { method: f.method, path: f.path, headers };
  if (f.host) request.host = f.host;
  if (f.scheme) request.scheme = f.scheme;
  const source = {};
  if (f.address.trim()) source.address = f.address.trim();
  if (f.principal.trim()) source.principal = f.principal.trim();
  if (Object.keys(source).length) request.source = source;
  let now;
  if (f.time === "") now = Math.floor(Date.now() / 1000);
  else if (/^-?\d{1,12}$/.test(f.time)) now = Number(f.time);
  else return { error: { field: "time", message: "time must be Unix seconds (digits)" } };
  let state;
  if (f.state.trim()) {
    try {
      state = JSON.parse(f.state);
    } catch (e) {
      return { error: { field: "state", message: `adapter state is not JSON: ${e.message}` } };
    }
  }
  return { request, now, state };
}

// ---------------------------------------------------------------- JWT claims

function b64urlJson(part) {
  const b64 = part.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

function showClaims(jwt, now) {
  if (!jwt) {
    ui.jwtClaims.replaceChildren();
    return;
  }
  const parts = jwt.split(".");
  let header;
  let payload;
  try {
    if (parts.length !== 3) throw new Error();
    header = b64urlJson(parts[0]);
    payload = b64urlJson(parts[1]);
  } catch {
    ui.jwtClaims.replaceChildren(text("p", "not a compact JWS (three base64url parts): the engine will refuse it", "field-error"));
    return;
  }
  const dl = document.createElement("dl");
  dl.className = "claim-list";
  const add = (k, v, note) => {
    const dt = text("dt", k);
    const dd = text("dd", typeof v === "string" ? v : JSON.stringify(v));
    if (note) dd.append(" ", text("span", note, "quiet"));
    dl.append(dt, dd);
  };
  add("header", `${header.alg ?? "?"}${header.kid ? ` · kid ${header.kid}` : ""}${header.typ ? ` · typ ${header.typ}` : ""}`);
  for (const [k, v] of Object.entries(payload)) {
    let note = "";
    if (["exp", "iat", "nbf", "auth_time"].includes(k) && typeof v === "number") {
      const d = v - now;
      note = `${new Date(v * 1000).toISOString().replace(".000Z", "Z")} (${d >= 0 ? "in " : ""}${human(Math.abs(d))}${d < 0 ? " ago" : ""})`;
    }
    add(k, v, note);
  }
  const caption = text("p", "Claims (decoded, not verified — the engine verifies):", "quiet small-text");
  ui.jwtClaims.replaceChildren(caption, dl);
}

function human(s) {
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} days`;
}

// ---------------------------------------------------------------- helpers

function text(tag, content, cls) {
  const el = document.createElement(tag);
  el.textContent = content;
  if (cls) el.className = cls;
  return el;
}

/** `text` with its backquoted parts (the engine quotes user input so) as <code>. */
function rich(textValue) {
  const frag = document.createDocumentFragment();
  String(textValue ?? "").split(/(`[^`]*`)/).forEach((part) => {
    if (/^`[^`]*`$/.test(part)) frag.appendChild(text("code", part.slice(1, -1)));
    else if (part) frag.appendChild(document.createTextNode(part));
  });
  return frag;
}

function headerTable(obj, empty) {
  const entries = Object.entries(obj ?? {});
  if (!entries.length) return text("p", empty, "quiet");
  const table = document.createElement("table");
  table.className = "kv";
  for (const [k, v] of entries) {
    const tr = document.createElement("tr");
    // One auth-param a line (`Bearer realm="x",⏎error="…"`), so challenges stay readable.
    const value = (Array.isArray(v) ? v.join(", ") : String(v)).replace(/,\s+(?=[A-Za-z_][A-Za-z0-9_-]*=)/g, ",\n");
    tr.append(text("th", k), text("td", value));
    table.appendChild(tr);
  }
  return table;
}

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(update, DEBOUNCE_MS);
}

// ---------------------------------------------------------------- policy: compile, marks, hints

function compile(textValue) {
  if (compiled.text === textValue) return compiled;
  compiled.engine?.free?.();
  const r = vigil.compile(textValue);
  compiled = { text: textValue, engine: r.engine ?? null, error: r.error ?? null, lints: [] };
  if (compiled.engine) compiled.lints = vigil.lints(compiled.engine);
  jwksApplied = { engine: null, key: "" };
  // The policy's issuers, offered in the key set's issuer field.
  let issuers = [];
  try {
    const rules = JSON.parse(textValue).jwtRules;
    if (Array.isArray(rules)) issuers = rules.map((r) => r?.issuer).filter((i) => typeof i === "string");
  } catch {
    // Not JSON: the editor shows why.
  }
  $("issuers").replaceChildren(...issuers.map((i) => new Option(i)));
  return compiled;
}

/** The range in the editor an engine error or lint is about. */
function rangeOf(map, item) {
  if (item.code === "syntax") {
    const m = /at byte (\d+)/.exec(item.message);
    if (m) {
      const at = charOffsetOfByte(map.text, Number(m[1]));
      return { start: at, end: Math.min(map.text.length, at + 1) };
    }
    if (map.error) return { start: map.error.offset, end: map.error.offset + 1 };
    return { start: Math.max(0, map.text.length - 1), end: map.text.length };
  }
  return rangeForPath(map, item.path, item.code);
}

function showProblems(map) {
  const items = [];
  if (compiled.error) items.push({ ...compiled.error, level: "error" });
  for (const l of compiled.lints) items.push({ ...l, level: l.level === "warning" ? "warning" : "info" });
  const marks = [];
  const list = document.createElement("ul");
  for (const item of items) {
    const r = rangeOf(map, item);
    const { line, col } = lineCol(map.text, r.start);
    const where = item.path && item.path !== "$" ? `${item.path}: ` : "";
    marks.push({ start: r.start, end: r.end, level: item.level, message: `${item.code}: ${item.message}` });
    const li = document.createElement("li");
    li.className = item.level;
    const btn = document.createElement("button");
    btn.type = "button";
    btn.className = "link";
    btn.textContent = `line ${line}, column ${col}`;
    btn.dataset.line = String(line);
    btn.addEventListener("click", () => editor.reveal(r.start, r.end));
    li.append(text("span", item.level === "error" ? "Error" : item.level === "warning" ? "Warning" : "Note", "level"), " ", btn, " ", text("code", item.code), " ", text("span", where), rich(item.message));
    list.appendChild(li);
  }
  editor.setMarks(marks);
  ui.problems.replaceChildren(items.length ? list : text("p", "No problems: the policy loads and the linter has nothing to say.", "quiet"));
  const ta = editor.ta;
  ta.setAttribute("aria-invalid", compiled.error ? "true" : "false");
  ui.policyState.textContent = compiled.error ? "invalid" : compiled.lints.length ? `valid · ${compiled.lints.length} lint${compiled.lints.length > 1 ? "s" : ""}` : "valid";
  ui.policyState.className = `pill ${compiled.error ? "bad" : "good"}`;
}

function showHints() {
  if (!schema) return;
  const textValue = editor.value;
  const map = mapJson(textValue);
  const offset = editor.ta.selectionStart;
  const box = containerAt(map, offset);
  ui.hint.replaceChildren();
  if (!box) {
    ui.hint.append(text("p", "Put the cursor inside an object to see the fields it may have.", "quiet"));
    return;
  }
  // The member the cursor is on, if any: its key's description and allowed values.
  let member = null;
  for (const [path, v] of map.values) {
    if (v.keyStart !== undefined && v.keyStart <= offset && offset <= v.end && path.startsWith(box.path === "$" ? "" : box.path)) {
      if (!member || v.keyStart >= member.v.keyStart) member = { path, v };
    }
  }
  const head = document.createElement("p");
  head.append("In ", text("code", box.path === "$" ? "(document root)" : box.path));
  ui.hint.append(head);
  if (member && member.path !== box.path) {
    const d = describe(schema, member.path, map);
    const vals = allowedValues(schemaAt(schema, member.path, map));
    const p = document.createElement("p");
    p.className = "hint-field";
    p.append(text("code", member.path.split(/[.[]/).pop()), " — ", d || "no description in the schema");
    if (vals.length) p.append(" Allowed: ", ...vals.flatMap((v, i) => [i ? ", " : "", text("code", JSON.stringify(v))]));
    ui.hint.append(p);
  }
  if (box.kind === "object") {
    const fields = fieldsAt(schema, box.path, map);
    if (!fields.length) {
      ui.hint.append(text("p", "The schema lists no fixed fields here.", "quiet"));
      return;
    }
    const ul = document.createElement("ul");
    ul.className = "fields";
    for (const f of fields) {
      const li = document.createElement("li");
      if (f.present) li.className = "present";
      if (f.present) {
        li.append(text("code", f.name));
      } else {
        // Not there yet: a button that inserts `"name": ` at the cursor.
        const add = document.createElement("button");
        add.type = "button";
        add.className = "insert";
        add.title = `Insert "${f.name}": at the cursor`;
        add.append(text("code", f.name));
        add.addEventListener("mousedown", (e) => e.preventDefault()); // keep the editor's selection
        add.addEventListener("click", () => insertField(f.name, offset));
        li.append(add);
      }
      if (f.required) li.append(text("span", " required", f.present ? "quiet" : "req"));
      if (f.description) li.append(" — ", f.description);
      ul.appendChild(li);
    }
    ui.hint.append(ul);
  } else {
    ui.hint.append(text("p", `A list${describe(schema, box.path, map) ? `: ${describe(schema, box.path, map)}` : ""}`, "quiet"));
  }
}

function insertField(name, offset) {
  const ta = editor.ta;
  ta.focus();
  ta.setSelectionRange(offset, offset);
  // A comma when the cursor follows a value, so the object stays valid JSON.
  const before = ta.value.slice(0, offset).trimEnd();
  const comma = before && !before.endsWith("{") && !before.endsWith(",") ? ", " : "";
  document.execCommand("insertText", false, `${comma}"${name}": `);
  schedule();
  showHints();
}

// ---------------------------------------------------------------- decision

function showDecision(result, expect) {
  const d = result.decision;
  ui.verdict.dataset.decision = d.decision;
  ui.decision.textContent = d.decision;
  ui.decision.className = `decision ${d.decision}`;
  ui.status.textContent = String(d.status);
  ui.code.textContent = d.code ?? "";
  ui.reason.replaceChildren(rich(d.reason));
  showExpectation(d, expect);
  ui.facts.replaceChildren();
  const fact = (k, v) => ui.facts.append(text("dt", k), text("dd", v));
  fact("policy", d.policy == null ? "—" : `${d.policy}${d.rule != null ? `, rule ${d.rule}` : ""}`);
  fact("principal", d.principal ?? "—");
  fact("resource", d.resource ? `${d.resource.name} (${d.resource.classification})` : "—");
  if (d.audit?.length) fact("audit", d.audit.join(", "));
  if (d.dryRun) fact("mode", "dry run: not enforced");
  if (d.removeHeaders?.length) fact("stripped", d.removeHeaders.join(", "));
  if (d.error) fact("request error", `${d.error.code}: ${d.error.path}: ${d.error.message}`);
  // Trust.
  if (!d.trust) {
    ui.trust.replaceChildren(text("p", "not scored (no trust section, or decided before scoring)", "quiet"));
  } else {
    const t = d.trust;
    const p = document.createElement("p");
    p.className = "score";
    p.append(text("strong", String(t.score)), t.minimum != null ? ` / minimum ${t.minimum}` : " (no minimum for this resource)");
    const ul = document.createElement("ul");
    ul.className = "risks";
    for (const r of t.risks ?? []) {
      const li = document.createElement("li");
      li.append(text("code", r.name), ` −${r.weight}`);
      ul.appendChild(li);
    }
    if (!t.risks?.length) ul.appendChild(text("li", "no risk fired", "quiet"));
    ui.trust.replaceChildren(p, ul);
  }
  ui.responseHeaders.replaceChildren(headerTable(d.responseHeaders, "none"));
  ui.upstreamHeaders.replaceChildren(headerTable(d.upstreamHeaders, d.decision === "allow" ? "none" : "none (not forwarded)"));
  // Trace.
  ui.trace.replaceChildren();
  for (const s of result.trace ?? []) {
    const li = document.createElement("li");
    li.className = s.matched ? "hit" : "miss";
    const detail = text("span", "", "detail");
    detail.appendChild(rich(s.detail));
    const where = s.policy != null ? `\`${s.policy}\`${s.rule != null ? ` rule ${s.rule}` : ""}` : s.rule != null ? `rule ${s.rule}` : "";
    const whereEl = text("span", "", "where");
    whereEl.appendChild(rich(where));
    li.append(text("span", s.matched ? "✓" : "✗", "mark"), text("span", s.matched ? "matched" : "no match", "sr-only"), text("span", s.stage, "stage"), whereEl, detail);
    ui.trace.appendChild(li);
  }
  ui.raw.textContent = JSON.stringify(d, null, 2);
}

function showExpectation(d, expect) {
  if (!expect) {
    ui.expected.replaceChildren();
    return;
  }
  const fields = ["decision", "status", "code"].filter((k) => k in expect);
  const want = fields.map((k) => expect[k]).join(" ");
  const got = fields.map((k) => d[k]).join(" ");
  const ok = want === got;
  ui.expected.className = `expected ${ok ? "ok" : "differs"}`;
  ui.expected.replaceChildren(`${ok ? "✓ as" : "✗ differs from what"} the sample's test file expects: `, text("code", want));
}

function showNoDecision(message) {
  ui.verdict.dataset.decision = "none";
  ui.decision.textContent = "no decision";
  ui.decision.className = "decision none";
  ui.status.textContent = "";
  ui.code.textContent = "";
  ui.reason.replaceChildren(rich(message));
  ui.expected.replaceChildren();
  ui.facts.replaceChildren();
  ui.trust.replaceChildren(text("p", "—", "quiet"));
  ui.responseHeaders.replaceChildren(text("p", "—", "quiet"));
  ui.upstreamHeaders.replaceChildren(text("p", "—", "quiet"));
  ui.trace.replaceChildren();
  ui.raw.textContent = "";
}

// ---------------------------------------------------------------- the update loop

function update() {
  clearTimeout(timer);
  if (!vigil) return;
  const policyText = editor.value;
  const map = mapJson(policyText);
  compile(policyText);
  showProblems(map);
  showHints();
  const f = formState();
  const built = requestFromForm(f);
  ui.stateError.textContent = built.error?.field === "state" ? built.error.message : "";
  ui.time.setAttribute("aria-invalid", built.error?.field === "time" ? "true" : "false");
  ui.timeHuman.textContent = built.error?.field === "time" ? built.error.message : f.time === "" ? "empty: the current time is used" : new Date(Number(f.time) * 1000).toISOString().replace(".000Z", "Z");
  showClaims(f.jwt, built.now ?? Math.floor(Date.now() / 1000));
  if (compiled.error) {
    showNoDecision("The policy does not load: the engine would refuse every request (it fails closed). Fix the error marked in the editor.");
  } else if (built.error) {
    showNoDecision(built.error.message);
  } else {
    applyJwks();
    const result = vigil.explain(compiled.engine, built.request, { now: built.now, state: built.state });
    const snapshot = JSON.stringify([policyText, f]);
    showDecision(result, expectation && expectation.snapshot === snapshot ? expectation.expect : null);
  }
  showReview(policyText);
  scheduleHash();
}

// ---------------------------------------------------------------- review: diff and coverage

let reviewed = "";

const KIND_LABEL = { newly_allowed: "+ newly allowed", newly_denied: "− newly refused", changed: "~ decided differently" };

function requestLine(c) {
  const r = c.request;
  const parts = [`${r.method ?? "GET"} ${r.path ?? "/"}`];
  if (r.host) parts.push(`host ${r.host}`);
  if (r.source?.principal) parts.push(`peer ${r.source.principal}`);
  if (r.source?.address) parts.push(`from ${r.source.address}`);
  if (r.destination?.port) parts.push(`port ${r.destination.port}`);
  // The witness's token is shown by its claims, wherever the rule reads it from.
  const isToken = (v) => c.tokenClaims && /^(\S+ )?eyJ[\w-]*\.[\w-]+\.[\w-]*$/.test(v);
  for (const [k, v] of Object.entries(r.headers ?? {})) {
    const values = Array.isArray(v) ? v : [v];
    if (k !== "authorization" && k !== "cookie" && !values.some(isToken)) parts.push(`${k}: ${values.join(", ")}`);
  }
  if (c.tokenClaims) parts.push(`token of ${c.tokenClaims.iss}/${c.tokenClaims.sub}`);
  return parts.join(", ");
}

function verdictLine(d) {
  return `${d.decision} ${d.status} ${d.code}${d.policy ? ` by ${d.policy}` : ""}`;
}

/** Compares the edited policy with the sample it started from, and runs the sample's
 * requests for coverage. Only recomputed when the policy or the sample changes. */
function showReview(policyText) {
  const sample = samples.find((s) => s.name === ui.sample.value);
  const key = JSON.stringify([sample?.name ?? "", policyText, compiled.error ? 1 : 0]);
  if (key === reviewed) return;
  reviewed = key;
  const list = $("diff-list");
  const cov = $("coverage-list");
  list.replaceChildren();
  cov.replaceChildren();
  $("diff-not-analysed").textContent = "";
  const say = (id, t) => ($(id).textContent = t);
  if (!sample) {
    say("diff-summary", "Load a sample to see what your edits change.");
    say("coverage-summary", "Load a sample to run its tests for coverage.");
    return;
  }
  if (compiled.error) {
    say("diff-summary", "The policy does not load: nothing to compare.");
    say("coverage-summary", "");
    return;
  }
  const now = Math.floor(Date.now() / 1000);
  if (policyText === sample.policy) {
    say("diff-summary", "No edits yet: the policy is the sample's.");
  } else {
    const r = vigil.diff(sample.policy, policyText, now);
    if (r.error) {
      say("diff-summary", `Cannot compare: ${r.error.message}`);
    } else if (r.diff.equivalent) {
      say("diff-summary", `Your edits change no decision (${r.diff.cubes} regions compared).`);
    } else if (!r.diff.changes.length) {
      say("diff-summary", "Not proven: the comparison stopped before covering every region.");
    } else {
      const n = (k) => r.diff.changes.filter((c) => c.kind === k).length;
      say("diff-summary", `${r.diff.changes.length} change${r.diff.changes.length === 1 ? "" : "s"}: ${n("newly_allowed")} newly allowed, ${n("newly_denied")} newly refused, ${n("changed")} decided differently.`);
      for (const c of r.diff.changes.slice(0, 50)) {
        const li = document.createElement("li");
        li.className = `diff-${c.kind}`;
        li.append(text("strong", KIND_LABEL[c.kind] ?? c.kind), " ", text("code", requestLine(c)));
        li.append(document.createElement("br"), `before: ${verdictLine(c.before)} → after: ${verdictLine(c.after)}`);
        // A witness without a token can be tried as it is; a token the analysis minted carries
        // an analysis signature that the policy's own keys refuse.
        if (!c.tokenClaims) {
          const b = document.createElement("button");
          b.type = "button";
          b.className = "small";
          b.textContent = "Try it";
          b.addEventListener("click", () => {
            setForm(formFromRequest(c.request, c.request.time ?? now, null));
            expectation = null;
            update();
          });
          li.append(" ", b);
        }
        list.append(li);
      }
    }
    if (r.diff?.notAnalysed?.length) $("diff-not-analysed").textContent = `Not analysed: ${r.diff.notAnalysed.join("; ")}`;
  }
  const cases = (sample.requests ?? []).map((q) => ({ request: q.request, options: { now: q.time ?? q.request?.time ?? now, state: q.state ?? null } }));
  const c = vigil.coverage(compiled.engine, cases);
  if (c.error) {
    say("coverage-summary", `Cannot run the sample's tests: ${c.error.message}`);
    return;
  }
  say("coverage-summary", `${cases.length} test requests · ${c.coverage.summary}`);
  for (const [kind, v] of Object.entries(c.coverage.items)) {
    for (const name of v.uncovered) cov.append(text("li", `not covered: ${kind} ${name}`));
  }
}

function applyJwks() {
  const issuer = ui.jwksIssuer.value.trim();
  const jwks = ui.jwks.value.trim();
  const key = `${issuer}\n${jwks}`;
  if (jwksApplied.engine === compiled.engine && jwksApplied.key === key) return;
  jwksApplied = { engine: compiled.engine, key };
  ui.jwksError.textContent = "";
  if (!jwks) return;
  if (!vigil.setJwks) {
    ui.jwksError.textContent = "this build of the module cannot take a key set";
    return;
  }
  const err = vigil.setJwks(compiled.engine, issuer, jwks);
  if (err) ui.jwksError.textContent = `${err.path ? `${err.path}: ` : ""}${err.message}`;
}

// ---------------------------------------------------------------- samples, sharing

function currentState() {
  return {
    v: 1,
    sample: ui.sample.value,
    sampleRequest: ui.sampleRequest.value,
    policy: editor.value,
    request: formState(),
    jwks: { issuer: ui.jwksIssuer.value, text: ui.jwks.value },
  };
}

function scheduleHash() {
  if (restoring) return;
  clearTimeout(hashTimer);
  hashTimer = setTimeout(async () => {
    const frag = await encodeState(currentState());
    history.replaceState(null, "", `#${frag}`);
    lastHash = location.hash;
  }, 300);
}

let lastHash = "";

function fillSampleRequests(sample) {
  const reqs = sample?.requests ?? [];
  ui.sampleRequest.replaceChildren(...(reqs.length ? reqs.map((r, i) => new Option(r.name, String(i))) : [new Option("—", "")]));
  ui.sampleRequest.disabled = !reqs.length;
}

function showSampleDescription(sample) {
  const d = $("sample-description");
  d.replaceChildren(rich(sample?.description ?? ""));
  d.title = sample?.description ?? "";
}

function loadSample(name, requestIndex = 0) {
  const sample = samples.find((s) => s.name === name);
  if (!sample) return;
  showSampleDescription(sample);
  ui.sample.value = name;
  // A key set belongs to the policy it was pasted for.
  ui.jwksIssuer.value = "";
  ui.jwks.value = "";
  editor.value = sample.policy;
  fillSampleRequests(sample);
  loadSampleRequest(sample, requestIndex);
}

function loadSampleRequest(sample, index) {
  const r = sample.requests?.[index];
  if (!r) {
    setForm({});
    expectation = null;
    update();
    return;
  }
  ui.sampleRequest.value = String(index);
  const f = formFromRequest(r.request, r.time, r.state);
  setForm(f);
  expectation = { snapshot: JSON.stringify([editor.value, formState()]), expect: r.expect };
  update();
}

async function restore(hash) {
  let state;
  try {
    state = await decodeState(hash);
  } catch (e) {
    ui.shareStatus.textContent = `The link's state could not be read: ${e.message}`;
    return false;
  }
  if (!state) return false;
  restoring = true;
  try {
    const sample = samples.find((s) => s.name === state.sample);
    ui.sample.value = sample ? sample.name : "";
    showSampleDescription(sample);
    fillSampleRequests(sample);
    if (sample && state.sampleRequest !== "") ui.sampleRequest.value = state.sampleRequest;
    editor.value = typeof state.policy === "string" ? state.policy : "";
    setForm(state.request ?? {});
    ui.jwksIssuer.value = state.jwks?.issuer ?? "";
    ui.jwks.value = state.jwks?.text ?? "";
    if (ui.jwks.value) ui.jwksBox.open = true;
    const r = sample?.requests?.[Number(state.sampleRequest)];
    expectation = r ? { snapshot: JSON.stringify([editor.value, formState()]), expect: r.expect } : null;
    update();
  } finally {
    restoring = false;
  }
  lastHash = location.hash;
  return true;
}

// ---------------------------------------------------------------- start

async function start() {
  showNoDecision("loading the engine…");
  const [mod, samplesResp, schemaResp] = await Promise.all([
    loadVigil(),
    fetch("samples.json").then((r) => (r.ok ? r.json() : Promise.reject(new Error(`samples.json: HTTP ${r.status}`)))),
    fetch("policy.schema.json").then((r) => (r.ok ? r.json() : null)).catch(() => null),
  ]);
  vigil = mod;
  samples = samplesResp.samples ?? [];
  schema = schemaResp;
  ui.sample.replaceChildren(new Option("(your own policy)", ""), ...samples.map((s) => new Option(s.title ?? s.name, s.name)));
  ui.jwksBox.hidden = !vigil.setJwks;

  ui.sample.addEventListener("change", () => {
    if (ui.sample.value) loadSample(ui.sample.value);
    else {
      showSampleDescription(null);
      fillSampleRequests(null);
      expectation = null;
      schedule();
    }
  });
  ui.sampleRequest.addEventListener("change", () => {
    const sample = samples.find((s) => s.name === ui.sample.value);
    if (sample) loadSampleRequest(sample, Number(ui.sampleRequest.value));
  });
  editor.ta.addEventListener("input", schedule);
  for (const ev of ["keyup", "click", "focus"]) editor.ta.addEventListener(ev, () => showHints());
  $("request-form").addEventListener("input", schedule);
  $("request-form").addEventListener("change", schedule);
  ui.addHeader.addEventListener("click", () => {
    const row = headerRow();
    ui.headers.appendChild(row);
    relabelHeaders();
    row.querySelector("input").focus();
  });
  ui.now.addEventListener("click", () => {
    ui.time.value = String(Math.floor(Date.now() / 1000));
    schedule();
  });
  ui.share.addEventListener("click", async () => {
    const frag = await encodeState(currentState());
    history.replaceState(null, "", `#${frag}`);
    lastHash = location.hash;
    try {
      await navigator.clipboard.writeText(location.href);
      ui.shareStatus.textContent = "Link copied: it holds the policy and the request.";
    } catch {
      ui.shareStatus.textContent = "The address bar holds the link (the clipboard is not available here).";
    }
  });
  window.addEventListener("hashchange", () => {
    if (location.hash !== lastHash) restore(location.hash);
  });

  if (!(await restore(location.hash))) {
    const first = samples.find((s) => s.name === "payment") ?? samples[0];
    if (first) loadSample(first.name);
    else update();
  }
  document.body.dataset.ready = "true";
}

start().catch((e) => {
  showNoDecision(`The preview could not start: ${e.message}`);
  console.error(e);
});
