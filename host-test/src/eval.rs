//! `vigil eval` and `vigil explain`: one request, one decision.

use crate::args::{self, Spec};
use crate::cli::{self, json_text, CmdResult, Failure, Io, StdinOnce, EXIT_FAILED, EXIT_OK};
use crate::input::{Origin, Source};
use policy_core::json::{Limits, Map, Value};
use policy_core::{CheckRequest, Decision, Engine, Env, Step};

const EVAL: Spec = Spec {
    command: "eval",
    flags: &["pretty"],
    options: &["policy", "request", "time", "wasm"],
    positionals: false,
};

const EXPLAIN: Spec = Spec {
    command: "explain",
    flags: &["json", "pretty"],
    options: &["policy", "request", "time"],
    positionals: false,
};

/// What eval and explain both need.
#[derive(Debug)]
struct Inputs {
    engine: Engine,
    /// The policy as compact JSON (YAML converted), for `--wasm`.
    policy_json: String,
    request: CheckRequest,
    env: Env<'static>,
}

fn load(spec: &Spec, parsed: &args::Parsed, io: &mut Io<'_>) -> Result<Inputs, Failure> {
    let policy_arg = parsed.required(spec, "policy")?;
    let request_arg = parsed.required(spec, "request")?;
    let time = cli::parse_time(parsed.option("time"))?;
    let mut stdin = StdinOnce::default();
    let policy_src = stdin.read(io, "policy", policy_arg, Limits::POLICY.max_bytes)?;
    let policy_value = cli::parse_source("policy", &policy_src, Limits::POLICY)?;
    let engine = Engine::from_value(&policy_value)
        .map_err(|e| cli::named("policy", &policy_src.origin, &e.into()))?;
    let request_src = if request_arg.trim_start().starts_with('{') {
        Source {
            origin: Origin::Inline,
            text: request_arg.to_string(),
        }
    } else {
        stdin.read(io, "request", request_arg, Limits::REQUEST.max_bytes)?
    };
    let request_value = cli::parse_source("request", &request_src, Limits::REQUEST)?;
    let request = CheckRequest::from_value(&request_value)
        .map_err(|e| cli::named("request", &request_src.origin, &e.into()))?;
    let now = time.or(request.time).unwrap_or_else(|| (io.now)());
    Ok(Inputs {
        engine,
        policy_json: policy_value.to_json(),
        request,
        env: Env::at(now),
    })
}

/// `vigil eval`.
pub fn eval(rest: &[String], io: &mut Io<'_>) -> CmdResult {
    let parsed = args::parse(&EVAL, rest)?;
    let filter = parsed
        .option("wasm")
        .map(crate::wasm::WasmFilter::load)
        .transpose()?;
    let inputs = load(&EVAL, &parsed, io)?;
    let Some(filter) = filter else {
        let decision = inputs.engine.decide(&inputs.request, &inputs.env);
        writeln!(
            io.out,
            "{}",
            json_text(&decision.to_value(), parsed.flag("pretty"))
        )?;
        return Ok(EXIT_OK);
    };
    let wd = filter.decide_once(&inputs.policy_json, &inputs.request, inputs.env.now)?;
    writeln!(io.out, "{}", json_text(&wd.value, parsed.flag("pretty")))?;
    if wd.disagreements.is_empty() {
        return Ok(EXIT_OK);
    }
    for d in &wd.disagreements {
        writeln!(
            io.err,
            "vigil: filter `{}` did not enforce its decision: {d}",
            filter.path
        )?;
    }
    Ok(EXIT_FAILED)
}

/// `vigil explain`.
pub fn explain(rest: &[String], io: &mut Io<'_>) -> CmdResult {
    let parsed = args::parse(&EXPLAIN, rest)?;
    let inputs = load(&EXPLAIN, &parsed, io)?;
    let (decision, steps) = inputs.engine.explain(&inputs.request, &inputs.env);
    if parsed.flag("json") {
        let mut m = Map::new();
        m.insert("decision", decision.to_value());
        m.insert(
            "trace",
            Value::Array(steps.iter().map(Step::to_value).collect()),
        );
        writeln!(
            io.out,
            "{}",
            json_text(&Value::Object(m), parsed.flag("pretty"))
        )?;
    } else {
        io.out.write_all(
            explain_text(&inputs.request, inputs.env.now, &decision, &steps).as_bytes(),
        )?;
    }
    Ok(EXIT_OK)
}

fn width(s: &str) -> usize {
    s.chars().count()
}

fn pad(s: &str, w: usize) -> String {
    let mut out = s.to_string();
    out.extend(std::iter::repeat_n(' ', w.saturating_sub(width(s))));
    out
}

/// The human-readable explanation.
pub fn explain_text(req: &CheckRequest, now: i64, d: &Decision, steps: &[Step]) -> String {
    let mut out = String::new();
    out.push_str(&format!("request: {}\n", req.to_value().to_json()));
    out.push_str(&format!("time:    {now}\n\ntrace:\n"));
    let wheres: Vec<String> = steps
        .iter()
        .map(|s| match (&s.policy, s.rule) {
            (Some(p), Some(r)) => format!("`{p}` rule {r}"),
            (Some(p), None) => format!("`{p}`"),
            (None, Some(r)) => format!("rule {r}"),
            (None, None) => String::new(),
        })
        .collect();
    let stage_w = steps.iter().map(|s| width(s.stage)).max().unwrap_or(0);
    let where_w = wheres.iter().map(|w| width(w)).max().unwrap_or(0);
    for (s, w) in steps.iter().zip(&wheres) {
        let mark = if s.matched { '✓' } else { '✗' };
        let mut line = format!("  {mark} {}", pad(s.stage, stage_w));
        if where_w > 0 {
            line.push_str("  ");
            line.push_str(&pad(w, where_w));
        }
        line.push_str("  ");
        line.push_str(&s.detail);
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if steps.is_empty() {
        out.push_str("  (no steps)\n");
    }
    out.push_str(&format!(
        "\ndecision: {} ({} {})\n",
        d.outcome.as_str(),
        d.status,
        d.code
    ));
    out.push_str(&format!("  reason:    {}\n", d.reason));
    if let Some(p) = &d.policy {
        match d.rule {
            Some(r) => out.push_str(&format!("  policy:    `{p}`, rule {r}\n")),
            None => out.push_str(&format!("  policy:    `{p}`\n")),
        }
    }
    if let Some(p) = &d.principal {
        out.push_str(&format!("  principal: {p}\n"));
    }
    for (title, headers) in [
        ("response headers", &d.response_headers),
        ("upstream headers", &d.upstream_headers),
    ] {
        if !headers.is_empty() {
            out.push_str(&format!("  {title}:\n"));
            for (k, v) in headers {
                out.push_str(&format!("    {k}: {v}\n"));
            }
        }
    }
    if !d.remove_headers.is_empty() {
        out.push_str(&format!(
            "  remove headers: {}\n",
            d.remove_headers.join(", ")
        ));
    }
    if !d.audit.is_empty() {
        out.push_str(&format!("  audited by: {}\n", d.audit.join(", ")));
    }
    if d.dry_run {
        out.push_str("  dry run:   reported only, not enforced\n");
    }
    out
}
