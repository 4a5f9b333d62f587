//! The decision itself, in the order it happens:
//!
//! ```text
//!  feature row (input.rs) ─▶ route ─▶ score ─▶ rules ─▶ outcome & reasons ─▶ record
//!                            champion  deciding  CEL in     thresholds,       counters,
//!                            or which  model,    priority   shadow outcomes,  kept row,
//!                            challenger champion, order      model reason      remembered
//!                                      shadows               codes             decision
//! ```
//!
//! This is the hot path (its p99 is measured): each step borrows what it needs, the one
//! input buffer `x` is reused across models, and the feature row is built once and moved
//! into the kept rows at the end.

use super::{Counters, Decider};
use crate::decision::{ChallengerInfo, Decision, Reason, ShadowResult};
use crate::deploy::{Deployment, ModelSlot, Scorer};
use crate::error::DecideError;
use crate::lists::Lists;
use crate::policy::{Explain, Outcome, Policy};
use crate::rules::{self, Input, TxValue};
use std::time::Instant;

/// Which model decides a transaction.
struct Route<'d> {
    /// The entity's hash bucket in [0, 100), when the routing field has a value.
    bucket: Option<f64>,
    /// The challenger whose share the bucket falls in, if any.
    challenger: Option<&'d ModelSlot>,
}

impl<'d> Route<'d> {
    /// Challengers take disjoint hash ranges in order: [0, p1), [p1, p1 + p2), …
    fn of(field: Option<usize>, txv: &[TxValue], d: &'d Deployment) -> Route<'d> {
        let bucket = field
            .and_then(|i| txv.get(i))
            .and_then(TxValue::text)
            .map(|t| (xxhash_rust::xxh3::xxh3_64(t.as_bytes()) % 10_000) as f64 / 100.0);
        let mut challenger: Option<&ModelSlot> = None;
        if let Some(b) = bucket {
            let mut lo = 0.0;
            for c in &d.challengers {
                if c.pct > 0.0 && b >= lo && b < lo + c.pct {
                    challenger = Some(c);
                    break;
                }
                lo += c.pct.max(0.0);
            }
        }
        Route { bucket, challenger }
    }

    /// `challenger` or `champion`, as decisions report it.
    fn name(&self) -> &'static str {
        if self.challenger.is_some() {
            "challenger"
        } else {
            "champion"
        }
    }
}

/// What the models said about one transaction.
struct Scored {
    /// Every score by slot name, and `model` for the deciding one (what rules see).
    scores: Vec<(String, f64)>,
    /// Why the decision is rules-only, if it is.
    fallback: Option<String>,
    /// The deciding model's score (none when it failed, or on a fallback).
    score: Option<f64>,
    /// The deciding model's id, with `score`.
    model_id: Option<String>,
    /// The champion's score when a challenger decided.
    champion_score: Option<f64>,
    /// Shadow models' results (outcomes are filled in once the rules ran).
    shadow: Vec<ShadowResult>,
}

/// Scores the deciding model, the champion beside a challenger, and the shadows. `x` is
/// the reused input buffer.
fn score_models(
    d: &Deployment,
    route: &Route<'_>,
    deciding: Option<&ModelSlot>,
    row: &[f64],
    columns: &[String],
    x: &mut Vec<f64>,
) -> Scored {
    let mut scores: Vec<(String, f64)> = Vec::new();
    let mut fallback = d.fallback_reason.clone();
    let mut score = None;
    let mut model_id = None;
    if let Some(slot) = deciding {
        match slot.score(row, columns, x) {
            Ok(p) => {
                scores.push((slot.name.clone(), p));
                if fallback.is_none() {
                    score = Some(p);
                    model_id = Some(slot.id.clone());
                    scores.push(("model".into(), p));
                }
            }
            Err(e) => {
                let why = format!("model {} ({}) failed: {e}", slot.id, slot.name);
                fallback = Some(match fallback {
                    Some(f) => format!("{f}; {why}"),
                    None => why,
                });
            }
        }
    }
    let champion_score = match (route.challenger, &d.champion) {
        (Some(_), Some(ch)) => {
            let s = ch.score(row, columns, x).ok();
            if let Some(s) = s {
                scores.push((ch.name.clone(), s));
            }
            s
        }
        _ => None,
    };
    let mut shadow: Vec<ShadowResult> = Vec::with_capacity(d.shadows.len());
    for s in &d.shadows {
        match s.score(row, columns, x) {
            Ok(p) => {
                scores.push((s.name.clone(), p));
                shadow.push(ShadowResult {
                    model: s.id.clone(),
                    name: s.name.clone(),
                    score: Some(p),
                    outcome: None,
                    error: None,
                });
            }
            Err(e) => shadow.push(ShadowResult {
                model: s.id.clone(),
                name: s.name.clone(),
                score: None,
                outcome: None,
                error: Some(e),
            }),
        }
    }
    // A rules-only decision still shows the champion's score when it could be had.
    if score.is_none() && d.fallback_reason.is_some() {
        if let Some((slot, p)) = deciding.and_then(|s| {
            scores
                .iter()
                .find(|(n, _)| *n == s.name)
                .map(|(_, p)| (s, *p))
        }) {
            shadow.push(ShadowResult {
                model: slot.id.clone(),
                name: slot.name.clone(),
                score: Some(p),
                outcome: None,
                error: None,
            });
        }
    }
    Scored {
        scores,
        fallback,
        score,
        model_id,
        champion_score,
        shadow,
    }
}

