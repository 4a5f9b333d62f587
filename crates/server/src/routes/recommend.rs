//! Recommendations: a customer's top items from the A/B arm they are routed to, feedback
//! on what was shown, clicked and accepted, acceptance per arm with its significance test;
//! and registering and staging recommendation models. Without `[recommend]` in the service
//! config every route here answers 404 saying so (after the role check).

use super::deployment::{admin_err, ListQuery, StageRequest};
use super::openapi::{ArtifactOut, ErrorBody, RegisteredOut, RollbackOut, StagedOut};
use super::staged::Staged;
use super::{admit, body, from_string_rejection, query, reg_err, JsonBody, QueryParams, St};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::recommend::{RecDeployment, RecSlot, RecommendConfig};
use crate::state::AppState;
use axum::extract::rejection::StringRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use riskstream_recommend::{TopOptions, Who};
use riskstream_registry::{ArtifactKind, FeedbackKind, NewFeedback, Recorded, Role};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

/// The `[recommend]` section, or the 404 that names it.
fn rec_cfg(st: &AppState) -> Result<&RecommendConfig, ApiError> {
    st.cfg.recommend.as_ref().ok_or_else(|| {
        ApiError::not_found(
            "recommendations are not configured: add a [recommend] section (deployment, \
             customers, eligibility) to the service config",
        )
    })
}

/// Recommendation models: listed, staged (challengers are the A/B arms) and rolled back in
/// the `[recommend]` deployment.
const RECOMMEND: Staged = Staged {
    kind: ArtifactKind::RecommendModel,
    deployment: |st| rec_cfg(st).map(|c| c.deployment.as_str()),
    no_challenger: None,
};

fn no_champion(d: &RecDeployment, cfg: &RecommendConfig) -> ApiError {
    let why = d
        .problems
        .first()
        .map_or(String::new(), |p| format!(" ({p})"));
    ApiError::unavailable(format!(
        "no recommendation champion in deployment `{}`{why}: register one with POST /v1/recommend/models and stage it",
        cfg.deployment
    ))
}

/// `?k=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TopQuery {
    /// How many items (1 to `recommend.max_k`, default 10).
    pub k: Option<usize>,
}

/// One recommended item.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecommendedOut {
    /// 1 for the best.
    pub rank: usize,
    /// The item id.
    pub item: String,
    /// The model's score (higher is better; comparable within one answer only).
    pub score: f64,
    /// Held items that contributed most, with their contribution.
    #[schema(value_type = Vec<Object>)]
    pub reasons: Vec<Value>,
}

/// A customer's recommendations.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecommendationsOut {
    /// The customer as asked.
    pub customer: String,
    /// The arm that answered: `{model, name, stage, bucket}` (stage `champion` or
    /// `challenger`; bucket the customer's hash in [0, 100)). Send `model` back as the
    /// feedback's `arm`.
    #[schema(value_type = Object)]
    pub arm: Value,
    /// How the list was made: `model` (a customer the model knows), `popularity` or
    /// `popularity in segment <s>` (the cold start).
    pub source: String,
    /// The items, best first.
    pub items: Vec<RecommendedOut>,
    /// Items the eligibility rules barred for this customer: `{item, why}`.
    #[schema(value_type = Vec<Object>)]
    pub ineligible: Vec<Value>,
}

/// Feedback on one recommended item.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRequest {
    /// The client's id of this event (1 to 256 bytes); sending it again is harmless.
    pub event_id: String,
    /// The customer.
    pub customer: String,
    /// The item.
    pub item: String,
    /// `shown`, `clicked` or `accepted`.
    pub kind: String,
    /// The arm that recommended it: the `arm.model` of the recommendation (the model id, or
    /// a unique prefix of at least 8 hex digits).
    pub arm: String,
}

/// What happened to a feedback event.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedbackOut {
    /// The event id.
    pub event_id: String,
    /// True when this event id was already recorded with the same content.
    pub duplicate: bool,
    /// The arm's full model id.
    pub arm: String,
}

