//! `vigil test`: run policy test files (natively, or through filter.wasm) and report each case.

use crate::args::{self, Spec};
use crate::cli::{CmdResult, Failure, Io, EXIT_FAILED, EXIT_INPUT, EXIT_OK};
use crate::host::{check, HostError};
use crate::input::{self, InputError, Origin, Source};
use crate::table::{self, Column, Cut};
use crate::wasm::WasmFilter;
use policy_core::analysis::coverage::Coverage;
use policy_core::json::{Limits, Map, Value};
use policy_core::testcase::{case_time, check_case, run_case, CaseResult, PolicySource, TestFile};
use policy_core::{Decision, Engine};
use std::path::{Path, PathBuf};

const TEST: Spec = Spec {
    command: "test",
    flags: &["verbose", "json", "pretty", "table", "coverage"],
    options: &["wasm"],
    positionals: true,
};

/// Deepest directory nesting searched (guards against symlink loops).
const MAX_DEPTH: usize = 32;

/// One case that ran.
#[derive(Debug, Clone)]
pub struct CaseRun {
    /// `METHOD path` of the request, for tables.
    pub request: String,
    /// The result.
    pub result: CaseResult,
}

/// One test file: its cases, or why it could not run.
#[derive(Debug, Clone)]
pub struct FileRun {
    /// The file, as found.
    pub file: String,
    /// The policy it names (a path as written, or `inline`).
    pub policy: String,
    /// The cases, or a message (naming the file) saying why none ran.
    pub outcome: Result<Vec<CaseRun>, String>,
    /// What the cases exercised (natively explained), when the policy compiled.
    pub coverage: Option<Coverage>,
}

/// Whether a file found in a directory is a test file.
pub fn is_test_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let data = lower.ends_with(".json") || lower.ends_with(".yaml") || lower.ends_with(".yml");
    let policy = [".policy.json", ".policy.yaml", ".policy.yml"]
        .iter()
        .any(|s| lower.ends_with(s));
    data && !policy
}

/// The files named by the arguments: files as given, directories searched recursively and
/// sorted. An argument that cannot be read becomes an error entry.
pub fn collect(args: &[String]) -> Vec<Result<PathBuf, String>> {
    let mut out = Vec::new();
    for arg in args {
        let path = PathBuf::from(arg);
        match std::fs::metadata(&path) {
            Err(e) => out.push(Err(format!("`{arg}`: {}", input::io_message(&e)))),
            Ok(m) if m.is_dir() => {
                let mut found = Vec::new();
                walk(&path, 0, &mut found);
                if found.is_empty() {
                    out.push(Err(format!(
                        "`{arg}`: no test files found (*.json, *.yaml, *.yml; not *.policy.*)"
                    )));
                }
                found.sort();
                out.extend(found);
            }
            Ok(_) => out.push(Ok(path)),
        }
    }
    out
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<Result<PathBuf, String>>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            out.push(Err(format!(
                "`{}`: {}",
                dir.display(),
                input::io_message(&e)
            )));
            return;
        }
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => {
                if depth < MAX_DEPTH {
                    walk(&path, depth + 1, out);
                } else {
                    out.push(Err(format!(
                        "`{}`: nested too deeply (more than {MAX_DEPTH} levels)",
                        path.display()
                    )));
                }
            }
            Ok(_) if is_test_name(name) => out.push(Ok(path)),
            _ => {}
        }
    }
}

fn load_doc(path: &Path, limits: Limits) -> Result<Value, InputError> {
    let label = path.display().to_string();
    let text = input::read_file(path, limits.max_bytes)?;
    input::parse(
        &Source {
            origin: Origin::File(label),
            text,
        },
        limits,
    )
}

/// How a test file's cases are decided.
#[derive(Debug, Clone, Copy)]
pub enum Runner<'a> {
    /// By policy-core, natively.
    Native,
    /// By a compiled filter.wasm in the wasmtime host (one instance per file).
    Wasm(&'a WasmFilter),
}

/// Runs one test file natively at `now` (cases without a time).
pub fn run_file(path: &Path, now: i64) -> FileRun {
    run_file_with(path, now, Runner::Native)
}

