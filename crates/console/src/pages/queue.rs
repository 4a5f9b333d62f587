//! The review queue: filtered, sorted and paged on the server; "my cases"; batch actions
//! on the selected cases (one form, no script needed), each case through the same function
//! as its single action, audited with who and why.
//!
//! Pages are reached by key, not by number ([`riskstream_registry::CasePage`]): "next"
//! links to the cases after the page's last one, "previous" to those before its first,
//! "last" reads the order backward. Every page, the last of a million included, is an
//! index walk of 50 cases.

use super::case::{label_case, may_label};
use super::{
    age, bad, csrf_only, field, given, reg_fail, render, require_analyst, score_text, seg, signed,
    signed_post, Fail, Nav, Signed, C, DAY_US, PAGE_SIZE,
};
use crate::Console;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use riskstream_core::time::{format_micros, now_micros, parse_iso8601};
use riskstream_registry::{
    ArtifactKind, ArtifactMeta, Case, CaseCursor, CaseLabel, CasePage, CaseQuery, CaseSort,
    CaseStatus,
};
use serde::{Deserialize, Serialize};

/// How far the queue counts matching cases (the count is exact below it).
const COUNT_CAP: u64 = 10_000;
/// How far "my open cases" counts.
const MINE_CAP: u64 = 1_000;

/// The most cases one batch action takes.
pub const MAX_BATCH: usize = 200;

/// The queue's query string: every filter as typed into the form (empty = no filter).
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub struct QueueQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    outcome: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    score_min: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    score_max: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    assignee: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mine: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    escalated: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sort: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    after: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last: Option<String>,
}

impl QueueQuery {
    /// The registry query for this page, and where the page is.
    fn to_case_query(&self, me: &str) -> Result<(CaseQuery, CasePage), Fail> {
        let mut q = CaseQuery {
            limit: PAGE_SIZE,
            ..Default::default()
        };
        q.status = match given(&self.status).unwrap_or("open") {
            "open" => Some(CaseStatus::Open),
            "closed" => Some(CaseStatus::Closed),
            "all" => None,
            o => return Err(bad("status", format!("`{o}`: use open, closed or all"))),
        };
        q.outcome = given(&self.outcome).map(str::to_string);
        let score = |v: &Option<String>, name: &str| -> Result<Option<f64>, Fail> {
            given(v)
                .map(|s| {
                    s.parse::<f64>()
                        .ok()
                        .filter(|x| x.is_finite())
                        .ok_or_else(|| bad(name, format!("`{s}` is not a number")))
                })
                .transpose()
        };
        q.score_min = score(&self.score_min, "score_min")?;
        q.score_max = score(&self.score_max, "score_max")?;
        q.rule = given(&self.rule).map(str::to_string);
        q.model = given(&self.model).map(str::to_string);
        q.escalated = given(&self.escalated).is_some();
        q.assignee = if given(&self.mine).is_some() {
            Some(me.to_string())
        } else {
            given(&self.assignee).map(str::to_string)
        };
        let date = |v: &Option<String>, name: &str| -> Result<Option<i64>, Fail> {
            given(v)
                .map(|s| {
                    parse_iso8601(s).map_err(|e| bad(name, format!("`{s}`: {e}; use YYYY-MM-DD")))
                })
                .transpose()
        };
        q.created_from = date(&self.from, "from")?;
        // `to` is a day, included whole.
        q.created_to = date(&self.to, "to")?.map(|t| t + DAY_US);
        q.sort = match given(&self.sort) {
            None => CaseSort::Oldest,
            Some(s) => CaseSort::parse(s).ok_or_else(|| {
                bad(
                    "sort",
                    format!("`{s}`: use oldest, newest, score_desc or score_asc"),
                )
            })?,
        };
        let cursor = |v: &Option<String>, name: &str| -> Result<Option<CaseCursor>, Fail> {
            given(v)
                .map(|s| {
                    CaseCursor::decode(s).ok_or_else(|| {
                        bad(
                            name,
                            format!(
                                "`{s}` is not a position in the queue; follow the page's links"
                            ),
                        )
                    })
                })
                .transpose()
        };
        let page = match (
            cursor(&self.after, "after")?,
            cursor(&self.before, "before")?,
            given(&self.last).is_some(),
        ) {
            (Some(c), None, false) => CasePage::After(c),
            (None, Some(c), false) => CasePage::Before(c),
            (None, None, true) => CasePage::Last,
            (None, None, false) => CasePage::First,
            _ => return Err(bad("after", "give one of after, before and last".into())),
        };
        Ok((q, page))
    }

