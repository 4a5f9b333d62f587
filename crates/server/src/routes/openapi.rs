//! The OpenAPI document: its registration (every route and every shape it names) and the
//! shapes of what the routes answer.
//!
//! The handlers build their answers as JSON values; the `…Out` types below describe them
//! for the document. `tests/api/openapi.rs` checks real answers against these shapes, so a
//! field added to a handler but not here (or the other way round) fails a test.

pub use crate::error::ErrorBody;
use crate::{error, routes};
use serde::Serialize;
use serde_json::Value;
use utoipa::{OpenApi, ToSchema};

/// The OpenAPI document, generated from the handlers. Every route lists every status it can
/// answer, errors as [`error::ErrorBody`]; `tests/api/openapi.rs` holds the document to what the
/// service answers, and `.ci/schemathesis.sh` fuzzes the service against it.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "riskstream decision service", description = "Decisions with reasons, labels, registry, lists, review queue, audit. Every route but /healthz, /readyz and /openapi.json needs an API key: `Authorization: Bearer <key>`; errors are `{\"error\": {\"code\", \"message\", \"field\"?}}` with the request id in the `x-request-id` header."),
    paths(
        routes::decide, routes::decide_batch, routes::label, routes::deployment,
        routes::list_models, routes::list_policies, routes::put_model, routes::put_policy,
        routes::activate_policy, routes::set_stage, routes::rollback, routes::put_list_entry,
        routes::delete_list_entry, routes::get_lists, routes::list_cases, routes::get_case,
        routes::close_case, routes::comment_case, routes::escalate_case, routes::case_trail,
        routes::audit_tail, routes::audit_verify,
        routes::create_key, routes::revoke_key, routes::healthz, routes::readyz,
        routes::openapi_json, routes::credit_score, routes::list_credit_models,
        routes::put_credit_model, routes::set_credit_stage, routes::credit_rollback,
        routes::list_forecasts, routes::get_forecast, routes::list_forecast_models,
        routes::put_forecast_model, routes::set_forecast_stage, routes::list_forecast_alerts,
        routes::ack_forecast_alert, routes::check_forecast_alerts,
        routes::recommendations, routes::recommendation_feedback, routes::recommend_arms,
        routes::list_recommend_models, routes::put_recommend_model, routes::set_recommend_stage,
        routes::recommend_rollback,
        routes::classify_complaint, routes::list_text_models, routes::put_text_model,
        routes::set_text_stage, routes::complaints_rollback,
        routes::entity_features, routes::entity_history, routes::get_lineage,
        routes::drift, routes::list_alerts, routes::check_alerts, routes::ack_alert,
        routes::quality
    ),
    components(schemas(routes::BatchRequest, routes::LabelRequest, routes::StageRequest,
        routes::ListEntryRequest, routes::CloseCaseRequest, routes::CaseTextRequest,
        routes::KeyRequest, error::ErrorBody,
        error::ErrorDetail, routes::FeedbackRequest, routes::ClassifyRequest, routes::AckRequest)),
    modifiers(&SecurityAddon)
)]
pub struct ApiDoc;

struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let c = openapi.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// A decision: outcome, score and reasons, with the versions that made it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionOut {
    /// The transaction id as sent.
    pub tx_id: String,
    /// `approve`, `review` or `decline`.
    pub outcome: OutcomeName,
    /// The deciding model's score in [0, 1]; null when no model scored.
    pub score: Option<f64>,
    /// Why: fired rules (`{kind: "rule", name, text}`) and model reason codes
    /// (`{kind: "model", feature, value, contribution}`).
    #[schema(value_type = Vec<Object>)]
    pub reasons: Vec<Value>,
    /// Names of the rules that fired.
    pub rules_fired: Vec<String>,
    /// Rules or models that failed on this transaction (the decision stands without them).
    pub errors: Vec<String>,
    /// The deciding model's id, if a model decided.
    pub model: Option<String>,
    /// `champion`, `challenger`, or a fallback route.
    pub route: String,
    /// The policy in force.
    pub policy_id: String,
    /// The feature spec's hash.
    pub spec_id: String,
    /// Shadow models' scores.
    #[schema(value_type = Vec<Object>)]
    pub shadow: Vec<Value>,
    /// Set when a challenger decided.
    #[schema(value_type = Option<Object>)]
    pub challenger: Option<Value>,
    /// Why the service fell back (no model, a failing model), if it did.
    pub fallback: Option<String>,
    /// How far behind the latest decided transaction this one was (within tolerance).
    #[schema(nullable = false)]
    pub late_by_us: Option<i64>,
    /// Feature values `[name, value]`, when `server.return_features` is on.
    #[schema(value_type = Option<Vec<Vec<Value>>>, nullable = false)]
    pub features: Option<Value>,
    /// Time spent deciding, microseconds.
    #[schema(minimum = 0)]
    pub latency_us: u64,
    /// `true` when this is the original decision for a retried transaction id.
    #[schema(nullable = false)]
    pub replay: Option<bool>,
}

