//! The registry's vocabulary: artifact kinds, stages, roles and the records it returns.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{RegistryError, Result};

/// Content id of an artifact: sha256 of its body, 64 lowercase hex characters.
pub type ArtifactId = String;

/// What an artifact holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactKind {
    /// A model file (JSON).
    Model,
    /// A decision policy (TOML).
    Policy,
    /// A feature spec (TOML).
    FeatureSpec,
    /// A credit model (JSON): a scorecard or a credit GBDT from `riskstream credit train`,
    /// served by `POST /v1/credit/score`. Staged like a fraud model, but in a deployment
    /// of its own (a deployment's models are all of one kind).
    CreditModel,
    /// A published forecast set (JSON) from `riskstream forecast --publish`: every series'
    /// latest forecast with 80/95 % intervals and its backtest metrics, served by
    /// `GET /v1/forecasts/{series}`. Staged in a deployment of its own.
    ForecastModel,
    /// A recommendation model (JSON) from `riskstream recommend train`, served by
    /// `GET /v1/recommendations/{customer}`; champion and challengers are the A/B arms.
    RecommendModel,
    /// A complaint text model (JSON) from `riskstream text train`: routing classifier,
    /// optionally with sentiment and an escalation-risk model, served by
    /// `POST /v1/complaints/classify`. Staged in a deployment of its own.
    TextModel,
}

impl ArtifactKind {
    /// The name stored in the database and used in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactKind::Model => "model",
            ArtifactKind::Policy => "policy",
            ArtifactKind::FeatureSpec => "feature_spec",
            ArtifactKind::CreditModel => "credit_model",
            ArtifactKind::ForecastModel => "forecast_model",
            ArtifactKind::RecommendModel => "recommend_model",
            ArtifactKind::TextModel => "text_model",
        }
    }

    /// Whether artifacts of this kind are models that take stages in a deployment.
    pub fn is_staged(self) -> bool {
        matches!(
            self,
            ArtifactKind::Model
                | ArtifactKind::CreditModel
                | ArtifactKind::ForecastModel
                | ArtifactKind::RecommendModel
                | ArtifactKind::TextModel
        )
    }
}

impl fmt::Display for ArtifactKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ArtifactKind {
    type Err = RegistryError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "model" => Ok(ArtifactKind::Model),
            "policy" => Ok(ArtifactKind::Policy),
            "feature_spec" | "feature-spec" => Ok(ArtifactKind::FeatureSpec),
            "credit_model" | "credit-model" => Ok(ArtifactKind::CreditModel),
            "forecast_model" | "forecast-model" => Ok(ArtifactKind::ForecastModel),
            "recommend_model" | "recommend-model" => Ok(ArtifactKind::RecommendModel),
            "text_model" | "text-model" => Ok(ArtifactKind::TextModel),
            _ => Err(RegistryError::invalid(
                "artifact kind",
                format!(
                    "`{s}` is not one of model, policy, feature_spec, credit_model, forecast_model, recommend_model, text_model"
                ),
            )),
        }
    }
}

/// An artifact without its body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArtifactMeta {
    /// sha256 of the body, lowercase hex.
    pub id: ArtifactId,
    /// What the body is.
    pub kind: ArtifactKind,
    /// Human name given at the first put (e.g. `card-fraud-gbdt`).
    pub name: String,
    /// Length of the body in bytes.
    pub size_bytes: i64,
    /// Where it came from (training data fingerprint, parent ids, git commit, …), as given.
    pub lineage: serde_json::Value,
    /// When it was first stored, microseconds since the Unix epoch.
    pub created_at: i64,
    /// Who stored it.
    pub created_by: String,
}

/// A stored artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Artifact {
    /// Everything but the body.
    pub meta: ArtifactMeta,
    /// The artifact's text (model JSON, policy TOML, feature spec TOML).
    pub body: String,
}

/// Where a model stands within a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum Stage {
    /// Scored on live traffic; its scores are recorded but never decide.
    Shadow,
    /// Decides for `pct` percent of traffic, in (0, 100].
    Challenger {
        /// Share of traffic in percent.
        pct: f64,
    },
    /// Decides for the traffic no challenger takes. At most one per deployment.
    Champion,
    /// No longer used; kept for history and rollback.
    Archived,
}