    /// This query's filters at another page.
    fn link(&self, page: &CasePage) -> String {
        let mut q = self.clone();
        q.after = None;
        q.before = None;
        q.last = None;
        match page {
            CasePage::First => {}
            CasePage::After(c) => q.after = Some(c.encode()),
            CasePage::Before(c) => q.before = Some(c.encode()),
            CasePage::Last => q.last = Some("1".into()),
        }
        format!(
            "/console/cases?{}",
            serde_urlencoded::to_string(&q).unwrap_or_default()
        )
    }
}

/// One row of the queue.
struct Row {
    href: String,
    id: String,
    open: bool,
    opened: String,
    age: String,
    outcome: String,
    score: String,
    rules: String,
    assignee: String,
    status: &'static str,
    /// Escalated (and still open).
    escalated: bool,
}

#[derive(Template)]
#[template(path = "cases.html")]
struct QueuePage {
    nav: Nav,
    rows: Vec<Row>,
    total: u64,
    /// More cases match than were counted (`total` is a lower bound).
    more: bool,
    first: String,
    prev: String,
    next: String,
    last: String,
    f: Filters,
    /// The query string of this page, for the batch form to come back to.
    back: String,
    may_label: bool,
    mine: u64,
    mine_more: bool,
}

/// The filter form's values, as given.
struct Filters {
    status: String,
    outcome: String,
    score_min: String,
    score_max: String,
    rule: String,
    model: String,
    /// The models to choose from: (id, label), the registry's fraud models newest first,
    /// and the model asked for if the registry does not hold it (a pipeline's model file).
    models: Vec<(String, String)>,
    assignee: String,
    mine: bool,
    escalated: bool,
    from: String,
    to: String,
    sort: String,
}

/// The model filter's choices: each fraud model in the registry as `name · id…`, and the
/// id asked for when the registry does not hold it.
fn model_choices(models: Vec<ArtifactMeta>, asked: Option<&str>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = models
        .into_iter()
        .map(|m| {
            let id = m.id;
            let short: String = id.chars().take(12).collect();
            (id, format!("{} · {short}…", m.name))
        })
        .collect();
    if let Some(a) = asked.filter(|a| !out.iter().any(|(id, _)| id == a)) {
        out.push((a.to_string(), a.to_string()));
    }
    out
}

