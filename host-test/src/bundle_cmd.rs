//! `vigil bundle`: Ed25519 keys, signing and verifying bundles (docs/bundles.md).

use crate::args::{self, Spec};
use crate::cli::{CmdResult, Failure, Io, StdinOnce, EXIT_FAILED, EXIT_OK};
use ed25519_dalek::{Signer, SigningKey};
use policy_core::bundle::{self, BundleKeys, Kind, Last, Verified};
use policy_core::json::{Limits, Map, Value};
use policy_core::Engine;

const KEYGEN: Spec = Spec {
    command: "bundle",
    flags: &[],
    options: &["kid", "out"],
    positionals: true,
};
const SIGN: Spec = Spec {
    command: "bundle",
    flags: &[],
    options: &["key", "kind", "revision", "issued-at"],
    positionals: true,
};
const VERIFY: Spec = Spec {
    command: "bundle",
    flags: &["print-document", "json"],
    options: &["keys", "kind", "after-revision"],
    positionals: true,
};

fn read(
    io: &mut Io<'_>,
    stdin: &mut StdinOnce,
    what: &'static str,
    arg: &str,
    limits: Limits,
) -> Result<Value, Failure> {
    stdin
        .read_input(io, what, arg, limits.max_bytes)
        .and_then(|src| crate::input::parse(&src, limits))
        .map_err(|e| Failure::input(format!("{arg}: {e} [{}]", e.code)))
}

fn kind_of(parsed: &args::Parsed) -> Result<Kind, Failure> {
    let k = parsed.required(&SIGN, "kind")?;
    Kind::parse(k).ok_or_else(|| {
        Failure::usage(
            "bundle",
            format!(
                "`--kind {k}`: expected `policy`, `revocation`, `networkLists` or `riskLabels`"
            ),
        )
    })
}

fn num(parsed: &args::Parsed, name: &str) -> Result<Option<u64>, Failure> {
    parsed
        .option(name)
        .map(|v| {
            v.parse::<u64>()
                .ok()
                .filter(|n| (1..=bundle::MAX_REVISION).contains(n))
                .ok_or_else(|| {
                    Failure::usage(
                        "bundle",
                        format!(
                            "`--{name} {v}`: expected an integer from 1 to {}",
                            bundle::MAX_REVISION
                        ),
                    )
                })
        })
        .transpose()
}

fn jwk_str<'a>(m: &'a Map, f: &str) -> Option<&'a str> {
    m.get(f).and_then(Value::as_str)
}

/// The signing key of a private JWK file (`{"kty":"OKP","crv":"Ed25519","kid","x","d"}`).
fn signing_key(v: &Value, file: &str) -> Result<(SigningKey, String), Failure> {
    let bad = |why: &str| Failure::input(format!("{file}: {why}"));
    let Value::Object(m) = v else {
        return Err(bad("expected a private JWK object"));
    };
    if jwk_str(m, "kty") != Some("OKP") || jwk_str(m, "crv") != Some("Ed25519") {
        return Err(bad(
            "expected an Ed25519 key (kty OKP, crv Ed25519), as `vigil bundle keygen` writes",
        ));
    }
    let kid = jwk_str(m, "kid")
        .ok_or_else(|| bad("the key has no `kid`"))?
        .to_string();
    let d = jwk_str(m, "d")
        .and_then(|d| policy_core::authenticate::jwt::b64url_decode(d.as_bytes()))
        .and_then(|d| <[u8; 32]>::try_from(d.as_slice()).ok())
        .ok_or_else(|| bad("`d` (the private key) is missing or not 32 bytes of base64url"))?;
    let key = SigningKey::from_bytes(&d);
    if jwk_str(m, "x") != Some(bundle::b64(key.verifying_key().as_bytes()).as_str()) {
        return Err(bad("`x` is not the public key of `d`"));
    }
    Ok((key, kid))
}

fn public_jwk(key: &SigningKey, kid: &str) -> Map {
    let mut m = Map::new();
    m.insert("kty", Value::from("OKP"));
    m.insert("crv", Value::from("Ed25519"));
    m.insert("kid", Value::from(kid));
    m.insert(
        "x",
        Value::from(bundle::b64(key.verifying_key().as_bytes())),
    );
    m
}

fn keygen(rest: &[String], io: &mut Io<'_>) -> CmdResult {
    let parsed = args::parse(&KEYGEN, rest)?;
    let kid = parsed.required(&KEYGEN, "kid")?;
    let out = parsed.required(&KEYGEN, "out")?;
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)
        .map_err(|e| Failure::input(format!("no randomness for a key: {e}")))?;
    let key = SigningKey::from_bytes(&seed);
    let mut private = public_jwk(&key, kid);
    private.insert("d", Value::from(bundle::b64(&seed)));
    write_private(out, &Value::Object(private).to_json_pretty())?;
    let mut set = Map::new();
    set.insert(
        "keys",
        Value::Array(vec![Value::Object(public_jwk(&key, kid))]),
    );
    writeln!(io.out, "{}", Value::Object(set).to_json_pretty())?;
    writeln!(io.err, "vigil: private key written to {out} (keep it secret); the public key set above goes in the verifiers' configuration")?;
    Ok(EXIT_OK)
}

fn write_private(path: &str, text: &str) -> Result<(), Failure> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o.open(path).map_err(|e| {
        Failure::input(format!(
            "cannot create {path}: {}",
            crate::input::io_message(&e)
        ))
    })?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.write_all(b"\n"))
        .map_err(|e| {
            Failure::input(format!(
                "cannot write {path}: {}",
                crate::input::io_message(&e)
            ))
        })
}

