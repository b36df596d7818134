//! `vigil bench`: how long your own policy takes — to configure, to decide a request the first
//! time (a token seen for the first time is verified), and to decide it again with the token
//! cached — natively and, with `--wasm`, through a compiled filter.wasm in the wasmtime host.

use crate::args::{self, Spec};
use crate::cli::{self, CmdResult, Failure, Io, StdinOnce, EXIT_OK};
use crate::input::{Origin, Source};
use crate::wasm::WasmFilter;
use policy_core::authenticate::TokenCache;
use policy_core::json::{Limits, Map, Value};
use policy_core::{CheckRequest, Engine, Env};
use std::hint::black_box;
use std::time::{Duration, Instant};

const BENCH: Spec = Spec {
    command: "bench",
    flags: &["json", "pretty"],
    options: &["policy", "request", "time", "wasm", "seconds"],
    positionals: false,
};

/// Median and spread of some timings, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Stat {
    median: f64,
    p10: f64,
    p90: f64,
    n: usize,
}

fn stat(mut t: Vec<f64>) -> Stat {
    t.sort_by(f64::total_cmp);
    let at = |p: f64| {
        let i = ((t.len().saturating_sub(1)) as f64 * p).round() as usize;
        t.get(i).copied().unwrap_or(f64::NAN)
    };
    Stat {
        median: at(0.5),
        p10: at(0.1),
        p90: at(0.9),
        n: t.len(),
    }
}

fn ns(d: Duration) -> f64 {
    d.as_nanos() as f64
}

/// Times `f` `reps` times.
fn reps<T>(reps: usize, mut f: impl FnMut() -> T) -> Stat {
    stat(
        (0..reps)
            .map(|_| {
                let t = Instant::now();
                black_box(f());
                ns(t.elapsed())
            })
            .collect(),
    )
}

/// Times rounds over every request until `budget` is spent (at least 5 rounds); one sample
/// per round, per decision.
fn rounds(n: usize, budget: Duration, mut round: impl FnMut()) -> Stat {
    let start = Instant::now();
    let mut t = Vec::new();
    while t.len() < 5 || (start.elapsed() < budget && t.len() < 100_000) {
        let s = Instant::now();
        round();
        t.push(ns(s.elapsed()) / n.max(1) as f64);
    }
    stat(t)
}

fn read_requests(v: &Value, origin: &Origin) -> Result<Vec<CheckRequest>, Failure> {
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    if items.is_empty() {
        return Err(Failure::input("request: the array holds no request"));
    }
    items
        .into_iter()
        .map(|r| CheckRequest::from_value(r).map_err(|e| cli::named("request", origin, &e.into())))
        .collect()
}

