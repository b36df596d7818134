//! `vigil-bench-verify`: the signature-verification matrix of issue 13 — Vigil's
//! `verify_signature` per algorithm and key size, natively against *ring*, and the same code
//! compiled to wasm32-wasip1 (run by `run.mjs` under Node's WASI), in one `scripts/bench` run.
//!
//! Usage: vigil-bench-verify gen OUT.json              (native only: keys, JWKS, signatures)
//!        vigil-bench-verify run VECTORS.json [--quick] (prints one JSON document on stdout)
//!
//! Every case's JWKS is parsed once with `JwkSet::parse`; what is timed is
//! `verify_signature(alg, &key, message, signature)` alone (digest, RSA/ECDSA/EdDSA
//! arithmetic, encoding checks), and natively ring's verify of the same signature from the raw
//! public material (ring parses the key on each call: it has no pre-parsed public-key API for
//! verification, so that is what a ring user pays). A case Vigil does not support (no `Alg`
//! for its name, or a JWKS it refuses) is reported as skipped with the reason.

#[cfg(not(target_arch = "wasm32"))]
mod gen;
#[cfg(not(target_arch = "wasm32"))]
mod reference;

use policy_core::authenticate::jwks::{Alg, JwkSet};
use policy_core::authenticate::jwt::verify_signature;
use serde_json::{json, Value};
use std::hint::black_box;
use std::time::{Duration, Instant};

const TARGET: &str = if cfg!(target_arch = "wasm32") {
    "wasm32-wasip1"
} else {
    "native"
};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("gen") => match args.get(1) {
            Some(out) => generate(out),
            None => Err("usage: vigil-bench-verify gen OUT.json".to_string()),
        },
        Some("run") => match args.get(1) {
            Some(vectors) => run(vectors, args.iter().skip(2).any(|a| a == "--quick")),
            None => Err("usage: vigil-bench-verify run VECTORS.json [--quick]".to_string()),
        },
        _ => Err("usage: vigil-bench-verify gen OUT.json | run VECTORS.json [--quick]".to_string()),
    };
    if let Err(e) = result {
        eprintln!("vigil-bench-verify: {e}");
        std::process::exit(1);
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn generate(out: &str) -> Result<(), String> {
    let doc = gen::vectors();
    let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
    std::fs::write(out, text + "\n").map_err(|e| format!("{out}: {e}"))?;
    eprintln!(
        "vigil-bench-verify: wrote {} cases to {out}",
        doc["cases"].as_array().map_or(0, Vec::len)
    );
    Ok(())
}

#[cfg(target_arch = "wasm32")]
fn generate(_out: &str) -> Result<(), String> {
    Err("`gen` runs natively only (key generation and signing are not built for Wasm)".to_string())
}

/// How long each timed batch lasts and how many there are.
#[derive(Debug, Clone, Copy)]
struct Budget {
    batch: Duration,
    batches: usize,
    warmup: Duration,
}

fn run(path: &str, quick: bool) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
    let cases = doc["cases"]
        .as_array()
        .ok_or_else(|| format!("{path}: no `cases` array"))?;
    let budget = if quick {
        Budget {
            batch: Duration::from_millis(5),
            batches: 5,
            warmup: Duration::from_millis(20),
        }
    } else {
        Budget {
            batch: Duration::from_millis(20),
            batches: 21,
            // Long enough for V8 to tier the hot functions up from Liftoff to TurboFan.
            warmup: Duration::from_millis(200),
        }
    };
    let mut out = Vec::new();
    for case in cases {
        let r = run_case(case, budget);
        eprintln!("vigil-bench-verify: {}", summary(&r));
        out.push(r);
    }
    let report = json!({
        "target": TARGET,
        "quick": quick,
        "batch_ms": budget.batch.as_secs_f64() * 1e3,
        "batches": budget.batches,
        "cases": out,
    });
    println!("{report}");
    Ok(())
}

fn summary(r: &Value) -> String {
    let name = format!(
        "{} {}",
        r["alg"].as_str().unwrap_or("?"),
        r["key"].as_str().unwrap_or("?")
    );
    if let Some(s) = r["skipped"].as_str() {
        return format!("{name}: skipped: {s}");
    }
    if let Some(s) = r["error"].as_str() {
        return format!("{name}: ERROR: {s}");
    }
    let us = |v: &Value| {
        v["median_us"]
            .as_f64()
            .map_or("—".to_string(), |x| format!("{x:.1} µs"))
    };
    match r.get("ring") {
        Some(ring) => format!("{name}: vigil {} ring {}", us(&r["vigil"]), us(ring)),
        None => format!("{name}: vigil {}", us(&r["vigil"])),
    }
}

