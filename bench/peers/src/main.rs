//! `vigil-bench-peers`: the native half of `scripts/bench`. Measures policy evaluation
//! (Vigil, regorus interpreter and RVM, Cedar, a hand-written floor), token verification
//! (Vigil, jsonwebtoken) and the verified-token cache, and Vigil's scaling; prints one JSON
//! document. Every comparison is interleaved in this one process.
//!
//! Usage: vigil-bench-peers --root REPO [--quick] [--only policy,verify,scale,analysis] [--out FILE]
//!        vigil-bench-peers --root REPO [--quick] --write-fixtures DIR

mod analysis;
mod authz;
mod fixtures_out;
mod gen;
mod harness;
mod scale;
mod verify;

use harness::Budget;
use serde_json::json;
use std::time::{Duration, Instant};

fn main() {
    if let Err(e) = run() {
        eprintln!("vigil-bench-peers: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut root = ".".to_string();
    let mut quick = false;
    let mut only: Option<String> = None;
    let mut out: Option<String> = None;
    let mut write: Option<String> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--root" => root = it.next().ok_or("--root needs a value")?.clone(),
            "--quick" => quick = true,
            "--only" => only = Some(it.next().ok_or("--only needs a value")?.clone()),
            "--out" => out = Some(it.next().ok_or("--out needs a value")?.clone()),
            "--write-fixtures" => {
                write = Some(it.next().ok_or("--write-fixtures needs a value")?.clone())
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if let Some(dir) = write {
        return fixtures_out::write(&dir, &root, if quick { 50 } else { 300 });
    }
    let want = |s: &str| only.as_ref().is_none_or(|o| o.split(',').any(|x| x == s));
    let budget = if quick {
        Budget {
            samples: 11,
            sample_time: Duration::from_millis(4),
        }
    } else {
        Budget {
            samples: 41,
            sample_time: Duration::from_millis(20),
        }
    };
    let started = Instant::now();
    let mut doc = json!({"quick": quick,
                         "budget": {"samples": budget.samples, "sample_ms": budget.sample_time.as_millis() as u64}});
    if want("policy") {
        eprintln!("policy evaluation: app.authz");
        let mut suites = vec![authz::bench(&authz::app_authz_suite(&root)?, budget)?];
        let large = if quick { 100 } else { 1000 };
        eprintln!("policy evaluation: {large} rules");
        suites.push(authz::bench(&authz::large_suite(large)?, budget)?);
        doc["policy"] = json!(suites);
    }
    if want("verify") {
        eprintln!("token verification");
        doc["verify"] = verify::bench(budget)?;
    }
    if want("scale") {
        eprintln!("scale");
        let sizes: &[usize] = if quick {
            &[10, 100, 1000]
        } else {
            &[10, 100, 1000, 10_000, 100_000]
        };
        let sb = Budget {
            samples: if quick { 5 } else { 15 },
            sample_time: budget.sample_time,
        };
        doc["scale"] = scale::bench(sizes, sb)?;
        eprintln!("network list from a feed");
        doc["feeds"] = scale::feed_bench(budget)?;
    }
    if want("analysis") {
        eprintln!("policy analysis");
        doc["analysis"] = analysis::bench(&[100, 1000])?;
    }
    doc["seconds"] = json!(started.elapsed().as_secs_f64());
    let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
    match out {
        Some(p) => std::fs::write(&p, text).map_err(|e| format!("{p}: {e}"))?,
        None => println!("{text}"),
    }
    Ok(())
}
