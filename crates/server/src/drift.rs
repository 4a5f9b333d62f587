//! Drift and rule precision, computed from what the registry holds: has the population the
//! models score moved since a reference window, and how often is a rule right when it fires?
//!
//! ```text
//!  audit_log `decision` rows, oldest first in the reference window ─┐
//!  audit_log `decision` rows, the latest (recent) ──────────────────┤
//!     per model in force: its score (deciding or shadow) ─▶ psi() ──┤─▶ DriftReport
//!     per input the model reads: decision.features[name] ─▶ psi() ──┤   (GET /v1/monitoring/drift,
//!  labelled decisions (labels ⋈ decisions) ─▶ rule_precision() ─────┘    the console's models page,
//!                                                                         the PSI alert rule)
//! ```
//!
//! PSI is the population stability index over ten quantile bands of the reference sample:
//! Σ (recentᵢ − refᵢ) · ln(recentᵢ / refᵢ) over the bands' shares, each share floored at
//! 10⁻⁴ — `riskstream credit report`'s own functions ([`riskstream_credit::monitor`]), so a
//! score's PSI reads the same in both places (< 0.10 stable, 0.10–0.25 some shift, > 0.25
//! a major shift).
//!
//! Why the reference is decisions and not the training file: the service holds no copy of
//! a model's training data, only what it decided. By default the reference is the oldest
//! decisions the audit log holds (the traffic when the models went live); a window
//! (`reference_from`, `reference_to`) picks another, e.g. the days the model was trained
//! on when they went through the service. Feature values are in a decision only when the
//! service returns them (`[server] return_features = true`); without them the report says
//! so and gives the score's PSI alone.
//!
//! A rule's precision is the share of the labelled decisions it fired on that are labelled
//! fraud; its hit rate is the share of the recent decisions it fired on.

use riskstream_credit::monitor::{psi_counts, quantile_edges};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use utoipa::ToSchema;

/// Quantile bands of the reference sample.
pub const BANDS: usize = 10;

/// One band: its bounds and each sample's share in it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PsiBand {
    /// Lower bound (inclusive); null for the first band (−∞).
    pub lo: Option<f64>,
    /// Upper bound (exclusive); null for the last band (+∞).
    pub hi: Option<f64>,
    /// Share of the reference sample in the band.
    pub reference: f64,
    /// Share of the recent sample.
    pub recent: f64,
}

/// The population stability index of one quantity.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Psi {
    /// `score` or the feature's name.
    pub name: String,
    /// The index.
    pub psi: f64,
    /// `stable`, `some shift: look into it` or `major shift: review the model`.
    pub reading: String,
    /// Values in the reference sample.
    pub reference_n: usize,
    /// Values in the recent sample.
    pub recent_n: usize,
    /// The bands (quantiles of the reference; equal quantiles merge).
    pub bands: Vec<PsiBand>,
}

/// The PSI of `recent` against `reference` over [`BANDS`] quantile bands of `reference`;
/// `None` when either sample has no finite value.
pub fn psi(name: &str, reference: &[f64], recent: &[f64]) -> Option<Psi> {
    let finite =
        |xs: &[f64]| -> Vec<f64> { xs.iter().copied().filter(|x| x.is_finite()).collect() };
    let (r, n) = (finite(reference), finite(recent));
    if r.is_empty() || n.is_empty() {
        return None;
    }
    let edges = quantile_edges(&r, BANDS);
    let count = |xs: &[f64]| {
        let mut c = vec![0u64; edges.len() + 1];
        for &x in xs {
            c[edges.partition_point(|&e| e <= x)] += 1;
        }
        c
    };
    let (cr, cn) = (count(&r), count(&n));
    let value = psi_counts(&cr, &cn);
    let bands = (0..cr.len())
        .map(|k| PsiBand {
            lo: k.checked_sub(1).map(|i| edges[i]),
            hi: edges.get(k).copied(),
            reference: cr[k] as f64 / r.len() as f64,
            recent: cn[k] as f64 / n.len() as f64,
        })
        .collect();
    Some(Psi {
        name: name.to_string(),
        psi: value,
        reading: riskstream_credit::report::stability(value).to_string(),
        reference_n: r.len(),
        recent_n: n.len(),
        bands,
    })
}

/// How often a rule fires and how often it is right.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RulePrecision {
    /// The rule's name.
    pub rule: String,
    /// Labelled decisions it fired on.
    pub labelled_hits: usize,
    /// Of which labelled fraud.
    pub frauds: usize,
    /// frauds / labelled_hits; null when it fired on no labelled decision.
    pub precision: Option<f64>,
    /// Recent decisions it fired on.
    pub recent_hits: usize,
    /// recent_hits / recent decisions; null without recent decisions.
    pub hit_rate: Option<f64>,
}

