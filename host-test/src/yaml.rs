//! YAML input: converted to JSON *text*, which the caller then parses with policy-core's strict
//! parser, so every limit and rule of that parser applies to YAML too. serde_yaml itself
//! refuses duplicate keys (with a line and column) and runaway aliases.
//!
//! Istio objects as `kubectl` prints them are a policy too: a file of Istio
//! `RequestAuthentication` and `AuthorizationPolicy` objects (one or several documents, `---`
//! between them) becomes `{"jwtRules": [every RequestAuthentication], "authorizationPolicies":
//! [every AuthorizationPolicy]}`, in file order; the core reads each object whole. Several
//! documents of anything else are refused.
//!
//! Mapping keys that are numbers or booleans become their text (`200:` → `"200"`); other
//! non-string keys, tags and non-finite numbers have no JSON equivalent and are refused.

use policy_core::json::write_str;
use serde::Deserialize;
use serde_yaml::Value as Y;

/// Converts one YAML document to compact JSON text, stopping once the text passes
/// `max_bytes` (aliases can make a small YAML file expand enormously).
pub fn to_json_text(input: &str, max_bytes: usize) -> Result<String, String> {
    let mut docs = Vec::new();
    for d in serde_yaml::Deserializer::from_str(input) {
        let v = Y::deserialize(d).map_err(|e| format!("invalid yaml: {e}"))?;
        // An empty document (a leading or trailing `---`) is nothing.
        if !v.is_null() || docs.is_empty() {
            docs.push(v);
        }
        if docs.len() > MAX_DOCUMENTS {
            return Err(format!("more than {MAX_DOCUMENTS} yaml documents"));
        }
    }
    docs.retain(|v| !v.is_null());
    let istio = |v: &Y| match v.get("kind").and_then(Y::as_str) {
        Some(k @ ("RequestAuthentication" | "AuthorizationPolicy")) => {
            Some(k == "RequestAuthentication")
        }
        _ => None,
    };
    let mut out = String::new();
    match docs.as_slice() {
        [] => out.push_str("null"),
        [one] if istio(one).is_none() => write(one, &mut out, max_bytes)?,
        _ => {
            let (mut authn, mut authz) = (Vec::new(), Vec::new());
            for (i, d) in docs.iter().enumerate() {
                match istio(d) {
                    Some(true) => authn.push(d),
                    Some(false) => authz.push(d),
                    None => {
                        return Err(format!(
                        "document {} is not an Istio RequestAuthentication or AuthorizationPolicy \
                             (a file of several yaml documents may hold only those)",
                        i + 1
                    ))
                    }
                }
            }
            out.push('{');
            for (n, (key, items)) in [("jwtRules", authn), ("authorizationPolicies", authz)]
                .into_iter()
                .filter(|(_, items)| !items.is_empty())
                .enumerate()
            {
                if n > 0 {
                    out.push(',');
                }
                write_str(key, &mut out);
                out.push_str(":[");
                for (j, item) in items.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    write(item, &mut out, max_bytes)?;
                }
                out.push(']');
            }
            out.push('}');
        }
    }
    Ok(out)
}

/// Most documents in one YAML file.
const MAX_DOCUMENTS: usize = 1024;

fn too_large(max_bytes: usize) -> String {
    format!("document is larger than the limit of {max_bytes} bytes once converted to json")
}

fn write(v: &Y, out: &mut String, max: usize) -> Result<(), String> {
    if out.len() > max {
        return Err(too_large(max));
    }
    match v {
        Y::Null => out.push_str("null"),
        Y::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Y::Number(n) => out.push_str(&number(n)?),
        Y::String(s) => write_str(s, out),
        Y::Sequence(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out, max)?;
            }
            out.push(']');
        }
        Y::Mapping(m) => {
            out.push('{');
            for (i, (k, val)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let key = match k {
                    Y::String(s) => s.clone(),
                    Y::Number(n) => number(n)?,
                    Y::Bool(b) => b.to_string(),
                    other => {
                        return Err(format!(
                            "yaml mapping keys must be strings, found {}",
                            kind(other)
                        ))
                    }
                };
                write_str(&key, out);
                out.push(':');
                write(val, out, max)?;
            }
            out.push('}');
        }
        Y::Tagged(t) => {
            return Err(format!("yaml tags such as `{}` are not supported", t.tag));
        }
    }
    if out.len() > max {
        return Err(too_large(max));
    }
    Ok(())
}

fn number(n: &serde_yaml::Number) -> Result<String, String> {
    if let Some(i) = n.as_i64() {
        Ok(i.to_string())
    } else if let Some(u) = n.as_u64() {
        Ok(u.to_string())
    } else {
        match n.as_f64() {
            // `{:?}` keeps an exponent (`1e300`) and a fraction (`1.0`): valid JSON either way.
            Some(f) if f.is_finite() => Ok(format!("{f:?}")),
            _ => Err(format!("yaml number `{n}` has no json equivalent")),
        }
    }
}

fn kind(v: &Y) -> &'static str {
    match v {
        Y::Null => "null",
        Y::Bool(_) => "a boolean",
        Y::Number(_) => "a number",
        Y::String(_) => "a string",
        Y::Sequence(_) => "a sequence",
        Y::Mapping(_) => "a mapping",
        Y::Tagged(_) => "a tagged value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(s: &str) -> Result<String, String> {
        to_json_text(s, 1 << 20)
    }

    #[test]
    fn converts_in_order() {
        assert_eq!(
            conv("b: 1\na: [x, 2.5, true, null, 1e3]\n200: ok\n").unwrap(),
            r#"{"b":1,"a":["x",2.5,true,null,1000.0],"200":"ok"}"#
        );
        assert_eq!(conv("s: \"a\\\"b\\n\"").unwrap(), r#"{"s":"a\"b\n"}"#);
    }

    #[test]
    fn refuses_what_json_cannot_say() {
        assert!(conv("a: 1\na: 2\n").unwrap_err().contains("duplicate"));
        assert!(conv("a: .nan").unwrap_err().contains("no json equivalent"));
        assert!(conv("? [1]\n: x")
            .unwrap_err()
            .contains("keys must be strings"));
        assert!(conv("a: !foo 1").unwrap_err().contains("tags"));
        assert!(conv("a: 1\n---\nb: 2\n")
            .unwrap_err()
            .contains("document 1 is not an Istio"));
        assert!(conv("a: [1, 2").unwrap_err().starts_with("invalid yaml: "));
    }

    #[test]
    fn istio_objects_become_a_policy() {
        let ra = "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: a}\nspec: {jwtRules: [{issuer: x, jwksUri: 'https://x/j'}]}\n";
        let ap = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: b}\nspec: {}\n";
        let both = conv(&format!("---\n{ap}---\n{ra}---\n")).unwrap();
        assert!(both.starts_with(r#"{"jwtRules":[{"apiVersion":"#), "{both}");
        assert!(
            both.contains(r#""authorizationPolicies":[{"apiVersion""#),
            "{both}"
        );
        let one = conv(ap).unwrap();
        assert!(one.starts_with(r#"{"authorizationPolicies":[{"#), "{one}");
        assert!(conv(&format!("{ra}---\nkind: Service\n"))
            .unwrap_err()
            .contains("document 2"));
    }

    #[test]
    fn caps_alias_expansion() {
        let mut doc = String::from("a0: &a0 [xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx]\n");
        for i in 1..12 {
            let p = i - 1;
            doc.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let e = to_json_text(&doc, 1 << 16).unwrap_err();
        assert!(
            e.contains("larger than the limit") || e.contains("invalid yaml"),
            "{e}"
        );
    }
}
