//! `vigil diff`: which requests a policy change lets in or locks out.

use crate::args::{self, Spec};
use crate::cli::{self, CmdResult, Failure, Io, StdinOnce, EXIT_FAILED, EXIT_OK};
use policy_core::analysis::{self, Change, Diff};
use policy_core::json::Value;
use policy_core::{Decision, Engine};

const DIFF: Spec = Spec {
    command: "diff",
    flags: &["json", "pretty"],
    options: &["time"],
    positionals: true,
};

fn load(file: &str, io: &mut Io<'_>, stdin: &mut StdinOnce) -> Result<Engine, Failure> {
    let limits = policy_core::json::Limits::POLICY;
    stdin
        .read_input(io, "policy", file, limits.max_bytes)
        .and_then(|src| {
            let v = crate::input::parse(&src, limits)?;
            Ok(Engine::from_value(&v)?)
        })
        .map_err(|e| Failure::input(format!("{file}: {e} [{}]", e.code)))
}

fn decision_line(d: &Decision) -> String {
    let by = d
        .policy
        .as_deref()
        .map(|p| format!(" by `{p}`"))
        .unwrap_or_default();
    format!("{} {} {}{by}", d.outcome.as_str(), d.status, d.code)
}

fn request_line(c: &Change) -> String {
    let r = &c.request;
    let mut parts = vec![format!("{} {}", r.method, r.path)];
    if !r.host.is_empty() {
        parts.push(format!("host {}", r.host));
    }
    if let Some(p) = &r.source.principal {
        parts.push(format!("peer {p}"));
    }
    if let Some(a) = &r.source.address {
        parts.push(format!("from {a}"));
    }
    if let Some(p) = r.destination.port {
        parts.push(format!("port {p}"));
    }
    if let Some(a) = &r.destination.address {
        parts.push(format!("to {a}"));
    }
    if let Some(s) = &r.sni {
        parts.push(format!("sni {s}"));
    }
    for (k, v) in &r.headers {
        // The witness's token is shown by its claims below, wherever the rule reads it from.
        if k == "authorization" || k == "cookie" || (c.claims.is_some() && carries_token(v)) {
            continue;
        }
        parts.push(format!("{k}: {v}"));
    }
    if let Some(claims) = &c.claims {
        parts.push(format!("token {}", Value::Object(claims.clone()).to_json()));
    } else if r.headers.iter().any(|(k, _)| k == "authorization") {
        parts.push("a token that does not verify".into());
    }
    parts.join(", ")
}

/// True when a header value is (a prefix and) a compact JWS: three base64url segments.
fn carries_token(v: &str) -> bool {
    let t = v.rsplit(' ').next().unwrap_or(v);
    let segs: Vec<&str> = t.split('.').collect();
    segs.len() == 3
        && t.starts_with("eyJ")
        && segs.iter().all(|s| {
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn print_text(d: &Diff, old: &str, new: &str, io: &mut Io<'_>) -> std::io::Result<()> {
    for c in &d.changes {
        let label = match c.kind() {
            "newly_allowed" => "+ newly allowed",
            "newly_denied" => "- newly refused",
            _ => "~ decided differently",
        };
        writeln!(io.out, "{label}: {}", request_line(c))?;
        writeln!(io.out, "    before ({old}): {}", decision_line(&c.before))?;
        writeln!(io.out, "    after  ({new}): {}", decision_line(&c.after))?;
    }
    for n in &d.not_analysed {
        writeln!(io.out, "not analysed: {n}")?;
    }
    if d.equivalent {
        writeln!(
            io.out,
            "equivalent: no request is decided differently ({} regions compared)",
            d.cubes
        )?;
    } else if d.changes.is_empty() {
        writeln!(
            io.out,
            "not proven: the search stopped after {} regions with no difference found",
            d.cubes
        )?;
    } else {
        let n = |k: &str| d.changes.iter().filter(|c| c.kind() == k).count();
        let total = d.changes.len();
        writeln!(
            io.out,
            "{total} {}: {} newly allowed, {} newly refused, {} decided differently ({} regions compared)",
            if total == 1 { "change" } else { "changes" },
            n("newly_allowed"),
            n("newly_denied"),
            n("changed"),
            d.cubes
        )?;
    }
    Ok(())
}

/// `vigil diff OLD NEW`.
pub fn diff(rest: &[String], io: &mut Io<'_>) -> CmdResult {
    let parsed = args::parse(&DIFF, rest)?;
    let [old, new] = parsed.positionals.as_slice() else {
        return Err(Failure::usage(
            "diff",
            "`vigil diff` needs two policy files: OLD NEW",
        ));
    };
    let now = cli::parse_time(parsed.option("time"))?.unwrap_or_else(|| (io.now)());
    let mut stdin = StdinOnce::default();
    let (eo, en) = (load(old, io, &mut stdin)?, load(new, io, &mut stdin)?);
    let d = analysis::diff(&eo, &en, now);
    if parsed.flag("json") {
        let v = d.to_value();
        let text = crate::cli::json_text(&v, parsed.flag("pretty"));
        writeln!(io.out, "{text}")?;
    } else {
        print_text(&d, old, new, io)?;
    }
    Ok(if d.equivalent { EXIT_OK } else { EXIT_FAILED })
}