/// The names in a stored decision's `rules_fired`.
pub fn rules_of(decision: &Value) -> Vec<&str> {
    decision["rules_fired"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Each rule's precision over `labelled` (decision, fraud) and hit rate over `recent`
/// decisions, by name. Every rule that fired in either sample is listed.
pub fn rule_precision(labelled: &[(&Value, bool)], recent: &[&Value]) -> Vec<RulePrecision> {
    let mut by: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    for (d, fraud) in labelled {
        for r in rules_of(d) {
            let e = by.entry(r).or_default();
            e.0 += 1;
            e.1 += usize::from(*fraud);
        }
    }
    for d in recent {
        for r in rules_of(d) {
            by.entry(r).or_default().2 += 1;
        }
    }
    by.into_iter()
        .map(|(rule, (hits, frauds, recent_hits))| RulePrecision {
            rule: rule.to_string(),
            labelled_hits: hits,
            frauds,
            precision: (hits > 0).then(|| frauds as f64 / hits as f64),
            recent_hits,
            hit_rate: (!recent.is_empty()).then(|| recent_hits as f64 / recent.len() as f64),
        })
        .collect()
}

/// `model_id`'s score in a stored decision, if it scored it (as the deciding model or as
/// a shadow).
pub fn score_of(decision: &Value, model_id: &str) -> Option<f64> {
    if decision["model"].as_str() == Some(model_id) {
        return decision["score"].as_f64();
    }
    decision["shadow"]
        .as_array()?
        .iter()
        .find(|s| s["model"].as_str() == Some(model_id))?["score"]
        .as_f64()
}

/// The feature values a stored decision carries (`features: [[name, value], …]`, present
/// when the service returns features).
pub fn features_of(decision: &Value) -> HashMap<&str, f64> {
    decision["features"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| Some((p[0].as_str()?, p[1].as_f64()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// One model's drift.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ModelDrift {
    /// Its registry id.
    pub model: String,
    /// Its slot's name.
    pub name: String,
    /// `champion`, `challenger` or `shadow`.
    pub role: String,
    /// PSI of its score; null when it scored no decision in a sample.
    pub score: Option<Psi>,
    /// PSI of each input it reads that the decisions carry, largest first.
    pub features: Vec<Psi>,
}

/// A model in force: id, slot name, role, and the names of the inputs it reads.
#[derive(Debug, Clone)]
pub struct ModelInputs {
    /// Registry id.
    pub id: String,
    /// Slot name.
    pub name: String,
    /// `champion`, `challenger` or `shadow`.
    pub role: String,
    /// Input names, in the model's order.
    pub inputs: Vec<String>,
}

/// The scores `id` gave the decisions.
fn scores_of(ds: &[&Value], id: &str) -> Vec<f64> {
    ds.iter().filter_map(|d| score_of(d, id)).collect()
}

/// The feature values of the decisions `id` scored.
fn rows_scored_by<'a>(ds: &[&'a Value], id: &str) -> Vec<HashMap<&'a str, f64>> {
    ds.iter()
        .filter(|d| score_of(d, id).is_some())
        .map(|&d| features_of(d))
        .collect()
}

fn column(rows: &[HashMap<&str, f64>], name: &str) -> Vec<f64> {
    rows.iter().filter_map(|r| r.get(name).copied()).collect()
}

/// PSI of `m`'s score and of each of its inputs between two samples of stored decisions.
pub fn model_drift(m: &ModelInputs, reference: &[&Value], recent: &[&Value]) -> ModelDrift {
    let (fr, fn_) = (
        rows_scored_by(reference, &m.id),
        rows_scored_by(recent, &m.id),
    );
    let mut features: Vec<Psi> = m
        .inputs
        .iter()
        .filter_map(|name| psi(name, &column(&fr, name), &column(&fn_, name)))
        .collect();
    features.sort_by(|a, b| b.psi.total_cmp(&a.psi).then_with(|| a.name.cmp(&b.name)));
    ModelDrift {
        model: m.id.clone(),
        name: m.name.clone(),
        role: m.role.clone(),
        score: psi(
            "score",
            &scores_of(reference, &m.id),
            &scores_of(recent, &m.id),
        ),
        features,
    }
}

/// Decisions per sample by default.
pub const SAMPLE: usize = 5_000;

/// The most labelled decisions a report reads (the newest).
pub const LABELLED: usize = 50_000;

/// Which decisions a report compares.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Window {
    /// Reference decisions written at or after this time (µs); `None`: the oldest stored.
    pub from: Option<i64>,
    /// And before this time.
    pub to: Option<i64>,
    /// Decisions per sample (1 to 100,000).
    pub n: usize,
}

/// A sample of decisions.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Sample {
    /// Decisions in it.
    pub decisions: usize,
    /// The first one's time (µs since the epoch).
    pub from: Option<i64>,
    /// The last one's.
    pub to: Option<i64>,
}