/// A credit decision.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreditDecisionOut {
    /// The application id as sent.
    pub application_id: String,
    /// The score: the scorecard's points, or a GBDT's log-odds on the default points scale
    /// (600 at 50:1 good:bad odds, 20 points to double them).
    pub score: i64,
    /// Probability of default, in [0, 1].
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub pd: f64,
    /// `decline` above `credit.decline_pd`, `review` above `credit.review_pd`, else
    /// `approve`.
    pub decision: OutcomeName,
    /// Adverse-action reasons, largest first (declined and referred applications only).
    pub reasons: Vec<CreditReasonOut>,
    /// Characteristics whose value was not seen in development (scored in the other or
    /// missing bin).
    pub unseen: Vec<String>,
    /// The model that decided.
    pub model: CreditModelRef,
    /// Set when a challenger decided: `{model, name, bucket, champion: {model, score, pd,
    /// decision}}`.
    #[schema(value_type = Option<Object>, nullable = false)]
    pub challenger: Option<Value>,
    /// Shadow models' results: `{model, name, score, pd, decision}` or `{model, name,
    /// error}`; present when shadows are deployed.
    #[schema(value_type = Option<Vec<Object>>, nullable = false)]
    pub shadow: Option<Vec<Value>>,
    /// With `credit.customer_key`: where the behavioural characteristics came from,
    /// `{field, entity, as_of, tx_id, characteristics}` (`as_of` null when the customer has
    /// no transaction in the feature state: they were scored as missing).
    #[schema(value_type = Option<Object>, nullable = false)]
    pub behaviour: Option<Value>,
    /// `true` when the `application_id` was answered before: this is that answer.
    #[schema(nullable = false)]
    pub replay: Option<bool>,
}

/// One adverse-action reason.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreditReasonOut {
    /// The configured code.
    pub code: String,
    /// The configured text.
    pub text: String,
    /// The characteristic it is about.
    pub characteristic: String,
}

/// The credit model that decided.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreditModelRef {
    /// Its registry id.
    pub id: String,
    /// Its registered name (`scorecard`, `credit-gbdt`).
    pub name: String,
    /// `champion` or `challenger`.
    pub stage: String,
}

/// A decision's outcome.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeName {
    /// Let it through.
    Approve,
    /// Send it to an analyst.
    Review,
    /// Refuse it.
    Decline,
}

/// The answer to a batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchOut {
    /// Transactions decided (retries included).
    #[schema(minimum = 0)]
    pub decided: u64,
    /// Transactions refused on their own.
    #[schema(minimum = 0)]
    pub refused: u64,
    /// One item per transaction, in request order: a decision, or `{index, error, field?}`.
    #[schema(value_type = Vec<Object>)]
    pub results: Vec<Value>,
}

/// The answer to a label.
#[derive(Debug, Serialize, ToSchema)]
pub struct LabelOut {
    /// The transaction id.
    pub tx_id: String,
    /// Whether a decision on it is known.
    pub known: bool,
    /// The same label was given before (nothing changed).
    pub duplicate: bool,
    /// This label replaced an earlier, contradicting one.
    pub correction: bool,
    /// The outcome the transaction got, if known.
    pub decided_outcome: Option<String>,
    /// The score it got, if known.
    pub decided_score: Option<f64>,
    /// Online models that learned from it.
    pub learned: Vec<String>,
    /// Online models whose drift detector fired.
    pub drift: Vec<String>,
}

