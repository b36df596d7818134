//! Policy evaluation: Vigil against regorus (interpreter and RVM), Cedar and a hand-written
//! Rust function, on the same inputs; first checked to agree on every input.

use crate::harness::{self, Budget, Contender, Stat};
use cedar_policy::{
    Authorizer, Context, Decision as CedarDecision, Entities, EntityUid, PolicySet,
    Request as CedarRequest,
};
use policy_core::authenticate::TokenCache;
use policy_core::testcase::TestFile;
use policy_core::{CheckRequest, Engine, Env, Outcome};
use regorus::languages::rego::compiler::Compiler;
use regorus::rvm::RegoVM;
use serde_json::{json, Value as Json};
use std::collections::HashMap;
use std::hint::black_box;

type Res<T> = Result<T, String>;

/// One decision input in every engine's form.
pub struct Input {
    pub name: String,
    pub req: CheckRequest,
    pub now: i64,
    pub method: String,
    pub path: String,
    pub user: Option<Json>,
    pub device: Option<Json>,
    pub expect_allow: bool,
}

fn e<E: std::fmt::Display>(ctx: &str) -> impl Fn(E) -> String + '_ {
    move |err| format!("{ctx}: {err}")
}

fn core_json(v: &policy_core::json::Value) -> Res<Json> {
    serde_json::from_str(&v.to_json()).map_err(e("claims"))
}

/// The app-authz test cases whose decision is an authorization decision (the one case that
/// is refused at authentication — a device token in the user's header — is left out: that is
/// token verification, measured separately).
pub fn app_authz_inputs(root: &str) -> Res<(Engine, Vec<Input>)> {
    let pol = std::fs::read_to_string(format!("{root}/examples/policies/app-authz.policy.json"))
        .map_err(e("policy"))?;
    let tf = std::fs::read_to_string(format!("{root}/examples/policies/app-authz.test.json"))
        .map_err(e("test file"))?;
    let engine = Engine::from_json(&pol).map_err(e("vigil policy"))?;
    let v =
        policy_core::json::parse(&tf, policy_core::json::Limits::POLICY).map_err(e("test json"))?;
    let tf = TestFile::from_value(&v).map_err(e("test file"))?;
    let mut out = Vec::new();
    for case in tf.cases {
        let now = case.time.unwrap_or(vigil_fixtures::NOW);
        let auth = &engine.plan().auth;
        let keys = engine.inline_keys();
        let user = match auth.authenticate(&case.request, now, keys, None) {
            policy_core::authenticate::AuthOutcome::Verified(id) => Some(core_json(
                &policy_core::json::Value::Object(id.claims.clone()),
            )?),
            policy_core::authenticate::AuthOutcome::NoToken => None,
            policy_core::authenticate::AuthOutcome::Failed(_) => continue,
        };
        let device = match auth.authenticate_device(&case.request, now, keys, None) {
            policy_core::authenticate::AuthOutcome::Verified(id) => Some(core_json(
                &policy_core::json::Value::Object(id.claims.clone()),
            )?),
            _ => None,
        };
        let expect_allow = case.expect.get("decision").and_then(|d| d.as_str()) == Some("allow");
        out.push(Input {
            name: case.name.clone(),
            method: case.request.method.clone(),
            path: case.request.path.clone(),
            req: case.request,
            now,
            user,
            device,
            expect_allow,
        });
    }
    Ok((engine, out))
}

fn rego_input(i: &Input) -> Json {
    let mut m = serde_json::Map::new();
    m.insert("method".into(), json!(i.method));
    m.insert("path".into(), json!(i.path));
    if let Some(u) = &i.user {
        m.insert("user".into(), u.clone());
    }
    if let Some(d) = &i.device {
        m.insert("device".into(), d.clone());
    }
    Json::Object(m)
}

fn classification(path: &str) -> &'static str {
    if path.starts_with("/api/confidential/") {
        "confidential"
    } else if path.starts_with("/api/") {
        "internal"
    } else {
        "none"
    }
}

