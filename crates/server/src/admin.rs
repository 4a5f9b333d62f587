//! Checked changes to the registry: check a policy, model or feature spec against the
//! service's feature spec, then register (or activate) it, audited under the actor's name.
//!
//! ```text
//!  API route (POST /v1/policies, /v1/models, /v1/policies/{id}/activate) ─┐
//!  CLI (riskstream policy push|activate, model push) ─────────────────────┴─▶ admin::…
//!        text ──check against the spec (every problem at once)──▶ Registry::put_artifact
//! ```
//!
//! Why one place: the API and the command line did the same "check, then register" each
//! in their own words, and a check added to one was missing from the other. Both now call
//! these functions and only render the error their own way ([`AdminError`]).

use crate::state::short;
use riskstream_core::{Classify, Diagnostics, ErrorClass};
use riskstream_decide::{DecideError, ModelArtifact, Policy};
use riskstream_features::FeatureSpec;
use riskstream_registry::{ArtifactKind, Registry, RegistryError};

/// Why a change was refused.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The policy does not validate against the feature spec: every problem, with lines.
    #[error("{0}")]
    Policy(#[source] Diagnostics),
    /// The text is neither a model file nor an online model card.
    #[error("{0}")]
    NotAModel(#[source] DecideError),
    /// A model that cannot serve this feature spec (trained on another, or reads inputs
    /// the decision row lacks).
    #[error("{0}")]
    Unusable(#[source] DecideError),
    /// The artifact named is not of the kind the change needs.
    #[error("{0}")]
    WrongKind(String),
    /// The registry refused or could not be reached.
    #[error("{0}")]
    Registry(#[from] RegistryError),
}

impl Classify for AdminError {
    fn class(&self) -> ErrorClass {
        match self {
            AdminError::Policy(_)
            | AdminError::NotAModel(_)
            | AdminError::Unusable(_)
            | AdminError::WrongKind(_) => ErrorClass::User,
            AdminError::Registry(e) => e.class(),
        }
    }
}

/// A registered policy: its id, and the policy as checked.
#[derive(Debug)]
pub struct RegisteredPolicy {
    /// The artifact id (sha256 of the text).
    pub id: String,
    /// The checked policy.
    pub policy: Policy,
}

/// A registered model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredModel {
    /// The artifact id (sha256 of the text).
    pub id: String,
    /// The name it was registered under: the algorithm, or `online-<recipe>`.
    pub name: String,
    /// Whether it is an online model card.
    pub online: bool,
}

/// Checks a policy (TOML) against `spec` and registers it. `origin` names the text in the
/// report (a path, "request body"); `file`, when given, is recorded in the lineage next to
/// the rule count. Nothing is stored when the policy has a problem.
pub async fn register_policy(
    registry: &Registry,
    spec: &FeatureSpec,
    text: &str,
    origin: &str,
    file: Option<&str>,
    actor: &str,
) -> Result<RegisteredPolicy, AdminError> {
    let policy = Policy::from_toml_str(text, origin, spec).map_err(AdminError::Policy)?;
    let mut lineage = serde_json::json!({ "rules": policy.rule_count() });
    if let Some(f) = file {
        lineage["file"] = serde_json::json!(f);
    }
    let id = registry
        .put_artifact(ArtifactKind::Policy, policy.name(), text, lineage, actor)
        .await?;
    Ok(RegisteredPolicy { id, policy })
}

/// Checks that the registered policy `id` (or a unique prefix) is a policy that validates
/// against `spec`, and makes it the active policy of `deployment`; returns its full id.
/// `origin` names the policy in the report.
pub async fn activate_policy(
    registry: &Registry,
    spec: &FeatureSpec,
    deployment: &str,
    id: &str,
    origin: &str,
    actor: &str,
) -> Result<String, AdminError> {
    let a = registry.artifact(id).await?;
    if a.meta.kind != ArtifactKind::Policy {
        return Err(AdminError::WrongKind(format!(
            "{} is a {:?}, not a policy",
            short(&a.meta.id),
            a.meta.kind
        )));
    }
    Policy::from_toml_str(&a.body, origin, spec).map_err(AdminError::Policy)?;
    registry
        .activate_policy(deployment, &a.meta.id, actor)
        .await?;
    Ok(a.meta.id)
}

/// Checks a model file or online card against `spec` (trained on it, inputs in the
/// decision row, a recipe that builds) and registers it with its lineage. `origin` names
/// the text in messages.
pub async fn register_model(
    registry: &Registry,
    spec: &FeatureSpec,
    text: &str,
    origin: &str,
    actor: &str,
) -> Result<RegisteredModel, AdminError> {
    let a = ModelArtifact::parse(text, origin).map_err(AdminError::NotAModel)?;
    a.check(spec).map_err(AdminError::Unusable)?;
    let name = a.name();
    let id = registry
        .put_artifact(ArtifactKind::Model, &name, text, a.lineage(), actor)
        .await?;
    Ok(RegisteredModel {
        id,
        name,
        online: a.is_online(),
    })
}

/// Registers the feature spec `spec` (read from `text` at `path`) and makes it the spec of
/// `deployment` unless it already is; returns its artifact id. A spec is checked by
/// loading it ([`FeatureSpec::from_file`]), before this.
pub async fn register_feature_spec(
    registry: &Registry,
    spec: &FeatureSpec,
    text: &str,
    path: &str,
    deployment: &str,
    actor: &str,
) -> Result<String, RegistryError> {
    let id = registry
        .put_artifact(
            ArtifactKind::FeatureSpec,
            &spec.name,
            text,
            serde_json::json!({ "spec_hash": format!("{:016x}", spec.hash), "path": path }),
            actor,
        )
        .await?;
    let current = match registry.deployment(deployment).await {
        Ok(d) => d.feature_spec,
        Err(RegistryError::NotFound { .. }) => None,
        Err(e) => return Err(e),
    };
    if current.as_deref() != Some(id.as_str()) {
        registry.set_feature_spec(deployment, &id, actor).await?;
    }
    Ok(id)
}
