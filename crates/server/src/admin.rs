//! Checked changes to the registry: check a policy, model or feature spec against the
//! service's feature spec, then register (or activate) it, audited under the actor's name.
//!
//! ```text
//!  API route (POST /v1/policies, /v1/models, /v1/policies/{id}/activate,
//!             POST /v1/credit/models, stage routes) ─────────────────────┐
//!  CLI (riskstream policy push|activate, model push, credit push|stage) ──┴─▶ admin::…
//!        text ──check against the spec (every problem at once)──▶ Registry::put_artifact
//!        credit model ──load it, bind the configured reason codes──▶ Registry::put_artifact
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
    /// The text is not a credit model (scorecard or credit GBDT JSON).
    #[error(
        "not a credit model (a scorecard or credit-gbdt JSON from `riskstream credit train`): {0}"
    )]
    NotACreditModel(#[source] riskstream_credit::CreditError),
    /// A credit model whose characteristics the configured reason codes do not cover.
    #[error("the reason codes ({path}) do not fit this credit model: {source}")]
    Reasons {
        /// The reasons file.
        path: String,
        /// What is missing.
        #[source]
        source: riskstream_credit::CreditError,
    },
    /// The text is not a forecast set (JSON from `riskstream forecast --publish`).
    #[error("not a usable forecast set: {0}")]
    NotAForecastSet(#[source] riskstream_forecast::ForecastError),
    /// The text is not a usable recommendation model (JSON from `riskstream recommend
    /// train`): why, naming the text.
    #[error("{0}")]
    NotARecommendModel(String),
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
            | AdminError::WrongKind(_)
            | AdminError::NotACreditModel(_)
            | AdminError::NotAForecastSet(_)
            | AdminError::NotARecommendModel(_)
            | AdminError::Reasons { .. } => ErrorClass::User,
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

/// A registered credit model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredCreditModel {
    /// The artifact id (sha256 of the text).
    pub id: String,
    /// The name it was registered under: `scorecard` or `credit-gbdt`.
    pub name: String,
    /// Its lineage: kind, characteristics, version.
    pub lineage: serde_json::Value,
}

/// Checks a credit model (it loads as a scorecard or credit GBDT, and `credit`'s reason
/// codes cover every characteristic) and registers it as a
/// [`ArtifactKind::CreditModel`] with its lineage. `origin` names the text in messages.
pub async fn register_credit_model(
    registry: &Registry,
    credit: &crate::config::CreditConfig,
    text: &str,
    origin: &str,
    actor: &str,
) -> Result<RegisteredCreditModel, AdminError> {
    let m = crate::credit::CreditModel::parse(text).map_err(AdminError::NotACreditModel)?;
    m.bind_reasons(&credit.reasons)
        .map_err(|source| AdminError::Reasons {
            path: credit.reasons_path.display().to_string(),
            source,
        })?;
    let name = m.kind().to_string();
    let mut lineage = m.lineage();
    lineage["origin"] = serde_json::json!(origin);
    let id = registry
        .put_artifact(
            ArtifactKind::CreditModel,
            &name,
            text,
            lineage.clone(),
            actor,
        )
        .await?;
    Ok(RegisteredCreditModel { id, name, lineage })
}

/// Puts the model `id` (or a unique prefix) of kind `kind` into `stage` in `deployment`;
/// returns its full id. A model of the other kind is refused with the command or route
/// that stages it, so a credit model never lands in the fraud deployment or the reverse.
pub async fn set_stage(
    registry: &Registry,
    deployment: &str,
    kind: ArtifactKind,
    id: &str,
    stage: riskstream_registry::Stage,
    actor: &str,
) -> Result<String, AdminError> {
    let a = registry.artifact(id).await?;
    if a.meta.kind != kind {
        return Err(wrong_kind(&a.meta.id, a.meta.kind, kind));
    }
    registry
        .set_stage(deployment, &a.meta.id, stage, actor)
        .await?;
    Ok(a.meta.id)
}

/// The refusal of an artifact of kind `found` where a `expected` is needed, naming how a
/// model of its own kind is staged.
pub fn wrong_kind(id: &str, found: ArtifactKind, expected: ArtifactKind) -> AdminError {
    let how = match found {
        ArtifactKind::CreditModel => {
            "; stage credit models with POST /v1/credit/models/{id}/stage or `riskstream credit stage`"
        }
        ArtifactKind::ForecastModel => {
            "; stage forecast sets with POST /v1/forecast-models/{id}/stage or `riskstream forecast stage`"
        }
        ArtifactKind::RecommendModel => {
            "; stage recommendation models with POST /v1/recommend/models/{id}/stage or `riskstream recommend stage`"
        }
        ArtifactKind::Model => {
            "; stage fraud models with POST /v1/models/{id}/stage or `riskstream model stage`"
        }
        _ => "",
    };
    AdminError::WrongKind(format!("{} is a {found}, not a {expected}{how}", short(id)))
}