/// A model in a deployment slot.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlotOut {
    /// Model id.
    pub id: String,
    /// Model name.
    pub name: String,
    /// Share of traffic, percent.
    pub pct: f64,
    /// Present (`true`) for an online model.
    #[schema(nullable = false)]
    pub online: Option<bool>,
    /// An online model's learning statistics.
    #[schema(value_type = Option<Object>, nullable = false)]
    pub learning: Option<Value>,
}

/// What is deployed now.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeploymentOut {
    /// The deployment's name (`registry.deployment`).
    pub deployment: String,
    /// The feature spec's hash.
    pub feature_spec: String,
    /// The policy in force.
    pub policy: String,
    /// The champion, if one is deployed.
    pub champion: Option<SlotOut>,
    /// Challengers.
    pub challengers: Vec<SlotOut>,
    /// Shadow models.
    pub shadows: Vec<SlotOut>,
    /// Seconds since the service started.
    #[schema(minimum = 0)]
    pub uptime_s: u64,
    /// What was restored at start (checkpoint, write-ahead log).
    #[schema(value_type = Value)]
    pub recovery: Value,
    /// Why the service decides in fallback mode, if it does.
    pub fallback: Option<String>,
    /// The registry revision loaded.
    pub revision: i64,
}

/// A registered model or policy (without its body).
#[derive(Debug, Serialize, ToSchema)]
pub struct ArtifactOut {
    /// sha256 of the body, lowercase hex.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub id: String,
    /// `model`, `policy`, `feature_spec` or `credit_model`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Body length in bytes.
    pub size_bytes: i64,
    /// Where it came from (training data, parents, rule count, …), as registered.
    #[schema(value_type = Value)]
    pub lineage: Value,
    /// When it was first stored, µs since the Unix epoch.
    pub created_at: i64,
    /// Who stored it.
    pub created_by: String,
}

/// A registered artifact's id.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegisteredOut {
    /// sha256 of the body, lowercase hex.
    pub id: String,
}

/// The policy now active.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActivatedOut {
    /// Its id.
    pub active_policy: String,
}

/// A model's new stage.
#[derive(Debug, Serialize, ToSchema)]
pub struct StagedOut {
    /// The model's id.
    pub model: String,
    /// The stage as asked.
    pub stage: String,
    /// The challenger share, for a challenger.
    pub pct: Option<f64>,
}

/// The champion after a rollback.
#[derive(Debug, Serialize, ToSchema)]
pub struct RollbackOut {
    /// The champion's id.
    pub champion: String,
}

/// A list entry as stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListEntryOut {
    /// The list.
    pub list: String,
    /// The value.
    pub value: String,
    /// When it stops matching, µs since the Unix epoch.
    pub expires_at: Option<i64>,
}

/// An entry in force on a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListEntryInfo {
    /// The list.
    pub list: String,
    /// The value.
    pub value: String,
    /// When it stops matching, µs since the Unix epoch (null: never, for entries made
    /// before expiries were required).
    pub expires_at: Option<i64>,
    /// Why it is on the list.
    pub reason: String,
    /// When it was added or last changed, µs since the Unix epoch.
    pub added_at: i64,
    /// Who added it.
    pub added_by: String,
}

/// A removal.
#[derive(Debug, Serialize, ToSchema)]
pub struct RemovedOut {
    /// Always `true`.
    pub removed: bool,
}

/// An entity's recent events.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntityHistoryOut {
    /// The entity field asked for.
    pub field: String,
    /// The entity's key as asked.
    pub value: String,
    /// Its events, newest first.
    pub events: Vec<EntityEventOut>,
    /// Cursor of the next (older) page for `before`; null on the last page.
    pub next: Option<String>,
}

/// One decided transaction of an entity.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntityEventOut {
    /// The transaction's event time, UTC (`YYYY-MM-DD HH:MM:SS[.ffffff]`).
    pub event_time: String,
    /// Its decision's audit record (`GET /v1/audit`).
    pub seq: i64,
    /// The transaction id.
    pub tx_id: String,
    /// The transaction as received, after data protection.
    #[schema(value_type = Object)]
    pub event: Value,
    /// The feature row it was decided on (name → value, null when not finite); null when
    /// the service no longer held the row (a decision audited again after a crash).
    #[schema(value_type = Option<Object>)]
    pub features: Value,
    /// The decision as answered.
    #[schema(value_type = Object)]
    pub decision: Value,
}

