// Keeps only the exports a proxy should call in a proxy-wasm filter.
//
// The proxy-wasm Rust SDK exports every `proxy_on_*` callback of the ABI, and Envoy (through
// proxy-wasm-cpp-host) calls each callback the module exports on every request: response
// headers, response body, log and done, although Vigil implements none of them (the SDK's
// defaults just continue). cpp-host skips a callback the module does not export, so dropping
// them saves four calls into the VM per request; wasm-opt then removes the dispatch code
// behind them. The allow-list is what the filter implements (filter/src/wasm/mod.rs) plus what
// the ABI requires. What may be dropped is listed too: an export in neither list (a callback
// the filter starts to implement, an SDK upgrade) fails the build instead of being dropped
// silently.
//
// Usage: node scripts/wasm_exports.mjs IN.wasm OUT.wasm
import { readFileSync, writeFileSync } from 'node:fs';

const KEEP = new Set([
  'memory',
  '_initialize',
  'proxy_abi_version_0_2_1',
  'proxy_on_memory_allocate',
  'malloc', // the allocator cpp-host looks for first (the wasm32-unknown-unknown build has it)
  'proxy_on_vm_start',
  'proxy_on_configure',
  'proxy_on_context_create',
  'proxy_on_request_headers',
  'proxy_on_http_call_response',
  'proxy_on_tick',
  'proxy_on_delete',
]);

// Callbacks the filter does not implement (the SDK's defaults continue or do nothing, as
// cpp-host does for a callback that is not exported), and linker symbols no proxy reads.
const DROP = new Set([
  'proxy_on_done',
  'proxy_on_log',
  'proxy_on_queue_ready',
  'proxy_on_foreign_function',
  'proxy_on_request_body',
  'proxy_on_request_trailers',
  'proxy_on_response_headers',
  'proxy_on_response_body',
  'proxy_on_response_trailers',
  'proxy_on_new_connection',
  'proxy_on_downstream_data',
  'proxy_on_upstream_data',
  'proxy_on_downstream_connection_close',
  'proxy_on_upstream_connection_close',
  'proxy_on_grpc_receive_initial_metadata',
  'proxy_on_grpc_receive',
  'proxy_on_grpc_receive_trailing_metadata',
  'proxy_on_grpc_close',
  '__data_end',
  '__heap_base',
]);

function leb(bytes, at) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const b = bytes[at++];
    if (b === undefined) throw new Error('truncated LEB128');
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (b < 0x80) return [value, at];
  }
}

function encodeLeb(n) {
  const out = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  console.error('usage: node scripts/wasm_exports.mjs IN.wasm OUT.wasm');
  process.exit(2);
}
const wasm = readFileSync(input);
if (wasm.readUInt32LE(0) !== 0x6d736100) throw new Error(`${input}: not a Wasm module`);
const parts = [wasm.subarray(0, 8)];
const kept = [];
const dropped = [];
let at = 8;
while (at < wasm.length) {
  const id = wasm[at];
  const [size, body] = leb(wasm, at + 1);
  const end = body + size;
  if (id !== 7) {
    parts.push(wasm.subarray(at, end));
    at = end;
    continue;
  }
  let [count, p] = leb(wasm, body);
  const entries = [];
  for (; count > 0; count--) {
    const start = p;
    const [len, name] = leb(wasm, p);
    const text = wasm.subarray(name, name + len).toString('utf8');
    [, p] = leb(wasm, name + len + 1); // kind byte, then the index
    if (!KEEP.has(text) && !DROP.has(text)) {
      throw new Error(`${input}: export ${text} is in neither list of scripts/wasm_exports.mjs`);
    }
    (KEEP.has(text) ? kept : dropped).push(text);
    if (KEEP.has(text)) entries.push(wasm.subarray(start, p));
  }
  if (p !== end) throw new Error('malformed export section');
  const content = Buffer.concat([Buffer.from(encodeLeb(entries.length)), ...entries]);
  parts.push(Buffer.from([7, ...encodeLeb(content.length)]), content);
  at = end;
}
for (const need of ['proxy_abi_version_0_2_1', 'proxy_on_context_create', 'proxy_on_request_headers']) {
  if (!kept.includes(need)) throw new Error(`${input}: no export ${need}`);
}
writeFileSync(output, Buffer.concat(parts));
console.error(`wasm_exports: kept ${kept.length} exports, dropped ${dropped.length} (${dropped.join(', ')})`);
