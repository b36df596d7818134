//! A light timing harness: calibrate, warm up, then take N samples of each contender
//! round-robin (interleaved, so a noisy neighbour hits every contender alike), and report the
//! median and the 10th/90th percentiles in nanoseconds per operation.

use serde_json::{json, Value};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// How long to measure.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Samples per contender.
    pub samples: usize,
    /// Target wall time of one sample.
    pub sample_time: Duration,
}

/// One contender: a name, how many operations one call performs, and the call.
pub struct Contender<'a> {
    pub name: String,
    pub ops_per_call: usize,
    pub call: Box<dyn FnMut() + 'a>,
}

impl<'a> Contender<'a> {
    pub fn new(name: impl Into<String>, ops_per_call: usize, call: impl FnMut() + 'a) -> Self {
        Contender {
            name: name.into(),
            ops_per_call: ops_per_call.max(1),
            call: Box::new(call),
        }
    }
}

/// Median and spread of one contender, ns per operation.
#[derive(Debug, Clone)]
pub struct Stat {
    pub name: String,
    pub median: f64,
    pub p10: f64,
    pub p90: f64,
    pub samples: usize,
    pub iters_per_sample: u64,
}

impl Stat {
    pub fn to_json(&self) -> Value {
        json!({"name": self.name, "median_ns": round(self.median), "p10_ns": round(self.p10),
               "p90_ns": round(self.p90), "samples": self.samples,
               "iters_per_sample": self.iters_per_sample})
    }
}

fn round(x: f64) -> f64 {
    if x >= 100.0 {
        x.round()
    } else {
        (x * 10.0).round() / 10.0
    }
}

fn calibrate(c: &mut Contender<'_>, target: Duration) -> u64 {
    // Warm-up and calibration: double until one batch takes at least a tenth of the target.
    let mut iters: u64 = 1;
    loop {
        let t = Instant::now();
        for _ in 0..iters {
            (c.call)();
        }
        let e = t.elapsed();
        if e >= target / 10 || iters >= 1 << 30 {
            let per = e.as_secs_f64() / iters as f64;
            return ((target.as_secs_f64() / per.max(1e-12)) as u64).max(1);
        }
        iters *= 2;
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Measures every contender, interleaved.
pub fn run(contenders: &mut [Contender<'_>], budget: Budget) -> Vec<Stat> {
    // VIGIL_BENCH_ONLY=name,name runs only those contenders (for profiling one of them).
    if let Ok(only) = std::env::var("VIGIL_BENCH_ONLY") {
        for c in contenders.iter_mut() {
            if !only.split(',').any(|o| o == c.name) {
                c.call = Box::new(|| {});
            }
        }
    }
    let iters: Vec<u64> = contenders
        .iter_mut()
        .map(|c| calibrate(c, budget.sample_time))
        .collect();
    let mut times: Vec<Vec<f64>> = vec![Vec::with_capacity(budget.samples); contenders.len()];
    for _ in 0..budget.samples {
        for (i, c) in contenders.iter_mut().enumerate() {
            let n = iters[i];
            let t = Instant::now();
            for _ in 0..n {
                (c.call)();
            }
            let e = t.elapsed();
            times[i].push(e.as_nanos() as f64 / (n as f64 * c.ops_per_call as f64));
        }
    }
    contenders
        .iter()
        .zip(times)
        .zip(iters)
        .map(|((c, mut t), n)| {
            t.sort_by(|a, b| a.total_cmp(b));
            Stat {
                name: c.name.clone(),
                median: percentile(&t, 0.5),
                p10: percentile(&t, 0.1),
                p90: percentile(&t, 0.9),
                samples: t.len(),
                iters_per_sample: n,
            }
        })
        .collect()
}

/// Times a slow one-off operation (configure, instantiate) `reps` times; median ns.
pub fn time_reps<T>(reps: usize, mut f: impl FnMut() -> T) -> Stat {
    let mut t: Vec<f64> = (0..reps.max(1))
        .map(|_| {
            let s = Instant::now();
            black_box(f());
            s.elapsed().as_nanos() as f64
        })
        .collect();
    t.sort_by(|a, b| a.total_cmp(b));
    Stat {
        name: String::new(),
        median: percentile(&t, 0.5),
        p10: percentile(&t, 0.1),
        p90: percentile(&t, 0.9),
        samples: t.len(),
        iters_per_sample: 1,
    }
}
