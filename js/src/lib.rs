//! # Vigil for JavaScript
//!
//! policy-core behind a thin wasm-bindgen surface, for edge workers (workerd, Cloudflare),
//! browsers and Node: `compile(policy)` builds an [`Engine`]; `engine.decide(request, {now,
//! state})` returns the same decision object as `vigil eval`. The API, its TypeScript types and
//! why this is a crate of its own (not a feature of policy-core) are in docs/js.md.
//!
//! What this crate must never do:
//! * decide anything itself — every rule is policy-core's; this crate converts values, keeps
//!   the key sets and the token cache, and calls the caller's fetch callback;
//! * throw across the boundary — bad input comes back as data (`{ok: false, error}`, or a
//!   denial carrying `error`), and nothing here panics (a panic in wasm is an opaque trap).
// wasm-bindgen's generated glue is `unsafe` code; every line written here is safe.
#![allow(unsafe_code)]

pub mod api;
pub mod bundles;
pub mod keys;
pub mod webcrypto;

use api::Options;
use js_sys::{Array, Function, Object, Promise, Reflect, JSON};
use keys::{Fetched, Keys};
use policy_core::authenticate::jwt::{NativeSignatures, SignatureCheck};
use policy_core::authenticate::TokenCache;
use policy_core::error::{ErrorCode, PolicyError};
use policy_core::json::{Map, Value};
use policy_core::CheckRequest;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, JsFuture};
use webcrypto::{Answer, Deferred, Job};

/// Verified tokens kept per engine unless `tokenCacheSize` says otherwise (as the filter).
pub const DEFAULT_TOKEN_CACHE: usize = 4096;
/// Largest `tokenCacheSize` accepted.
pub const MAX_TOKEN_CACHE: usize = 1 << 20;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = include_str!("types.d.ts");

// JS values typed in the .d.ts by the types above (nothing is checked at run time: the JSON
// readers in api.rs do that and answer with data).
#[wasm_bindgen]
extern "C" {
    /// `string | Policy`.
    #[wasm_bindgen(typescript_type = "string | Policy")]
    pub type PolicyArg;
    /// `CompileOptions`.
    #[wasm_bindgen(typescript_type = "CompileOptions")]
    pub type CompileOptionsArg;
    /// `CheckRequest`.
    #[wasm_bindgen(typescript_type = "CheckRequest")]
    pub type CheckRequestArg;
    /// `DecideOptions`.
    #[wasm_bindgen(typescript_type = "DecideOptions")]
    pub type DecideOptionsArg;
    /// `string | Jwks`.
    #[wasm_bindgen(typescript_type = "string | Jwks")]
    pub type JwksArg;
}

struct Inner {
    engine: policy_core::Engine,
    keys: Keys,
    cache: TokenCache,
    fetcher: Option<Function>,
    inflight: BTreeMap<String, Promise>,
    /// `verify: "webcrypto"`: decideAsync checks signatures with `crypto.subtle`.
    webcrypto: bool,
    /// Imported WebCrypto keys, by algorithm and JWK.
    crypto_keys: BTreeMap<String, JsValue>,
}

/// Most WebCrypto keys kept imported (the cache is emptied when full).
const MAX_CRYPTO_KEYS: usize = 256;

/// A compiled policy with its key sets and verified-token cache. Build it with `compile`.
#[wasm_bindgen]
pub struct Engine {
    inner: Rc<RefCell<Inner>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Engine")
    }
}

fn to_js(v: &Value) -> JsValue {
    JSON::parse(&v.to_json()).unwrap_or(JsValue::NULL)
}

/// A JS value as JSON text: strings are taken as JSON text already, anything else is
/// serialised with `JSON.stringify`.
fn to_text(v: &JsValue, what: &str) -> Result<String, PolicyError> {
    if let Some(s) = v.as_string() {
        return Ok(s);
    }
    if v.is_undefined() {
        return Err(PolicyError::new(
            ErrorCode::Missing,
            "$",
            format!("no {what} was given"),
        ));
    }
    JSON::stringify(v)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or_else(|| {
            PolicyError::new(
                ErrorCode::Type,
                "$",
                format!("the {what} cannot be turned into JSON"),
            )
        })
}