fn sign(rest: &[String], io: &mut Io<'_>) -> CmdResult {
    let parsed = args::parse(&SIGN, rest)?;
    let [doc_file] = parsed.positionals.as_slice() else {
        return Err(Failure::usage(
            "bundle",
            "`vigil bundle sign` needs one document file",
        ));
    };
    let kind = kind_of(&parsed)?;
    let revision = num(&parsed, "revision")?
        .ok_or_else(|| Failure::usage("bundle", "`vigil bundle sign` needs `--revision`"))?;
    let issued_at = match parsed.option("issued-at") {
        Some(t) => Some(t.parse::<i64>().map_err(|_| {
            Failure::usage(
                "bundle",
                format!("`--issued-at {t}`: expected unix seconds"),
            )
        })?),
        None => Some((io.now)()),
    };
    let mut stdin = StdinOnce::default();
    let key_file = parsed.required(&SIGN, "key")?;
    let key_v = read(io, &mut stdin, "key", key_file, Limits::REQUEST)?;
    let (key, kid) = signing_key(&key_v, key_file)?;
    let doc = read(io, &mut stdin, "document", doc_file, Limits::POLICY)?;
    // Never sign what the verifiers would refuse to install.
    let checked = match kind {
        Kind::Policy => Engine::from_value(&doc).map(drop),
        Kind::Revocation => policy_core::state::RevocationSnapshot::from_value(&doc, "$").map(drop),
        Kind::NetworkLists => policy_core::feeds::NetworkLists::from_value(&doc, "$").map(drop),
        Kind::RiskLabels => policy_core::feeds::RiskLabels::from_value(&doc, "$").map(drop),
    };
    checked.map_err(|e| {
        Failure::input(format!(
            "{doc_file}: not a valid {} document: {e}",
            kind.as_str()
        ))
    })?;
    let input = bundle::signing_input(&kid, kind, revision, issued_at, &doc);
    let text = bundle::assemble(&input, &key.sign(input.as_bytes()).to_bytes());
    writeln!(io.out, "{text}")?;
    Ok(EXIT_OK)
}

fn verify(rest: &[String], io: &mut Io<'_>) -> CmdResult {
    let parsed = args::parse(&VERIFY, rest)?;
    let [file] = parsed.positionals.as_slice() else {
        return Err(Failure::usage(
            "bundle",
            "`vigil bundle verify` needs one bundle file",
        ));
    };
    let kind = kind_of(&parsed)?;
    let after = num(&parsed, "after-revision")?;
    let mut stdin = StdinOnce::default();
    let keys_file = parsed.required(&VERIFY, "keys")?;
    let keys_v = read(io, &mut stdin, "keys", keys_file, Limits::POLICY)?;
    let keys =
        BundleKeys::from_jwks(&keys_v).map_err(|e| Failure::input(format!("{keys_file}: {e}")))?;
    let text = stdin
        .read_input(io, "bundle", file, bundle::MAX_BUNDLE_BYTES)
        .map_err(|e| Failure::input(format!("{file}: {e}")))?
        .text;
    let last = Last {
        revision: after,
        text: None,
    };
    let refused = |io: &mut Io<'_>, code: &str, msg: &str| -> CmdResult {
        if parsed.flag("json") {
            let mut m = Map::new();
            m.insert("valid", Value::Bool(false));
            m.insert("code", Value::from(code));
            m.insert("message", Value::from(msg));
            writeln!(io.out, "{}", Value::Object(m).to_json())?;
        } else {
            writeln!(io.out, "refused: {msg} [{code}]")?;
        }
        Ok(EXIT_FAILED)
    };
    let b = match bundle::verify(&text, &keys, kind, last) {
        Ok(Verified::New(b)) => b,
        Ok(Verified::Unchanged) => return refused(io, "unchanged", "the installed bundle"),
        Err(e) => return refused(io, e.code, &e.message),
    };
    if b.kind == Kind::Policy {
        if let Err(e) = Engine::from_value(&b.document) {
            return refused(
                io,
                "bad_document",
                &format!("the policy does not load: {e}"),
            );
        }
    }
    if parsed.flag("json") {
        let mut m = Map::new();
        m.insert("valid", Value::Bool(true));
        m.insert("kind", Value::from(b.kind.as_str()));
        m.insert(
            "revision",
            Value::from(i64::try_from(b.revision).unwrap_or(i64::MAX)),
        );
        m.insert("kid", Value::from(b.kid.as_str()));
        m.insert("issuedAt", b.issued_at.map_or(Value::Null, Value::from));
        if parsed.flag("print-document") {
            m.insert("document", b.document.clone());
        }
        writeln!(io.out, "{}", Value::Object(m).to_json())?;
    } else {
        let when = b
            .issued_at
            .map(|t| format!(", issued at {t}"))
            .unwrap_or_default();
        writeln!(
            io.out,
            "valid: {} bundle, revision {}, signed by `{}`{when}",
            b.kind.as_str(),
            b.revision,
            b.kid
        )?;
        if parsed.flag("print-document") {
            writeln!(io.out, "{}", b.document.to_json_pretty())?;
        }
    }
    Ok(EXIT_OK)
}

/// `vigil bundle keygen|sign|verify`.
pub fn run(rest: &[String], io: &mut Io<'_>) -> CmdResult {
    match rest.split_first() {
        Some((s, r)) if s == "keygen" => keygen(r, io),
        Some((s, r)) if s == "sign" => sign(r, io),
        Some((s, r)) if s == "verify" => verify(r, io),
        Some((s, _)) => Err(Failure::usage(
            "bundle",
            format!("unknown `vigil bundle {s}`; expected keygen, sign or verify"),
        )),
        None => Err(Failure::usage(
            "bundle",
            "`vigil bundle` needs keygen, sign or verify",
        )),
    }
}