fn rules_of(c: &Case) -> Vec<String> {
    c.decision["rules_fired"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// `GET /console/cases`: the review queue, 50 a page, filtered and sorted on the server.
pub async fn queue(
    State(c): C,
    headers: HeaderMap,
    Query(qq): Query<QueueQuery>,
) -> Result<Response, Fail> {
    let s = signed(&c, &headers, false).await?;
    require_analyst(&s)?;
    let (q, page) = qq.to_case_query(&s.session.principal.name)?;
    let reg = &c.app.registry;
    let mine_q = CaseQuery {
        status: Some(CaseStatus::Open),
        assignee: Some(s.session.principal.name.clone()),
        ..Default::default()
    };
    // Counted up to a cap: exact for the queues people work, "more than N" beyond (an
    // exact count walks every matching index entry: 1 M of them for 1 M cases). Filters no
    // index serves together (a rule and a score range, an outcome) are counted only as far
    // as a page: their count reads candidates one by one (0.6–0.8 s to reach 10,000 over
    // 1 M cases), the page only as many as it shows.
    let cap = if q.count_is_cheap() {
        COUNT_CAP
    } else {
        PAGE_SIZE as u64
    };
    let (cases, counted, mine, models) = tokio::try_join!(
        reg.cases_page(&q, &page),
        reg.count_cases_up_to(&q, cap + 1),
        reg.count_cases_up_to(&mine_q, MINE_CAP + 1),
        reg.list_artifacts(Some(ArtifactKind::Model), None)
    )
    .map_err(reg_fail)?;
    let now = now_micros();
    let rows = cases
        .iter()
        .map(|k| Row {
            href: format!("/console/cases/{}", seg(&k.id)),
            id: k.id.clone(),
            open: k.status == CaseStatus::Open,
            opened: format_micros(k.created_at - k.created_at % 1_000_000),
            age: if k.status == CaseStatus::Open {
                age(now - k.created_at)
            } else {
                format!(
                    "closed after {}",
                    age(k.closed_at.unwrap_or(now) - k.created_at)
                )
            },
            outcome: k.outcome.clone(),
            score: score_text(k.score),
            rules: rules_of(k).join(", "),
            assignee: k.assignee.clone().unwrap_or_default(),
            status: k.status.as_str(),
            escalated: k.escalated_at.is_some() && k.status == CaseStatus::Open,
        })
        .collect();
    let more = counted > cap;
    let total = counted.min(cap);
    // A full page may have more beyond it; a short one ends the order in its direction.
    let full = cases.len() == PAGE_SIZE;
    let (has_prev, has_next) = match &page {
        CasePage::First => (false, full),
        CasePage::After(_) => (true, full),
        CasePage::Before(_) => (full, true),
        CasePage::Last => (full, false),
    };
    let (first_c, last_c) = (
        cases.first().map(CaseCursor::of),
        cases.last().map(CaseCursor::of),
    );
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    let page_view = QueuePage {
        nav: s.nav(),
        rows,
        total,
        more,
        first: if has_prev {
            qq.link(&CasePage::First)
        } else {
            String::new()
        },
        prev: match (has_prev, first_c) {
            (true, Some(c)) => qq.link(&CasePage::Before(c)),
            _ => String::new(),
        },
        next: match (has_next, last_c) {
            (true, Some(c)) => qq.link(&CasePage::After(c)),
            _ => String::new(),
        },
        last: if has_next {
            qq.link(&CasePage::Last)
        } else {
            String::new()
        },
        f: Filters {
            status: given(&qq.status).unwrap_or("open").to_string(),
            outcome: v(&qq.outcome),
            score_min: v(&qq.score_min),
            score_max: v(&qq.score_max),
            rule: v(&qq.rule),
            model: v(&qq.model),
            models: model_choices(models, given(&qq.model)),
            assignee: v(&qq.assignee),
            mine: given(&qq.mine).is_some(),
            escalated: given(&qq.escalated).is_some(),
            from: v(&qq.from),
            to: v(&qq.to),
            sort: given(&qq.sort).unwrap_or("oldest").to_string(),
        },
        back: serde_urlencoded::to_string(&qq).unwrap_or_default(),
        may_label: may_label(&s),
        mine: mine.min(MINE_CAP),
        mine_more: mine > MINE_CAP,
    };
    Ok(render(&page_view))
}

/// A batch action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Batch {
    AssignMe,
    Assign,
    Unassign,
    /// Labelled as the case page labels (the labels path, then closed).
    Label(CaseLabel),
    /// Closed with a verdict alone, as `POST /v1/cases/{id}/close` does.
    Close(CaseLabel),
}

impl Batch {
    fn parse(s: &str) -> Option<Batch> {
        Some(match s {
            "assign_me" => Batch::AssignMe,
            "assign" => Batch::Assign,
            "unassign" => Batch::Unassign,
            "label_fraud" => Batch::Label(CaseLabel::Fraud),
            "label_genuine" => Batch::Label(CaseLabel::Genuine),
            "close_fraud" => Batch::Close(CaseLabel::Fraud),
            "close_genuine" => Batch::Close(CaseLabel::Genuine),
            _ => return None,
        })
    }

    fn text(self) -> &'static str {
        match self {
            Batch::AssignMe => "assign to me",
            Batch::Assign => "assign",
            Batch::Unassign => "unassign",
            Batch::Label(CaseLabel::Fraud) => "label fraud and close",
            Batch::Label(CaseLabel::Genuine) => "label genuine and close",
            Batch::Close(CaseLabel::Fraud) => "close as fraud (case only)",
            Batch::Close(CaseLabel::Genuine) => "close as genuine (case only)",
        }
    }
}

