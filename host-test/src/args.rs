//! A small hand-rolled argument parser: long options (`--name value`, `--name=value`),
//! boolean flags, positionals, `--` to end options and `-` as a positional (standard input).
//! No dependency, so the future wasm host build stays lean.

use crate::cli::Failure;

/// What a subcommand accepts.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// The subcommand, for messages (`eval`).
    pub command: &'static str,
    /// Options without a value (`--pretty`).
    pub flags: &'static [&'static str],
    /// Options with a value (`--policy`).
    pub options: &'static [&'static str],
    /// Whether positionals are accepted.
    pub positionals: bool,
}

/// Parsed arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    flags: Vec<&'static str>,
    options: Vec<(&'static str, String)>,
    /// Positional arguments, in order.
    pub positionals: Vec<String>,
}

impl Parsed {
    /// Whether flag `name` (without dashes) was given.
    pub fn flag(&self, name: &str) -> bool {
        self.flags.contains(&name)
    }
    /// The value of option `name` (without dashes), if given.
    pub fn option(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
    /// The value of a required option.
    pub fn required(&self, spec: &Spec, name: &str) -> Result<&str, Failure> {
        self.option(name).ok_or_else(|| {
            Failure::usage(
                spec.command,
                format!("`vigil {}` needs `--{name}`", spec.command),
            )
        })
    }
}

/// True when the arguments ask for help (`--help` or `-h` before any `--`).
pub fn wants_help(args: &[String]) -> bool {
    args.iter()
        .take_while(|a| a.as_str() != "--")
        .any(|a| a == "--help" || a == "-h")
}

/// Parses `args` (after the subcommand) against `spec`.
pub fn parse(spec: &Spec, args: &[String]) -> Result<Parsed, Failure> {
    let mut out = Parsed::default();
    let mut it = args.iter();
    let mut only_positionals = false;
    while let Some(arg) = it.next() {
        let name_value = if only_positionals || arg == "-" || !arg.starts_with('-') {
            None
        } else if arg == "--" {
            only_positionals = true;
            continue;
        } else if let Some(long) = arg.strip_prefix("--") {
            Some(match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            })
        } else {
            return Err(Failure::usage(
                spec.command,
                format!("unknown option `{arg}`"),
            ));
        };
        let Some((name, inline)) = name_value else {
            if !spec.positionals {
                return Err(Failure::usage(
                    spec.command,
                    format!("unexpected argument `{arg}`"),
                ));
            }
            out.positionals.push(arg.clone());
            continue;
        };
        if let Some(&flag) = spec.flags.iter().find(|f| **f == name) {
            if inline.is_some() {
                return Err(Failure::usage(
                    spec.command,
                    format!("`--{name}` takes no value"),
                ));
            }
            if !out.flags.contains(&flag) {
                out.flags.push(flag);
            }
        } else if let Some(&opt) = spec.options.iter().find(|o| **o == name) {
            let value = match inline {
                Some(v) => v.to_string(),
                None => it.next().cloned().ok_or_else(|| {
                    Failure::usage(spec.command, format!("`--{name}` needs a value"))
                })?,
            };
            if out.option(opt).is_some() {
                return Err(Failure::usage(
                    spec.command,
                    format!("`--{name}` given more than once"),
                ));
            }
            out.options.push((opt, value));
        } else {
            return Err(Failure::usage(
                spec.command,
                format!("unknown option `--{name}`"),
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: Spec = Spec {
        command: "eval",
        flags: &["pretty"],
        options: &["policy", "time"],
        positionals: true,
    };

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_options_flags_and_positionals() {
        let p = parse(
            &SPEC,
            &v(&[
                "--policy", "p.json", "--time=5", "--pretty", "-", "x", "--", "--y",
            ]),
        )
        .unwrap();
        assert_eq!(p.option("policy"), Some("p.json"));
        assert_eq!(p.option("time"), Some("5"));
        assert!(p.flag("pretty"));
        assert_eq!(p.positionals, v(&["-", "x", "--y"]));
    }

    #[test]
    fn value_may_start_with_a_dash() {
        let p = parse(&SPEC, &v(&["--time", "-5"])).unwrap();
        assert_eq!(p.option("time"), Some("-5"));
    }

    #[test]
    fn refuses_bad_arguments() {
        let msg = |a: &[&str]| parse(&SPEC, &v(a)).unwrap_err().message;
        assert_eq!(msg(&["--nope"]), "unknown option `--nope`");
        assert_eq!(msg(&["-x"]), "unknown option `-x`");
        assert_eq!(msg(&["--policy"]), "`--policy` needs a value");
        assert_eq!(msg(&["--pretty=1"]), "`--pretty` takes no value");
        assert_eq!(
            msg(&["--policy", "a", "--policy", "b"]),
            "`--policy` given more than once"
        );
        let no_pos = Spec {
            positionals: false,
            ..SPEC
        };
        assert_eq!(
            parse(&no_pos, &v(&["x"])).unwrap_err().message,
            "unexpected argument `x`"
        );
    }

    #[test]
    fn help_before_double_dash_only() {
        assert!(wants_help(&v(&["--policy", "p", "--help"])));
        assert!(wants_help(&v(&["-h"])));
        assert!(!wants_help(&v(&["--", "--help"])));
    }
}
