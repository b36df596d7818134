//! Dispatch, help texts, exit codes and the I/O handles every subcommand writes to.

use crate::input::{self, InputError, Origin, Source};
use policy_core::json::{Limits, Value};
use std::ffi::OsString;
use std::io::{Read, Write};

/// Success.
pub const EXIT_OK: u8 = 0;
/// A check ran and did not hold (failing test case, denied warning).
pub const EXIT_FAILED: u8 = 1;
/// Bad usage or input that could not be read or used.
pub const EXIT_INPUT: u8 = 2;

/// The handles a command reads and writes, and its clock.
pub struct Io<'a> {
    /// Standard input (read at most once, for `-`).
    pub stdin: &'a mut dyn Read,
    /// Standard output.
    pub out: &'a mut dyn Write,
    /// Standard error.
    pub err: &'a mut dyn Write,
    /// Unix seconds now (injected so tests can fix it).
    pub now: fn() -> i64,
}

impl std::fmt::Debug for Io<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Io")
    }
}

/// The system clock in Unix seconds (0 if the clock is before 1970).
pub fn system_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A JSON report as `--json` prints it: one line, or indented with `--pretty`.
pub fn json_text(v: &Value, pretty: bool) -> String {
    if pretty {
        v.to_json_pretty()
    } else {
        v.to_json()
    }
}

/// A command that stopped: an exit code and a message for standard error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The exit code.
    pub exit: u8,
    /// Lower-case message, without the `vigil: ` prefix.
    pub message: String,
    /// For usage errors, the subcommand whose help to point at.
    pub usage_of: Option<&'static str>,
}

impl Failure {
    /// Bad input (exit 2).
    pub fn input(message: impl Into<String>) -> Self {
        Failure {
            exit: EXIT_INPUT,
            message: message.into(),
            usage_of: None,
        }
    }
    /// Bad usage of `command` (exit 2, with a pointer to its help).
    pub fn usage(command: &'static str, message: impl Into<String>) -> Self {
        Failure {
            exit: EXIT_INPUT,
            message: message.into(),
            usage_of: Some(command),
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            // The reader went away (`vigil test | head`): nothing worth saying.
            return Failure::input("");
        }
        Failure::input(format!("cannot write output: {}", input::io_message(&e)))
    }
}

/// The result of a command: its exit code, or a failure to report.
pub type CmdResult = Result<u8, Failure>;

const MAIN_HELP: &str = "\
vigil — Zero Trust policy decisions, the same everywhere Vigil runs

Usage: vigil <command> [options]

Commands:
  eval      decide one request and print the decision as JSON
  explain   decide one request and show every step that led to the decision
  check     validate and lint policy documents
  diff      which requests a policy change lets in or locks out, with a witness for each
  bundle    Ed25519 keys, signed policy and feed bundles: keygen, sign, verify
  test      run policy test files (cases with a request and the expected decision)
  bench     time your policy: configure, first decision, cached decision (native, --wasm)
  help      show help for a command (`vigil help eval`)

Options:
  -h, --help     show this help (each command has its own: `vigil eval --help`)
  --version      print the version

Files ending in `.yaml` or `.yml` are read as YAML, everything else as JSON; `-` reads
standard input. Exit codes: 0 success, 1 a check failed, 2 bad usage or unreadable input.
";

pub(crate) const EVAL_HELP: &str = "\
vigil eval — decide one request and print the decision as JSON

Usage: vigil eval --policy POLICY --request REQUEST [--time UNIX] [--pretty] [--wasm FILE]

Options:
  --policy FILE      the policy document (JSON or YAML; `-` for standard input)
  --request REQUEST  the check request: a file, `-`, or inline JSON starting with `{`
  --time UNIX        decide at this time (Unix seconds); default: the request's `time`,
                     else the system clock
  --pretty           indent the JSON (default: one line)
  --wasm FILE        decide with a compiled filter.wasm in the wasmtime proxy-wasm host
                     instead of natively (same output); exit 1 if what the filter did
                     (local response, header changes) disagrees with its decision
  -h, --help         show this help