/// One case's result in a batch.
struct BatchRow {
    href: String,
    id: String,
    ok: bool,
    result: String,
}

#[derive(Template)]
#[template(path = "batch.html")]
struct BatchPage {
    nav: Nav,
    action: &'static str,
    note: String,
    done: usize,
    failed: usize,
    rows: Vec<BatchRow>,
    back: String,
}

/// Does `action` to case `id` through the function its single action uses; what it did.
async fn batch_one(
    c: &Console,
    s: &Signed,
    action: Batch,
    target: Option<&str>,
    id: &str,
    note: &str,
) -> Result<String, Fail> {
    let me = s.caller.name();
    let reg = &c.app.registry;
    match action {
        Batch::AssignMe | Batch::Assign | Batch::Unassign => {
            reg.assign_case_because(id, target, note, me)
                .await
                .map_err(reg_fail)?;
            Ok(target.map_or_else(|| "unassigned".into(), |t| format!("assigned to {t}")))
        }
        Batch::Label(l) => Ok(match label_case(c, s, id, l, note).await? {
            "labelled" => format!("labelled {}; closed", l.as_str()),
            _ => format!(
                "closed as {}; the service holds no decision on this transaction, so no model learned from it",
                l.as_str()
            ),
        }),
        Batch::Close(l) => {
            reg.close_case(id, l, note, me).await.map_err(reg_fail)?;
            Ok(format!("closed as {}", l.as_str()))
        }
    }
}

