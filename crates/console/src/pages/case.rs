//! One case: the transaction, the decision and its reasons, the history of its entities
//! (their recent transactions and features, [`super::entity_history`]), and the actions on
//! it (label, assign, put an entity on a list).

use super::{
    age, bad, case_of, reg_fail, render, require_analyst, score_text, seg, signed, signed_post,
    text_of, CsrfForm, Fail, Nav, Signed, C, DAY_US,
};
use crate::Console;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use riskstream_core::time::{format_micros, now_micros};
use riskstream_registry::{CaseLabel, CaseStatus, Role};
use serde::Deserialize;
use serde_json::Value;

/// A field of the transaction, as text (escaped by the template).
struct FieldRow {
    name: String,
    value: String,
}

/// A bar of the reasons chart.
struct Bar {
    feature: String,
    value: String,
    contribution: String,
    y: usize,
    text_y: usize,
    width: usize,
}

struct RuleRow {
    name: String,
    text: String,
}

struct ShadowRow {
    name: String,
    score: String,
    outcome: String,
}

/// A value that may go on a list: an entity field of the transaction.
struct ListChoice {
    value: String,
    label: String,
}

#[derive(Template)]
#[template(path = "case.html")]
struct CasePage {
    nav: Nav,
    id: String,
    action: String,
    done: String,
    c_status: &'static str,
    open: bool,
    source: String,
    tx_id: String,
    /// The decision's lineage page.
    lineage: String,
    outcome: String,
    score: String,
    opened: String,
    age: String,
    assignee: String,
    fields: Vec<FieldRow>,
    rules: Vec<RuleRow>,
    errors: Vec<String>,
    bars: Vec<Bar>,
    chart_height: usize,
    policy: String,
    model: String,
    spec: String,
    route: String,
    challenger: String,
    fallback: String,
    shadows: Vec<ShadowRow>,
    label: String,
    note: String,
    closed_by: String,
    closed_at: String,
    may_label: bool,
    may_assign: bool,
    may_list: bool,
    list_choices: Vec<ListChoice>,
    list_names: Vec<String>,
    /// Who escalated it and when (empty: not escalated).
    escalated: String,
    /// Assignments, comments, escalation and the verdict, newest first.
    trail: Vec<super::case_work::TrailRow>,
    /// The recent transactions and features of the case's entities.
    entities: Vec<super::entity_history::EntitySection>,
    spark_w: f64,
    spark_h: f64,
}

/// What an action did, for the page it redirects to (fixed texts: nothing from the
/// request is reflected).
fn done_text(code: &str) -> &'static str {
    match code {
        "labelled" => "Labelled: the label reached the service (feature state, online models) and the case is closed.",
        "labelled_case_only" => "The case is closed with the label. The service has no decision on this transaction in memory (a pipeline's case, or older than its decision window), so no model learned from it.",
        "assigned" => "Assigned to you.",
        "listed" => "Added to the list; it is in force now.",
        "commented" => "Comment added to the case's trail.",
        "escalated" => "Escalated: the case left its assignee and shows as escalated in the queue.",
        _ => "",
    }
}

const BAR_MAX: f64 = 300.0;
const BAR_STEP: usize = 26;

fn bars(decision: &Value) -> Vec<Bar> {
    let reasons: Vec<&Value> = decision["reasons"]
        .as_array()
        .map(|a| a.iter().filter(|r| r["kind"] == "model").collect())
        .unwrap_or_default();
    let max = reasons
        .iter()
        .filter_map(|r| r["contribution"].as_f64())
        .fold(0.0f64, |m, c| m.max(c.abs()));
    reasons
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let contribution = r["contribution"].as_f64().unwrap_or(0.0);
            let width = if max > 0.0 {
                (contribution.abs() / max * BAR_MAX).round().max(1.0) as usize
            } else {
                1
            };
            Bar {
                feature: text_of(&r["feature"]),
                value: r["value"]
                    .as_f64()
                    .map_or_else(|| text_of(&r["value"]), |v| format!("{v:.4}")),
                contribution: format!("{contribution:+.3}"),
                y: i * BAR_STEP,
                text_y: i * BAR_STEP + 15,
                width,
            }
        })
        .collect()
}

