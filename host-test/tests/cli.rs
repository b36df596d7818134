//! Runs the built `vigil` binary on temporary files.
// Helpers outside `#[test]` functions are not covered by clippy.toml's test relaxations.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

const VIGIL: &str = env!("CARGO_BIN_EXE_vigil");

const POLICY: &str = r#"{
  "authorizationPolicies": [
    {"name": "block-admin", "action": "DENY",
     "rules": [{"to": [{"operation": {"paths": ["/admin/*"]}}]}]},
    {"name": "frontend", "action": "ALLOW",
     "rules": [{"from": [{"source": {"principals": ["cluster.local/ns/web/sa/frontend"]}}],
                "to": [{"operation": {"methods": ["GET", "POST"], "paths": ["/pay/*"]}}]}]}
  ]
}"#;

const FRONTEND: &str = r#"{"method":"POST","path":"/pay/1","host":"shop","source":{"principal":"spiffe://cluster.local/ns/web/sa/frontend"}}"#;

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "cli-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

fn vigil(args: &[&str]) -> Output {
    vigil_stdin(args, "")
}

fn vigil_stdin(args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(VIGIL)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A child that exits without reading its input closes the pipe: not a test failure.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap()
}

#[test]
fn eval_allow_and_deny_exit_zero_with_decision_json() {
    let d = scratch("eval");
    let p = write(&d, "pay.policy.json", POLICY);
    let o = vigil(&["eval", "--policy", &p, "--request", FRONTEND]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 1, "compact by default: {out}");
    let v = policy_core::json::parse(&out, policy_core::json::Limits::POLICY).unwrap();
    assert_eq!(v.get("decision").unwrap().as_str(), Some("allow"));
    assert_eq!(v.get("policy").unwrap().as_str(), Some("frontend"));
    for key in [
        "status",
        "code",
        "reason",
        "rule",
        "principal",
        "responseHeaders",
        "upstreamHeaders",
        "removeHeaders",
        "audit",
        "dryRun",
    ] {
        assert!(v.get(key).is_some(), "missing {key}: {out}");
    }

    let r = write(&d, "admin.json", r#"{"method":"GET","path":"/admin/x"}"#);
    let o = vigil(&["eval", "--policy", &p, "--request", &r, "--pretty"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.lines().count() > 3, "pretty: {out}");
    assert!(out.contains(r#""decision": "deny""#), "{out}");
    assert!(out.contains(r#""status": 403"#), "{out}");
}

#[test]
fn eval_reads_stdin_and_takes_time() {
    let d = scratch("stdin");
    let p = write(&d, "p.json", POLICY);
    let o = vigil_stdin(
        &[
            "eval",
            "--policy",
            &p,
            "--request",
            "-",
            "--time",
            "1700000000",
        ],
        FRONTEND,
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains(r#""decision":"allow""#));
    let o = vigil(&["eval", "--policy", &p, "--request", "{}", "--time", "soon"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("`--time`"), "{}", stderr(&o));
}

#[test]
fn eval_bad_input_exits_two_naming_the_input() {
    let d = scratch("bad");
    let bad = write(
        &d,
        "bad.json",
        "{\"authorizationPolicies\": [\n  {\"name\": \"x\",}\n]}",
    );
    let o = vigil(&["eval", "--policy", &bad, "--request", "{}"]);
    assert_eq!(code(&o), 2);
    let err = stderr(&o);
    assert!(
        err.starts_with(&format!("vigil: policy `{bad}`: ")),
        "{err}"
    );
    assert!(err.contains("line 2"), "{err}");
    assert!(stdout(&o).is_empty());

    let invalid = write(
        &d,
        "invalid.json",
        r#"{"authorizationPolicies":[{"name":"x","action":"MAYBE"}]}"#,
    );
    let o = vigil(&["eval", "--policy", &invalid, "--request", "{}"]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("authorizationPolicies[0].action: expected"),
        "{}",
        stderr(&o)
    );

    let missing = d.join("missing.json");
    let o = vigil(&[
        "eval",
        "--policy",
        missing.to_str().unwrap(),
        "--request",
        "{}",
    ]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("missing.json"), "{}", stderr(&o));

    let p = write(&d, "p.json", POLICY);
    let o = vigil(&[
        "eval",
        "--policy",
        &p,
        "--request",
        r#"{"method":"GET","nope":1}"#,
    ]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("inline request: nope: unknown field"),
        "{}",
        stderr(&o)
    );

    let o = vigil(&[
        "eval",
        "--policy",
        &p,
        "--request",
        "{}",
        "--wasm",
        "f.wasm",
    ]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("filter `f.wasm`: "), "{}", stderr(&o));

    let o = vigil(&["eval", "--policy", &p]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("--request"), "{}", stderr(&o));
}

#[test]
fn yaml_policy_works_and_duplicate_keys_are_refused() {
    let d = scratch("yaml");
    let p = write(
        &d,
        "p.policy.yaml",
        "authorizationPolicies:\n  - name: open-api\n    action: ALLOW\n    rules:\n      - to:\n          - operation:\n              paths: [\"/api/*\"]\n",
    );
    let o = vigil(&["eval", "--policy", &p, "--request", r#"{"path":"/api/x"}"#]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains(r#""policy":"open-api""#),
        "{}",
        stdout(&o)
    );

    let dup = write(
        &d,
        "dup.yml",
        "authorizationPolicies:\n  - name: a\n    action: ALLOW\n    action: DENY\n",
    );
    let o = vigil(&["eval", "--policy", &dup, "--request", "{}"]);
    assert_eq!(code(&o), 2);
    let err = stderr(&o);
    assert!(
        err.contains("dup.yml") && err.contains("duplicate"),
        "{err}"
    );
}

#[test]
fn check_reports_lints_and_errors() {
    let d = scratch("check");
    let p = write(
        &d,
        "np.policy.json",
        r#"{"authorizationPolicies":[{"name":"open","rules":[{"from":[{"source":{"principals":["a/b"]}}],"to":[{"operation":{"notPaths":["/secret*"]}}]}]}]}"#,
    );
    let o = vigil(&["check", &p]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!(
            "warning: {p}: authorizationPolicies[0].rules[0].to[0].operation.notPaths: "
        )),
        "{out}"
    );
    assert!(out.contains("[allow_not_paths]"), "{out}");
    assert!(
        out.ends_with("checked 1 policy: 0 errors, 1 warning, 0 info\n"),
        "{out}"
    );

    let o = vigil(&["check", "--deny-warnings", &p]);
    assert_eq!(code(&o), 1);

    let o = vigil(&["check", "--json", &p]);
    assert_eq!(code(&o), 0);
    let v = policy_core::json::parse(&stdout(&o), policy_core::json::Limits::POLICY).unwrap();
    assert_eq!(
        v.get("warnings").unwrap().as_number().unwrap().as_i64(),
        Some(1)
    );

    let bad = write(
        &d,
        "bad.json",
        r#"{"authorizationPolicies":[{"name":"x","action":"MAYBE"}]}"#,
    );
    let o = vigil(&["check", &p, &bad]);
    assert_eq!(code(&o), 2);
    let out = stdout(&o);
    assert!(
        out.contains(&format!("error: {bad}: authorizationPolicies[0].action: ")),
        "{out}"
    );
    assert!(out.contains("[invalid]"), "{out}");
    assert!(out.contains("1 error"), "{out}");
}

fn test_files(d: &Path, third_expect: &str) {
    write(d, "pay.policy.json", POLICY);
    write(
        d,
        "pay.test.json",
        &format!(
            r#"{{"policy": "pay.policy.json", "time": 1700000000, "cases": [
 {{"name": "frontend may pay", "request": {FRONTEND}, "expect": {{"decision": "allow", "status": 200}}}},
 {{"name": "admin denied", "request": {{"method": "GET", "path": "/admin/x"}}, "expect": {{"decision": "deny", "policy": "block-admin"}}}},
 {{"name": "others", "request": {{"method": "GET", "path": "/other"}}, "expect": {{"decision": "{third_expect}"}}}}
]}}"#
        ),
    );
    write(
        d,
        "nested/open.yaml",
        "policy:\n  authorizationPolicies:\n    - name: open\n      rules: [{to: [{operation: {paths: [\"/x\"]}}]}]\ncases:\n  - name: open path\n    request: {method: GET, path: /x}\n    expect: {decision: allow, policy: open}\n",
    );
}

#[test]
fn test_passes_fails_and_errors() {
    let d = scratch("test-ok");
    test_files(&d, "deny");
    let dir = d.to_str().unwrap();
    let o = vigil(&["test", dir]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert_eq!(stdout(&o), "4 passed, 0 failed\n");

    let o = vigil(&["test", "--verbose", dir]);
    assert!(stdout(&o).contains(":: frontend may pay"), "{}", stdout(&o));
    assert!(stdout(&o).starts_with("ok   "), "{}", stdout(&o));

    let d = scratch("test-fail");
    test_files(&d, "allow");
    let o = vigil(&["test", d.to_str().unwrap()]);
    assert_eq!(code(&o), 1);
    let out = stdout(&o);
    assert!(
        out.contains("FAIL ") && out.contains("pay.test.json :: others"),
        "{out}"
    );
    assert!(
        out.contains("    decision: expected \"allow\", got \"deny\""),
        "{out}"
    );
    assert!(out.contains("    got: {\"decision\":\"deny\""), "{out}");
    assert!(out.ends_with("\n3 passed, 1 failed\n"), "{out}");

    let o = vigil(&["test", "--table", d.to_str().unwrap()]);
    assert_eq!(code(&o), 1);
    let out = stdout(&o);
    assert!(out.starts_with("RESULT  POLICY"), "{out}");
    assert!(out.contains("pay.policy.json"), "{out}");
    assert!(out.contains("POST /pay/1"), "{out}");
    assert!(out.contains("open.yaml (inline)"), "{out}");
    assert!(out.ends_with("\n3 passed, 1 failed\n"), "{out}");

    write(
        &d,
        "broken.test.json",
        r#"{"policy": "pay.policy.json", "cases": []}"#,
    );
    let o = vigil(&["test", d.to_str().unwrap()]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("broken.test.json"), "{}", stderr(&o));
    assert!(
        stdout(&o).ends_with("3 passed, 1 failed\n"),
        "{}",
        stdout(&o)
    );

    let o = vigil(&["test", d.join("nothing-here").to_str().unwrap()]);
    assert_eq!(code(&o), 2);
}

#[test]
fn explain_shows_policy_names_and_marks() {
    let d = scratch("explain");
    let p = write(&d, "p.json", POLICY);
    let o = vigil(&["explain", "--policy", &p, "--request", FRONTEND]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("block-admin") && out.contains("frontend"),
        "{out}"
    );
    assert!(out.contains('✓') && out.contains('✗'), "{out}");
    assert!(out.contains("decision: allow (200"), "{out}");

    let o = vigil(&["explain", "--json", "--policy", &p, "--request", FRONTEND]);
    assert_eq!(code(&o), 0);
    let v = policy_core::json::parse(&stdout(&o), policy_core::json::Limits::POLICY).unwrap();
    assert_eq!(
        v.get("decision")
            .and_then(|d| d.get("decision"))
            .and_then(|d| d.as_str()),
        Some("allow")
    );
    assert!(v
        .get("trace")
        .and_then(|t| t.as_array())
        .is_some_and(|t| t.len() >= 2));
}

#[test]
fn help_for_every_command() {
    for args in [
        vec!["--help"],
        vec!["help"],
        vec!["help", "test"],
        vec!["eval", "--help"],
        vec!["explain", "--help"],
        vec!["check", "--help"],
        vec!["test", "-h"],
        vec!["bench", "--help"],
    ] {
        let o = vigil(&args);
        assert_eq!(code(&o), 0, "{args:?}");
        assert!(stdout(&o).contains("Usage: vigil"), "{args:?}");
    }
    let o = vigil(&["--version"]);
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).starts_with("vigil "));
    assert!(stdout(&vigil(&["--help"])).contains("bench"));
    assert_eq!(code(&vigil(&[])), 2);
    assert_eq!(code(&vigil(&["frobnicate"])), 2);
    assert_eq!(code(&vigil(&["eval", "--frob"])), 2);
}

#[test]
fn bench_measures_a_policy_and_refuses_bad_input() {
    let d = scratch("bench");
    let policy = write(&d, "p.json", POLICY);
    let requests = format!(r#"[{FRONTEND}, {{"method":"GET","path":"/admin/x","host":"shop"}}]"#);
    let o = vigil(&[
        "bench",
        "--policy",
        &policy,
        "--request",
        &requests,
        "--seconds",
        "0.05",
        "--json",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = policy_core::json::parse(&stdout(&o), policy_core::json::Limits::POLICY).unwrap();
    let num =
        |v: &policy_core::json::Value, k: &str| v.get(k).unwrap().as_number().unwrap().as_f64();
    assert_eq!(num(&v, "requests"), 2.0);
    for k in ["configure", "first", "cached"] {
        let s = v.get("native").unwrap().get(k).unwrap();
        assert!(num(s, "median_ns") > 0.0, "{k}");
        assert!(num(s, "p10_ns") <= num(s, "p90_ns"), "{k}");
    }
    assert!(v.get("wasm").is_none());
    // Text output names each measurement.
    let o = vigil(&[
        "bench",
        "--policy",
        &policy,
        "--request",
        FRONTEND,
        "--seconds",
        "0.05",
    ]);
    assert_eq!(code(&o), 0);
    assert!(
        stdout(&o).contains("decision, tokens cached"),
        "{}",
        stdout(&o)
    );
    // Bad input: exit 2 with a precise message.
    let o = vigil(&["bench", "--policy", &policy, "--request", "[]"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("no request"), "{}", stderr(&o));
    let o = vigil(&[
        "bench",
        "--policy",
        &policy,
        "--request",
        FRONTEND,
        "--seconds",
        "x",
    ]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("--seconds"), "{}", stderr(&o));
}

/// `vigil bundle sign` of a policy file at a revision, with `extra` options before the file.
fn sign_policy(key: &str, revision: &str, extra: &[&str], file: &str) -> Output {
    let mut args = vec![
        "bundle",
        "sign",
        "--key",
        key,
        "--kind",
        "policy",
        "--revision",
        revision,
    ];
    args.extend_from_slice(extra);
    args.push(file);
    vigil(&args)
}

/// `vigil bundle verify` of a policy bundle against a key set, with `extra` options.
fn verify_policy(jwks: &str, extra: &[&str], bundle: &str) -> Output {
    let mut args = vec!["bundle", "verify", "--keys", jwks, "--kind", "policy"];
    args.extend_from_slice(extra);
    args.push(bundle);
    vigil(&args)
}

#[test]
fn bundle_keygen_sign_verify_as_an_operator_would() {
    let dir = scratch("bundle");
    let key = dir.join("ops.jwk");
    let _ = std::fs::remove_file(&key);
    let key = key.to_string_lossy().to_string();
    let o = vigil(&["bundle", "keygen", "--kid", "ops-1", "--out", &key]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let jwks = write(&dir, "ops.jwks", &stdout(&o));
    // The key file is the operator's alone, and is never overwritten.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0);
        assert_eq!(mode, 0o600);
    }
    assert_eq!(
        code(&vigil(&["bundle", "keygen", "--kid", "x", "--out", &key])),
        2
    );
    let policy = write(
        &dir,
        "p.json",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{}]}]}"#,
    );
    let o = sign_policy(&key, "5", &["--issued-at", "1700000000"], &policy);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let b = write(&dir, "p.bundle", &stdout(&o));
    let o = verify_policy(&jwks, &["--json", "--print-document"], &b);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    let v = stdout(&o);
    assert!(
        v.contains(r#""valid":true"#)
            && v.contains(r#""revision":5"#)
            && v.contains(r#""kid":"ops-1""#)
            && v.contains(r#""name":"a""#),
        "{v}"
    );
    // Replayed under a newer installed revision, or tampered: refused with the code, exit 1.
    let o = verify_policy(&jwks, &["--after-revision", "5"], &b);
    assert_eq!(
        (code(&o), stdout(&o).contains("[stale_revision]")),
        (1, true),
        "{}",
        stdout(&o)
    );
    let text = std::fs::read_to_string(&b).unwrap_or_default();
    let mut parts: Vec<String> = text.trim().split('.').map(str::to_string).collect();
    parts[1] = policy_core::bundle::b64(
        br#"{"kind":"policy","revision":6,"document":{"defaultAction":"ALLOW"}}"#,
    );
    let forged = write(&dir, "forged.bundle", &parts.join("."));
    let o = verify_policy(&jwks, &[], &forged);
    assert_eq!(
        (code(&o), stdout(&o).contains("[bad_signature]")),
        (1, true),
        "{}",
        stdout(&o)
    );
    // A policy that does not load is not signed.
    let bad = write(
        &dir,
        "bad.json",
        r#"{"authorizationPolicies":[{"name":"a","action":"MAYBE"}]}"#,
    );
    assert_eq!(code(&sign_policy(&key, "6", &[], &bad)), 2);
    // Feed snapshots are checked the same way before they are signed.
    let sign_feed = |kind: &str, doc: &str| {
        let f = write(&dir, "feed.json", doc);
        vigil(&[
            "bundle",
            "sign",
            "--key",
            &key,
            "--kind",
            kind,
            "--revision",
            "1",
            &f,
        ])
    };
    let o = sign_feed("networkLists", r#"{"lists":{"tor":["10.0.0.0/33"]}}"#);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("not a valid networkLists document"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        code(&sign_feed("riskLabels", r#"{"labels":[{"labels":["x"]}]}"#)),
        2
    );
    assert_eq!(code(&sign_feed("revocation", r#"{"jtis":[1]}"#)), 2);
    let o = sign_feed("networkLists", r#"{"lists":{"tor":["10.0.0.0/8"]}}"#);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let b = write(&dir, "n.bundle", &stdout(&o));
    let o = vigil(&[
        "bundle",
        "verify",
        "--keys",
        &jwks,
        "--kind",
        "networkLists",
        "--json",
        &b,
    ]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert!(stdout(&o).contains(r#""issuedAt":"#), "{}", stdout(&o));
}

#[test]
fn diff_exit_codes_and_json() {
    let dir = scratch("diff");
    let a = write(
        &dir,
        "a.json",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"to":[{"operation":{"paths":["/api/v1/*"]}}]}]}]}"#,
    );
    let b = write(
        &dir,
        "b.json",
        r#"{"authorizationPolicies":[{"name":"a","rules":[{"to":[{"operation":{"paths":["/api/*"]}}]}]}]}"#,
    );
    let o = vigil(&["diff", &a, &a]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert!(stdout(&o).contains("equivalent"));
    let o = vigil(&["diff", &a, &b, "--json"]);
    assert_eq!(code(&o), 1);
    assert!(
        stdout(&o).contains(r#""kind":"newly_allowed""#),
        "{}",
        stdout(&o)
    );
    let bad = write(&dir, "bad.json", "{");
    assert_eq!(code(&vigil(&["diff", &a, &bad])), 2);
    assert_eq!(code(&vigil(&["diff", &a])), 2);
}
