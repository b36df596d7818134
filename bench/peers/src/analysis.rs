//! Policy analysis cost: `vigil diff` of two generated N-rule documents (N ALLOW policies,
//! user uK may GET /svc/K/*) where the new one narrows one policy's path and opens another
//! policy to every subject of the issuer. The diff must find exactly those two changes, or
//! nothing is reported.

use crate::gen;
use crate::harness;
type Res<T> = Result<T, String>;
use policy_core::analysis;
use policy_core::Engine;
use serde_json::{json, Value as Json};

const NOW: i64 = 1_700_000_000;

pub fn bench(sizes: &[usize]) -> Res<Json> {
    let mut points = Vec::new();
    for &n in sizes {
        let old = gen::rules_policy(n);
        let (a, b) = (n / 2, n * 9 / 10);
        let new = old
            .replace(
                &format!(r#""/svc/{a}/*""#),
                &format!(r#""/svc/{a}/admin/*""#),
            )
            .replace(&format!(r#"/u{b}"]"#), r#"/*"]"#);
        let (eo, en) = (
            Engine::from_json(&old).map_err(|e| format!("analysis {n}: {e}"))?,
            Engine::from_json(&new).map_err(|e| format!("analysis {n}: {e}"))?,
        );
        let d = analysis::diff(&eo, &en, NOW);
        let kinds: Vec<&str> = d.changes.iter().map(|c| c.kind()).collect();
        if !d.complete
            || kinds.len() != 2
            || !kinds.contains(&"newly_allowed")
            || !kinds.contains(&"newly_denied")
        {
            return Err(format!("analysis {n}: expected one newly allowed and one newly denied region, found {kinds:?}"));
        }
        let st = harness::time_reps(5, || analysis::diff(&eo, &en, NOW));
        eprintln!(
            "  diff of two {n}-rule documents: {:.0} ms ({} regions)",
            st.median / 1e6,
            d.cubes
        );
        points.push(
            json!({"n": n, "diff_ns": st.median.round(), "p10_ns": st.p10.round(),
                           "p90_ns": st.p90.round(), "regions": d.cubes, "changes": kinds.len()}),
        );
    }
    Ok(json!(points))
}