/// Options as JSON text (`undefined` and `null` are no options).
fn options_text(v: &JsValue) -> Result<String, PolicyError> {
    if v.is_undefined() || v.is_null() {
        return Ok("null".into());
    }
    to_text(v, "options")
}

fn describe(e: &JsValue) -> String {
    if let Some(err) = e.dyn_ref::<js_sys::Error>() {
        return String::from(err.message());
    }
    e.as_string()
        .unwrap_or_else(|| "the fetch callback failed".into())
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

fn clock_seconds() -> i64 {
    (now_ms() / 1000.0).floor() as i64
}

fn object(entries: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in entries {
        let _ = Reflect::set(&o, &JsValue::from_str(k), v);
    }
    o.into()
}

fn error_js(e: &PolicyError) -> JsValue {
    to_js(&api::error_value(e))
}

fn get(o: &JsValue, key: &str) -> JsValue {
    if o.is_object() {
        Reflect::get(o, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
    } else {
        JsValue::UNDEFINED
    }
}

struct CompileOptions {
    cache: usize,
    fetcher: Option<Function>,
    webcrypto: bool,
}

fn compile_options(o: &JsValue) -> Result<CompileOptions, PolicyError> {
    if !(o.is_undefined() || o.is_null() || o.is_object()) {
        return Err(PolicyError::new(
            ErrorCode::Type,
            "options",
            "expected an object",
        ));
    }
    let keys = if o.is_object() {
        Object::keys(&Object::from(o.clone()))
    } else {
        Array::new()
    };
    for key in keys.iter() {
        let k = key.as_string().unwrap_or_default();
        if !["tokenCacheSize", "fetchJwks", "verify"].contains(&k.as_str()) {
            return Err(PolicyError::new(
                ErrorCode::UnknownField,
                format!("options.{k}"),
                format!("unknown field `{k}`, expected `tokenCacheSize`, `fetchJwks` or `verify`"),
            ));
        }
    }
    let size = get(o, "tokenCacheSize");
    let size = if size.is_undefined() {
        DEFAULT_TOKEN_CACHE
    } else {
        match size.as_f64() {
            Some(n) if n >= 0.0 && n <= MAX_TOKEN_CACHE as f64 && n.fract() == 0.0 => n as usize,
            _ => {
                return Err(PolicyError::new(
                    ErrorCode::Invalid,
                    "options.tokenCacheSize",
                    format!("expected a whole number from 0 to {MAX_TOKEN_CACHE}"),
                ))
            }
        }
    };
    let fetcher = get(o, "fetchJwks");
    let fetcher = if fetcher.is_undefined() || fetcher.is_null() {
        None
    } else {
        Some(fetcher.dyn_into::<Function>().map_err(|_| {
            PolicyError::new(
                ErrorCode::Type,
                "options.fetchJwks",
                "expected a function (url, issuer) => Promise<string | object>",
            )
        })?)
    };
    let verify = get(o, "verify");
    let webcrypto = match verify.as_string().as_deref() {
        _ if verify.is_undefined() => false,
        Some("wasm") => false,
        Some("webcrypto") => true,
        _ => {
            return Err(PolicyError::new(
                ErrorCode::Invalid,
                "options.verify",
                "expected `wasm` or `webcrypto`",
            ))
        }
    };
    Ok(CompileOptions {
        cache: size,
        fetcher,
        webcrypto,
    })
}

/// The engine state for a compiled policy (a fresh token cache: one cache per policy).
fn inner_for(engine: policy_core::Engine, opts: CompileOptions) -> Inner {
    let keys = Keys::new(engine.inline_keys().clone(), engine.plan().auth.rules());
    Inner {
        engine,
        keys,
        cache: TokenCache::new(opts.cache),
        fetcher: opts.fetcher,
        inflight: BTreeMap::new(),
        webcrypto: opts.webcrypto,
        crypto_keys: BTreeMap::new(),
    }
}

/// Compiles a policy (a JSON string or an object) into an engine.
///
/// Returns `{ok: true, engine}` or `{ok: false, error: {code, path, message}}`; never throws.
#[wasm_bindgen(unchecked_return_type = "CompileResult")]
pub fn compile(policy: &PolicyArg, options: Option<CompileOptionsArg>) -> JsValue {
    let policy: &JsValue = policy.as_ref();
    let options: JsValue = options.map_or(JsValue::UNDEFINED, Into::into);
    let built = compile_options(&options).and_then(|opts| {
        let text = to_text(policy, "policy")?;
        Ok(inner_for(api::compile(&text)?, opts))
    });
    match built {
        Ok(inner) => object(&[
            ("ok", JsValue::TRUE),
            (
                "engine",
                Engine {
                    inner: Rc::new(RefCell::new(inner)),
                }
                .into(),
            ),
        ]),
        Err(e) => object(&[("ok", JsValue::FALSE), ("error", error_js(&e))]),
    }
}

/// Compares two policies (JSON strings or objects): every region of requests they decide
/// differently, with a witness request decided by both (as `vigil diff`). `now`: Unix
/// seconds (default: the clock). Returns `{ok: true, diff}` or `{ok: false, error}` (the
/// error's path starts with `old` or `new`); never throws.
#[wasm_bindgen(unchecked_return_type = "DiffResult")]
pub fn diff(old: &PolicyArg, new: &PolicyArg, now: Option<f64>) -> JsValue {
    let now = match now {
        Some(n) if n.is_finite() && (0.0..1e11).contains(&n) => n as i64,
        _ => (js_sys::Date::now() / 1000.0) as i64,
    };
    let result = to_text(old.as_ref(), "old").and_then(|o| {
        let n = to_text(new.as_ref(), "new")?;
        api::diff(&o, &n, now)
    });
    match result {
        Ok(v) => object(&[("ok", JsValue::TRUE), ("diff", to_js(&v))]),
        Err(e) => object(&[("ok", JsValue::FALSE), ("error", error_js(&e))]),
    }
}

/// The module's version (the workspace version).
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").into()
}

/// What one decision needs, read from JS values before any `await`.
struct Call {
    request: Result<String, PolicyError>,
    options: Result<String, PolicyError>,
}

impl Call {
    fn new(request: &CheckRequestArg, options: Option<DecideOptionsArg>) -> Call {
        Call {
            request: to_text(request.as_ref(), "request"),
            options: options_text(&options.map_or(JsValue::UNDEFINED, Into::into)),
        }
    }
}

/// Reads the request and options of a call, or the denial that answers them.
fn parse(call: &Call) -> Result<(CheckRequest, Options), Value> {
    let req = call
        .request
        .as_deref()
        .map_err(Clone::clone)
        .and_then(api::request)
        .map_err(|e| api::input_rejected(400, "invalid_request", "request", &e))?;
    let opts = call
        .options
        .as_deref()
        .map_err(Clone::clone)
        .and_then(api::options)
        .map_err(|e| api::input_rejected(500, "invalid_options", "options", &e))?;
    Ok((req, opts))
}

/// Decides (or explains) under a borrow of the engine; returns the JSON value and the issuer
/// whose keys a refetch could help. `signatures` checks token signatures when deciding
/// (explanations always use the core's own crypto).
fn run(
    inner: &mut Inner,
    call: &Call,
    explain: bool,
    signatures: &mut dyn SignatureCheck,
) -> (Value, Option<String>) {
    match parse(call) {
        Ok((req, opts)) => run_parsed(inner, &req, &opts, explain, signatures),
        Err(v) => (v, None),
    }
}

fn run_parsed(
    inner: &mut Inner,
    req: &CheckRequest,
    opts: &Options,
    explain: bool,
    signatures: &mut dyn SignatureCheck,
) -> (Value, Option<String>) {
    let now = api::decision_time(opts, req, clock_seconds());
    let mut env = opts.state.env(now);
    env.keys = Some(&inner.keys.store);
    if explain {
        let (d, steps) = inner.engine.explain(req, &env);
        (api::explain_value(&d, &steps), d.key_refetch.clone())
    } else {
        let d = inner
            .engine
            .decide_cached_using(req, &env, &mut inner.cache, signatures);
        (api::decision_value(&d), d.key_refetch.clone())
    }
}

fn busy() -> Value {
    let e = PolicyError::new(
        ErrorCode::Invalid,
        "$",
        "the engine was called again while it was deciding",
    );
    api::input_rejected(500, "engine_busy", "call", &e)
}

fn run_shared(inner: &Rc<RefCell<Inner>>, call: &Call, explain: bool) -> (Value, Option<String>) {
    match inner.try_borrow_mut() {
        Ok(mut i) => run(&mut i, call, explain, &mut NativeSignatures),
        Err(_) => (busy(), None),
    }
}

/// Decides with WebCrypto checking the signatures. The request is authenticated first (the
/// caller's token, then a device token) with a [`Deferred`] check that records the signature
/// it needs; WebCrypto verifies it; authenticating again with the answer puts the verified
/// token in the token cache. Then the core decides, every signature answered (or cached).
/// A cached token costs one cache lookup more than `decide`.
async fn run_webcrypto(inner: &Rc<RefCell<Inner>>, call: &Call) -> (Value, Option<String>) {
    let (req, opts) = match parse(call) {
        Ok(p) => p,
        Err(v) => return (v, None),
    };
    let mut answers: Vec<Answer> = Vec::new();
    // At most two signatures: the caller's token and a device token.
    for _ in 0..2 {
        let pending = {
            let Ok(mut guard) = inner.try_borrow_mut() else {
                return (busy(), None);
            };
            let i = &mut *guard;
            let now = api::decision_time(&opts, &req, clock_seconds());
            let auth = &i.engine.plan().auth;
            let mut deferred = Deferred::new(&answers);
            auth.authenticate_using(&req, now, &i.keys.store, Some(&mut i.cache), &mut deferred);
            if deferred.pending.is_none() && auth.has_device_rules() {
                auth.authenticate_device_using(
                    &req,
                    now,
                    &i.keys.store,
                    Some(&mut i.cache),
                    &mut deferred,
                );
            }
            deferred.pending
        };
        let Some(job) = pending else {
            break;
        };
        let ok = verify_job(inner, &job).await;
        answers.push((job.message, job.signature, ok));
    }
    match inner.try_borrow_mut() {
        Ok(mut i) => run_parsed(&mut i, &req, &opts, false, &mut Deferred::new(&answers)),
        Err(_) => (busy(), None),
    }
}

/// Calls `subtle[method](...args)` and awaits it.
async fn subtle_call(subtle: &JsValue, method: &str, args: &Array) -> Result<JsValue, JsValue> {
    let f: Function = Reflect::get(subtle, &JsValue::from_str(method))?.dyn_into()?;
    let p = f.apply(subtle, args)?;
    JsFuture::from(Promise::resolve(&p)).await
}

/// One signature through WebCrypto; the core's own crypto when WebCrypto is missing or
/// refuses the key or algorithm (e.g. a runtime without Ed25519).
async fn verify_job(inner: &Rc<RefCell<Inner>>, job: &Job) -> bool {
    match verify_webcrypto(inner, job).await {
        Some(ok) => ok,
        None => NativeSignatures.check(job.alg, &job.key, &job.message, &job.signature),
    }
}

async fn verify_webcrypto(inner: &Rc<RefCell<Inner>>, job: &Job) -> Option<bool> {
    let (jwk, import, verify) = webcrypto::webcrypto_params(job.alg, &job.key.key)?;
    let crypto = Reflect::get(&js_sys::global(), &JsValue::from_str("crypto")).ok()?;
    let subtle = Reflect::get(&crypto, &JsValue::from_str("subtle")).ok()?;
    if !subtle.is_object() {
        return None;
    }
    let id = format!("{}:{}", job.alg.name(), jwk.to_json());
    let cached = inner
        .try_borrow()
        .ok()
        .and_then(|i| i.crypto_keys.get(&id).cloned());
    let key = match cached {
        Some(k) => k,
        None => {
            let usages = Array::of1(&JsValue::from_str("verify"));
            let args = Array::of5(
                &JsValue::from_str("jwk"),
                &to_js(&jwk),
                &to_js(&import),
                &JsValue::FALSE,
                &usages,
            );
            let k = subtle_call(&subtle, "importKey", &args).await.ok()?;
            if let Ok(mut i) = inner.try_borrow_mut() {
                if i.crypto_keys.len() >= MAX_CRYPTO_KEYS {
                    i.crypto_keys.clear();
                }
                i.crypto_keys.insert(id, k.clone());
            }
            k
        }
    };
    let args = Array::of4(
        &to_js(&verify),
        &key,
        &js_sys::Uint8Array::from(job.signature.as_slice()),
        &js_sys::Uint8Array::from(job.message.as_slice()),
    );
    subtle_call(&subtle, "verify", &args).await.ok()?.as_bool()
}

/// One decision of decideAsync: WebCrypto rounds when configured, else the core's crypto.
async fn decide_once(
    inner: &Rc<RefCell<Inner>>,
    call: &Call,
    explain: bool,
) -> (Value, Option<String>) {
    let webcrypto = !explain && inner.try_borrow().is_ok_and(|i| i.webcrypto);
    if webcrypto {
        run_webcrypto(inner, call).await
    } else {
        run_shared(inner, call, explain)
    }
}

/// Calls the fetch callback and reads what it resolves to (JSON text or an object).
async fn call_fetcher(f: &Function, url: &str, issuer: &str) -> Result<String, String> {
    let r = f
        .call2(
            &JsValue::UNDEFINED,
            &JsValue::from_str(url),
            &JsValue::from_str(issuer),
        )
        .map_err(|e| describe(&e))?;
    let v = JsFuture::from(Promise::resolve(&r))
        .await
        .map_err(|e| describe(&e))?;
    to_text(&v, "fetched document").map_err(|e| e.message)
}

/// Fetches `issuer`'s set (discovery first when needed) and installs it.
async fn fetch_chain(inner: &Rc<RefCell<Inner>>, issuer: &str) -> Result<(), String> {
    let (fetcher, url) = {
        let mut i = inner
            .try_borrow_mut()
            .map_err(|_| "engine busy".to_string())?;
        let fetcher = i
            .fetcher
            .clone()
            .ok_or("no `fetchJwks` callback was given")?;
        let r = i
            .keys
            .remote_mut(issuer)
            .ok_or("the issuer has no `jwksUri`")?;
        let url = r
            .jwks_url
            .clone()
            .or_else(|| r.discovery_url.clone())
            .ok_or("nothing to fetch")?;
        (fetcher, url)
    };
    let mut url = url;
    // At most two documents: discovery, then the key set.
    for _ in 0..2 {
        let text = call_fetcher(&fetcher, &url, issuer).await?;
        let mut i = inner
            .try_borrow_mut()
            .map_err(|_| "engine busy".to_string())?;
        match i.keys.fetched(issuer, &text, now_ms())? {
            Fetched::Installed => return Ok(()),
            Fetched::JwksAt(next) => url = next,
        }
    }
    Err("discovery did not lead to a key set".into())
}

/// One fetch of `issuer`'s keys at a time: joins the pending one, or starts it.
async fn fetch_issuer(inner: &Rc<RefCell<Inner>>, issuer: &str) -> bool {
    let pending = {
        let Ok(mut i) = inner.try_borrow_mut() else {
            return false;
        };
        match i.inflight.get(issuer) {
            Some(p) => p.clone(),
            None => {
                let shared = inner.clone();
                let name = issuer.to_string();
                let p = future_to_promise(async move {
                    let result = fetch_chain(&shared, &name).await;
                    if let Ok(mut i) = shared.try_borrow_mut() {
                        i.inflight.remove(&name);
                        if let Err(why) = &result {
                            if let Some(r) = i.keys.remote_mut(&name) {
                                r.failed(now_ms(), why.clone());
                            }
                        }
                    }
                    Ok(JsValue::from_bool(result.is_ok()))
                });
                i.inflight.insert(issuer.to_string(), p.clone());
                p
            }
        }
    };
    JsFuture::from(pending)
        .await
        .ok()
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
}

/// Issuers whose sets are due for a scheduled fetch.
fn due(inner: &Rc<RefCell<Inner>>) -> Vec<String> {
    let Ok(i) = inner.try_borrow() else {
        return Vec::new();
    };
    if i.fetcher.is_none() {
        return Vec::new();
    }
    let now = now_ms();
    i.keys
        .remotes
        .iter()
        .filter(|r| r.due(now))
        .map(|r| r.issuer.clone())
        .collect()
}

async fn decide_async(inner: Rc<RefCell<Inner>>, call: Call, explain: bool) -> Value {
    for issuer in due(&inner) {
        fetch_issuer(&inner, &issuer).await;
    }
    let (v, refetch) = decide_once(&inner, &call, explain).await;
    let Some(issuer) = refetch else {
        return v;
    };
    let allowed = inner.try_borrow_mut().is_ok_and(|mut i| {
        i.fetcher.is_some()
            && i.keys
                .remote_mut(&issuer)
                .is_some_and(|r| r.take_refetch(now_ms()))
    });
    if allowed && fetch_issuer(&inner, &issuer).await {
        return decide_once(&inner, &call, explain).await.0;
    }
    v
}

#[wasm_bindgen]
impl Engine {
    /// Decides one request with the keys loaded now (never fetches). Returns the decision
    /// object; a request or options it cannot read give a denial carrying `error`.
    #[wasm_bindgen(unchecked_return_type = "Decision")]
    pub fn decide(&self, request: &CheckRequestArg, options: Option<DecideOptionsArg>) -> JsValue {
        to_js(&run_shared(&self.inner, &Call::new(request, options), false).0)
    }

    /// Like `decide`, but first fetches key sets that are due through `fetchJwks`, and
    /// refetches once (per cooldown) when the token's `kid` is unknown.
    #[wasm_bindgen(js_name = decideAsync, unchecked_return_type = "Promise<Decision>")]
    pub fn decide_async(
        &self,
        request: &CheckRequestArg,
        options: Option<DecideOptionsArg>,
    ) -> Promise {
        let call = Call::new(request, options);
        let inner = self.inner.clone();
        future_to_promise(async move { Ok(to_js(&decide_async(inner, call, false).await)) })
    }

    /// Decides and explains every step: `{decision, trace}` (the token cache is not used).
    #[wasm_bindgen(unchecked_return_type = "Explanation")]
    pub fn explain(&self, request: &CheckRequestArg, options: Option<DecideOptionsArg>) -> JsValue {
        to_js(&run_shared(&self.inner, &Call::new(request, options), true).0)
    }

    /// Coverage of test cases (as `vigil test --coverage`): `cases` is `[{request, options?}]`;
    /// returns `{ok: true, coverage: {summary, items}}` or `{ok: false, error}`.
    #[wasm_bindgen(unchecked_return_type = "CoverageResult")]
    pub fn coverage(&self, cases: &JsValue) -> JsValue {
        let Ok(i) = self.inner.try_borrow() else {
            return object(&[("ok", JsValue::FALSE), ("error", to_js(&busy()))]);
        };
        let result = to_text(cases, "cases")
            .and_then(|t| api::coverage(&i.engine, &i.keys.store, &t, clock_seconds()));
        match result {
            Ok(v) => object(&[("ok", JsValue::TRUE), ("coverage", to_js(&v))]),
            Err(e) => object(&[("ok", JsValue::FALSE), ("error", error_js(&e))]),
        }
    }

    /// Lints: patterns that are valid but probably wrong (as `vigil check`).
    #[wasm_bindgen(unchecked_return_type = "Lint[]")]
    pub fn check(&self) -> JsValue {
        match self.inner.try_borrow() {
            Ok(i) => to_js(&api::lints_value(&i.engine.lints())),
            Err(_) => Array::new().into(),
        }
    }

    /// Installs (replaces) the key set of one of the policy's issuers: a JWKS as text or
    /// object. `{ok: true, keys}` or `{ok: false, error}`; on error the last set stays.
    #[wasm_bindgen(js_name = setJwks, unchecked_return_type = "SetJwksResult")]
    pub fn set_jwks(&self, issuer: &str, jwks: &JwksArg) -> JsValue {
        let result = to_text(jwks.as_ref(), "key set").and_then(|text| {
            let mut i = self
                .inner
                .try_borrow_mut()
                .map_err(|_| PolicyError::new(ErrorCode::Invalid, "$", "the engine is busy"))?;
            i.keys.set(issuer, &text)
        });
        match result {
            Ok(n) => object(&[("ok", JsValue::TRUE), ("keys", JsValue::from(n as u32))]),
            Err(e) => object(&[("ok", JsValue::FALSE), ("error", error_js(&e))]),
        }
    }

    /// Fetches every remote key set now (single flight per issuer) through `fetchJwks`.
    /// Resolves to `[{issuer, ok, error}]`; a failed fetch keeps the last good set.
    #[wasm_bindgen(js_name = refreshKeys, unchecked_return_type = "Promise<RefreshResult[]>")]
    pub fn refresh_keys(&self) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let issuers: Vec<String> = match inner.try_borrow() {
                Ok(i) => i.keys.remotes.iter().map(|r| r.issuer.clone()).collect(),
                Err(_) => Vec::new(),
            };
            let out = Array::new();
            for issuer in issuers {
                let ok = fetch_issuer(&inner, &issuer).await;
                let error = inner.try_borrow_mut().ok().and_then(|mut i| {
                    i.keys
                        .remote_mut(&issuer)
                        .and_then(|r| r.last_error.clone())
                });
                let error = if ok {
                    JsValue::NULL
                } else {
                    error.map_or(JsValue::NULL, |e| e.into())
                };
                out.push(&object(&[
                    ("issuer", JsValue::from_str(&issuer)),
                    ("ok", JsValue::from_bool(ok)),
                    ("error", error),
                ]));
            }
            Ok(out.into())
        })
    }

    /// Counters and key-set state: `{tokenCache: {size, capacity, hits, misses}, keySets:
    /// [{issuer, keys, remote, fetchedAt, lastError}]}`.
    #[wasm_bindgen(unchecked_return_type = "EngineStats")]
    pub fn stats(&self) -> JsValue {
        let Ok(i) = self.inner.try_borrow() else {
            return JsValue::NULL;
        };
        let n = |x: u64| Value::from(i64::try_from(x).unwrap_or(i64::MAX));
        let mut cache = Map::new();
        cache.insert("size", n(i.cache.len() as u64));
        cache.insert("capacity", n(i.cache.capacity() as u64));
        cache.insert("hits", n(i.cache.hits()));
        cache.insert("misses", n(i.cache.misses()));
        let sets = i
            .engine
            .plan()
            .auth
            .rules()
            .iter()
            .map(|rule| {
                let remote = i.keys.remotes.iter().find(|r| r.issuer == rule.issuer);
                let mut m = Map::new();
                m.insert("issuer", Value::from(rule.issuer.as_str()));
                m.insert(
                    "keys",
                    n(i.keys.store.get(&rule.issuer).map_or(0, |s| s.len()) as u64),
                );
                m.insert("remote", Value::Bool(remote.is_some()));
                m.insert(
                    "fetchedAt",
                    remote
                        .and_then(|r| r.fetched_ms)
                        .and_then(policy_core::json::Number::from_f64)
                        .map_or(Value::Null, Value::Number),
                );
                m.insert(
                    "lastError",
                    remote
                        .and_then(|r| r.last_error.as_deref())
                        .map_or(Value::Null, Value::from),
                );
                Value::Object(m)
            })
            .collect();
        let mut m = Map::new();
        m.insert("tokenCache", Value::Object(cache));
        m.insert("keySets", Value::Array(sets));
        to_js(&Value::Object(m))
    }
}