impl Stage {
    /// The name stored in the database.
    pub fn as_str(&self) -> &'static str {
        match self {
            Stage::Shadow => "shadow",
            Stage::Challenger { .. } => "challenger",
            Stage::Champion => "champion",
            Stage::Archived => "archived",
        }
    }

    /// The challenger share, if any.
    pub fn pct(&self) -> Option<f64> {
        match self {
            Stage::Challenger { pct } => Some(*pct),
            _ => None,
        }
    }

    /// A stage as a user names it (`shadow`, `challenger` with `pct`, `champion`,
    /// `archived`). The error says what is wrong and names the field at fault
    /// (`stage` or `pct`), for the API and the CLI alike.
    pub fn parse(
        stage: &str,
        pct: Option<f64>,
    ) -> std::result::Result<Stage, (&'static str, String)> {
        match (stage, pct) {
            ("champion", None) => Ok(Stage::Champion),
            ("shadow", None) => Ok(Stage::Shadow),
            ("archived", None) => Ok(Stage::Archived),
            ("challenger", Some(pct)) => Ok(Stage::Challenger { pct }),
            ("challenger", None) => Err((
                "pct",
                "a challenger needs `pct`, its share of traffic in percent".into(),
            )),
            (s @ ("champion" | "shadow" | "archived"), Some(_)) => {
                Err(("pct", format!("`pct` only applies to challengers, not {s}")))
            }
            (s, _) => Err((
                "stage",
                format!("unknown stage `{s}`: use shadow, challenger, champion or archived"),
            )),
        }
    }

    pub(crate) fn from_db(stage: &str, pct: Option<f64>) -> Result<Stage> {
        Ok(match (stage, pct) {
            ("shadow", _) => Stage::Shadow,
            ("challenger", Some(pct)) => Stage::Challenger { pct },
            ("champion", _) => Stage::Champion,
            ("archived", _) => Stage::Archived,
            _ => {
                return Err(RegistryError::Corrupt(format!(
                    "unknown model stage `{stage}` (pct {pct:?})"
                )))
            }
        })
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stage::Challenger { pct } => write!(f, "challenger ({pct}%)"),
            other => f.write_str(other.as_str()),
        }
    }
}

/// A challenger and its share of traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Challenger {
    /// Model artifact id.
    pub artifact: ArtifactId,
    /// Share of traffic in percent, in (0, 100].
    pub pct: f64,
}

/// What a deployment serves right now.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DeploymentState {
    /// Deployment name.
    pub deployment: String,
    /// The champion model, if one was promoted.
    pub champion: Option<ArtifactId>,
    /// Challengers with their traffic shares (sum ≤ 100), by artifact id.
    pub challengers: Vec<Challenger>,
    /// Shadow models, by artifact id.
    pub shadows: Vec<ArtifactId>,
    /// The active policy, if any.
    pub policy: Option<ArtifactId>,
    /// The feature spec, if any.
    pub feature_spec: Option<ArtifactId>,
}

/// What a history entry changed: a model's stage, the policy or the feature spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Slot {
    /// A model's stage.
    Model,
    /// The active policy.
    Policy,
    /// The feature spec.
    FeatureSpec,
}

impl Slot {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Slot::Model => "model",
            Slot::Policy => "policy",
            Slot::FeatureSpec => "feature_spec",
        }
    }

    pub(crate) fn from_db(s: &str) -> Result<Slot> {
        match s {
            "model" => Ok(Slot::Model),
            "policy" => Ok(Slot::Policy),
            "feature_spec" => Ok(Slot::FeatureSpec),
            _ => Err(RegistryError::Corrupt(format!(
                "unknown history slot `{s}`"
            ))),
        }
    }

    /// The artifact kind this slot holds.
    pub fn kind(self) -> ArtifactKind {
        match self {
            Slot::Model => ArtifactKind::Model,
            Slot::Policy => ArtifactKind::Policy,
            Slot::FeatureSpec => ArtifactKind::FeatureSpec,
        }
    }
}

/// One row of a deployment's change history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Increasing id (order of changes).
    pub id: i64,
    /// Deployment name.
    pub deployment: String,
    /// What changed.
    pub slot: Slot,
    /// The artifact whose state changed.
    pub artifact: ArtifactId,
    /// `set` (asked for), `superseded` (replaced by another set), `rollback` (restored),
    /// `rolled_back` (replaced by a rollback).
    pub op: String,
    /// State before: a stage name for models, `active`/`inactive` otherwise; None if new.
    pub before: Option<String>,
    /// Challenger share before.
    pub before_pct: Option<f64>,
    /// State after.
    pub after: String,
    /// Challenger share after.
    pub after_pct: Option<f64>,
    /// When, microseconds since the Unix epoch.
    pub time: i64,
    /// Who.
    pub actor: String,
}