/// One audit record.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryOut {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// When, µs since the Unix epoch.
    pub time: i64,
    /// Who (a key name, `cli:<user>`, `system`).
    pub actor: String,
    /// What (`decision`, `stage.set`, `key.create`, …).
    pub action: String,
    /// On what.
    pub subject: String,
    /// State before, if it applies.
    #[schema(value_type = Option<Value>)]
    pub before: Option<Value>,
    /// State after, if it applies.
    #[schema(value_type = Option<Value>)]
    pub after: Option<Value>,
    /// Hash of the previous record.
    pub prev_hash: String,
    /// This record's hash (SHA-256, or HMAC-SHA256 for scheme 2).
    pub hash: String,
    /// 1: unkeyed SHA-256; 2: HMAC-SHA256 with the audit key.
    pub scheme: i64,
    /// For scheme 2: the first 8 hex digits of sha256 of the audit key.
    pub key_fingerprint: Option<String>,
}

/// The audit chain check.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyOut {
    /// No break found and every record checked.
    pub ok: bool,
    /// Records walked.
    #[schema(minimum = 0)]
    pub checked: u64,
    /// The head's sequence number (0: empty log).
    pub head_seq: i64,
    /// The head's hash.
    pub head_hash: String,
    /// The first record that does not check out: `{seq, reason}`.
    #[schema(value_type = Option<Object>)]
    pub first_bad: Option<Value>,
    /// Records checked with the audit key (HMAC).
    #[schema(minimum = 0)]
    pub keyed: u64,
    /// Records written before the chain was keyed (plain SHA-256: not tamper-evident
    /// against someone who can write the database).
    #[schema(minimum = 0)]
    pub unkeyed: u64,
    /// Keyed records this service could not check (it lacks their key).
    #[schema(minimum = 0)]
    pub unverified: u64,
    /// What an operator should know or do.
    pub notes: Vec<String>,
}

/// A case in the review queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseOut {
    /// Its id.
    pub id: String,
    /// Who opened it (`pipeline:<name>`).
    pub source: String,
    /// The transaction id.
    pub tx_id: String,
    /// The decision's outcome.
    pub outcome: String,
    /// The deciding model's score.
    pub score: Option<f64>,
    /// The decision, with its reasons.
    #[schema(value_type = Value)]
    pub decision: Value,
    /// `open` or `closed`.
    pub status: String,
    /// When it was opened, µs since the Unix epoch.
    pub created_at: i64,
    /// The analyst's label, once closed.
    pub label: Option<String>,
    /// The analyst's note.
    pub note: Option<String>,
    /// When it was closed.
    pub closed_at: Option<i64>,
    /// Who closed it.
    pub closed_by: Option<String>,
    /// The transaction as decided (cases the service opens; absent for pipelines' cases).
    #[schema(value_type = Option<Object>, nullable = false)]
    pub tx: Option<Value>,
    /// The analyst working the case (absent when unassigned).
    #[schema(nullable = false)]
    pub assignee: Option<String>,
    /// When it was escalated, µs since the Unix epoch (absent: not escalated).
    #[schema(nullable = false)]
    pub escalated_at: Option<i64>,
    /// Who escalated it.
    #[schema(nullable = false)]
    pub escalated_by: Option<String>,
}

/// A new key.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyOut {
    /// The key's name.
    pub name: String,
    /// The key itself (`rsk_…`): shown once.
    pub key: String,
    /// A reminder to store it.
    pub note: String,
}

/// A revoked key.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedOut {
    /// The key's name.
    pub revoked: String,
}

/// Readiness.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadyOut {
    /// Always `true` (not ready is a 503).
    pub ready: bool,
}

/// An entity's current features (`GET /v1/features/{entity}`).
#[derive(Debug, Serialize, ToSchema)]
pub struct EntityFeaturesOut {
    /// The entity's key as asked.
    pub entity: String,
    /// Its entity field in the feature schema.
    pub field: String,
    /// Event time of its latest transaction, whose row the values are (RFC 3339).
    pub as_of: String,
    /// That transaction's id.
    pub tx_id: String,
    /// Feature name → value (null when not a finite number).
    #[schema(value_type = Object)]
    pub features: Value,
}
