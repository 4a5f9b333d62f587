//! One way to assemble a [`Deployment`], whoever holds the pieces: a pipeline reading
//! files, the service reading its registry, a test.
//!
//! ```text
//!  DeploymentBuilder::new(&spec)
//!    .online(&mut live)               online models continue from these instances
//!    .policy(id, text, origin)        parsed and checked against the spec
//!    .champion(id, text, origin)      each model: parsed, trained on this spec?, inputs
//!    .challenger(id, text, origin, %)   found in the decision row?, online recipe builds?
//!    .shadow(id, text, origin)
//!    │
//!    ├─ build()              every problem at once ──▶ Err(DecideError::Invalid(reports))
//!    │                       (also challenger shares, names, scores.X without a model)
//!    └─ build_or_fallback()  what does not load is left out; decisions use the rules
//!                            alone and say why (`fallback`): a service keeps deciding
//! ```
//!
//! Why here and not in each caller: the checks a deployment needs (a model trained on
//! another spec, inputs the row lacks, a rule reading a score no model gives) were written
//! once per caller and drifted apart. The builder only reads text; fetching it (files, the
//! registry) stays with the caller.

use super::{Deployment, ModelSlot};
use crate::artifact::{LiveOnline, ModelArtifact};
use crate::error::DecideError;
use crate::policy::Policy;
use riskstream_core::{Diagnostic, Diagnostics};
use riskstream_features::FeatureSpec;
use std::collections::HashMap;
use std::sync::Arc;

/// The role of a model in a deployment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SlotRole {
    /// Decides unless a challenger takes the transaction (slot name `champion`).
    Champion,
    /// Decides its share of traffic, in percent (slot names `challenger1`, `challenger2`, …
    /// in the order given).
    Challenger {
        /// Share of traffic, percent.
        pct: f64,
    },
    /// Scored and reported, never decides (slot names `shadow1`, `shadow2`, …).
    Shadow,
}

/// Something that kept a piece out of the deployment.
#[derive(Debug)]
enum Problem {
    /// The policy does not validate against the spec.
    Policy { id: String, report: Diagnostics },
    /// A model could not be had, or does not fit the spec.
    Model {
        id: String,
        origin: String,
        why: String,
    },
}

/// Assembles a [`Deployment`] from a policy and models given as text. See the module
/// docs.
#[derive(Debug)]
pub struct DeploymentBuilder<'a> {
    spec: &'a FeatureSpec,
    live: Option<&'a mut HashMap<String, LiveOnline>>,
    policy: Option<(Policy, String)>,
    champion: Option<ModelSlot>,
    /// Whether a champion was given (loaded or not).
    champion_given: bool,
    challengers: Vec<ModelSlot>,
    challengers_given: usize,
    shadows: Vec<ModelSlot>,
    shadows_given: usize,
    problems: Vec<Problem>,
}

impl<'a> DeploymentBuilder<'a> {
    /// An empty deployment for `spec`: no policy (every transaction approved) and no model.
    pub fn new(spec: &'a FeatureSpec) -> Self {
        Self {
            spec,
            live: None,
            policy: None,
            champion: None,
            champion_given: false,
            challengers: Vec::new(),
            challengers_given: 0,
            shadows: Vec::new(),
            shadows_given: 0,
            problems: Vec::new(),
        }
    }

    /// Online models by registry id, with what they have learned: a model given later with
    /// one of these ids continues from its instance; a new online model starts fresh and is
    /// added here, so the next deployment built with the same map finds it.
    pub fn online(mut self, live: &'a mut HashMap<String, LiveOnline>) -> Self {
        self.live = Some(live);
        self
    }

    /// The policy (TOML), checked against the spec; `id` is what decisions report as their
    /// `policy_id`, `origin` names the text in the report.
    pub fn policy(mut self, id: &str, text: &str, origin: &str) -> Self {
        match Policy::from_toml_str(text, origin, self.spec) {
            Ok(p) => self.policy = Some((p, id.to_string())),
            Err(report) => self.problems.push(Problem::Policy {
                id: id.to_string(),
                report,
            }),
        }
        self
    }

    /// The champion: a model file or an online card (see [`ModelArtifact::parse`]).
    pub fn champion(self, id: &str, text: &str, origin: &str) -> Self {
        self.model(SlotRole::Champion, id, text, origin)
    }

    /// A challenger taking `pct` percent of the traffic (by entity hash, in order).
    pub fn challenger(self, id: &str, text: &str, origin: &str, pct: f64) -> Self {
        self.model(SlotRole::Challenger { pct }, id, text, origin)
    }

    /// A shadow model.
    pub fn shadow(self, id: &str, text: &str, origin: &str) -> Self {
        self.model(SlotRole::Shadow, id, text, origin)
    }

