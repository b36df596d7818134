// The page's state in the URL fragment: JSON, deflate-raw compressed (CompressionStream) and
// base64url-encoded as `#z=…`; `#j=…` (base64url JSON, uncompressed) is read too, for links
// made where CompressionStream is missing. The fragment never reaches a server.

function toBase64Url(bytes) {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64Url(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

async function through(stream, bytes) {
  const out = new Response(new Blob([bytes]).stream().pipeThrough(stream));
  return new Uint8Array(await out.arrayBuffer());
}

/** The fragment (without `#`) for `state`. */
export async function encodeState(state) {
  const json = new TextEncoder().encode(JSON.stringify(state));
  if (typeof CompressionStream === "function") {
    return `z=${toBase64Url(await through(new CompressionStream("deflate-raw"), json))}`;
  }
  return `j=${toBase64Url(json)}`;
}

/** The state in fragment `hash` (with or without `#`), or null when there is none. Throws on a
 * fragment that is present but unreadable, with a message for the page to show. */
export async function decodeState(hash) {
  const h = hash.startsWith("#") ? hash.slice(1) : hash;
  if (!h) return null;
  let bytes;
  if (h.startsWith("z=")) {
    if (typeof DecompressionStream !== "function") throw new Error("this browser cannot decompress the link (no DecompressionStream)");
    bytes = await through(new DecompressionStream("deflate-raw"), fromBase64Url(h.slice(2)));
  } else if (h.startsWith("j=")) {
    bytes = fromBase64Url(h.slice(2));
  } else {
    return null;
  }
  const state = JSON.parse(new TextDecoder().decode(bytes));
  if (!state || typeof state !== "object") throw new Error("the link does not hold a preview state");
  return state;
}
