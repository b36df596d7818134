//! Signed policy bundles in the JS module (docs/bundles.md): `compileBundle` (one bundle,
//! verified and compiled) and `bundleSource` (a bundle polled through a fetch callback, with
//! `ETag`, installed only when it verifies and is newer; otherwise the last good engine stays).
//! The checks are policy-core's (`policy_core::bundle`) through `api.rs`; this file moves
//! values between JavaScript and them.

use super::*;
use policy_core::bundle::{BundleKeys, Last};

/// Verifies a policy bundle against `options.keys` (a JWK Set of Ed25519 keys) and compiles
/// its policy with the other options (as `compile`). Returns `{ok: true, engine, revision,
/// kid}` or `{ok: false, error}` (`error.path` is `bundle.<code>`); never throws.
#[wasm_bindgen(js_name = compileBundle, unchecked_return_type = "CompileBundleResult")]
pub fn compile_bundle(bundle: &str, options: &JsValue) -> JsValue {
    let result = (|| {
        let keys = api::bundle_keys(&to_text(&get(options, "keys"), "keys")?)?;
        let after = revision_option(options)?;
        let opts = compile_options(&without(options, &["keys", "afterRevision"]))?;
        let last = Last {
            revision: after,
            text: None,
        };
        match api::verify_policy_bundle(bundle, &keys, last)? {
            Some((b, engine)) => Ok((b, inner_for(engine, opts))),
            None => Err(PolicyError::new(
                ErrorCode::Invalid,
                "bundle.unchanged",
                "the installed bundle",
            )),
        }
    })();
    match result {
        Ok((b, inner)) => object(&[
            ("ok", JsValue::TRUE),
            (
                "engine",
                Engine {
                    inner: Rc::new(RefCell::new(inner)),
                }
                .into(),
            ),
            ("revision", JsValue::from_f64(b.revision as f64)),
            ("kid", JsValue::from_str(&b.kid)),
        ]),
        Err(e) => object(&[("ok", JsValue::FALSE), ("error", error_js(&e))]),
    }
}

fn revision_option(options: &JsValue) -> Result<Option<u64>, PolicyError> {
    let v = get(options, "afterRevision");
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    v.as_f64()
        .filter(|n| {
            n.fract() == 0.0 && (0.0..=policy_core::bundle::MAX_REVISION as f64).contains(n)
        })
        .map(|n| Some(n as u64))
        .ok_or_else(|| {
            PolicyError::new(
                ErrorCode::Invalid,
                "options.afterRevision",
                "expected a whole number",
            )
        })
}

/// `options` without `names` (the rest are `compile`'s options).
fn without(options: &JsValue, names: &[&str]) -> JsValue {
    if !options.is_object() {
        return options.clone();
    }
    let o = Object::new();
    for k in Object::keys(&Object::from(options.clone())).iter() {
        if let Some(name) = k.as_string() {
            if !names.contains(&name.as_str()) {
                let _ = Reflect::set(&o, &k, &get(options, &name));
            }
        }
    }
    o.into()
}

struct Source {
    url: String,
    keys: BundleKeys,
    fetch: Function,
    compile: JsValue,
    engine: Option<Engine>,
    revision: Option<u64>,
    kid: Option<String>,
    text: Option<String>,
    etag: Option<String>,
    fetched_at: Option<f64>,
    installed_at: Option<f64>,
    last_error: Option<String>,
    refused: u32,
    unchanged: u32,
}

/// A policy bundle polled from a URL through a fetch callback. Build it with `bundleSource`.
#[wasm_bindgen]
pub struct BundleSource {
    inner: Rc<RefCell<Source>>,
}

impl std::fmt::Debug for BundleSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BundleSource")
    }
}

/// A bundle source: `{url, keys, fetch, compile?}` where `fetch(url, {etag})` resolves to
/// `{status, body?, etag?}` (200 with the bundle text, or 304). Returns `{ok: true, source}`
/// or `{ok: false, error}`; never throws. Nothing is fetched until `refresh()`.
#[wasm_bindgen(js_name = bundleSource, unchecked_return_type = "BundleSourceResult")]
pub fn bundle_source(options: &JsValue) -> JsValue {
    let built = (|| {
        let url = get(options, "url")
            .as_string()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| {
                PolicyError::new(
                    ErrorCode::Missing,
                    "options.url",
                    "expected the bundle's URL",
                )
            })?;
        let keys = api::bundle_keys(&to_text(&get(options, "keys"), "keys")?)?;
        let fetch = get(options, "fetch").dyn_into::<Function>().map_err(|_| {
            PolicyError::new(
                ErrorCode::Type,
                "options.fetch",
                "expected a function (url, {etag}) => Promise<{status, body?, etag?}>",
            )
        })?;
        let compile = get(options, "compile");
        compile_options(&compile).map_err(|e| {
            PolicyError::new(
                e.code,
                format!("options.compile.{}", e.path.trim_start_matches("options.")),
                e.message,
            )
        })?;
        Ok(Source {
            url,
            keys,
            fetch,
            compile,
            engine: None,
            revision: None,
            kid: None,
            text: None,
            etag: None,
            fetched_at: None,
            installed_at: None,
            last_error: None,
            refused: 0,
            unchanged: 0,
        })
    })();
    match built {
        Ok(s) => object(&[
            ("ok", JsValue::TRUE),
            (
                "source",
                BundleSource {
                    inner: Rc::new(RefCell::new(s)),
                }
                .into(),
            ),
        ]),
        Err(e) => object(&[("ok", JsValue::FALSE), ("error", error_js(&e))]),
    }
}