fn strings(v: Option<&Json>) -> Vec<String> {
    v.and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The Cedar request and entities as JSON (what an adapter would hand Cedar).
fn cedar_json(i: &Input, large: bool) -> (Json, Json, Json) {
    let (principal, user_entity) = match &i.user {
        Some(u) => {
            let sub = u.get("sub").and_then(|s| s.as_str()).unwrap_or("");
            let attrs = if large {
                json!({})
            } else {
                json!({
                    "roles": strings(u.get("roles")),
                    "amr": strings(u.get("amr")),
                    "blocked": u.get("blocked").and_then(|b| b.as_bool()).unwrap_or(false),
                })
            };
            (
                json!({"type": "User", "id": sub}),
                Some(json!({"uid": {"type": "User", "id": sub}, "attrs": attrs, "parents": []})),
            )
        }
        None => (json!({"type": "Anonymous", "id": "anonymous"}), None),
    };
    let doc_attrs = if large {
        json!({"path": i.path})
    } else {
        json!({"classification": classification(&i.path)})
    };
    let mut entities =
        vec![json!({"uid": {"type": "Doc", "id": i.path}, "attrs": doc_attrs, "parents": []})];
    entities.extend(user_entity);
    let compliant = i
        .device
        .as_ref()
        .and_then(|d| d.get("compliant"))
        .and_then(|c| c.as_bool())
        .unwrap_or(false);
    let context = if large {
        json!({})
    } else {
        json!({"device_compliant": compliant})
    };
    (
        json!({"principal": principal, "action": {"type": "Action", "id": i.method},
               "resource": {"type": "Doc", "id": i.path}}),
        Json::Array(entities),
        context,
    )
}

struct CedarInput {
    req: CedarRequest,
    entities: Entities,
}

fn uid(v: &Json) -> Res<EntityUid> {
    let t = v["type"].as_str().unwrap_or("");
    let id = v["id"].as_str().unwrap_or("");
    Ok(EntityUid::from_type_name_and_id(
        t.parse().map_err(e("cedar type"))?,
        id.parse().map_err(e("cedar id"))?,
    ))
}

fn cedar_build(i: &Input, large: bool) -> Res<CedarInput> {
    let (r, ents, ctx) = cedar_json(i, large);
    let entities = Entities::from_json_value(ents, None).map_err(e("cedar entities"))?;
    let context = Context::from_json_value(ctx, None).map_err(e("cedar context"))?;
    let req = CedarRequest::new(
        uid(&r["principal"])?,
        uid(&r["action"])?,
        uid(&r["resource"])?,
        context,
        None,
    )
    .map_err(e("cedar request"))?;
    Ok(CedarInput { req, entities })
}

/// The hand-written floor: typed inputs, the same checks in plain Rust.
#[derive(Debug, Clone)]
pub struct Typed {
    method: String,
    path: String,
    user: Option<TypedUser>,
    device_compliant: bool,
}

#[derive(Debug, Clone)]
struct TypedUser {
    sub: String,
    roles: Vec<String>,
    amr: Vec<String>,
    blocked: bool,
}

fn typed(i: &Input) -> Typed {
    Typed {
        method: i.method.clone(),
        path: i.path.clone(),
        user: i.user.as_ref().map(|u| TypedUser {
            sub: u
                .get("sub")
                .and_then(|s| s.as_str())
                .unwrap_or("")
                .to_string(),
            roles: strings(u.get("roles")),
            amr: strings(u.get("amr")),
            blocked: u.get("blocked").and_then(|b| b.as_bool()).unwrap_or(false),
        }),
        device_compliant: i
            .device
            .as_ref()
            .and_then(|d| d.get("compliant"))
            .and_then(|c| c.as_bool())
            .unwrap_or(false),
    }
}

fn floor_app_authz(t: &Typed) -> bool {
    let Some(u) = &t.user else { return false };
    let write = matches!(t.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE");
    let read = matches!(t.method.as_str(), "GET" | "HEAD");
    let confidential = t.path.starts_with("/api/confidential/");
    let mfa = u.amr.iter().any(|a| a == "mfa");
    let has = |rs: &[&str]| u.roles.iter().any(|r| rs.contains(&r.as_str()));
    if u.blocked || (write && !mfa) || (confidential && (!mfa || !t.device_compliant)) {
        return false;
    }
    (read && !confidential)
        || (write && !confidential && has(&["editor", "admin"]))
        || (confidential && has(&["analyst", "admin"]))
}

/// Everything one policy needs in every engine.
pub struct Suite {
    pub name: String,
    pub vigil: Engine,
    pub rego: String,
    pub rego_rule: String,
    pub cedar: String,
    pub floor: fn(&Typed, &HashMap<String, usize>) -> bool,
    pub floor_index: HashMap<String, usize>,
    pub inputs: Vec<Input>,
    pub large: bool,
}

fn floor_small(t: &Typed, _: &HashMap<String, usize>) -> bool {
    floor_app_authz(t)
}

fn floor_large(t: &Typed, index: &HashMap<String, usize>) -> bool {
    let Some(u) = &t.user else { return false };
    let Some(k) = index.get(&u.sub) else {
        return false;
    };
    if t.method != "GET" {
        return false;
    }
    let Some(rest) = t.path.strip_prefix("/svc/") else {
        return false;
    };
    let mut parts = rest.splitn(2, '/');
    parts.next().and_then(|n| n.parse::<usize>().ok()) == Some(*k) && parts.next().is_some()
}

pub fn app_authz_suite(root: &str) -> Res<Suite> {
    let (vigil, inputs) = app_authz_inputs(root)?;
    Ok(Suite {
        name: "app.authz (seeds' policy, 7 policies)".into(),
        vigil,
        rego: std::fs::read_to_string(format!("{root}/bench/policies/app-authz.rego"))
            .map_err(e("rego"))?,
        rego_rule: "data.app.authz.allow".into(),
        cedar: std::fs::read_to_string(format!("{root}/bench/policies/app-authz.cedar"))
            .map_err(e("cedar"))?,
        floor: floor_small,
        floor_index: HashMap::new(),
        inputs,
        large: false,
    })
}

/// `n` rules: user uK may GET /svc/K/* — one ALLOW policy per user in Vigil, one rule per
/// user in Rego, one permit per user in Cedar.
pub fn large_suite(n: usize) -> Res<Suite> {
    let vigil_text = crate::gen::rules_policy(n);
    let vigil = Engine::from_json(&vigil_text).map_err(e("vigil large"))?;
    let mut rego = String::from("package large\n\nimport rego.v1\n\ndefault allow := false\n\n");
    let mut cedar = String::new();
    let mut floor_index = HashMap::new();
    for k in 0..n {
        rego.push_str(&format!(
            "allow if {{\n\tinput.user.sub == \"u{k}\"\n\tinput.method == \"GET\"\n\tstartswith(input.path, \"/svc/{k}/\")\n}}\n\n"
        ));
        cedar.push_str(&format!(
            "permit (principal == User::\"u{k}\", action == Action::\"GET\", resource)\nwhen {{ resource.path like \"/svc/{k}/*\" }};\n"
        ));
        floor_index.insert(format!("u{k}"), k);
    }
    let last = n - 1;
    let mid = n / 2;
    let cases: Vec<(&str, String, String, bool)> = vec![
        ("GET", format!("u{last}"), format!("/svc/{last}/a"), true),
        ("GET", "u0".to_string(), "/svc/0/a".to_string(), true),
        (
            "GET",
            format!("u{mid}"),
            format!("/svc/{}/a", mid + 1),
            false,
        ),
        ("POST", format!("u{mid}"), format!("/svc/{mid}/a"), false),
        ("GET", "stranger".to_string(), "/svc/1/a".to_string(), false),
    ];
    let now = vigil_fixtures::NOW;
    let mut inputs = Vec::new();
    for (method, sub, path, allow) in cases {
        let token = crate::gen::user_token(&sub, now, "");
        let req = CheckRequest::new(method, &path, "app.vigil.test")
            .with_header("authorization", &format!("Bearer {token}"));
        inputs.push(Input {
            name: format!("{method} {path} as {sub}"),
            req,
            now,
            method: method.into(),
            path,
            user: Some(json!({"iss": vigil_fixtures::ISSUER, "sub": sub, "aud": "api"})),
            device: None,
            expect_allow: allow,
        });
    }
    Ok(Suite {
        name: format!("{n} rules (user uK may GET /svc/K/*)"),
        vigil,
        rego,
        rego_rule: "data.large.allow".into(),
        cedar,
        floor: floor_large,
        floor_index,
        inputs,
        large: true,
    })
}

fn regorus_engine(s: &Suite) -> Res<regorus::Engine> {
    let mut eng = regorus::Engine::new();
    eng.add_policy("policy.rego".into(), s.rego.clone())
        .map_err(e("regorus"))?;
    Ok(eng)
}

fn regorus_vm(s: &Suite) -> Res<RegoVM> {
    let mut eng = regorus_engine(s)?;
    let entry: regorus::Rc<str> = regorus::Rc::from(s.rego_rule.as_str());
    let compiled = eng
        .compile_with_entrypoint(&entry)
        .map_err(e("regorus compile"))?;
    let program =
        Compiler::compile_from_policy(&compiled, &[s.rego_rule.as_str()]).map_err(e("rvm"))?;
    let mut vm = RegoVM::new();
    vm.load_program(program);
    vm.set_data(regorus::Value::new_object())
        .map_err(e("rvm data"))?;
    Ok(vm)
}

fn rego_allow(v: &regorus::Value) -> bool {
    *v == regorus::Value::from(true)
}

/// Runs the agreement check and, when every engine agrees with every expectation, the timing.
pub fn bench(s: &Suite, budget: Budget) -> Res<Json> {
    let mut cache = TokenCache::new(1024);
    let envs: Vec<Env<'static>> = s.inputs.iter().map(|i| Env::at(i.now)).collect();
    let rego_inputs: Vec<regorus::Value> = s
        .inputs
        .iter()
        .map(|i| regorus::Value::from_json_str(&rego_input(i).to_string()))
        .collect::<Result<_, _>>()
        .map_err(e("rego input"))?;
    let rego_texts: Vec<String> = s.inputs.iter().map(|i| rego_input(i).to_string()).collect();
    let cedar_inputs: Vec<CedarInput> = s
        .inputs
        .iter()
        .map(|i| cedar_build(i, s.large))
        .collect::<Res<_>>()?;
    let cedar_jsons: Vec<(Json, Json, Json)> =
        s.inputs.iter().map(|i| cedar_json(i, s.large)).collect();
    let typed_inputs: Vec<Typed> = s.inputs.iter().map(typed).collect();
    let policies: PolicySet = s.cedar.parse().map_err(e("cedar policy"))?;
    let authorizer = Authorizer::new();
    let mut interp = regorus_engine(s)?;
    let mut vm = regorus_vm(s)?;
    let mut vm_json = regorus_vm(s)?;

    // Agreement: every engine, every input, against the test file's expectation.
    let mut rows = Vec::new();
    let mut disagree = Vec::new();
    for (k, i) in s.inputs.iter().enumerate() {
        let d = s.vigil.decide_cached(&i.req, &envs[k], &mut cache);
        let vigil = d.outcome == Outcome::Allow;
        interp.set_input(rego_inputs[k].clone());
        let ri = rego_allow(
            &interp
                .eval_rule(s.rego_rule.clone())
                .map_err(e("regorus eval"))?,
        );
        vm.set_input(rego_inputs[k].clone());
        let rv = rego_allow(&vm.execute().map_err(e("rvm eval"))?);
        let c = &cedar_inputs[k];
        let ce = authorizer
            .is_authorized(&c.req, &policies, &c.entities)
            .decision()
            == CedarDecision::Allow;
        let fl = (s.floor)(&typed_inputs[k], &s.floor_index);
        let all = [vigil, ri, rv, ce, fl];
        if all.iter().any(|x| *x != i.expect_allow) {
            disagree.push(format!(
                "`{}`: expected {} — vigil {vigil} ({}), regorus {ri}, rvm {rv}, cedar {ce}, floor {fl}",
                i.name,
                if i.expect_allow { "allow" } else { "deny" },
                d.code
            ));
        }
        rows.push(json!({"input": i.name, "allow": i.expect_allow, "vigil": d.outcome.as_str()}));
    }
    if !disagree.is_empty() {
        return Err(format!(
            "the engines disagree on {}; refusing to report timings:\n  {}",
            s.name,
            disagree.join("\n  ")
        ));
    }

    // Every token is in the cache now: a second pass must not verify anything.
    for (k, i) in s.inputs.iter().enumerate() {
        let m = cache.misses();
        s.vigil.decide_cached(&i.req, &envs[k], &mut cache);
        if cache.misses() != m {
            eprintln!(
                "  note: `{}` misses the token cache on every decision",
                i.name
            );
        }
    }
    // The issue's "token already verified": the caller authenticated once (as the peers get
    // prebuilt claims), then only canonicalisation, policy and the decision per call.
    let callers: Vec<policy_core::Caller> = s
        .inputs
        .iter()
        .zip(&envs)
        .map(|(i, env)| s.vigil.authenticate(&i.req, env, None))
        .collect();
    for ((i, env), caller) in s.inputs.iter().zip(&envs).zip(&callers) {
        let a = s.vigil.decide_caller(&i.req, env, caller);
        let b = s.vigil.decide(&i.req, env);
        if a != b {
            return Err(format!("`{}`: decide_caller and decide disagree", i.name));
        }
    }
    let n = s.inputs.len();
    let mut contenders = vec![
        Contender::new("vigil", n, || {
            for (k, i) in s.inputs.iter().enumerate() {
                black_box(s.vigil.decide_cached(&i.req, &envs[k], &mut cache));
            }
        }),
        Contender::new("vigil_caller", n, || {
            for (k, i) in s.inputs.iter().enumerate() {
                black_box(s.vigil.decide_caller(&i.req, &envs[k], &callers[k]));
            }
        }),
        Contender::new("floor", n, || {
            for t in &typed_inputs {
                black_box((s.floor)(black_box(t), &s.floor_index));
            }
        }),
        Contender::new("regorus_rvm", n, || {
            for r in &rego_inputs {
                vm.set_input(r.clone());
                let _ = black_box(vm.execute());
            }
        }),
        Contender::new("regorus", n, || {
            for r in &rego_inputs {
                interp.set_input(r.clone());
                let _ = black_box(interp.eval_rule(s.rego_rule.clone()));
            }
        }),
        Contender::new("cedar", n, || {
            for c in &cedar_inputs {
                black_box(authorizer.is_authorized(&c.req, &policies, &c.entities));
            }
        }),
        Contender::new("cedar_from_json", n, || {
            for (r, ents, ctx) in &cedar_jsons {
                let ok = (|| -> Option<bool> {
                    let entities = Entities::from_json_value(ents.clone(), None).ok()?;
                    let context = Context::from_json_value(ctx.clone(), None).ok()?;
                    let req = CedarRequest::new(
                        uid(&r["principal"]).ok()?,
                        uid(&r["action"]).ok()?,
                        uid(&r["resource"]).ok()?,
                        context,
                        None,
                    )
                    .ok()?;
                    Some(
                        authorizer
                            .is_authorized(&req, &policies, &entities)
                            .decision()
                            == CedarDecision::Allow,
                    )
                })();
                black_box(ok);
            }
        }),
        Contender::new("regorus_rvm_from_json", n, || {
            for t in &rego_texts {
                if let Ok(v) = regorus::Value::from_json_str(t) {
                    vm_json.set_input(v);
                    let _ = black_box(vm_json.execute());
                }
            }
        }),
    ];
    let stats = harness::run(&mut contenders, budget);
    drop(contenders);
    // Vigil per input, to show where its time goes.
    let mut per_input: Vec<Contender<'_>> = s
        .inputs
        .iter()
        .zip(&envs)
        .map(|(i, env)| {
            let c = std::cell::RefCell::new(cache.clone());
            Contender::new(i.name.clone(), 1, move || {
                if let Ok(mut c) = c.try_borrow_mut() {
                    black_box(s.vigil.decide_cached(&i.req, env, &mut c));
                }
            })
        })
        .collect();
    let per_input = harness::run(
        &mut per_input,
        Budget {
            samples: budget.samples.min(11),
            sample_time: budget.sample_time / 4,
        },
    );
    let vigil = stats[0].median;
    let ratios: serde_json::Map<String, Json> = stats
        .iter()
        .map(|st| {
            (
                st.name.clone(),
                json!(((st.median / vigil) * 100.0).round() / 100.0),
            )
        })
        .collect();
    Ok(json!({
        "suite": s.name,
        "inputs": rows,
        "agreement": "all engines gave the expected allow/deny on every input",
        "stats": stats.iter().map(Stat::to_json).collect::<Vec<_>>(),
        "vigil_per_input": per_input.iter().map(Stat::to_json).collect::<Vec<_>>(),
        "ratio_to_vigil": ratios,
    }))
}