Prints {\"decision\",\"status\",\"code\",\"reason\",\"policy\",\"rule\",\"principal\",
\"responseHeaders\",\"upstreamHeaders\",\"removeHeaders\",\"audit\",\"dryRun\"}.
Exit codes: 0 whatever the decision; 1 with --wasm when the filter's actions disagree
with its decision; 2 when an input (or the filter) cannot be read or is invalid.

Examples:
  vigil eval --policy payment.policy.json --request '{\"method\":\"GET\",\"path\":\"/pay\"}'
  vigil eval --wasm dist/filter.wasm --policy payment.policy.json --request req.json
";

pub(crate) const EXPLAIN_HELP: &str = "\
vigil explain — decide one request and show every step that led to the decision

Usage: vigil explain --policy POLICY --request REQUEST [--time UNIX] [--json] [--pretty]

Options:
  --policy FILE      the policy document (JSON or YAML; `-` for standard input)
  --request REQUEST  the check request: a file, `-`, or inline JSON starting with `{`
  --time UNIX        decide at this time (Unix seconds); default: the request's `time`,
                     else the system clock
  --json             print {\"decision\": ..., \"trace\": [...]} instead of text
  --pretty           with --json, indent the JSON
  -h, --help         show this help

The text form shows the request, each step (stage, policy, rule, ✓ matched or ✗ not,
what was found) and the final decision. Exit codes as for `vigil eval`.
";

pub(crate) const CHECK_HELP: &str = "\
vigil check — validate and lint policy documents

Usage: vigil check POLICY... [--deny-warnings] [--json] [--pretty]

Each policy is parsed and compiled; errors and lints are printed as
  error: FILE: JSON.PATH: message [code]
  warning: FILE: JSON.PATH: message [code]
  info: FILE: JSON.PATH: message [code]
followed by a summary line.

Options:
  --deny-warnings    exit 1 when there are warnings
  --json             print a machine-readable report instead of text
  --pretty           with --json, indent the JSON
  -h, --help         show this help

Exit codes: 0 valid (warnings allowed); 1 warnings with --deny-warnings; 2 a policy could not
be read or is invalid.
";

pub(crate) const DIFF_HELP: &str = "\
vigil diff — which requests a policy change lets in or locks out

Usage: vigil diff OLD NEW [--json] [--pretty] [--time UNIX]

Compares two policy documents over every request they can tell apart: the analysis takes
each value a matcher names (exact values, prefixes and suffixes and the values around them,
CIDR boundaries, ports, absent attributes, values no policy names) and splits the request
space until each region is decided alike by each document; one request of every region (the
witness) is decided by both engines. Every region decided differently is printed with its
witness and both decisions:
  + newly allowed: GET /admin/x, host api.example.com, token {...}
      before (OLD): deny 403 no_matching_policy
      after  (NEW): allow 200 allowed_by_policy by `admins`
Witness tokens are signed by an analysis key that both documents are given in place of
their issuers' keys. What is not analysed (trust scores, rate limits, behaviour, time,
resource requirements, device and network signals) is listed, never guessed.

Options:
  --json             print {\"equivalent\", \"complete\", \"changes\": [{\"kind\",
                     \"request\", \"tokenClaims\", \"before\", \"after\", \"cubes\"}],
                     \"notAnalysed\", \"cubes\"}
  --pretty           with --json, indent the JSON
  --time UNIX        decide at this time (default: now)
  -h, --help         show this help

Exit codes: 0 equivalent; 1 requests are decided differently (or the search could not
finish); 2 a policy could not be read or is invalid.
";

pub(crate) const BUNDLE_HELP: &str = "\
vigil bundle — signed policy and feed bundles (docs/bundles.md)

Usage: vigil bundle keygen --kid KID --out PRIVATE.jwk
       vigil bundle sign --key PRIVATE.jwk --kind KIND --revision N [--issued-at UNIX] DOCUMENT
       vigil bundle verify --keys PUBLIC.jwks --kind KIND [--after-revision N] [--json]
                           [--print-document] BUNDLE

keygen   writes a new Ed25519 private key (a JWK, mode 0600, never overwritten) and prints
         the public key set the verifiers are configured with
sign     prints the bundle (a JWS: header {alg EdDSA, kid, typ vigil-bundle}, payload {kind,
         revision, issuedAt, document}); a policy that does not load is not signed
verify   checks the signature against the key set (chosen by kid), the kind, the revision
         (above --after-revision: an older bundle replayed is refused) and, for a policy, that
         it loads; prints what it found

KIND is policy, revocation, networkLists or riskLabels.
Exit codes: 0 signed / valid; 1 the bundle is refused (with its code); 2 bad usage or
unreadable input.
";

pub(crate) const TEST_HELP: &str = "\
vigil test — run policy test files

Usage: vigil test FILE_OR_DIR... [--verbose] [--table] [--json] [--pretty] [--coverage]
                  [--wasm FILE]

A test file names a policy (a path relative to the test file, or an inline document) and
cases, each a request with the expected decision fields. Directories are searched
recursively for *.json, *.yaml and *.yml files, in sorted order, skipping hidden entries and
files named *.policy.json / *.policy.yaml / *.policy.yml (policies, not tests).

For each failing case prints `FAIL FILE :: CASE`, each expectation that did not hold, and
the decision made; the last line is `N passed, N failed` (counting cases).

Options:
  --verbose          also print `ok FILE :: CASE` for passing cases
  --table            print a table of every case (policy, case, request, decision, status,
                     reason) instead of FAIL lines
  --json             print a machine-readable report instead of text
  --pretty           with --json, indent the JSON
  --coverage         also report, per file, which policies, rules, resources, sensitivity
                     classes and trust risks some case exercised (a rule: it matched in
                     some case's explanation), and list the ones none did
  --wasm FILE        run the cases through a compiled filter.wasm in the wasmtime
                     proxy-wasm host (one instance per policy); a case also fails when
                     what the filter did disagrees with the decision it logged
  -h, --help         show this help

Exit codes: 0 every case passed; 1 a case failed; 2 a file could not be read or used (the
other files still run).
";

pub(crate) const BENCH_HELP: &str = "\
vigil bench — time your own policy on your own requests

Usage: vigil bench --policy POLICY --request REQUESTS [--time UNIX] [--seconds S]
                   [--wasm FILE] [--json] [--pretty]

Measures, natively and (with --wasm) through a compiled filter.wasm in the wasmtime
proxy-wasm host:
  configure        parse + compile the policy (with --wasm: instantiate + configure a VM)
  first decision   each request decided once on a fresh token cache: a token seen for the
                   first time is verified (give each request its own token to time that)
  cached decision  the requests decided again and again, tokens taken from the cache (the
                   common case in a proxy)
Prints medians with the 10th–90th percentiles. Through --wasm the filter must decide every
request as the native engine does, or the command stops (exit 2).

Options:
  --policy FILE       the policy document (JSON or YAML; `-` for standard input)
  --request REQUESTS  one check request or a JSON array of them: a file, `-`, or inline JSON
  --time UNIX         decide at this time; default: the first request's `time`, else now
  --seconds S         time spent on the cached rounds, per mode (default 1)
  --wasm FILE         also measure through this filter.wasm
  --json              print the measurements as JSON (nanoseconds)
  --pretty            with --json, indent the JSON
  -h, --help          show this help

Exit codes: 0 measured; 2 bad usage, unreadable input, or a filter that decides otherwise.
";

fn help_for(command: &str) -> Option<&'static str> {
    Some(match command {
        "eval" => EVAL_HELP,
        "explain" => EXPLAIN_HELP,
        "check" => CHECK_HELP,
        "diff" => DIFF_HELP,
        "bundle" => BUNDLE_HELP,
        "test" => TEST_HELP,
        "bench" => BENCH_HELP,
        _ => return None,
    })
}

/// Runs `vigil` with `args` (without the program name) and returns the exit code.
pub fn run(args: &[OsString], io: &mut Io<'_>) -> u8 {
    let result = args
        .iter()
        .map(|a| {
            a.to_str().map(str::to_string).ok_or_else(|| {
                Failure::input(format!(
                    "argument `{}` is not valid utf-8",
                    a.to_string_lossy()
                ))
            })
        })
        .collect::<Result<Vec<String>, Failure>>()
        .and_then(|args| dispatch(&args, io));
    match result {
        Ok(code) => code,
        Err(f) => {
            let hint = f
                .usage_of
                .map(|c| format!(" (see `vigil {c} --help`)"))
                .unwrap_or_default();
            if !f.message.is_empty() {
                // Nothing more can be done if standard error is gone.
                let _ = writeln!(io.err, "vigil: {}{hint}", f.message);
            }
            f.exit
        }
    }
}

fn dispatch(args: &[String], io: &mut Io<'_>) -> CmdResult {
    let Some((command, rest)) = args.split_first() else {
        io.err.write_all(MAIN_HELP.as_bytes())?;
        return Ok(EXIT_INPUT);
    };
    match command.as_str() {
        "-h" | "--help" => {
            io.out.write_all(MAIN_HELP.as_bytes())?;
            Ok(EXIT_OK)
        }
        "-V" | "--version" => {
            writeln!(io.out, "vigil {}", env!("CARGO_PKG_VERSION"))?;
            Ok(EXIT_OK)
        }
        "help" => match rest.first() {
            None => {
                io.out.write_all(MAIN_HELP.as_bytes())?;
                Ok(EXIT_OK)
            }
            Some(c) => match help_for(c) {
                Some(h) => {
                    io.out.write_all(h.as_bytes())?;
                    Ok(EXIT_OK)
                }
                None => Err(Failure::input(format!(
                    "unknown command `{c}` (see `vigil --help`)"
                ))),
            },
        },
        c => {
            let help = help_for(c).ok_or_else(|| {
                Failure::input(format!("unknown command `{c}` (see `vigil --help`)"))
            })?;
            if crate::args::wants_help(rest) {
                io.out.write_all(help.as_bytes())?;
                return Ok(EXIT_OK);
            }
            match c {
                "eval" => crate::eval::eval(rest, io),
                "explain" => crate::eval::explain(rest, io),
                "check" => crate::check::check(rest, io),
                "diff" => crate::diff_cmd::diff(rest, io),
                "bundle" => crate::bundle_cmd::run(rest, io),
                "bench" => crate::bench_cmd::bench(rest, io),
                _ => crate::test_cmd::test(rest, io),
            }
        }
    }
}

/// Reads standard input, at most once per run.
#[derive(Debug, Default)]
pub struct StdinOnce {
    used_by: Option<&'static str>,
}

impl StdinOnce {
    /// Reads the source named by `arg` (`-` for stdin) for option `what`; errors name it.
    pub fn read(
        &mut self,
        io: &mut Io<'_>,
        what: &'static str,
        arg: &str,
        max_bytes: usize,
    ) -> Result<Source, Failure> {
        self.read_input(io, what, arg, max_bytes)
            .map_err(|e| named(what, &origin_of(arg), &e))
    }

    /// Reads the source named by `arg` (`-` for stdin); errors do not name it.
    pub fn read_input(
        &mut self,
        io: &mut Io<'_>,
        what: &'static str,
        arg: &str,
        max_bytes: usize,
    ) -> Result<Source, InputError> {
        if arg == "-" {
            if let Some(first) = self.used_by {
                return Err(InputError::io(format!(
                    "standard input is already read for the {first}"
                )));
            }
            self.used_by = Some(what);
            let text = input::read_limited(&mut *io.stdin, max_bytes)?;
            return Ok(Source {
                origin: Origin::Stdin,
                text,
            });
        }
        if arg.is_empty() {
            return Err(InputError::io("empty file name"));
        }
        let text = input::read_file(std::path::Path::new(arg), max_bytes)?;
        Ok(Source {
            origin: Origin::File(arg.to_string()),
            text,
        })
    }
}

fn origin_of(arg: &str) -> Origin {
    if arg == "-" {
        Origin::Stdin
    } else {
        Origin::File(arg.to_string())
    }
}

/// Parses a source, naming it in the error (`policy `p.json`: $.x: ...`).
pub(crate) fn parse_source(what: &str, src: &Source, limits: Limits) -> Result<Value, Failure> {
    input::parse(src, limits).map_err(|e| named(what, &src.origin, &e))
}

/// `<what> `<file>`: <error>` (or `<what> (standard input)`, `inline <what>`).
pub(crate) fn named(what: &str, origin: &Origin, e: &InputError) -> Failure {
    Failure::input(format!("{}: {e}", describe(what, origin)))
}

/// Names an input in messages: `policy `p.json``, `policy (standard input)`, `inline request`.
pub(crate) fn describe(what: &str, origin: &Origin) -> String {
    match origin {
        Origin::File(p) => format!("{what} `{p}`"),
        Origin::Stdin => format!("{what} (standard input)"),
        Origin::Inline => format!("inline {what}"),
    }
}

/// Parses `--time`.
pub(crate) fn parse_time(arg: Option<&str>) -> Result<Option<i64>, Failure> {
    match arg {
        None => Ok(None),
        Some(t) => match t.parse::<i64>() {
            Ok(v) if v >= 0 => Ok(Some(v)),
            _ => Err(Failure::input(format!(
                "`--time` expects unix seconds (a non-negative integer), found `{t}`"
            ))),
        },
    }
}