/// Runs one test file at `now` (cases without a time) with `runner`.
pub fn run_file_with(path: &Path, now: i64, runner: Runner<'_>) -> FileRun {
    let file = path.display().to_string();
    let named = |what: String, e: &dyn std::fmt::Display| format!("{what}: {e}");
    let tf = match load_doc(path, Limits::POLICY)
        .and_then(|v| TestFile::from_value(&v).map_err(InputError::from))
    {
        Ok(tf) => tf,
        Err(e) => {
            return FileRun {
                outcome: Err(named(format!("test file `{file}`"), &e)),
                policy: String::new(),
                file,
                coverage: None,
            }
        }
    };
    // The policy is always compiled natively first, so errors read the same either way.
    let (policy, loaded) = match &tf.policy {
        PolicySource::Path(rel) => {
            let full = path.parent().unwrap_or(Path::new("")).join(rel);
            let loaded = load_doc(&full, Limits::POLICY)
                .and_then(|v| {
                    Engine::from_value(&v)
                        .map(|e| (e, v.to_json()))
                        .map_err(InputError::from)
                })
                .map_err(|e| {
                    named(
                        format!("test file `{file}`: policy `{}`", full.display()),
                        &e,
                    )
                });
            (rel.clone(), loaded)
        }
        PolicySource::Inline(v) => (
            "inline".to_string(),
            Engine::from_value(v)
                .map(|e| (e, v.to_json()))
                .map_err(|e| {
                    named(
                        format!("test file `{file}`: inline policy"),
                        &InputError::from(e),
                    )
                }),
        ),
    };
    let mut coverage = None;
    let outcome = loaded.and_then(|(engine, policy_json)| {
        let mut cov = Coverage::new(engine.plan());
        for case in &tf.cases {
            let (d, steps) = engine.explain(&case.request, &case.state.env(case_time(case, now)));
            cov.record(&d, &steps);
        }
        coverage = Some(cov);
        match runner {
            Runner::Native => Ok(tf
                .cases
                .iter()
                .map(|case| CaseRun {
                    request: format!("{} {}", case.request.method, case.request.path),
                    result: run_case(&engine, case, now),
                })
                .collect()),
            Runner::Wasm(filter) => run_wasm(filter, &engine, &policy_json, &tf, now)
                .map_err(|e| format!("test file `{file}`: filter `{}`: {e}", filter.path)),
        }
    });
    FileRun {
        file,
        policy,
        outcome,
        coverage,
    }
}

/// Runs a file's cases through one configured instance of the filter. A case the host cannot
/// complete (a trap, no decision logged) fails with the reason; after a trap the remaining
/// cases get a fresh instance.
fn run_wasm(
    filter: &WasmFilter,
    engine: &Engine,
    policy_json: &str,
    tf: &TestFile,
    now: i64,
) -> Result<Vec<CaseRun>, HostError> {
    let mut vm = filter.vm(policy_json)?;
    let mut out = Vec::with_capacity(tf.cases.len());
    for (serial, case) in (1u64..).zip(&tf.cases) {
        if let Err(why) =
            check::apply_state(&filter.host, engine, case, case_time(case, now), serial)
        {
            out.push(CaseRun {
                request: format!("{} {}", case.request.method, case.request.path),
                result: CaseResult {
                    name: case.name.clone(),
                    decision: Decision::new(policy_core::Outcome::Deny, 500, "host_error", &why),
                    failures: vec![format!("filter: {why}")],
                },
            });
            continue;
        }
        let result = match check::decide(&mut vm, &case.request, case_time(case, now)) {
            Ok(wd) => {
                let mut r = check_case(case, wd.decision);
                r.failures.extend(
                    wd.disagreements
                        .iter()
                        .map(|d| format!("filter did not enforce its decision: {d}")),
                );
                r
            }
            Err(e) => {
                if vm.dead().is_some() {
                    vm = filter.vm(policy_json)?;
                }
                CaseResult {
                    name: case.name.clone(),
                    decision: Decision::new(
                        policy_core::Outcome::Deny,
                        500,
                        "host_error",
                        e.to_string(),
                    ),
                    failures: vec![format!("filter: {e}")],
                }
            }
        };
        out.push(CaseRun {
            request: format!("{} {}", case.request.method, case.request.path),
            result,
        });
    }
    Ok(out)
}

