// Runs bench/verify's wasm32-wasip1 build under Node's WASI (V8, the engine family Envoy
// embeds): the vectors file's directory is preopened as /vectors, the JSON report goes to
// stdout as the native binary prints it.
//
// V8 as Envoy configures it: proxy-wasm-cpp-host's V8 engine turns Liftoff (the baseline
// compiler) off, so every function is compiled by TurboFan before it first runs; by default
// Node would start in Liftoff and tier up in the background while the batches are timed.
//
// Usage: node bench/verify/run.mjs VIGIL-BENCH-VERIFY.wasm VECTORS.json [--quick]
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import process from 'node:process';
import v8 from 'node:v8';
import { WASI } from 'node:wasi';

v8.setFlagsFromString('--no-liftoff');

const [wasmPath, vectors, ...rest] = process.argv.slice(2);
if (!wasmPath || !vectors) {
  console.error('usage: node bench/verify/run.mjs VIGIL-BENCH-VERIFY.wasm VECTORS.json [--quick]');
  process.exit(2);
}
const wasi = new WASI({
  version: 'preview1',
  args: ['vigil-bench-verify', 'run', `/vectors/${basename(vectors)}`, ...rest],
  env: {},
  preopens: { '/vectors': dirname(resolve(vectors)) },
  returnOnExit: true,
});
const module = await WebAssembly.compile(await readFile(wasmPath));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