/// What an API key may do. The service decides which endpoints need which role; `admin` is
/// not implied to include the others here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Ask for decisions.
    Decide,
    /// Send labels (fraud confirmed / not).
    Label,
    /// Read decisions, audit, lists; work the review queue.
    Analyst,
    /// Add and remove allow/block list entries (each with a reason and an expiry): an
    /// allow-list entry approves anything for its customer, so it is a role of its own.
    Lists,
    /// Register models and change stages.
    Modeler,
    /// Manage keys and everything else.
    Admin,
}

impl Role {
    /// Every role, in order.
    pub const ALL: [Role; 6] = [
        Role::Decide,
        Role::Label,
        Role::Analyst,
        Role::Lists,
        Role::Modeler,
        Role::Admin,
    ];

    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Decide => "decide",
            Role::Label => "label",
            Role::Analyst => "analyst",
            Role::Lists => "lists",
            Role::Modeler => "modeler",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = RegistryError;
    fn from_str(s: &str) -> Result<Self> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                RegistryError::invalid(
                    "role",
                    format!("`{s}` is not one of decide, label, analyst, lists, modeler, admin"),
                )
            })
    }
}

/// Who an API key belongs to, as returned by [`crate::Registry::verify_key`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// The key's name (what the audit log records).
    pub name: String,
    /// The key's roles, sorted.
    pub roles: Vec<Role>,
}

impl Principal {
    /// Whether the key holds `role` (exactly; `admin` does not imply the others).
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// An API key as listed: never the key or its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInfo {
    /// Unique name.
    pub name: String,
    /// Roles, sorted.
    pub roles: Vec<Role>,
    /// When created, microseconds since the Unix epoch.
    pub created_at: i64,
    /// Who created it.
    pub created_by: String,
    /// When revoked, if it was.
    pub revoked_at: Option<i64>,
    /// Who revoked it.
    pub revoked_by: Option<String>,
}

/// One value on an allow or block list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListEntry {
    /// List name (e.g. `blocked_cards`).
    pub list: String,
    /// The value (card id, IP, merchant, …).
    pub value: String,
    /// When it stops applying, microseconds since the Unix epoch; None = never. Callers that
    /// cache entries must check this themselves: expiry does not bump the revision.
    pub expires_at: Option<i64>,
    /// Why it was added.
    pub reason: String,
    /// When it was added or last changed.
    pub added_at: i64,
    /// Who added it.
    pub added_by: String,
}

/// A record to append to the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Who (a key name, a user, `system`). Never a key itself.
    pub actor: String,
    /// What, e.g. `decision`, `stage.set`, `key.create`.
    pub action: String,
    /// On what (a deployment, a transaction id, a key name).
    pub subject: String,
    /// State before, if it applies.
    pub before: Option<serde_json::Value>,
    /// State after, if it applies.
    pub after: Option<serde_json::Value>,
    /// When, microseconds since the Unix epoch.
    pub time: i64,
}

impl AuditRecord {
    /// A record stamped with the current time.
    pub fn now(
        actor: impl Into<String>,
        action: impl Into<String>,
        subject: impl Into<String>,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) -> AuditRecord {
        AuditRecord {
            actor: actor.into(),
            action: action.into(),
            subject: subject.into(),
            before,
            after,
            time: crate::now_micros(),
        }
    }
}

/// A stored audit row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the chain, from 1, without gaps.
    pub seq: i64,
    /// When, microseconds since the Unix epoch.
    pub time: i64,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// On what.
    pub subject: String,
    /// State before.
    pub before: Option<serde_json::Value>,
    /// State after.
    pub after: Option<serde_json::Value>,
    /// Hash of the previous row (64 zeros for the first).
    pub prev_hash: String,
    /// sha256(prev_hash, canonical row) for scheme 1, HMAC-SHA256(key, prev_hash, canonical
    /// row) for scheme 2; lowercase hex.
    pub hash: String,
    /// 1: unkeyed SHA-256 (anyone with write access could recompute it); 2: HMAC-SHA256 with
    /// the audit key.
    #[serde(default = "scheme_v1")]
    pub scheme: i64,
    /// For scheme 2: the first 8 hex digits of sha256(key) of the key that wrote the row.
    #[serde(default)]
    pub key_fingerprint: Option<String>,
}

