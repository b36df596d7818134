// The Node half of scripts/bench's harness: warm up, calibrate a batch to a fraction of a
// sample, then take samples; median and 10th/90th percentiles in ns per operation.
const quick = process.argv.includes('--quick');
const samples = quick ? 7 : 31;
const sampleNs = quick ? 5e6 : 20e6;

export async function measure(fn) {
  for (let i = 0; i < 200; i++) await fn(); // warm-up: JIT, key caches
  // Calibrate: double the batch until it takes a tenth of a sample.
  let n = 1;
  for (;;) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await fn();
    const e = Number(process.hrtime.bigint() - t);
    if (e >= sampleNs / 10 || n >= 1 << 24) { n = Math.max(1, Math.round((sampleNs / e) * n)); break; }
    n *= 2;
  }
  const per = [];
  for (let s = 0; s < samples; s++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await fn();
    per.push(Number(process.hrtime.bigint() - t) / n);
  }
  per.sort((a, b) => a - b);
  const at = (p) => per[Math.round((per.length - 1) * p)];
  return { median_ns: Math.round(at(0.5)), p10_ns: Math.round(at(0.1)), p90_ns: Math.round(at(0.9)), samples, iters_per_sample: n };
}

