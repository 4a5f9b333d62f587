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
use riskstream_core::{Diagnostic, Findings};
use riskstream_decide::{DecideError, Deployment, DeploymentBuilder};
use riskstream_features::FeatureSpec;
use riskstream_io::quality::QualitySpec;
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
    /// With `[quality] checks`: the data-quality checks, against the spec's schema.
    pub quality: Option<Arc<QualitySpec>>,
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
        // The spec, policy and model go through decide's one builder, as the service's do.
        let policy = read_text(&self.origin, "decide.policy", &self.policy, &mut found);
        let model = match &self.model {
            Some(m) => read_text(&self.origin, "decide.model", m, &mut found).map(Some),
            None => Some(None),
        };
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
        let quality = match &self.quality {
            Some(path) => match QualitySpec::load(path, &spec.schema) {
                Ok(q) => Some(Some(Arc::new(q))),
                Err(d) => {
                    found.add(d);
                    None
                }
            },
            None => Some(None),
        };
        let (Some(policy), Some(model), Some(quality)) = (policy, model, quality) else {
            return Err(found);
        };
        let mut b = DeploymentBuilder::new(&spec).policy(
            &file_id(&policy),
            &policy,
            &self.policy.display().to_string(),
        );
        if let (Some(text), Some(path)) = (&model, &self.model) {
            b = b.champion(&file_id(text), text, &path.display().to_string());
        }
        let deployment = match b.build() {
            Ok(d) => Some(d),
            Err(DecideError::Invalid(reports)) => {
                reports.into_iter().for_each(|r| found.add(r));
                None
            }
            Err(e) => {
                found.push(&origin, Diagnostic::new("decide", e.to_string()));
                None
            }
        };
        let Some(deployment) = deployment else {
            return Err(found);
        };
        found.finish(Topology {
            config: self.clone(),
            spec,
            deployment: Arc::new(deployment),
            repartition,
            quality,
        })
    }
}

/// A file's id in decisions: `file:` + the xxh3 of its bytes.
fn file_id(text: &str) -> String {
    format!("file:{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
}

/// A file the pipeline names, as text; a file that cannot be read is a problem at `key`
/// of the pipeline file.
fn read_text(
    origin: &str,
    key: &str,
    path: &std::path::Path,
    found: &mut Findings,
) -> Option<String> {
    match std::fs::read_to_string(path) {
        Ok(t) => Some(t),
        Err(e) => {
            found.push(
                origin,
                Diagnostic::new(key, format!("{}: {e}", path.display())),
            );
            None
        }
    }
}