fn scheme_v1() -> i64 {
    1
}

/// The outcome of [`crate::Registry::audit_verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// Rows walked: each one's `seq` and `prev_hash` link checked, and its hash recomputed
    /// when it can be (`keyed + unkeyed`; `unverified` rows could not be).
    pub checked: u64,
    /// Keyed rows (scheme 2) whose HMAC was recomputed with the audit key: tamper-evident.
    #[serde(default)]
    pub keyed: u64,
    /// Unkeyed rows (scheme 1) whose SHA-256 was recomputed. Someone who can write the
    /// database can rewrite these and recompute the hashes, so they are tamper-evident only
    /// up to a published head (`--head`).
    #[serde(default)]
    pub unkeyed: u64,
    /// Keyed rows whose HMAC could not be checked because no audit key was given. A report
    /// with unverified rows is not [`VerifyReport::ok`].
    #[serde(default)]
    pub unverified: u64,
    /// The head the registry recorded when the walk started (seq 0 = empty log).
    pub head_seq: i64,
    /// Hash of the head row; publish it elsewhere (with `head_seq`) to anchor the chain.
    pub head_hash: String,
    /// The published head the chain was checked against, if one was given.
    #[serde(default)]
    pub anchor: Option<AuditAnchor>,
    /// The first problem found, if any.
    pub first_bad: Option<ChainBreak>,
    /// What the operator should know that is not a break (unverified or unkeyed rows, and
    /// what to do about them).
    #[serde(default)]
    pub notes: Vec<String>,
}

impl VerifyReport {
    /// True when the chain is intact and every keyed row was checked with its key.
    pub fn ok(&self) -> bool {
        self.first_bad.is_none() && self.unverified == 0
    }
}

/// A published audit head: the chain must contain this row with this hash. Written
/// `SEQ:HASH` (what `riskstream audit head` prints) or just `HASH`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditAnchor {
    /// The row's `seq`, if known.
    pub seq: Option<i64>,
    /// The row's hash, 64 lowercase hex digits.
    pub hash: String,
}

impl std::fmt::Display for AuditAnchor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.seq {
            Some(seq) => write!(f, "{seq}:{}", self.hash),
            None => f.write_str(&self.hash),
        }
    }
}

impl std::str::FromStr for AuditAnchor {
    type Err = crate::RegistryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| {
            crate::RegistryError::invalid(
                "audit head",
                format!(
                    "`{s}`: {why}; expected SEQ:HASH as `riskstream audit head` prints it \
                     (e.g. 42:9f86d0…), or the 64-hex-digit HASH alone"
                ),
            )
        };
        let s = s.trim();
        let (seq, hash) = match s.split_once(':') {
            Some((seq, hash)) => {
                let seq: i64 = seq
                    .parse()
                    .ok()
                    .filter(|&n| n >= 1)
                    .ok_or_else(|| bad("SEQ is not a row number (1 or more)"))?;
                (Some(seq), hash)
            }
            None => (None, s),
        };
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("HASH is not 64 hex digits"));
        }
        Ok(AuditAnchor {
            seq,
            hash: hash.to_ascii_lowercase(),
        })
    }
}

/// What [`crate::Registry::audit_verify_with`] checks besides the chain itself.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct VerifyOptions {
    /// Audit keys to check keyed rows with, besides the registry's own (several after a key
    /// rotation; each row names its key by fingerprint).
    pub keys: Vec<crate::AuditKey>,
    /// A published head the chain must contain.
    pub anchor: Option<AuditAnchor>,
}

impl VerifyOptions {
    /// Adds a key to check keyed rows with.
    pub fn with_key(mut self, key: crate::AuditKey) -> Self {
        self.keys.push(key);
        self
    }

    /// Requires the chain to contain `anchor`.
    pub fn with_anchor(mut self, anchor: AuditAnchor) -> Self {
        self.anchor = Some(anchor);
        self
    }
}

/// Where and why the audit chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainBreak {
    /// The first sequence number that does not check out.
    pub seq: i64,
    /// Why, in words.
    pub reason: String,
}