/// What the rules said.
struct Fired {
    /// Fired rules' outcomes in evaluation order, with whether each is final.
    fired: Vec<(Outcome, bool)>,
    /// A reason per fired rule (model reason codes are added later).
    reasons: Vec<Reason>,
    /// Names of the fired rules.
    rules_fired: Vec<String>,
    /// Rules that failed to evaluate (they do not fire).
    errors: Vec<String>,
}

/// Evaluates the policy's rules in priority order; a final approve that fires first
/// stops evaluation. Failing rules are counted in `counters` and reported.
fn run_rules(policy: &Policy, input: &Input<'_>, counters: &mut Counters) -> Fired {
    let mut fired: Vec<(Outcome, bool)> = Vec::new();
    let mut reasons = Vec::new();
    let mut rules_fired = Vec::new();
    let mut errors = Vec::new();
    let ctx = rules::context(input);
    for rule in policy.rules() {
        match rules::eval_in(&rule.program, &ctx) {
            Ok(true) => {
                let stop = fired.is_empty() && rule.is_final;
                fired.push((rule.outcome, rule.is_final));
                rules_fired.push(rule.name.clone());
                reasons.push(Reason::Rule {
                    name: rule.name.clone(),
                    text: rule.reason.clone(),
                });
                if stop {
                    break;
                }
            }
            Ok(false) => {}
            Err(e) => {
                counters.rule_errors += 1;
                errors.push(format!("{}: {e}", rule.name));
            }
        }
    }
    Fired {
        fired,
        reasons,
        rules_fired,
        errors,
    }
}

/// Adds the deciding model's top reason codes when the policy asks for them on this
/// outcome (TreeSHAP or coefficient × value; batch models only). `x` is the reused input
/// buffer.
fn model_reasons(
    policy: &Policy,
    outcome: Outcome,
    scored: &Scored,
    deciding: Option<&ModelSlot>,
    row: &[f64],
    x: &mut Vec<f64>,
    fired: &mut Fired,
) {
    let explain = match policy.score.explain {
        Explain::Always => true,
        Explain::Flagged => outcome != Outcome::Approve,
        Explain::Never => false,
    };
    if let (true, Some(_), Some(slot)) =
        (explain && policy.score.reasons > 0, scored.score, deciding)
    {
        if let Scorer::Batch(m) = &slot.model {
            x.clear();
            x.extend(slot.columns.iter().map(|&c| row[c]));
            match m.explain(x) {
                Ok(e) => {
                    let names = m.predictor().feature_names();
                    for r in e.top_k(policy.score.reasons, names, x) {
                        fired.reasons.push(Reason::Model {
                            feature: r.feature,
                            value: r.value,
                            contribution: r.contribution,
                        });
                    }
                }
                Err(e) => fired
                    .errors
                    .push(format!("reason codes of {}: {e}", slot.id)),
            }
        }
    }
}

impl Counters {
    /// Counts one decision.
    fn record(&mut self, outcome: Outcome, challenger: bool, fallback: bool) {
        self.decisions += 1;
        match outcome {
            Outcome::Approve => self.approve += 1,
            Outcome::Review => self.review += 1,
            Outcome::Decline => self.decline += 1,
        }
        if challenger {
            self.challenger_decisions += 1;
        }
        if fallback {
            self.fallbacks += 1;
        }
    }
}

