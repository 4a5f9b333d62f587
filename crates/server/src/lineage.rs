//! A decision's lineage: from the event as received to the versions that decided it, how
//! each version was made and who put it in place.
//!
//! Compliance asks "why was this declined, and with which data was that model trained".
//! Every answer is already stored; it is spread over three places, which this module
//! follows in order, recomputing nothing:
//!
//! 1. the decision's audit record (`action = decision`, subject = the transaction id): the
//!    event after data protection and the feature row it was decided on (when the service
//!    records inputs, `[audit] inputs`), and the answer, which names the policy, the feature
//!    spec and the models by id and lists the rules that fired;
//! 2. the artifacts those ids name: a model's card (its training data fingerprint, date
//!    window, rows, hyper-parameters and metrics), a policy's rule count and file, a spec's
//!    hash and path;
//! 3. the audit records that registered (`artifact.put`), staged (`stage.*`) and activated
//!    (`policy.*`, `feature_spec.*`) each of them, with who and when; then the labels given
//!    to the transaction afterwards.
//!
//! Changes are listed in chain order with those after the decision marked, so a reader can
//! tell what was in force when it was made. `riskstream lineage <tx>`,
//! `GET /v1/lineage/{tx_id}` and the console's lineage page all read [`lineage`].

use riskstream_core::time::format_micros;
use riskstream_registry::{
    ArtifactKind, ArtifactMeta, AuditEntry, AuditQuery, Registry, RegistryError,
};
use serde::Serialize;
use serde_json::Value;
use std::fmt::Write as _;
use utoipa::ToSchema;

/// Audit actions that change which versions are in force.
const CHANGE_ACTIONS: [&str; 6] = [
    "stage.set",
    "stage.rollback",
    "policy.set",
    "policy.rollback",
    "feature_spec.set",
    "feature_spec.rollback",
];

/// At most this many changes per version (newest kept); a long-lived champion's history
/// beyond it is in `GET /v1/audit`.
const MAX_CHANGES: usize = 200;

/// Everything stored about how one transaction was decided.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Lineage {
    /// The transaction id.
    pub tx_id: String,
    /// The decision's audit record.
    pub decision: DecisionFacts,
    /// The transaction as received, after data protection (null when the service did not
    /// record inputs).
    #[schema(value_type = Option<Object>)]
    pub event: Value,
    /// The feature values it was decided on, by name (null when not recorded).
    #[schema(value_type = Option<Object>)]
    pub features: Value,
    /// The feature spec that computed them.
    pub feature_spec: Version,
    /// The policy whose rules ran.
    pub policy: Version,
    /// The models that scored it: the one that decided first, then shadows.
    pub models: Vec<ModelVersion>,
    /// Labels given to the transaction afterwards, oldest first.
    pub labels: Vec<Change>,
}

/// The decision itself.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DecisionFacts {
    /// Position of its record in the audit chain.
    pub audit_seq: i64,
    /// When it was recorded, UTC.
    pub time: String,
    /// The API key (or pipeline) that asked.
    pub actor: String,
    /// approve, review or decline.
    #[schema(value_type = Option<String>)]
    pub outcome: Value,
    /// The deciding model's score.
    #[schema(value_type = Option<f64>)]
    pub score: Value,
    /// champion or challenger.
    #[schema(value_type = Option<String>)]
    pub route: Value,
    /// Rules that fired, in evaluation order.
    #[schema(value_type = Option<Vec<String>>)]
    pub rules_fired: Value,
    /// The reasons as answered.
    #[schema(value_type = Option<Vec<Object>>)]
    pub reasons: Value,
    /// Why no model decided, when none did.
    #[schema(value_type = Option<String>)]
    pub fallback: Value,
}

/// A version the decision names, and what the registry knows of it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Version {
    /// The id the decision names.
    pub id: String,
    /// The registered artifact, when the registry holds one for this id.
    pub artifact: Option<ArtifactFacts>,
    /// Why there is no artifact (a file-based deployment, a built-in default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A model that scored the transaction.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ModelVersion {
    /// `champion` or `challenger` (it decided) or `shadow` (it only scored).
    pub role: String,
    /// Its score for this transaction.
    #[schema(value_type = Option<f64>)]
    pub score: Value,
    /// The model and its registry record.
    pub version: Version,
}

