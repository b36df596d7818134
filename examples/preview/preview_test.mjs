// Unit tests of the preview's pure modules (JSON path → editor range, schema hints), in Node:
// `node --test examples/preview/`. The page itself is tested in Chromium by
// scripts/e2e/preview_test.mjs.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import test from "node:test";
import { fileURLToPath } from "node:url";
import { charOffsetOfByte, containerAt, lineCol, mapJson, rangeForPath, splitPath } from "./jsonmap.js";
import { allowedValues, describe, fieldsAt, schemaAt } from "./schema.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const schema = JSON.parse(fs.readFileSync(path.join(root, "docs/policy.schema.json"), "utf8"));
const payment = fs.readFileSync(path.join(root, "examples/policies/payment.policy.json"), "utf8");

const slice = (text, r) => text.slice(r.start, r.end);

test("paths split and rejoin in the engine's spelling", () => {
  assert.deepEqual(splitPath("authorizationPolicies[1].rules[0].when[2].key"), ["authorizationPolicies", 1, "rules", 0, "when", 2, "key"]);
  assert.deepEqual(splitPath("$"), []);
  assert.deepEqual(splitPath("$schema"), ["$schema"]);
  assert.deepEqual(splitPath("[3].a"), [3, "a"]);
});

test("every value of a policy is found by its path", () => {
  const m = mapJson(payment);
  assert.equal(m.error, null);
  const r = rangeForPath(m, "authorizationPolicies[1].rules[0].from[0].source.principals[0]", "invalid");
  assert.equal(slice(payment, r), '"cluster.local/ns/production/sa/frontend"');
  assert.equal(r.exact, true);
  assert.equal(lineCol(payment, r.start).line, payment.slice(0, payment.indexOf('"cluster.local/ns')).split("\n").length);
});

test("an unknown field marks its key; a missing one the object's first line", () => {
  const text = payment.replace('"principals"', '"principles"');
  const m = mapJson(text);
  const r = rangeForPath(m, "authorizationPolicies[1].rules[0].from[0].source.principles", "unknown_field");
  assert.equal(slice(text, r), '"principles"');
  const missing = rangeForPath(m, "authorizationPolicies[1].rules[0].from[0].source.principals", "missing");
  assert.equal(missing.exact, false);
  assert.ok(slice(text, missing).startsWith('"source": {'));
  assert.ok(!slice(text, missing).includes("\n"));
});

test("a path that is not there falls back to its nearest ancestor", () => {
  const m = mapJson(payment);
  const r = rangeForPath(m, "authorizationPolicies[7].rules", "invalid");
  assert.equal(r.exact, false);
  assert.ok(slice(payment, r).startsWith('"authorizationPolicies": ['));
});

test("a whole object is marked on its first line only", () => {
  const m = mapJson(payment);
  const r = rangeForPath(m, "authorizationPolicies[0]", "no_rules");
  assert.equal(slice(payment, r), "{");
});

test("syntax errors stop the map and give their offset; containers left open still count", () => {
  const text = '{"a": [1, 2,, 3], "b": 1}';
  const m = mapJson(text);
  assert.equal(m.error.offset, 12);
  assert.equal(containerAt(m, 8).path, "a");
  assert.equal(mapJson('{"a": 1} x').error.message, "trailing characters");
  assert.equal(mapJson('{"a": "\\q"}').error.message, "invalid escape sequence");
});

test("UTF-8 byte offsets (the engine's) become string offsets", () => {
  const text = '{"d": "é€😀", "x": }';
  const byte = Buffer.from(text.slice(0, text.indexOf("}")), "utf8").length;
  assert.equal(charOffsetOfByte(text, byte), text.indexOf("}"));
});

test("schema hints: fields of an operation, enum values, the object form of a policy", () => {
  const m = mapJson(payment);
  const op = fieldsAt(schema, "authorizationPolicies[1].rules[0].to[0].operation", m);
  assert.deepEqual(op.filter((f) => f.present).map((f) => f.name), ["methods", "paths"]);
  assert.ok(op.some((f) => f.name === "notHosts"));
  assert.equal(describe(schema, "authorizationPolicies[1].rules[0].to[0].operation.methods", m), "HTTP methods.");
  assert.deepEqual(allowedValues(schemaAt(schema, "authorizationPolicies[1].action", m)), ["ALLOW", "DENY", "AUDIT"]);
  // Item 0 is a whole Kubernetes object: its fields are the object's, `metadata` and `spec` required.
  const obj = fieldsAt(schema, "authorizationPolicies[0]", m);
  assert.deepEqual(obj.filter((f) => f.required).map((f) => f.name).sort(), ["metadata", "spec"]);
  assert.equal(schemaAt(schema, "nonsense.field", m), null);
});
