//! `vigil check`: parse and compile each policy, then lint it.

use crate::args::{self, Spec};
use crate::cli::{CmdResult, Failure, Io, StdinOnce, EXIT_FAILED, EXIT_INPUT, EXIT_OK};
use crate::input::InputError;
use policy_core::json::{Limits, Map, Value};
use policy_core::lint::{Level, Lint};
use policy_core::Engine;

const CHECK: Spec = Spec {
    command: "check",
    flags: &["json", "pretty", "deny-warnings"],
    options: &[],
    positionals: true,
};

/// The outcome for one policy file.
#[derive(Debug, Clone)]
pub struct FileCheck {
    /// The file as given.
    pub file: String,
    /// Why it could not be used, if it could not.
    pub error: Option<InputError>,
    /// Lints, when it compiled.
    pub lints: Vec<Lint>,
}

/// Checks one policy file.
pub fn check_file(file: &str, io: &mut Io<'_>, stdin: &mut StdinOnce) -> FileCheck {
    let result = stdin
        .read_input(io, "policy", file, Limits::POLICY.max_bytes)
        .and_then(|src| {
            let v = crate::input::parse(&src, Limits::POLICY)?;
            Ok(Engine::from_value(&v)?)
        });
    match result {
        Ok(engine) => FileCheck {
            file: file.to_string(),
            error: None,
            lints: engine.lints(),
        },
        Err(e) => FileCheck {
            file: file.to_string(),
            error: Some(e),
            lints: Vec::new(),
        },
    }
}

fn level_str(l: Level) -> &'static str {
    match l {
        Level::Info => "info",
        Level::Warning => "warning",
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `vigil check`.
pub fn check(rest: &[String], io: &mut Io<'_>) -> CmdResult {
    let parsed = args::parse(&CHECK, rest)?;
    if parsed.positionals.is_empty() {
        return Err(Failure::usage(
            "check",
            "`vigil check` needs at least one policy file",
        ));
    }
    let mut stdin = StdinOnce::default();
    let results: Vec<FileCheck> = parsed
        .positionals
        .iter()
        .map(|f| check_file(f, io, &mut stdin))
        .collect();
    let errors = results.iter().filter(|r| r.error.is_some()).count();
    let count = |level| {
        results
            .iter()
            .flat_map(|r| &r.lints)
            .filter(|l| l.level == level)
            .count()
    };
    let (warnings, infos) = (count(Level::Warning), count(Level::Info));
    if parsed.flag("json") {
        let v = report_value(&results, errors, warnings, infos);
        let text = crate::cli::json_text(&v, parsed.flag("pretty"));
        writeln!(io.out, "{text}")?;
    } else {
        for r in &results {
            if let Some(e) = &r.error {
                writeln!(io.out, "error: {}: {e} [{}]", r.file, e.code)?;
            }
            for l in &r.lints {
                writeln!(
                    io.out,
                    "{}: {}: {}: {} [{}]",
                    level_str(l.level),
                    r.file,
                    l.path,
                    l.message,
                    l.code
                )?;
            }
        }
        writeln!(
            io.out,
            "checked {}: {}, {}, {} info",
            plural(results.len(), "policy", "policies"),
            plural(errors, "error", "errors"),
            plural(warnings, "warning", "warnings"),
            infos
        )?;
    }
    Ok(if errors > 0 {
        EXIT_INPUT
    } else if warnings > 0 && parsed.flag("deny-warnings") {
        EXIT_FAILED
    } else {
        EXIT_OK
    })
}

fn report_value(results: &[FileCheck], errors: usize, warnings: usize, infos: usize) -> Value {
    let n = |x: usize| Value::from(i64::try_from(x).unwrap_or(i64::MAX));
    let files = results
        .iter()
        .map(|r| {
            let mut m = Map::new();
            m.insert("file", Value::from(r.file.as_str()));
            m.insert("valid", Value::Bool(r.error.is_none()));
            m.insert(
                "error",
                r.error.as_ref().map_or(Value::Null, |e| {
                    let mut em = Map::new();
                    em.insert("code", Value::from(e.code));
                    em.insert("path", e.path.as_deref().map_or(Value::Null, Value::from));
                    em.insert("message", Value::from(e.message.as_str()));
                    Value::Object(em)
                }),
            );
            m.insert(
                "lints",
                Value::Array(
                    r.lints
                        .iter()
                        .map(|l| {
                            let mut lm = Map::new();
                            lm.insert("level", Value::from(level_str(l.level)));
                            lm.insert("code", Value::from(l.code));
                            lm.insert("path", Value::from(l.path.as_str()));
                            lm.insert("message", Value::from(l.message.as_str()));
                            Value::Object(lm)
                        })
                        .collect(),
                ),
            );
            Value::Object(m)
        })
        .collect();
    let mut m = Map::new();
    m.insert("files", Value::Array(files));
    m.insert("errors", n(errors));
    m.insert("warnings", n(warnings));
    m.insert("infos", n(infos));
    Value::Object(m)
}