/// Drift of every model in force and the rules' precision.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DriftReport {
    /// The reference decisions (the oldest stored, or the requested window's first).
    pub reference: Sample,
    /// The latest decisions.
    pub recent: Sample,
    /// Whether the decisions carry feature values (`[server] return_features`): without
    /// them only scores are compared.
    pub features_stored: bool,
    /// Champion, challengers and shadows, in that order.
    pub models: Vec<ModelDrift>,
    /// Every rule that fired, by name.
    pub rules: Vec<RulePrecision>,
    /// Labelled decisions read (the newest, at most 50,000).
    pub labelled: usize,
    /// Of which fraud.
    pub labelled_frauds: usize,
}

/// The models in force with the inputs each reads.
pub fn models_in_force(st: &crate::state::AppState) -> Vec<ModelInputs> {
    let dep = st.deployment.load_full();
    let cols = riskstream_decide::row_columns(&st.spec);
    let mut out = Vec::new();
    let mut add = |m: &riskstream_decide::ModelSlot, role: &str| {
        out.push(ModelInputs {
            id: m.id.clone(),
            name: m.name.clone(),
            role: role.to_string(),
            inputs: m
                .columns
                .iter()
                .filter_map(|&c| cols.get(c).cloned())
                .collect(),
        });
    };
    if let Some(m) = &dep.champion {
        add(m, "champion");
    }
    for m in &dep.challengers {
        add(m, "challenger");
    }
    for m in &dep.shadows {
        add(m, "shadow");
    }
    out
}

/// What a report is measured from: the two samples of stored decisions and the labels.
/// The console's models page reads these once and uses them for its own tables too.
#[derive(Debug, Clone)]
pub struct Readings {
    /// The reference sample, as stored in the audit log.
    pub reference: Vec<riskstream_registry::AuditEntry>,
    /// The latest decisions, newest first.
    pub recent: Vec<riskstream_registry::AuditEntry>,
    /// The newest labelled decisions (at most [`LABELLED`]).
    pub labelled: Vec<riskstream_registry::LabelledDecision>,
}

/// Reads the samples and the labels from the registry (three queries at once).
pub async fn read(
    st: &crate::state::AppState,
    w: &Window,
) -> Result<Readings, riskstream_registry::RegistryError> {
    let reg = &st.registry;
    let recent_q = riskstream_registry::AuditQuery {
        actions: vec!["decision".into()],
        limit: w.n,
        ..Default::default()
    };
    let (reference, recent, labelled) = tokio::try_join!(
        reg.audit_window("decision", w.from, w.to, w.n),
        reg.audit_find(&recent_q),
        reg.labelled_decisions(LABELLED),
    )?;
    Ok(Readings {
        reference,
        recent,
        labelled,
    })
}

/// Measures the models in force and the rules on what [`read`] returned.
pub fn measure(st: &crate::state::AppState, r: &Readings) -> DriftReport {
    let sample = |rows: &[riskstream_registry::AuditEntry]| Sample {
        decisions: rows.len(),
        from: rows.iter().map(|r| r.time).min(),
        to: rows.iter().map(|r| r.time).max(),
    };
    let (rs, ns) = (sample(&r.reference), sample(&r.recent));
    fn values(rows: &[riskstream_registry::AuditEntry]) -> Vec<&Value> {
        rows.iter().filter_map(|r| r.after.as_ref()).collect()
    }
    let (reference, recent) = (values(&r.reference), values(&r.recent));
    let models = models_in_force(st)
        .iter()
        .map(|m| model_drift(m, &reference, &recent))
        .collect();
    let pairs: Vec<(&Value, bool)> = r.labelled.iter().map(|l| (&l.decision, l.fraud)).collect();
    DriftReport {
        reference: rs,
        recent: ns,
        features_stored: recent
            .iter()
            .chain(&reference)
            .any(|d| d["features"].is_array()),
        models,
        rules: rule_precision(&pairs, &recent),
        labelled: r.labelled.len(),
        labelled_frauds: r.labelled.iter().filter(|l| l.fraud).count(),
    }
}