/// `GET /console/cases/{id}`: the transaction, the decision and its reasons, the actions
/// the key may take.
pub async fn case_page(
    State(c): C,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Result<Response, Fail> {
    let s = signed(&c, &headers, false).await?;
    require_analyst(&s)?;
    let k = c.app.registry.case(&id).await.map_err(|e| match e {
        riskstream_registry::RegistryError::NotFound { .. } => {
            Fail::Page(StatusCode::NOT_FOUND, format!("no case `{id}`"))
        }
        e => Fail::Page(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    })?;
    let trail = c
        .app
        .registry
        .case_trail(&id, 200)
        .await
        .map_err(|e| Fail::Page(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    let entities =
        super::entity_history::sections(&c, k.tx.as_ref().and_then(Value::as_object), &k.tx_id)
            .await;
    let d = &k.decision;
    let schema = &c.app.spec.schema;
    let mut fields = Vec::new();
    let mut list_choices = Vec::new();
    if let Some(Value::Object(tx)) = &k.tx {
        // Schema order first, then anything else the transaction held.
        let mut seen = std::collections::HashSet::new();
        for f in &schema.fields {
            if let Some(v) = tx.get(&f.name) {
                seen.insert(f.name.clone());
                fields.push(FieldRow {
                    name: f.name.clone(),
                    value: text_of(v),
                });
            }
        }
        for (name, v) in tx {
            if !seen.contains(name) {
                fields.push(FieldRow {
                    name: name.clone(),
                    value: text_of(v),
                });
            }
        }
        for &i in &schema.entities {
            let name = &schema.fields[i].name;
            if let Some(v) = tx.get(name).filter(|v| !v.is_null()) {
                list_choices.push(ListChoice {
                    value: text_of(v),
                    label: format!("{name} = {}", text_of(v)),
                });
            }
        }
    }
    let rules = d["reasons"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|r| r["kind"] == "rule")
                .map(|r| RuleRow {
                    name: text_of(&r["name"]),
                    text: text_of(&r["text"]),
                })
                .collect()
        })
        .unwrap_or_default();
    let errors = d["errors"]
        .as_array()
        .map(|a| a.iter().map(text_of).collect())
        .unwrap_or_default();
    let shadows = d["shadow"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| ShadowRow {
                    name: text_of(&m["name"]),
                    score: score_text(m["score"].as_f64()),
                    outcome: text_of(&m["outcome"]),
                })
                .collect()
        })
        .unwrap_or_default();
    let bars = bars(d);
    let mut list_names: Vec<String> = vec![
        "allow_customers".into(),
        "block_customers".into(),
        "block_terminals".into(),
    ];
    let open = k.status == CaseStatus::Open;
    let may_list = open && s.caller.may(Role::Lists);
    if may_list {
        if let Ok(names) = c.app.registry.list_names().await {
            for (name, _) in names {
                if !list_names.contains(&name) {
                    list_names.push(name);
                }
            }
        }
    }
    let now = now_micros();
    let page = CasePage {
        nav: s.nav(),
        action: format!("/console/cases/{}", seg(&k.id)),
        done: done_text(q.get("done").map_or("", String::as_str)).to_string(),
        c_status: k.status.as_str(),
        open,
        source: k.source.clone(),
        tx_id: k.tx_id.clone(),
        lineage: format!("/console/lineage/{}", seg(&k.tx_id)),
        outcome: k.outcome.clone(),
        score: score_text(k.score),
        opened: format_micros(k.created_at - k.created_at % 1_000_000),
        age: age(k.closed_at.unwrap_or(now) - k.created_at),
        assignee: k.assignee.clone().unwrap_or_default(),
        fields,
        rules,
        errors,
        chart_height: bars.len() * BAR_STEP + 4,
        bars,
        policy: text_of(&d["policy_id"]),
        model: text_of(&d["model"]),
        spec: text_of(&d["spec_id"]),
        route: text_of(&d["route"]),
        challenger: text_of(&d["challenger"]["name"]),
        fallback: text_of(&d["fallback"]),
        shadows,
        label: k.label.clone().unwrap_or_default(),
        note: k.note.clone().unwrap_or_default(),
        closed_by: k.closed_by.clone().unwrap_or_default(),
        closed_at: k.closed_at.map(format_micros).unwrap_or_default(),
        may_label: open && (s.caller.may(Role::Label) || s.caller.may(Role::Analyst)),
        may_assign: open && k.assignee.as_deref() != Some(s.session.principal.name.as_str()),
        may_list,
        list_choices,
        list_names,
        escalated: match (&k.escalated_by, k.escalated_at) {
            (Some(by), Some(at)) => format!("by {by} at {}", format_micros(at - at % 1_000_000)),
            _ => String::new(),
        },
        trail: super::case_work::trail_rows(&trail),
        entities,
        spark_w: super::entity_history::SPARK_W,
        spark_h: super::entity_history::SPARK_H,
        id: k.id,
    };
    Ok(render(&page))
}

/// The label form.
#[derive(Debug, Deserialize)]
pub struct LabelForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    note: String,
}

pub(super) fn back(id: &str, done: &str) -> Response {
    Redirect::to(&format!("/console/cases/{}?done={done}", seg(id))).into_response()
}