/// Acceptance per arm.
#[derive(Debug, Serialize, ToSchema)]
pub struct ArmsOut {
    /// Each arm (champion, challengers, then models no longer staged that have feedback):
    /// `{model, name, stage, pct, shown, clicked, accepted, click_rate, acceptance_rate,
    /// acceptance_ci95: [lo, hi] (Wilson), test: {against, test, difference, z, p_value,
    /// approximation_ok} | null, top_items: [{item, shown, accepted}]}`.
    #[schema(value_type = Vec<Object>)]
    pub arms: Vec<Value>,
    /// Staged models that did not load, with why.
    pub deployment_problems: Vec<String>,
}

fn arm_json(s: &RecSlot, stage: &str, bucket: f64) -> Value {
    json!({ "model": s.id, "name": s.name, "stage": stage, "bucket": bucket })
}

/// A customer's top items.
///
/// The customer is routed to an arm by `xxh3(customer) mod 10000 / 100` against the
/// challengers' shares (the champion otherwise), so a customer always sees the same arm.
/// Items the customer holds are left out, and so are items the eligibility rules
/// (`recommend.eligibility`, CEL over the customer's attributes) bar; a rule that cannot
/// be evaluated for this customer bars its items (fail closed) and says so. A customer the
/// model does not know but the customers file does gets the cold start: popularity in
/// their segment.
#[utoipa::path(get, path = "/v1/recommendations/{customer}", tag = "recommend",
    params(("customer" = String, Path, description = "customer id (1 to 1024 bytes)"), TopQuery),
    responses(
        (status = 200, description = "the top items with reasons, and the arm that answered", body = RecommendationsOut),
        (status = 400, description = "malformed query string, or k outside 1 to recommend.max_k", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `decide` role", body = ErrorBody),
        (status = 404, description = "recommendations are not configured, or a customer neither the model nor the customers file knows", body = ErrorBody),
        (status = 429, description = "the tenant's request budget is spent (`[server] rate_limit`); retry after `Retry-After` seconds", body = ErrorBody),
        (status = 503, description = "no recommendation champion is deployed, overloaded or shutting down; retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn recommendations(
    State(st): St,
    caller: Caller,
    Path(customer): Path<String>,
    q: QueryParams<TopQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Decide)?;
    let cfg = rec_cfg(&st)?;
    let q = query(q)?;
    let k = q.k.unwrap_or(10.min(cfg.max_k));
    if k == 0 || k > cfg.max_k {
        return Err(ApiError::bad_request(format!(
            "k = {k}: ask for 1 to {} items (recommend.max_k)",
            cfg.max_k
        ))
        .field("k"));
    }
    if customer.is_empty() || customer.len() > 1024 {
        return Err(
            ApiError::bad_request("the customer id must be 1 to 1024 bytes").field("customer"),
        );
    }
    let _permit = admit(&st)?;
    let d = st.recommend.load_full();
    let Some((slot, stage, bucket)) = d.route(&customer) else {
        return Err(no_champion(&d, cfg));
    };
    let m = &slot.model.model;
    let attrs = cfg.customers.by_id.get(&customer);
    let who = match (m.users.get(&customer), attrs) {
        (Some(u), _) => Who::Known(u),
        (None, Some(_)) => Who::Cold,
        (None, None) => {
            return Err(ApiError::not_found(format!(
                "unknown customer `{customer}`: neither the model ({}) nor the customers file knows them",
                slot.id
            ))
            .field("customer"))
        }
    };
    let empty = riskstream_recommend::Attributes::new();
    let verdict = slot
        .eligibility
        .as_ref()
        .map(|e| e.check(attrs.unwrap_or(&empty)))
        .unwrap_or_default();
    let segment = cfg.customers.segment(&customer);
    let opts = TopOptions {
        k,
        exclude_seen: true,
        exclude: &verdict.barred,
        reasons: cfg.reasons,
        segment: segment.as_deref(),
    };
    let cold = matches!(who, Who::Cold);
    let top = m
        .top(who, &opts)
        .map_err(|e| ApiError::internal(format!("recommendation model {}: {e}", slot.id)))?;
    let item_id = |i: u32| m.items.id(i).unwrap_or_default().to_string();
    let items: Vec<Value> = top
        .items
        .iter()
        .enumerate()
        .map(|(r, x)| {
            json!({
                "rank": r + 1, "item": item_id(x.item), "score": x.score,
                "reasons": x.reasons.iter().map(|(j, c)| json!({"item": item_id(*j), "contribution": c})).collect::<Vec<_>>(),
            })
        })
        .collect();
    let why = verdict.reasons.join("; ");
    let ineligible: Vec<Value> = verdict
        .barred
        .iter()
        .map(|&i| json!({ "item": item_id(i), "why": why }))
        .collect();
    metrics::counter!("riskstream_recommendations_total", "stage" => stage, "source" => if cold { "cold" } else { "model" })
        .increment(1);
    if verdict.errors > 0 {
        metrics::counter!("riskstream_recommend_eligibility_errors_total")
            .increment(verdict.errors as u64);
    }
    Ok(Json(json!({
        "customer": customer,
        "arm": arm_json(slot, stage, bucket),
        "source": top.source.label(),
        "items": items,
        "ineligible": ineligible,
    })))
}

/// Record feedback on a recommended item: `shown`, `clicked` or `accepted`.
///
/// Idempotent by `event_id`: the same event again answers 200 with `duplicate: true`;
/// the same id with other content is a conflict. The arm must be a model in force, the
/// customer must be routed to it, and the item must be one of its items, so every event
/// counts in the arm that earned it. Stored with its audit record (`recommend.feedback`)
/// in one transaction.
#[utoipa::path(post, path = "/v1/recommendations/feedback", tag = "recommend",
    request_body = FeedbackRequest,
    responses(
        (status = 201, description = "recorded", body = FeedbackOut),
        (status = 200, description = "this event id was already recorded with the same content; nothing changed", body = FeedbackOut),
        (status = 400, description = "malformed JSON, a field missing or unknown, or `kind` not shown/clicked/accepted", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `decide` role", body = ErrorBody),
        (status = 404, description = "recommendations are not configured", body = ErrorBody),
        (status = 409, description = "this event id is recorded with different content", body = ErrorBody),
        (status = 413, description = "body larger than `server.max_body_bytes`", body = ErrorBody),
        (status = 415, description = "not sent with `content-type: application/json`", body = ErrorBody),
        (status = 422, description = "unknown arm (not a model in force), customer (unknown to the arm's model and the customers file, or routed to another arm) or item (not an item of the arm's model)", body = ErrorBody),
        (status = 429, description = "the tenant's request budget is spent (`[server] rate_limit`); retry after `Retry-After` seconds", body = ErrorBody),
        (status = 503, description = "the registry is unavailable, overloaded or shutting down; retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn recommendation_feedback(
    State(st): St,
    caller: Caller,
    b: JsonBody<FeedbackRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Role::Decide)?;
    let cfg = rec_cfg(&st)?;
    let f = body(b)?;
    let kind = FeedbackKind::parse(&f.kind).ok_or_else(|| {
        ApiError::bad_request(format!(
            "kind `{}`: give shown, clicked or accepted",
            f.kind
        ))
        .field("kind")
    })?;
    if f.event_id.is_empty() || f.event_id.len() > 256 {
        return Err(ApiError::bad_request("event_id must be 1 to 256 bytes").field("event_id"));
    }
    let _permit = admit(&st)?;
    let d = st.recommend.load_full();
    let Some((slot, _)) = d.arm(&f.arm) else {
        let arms: Vec<String> = d
            .arms()
            .iter()
            .map(|(s, stage, _)| format!("{} ({stage})", s.id))
            .collect();
        return Err(ApiError::unprocessable(format!(
            "unknown arm `{}`: not a recommendation model in force in deployment `{}` (arms: {}); send the `arm.model` of the recommendation",
            f.arm,
            cfg.deployment,
            if arms.is_empty() { "none".to_string() } else { arms.join(", ") }
        ))
        .field("arm"));
    };
    let m = &slot.model.model;
    if m.users.get(&f.customer).is_none() && !cfg.customers.by_id.contains_key(&f.customer) {
        return Err(ApiError::unprocessable(format!(
            "unknown customer `{}`: neither model {} nor the customers file knows them",
            f.customer, slot.id
        ))
        .field("customer"));
    }
    if let Some((routed, stage, _)) = d.route(&f.customer) {
        if routed.id != slot.id {
            return Err(ApiError::unprocessable(format!(
                "customer `{}` is served by model {} ({stage}), not by arm {}; feedback counts in the arm that showed the item",
                f.customer, routed.id, slot.id
            ))
            .field("arm"));
        }
    }
    if m.items.get(&f.item).is_none() {
        let mut msg = format!(
            "unknown item `{}`: model {} has no such item",
            f.item, slot.id
        );
        if let Some(h) =
            riskstream_core::diag::did_you_mean(&f.item, m.items.ids().iter().map(String::as_str))
        {
            msg.push_str(&format!("; {h}"));
        }
        return Err(ApiError::unprocessable(msg).field("item"));
    }
    let ev = NewFeedback {
        event_id: f.event_id.clone(),
        deployment: cfg.deployment.clone(),
        model: slot.id.clone(),
        customer: f.customer.clone(),
        item: f.item.clone(),
        kind,
    };
    let rec = st
        .registry
        .record_feedback(&ev, caller.name())
        .await
        .map_err(reg_err)?;
    let duplicate = rec == Recorded::Duplicate;
    if !duplicate {
        metrics::counter!("riskstream_recommend_feedback_total", "kind" => kind.as_str())
            .increment(1);
    }
    let status = if duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(json!({ "event_id": f.event_id, "duplicate": duplicate, "arm": slot.id })),
    ))
}

