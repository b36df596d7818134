//! Runs every test file of the conformance corpus (`corpus/`) and of `examples/policies/`
//! natively, through the same `testcase` code the CLI and every other target use.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
use policy_core::authenticate::TokenCache;
use policy_core::json::{self, Limits};
use policy_core::testcase::{case_time, run_case, PolicySource, TestFile};
use policy_core::Engine;
use std::path::{Path, PathBuf};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect(&p, out);
        } else {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.ends_with(".json")
                && !name.ends_with(".policy.json")
                && !name.ends_with(".schema.json")
            {
                out.push(p);
            }
        }
    }
}

fn run_dir(rel: &str) -> (usize, Vec<String>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel);
    let mut files = Vec::new();
    collect(&root, &mut files);
    let mut passed = 0;
    let mut failures = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let v =
            json::parse(&text, Limits::POLICY).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let tf = TestFile::from_value(&v).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let engine = match &tf.policy {
            PolicySource::Inline(p) => Engine::from_value(p),
            PolicySource::Path(p) => {
                let pt = std::fs::read_to_string(f.parent().unwrap().join(p))
                    .unwrap_or_else(|e| panic!("{}: policy {p}: {e}", f.display()));
                Engine::from_json(&pt)
            }
        }
        .unwrap_or_else(|e| panic!("{}: policy: {e}", f.display()));
        let mut cache = TokenCache::new(64);
        for case in &tf.cases {
            let r = run_case(&engine, case, 1_700_000_000);
            // The two-phase API (authenticate once, then decide) and the cached path (twice:
            // a miss, then a hit) make the same decision as `decide`.
            let env = case.state.env(case_time(case, 1_700_000_000));
            let caller = engine.authenticate(&case.request, &env, None);
            let two_phase = engine.decide_caller(&case.request, &env, &caller);
            let cached = [0, 1].map(|_| engine.decide_cached(&case.request, &env, &mut cache));
            for (how, d) in [
                ("decide_caller", &two_phase),
                ("decide_cached (miss)", &cached[0]),
                ("decide_cached (hit)", &cached[1]),
            ] {
                if d.to_json() != r.decision.to_json() {
                    failures.push(format!(
                        "{} :: {}\n    {how} gave {}\n    decide gave {}",
                        f.display(),
                        r.name,
                        d.to_json(),
                        r.decision.to_json()
                    ));
                }
            }
            if r.passed() {
                passed += 1;
            } else {
                failures.push(format!(
                    "{} :: {}\n    {}\n    got {}",
                    f.display(),
                    r.name,
                    r.failures.join("\n    "),
                    r.decision.to_json()
                ));
            }
        }
    }
    (passed, failures)
}

#[test]
fn corpus_and_examples_pass_natively() {
    let mut total = 0;
    let mut all_failures = Vec::new();
    for dir in ["corpus", "examples/policies"] {
        let (p, f) = run_dir(dir);
        total += p + f.len();
        all_failures.extend(f);
    }
    assert!(
        all_failures.is_empty(),
        "{} of {total} cases failed:\n{}",
        all_failures.len(),
        all_failures.join("\n")
    );
    eprintln!("{total} corpus cases passed");
}