impl Decider {
    /// [`Decider::decide`] with some features computed elsewhere: `remote` holds (feature
    /// index in spec order, value) pairs that replace what this decider computed (see
    /// [`Decider::set_remote_entities`]); ratios and expressions are then recomputed.
    pub fn decide_with(
        &mut self,
        tx: &serde_json::Map<String, serde_json::Value>,
        remote: &[(usize, f64)],
        d: &Deployment,
        lists: &Lists,
    ) -> Result<Decision, DecideError> {
        let t0 = Instant::now();
        let policy: &Policy = &d.policy;
        if policy.spec_hash().is_some_and(|h| h != self.spec_hash) {
            return Err(DecideError::Deployment(format!(
                "policy `{}` was validated against another feature spec (hash {:016x}; this decider runs {:016x}); validate it against the spec in use",
                policy.name(),
                policy.spec_hash().unwrap_or_default(),
                self.spec_hash
            )));
        }
        let (txv, time, tx_id, late_by_us) = self.compute(tx)?;
        self.max_time = self.max_time.max(time);
        let row = self.feature_row(&txv, remote);
        self.refresh_online(d);

        let route_field = match policy.routing_entity() {
            Some(name) => self.spec().schema.index_of(name),
            None => self.default_route,
        };
        let route = Route::of(route_field, &txv, d);
        let deciding = route.challenger.or(d.champion.as_ref());

        let mut x = std::mem::take(&mut self.x_buf);
        let mut scored = score_models(d, &route, deciding, &row, &self.columns, &mut x);

        let input = Input {
            vocab: &policy.vocab,
            tx: &txv,
            features: &row[self.pass_fields.len()..],
            scores: &scored.scores,
            lists,
            now: time,
        };
        let mut fired = run_rules(policy, &input, &mut self.counters);
        let outcome = Policy::combine(&fired.fired, scored.score.map(|s| policy.score.outcome(s)));
        for sh in &mut scored.shadow {
            sh.outcome = sh
                .score
                .map(|s| Policy::combine(&fired.fired, Some(policy.score.outcome(s))));
        }
        model_reasons(policy, outcome, &scored, deciding, &row, &mut x, &mut fired);
        self.x_buf = x;

        self.counters.record(
            outcome,
            route.challenger.is_some(),
            scored.fallback.is_some(),
        );
        let features = if self.include_features {
            self.columns
                .iter()
                .cloned()
                .zip(row.iter().copied())
                .collect()
        } else {
            Vec::new()
        };
        self.rows.put(&tx_id, row);
        let d = Decision {
            tx_id,
            outcome,
            score: scored.score,
            reasons: fired.reasons,
            rules_fired: fired.rules_fired,
            errors: fired.errors,
            model: scored.model_id,
            route: route.name(),
            policy_id: d.policy_id.clone(),
            spec_id: d.spec_id.clone(),
            shadow: scored.shadow,
            challenger: route.challenger.map(|c| ChallengerInfo {
                model: c.id.clone(),
                name: c.name.clone(),
                bucket: route.bucket.unwrap_or_default(),
                champion_score: scored.champion_score,
            }),
            fallback: scored.fallback,
            late_by_us,
            features,
            latency_us: t0.elapsed().as_micros() as u64,
        };
        if self.id_field.is_some() && self.recall.decisions.capacity() > 0 {
            self.remember(tx, time, &d)?;
        }
        Ok(d)
    }

    /// This transaction's feature row: its pass-through fields as numbers, then its
    /// features (the last row the engine released: every call releases everything), with
    /// the features computed elsewhere put in and the derived ones recomputed.
    fn feature_row(&mut self, txv: &[TxValue], remote: &[(usize, f64)]) -> Vec<f64> {
        let nf = self.spec().features.len();
        let mut row = self.pass_row(txv);
        row.extend_from_slice(&self.feat_buf[self.feat_buf.len() - nf..]);
        if !remote.is_empty() {
            let (pass, feats) = row.split_at_mut(self.pass_fields.len());
            for &(i, v) in remote {
                if let Some(f) = feats.get_mut(i) {
                    *f = v;
                }
            }
            self.engine.derive_into(pass, feats);
        }
        row
    }
}
