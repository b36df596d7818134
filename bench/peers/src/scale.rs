//! Scale: Vigil's configure time and decision time as rules, principals, CIDRs and revoked
//! tokens grow.

use crate::gen;
use crate::harness::{self, Budget, Contender};
use policy_core::authenticate::TokenCache;
use policy_core::feeds::NetworkLists;
use policy_core::{CheckRequest, Engine, Env, Outcome};
use serde_json::{json, Value as Json};
use std::hint::black_box;
use vigil_fixtures::NOW;

type Res<T> = Result<T, String>;

fn req_with(
    method: &str,
    path: &str,
    token: Option<&str>,
    addr: Option<&str>,
) -> Res<CheckRequest> {
    let mut v = json!({"method": method, "path": path, "host": "app.vigil.test", "headers": {}});
    if let Some(t) = token {
        v["headers"]["authorization"] = json!(format!("Bearer {t}"));
    }
    if let Some(a) = addr {
        v["source"] = json!({"address": a});
    }
    CheckRequest::from_json(&v.to_string()).map_err(|e| format!("request: {e}"))
}

/// The requests for one dimension at size n, with the expected allow/deny.
fn requests(dim: &str, n: usize) -> Res<Vec<(CheckRequest, bool)>> {
    let last = n - 1;
    Ok(match dim {
        "rules" => vec![
            (
                req_with(
                    "GET",
                    &format!("/svc/{last}/a"),
                    Some(&gen::user_token(&format!("u{last}"), NOW, "")),
                    None,
                )?,
                true,
            ),
            (
                req_with(
                    "GET",
                    "/svc/0/a",
                    Some(&gen::user_token("stranger", NOW, "")),
                    None,
                )?,
                false,
            ),
        ],
        "principals" => vec![
            (
                req_with(
                    "GET",
                    "/a",
                    Some(&gen::user_token(&format!("u{last}"), NOW, "")),
                    None,
                )?,
                true,
            ),
            (
                req_with(
                    "GET",
                    "/a",
                    Some(&gen::user_token("stranger", NOW, "")),
                    None,
                )?,
                false,
            ),
        ],
        "cidrs" => {
            let (a, b, c) = gen::net(last);
            vec![
                (
                    req_with("GET", "/a", None, Some(&format!("{a}.{b}.{c}.9")))?,
                    true,
                ),
                (req_with("GET", "/a", None, Some("192.0.2.1"))?, false),
            ]
        }
        _ => vec![
            (
                req_with(
                    "GET",
                    "/a",
                    Some(&gen::user_token("alice", NOW, r#""jti":"fresh""#)),
                    None,
                )?,
                true,
            ),
            (
                req_with(
                    "GET",
                    "/a",
                    Some(&gen::user_token(
                        "bob",
                        NOW,
                        &format!(r#""jti":"jti-{last}""#),
                    )),
                    None,
                )?,
                false,
            ),
        ],
    })
}

fn policy(dim: &str, n: usize) -> String {
    match dim {
        "rules" => gen::rules_policy_any_method(n),
        "principals" => gen::principals_policy(n),
        "cidrs" => gen::cidrs_policy(n),
        _ => gen::revoked_policy(n),
    }
}

pub fn bench(sizes: &[usize], budget: Budget) -> Res<Json> {
    let mut out = Vec::new();
    for dim in ["rules", "principals", "cidrs", "revoked"] {
        let mut points = Vec::new();
        let mut skipped = Vec::new();
        let mut last: Option<(usize, f64)> = None;
        for &n in sizes {
            // Stop before a size whose configure time, extrapolated quadratically from the last
            // one, would exceed 30 s (it is reported as skipped, with the estimate).
            if let Some((ln, lt)) = last {
                let est = lt * (n as f64 / ln as f64).powi(2);
                if est > 30e9 {
                    skipped.push(json!({"n": n, "estimated_configure_ns": est.round(),
                                        "why": "configure time extrapolated (quadratically) beyond 30 s"}));
                    continue;
                }
            }
            let text = policy(dim, n);
            if let Err(e) = Engine::from_json(&text) {
                // A document the engine refuses (e.g. over the 16 MiB limit) is a finding, not
                // a failed benchmark: reported with the engine's own words.
                skipped.push(json!({"n": n, "policy_bytes": text.len(), "why": format!("refused by the engine: {e}")}));
                continue;
            }
            let reps = if n >= 10_000 { 3 } else { 7 };
            let configure = harness::time_reps(reps, || Engine::from_json(&text));
            last = Some((n, configure.median));
            let engine = Engine::from_json(&text).map_err(|e| format!("{dim} {n}: {e}"))?;
            let reqs = requests(dim, n)?;
            let env = Env::at(NOW);
            let mut cache = TokenCache::new(64);
            for (r, allow) in &reqs {
                let d = engine.decide_cached(r, &env, &mut cache);
                if (d.outcome == Outcome::Allow) != *allow {
                    return Err(format!(
                        "{dim} {n}: unexpected {} ({})",
                        d.outcome.as_str(),
                        d.reason
                    ));
                }
            }
            let k = reqs.len();
            let mut cs = vec![Contender::new("decide", k, || {
                for (r, _) in &reqs {
                    black_box(engine.decide_cached(r, &env, &mut cache));
                }
            })];
            let st = harness::run(&mut cs, budget);
            points.push(json!({"n": n, "policy_bytes": text.len(),
                               "configure_ns": configure.median.round(),
                               "decide_ns": st[0].median.round(),
                               "decide_p10_ns": st[0].p10.round(), "decide_p90_ns": st[0].p90.round()}));
            eprintln!(
                "  scale {dim} {n}: configure {:.0} µs, decide {:.0} ns",
                configure.median / 1e3,
                st[0].median
            );
        }
        out.push(json!({"dimension": dim, "points": points, "skipped": skipped}));
    }
    Ok(Json::Array(out))
}

/// A network list decided from a live feed of 100,000 ranges (`network.feed`, passed as
/// `Env.network_lists`) against the same list of 10 ranges inline in the policy: the same
/// client addresses (one in the list: denied; one outside: allowed), in one run.
pub fn feed_bench(budget: Budget) -> Res<Json> {
    let cidr = |k: usize| {
        let (a, b, c) = gen::net(k);
        format!("{a}.{b}.{c}.0/24")
    };
    let policy = |inline: &[String], feed: bool| {
        json!({
            "network": if feed {
                json!({"lists": {"blocked": inline}, "feed": {"uri": "https://feeds.vigil.test/networks"}})
            } else {
                json!({"lists": {"blocked": inline}})
            },
            "authorizationPolicies": [
                {"name": "blocked", "action": "DENY",
                 "rules": [{"when": [{"key": "network.list[blocked]", "values": ["true"]}]}]},
                {"name": "any", "rules": [{}]}]
        })
        .to_string()
    };
    let ten: Vec<String> = (0..10).map(cidr).collect();
    let big: Vec<String> = (0..100_000).map(cidr).collect();
    let static_engine =
        Engine::from_json(&policy(&ten, false)).map_err(|e| format!("static: {e}"))?;
    let feed_engine = Engine::from_json(&policy(&[], true)).map_err(|e| format!("feed: {e}"))?;
    let feed_text = json!({"lists": {"blocked": big}}).to_string();
    let parse = harness::time_reps(3, || NetworkLists::from_json(&feed_text));
    let lists = NetworkLists::from_json(&feed_text).map_err(|e| format!("feed: {e}"))?;
    let (a, b, c) = gen::net(7);
    let reqs = [
        (
            req_with("GET", "/a", None, Some(&format!("{a}.{b}.{c}.9")))?,
            false,
        ),
        (req_with("GET", "/a", None, Some("192.0.2.1"))?, true),
    ];
    let static_env = Env::at(NOW);
    let feed_env = Env {
        network_lists: Some(&lists),
        ..Env::at(NOW)
    };
    for (engine, env, what) in [
        (&static_engine, &static_env, "static"),
        (&feed_engine, &feed_env, "feed"),
    ] {
        for (r, allow) in &reqs {
            let d = engine.decide(r, env);
            if (d.outcome == Outcome::Allow) != *allow {
                return Err(format!(
                    "feeds {what}: unexpected {} ({})",
                    d.outcome.as_str(),
                    d.reason
                ));
            }
        }
    }
    let mut cs = vec![
        Contender::new("static list, 10 ranges", reqs.len(), || {
            for (r, _) in &reqs {
                black_box(static_engine.decide(r, &static_env));
            }
        }),
        Contender::new("feed list, 100,000 ranges", reqs.len(), || {
            for (r, _) in &reqs {
                black_box(feed_engine.decide(r, &feed_env));
            }
        }),
    ];
    let st = harness::run(&mut cs, budget);
    eprintln!(
        "  network list: static 10 ranges {:.0} ns, feed 100,000 ranges {:.0} ns; feed parse {:.1} ms",
        st[0].median,
        st[1].median,
        parse.median / 1e6
    );
    Ok(json!({
        "static_ns": st[0].median.round(), "static_p10_ns": st[0].p10.round(), "static_p90_ns": st[0].p90.round(),
        "feed_ns": st[1].median.round(), "feed_p10_ns": st[1].p10.round(), "feed_p90_ns": st[1].p90.round(),
        "feed_ranges": lists.ranges(), "feed_bytes": feed_text.len(), "feed_parse_ns": parse.median.round(),
    }))
}