fn run_case(case: &Value, budget: Budget) -> Value {
    let alg_name = case["alg"].as_str().unwrap_or("");
    let mut r = json!({"alg": alg_name, "key": case["key"], "kid": case["kid"]});
    let fields = (
        case["jwks"].as_str(),
        case["message"].as_str(),
        case["signature"].as_str().and_then(b64url_decode),
    );
    let (Some(jwks), Some(message), Some(signature)) = fields else {
        r["error"] = json!("malformed case: needs `jwks`, `message` and a base64url `signature`");
        return r;
    };
    let message = message.as_bytes();
    r["message_bytes"] = json!(message.len());
    r["signature_bytes"] = json!(signature.len());
    let Some(alg) = Alg::from_name(alg_name) else {
        r["skipped"] = json!(format!(
            "Vigil has no algorithm `{alg_name}` (Alg::from_name)"
        ));
        return r;
    };
    let set = match JwkSet::parse(jwks) {
        Ok(set) => set,
        Err(e) => {
            r["skipped"] = json!(format!("JwkSet::parse refused the key set: {e}"));
            return r;
        }
    };
    let Some(jwk) = set.keys().first() else {
        r["skipped"] = json!("JwkSet::parse kept no key");
        return r;
    };
    let key = &jwk.key;
    if !verify_signature(alg, key, message, &signature) {
        r["error"] = json!("verify_signature returned false on a valid signature");
        return r;
    }
    let mut tampered = signature.clone();
    if let Some(b) = tampered.last_mut() {
        *b ^= 1;
    }
    if verify_signature(alg, key, message, &tampered) {
        r["error"] = json!("verify_signature accepted a signature with a flipped bit");
        return r;
    }
    let mut vigil = || {
        verify_signature(
            black_box(alg),
            black_box(key),
            black_box(message),
            black_box(&signature),
        )
    };

    #[cfg(not(target_arch = "wasm32"))]
    {
        let ring = match reference::Ring::from_case(case) {
            Ok(ring) => ring,
            Err(e) => {
                r["ring"] = json!({"error": e});
                r["vigil"] = measure(&mut [&mut vigil], budget).remove(0);
                return r;
            }
        };
        if !ring.verify(message, &signature) || ring.verify(message, &tampered) {
            r["ring"] = json!({"error": "ring disagrees: rejected the valid or accepted the flipped signature"});
            r["vigil"] = measure(&mut [&mut vigil], budget).remove(0);
            return r;
        }
        let mut ring_verify = || ring.verify(black_box(message), black_box(&signature));
        let mut stats = measure(&mut [&mut vigil, &mut ring_verify], budget);
        r["ring"] = stats.remove(1);
        r["vigil"] = stats.remove(0);
    }
    #[cfg(target_arch = "wasm32")]
    {
        r["vigil"] = measure(&mut [&mut vigil], budget).remove(0);
    }
    r
}

/// Times each contender in batches of ~`budget.batch`, the contenders' batches interleaved
/// (round-robin) so that load on the machine falls on all of them alike. Each contender must
/// return true on every call. Returns, per contender, the median and minimum µs per call over
/// the batches.
fn measure(contenders: &mut [&mut dyn FnMut() -> bool], budget: Budget) -> Vec<Value> {
    let mut sizes = Vec::with_capacity(contenders.len());
    for f in contenders.iter_mut() {
        // Warm-up (caches, branch predictors; inside V8 the tier-up to optimised code), which
        // also estimates the cost of one call.
        let start = Instant::now();
        let mut calls = 0u64;
        while start.elapsed() < budget.warmup || calls < 3 {
            black_box(f());
            calls += 1;
        }
        let per_call = start.elapsed().as_secs_f64() / calls as f64;
        let n = (budget.batch.as_secs_f64() / per_call).ceil().max(1.0) as u64;
        sizes.push(n);
    }
    let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(budget.batches); contenders.len()];
    let mut ok = vec![true; contenders.len()];
    for _ in 0..budget.batches {
        for (i, f) in contenders.iter_mut().enumerate() {
            let n = sizes[i];
            let mut all = true;
            let start = Instant::now();
            for _ in 0..n {
                all &= black_box(f());
            }
            let us = start.elapsed().as_secs_f64() * 1e6 / n as f64;
            ok[i] &= all;
            samples[i].push(us);
        }
    }
    samples
        .into_iter()
        .enumerate()
        .map(|(i, mut s)| {
            s.sort_by(f64::total_cmp);
            let median = s[s.len() / 2];
            let min = s[0];
            let mut v = json!({
                "median_us": round2(median),
                "min_us": round2(min),
                "calls_per_batch": sizes[i],
                "batches": s.len(),
            });
            if !ok[i] {
                v["error"] = json!("a timed call returned false");
            }
            v
        })
        .collect()
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// base64url without padding (RFC 7515 §2).
pub fn b64url(data: &[u8]) -> String {
    let mut s = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..=chunk.len() {
            s.push(B64URL[((v >> (18 - 6 * k)) & 63) as usize] as char);
        }
    }
    s
}

/// Decodes base64url without padding; None on any other character or a dangling sextet.
pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = B64URL.iter().position(|&x| x == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    (bits < 6).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_round_trips() {
        for n in 0..40u8 {
            let data: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37).wrapping_add(n)).collect();
            assert_eq!(b64url_decode(&b64url(&data)).as_deref(), Some(&data[..]));
        }
        assert_eq!(b64url(b"\xfb\xff"), "-_8");
        assert_eq!(b64url_decode("A"), None);
    }
}
