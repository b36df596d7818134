// Field hints from docs/policy.schema.json: which fields an object at a JSON path may have,
// with their descriptions, which are required, and the allowed values of an enum. Only the
// parts of JSON Schema that document uses are followed ($ref, if/then/else on `required`,
// allOf/anyOf/oneOf, properties, patternProperties, additionalProperties, items).

import { joinIndex, joinKey, splitPath } from "./jsonmap.js";

/** Resolves `$ref`s, `if`/`then`/`else` and combinators of `node` at `path` into one schema. */
function resolve(root, node, path, map, depth = 0) {
  if (!node || typeof node !== "object" || depth > 16) return {};
  let out = { ...node };
  if (node.$ref && node.$ref.startsWith("#/$defs/")) {
    const target = root.$defs?.[node.$ref.slice("#/$defs/".length)];
    const { $ref, ...rest } = node;
    out = merge(resolve(root, target, path, map, depth + 1), rest);
  }
  if (out.if) {
    const branch = holds(out.if, path, map) ? out.then : out.else;
    const { if: _i, then: _t, else: _e, ...rest } = out;
    out = merge(rest, resolve(root, branch, path, map, depth + 1));
  }
  for (const key of ["allOf", "anyOf", "oneOf"]) {
    if (Array.isArray(out[key])) {
      const parts = out[key];
      const { [key]: _omit, ...rest } = out;
      out = rest;
      for (const part of parts) {
        const r = resolve(root, part, path, map, depth + 1);
        // A branch's `required` only holds within that branch: keep the fields, not the duty.
        const { required, description, ...fields } = r;
        out = merge(out, key === "allOf" ? r : fields);
        if (description && !out.description) out.description = description;
      }
    }
  }
  return out;
}

function merge(a, b) {
  const out = { ...a, ...b };
  if (a.properties || b.properties) {
    out.properties = { ...(a.properties || {}) };
    for (const [k, v] of Object.entries(b.properties || {})) {
      out.properties[k] = out.properties[k] ? merge(out.properties[k], v) : v;
    }
  }
  if (a.required || b.required) out.required = [...new Set([...(a.required || []), ...(b.required || [])])];
  if (a.enum || b.enum) out.enum = [...new Set([...(a.enum || []), ...(b.enum || [])])];
  if (a.description && b.description) out.description = a.description;
  return out;
}

/** Whether an `if` made of `required` / `anyOf: [{required}]` holds for the object at `path`. */
function holds(cond, path, map) {
  const has = (k) => map.values.has(joinKey(path, k));
  if (Array.isArray(cond.required) && !cond.required.every(has)) return false;
  if (Array.isArray(cond.anyOf) && !cond.anyOf.some((c) => holds(c, path, map))) return false;
  return true;
}

/** The resolved schema of the value at `path`, or null when the schema has nothing there. */
export function schemaAt(root, path, map) {
  let node = resolve(root, root, "$", map);
  let here = "$";
  for (const seg of splitPath(path)) {
    let next;
    if (typeof seg === "number") {
      here = joinIndex(here, seg);
      next = node.items;
    } else {
      here = joinKey(here, seg);
      next = node.properties?.[seg];
      if (!next && node.patternProperties) {
        for (const [re, s] of Object.entries(node.patternProperties)) {
          if (new RegExp(re).test(seg)) next = s;
        }
      }
      if (!next && typeof node.additionalProperties === "object") next = node.additionalProperties;
    }
    if (!next) return null;
    node = resolve(root, next, here, map);
  }
  return node;
}

/** The allowed values of a resolved schema (enum or const), if any. */
export function allowedValues(node) {
  if (!node) return [];
  if (Array.isArray(node.enum)) return node.enum;
  if (node.const !== undefined) return [node.const];
  if (node.items) {
    const items = node.items;
    if (Array.isArray(items.enum)) return items.enum;
  }
  return [];
}

/**
 * Hints for the object at `path`: [{ name, description, required, present }], in the
 * schema's order. Empty when the schema does not describe the object's fields.
 */
export function fieldsAt(root, path, map) {
  const node = schemaAt(root, path, map);
  if (!node || !node.properties) return [];
  const required = new Set(node.required || []);
  return Object.entries(node.properties).map(([name, s]) => {
    const r = resolve(root, s, joinKey(path, name), map);
    return {
      name,
      description: firstSentence(r.description || ""),
      required: required.has(name),
      present: map.values.has(joinKey(path, name)),
    };
  });
}

/** The description of the value at `path`, or "". */
export function describe(root, path, map) {
  const node = schemaAt(root, path, map);
  return node?.description || "";
}

function firstSentence(text) {
  const m = /^(.+?[.;:])(\s|$)/.exec(text);
  return m ? m[1] : text;
}
