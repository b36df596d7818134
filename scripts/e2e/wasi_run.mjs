// Runs a wasm32-wasip1 program (a `cargo test` harness, say) under Node's WASI — V8, the engine
// family Envoy, workerd and Chromium embed — with its arguments, the working directory
// preopened as `.`, and the listed environment variables passed through; exits with the
// program's exit code. Liftoff is off, as in Envoy: every function is compiled by TurboFan,
// so Wasm SIMD runs as it does in the proxy.
//
// Usage: node scripts/e2e/wasi_run.mjs PROGRAM.wasm [ARGS...]
import { readFile } from 'node:fs/promises';
import process from 'node:process';
import v8 from 'node:v8';
import { WASI } from 'node:wasi';

v8.setFlagsFromString('--no-liftoff');

const [program, ...args] = process.argv.slice(2);
if (!program) {
  console.error('usage: node scripts/e2e/wasi_run.mjs PROGRAM.wasm [ARGS...]');
  process.exit(2);
}
const env = {};
for (const name of ['VIGIL_CRYPTO_CASES', 'RUST_BACKTRACE']) {
  if (process.env[name] !== undefined) env[name] = process.env[name];
}
const wasi = new WASI({
  version: 'preview1',
  args: [program, ...args],
  env,
  preopens: { '.': process.cwd() },
  returnOnExit: true,
});
const module = await WebAssembly.compile(await readFile(program));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
