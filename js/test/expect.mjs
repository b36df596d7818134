// A test case's `expect` checked against a decision object: the rules of policy-core's
// testcase::compare (docs/testing.md), for runners written in JavaScript.

function canonical(v) {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v && typeof v === "object") {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v ?? null);
}

/** Deep equality of JSON values (object key order ignored; undefined is null). */
export function sameValue(a, b) {
  return canonical(a) === canonical(b);
}

/** One message per expectation of `expect` that `d` does not meet. */
export function compareExpect(expect, d) {
  const out = [];
  for (const [k, want] of Object.entries(expect || {})) {
    if (k === "reasonContains") {
      if (!String(d.reason ?? "").includes(want)) out.push(`reason: expected to contain \`${want}\`, got \`${d.reason}\``);
    } else if (k === "responseHeaders" || k === "upstreamHeaders") {
      const got = d[k] || {};
      for (const [h, hv] of Object.entries(want || {})) {
        const g = got[h.toLowerCase()];
        if (hv === null) {
          if (g !== undefined) out.push(`${k}.${h}: expected absent, got ${JSON.stringify(g)}`);
        } else if (g !== hv) {
          out.push(`${k}.${h}: expected ${JSON.stringify(hv)}, got ${g === undefined ? "absent" : JSON.stringify(g)}`);
        }
      }
    } else if (k === "removeHeaders" || k === "audit") {
      const got = d[k] || [];
      for (const w of want || []) {
        if (!got.includes(w)) out.push(`${k}: expected to contain \`${w}\`, got ${JSON.stringify(got)}`);
      }
    } else if (!sameValue(d[k], want)) {
      out.push(`${k}: expected ${JSON.stringify(want)}, got ${JSON.stringify(d[k] ?? null)}`);
    }
  }
  return out;
}
