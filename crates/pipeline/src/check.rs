//! The whole topology checked before anything connects: the pipeline file, and the feature
//! spec, policy and model it names, and the repartition against the spec.
//!
//! ```text
//!  pipeline.toml ──PipelineConfig::load──▶ PipelineConfig ──check()──▶ Topology
//!                                             │ spec file   ─ FeatureSpec (every error)
//!                                             │ policy file ─ Policy against the spec
//!                                             │ model file  ─ trained on this spec?
//!                                             │ [repartition] ─ entities of the spec?
//!                                             ▼
//!                              Findings: every problem, per file, with its key path
//! ```
//!
//! Why one check: `riskstream validate` and `riskstream run` must agree. Before, `validate`
//! read only the pipeline file, so a policy naming a feature the spec lacks passed it and
//! stopped `run` later. `run` now starts from the [`Topology`] this returns, so each file
//! is read and parsed once.

use crate::config::PipelineConfig;
use crate::run::check_repartition;
use riskstream_core::{Diagnostic, Diagnostics, Findings};
use riskstream_decide::{Deployment, ModelArtifact, Policy};
use riskstream_features::FeatureSpec;
use std::sync::Arc;

/// A pipeline whose files were all read and found consistent: what a run starts from.
#[derive(Debug, Clone)]
pub struct Topology {
    /// The pipeline file.
    pub config: PipelineConfig,
    /// The feature spec it names.
    pub spec: FeatureSpec,
    /// The policy and model it names, built against the spec.
    pub deployment: Arc<Deployment>,
    /// With `[repartition]`: the positions of the `from` and `by` entity fields.
    pub repartition: Option<(usize, usize)>,
}

impl PipelineConfig {
    /// Reads and checks every file the pipeline names, reporting every problem at once.
    pub fn check(&self) -> Result<Topology, Findings> {
        let mut found = Findings::new();
        let origin = self.origin.clone();
        let spec = match FeatureSpec::from_file(&self.feature_spec) {
            Ok(s) => Some(s),
            Err(d) => {
                found.add(d);
                None
            }
        };
        let Some(spec) = spec else {
            // Policy and model are checked against the spec: say why they were not.
            found.push(
                &origin,
                Diagnostic::new(
                    "features.spec",
                    "the feature spec has problems (above), so the policy and model were not checked against it",
                ),
            );
            return Err(found);
        };
        let policy = read_policy(self, &spec, &mut found);
        let model = read_model(self, &spec, &mut found);
        let repartition = match &self.repartition {
            Some(rep) => match check_repartition(rep, &spec) {
                Ok(fb) => Some(fb),
                Err(m) => {
                    found.push(&origin, Diagnostic::new("repartition", m));
                    None
                }
            },
            None => None,
        };
        let (Some((policy, policy_id)), Some(champion)) = (policy, model) else {
            return Err(found);
        };
        let mut d = Deployment::rules_only(Arc::new(policy), &policy_id, &spec);
        d.champion = champion;
        found.finish(Topology {
            config: self.clone(),
            spec,
            deployment: Arc::new(d),
            repartition,
        })
    }
}

/// A file's id in decisions: `file:` + the xxh3 of its bytes.
fn file_id(text: &str) -> String {
    format!("file:{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
}

fn read_policy(
    cfg: &PipelineConfig,
    spec: &FeatureSpec,
    found: &mut Findings,
) -> Option<(Policy, String)> {
    let shown = cfg.policy.display().to_string();
    let text = match std::fs::read_to_string(&cfg.policy) {
        Ok(t) => t,
        Err(e) => {
            found.push(
                &cfg.origin,
                Diagnostic::new("decide.policy", format!("{shown}: {e}")),
            );
            return None;
        }
    };
    match Policy::from_toml_str(&text, &shown, spec) {
        Ok(p) => Some((p, file_id(&text))),
        Err(d) => {
            found.add(d);
            None
        }
    }
}

/// The champion slot from `[decide] model`: `Some(None)` without one, `None` on a problem.
fn read_model(
    cfg: &PipelineConfig,
    spec: &FeatureSpec,
    found: &mut Findings,
) -> Option<Option<riskstream_decide::ModelSlot>> {
    let Some(m) = &cfg.model else {
        return Some(None);
    };
    let shown = m.display().to_string();
    let mut d = Diagnostics::new(&shown);
    let text = match std::fs::read_to_string(m) {
        Ok(t) => t,
        Err(e) => {
            found.push(
                &cfg.origin,
                Diagnostic::new("decide.model", format!("{shown}: {e}")),
            );
            return None;
        }
    };
    let slot = ModelArtifact::parse(&text, &shown)
        .and_then(|a| a.slot(&file_id(&text), "champion", 100.0, spec, None));
    match slot {
        Ok((slot, _)) => Some(Some(slot)),
        Err(e) => {
            d.push(Diagnostic::new("", e.to_string()));
            found.add(d);
            None
        }
    }
}