/// `vigil bench`.
pub fn bench(args: &[String], io: &mut Io<'_>) -> CmdResult {
    let parsed = args::parse(&BENCH, args)?;
    let policy_arg = parsed.required(&BENCH, "policy")?;
    let request_arg = parsed.required(&BENCH, "request")?;
    let time = cli::parse_time(parsed.option("time"))?;
    let seconds = match parsed.option("seconds") {
        None => 1.0,
        Some(s) => s
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite() && *x > 0.0 && *x <= 600.0)
            .ok_or_else(|| {
                Failure::usage("bench", format!("`--seconds` expects 0–600, found `{s}`"))
            })?,
    };
    let budget = Duration::from_secs_f64(seconds);
    let mut stdin = StdinOnce::default();
    let policy_src = stdin.read(io, "policy", policy_arg, Limits::POLICY.max_bytes)?;
    let policy_value = cli::parse_source("policy", &policy_src, Limits::POLICY)?;
    let engine = Engine::from_value(&policy_value)
        .map_err(|e| cli::named("policy", &policy_src.origin, &e.into()))?;
    let request_src = if request_arg.trim_start().starts_with(['{', '[']) {
        Source {
            origin: Origin::Inline,
            text: request_arg.to_string(),
        }
    } else {
        stdin.read(io, "request", request_arg, Limits::POLICY.max_bytes)?
    };
    let request_value = cli::parse_source("request", &request_src, Limits::POLICY)?;
    let requests = read_requests(&request_value, &request_src.origin)?;
    let now = time
        .or_else(|| requests.first().and_then(|r| r.time))
        .unwrap_or_else(|| (io.now)());
    let env = Env::at(now);
    let n = requests.len();

    let mut report = Map::new();
    report.insert("requests", Value::from(n as i64));
    report.insert("time", Value::from(now));
    let configure = reps(9, || Engine::from_value(&policy_value));
    let mut cache = TokenCache::new(4096);
    let first = stat(
        requests
            .iter()
            .map(|r| {
                let t = Instant::now();
                black_box(engine.decide_cached(r, &env, &mut cache));
                ns(t.elapsed())
            })
            .collect(),
    );
    let cached = rounds(n, budget, || {
        for r in &requests {
            black_box(engine.decide_cached(r, &env, &mut cache));
        }
    });
    let decisions: Vec<String> = requests
        .iter()
        .map(|r| engine.decide(r, &env).outcome.as_str().to_string())
        .collect();
    report.insert(
        "native",
        section(&[
            ("configure", configure),
            ("first", first),
            ("cached", cached),
        ]),
    );

    if let Some(path) = parsed.option("wasm") {
        let policy_json = policy_value.to_json();
        let t = Instant::now();
        let wf = WasmFilter::load(path)?;
        let compile = ns(t.elapsed());
        let named = |e: crate::host::HostError| Failure::input(format!("filter `{path}`: {e}"));
        let instantiate = reps(9, || wf.vm(&policy_json));
        // Agreement first: the filter must decide every request as the native engine does.
        let mut check_vm = wf.vm(&policy_json).map_err(named)?;
        for (k, r) in requests.iter().enumerate() {
            let d = crate::host::check::decide(&mut check_vm, r, now).map_err(named)?;
            let native = decisions.get(k).map(String::as_str).unwrap_or("");
            if d.decision.outcome.as_str() != native {
                return Err(Failure::input(format!(
                    "request {k}: the filter decided `{}`, natively `{native}`",
                    d.decision.outcome.as_str()
                )));
            }
        }
        let proxied: Vec<_> = requests.iter().map(crate::host::check::to_proxy).collect();
        let mut vm = wf.vm(&policy_json).map_err(named)?;
        vm.set_time(now);
        let send = |vm: &mut crate::host::Vm, k: usize| -> Result<(), Failure> {
            let Some(p) = proxied.get(k) else {
                return Ok(());
            };
            let mut b = vm.http_request();
            for (h, v) in &p.headers {
                b = b.header(h, v);
            }
            for (path, v) in &p.properties {
                b = b.property(path, v);
            }
            black_box(b.send_headers().map_err(named)?);
            Ok(())
        };
        let mut t_first = Vec::with_capacity(n);
        for k in 0..n {
            let s = Instant::now();
            send(&mut vm, k)?;
            t_first.push(ns(s.elapsed()));
        }
        let mut failed = None;
        let cached_w = rounds(n, budget, || {
            for k in 0..n {
                if let Err(e) = send(&mut vm, k) {
                    failed = Some(e);
                }
            }
        });
        if let Some(e) = failed {
            return Err(e);
        }
        let mut w = section(&[
            ("instantiate_configure", instantiate),
            ("first", stat(t_first)),
            ("cached", cached_w),
        ]);
        if let Value::Object(m) = &mut w {
            m.insert("compile_ns", num(compile));
        }
        report.insert("wasm", w);
    }

    let report = Value::Object(report);
    if parsed.flag("json") {
        let text = crate::cli::json_text(&report, parsed.flag("pretty"));
        writeln!(io.out, "{text}")?;
    } else {
        write_text(io, &report, n)?;
    }
    Ok(EXIT_OK)
}

fn num(x: f64) -> Value {
    Value::from(x.round() as i64)
}

fn section(items: &[(&str, Stat)]) -> Value {
    let mut m = Map::new();
    for (name, s) in items {
        let mut o = Map::new();
        o.insert("median_ns", num(s.median));
        o.insert("p10_ns", num(s.p10));
        o.insert("p90_ns", num(s.p90));
        o.insert("samples", Value::from(s.n as i64));
        m.insert(*name, Value::Object(o));
    }
    Value::Object(m)
}

fn human(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

fn write_text(io: &mut Io<'_>, report: &Value, n: usize) -> CmdResult {
    writeln!(io.out, "{n} request(s); medians (p10–p90)")?;
    let labels = [
        ("configure", "configure the policy"),
        ("instantiate_configure", "instantiate + configure"),
        ("first", "first decision (new tokens verified)"),
        ("cached", "decision, tokens cached"),
    ];
    for (where_, title) in [("native", "native"), ("wasm", "filter.wasm (wasmtime)")] {
        let Some(sec) = report.get(where_) else {
            continue;
        };
        writeln!(io.out, "{title}:")?;
        if let Some(c) = sec.get("compile_ns").and_then(Value::as_number) {
            writeln!(
                io.out,
                "  {:<40} {}",
                "compile the module",
                human(c.as_f64())
            )?;
        }
        for (key, label) in labels {
            let Some(s) = sec.get(key) else { continue };
            let g = |f: &str| {
                s.get(f)
                    .and_then(Value::as_number)
                    .map_or(f64::NAN, |x| x.as_f64())
            };
            writeln!(
                io.out,
                "  {label:<40} {} ({}–{})",
                human(g("median_ns")),
                human(g("p10_ns")),
                human(g("p90_ns"))
            )?;
        }
    }
    Ok(EXIT_OK)
}