/// `POST /console/cases/batch`: the selected cases (`ids`, the queue's checkboxes), one
/// action, and why (`note`, required: it goes into every case's audit record). Each case
/// goes through the function its single action uses, so each is checked and audited on
/// its own; one refused case does not stop the others. Answers with a page of results.
pub async fn batch(
    State(c): C,
    headers: HeaderMap,
    Form(f): Form<Vec<(String, String)>>,
) -> Result<Response, Fail> {
    let s = signed_post(&c, &headers, csrf_only(&f)).await?;
    require_analyst(&s)?;
    let mut ids: Vec<&str> = Vec::new();
    for (k, v) in &f {
        if k == "ids" && !v.is_empty() && !ids.contains(&v.as_str()) {
            ids.push(v);
        }
    }
    if ids.is_empty() {
        return Err(bad(
            "ids",
            "no case selected: tick the cases in the queue, then apply".into(),
        ));
    }
    if ids.len() > MAX_BATCH {
        return Err(bad(
            "ids",
            format!("{} cases selected; at most {MAX_BATCH} at once", ids.len()),
        ));
    }
    let action = Batch::parse(field(&f, "action")).ok_or_else(|| {
        bad(
            "action",
            "use assign_me, assign, unassign, label_fraud, label_genuine, close_fraud or close_genuine".into(),
        )
    })?;
    let note = field(&f, "note").trim();
    if note.is_empty() {
        return Err(bad(
            "note",
            "say why (it is audited with every case of the batch)".into(),
        ));
    }
    if matches!(action, Batch::Label(_)) && !may_label(&s) {
        return Err(Fail::Page(
            StatusCode::FORBIDDEN,
            format!("key `{}` may not label", s.caller.name()),
        ));
    }
    let target = match action {
        Batch::AssignMe => Some(s.caller.name().to_string()),
        Batch::Assign => {
            let t = field(&f, "assignee").trim();
            if t.is_empty() {
                return Err(bad(
                    "assignee",
                    "give the key name to assign the cases to".into(),
                ));
            }
            let keys = c.app.registry.list_keys().await.map_err(reg_fail)?;
            if !keys.iter().any(|k| k.name == t && k.revoked_at.is_none()) {
                return Err(bad(
                    "assignee",
                    format!("no active API key is named `{t}`: assign to a key name (riskstream keys list)"),
                ));
            }
            Some(t.to_string())
        }
        _ => None,
    };
    // The page to go back to: the queue as it was, rebuilt from the parsed filters (nothing
    // else from the form reaches a link).
    let back: QueueQuery = serde_urlencoded::from_str(field(&f, "back")).unwrap_or_default();
    let back = format!(
        "/console/cases?{}",
        serde_urlencoded::to_string(&back).unwrap_or_default()
    );
    let mut rows = Vec::with_capacity(ids.len());
    for id in ids {
        let r = batch_one(&c, &s, action, target.as_deref(), id, note).await;
        rows.push(BatchRow {
            href: format!("/console/cases/{}", seg(id)),
            id: id.to_string(),
            ok: r.is_ok(),
            result: match r {
                Ok(t) => t,
                Err(Fail::Page(_, m)) => m,
                Err(Fail::Redirect(_)) => "the session ended".into(),
            },
        });
    }
    let done = rows.iter().filter(|r| r.ok).count();
    tracing::info!(
        key = s.caller.name(),
        action = action.text(),
        done,
        failed = rows.len() - done,
        "console: batch action"
    );
    Ok(render(&BatchPage {
        nav: s.nav(),
        action: action.text(),
        note: note.to_string(),
        failed: rows.len() - done,
        done,
        rows,
        back,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_query_is_checked() {
        let q = QueueQuery {
            score_min: Some("0.5".into()),
            mine: Some("1".into()),
            to: Some("2026-01-01".into()),
            sort: Some("score_desc".into()),
            after: Some("0.75~17~serve:cards:9".into()),
            ..Default::default()
        };
        let (cq, page) = q.to_case_query("ana").unwrap_or_else(|_| panic!("valid"));
        let at = CaseCursor {
            score: Some(0.75),
            created_at: 17,
            id: "serve:cards:9".into(),
        };
        assert_eq!(page, CasePage::After(at.clone()));
        assert_eq!(cq.assignee.as_deref(), Some("ana"));
        assert_eq!(cq.score_min, Some(0.5));
        assert_eq!(cq.sort, CaseSort::ScoreDesc);
        assert_eq!(cq.status, Some(CaseStatus::Open));
        for bad in [
            QueueQuery {
                score_max: Some("x".into()),
                ..Default::default()
            },
            QueueQuery {
                after: Some("0.5~x~y".into()),
                ..Default::default()
            },
            QueueQuery {
                before: Some("-~1~a".into()),
                last: Some("1".into()),
                ..Default::default()
            },
            QueueQuery {
                status: Some("maybe".into()),
                ..Default::default()
            },
        ] {
            assert!(bad.to_case_query("ana").is_err());
        }
        let before = q.link(&CasePage::Before(at));
        assert!(
            before.contains("before=0.75%7E17%7Eserve%3Acards%3A9")
                && before.contains("sort=score_desc")
                && !before.contains("after="),
            "{before}"
        );
        assert!(q.link(&CasePage::Last).contains("last=1"));
        assert!(!q.link(&CasePage::First).contains("after="));
    }

    #[test]
    fn batch_actions_parse_and_name_themselves() {
        for a in [
            "assign_me",
            "assign",
            "unassign",
            "label_fraud",
            "label_genuine",
            "close_fraud",
            "close_genuine",
        ] {
            let b = Batch::parse(a).unwrap_or_else(|| panic!("{a}"));
            assert!(!b.text().is_empty());
        }
        assert_eq!(Batch::parse("delete"), None);
        assert_eq!(
            Batch::parse("label_fraud"),
            Some(Batch::Label(CaseLabel::Fraud))
        );
    }
}