/// A registered artifact.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ArtifactFacts {
    /// sha256 of its text.
    pub id: String,
    /// model, policy, feature_spec, …
    pub kind: String,
    /// Its name.
    pub name: String,
    /// When it was registered, UTC.
    pub registered_at: String,
    /// Who registered it.
    pub registered_by: String,
    /// What it records of its making: a model's card (training data fingerprint, window,
    /// rows, hyper-parameters, metrics), a policy's rule count and file, a spec's hash.
    #[schema(value_type = Object)]
    pub lineage: Value,
    /// Its registration, stage changes and activations, oldest first.
    pub changes: Vec<Change>,
}

/// One audit record about a version or the transaction.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Change {
    /// Position in the audit chain.
    pub audit_seq: i64,
    /// When, UTC.
    pub time: String,
    /// Who.
    pub actor: String,
    /// What (`artifact.put`, `stage.set`, `policy.set`, `label`, …).
    pub action: String,
    /// On what (a deployment, the transaction).
    pub subject: String,
    /// The state before, when there was one.
    #[schema(value_type = Option<Object>)]
    pub before: Value,
    /// The state after.
    #[schema(value_type = Option<Object>)]
    pub after: Value,
    /// Made after the decision was taken (by the records' times): not in force for it.
    pub after_decision: bool,
}

/// Why there is no lineage.
#[derive(Debug, thiserror::Error)]
pub enum LineageError {
    /// No decision of this transaction is in the audit log.
    #[error("no decision of transaction `{0}` is in the audit log: check the id (the schema's id field, as sent), or whether the service that decided it writes to this registry")]
    NotDecided(String),
    /// The registry could not be read.
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// The lineage of transaction `tx_id`'s decision (its first, when retried).
pub async fn lineage(registry: &Registry, tx_id: &str) -> Result<Lineage, LineageError> {
    let mut records = registry
        .audit_find(&AuditQuery {
            actions: vec!["decision".into(), "decision.recovered".into()],
            subject: Some(tx_id.to_string()),
            limit: 16,
            ..Default::default()
        })
        .await?;
    // Newest first: the first decision is the last row.
    let record = records
        .pop()
        .ok_or_else(|| LineageError::NotDecided(tx_id.to_string()))?;
    let answer = record.after.clone().unwrap_or(Value::Null);
    let inputs = record.before.clone().unwrap_or(Value::Null);
    // What was in force is told by time, not by the audit log's order: the decision's
    // record is written by the background audit writer, which gathers records for a few
    // milliseconds, so a change made right after a decision can take an earlier `seq`
    // than the decision's own record.
    let at = record.time;
    let field = |k: &str| answer.get(k).cloned().unwrap_or(Value::Null);
    let text = |k: &str| answer.get(k).and_then(Value::as_str).map(str::to_string);

    let policy_id = text("policy_id").unwrap_or_default();
    let policy = version(registry, &policy_id, at, "the decision names no policy").await?;
    let spec_hash = text("spec_id").unwrap_or_default();
    let feature_spec = spec_version(registry, &spec_hash, at).await?;

    let mut models = Vec::new();
    if let Some(id) = text("model") {
        let route = text("route").unwrap_or_else(|| "champion".into());
        models.push(ModelVersion {
            role: route,
            score: field("score"),
            version: version(registry, &id, at, "").await?,
        });
    }
    for s in answer
        .get("shadow")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(id) = s.get("model").and_then(Value::as_str) {
            models.push(ModelVersion {
                role: "shadow".into(),
                score: s.get("score").cloned().unwrap_or(Value::Null),
                version: version(registry, id, at, "").await?,
            });
        }
    }

    let mut labels: Vec<Change> = registry
        .audit_find(&AuditQuery {
            actions: vec![
                "label".into(),
                "label.correction".into(),
                "label.duplicate".into(),
            ],
            subject: Some(tx_id.to_string()),
            limit: MAX_CHANGES,
            ..Default::default()
        })
        .await?
        .into_iter()
        .map(|e| change(e, at))
        .collect();
    labels.reverse();

    Ok(Lineage {
        tx_id: tx_id.to_string(),
        decision: DecisionFacts {
            audit_seq: record.seq,
            time: format_micros(record.time),
            actor: record.actor.clone(),
            outcome: field("outcome"),
            score: field("score"),
            route: field("route"),
            rules_fired: field("rules_fired"),
            reasons: field("reasons"),
            fallback: field("fallback"),
        },
        event: inputs.get("event").cloned().unwrap_or(Value::Null),
        features: inputs.get("features").cloned().unwrap_or(Value::Null),
        feature_spec,
        policy,
        models,
        labels,
    })
}

