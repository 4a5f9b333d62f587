//! A decision's lineage page: the event, the feature values, the spec, the policy and the
//! rules that fired, each model with the data it was trained on, and who registered,
//! staged and activated each version, with the changes made after the decision set apart.
//! It reads [`riskstream_server::lineage::lineage`], the same answer as
//! `GET /v1/lineage/{tx_id}` and `riskstream lineage`.

use super::{render, require_analyst, signed, Fail, Nav, C};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use riskstream_server::lineage::{plain, Change, LineageError, Version};
use serde_json::Value;

struct Pair {
    name: String,
    value: String,
}

struct ChangeRow {
    time: String,
    action: String,
    actor: String,
    subject: String,
    what: String,
    later: bool,
}

struct Part {
    /// "Feature spec", "Policy", "Model (champion)".
    title: String,
    id: String,
    /// Kind, name, registration; empty when not registered.
    registered: String,
    note: String,
    /// What the artifact records of its making.
    facts: Vec<Pair>,
    changes: Vec<ChangeRow>,
}

#[derive(Template)]
#[template(path = "lineage.html")]
struct LineagePage {
    nav: Nav,
    tx_id: String,
    decided: String,
    actor: String,
    seq: i64,
    outcome: String,
    score: String,
    rules: Vec<String>,
    event: Vec<Pair>,
    features: Vec<Pair>,
    parts: Vec<Part>,
    labels: Vec<ChangeRow>,
}

/// `GET /console/lineage/{tx_id}`.
pub async fn lineage_page(
    State(c): C,
    headers: HeaderMap,
    Path(tx_id): Path<String>,
) -> Result<Response, Fail> {
    let s = signed(&c, &headers, false).await?;
    require_analyst(&s)?;
    if let Some(w) = &c.app.audit {
        w.flush()
            .await
            .map_err(|e| Fail::Page(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    }
    let l = match riskstream_server::lineage::lineage(&c.app.registry, &tx_id).await {
        Ok(l) => l,
        Err(e @ LineageError::NotDecided(_)) => {
            return Err(Fail::Page(StatusCode::NOT_FOUND, e.to_string()))
        }
        Err(LineageError::Registry(e)) => return Err(super::reg_fail(e)),
    };
    let mut parts = vec![
        part("Feature spec".into(), &l.feature_spec),
        part("Policy".into(), &l.policy),
    ];
    for m in &l.models {
        let mut p = part(
            format!("Model ({}, score {})", m.role, plain(&m.score)),
            &m.version,
        );
        if let Some(a) = &m.version.artifact {
            p.facts = card(&a.lineage);
        }
        parts.push(p);
    }
    let d = &l.decision;
    Ok(render(&LineagePage {
        nav: s.nav(),
        tx_id: l.tx_id.clone(),
        decided: d.time.clone(),
        actor: d.actor.clone(),
        seq: d.audit_seq,
        outcome: plain(&d.outcome),
        score: plain(&d.score),
        rules: d
            .rules_fired
            .as_array()
            .map(|a| a.iter().map(plain).collect())
            .unwrap_or_default(),
        event: pairs(&l.event),
        features: pairs(&l.features),
        parts,
        labels: l.labels.iter().map(row).collect(),
    }))
}

fn part(title: String, v: &Version) -> Part {
    match &v.artifact {
        Some(a) => Part {
            title,
            id: v.id.clone(),
            registered: format!(
                "{} `{}` {}, registered {} UTC by {}",
                a.kind, a.name, a.id, a.registered_at, a.registered_by
            ),
            note: String::new(),
            facts: pairs(&a.lineage),
            changes: a.changes.iter().map(row).collect(),
        },
        None => Part {
            title,
            id: v.id.clone(),
            registered: String::new(),
            note: v.note.clone().unwrap_or_default(),
            facts: Vec::new(),
            changes: Vec::new(),
        },
    }
}

/// A model card's lineage in the order a reviewer reads it.
fn card(c: &Value) -> Vec<Pair> {
    let t = &c["training"];
    if t.is_null() {
        return pairs(c);
    }
    let p = |name: &str, v: &Value| Pair {
        name: name.into(),
        value: plain(v),
    };
    vec![
        p("algorithm", &c["algorithm"]),
        p("trained at", &c["trained_at"]),
        p("training data fingerprint", &t["fingerprint"]),
        p("window from", &t["from"]),
        p("window to", &t["to"]),
        p("rows", &t["rows"]),
        p("positives", &t["positives"]),
        p("label", &t["label"]),
        p("sources", &t["sources"]),
        p("feature spec hash", &c["feature_spec_hash"]),
        p("hyper-parameters", &c["hyper_params"]),
        p("metrics", &c["metrics"]),
    ]
}

fn row(c: &Change) -> ChangeRow {
    ChangeRow {
        time: c.time.clone(),
        action: c.action.clone(),
        actor: c.actor.clone(),
        subject: c.subject.clone(),
        what: plain(&c.after),
        later: c.after_decision,
    }
}

fn pairs(v: &Value) -> Vec<Pair> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| Pair {
                    name: k.clone(),
                    value: plain(v),
                })
                .collect()
        })
        .unwrap_or_default()
}
