// Where each value of a JSON text is: a small, tolerant parser that records, for every value,
// its JSON path (in the engine's spelling: `authorizationPolicies[1].rules[0].from`, `$` for the
// root) and its character range, so an error the engine reports by path can be marked on the
// line it is about. It never throws: on a syntax error it stops and returns what it had, with
// the offset of the error.

/** The engine's path for key `key` under `parent`. */
export function joinKey(parent, key) {
  return parent === "$" ? key : `${parent}.${key}`;
}

/** The engine's path for element `i` under `parent`. */
export function joinIndex(parent, i) {
  return parent === "$" ? `[${i}]` : `${parent}[${i}]`;
}

/**
 * Splits an engine path into segments: `a.b[2].c` → ["a", "b", 2, "c"]. Keys are what lies
 * between dots and brackets; the root `$` is no segment.
 */
export function splitPath(path) {
  const out = [];
  const re = /\[(\d+)\]|([^.[\]]+)/g;
  let m;
  // The root is `$`; `$schema` is a key like any other.
  const p = path === "$" || path.startsWith("$.") || path.startsWith("$[") ? path.slice(1) : path;
  while ((m = re.exec(p)) !== null) {
    if (m[1] !== undefined) out.push(Number(m[1]));
    else out.push(m[2]);
  }
  return out;
}

/** Joins segments back into the engine's spelling. */
export function joinPath(segments) {
  let path = "$";
  for (const s of segments) path = typeof s === "number" ? joinIndex(path, s) : joinKey(path, s);
  return path;
}

/**
 * Parses `text` and returns `{ values, containers, error }`:
 * - `values`: Map path → { start, end, keyStart, keyEnd, kind } (character offsets; `end` is
 *   exclusive; key offsets only for object members);
 * - `containers`: [{ path, kind: "object"|"array", start, end }] (`end` is text.length + 1 for a
 *   container left open by a syntax error), in document order;
 * - `error`: null, or { offset, message } for the first syntax error;
 * - `text`: the text itself.
 */
export function mapJson(text) {
  const values = new Map();
  const containers = [];
  let i = 0;
  let error = null;
  const n = text.length;

  const fail = (message) => {
    if (!error) error = { offset: Math.min(i, n), message };
    return false;
  };
  const ws = () => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else break;
    }
  };
  const string = () => {
    // At a quote. Returns the decoded string or null.
    const start = i;
    i++;
    let out = "";
    while (i < n) {
      const c = text[i];
      if (c === '"') {
        i++;
        return out;
      }
      if (c === "\\") {
        const e = text[i + 1];
        const simple = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };
        if (e in simple) {
          out += simple[e];
          i += 2;
        } else if (e === "u" && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
          out += String.fromCharCode(parseInt(text.slice(i + 2, i + 6), 16));
          i += 6;
        } else {
          fail("invalid escape sequence");
          return null;
        }
      } else if (text.charCodeAt(i) < 0x20) {
        fail("unescaped control character in string");
        return null;
      } else {
        out += c;
        i++;
      }
    }
    i = start;
    fail("unterminated string");
    return null;
  };
  // The items of an object or array up to `close`, each read by `item(index)`.
  const sequence = (close, item) => {
    ws();
    if (text[i] === close) {
      i++;
      return true;
    }
    for (let k = 0; ; k++) {
      if (!item(k)) return false;
      ws();
      if (text[i] === ",") {
        i++;
      } else if (text[i] === close) {
        i++;
        return true;
      } else {
        return fail(`expected \`,\` or \`${close}\``);
      }
    }
  };
  const value = (path, keyStart, keyEnd, depth) => {
    ws();
    if (i >= n) return fail("unexpected end of input");
    if (depth > 128) return fail("nesting too deep");
    const start = i;
    const c = text[i];
    let kind;
    if (c === "{" || c === "[") {
      kind = c === "{" ? "object" : "array";
      const box = { path, kind, start, end: n + 1 };
      containers.push(box);
      i++;
      const member = () => {
        ws();
        if (text[i] !== '"') return fail("expected a quoted key");
        const ks = i;
        const key = string();
        if (key === null) return false;
        const ke = i;
        ws();
        if (text[i] !== ":") return fail("expected `:`");
        i++;
        return value(joinKey(path, key), ks, ke, depth + 1);
      };
      const element = (k) => value(joinIndex(path, k), undefined, undefined, depth + 1);
      if (!sequence(c === "{" ? "}" : "]", c === "{" ? member : element)) return false;
      box.end = i;
    } else if (c === '"') {
      kind = "string";
      if (string() === null) return false;
    } else {
      const m = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(i, i + 400));
      if (!m) return fail("expected a value");
      kind = m[0] === "true" || m[0] === "false" ? "boolean" : m[0] === "null" ? "null" : "number";
      i += m[0].length;
    }
    values.set(path, { start, end: i, keyStart, keyEnd, kind });
    return true;
  };

  if (value("$", undefined, undefined, 0)) {
    ws();
    if (i < n) fail("trailing characters");
  }
  return { values, containers, error, text };
}

/**
 * The character range to mark for an error the engine reported at `path` with `code`.
 * Returns { start, end, exact } — `exact` false when the path was not found and an ancestor's
 * range is used instead.
 */
export function rangeForPath(map, path, code) {
  const segments = splitPath(path);
  for (let k = segments.length; k >= 0; k--) {
    const p = joinPath(segments.slice(0, k));
    const v = map.values.get(p);
    if (!v) continue;
    const exact = k === segments.length;
    if (exact && code === "unknown_field" && v.keyStart !== undefined) {
      return { start: v.keyStart, end: v.keyEnd, exact };
    }
    const start = !exact || code === "missing" ? v.keyStart ?? v.start : v.start;
    if (!exact || code === "missing" || v.kind === "object" || v.kind === "array") {
      // A missing field, a path we could not find, or a whole object or list: mark the first
      // line of the value (from its key, when it has one), not every line it spans.
      return { start, end: Math.min(v.end, Math.max(start + 1, lineEndAt(map.text, start))), exact };
    }
    return { start: v.start, end: v.end, exact };
  }
  return { start: 0, end: 1, exact: false };
}

function lineEndAt(text = "", offset) {
  const e = text.indexOf("\n", offset);
  return e < 0 ? text.length : e;
}

/** Character offset of UTF-8 byte offset `byteOffset` in `text`. */
export function charOffsetOfByte(text, byteOffset) {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    if (bytes >= byteOffset) return i;
    const c = text.codePointAt(i);
    bytes += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    if (c >= 0x10000) i++;
  }
  return text.length;
}

/** 1-based line and column of character offset `offset`. */
export function lineCol(text, offset) {
  let line = 1;
  let last = -1;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      last = i;
    }
  }
  return { line, col: offset - last };
}

/**
 * Where the cursor at `offset` is: the innermost container holding it. Returns
 * { path, kind } of that container, or null outside every container.
 */
export function containerAt(map, offset) {
  let best = null;
  for (const c of map.containers) {
    if (c.start < offset && offset < c.end) {
      if (!best || c.start >= best.start) best = c;
    }
  }
  return best;
}