/// `vigil test`.
pub fn test(rest: &[String], io: &mut Io<'_>) -> CmdResult {
    let parsed = args::parse(&TEST, rest)?;
    if parsed.positionals.is_empty() {
        return Err(Failure::usage(
            "test",
            "`vigil test` needs at least one test file or directory",
        ));
    }
    if parsed.positionals.iter().any(|p| p == "-") {
        return Err(Failure::usage(
            "test",
            "test files are read from files (their policy paths are relative to them), not `-`",
        ));
    }
    let filter = parsed.option("wasm").map(WasmFilter::load).transpose()?;
    let runner = filter.as_ref().map_or(Runner::Native, Runner::Wasm);
    let json = parsed.flag("json");
    let tabular = parsed.flag("table") && !json;
    let verbose = parsed.flag("verbose");
    let now = (io.now)();
    let mut runs = Vec::new();
    let mut errors = 0usize;
    for entry in collect(&parsed.positionals) {
        let run = match entry {
            Ok(path) => run_file_with(&path, now, runner),
            Err(msg) => FileRun {
                file: String::new(),
                policy: String::new(),
                outcome: Err(msg),
                coverage: None,
            },
        };
        match &run.outcome {
            Err(msg) => {
                errors += 1;
                writeln!(io.err, "vigil: {msg}")?;
            }
            Ok(cases) if !json && !tabular => {
                for c in cases {
                    report_case(io, &run.file, c, verbose)?;
                }
            }
            Ok(_) => {}
        }
        runs.push(run);
    }
    let cases = || {
        runs.iter()
            .filter_map(|r| r.outcome.as_ref().ok())
            .flatten()
    };
    let passed = cases().filter(|c| c.result.passed()).count();
    let failed = cases().count() - passed;
    let with_coverage = parsed.flag("coverage");
    if json {
        let mut v = report_value(&runs, passed, failed, errors);
        if with_coverage {
            if let Value::Object(m) = &mut v {
                if let Some(Value::Array(files)) = m.get("files").cloned() {
                    let files = files
                        .into_iter()
                        .zip(&runs)
                        .map(|(f, r)| match (f, &r.coverage) {
                            (Value::Object(mut fm), Some(c)) => {
                                fm.insert("coverage", c.to_value());
                                Value::Object(fm)
                            }
                            (other, _) => other,
                        })
                        .collect();
                    m.insert("files", Value::Array(files));
                }
            }
        }
        let text = crate::cli::json_text(&v, parsed.flag("pretty"));
        writeln!(io.out, "{text}")?;
    } else {
        if tabular {
            io.out.write_all(table_text(&runs).as_bytes())?;
            let mut first = true;
            for r in &runs {
                for c in r.outcome.iter().flatten().filter(|c| !c.result.passed()) {
                    if first {
                        writeln!(io.out, "\nfailures:")?;
                        first = false;
                    }
                    for f in &c.result.failures {
                        writeln!(io.out, "  {} :: {}: {f}", r.file, c.result.name)?;
                    }
                }
            }
        }
        if errors > 0 {
            writeln!(
                io.err,
                "vigil: {errors} {} (see above); their cases were not run",
                if errors == 1 { "error" } else { "errors" }
            )?;
        }
        if with_coverage {
            for r in &runs {
                let Some(c) = &r.coverage else { continue };
                writeln!(io.out, "{}: {}", r.file, c.summary())?;
                for it in c.items().iter().filter(|i| !i.covered) {
                    writeln!(io.out, "  not covered: {} {}", it.kind, it.name)?;
                }
            }
        }
        writeln!(io.out, "{passed} passed, {failed} failed")?;
    }
    Ok(if errors > 0 {
        EXIT_INPUT
    } else if failed > 0 {
        EXIT_FAILED
    } else {
        EXIT_OK
    })
}