    /// A model in `role`: parsed, checked against the spec (trained on it, its inputs in
    /// the decision row, an online recipe that builds) and put in its slot.
    pub fn model(mut self, role: SlotRole, id: &str, text: &str, origin: &str) -> Self {
        let name = self.slot_name(role);
        let pct = match role {
            SlotRole::Champion => 100.0,
            SlotRole::Challenger { pct } => pct,
            SlotRole::Shadow => 0.0,
        };
        let built = ModelArtifact::parse(text, origin).and_then(|a| {
            let live = self.live.as_mut().and_then(|l| l.get(id).cloned());
            let (slot, m) = a.slot(id, &name, pct, self.spec, live)?;
            if let (Some(m), Some(l)) = (m, self.live.as_mut()) {
                l.insert(id.to_string(), m);
            }
            Ok(slot)
        });
        match built {
            Ok(slot) => match role {
                SlotRole::Champion => self.champion = Some(slot),
                SlotRole::Challenger { .. } => self.challengers.push(slot),
                SlotRole::Shadow => self.shadows.push(slot),
            },
            Err(e) => self.problems.push(Problem::Model {
                id: id.to_string(),
                origin: origin.to_string(),
                why: e.to_string(),
            }),
        }
        self
    }

    /// A model in `role` whose text could not be had (say, the registry did not answer):
    /// it is a problem like a model that does not load, and keeps its slot name.
    pub fn unavailable(mut self, role: SlotRole, id: &str, why: &str) -> Self {
        let _ = self.slot_name(role);
        self.problems.push(Problem::Model {
            id: id.to_string(),
            origin: format!("model {}", short(id)),
            why: why.to_string(),
        });
        self
    }

    /// The slot name of the next model in `role`; counts models given, loaded or not, so
    /// a model keeps its name when an earlier one fails.
    fn slot_name(&mut self, role: SlotRole) -> String {
        match role {
            SlotRole::Champion => {
                self.champion_given = true;
                "champion".to_string()
            }
            SlotRole::Challenger { .. } => {
                self.challengers_given += 1;
                format!("challenger{}", self.challengers_given)
            }
            SlotRole::Shadow => {
                self.shadows_given += 1;
                format!("shadow{}", self.shadows_given)
            }
        }
    }

    /// The deployment, or every problem at once: the policy's report, one report per
    /// model that does not load, and one for the deployment as a whole (challenger shares,
    /// slot names, `scores.X` in rules with no model called X). Without a champion the
    /// deployment decides on rules alone.
    pub fn build(self) -> Result<Deployment, DecideError> {
        let mut reports = Vec::new();
        for p in &self.problems {
            reports.push(match p {
                Problem::Policy { report, .. } => report.clone(),
                Problem::Model { origin, why, .. } => {
                    let mut d = Diagnostics::new(origin.clone());
                    d.push(Diagnostic::new("", why.clone()));
                    d
                }
            });
        }
        let d = self.assemble(None);
        let mut whole = Diagnostics::new("deployment");
        for item in d.checks() {
            whole.push(item);
        }
        if !whole.is_empty() {
            reports.push(whole);
        }
        if reports.is_empty() {
            Ok(d)
        } else {
            Err(DecideError::Invalid(reports))
        }
    }

    /// The deployment with whatever loaded, for a service that must keep deciding: a
    /// policy that does not validate is replaced by an empty one, a model that does not
    /// load is left out, and a missing champion leaves the rules alone; then every
    /// decision reports why in its `fallback`. Also returns what
    /// [`Deployment::check`] finds (challenger shares, slot names, `scores.X` with no
    /// model), which decisions run with but an operator should hear of.
    pub fn build_or_fallback(self) -> (Deployment, Vec<String>) {
        let mut reasons = Vec::new();
        for p in &self.problems {
            reasons.push(match p {
                // Validated before activation; this only happens if the spec changed.
                Problem::Policy { id, report } => {
                    format!("active policy {} does not validate: {report}", short(id))
                }
                Problem::Model { id, why, .. } => {
                    format!("model {} failed to load: {why}", short(id))
                }
            });
        }
        if !self.champion_given {
            reasons.push("no champion model: deciding on rules alone".into());
        }
        let d = self.assemble((!reasons.is_empty()).then(|| reasons.join("; ")));
        let warnings = d.check();
        (d, warnings)
    }

    fn assemble(self, fallback_reason: Option<String>) -> Deployment {
        let (policy, policy_id) = self
            .policy
            .unwrap_or_else(|| (Policy::empty(), String::from("none")));
        Deployment {
            policy: Arc::new(policy),
            policy_id,
            spec_id: format!("{:016x}", self.spec.hash),
            champion: self.champion,
            challengers: self.challengers,
            shadows: self.shadows,
            fallback_reason,
        }
    }
}

/// The first 12 characters of an id, for messages.
fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}