/// Acceptance per arm: shown, clicked and accepted counts, rates, 95 % Wilson intervals of
/// the acceptance rate, and each challenger against the champion by the two-proportion
/// z-test (pooled, two-sided; `approximation_ok` false when an arm has fewer than 5
/// expected acceptances or refusals), with each arm's most accepted items.
#[utoipa::path(get, path = "/v1/recommend/arms", tag = "recommend",
    responses(
        (status = 200, description = "the arms with their statistics", body = ArmsOut),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `analyst` role", body = ErrorBody),
        (status = 404, description = "recommendations are not configured", body = ErrorBody),
        (status = 503, description = "the registry is unavailable; retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn recommend_arms(State(st): St, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Analyst)?;
    let cfg = rec_cfg(&st)?;
    Ok(Json(arms_json(&st, cfg).await?))
}

/// The arms' statistics (also what the console shows).
pub async fn arms_json(st: &AppState, cfg: &RecommendConfig) -> Result<Value, ApiError> {
    let counts = st
        .registry
        .feedback_counts(&cfg.deployment, false)
        .await
        .map_err(reg_err)?;
    let items = st
        .registry
        .feedback_counts(&cfg.deployment, true)
        .await
        .map_err(reg_err)?;
    let d = st.recommend.load_full();
    Ok(crate::recommend::arm_stats(&d, &counts, &items))
}

/// Registered recommendation models.
#[utoipa::path(get, path = "/v1/recommend/models", tag = "recommend",
    params(ListQuery),
    responses(
        (status = 200, description = "recommendation model artifacts with lineage (kind, users, items), newest first", body = [ArtifactOut]),
        (status = 400, description = "malformed query string", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `analyst` role", body = ErrorBody),
        (status = 404, description = "recommendations are not configured", body = ErrorBody),
        (status = 503, description = "the registry is unavailable; retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn list_recommend_models(
    State(st): St,
    caller: Caller,
    q: QueryParams<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    RECOMMEND.list(&st, &caller, q).await
}

/// Register a recommendation model: the JSON `riskstream recommend train` writes. It is
/// loaded and checked (its hash, its shapes) before anything is stored; the eligibility
/// rules are checked against its items when it is staged.
#[utoipa::path(post, path = "/v1/recommend/models", tag = "recommend",
    request_body(description = "a recommendation model (JSON, as written by `riskstream recommend train`). The body is read as text whatever its content type.", content((Object = "application/json"), (String = "text/plain"))),
    responses(
        (status = 201, description = "registered; its id", body = RegisteredOut),
        (status = 400, description = "the body is not UTF-8 text", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `modeler` role", body = ErrorBody),
        (status = 404, description = "recommendations are not configured", body = ErrorBody),
        (status = 409, description = "the same body is already stored as another kind of artifact", body = ErrorBody),
        (status = 413, description = "larger than the upload limit (256 MiB)", body = ErrorBody),
        (status = 422, description = "not a recommendation model file, or one that was modified (hash mismatch)", body = ErrorBody),
        (status = 503, description = "the registry is unavailable; retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn put_recommend_model(
    State(st): St,
    caller: Caller,
    text: Result<String, StringRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Role::Modeler)?;
    rec_cfg(&st)?;
    let text = text.map_err(from_string_rejection)?;
    let m = crate::recommend::register(&st.registry, &text, "request body", caller.name())
        .await
        .map_err(admin_err)?;
    Ok((StatusCode::CREATED, Json(json!({ "id": m.id }))))
}

/// Move a recommendation model to a stage in the `[recommend]` deployment: `challenger`
/// (an A/B arm with its share of customers), `champion`, `shadow` or `archived`. The same
/// role rules as fraud and credit models (`champion` and large challengers need `admin`).
#[utoipa::path(post, path = "/v1/recommend/models/{id}/stage", tag = "recommend",
    request_body = StageRequest,
    params(("id" = String, Path, description = "recommendation model id, or a unique prefix of it (8 to 64 hex digits)", pattern = "^[0-9a-fA-F]{8,64}$")),
    responses(
        (status = 200, description = "staged and loaded", body = StagedOut),
        (status = 400, description = "malformed JSON, an unknown stage, `pct` missing for a challenger or given for another stage", body = ErrorBody),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `modeler` role; or the change needs `admin`", body = ErrorBody),
        (status = 404, description = "recommendations are not configured, or no artifact with this id", body = ErrorBody),
        (status = 409, description = "the change contradicts the deployment (e.g. demoting the champion)", body = ErrorBody),
        (status = 413, description = "body larger than `server.max_body_bytes`", body = ErrorBody),
        (status = 415, description = "not sent with `content-type: application/json`", body = ErrorBody),
        (status = 422, description = "not an artifact id, ambiguous, not a recommendation model, or refused by the registry", body = ErrorBody),
        (status = 503, description = "the registry is unavailable; retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn set_recommend_stage(
    State(st): St,
    caller: Caller,
    Path(id): Path<String>,
    b: JsonBody<StageRequest>,
) -> Result<Json<Value>, ApiError> {
    RECOMMEND.stage(&st, &caller, &id, b).await
}

/// Put the previous recommendation champion back.
#[utoipa::path(post, path = "/v1/recommend/rollback", tag = "recommend",
    responses(
        (status = 200, description = "the recommendation champion now in force", body = RollbackOut),
        (status = 401, description = "no key, or an unknown or revoked one", body = ErrorBody),
        (status = 403, description = "the key lacks the `admin` role", body = ErrorBody),
        (status = 404, description = "recommendations are not configured", body = ErrorBody),
        (status = 409, description = "nothing to roll back to", body = ErrorBody),
        (status = 422, description = "refused by the registry", body = ErrorBody),
        (status = 503, description = "the registry is unavailable; retry", body = ErrorBody),
    ),
    security(("api_key" = [])))]
pub async fn recommend_rollback(State(st): St, caller: Caller) -> Result<Json<Value>, ApiError> {
    RECOMMEND.rollback(&st, &caller).await
}