/// Reads the samples and the labels from the registry and measures them.
pub async fn report(
    st: &crate::state::AppState,
    w: &Window,
) -> Result<DriftReport, riskstream_registry::RegistryError> {
    Ok(measure(st, &read(st, w).await?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn psi_matches_a_hand_computation() {
        // Reference 1..=10: deciles at 2, 3, …, 10, so ten bands of one value each.
        let reference: Vec<f64> = (1..=10).map(f64::from).collect();
        // Recent: 5 values in band 0 (x < 2), 5 in the last band (x ≥ 10).
        let recent = [0.0, 0.5, 1.0, 1.5, 1.9, 10.0, 11.0, 12.0, 13.0, 14.0];
        let p = psi("score", &reference, &recent).unwrap();
        assert_eq!(p.bands.len(), 10);
        assert_eq!((p.bands[0].lo, p.bands[0].hi), (None, Some(2.0)));
        assert_eq!((p.bands[9].lo, p.bands[9].hi), (Some(10.0), None));
        // By hand: two bands at ref 0.1 → recent 0.5: 2 · (0.5 − 0.1) · ln 5;
        // eight bands at ref 0.1 → recent 0 (floored to 1e-4): 8 · (1e-4 − 0.1) · ln(1e-3).
        let want = 2.0 * 0.4 * 5f64.ln() + 8.0 * (1e-4 - 0.1) * (1e-3f64).ln();
        assert!((p.psi - want).abs() < 1e-12, "{} against {want}", p.psi);
        assert_eq!(p.reading, "major shift: review the model");
        assert_eq!(p.bands[0].recent, 0.5);
        // The same sample: zero.
        let same = psi("score", &reference, &reference).unwrap();
        assert!(same.psi.abs() < 1e-12);
        assert_eq!(same.reading, "stable");
        assert!(psi("x", &[], &recent).is_none());
        assert!(psi("x", &reference, &[f64::NAN]).is_none());
    }

    #[test]
    fn rule_precision_matches_a_hand_count() {
        let a = json!({"rules_fired": ["big", "night"]});
        let b = json!({"rules_fired": ["big"]});
        let c = json!({"rules_fired": []});
        // big fired on 3 labelled decisions, 2 fraud: 2/3; night on 1, fraud: 1.
        let labelled = [(&a, true), (&b, true), (&b, false), (&c, true)];
        // Recent: big on 2 of 4, night on 1 of 4, new_rule on 1 of 4.
        let d = json!({"rules_fired": ["new_rule"]});
        let recent = [&a, &b, &c, &d];
        let r = rule_precision(&labelled, &recent);
        let names: Vec<&str> = r.iter().map(|x| x.rule.as_str()).collect();
        assert_eq!(names, ["big", "new_rule", "night"]);
        assert_eq!((r[0].labelled_hits, r[0].frauds), (3, 2));
        assert_eq!(r[0].precision, Some(2.0 / 3.0));
        assert_eq!(r[0].hit_rate, Some(0.5));
        assert_eq!(r[1].precision, None, "never fired on a labelled decision");
        assert_eq!(r[1].hit_rate, Some(0.25));
        assert_eq!(r[2].precision, Some(1.0));
        assert_eq!(r[2].recent_hits, 1);
    }

    #[test]
    fn a_model_is_measured_on_the_decisions_it_scored() {
        let m = ModelInputs {
            id: "m1".into(),
            name: "champion".into(),
            role: "champion".into(),
            inputs: vec!["amount".into(), "absent".into()],
        };
        let dec = |model: &str, score: f64, amount: f64| {
            json!({"model": model, "score": score, "features": [["amount", amount], ["other", 1.0]],
                   "shadow": [{"model": "s1", "score": 1.0 - score}]})
        };
        let reference: Vec<Value> = (0..20)
            .map(|i| dec("m1", i as f64 / 20.0, i as f64))
            .collect();
        // Recent: the amounts doubled, the scores unchanged; a decision by another model.
        let mut recent: Vec<Value> = (0..20)
            .map(|i| dec("m1", i as f64 / 20.0, 2.0 * i as f64))
            .collect();
        recent.push(dec("m2", 0.99, 1e6));
        let r: Vec<&Value> = reference.iter().collect();
        let n: Vec<&Value> = recent.iter().collect();
        let d = model_drift(&m, &r, &n);
        let s = d.score.unwrap();
        assert_eq!(
            (s.reference_n, s.recent_n),
            (20, 20),
            "m2's decision is not m1's"
        );
        assert!(s.psi.abs() < 1e-12);
        assert_eq!(d.features.len(), 1, "no values for `absent`");
        assert_eq!(d.features[0].name, "amount");
        assert!(d.features[0].psi > 0.25, "{:?}", d.features[0]);
        // A shadow's score is found in `shadow`.
        assert_eq!(score_of(&reference[3], "s1"), Some(1.0 - 3.0 / 20.0));
    }
}