/// Whether the key may label: `label` or `analyst` (or `admin`).
pub(super) fn may_label(s: &Signed) -> bool {
    s.caller.may(Role::Label) || s.caller.may(Role::Analyst)
}

/// Labels case `id` as the single label action does: the label through the same function
/// as `POST /v1/labels` (feature state, online models, write-ahead log, audit under the
/// key's name), then the case closed with it and `note` (audited as `case.close`). Returns
/// the `done` code for the page. The queue's batch label calls this for each case.
pub(super) async fn label_case(
    c: &Console,
    s: &Signed,
    id: &str,
    label: CaseLabel,
    note: &str,
) -> Result<&'static str, Fail> {
    let k = case_of(c, id).await?;
    if k.status == CaseStatus::Closed {
        return Err(Fail::Page(
            StatusCode::CONFLICT,
            format!(
                "case `{id}` was already closed as {} by {}",
                k.label.as_deref().unwrap_or("?"),
                k.closed_by.as_deref().unwrap_or("?")
            ),
        ));
    }
    let req = riskstream_server::routes::LabelRequest {
        tx_id: k.tx_id.clone(),
        fraud: label == CaseLabel::Fraud,
        time: None,
        correction: false,
    };
    let done = match riskstream_server::routes::record_label(&c.app, &s.caller, req).await {
        Ok(_) => "labelled",
        Err(e) if e.status == StatusCode::NOT_FOUND => "labelled_case_only",
        Err(e) => return Err(e.into()),
    };
    c.app
        .registry
        .close_case(id, label, note.trim(), s.caller.name())
        .await
        .map_err(reg_fail)?;
    Ok(done)
}

/// `POST /console/cases/{id}/label`: the label goes through the same function as
/// `POST /v1/labels` (so the feature state and online models learn, and it is logged and
/// audited under the key's name), then the case is closed with the label and the note
/// (audited as `case.close`).
pub async fn label(
    State(c): C,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<LabelForm>,
) -> Result<Response, Fail> {
    let s = signed_post(&c, &headers, &f.csrf).await?;
    require_analyst(&s)?;
    if !may_label(&s) {
        return Err(Fail::Page(
            StatusCode::FORBIDDEN,
            format!("key `{}` may not label", s.caller.name()),
        ));
    }
    let label = CaseLabel::parse(&f.label)
        .map_err(|e| Fail::Page(StatusCode::BAD_REQUEST, e.to_string()))?;
    let done = label_case(&c, &s, &id, label, &f.note).await?;
    Ok(back(&id, done))
}

/// `POST /console/cases/{id}/assign`: to the signed-in key (audited as `case.assign`).
pub async fn assign(
    State(c): C,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, Fail> {
    let s = signed_post(&c, &headers, &f.csrf).await?;
    require_analyst(&s)?;
    c.app
        .registry
        .assign_case(&id, Some(s.caller.name()), s.caller.name())
        .await
        .map_err(|e| match e {
            riskstream_registry::RegistryError::NotFound { .. } => {
                Fail::Page(StatusCode::NOT_FOUND, format!("no case `{id}`"))
            }
            e => Fail::Page(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
        })?;
    Ok(back(&id, "assigned"))
}

/// The list-entry form.
#[derive(Debug, Deserialize)]
pub struct ListForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    list: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    days: String,
}

/// `POST /console/cases/{id}/list`: the same function as `PUT /v1/lists/{list}/{value}`
/// (checked, audited with the reason, in force at once). Needs the `lists` role.
pub async fn list_entry(
    State(c): C,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<ListForm>,
) -> Result<Response, Fail> {
    let s = signed_post(&c, &headers, &f.csrf).await?;
    require_analyst(&s)?;
    s.caller.require(Role::Lists)?;
    case_of(&c, &id).await?;
    let days: i64 = f
        .days
        .trim()
        .parse()
        .ok()
        .filter(|d| (1..=366).contains(d))
        .ok_or_else(|| bad("days", format!("`{}`: give 1 to 366 days", f.days)))?;
    let req = riskstream_server::routes::ListEntryRequest {
        expires_at: format_micros(now_micros() + days * DAY_US),
        reason: f.reason.clone(),
    };
    riskstream_server::routes::put_list(&c.app, &s.caller, f.list.trim(), f.value.trim(), req)
        .await?;
    Ok(back(&id, "listed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_bars_scale_to_the_largest() {
        let d = serde_json::json!({"reasons": [
            {"kind": "rule", "name": "r", "text": "t"},
            {"kind": "model", "feature": "A", "value": 1.0, "contribution": 2.0},
            {"kind": "model", "feature": "B", "value": 2.0, "contribution": -0.5},
        ]});
        let b = bars(&d);
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].width, 300);
        assert_eq!(b[1].width, 75);
        assert_eq!(b[1].y, BAR_STEP);
    }
}