/// The version `id` names: its artifact and changes, or a note on why there is none.
async fn version(
    registry: &Registry,
    id: &str,
    decided_at: i64,
    empty_note: &str,
) -> Result<Version, RegistryError> {
    if id.is_empty() || id == "none" {
        return Ok(Version {
            id: id.to_string(),
            artifact: None,
            note: Some(if empty_note.is_empty() {
                "the decision names no version".to_string()
            } else {
                empty_note.to_string()
            }),
        });
    }
    // Registry ids are sha256 hex; a file-based deployment names its versions otherwise.
    let registry_id = id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit());
    if !registry_id {
        return Ok(Version {
            id: id.to_string(),
            artifact: None,
            note: Some(format!(
                "`{id}` is not a registry id: the service was deployed from files, so the file it was loaded from is its record"
            )),
        });
    }
    match registry.artifact(id).await {
        Ok(a) => Ok(Version {
            id: id.to_string(),
            artifact: Some(facts(registry, a.meta, decided_at).await?),
            note: None,
        }),
        Err(RegistryError::NotFound { .. }) => Ok(Version {
            id: id.to_string(),
            artifact: None,
            note: Some("no artifact with this id is in the registry".into()),
        }),
        Err(e) => Err(e),
    }
}

/// The feature spec whose hash the decision names: the registered spec artifact with that
/// hash (the most recent registration, when the same hash was registered more than once).
async fn spec_version(
    registry: &Registry,
    hash: &str,
    decided_at: i64,
) -> Result<Version, RegistryError> {
    let specs = registry
        .list_artifacts(Some(ArtifactKind::FeatureSpec), None)
        .await?;
    let found = specs
        .into_iter()
        .find(|m| m.lineage.get("spec_hash").and_then(Value::as_str) == Some(hash));
    Ok(match found {
        Some(meta) => Version {
            id: hash.to_string(),
            artifact: Some(facts(registry, meta, decided_at).await?),
            note: None,
        },
        None => Version {
            id: hash.to_string(),
            artifact: None,
            note: Some(
                "no registered feature spec has this hash: the service loaded its spec from a file"
                    .into(),
            ),
        },
    })
}

async fn facts(
    registry: &Registry,
    meta: ArtifactMeta,
    decided_at: i64,
) -> Result<ArtifactFacts, RegistryError> {
    let mut rows = registry
        .audit_find(&AuditQuery {
            actions: vec!["artifact.put".into()],
            subject: Some(meta.id.clone()),
            limit: 1,
            ..Default::default()
        })
        .await?;
    rows.extend(
        registry
            .audit_find(&AuditQuery {
                actions: CHANGE_ACTIONS.iter().map(|a| a.to_string()).collect(),
                mentions: Some(meta.id.clone()),
                limit: MAX_CHANGES,
                ..Default::default()
            })
            .await?,
    );
    rows.sort_by_key(|e| e.seq);
    Ok(ArtifactFacts {
        id: meta.id.clone(),
        kind: meta.kind.as_str().to_string(),
        name: meta.name,
        registered_at: format_micros(meta.created_at),
        registered_by: meta.created_by,
        lineage: meta.lineage,
        changes: rows.into_iter().map(|e| change(e, decided_at)).collect(),
    })
}

fn change(e: AuditEntry, decided_at: i64) -> Change {
    Change {
        audit_seq: e.seq,
        time: format_micros(e.time),
        after_decision: e.time > decided_at,
        actor: e.actor,
        action: e.action,
        subject: e.subject,
        before: e.before.unwrap_or(Value::Null),
        after: e.after.unwrap_or(Value::Null),
    }
}