fn outcome(ok: bool, changed: bool, error: Option<&str>) -> JsValue {
    object(&[
        ("ok", JsValue::from_bool(ok)),
        ("changed", JsValue::from_bool(changed)),
        ("error", error.map_or(JsValue::NULL, JsValue::from_str)),
    ])
}

async fn refresh(inner: Rc<RefCell<Source>>) -> JsValue {
    let (fetch, url, etag) = match inner.try_borrow() {
        Ok(s) => (s.fetch.clone(), s.url.clone(), s.etag.clone()),
        Err(_) => return outcome(false, false, Some("a refresh is already running")),
    };
    let arg = object(&[(
        "etag",
        etag.as_deref()
            .map_or(JsValue::UNDEFINED, JsValue::from_str),
    )]);
    let fetched = match fetch.call2(&JsValue::UNDEFINED, &JsValue::from_str(&url), &arg) {
        Ok(p) => JsFuture::from(Promise::resolve(&p))
            .await
            .map_err(|e| describe(&e)),
        Err(e) => Err(describe(&e)),
    };
    let Ok(mut s) = inner.try_borrow_mut() else {
        return outcome(false, false, Some("a refresh is already running"));
    };
    s.fetched_at = Some(now_ms());
    let fail = |s: &mut Source, why: String| {
        s.refused += 1;
        s.last_error = Some(why.clone());
        outcome(false, false, Some(&why))
    };
    let response = match fetched {
        Ok(r) => r,
        Err(why) => {
            return fail(
                &mut s,
                format!("fetching the bundle failed: {why}; keeping the last good policy"),
            )
        }
    };
    let status = get(&response, "status").as_f64().unwrap_or(0.0);
    if status == 304.0 {
        s.unchanged += 1;
        s.last_error = None;
        return outcome(true, false, None);
    }
    if status != 200.0 {
        return fail(
            &mut s,
            format!("the bundle's URL answered status {status}; keeping the last good policy"),
        );
    }
    let Some(body) = get(&response, "body").as_string() else {
        return fail(
            &mut s,
            "the fetch callback resolved to no `body` string".into(),
        );
    };
    let last = Last {
        revision: s.revision,
        text: s.text.as_deref(),
    };
    match api::verify_policy_bundle(&body, &s.keys, last) {
        Err(e) => fail(
            &mut s,
            format!(
                "{} [{}]; keeping the last good policy",
                e.message,
                e.path.trim_start_matches("bundle.")
            ),
        ),
        Ok(None) => {
            s.unchanged += 1;
            s.etag = get(&response, "etag").as_string();
            s.last_error = None;
            outcome(true, false, None)
        }
        Ok(Some((b, engine))) => match compile_options(&s.compile) {
            Err(e) => fail(&mut s, e.message),
            Ok(opts) => {
                s.engine = Some(Engine {
                    inner: Rc::new(RefCell::new(inner_for(engine, opts))),
                });
                s.revision = Some(b.revision);
                s.kid = Some(b.kid);
                s.text = Some(body);
                s.etag = get(&response, "etag").as_string();
                s.installed_at = Some(now_ms());
                s.last_error = None;
                outcome(true, true, None)
            }
        },
    }
}

#[wasm_bindgen]
impl BundleSource {
    /// Fetches the bundle once: `{ok, changed, error}`. A newer bundle that verifies is
    /// installed (`changed`); 304 or the same bundle is `ok` unchanged; anything else keeps
    /// the last good engine and says why.
    #[wasm_bindgen(unchecked_return_type = "Promise<BundleRefresh>")]
    pub fn refresh(&self) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move { Ok(refresh(inner).await) })
    }

    /// The engine of the last good bundle (`undefined` before one was installed).
    #[wasm_bindgen(unchecked_return_type = "Engine | undefined")]
    pub fn engine(&self) -> JsValue {
        match self.inner.try_borrow() {
            Ok(s) => s.engine.as_ref().map_or(JsValue::UNDEFINED, |e| {
                Engine {
                    inner: e.inner.clone(),
                }
                .into()
            }),
            Err(_) => JsValue::UNDEFINED,
        }
    }

    /// `{revision, kid, fetchedAt, installedAt, lastError, refused, unchanged}`.
    #[wasm_bindgen(unchecked_return_type = "BundleSourceStats")]
    pub fn stats(&self) -> JsValue {
        let Ok(s) = self.inner.try_borrow() else {
            return JsValue::NULL;
        };
        let num = |v: Option<f64>| v.map_or(JsValue::NULL, JsValue::from_f64);
        object(&[
            ("revision", num(s.revision.map(|r| r as f64))),
            (
                "kid",
                s.kid.as_deref().map_or(JsValue::NULL, JsValue::from_str),
            ),
            ("fetchedAt", num(s.fetched_at)),
            ("installedAt", num(s.installed_at)),
            (
                "lastError",
                s.last_error
                    .as_deref()
                    .map_or(JsValue::NULL, JsValue::from_str),
            ),
            ("refused", JsValue::from_f64(f64::from(s.refused))),
            ("unchanged", JsValue::from_f64(f64::from(s.unchanged))),
        ])
    }
}
