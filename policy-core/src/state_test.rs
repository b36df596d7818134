use super::*;
use crate::{CheckRequest, Engine, Env};

const POLICY: &str = r#"{"defaultAction": "ALLOW",
  "network": {"countryHeader": "x-country", "countryPrincipals": ["cluster.local/ns/edge/sa/gw"]},
  "trust": {"risks": [
    {"name": "first", "weight": 1, "when": [{"key": "behavior.firstSeen", "values": ["true"]}]},
    {"name": "moved", "weight": 2, "when": [{"key": "behavior.newCountry", "values": ["true"]}]},
    {"name": "fast", "weight": 4, "when": [{"key": "behavior.requestsLastMinute", "values": [">=3"]}]}]}}"#;

fn request(country: Option<&str>) -> CheckRequest {
    let mut r = CheckRequest::new("GET", "/x", "h");
    r.source.principal = Some("spiffe://cluster.local/ns/edge/sa/gw".into());
    if let Some(c) = country {
        r = r.with_header("x-country", c);
    }
    r
}

/// Decides in sequence, storing each update; returns the fired risks' total weight per request.
fn run(e: &Engine, store: &mut BehaviorSnapshot, steps: &[(i64, Option<&str>)]) -> Vec<u8> {
    steps
        .iter()
        .map(|(t, c)| {
            let env = Env {
                behavior: Some(&*store),
                ..Env::at(*t)
            };
            let d = e.decide(&request(*c), &env);
            let u = d.behavior.clone().unwrap();
            store.apply(&u);
            100 - d.trust.unwrap().score
        })
        .collect()
}

#[test]
fn signals_from_history() {
    let e = Engine::from_json(POLICY).unwrap();
    let mut store = BehaviorSnapshot::default();
    let t = 1_700_000_040; // the start of a minute
    let got = run(
        &e,
        &mut store,
        &[
            (t, Some("DE")),       // first seen
            (t + 1, Some("DE")),   // 2 in the window
            (t + 2, None),         // 3: fast; no country: newCountry absent
            (t + 3, Some("FR")),   // 4: fast and moved
            (t + 200, Some("FR")), // a later minute: slow again, same country
        ],
    );
    assert_eq!(got, [1, 0, 4, 6, 0]);
    let rec = store.subjects.get("cluster.local/ns/edge/sa/gw").unwrap();
    assert_eq!(rec.country.as_deref(), Some("FR"));
    assert_eq!(rec.first_seen, t);
    assert_eq!(Behavior::from_text(&rec.to_text()).as_ref(), Some(rec));
    // Expired history: first seen again.
    let later = t + BEHAVIOR_TTL_SECONDS + 1000;
    assert_eq!(run(&e, &mut store, &[(later, Some("FR"))]), [1]);
}

#[test]
fn sliding_window_carries_the_previous_minute() {
    let prev = Behavior {
        first_seen: 0,
        last_seen: 1_700_000_019,
        window: 1_699_999_980, // the minute before 1_700_000_040's
        current: 60,
        previous: 0,
        country: None,
    };
    // In the same minute: 60 + this one. 15 s into the next: 60 × 45/60 = 45, + this one.
    let s = Behavior::signals(Some(&prev), None, 1_700_000_055 - 60);
    assert_eq!(s.get("requestsLastMinute"), Some("61"));
    let s = Behavior::signals(Some(&prev), None, 1_700_000_055);
    assert_eq!(s.get("requestsLastMinute"), Some("46"));
    assert_eq!(s.get("firstSeen"), Some("false"));
    assert_eq!(s.get("newCountry"), None);
}

#[test]
fn text_form_is_strict() {
    for bad in [
        "",
        "v2 1 2 3 4 5 -",
        "v1 1 2 3 4 -",
        "v1 1 2 3 4 5 DE x",
        "v1 a 2 3 4 5 -",
    ] {
        assert_eq!(Behavior::from_text(bad), None, "{bad}");
    }
    assert!(Behavior::from_text("v1 1 2 60 4 5 -").is_some());
}

#[test]
fn no_history_without_behavior_keys() {
    let e = Engine::from_json(r#"{"defaultAction": "ALLOW"}"#).unwrap();
    let store = BehaviorSnapshot::default();
    let env = Env {
        behavior: Some(&store),
        ..Env::at(1)
    };
    assert_eq!(e.decide(&request(None), &env).behavior, None);
}

#[test]
fn slots_are_bounded_and_tagged() {
    let (k1, t1) = behavior_slot("https://idp/alice");
    let (k2, t2) = behavior_slot("https://idp/bob");
    assert!(k1.starts_with("vigil.bhv."));
    let n: u32 = k1.trim_start_matches("vigil.bhv.").parse().unwrap();
    assert!(n < BEHAVIOR_SLOTS);
    assert_ne!(t1, t2);
    let b = Behavior::observe(None, Some("DE"), 1_700_000_000);
    assert_eq!(
        Behavior::from_slot(b.to_slot(&t1).as_bytes(), &t1),
        Some(b.clone())
    );
    assert_eq!(Behavior::from_slot(b.to_slot(&t1).as_bytes(), &t2), None);
    let _ = k2;
}