impl Lineage {
    /// The lineage as text for people: one section per step, values as stored.
    pub fn to_text(&self) -> String {
        let mut o = String::new();
        let d = &self.decision;
        let _ = writeln!(o, "Transaction {}", self.tx_id);
        let _ = writeln!(
            o,
            "  decided {} by {} (audit #{}): {} score {} via {}",
            d.time,
            d.actor,
            d.audit_seq,
            plain(&d.outcome),
            plain(&d.score),
            plain(&d.route)
        );
        let _ = writeln!(o, "  rules fired: {}", list(&d.rules_fired));
        if !d.fallback.is_null() {
            let _ = writeln!(o, "  without a model: {}", plain(&d.fallback));
        }
        let _ = writeln!(o, "\nEvent as received");
        fields(&mut o, &self.event, "not recorded ([audit] inputs is off)");
        let _ = writeln!(o, "\nFeature values");
        fields(
            &mut o,
            &self.features,
            "not recorded ([audit] inputs is off)",
        );
        let _ = writeln!(o, "\nFeature spec {}", self.feature_spec.id);
        version_text(&mut o, &self.feature_spec);
        let _ = writeln!(o, "\nPolicy {}", short(&self.policy.id));
        version_text(&mut o, &self.policy);
        for m in &self.models {
            let _ = writeln!(
                o,
                "\nModel {} ({}, score {})",
                short(&m.version.id),
                m.role,
                plain(&m.score)
            );
            if let Some(a) = &m.version.artifact {
                card_text(&mut o, &a.lineage);
            }
            version_text(&mut o, &m.version);
        }
        if self.models.is_empty() {
            let _ = writeln!(o, "\nNo model scored it.");
        }
        let _ = writeln!(o, "\nLabels");
        if self.labels.is_empty() {
            let _ = writeln!(o, "  none yet");
        }
        for c in &self.labels {
            change_text(&mut o, c);
        }
        o
    }
}

fn version_text(o: &mut String, v: &Version) {
    match &v.artifact {
        Some(a) => {
            let _ = writeln!(
                o,
                "  {} `{}` {}, registered {} by {}",
                a.kind,
                a.name,
                short(&a.id),
                a.registered_at,
                a.registered_by
            );
            if a.kind != "model" {
                if let Some(obj) = a.lineage.as_object() {
                    for (k, v) in obj {
                        let _ = writeln!(o, "  {k}: {}", plain(v));
                    }
                }
            }
            for c in a.changes.iter().filter(|c| c.action != "artifact.put") {
                change_text(o, c);
            }
        }
        None => {
            let _ = writeln!(o, "  {}", v.note.as_deref().unwrap_or("not registered"));
        }
    }
}

fn card_text(o: &mut String, card: &Value) {
    let t = &card["training"];
    if !t.is_null() {
        let _ = writeln!(
            o,
            "  algorithm {}, trained {} on {} rows ({} positive), window {} to {}",
            plain(&card["algorithm"]),
            plain(&card["trained_at"]),
            plain(&t["rows"]),
            plain(&t["positives"]),
            plain(&t["from"]),
            plain(&t["to"])
        );
        let _ = writeln!(
            o,
            "  training data fingerprint {}",
            plain(&t["fingerprint"])
        );
        let _ = writeln!(o, "  sources: {}", list(&t["sources"]));
        let _ = writeln!(o, "  hyper-parameters: {}", card["hyper_params"]);
        let _ = writeln!(o, "  metrics: {}", card["metrics"]);
    } else if !card.is_null() {
        let _ = writeln!(o, "  {card}");
    }
}

fn change_text(o: &mut String, c: &Change) {
    let _ = writeln!(
        o,
        "  {} {} by {} on {}: {}{}",
        c.time,
        c.action,
        c.actor,
        c.subject,
        plain(&c.after),
        if c.after_decision {
            "  (after the decision)"
        } else {
            ""
        }
    );
}

fn fields(o: &mut String, v: &Value, empty: &str) {
    match v.as_object() {
        Some(m) => {
            for (k, v) in m {
                let _ = writeln!(o, "  {k} = {}", plain(v));
            }
        }
        None => {
            let _ = writeln!(o, "  {empty}");
        }
    }
}

/// A stored value as people read it: text without quotes, `-` for none, JSON otherwise.
pub fn plain(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn list(v: &Value) -> String {
    match v.as_array() {
        Some(a) if !a.is_empty() => a.iter().map(plain).collect::<Vec<_>>().join(", "),
        _ => "none".into(),
    }
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

impl riskstream_core::Classify for LineageError {
    fn class(&self) -> riskstream_core::ErrorClass {
        match self {
            LineageError::NotDecided(_) => riskstream_core::ErrorClass::User,
            LineageError::Registry(e) => riskstream_core::Classify::class(e),
        }
    }
}