fn report_case(io: &mut Io<'_>, file: &str, c: &CaseRun, verbose: bool) -> std::io::Result<()> {
    if c.result.passed() {
        if verbose {
            writeln!(io.out, "ok   {file} :: {}", c.result.name)?;
        }
        return Ok(());
    }
    writeln!(io.out, "FAIL {file} :: {}", c.result.name)?;
    for f in &c.result.failures {
        writeln!(io.out, "    {f}")?;
    }
    writeln!(io.out, "    got: {}", c.result.decision.to_json())
}

const TABLE: [Column; 7] = [
    Column {
        title: "RESULT",
        max: 6,
        cut: Cut::End,
    },
    Column {
        title: "POLICY",
        max: 28,
        cut: Cut::Start,
    },
    Column {
        title: "CASE",
        max: 40,
        cut: Cut::End,
    },
    Column {
        title: "REQUEST",
        max: 36,
        cut: Cut::End,
    },
    Column {
        title: "DECISION",
        max: 15,
        cut: Cut::End,
    },
    Column {
        title: "STATUS",
        max: 6,
        cut: Cut::End,
    },
    Column {
        title: "REASON",
        max: 64,
        cut: Cut::End,
    },
];

/// The `--table` view: one row per case.
pub fn table_text(runs: &[FileRun]) -> String {
    let mut rows = Vec::new();
    for r in runs {
        let policy = if r.policy == "inline" {
            let name = Path::new(&r.file)
                .file_name()
                .map_or_else(|| r.file.clone(), |n| n.to_string_lossy().into_owned());
            format!("{name} (inline)")
        } else {
            r.policy.clone()
        };
        for c in r.outcome.iter().flatten() {
            let d = &c.result.decision;
            rows.push(vec![
                if c.result.passed() { "ok" } else { "FAIL" }.to_string(),
                policy.clone(),
                c.result.name.clone(),
                c.request.clone(),
                d.outcome.as_str().to_string(),
                d.status.to_string(),
                d.reason.clone(),
            ]);
        }
    }
    table::render(&TABLE, &rows)
}

fn report_value(runs: &[FileRun], passed: usize, failed: usize, errors: usize) -> Value {
    let n = |x: usize| Value::from(i64::try_from(x).unwrap_or(i64::MAX));
    let files = runs
        .iter()
        .map(|r| {
            let mut m = Map::new();
            m.insert("file", Value::from(r.file.as_str()));
            m.insert("policy", Value::from(r.policy.as_str()));
            match &r.outcome {
                Err(msg) => {
                    m.insert("error", Value::from(msg.as_str()));
                    m.insert("cases", Value::Array(Vec::new()));
                }
                Ok(cases) => {
                    m.insert("error", Value::Null);
                    m.insert(
                        "cases",
                        Value::Array(
                            cases
                                .iter()
                                .map(|c| {
                                    let mut cm = Map::new();
                                    cm.insert("name", Value::from(c.result.name.as_str()));
                                    cm.insert("passed", Value::Bool(c.result.passed()));
                                    cm.insert(
                                        "failures",
                                        Value::Array(
                                            c.result
                                                .failures
                                                .iter()
                                                .map(|f| Value::from(f.as_str()))
                                                .collect(),
                                        ),
                                    );
                                    cm.insert("decision", c.result.decision.to_value());
                                    Value::Object(cm)
                                })
                                .collect(),
                        ),
                    );
                }
            }
            Value::Object(m)
        })
        .collect();
    let mut m = Map::new();
    m.insert("files", Value::Array(files));
    m.insert("passed", n(passed));
    m.insert("failed", n(failed));
    m.insert("errors", n(errors));
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_file_names() {
        assert!(is_test_name("a.test.json"));
        assert!(is_test_name("cases.yml"));
        assert!(is_test_name("X.YAML"));
        assert!(!is_test_name("payment.policy.json"));
        assert!(!is_test_name("payment.policy.yaml"));
        assert!(!is_test_name("README.md"));
    }
}
