//! The complaints page: the routing queue of classified complaints (one table per predicted
//! team, highest escalation risk first), and topics over time with examples per topic.
//!
//! Where the data come from, and why there: the queue is read from the audit records that
//! `POST /v1/complaints/classify` writes (`complaints.classify`: label, score, reasons,
//! sentiment, escalation risk — never the narrative), so it needs no store of its own and
//! shows exactly what the service answered. The topics are the summary `riskstream text
//! topics --summary` writes (`[complaints] topics`), read at each view, so a nightly job can
//! refresh it; topics are a batch computation over a period, not a per-request one.

use super::{reg_fail, render, require_analyst, signed, text_of, Fail, Nav, C};
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use riskstream_core::time::format_micros;
use riskstream_registry::AuditQuery;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};

/// The most recent classified complaints the queue shows.
pub const RECENT: usize = 2_000;
/// Escalation risk at or above which a complaint is marked high.
pub const HIGH_RISK: f64 = 0.5;

/// One complaint in the queue.
#[derive(Debug)]
pub struct QueueRow {
    id: String,
    when: String,
    score: String,
    risk: String,
    high: bool,
    sentiment: String,
    reasons: String,
    risk_reasons: String,
}

/// One team's queue.
#[derive(Debug)]
pub struct Team {
    label: String,
    anchor: String,
    high: usize,
    rows: Vec<QueueRow>,
}

/// An example text of a topic.
#[derive(Debug)]
pub struct Example {
    id: String,
    text: String,
}

/// One topic of the summary.
#[derive(Debug)]
pub struct TopicRow {
    topic: String,
    words: String,
    texts: String,
    examples: Vec<Example>,
}

/// One period of the trend: a cell per topic.
#[derive(Debug)]
pub struct PeriodRow {
    period: String,
    cells: Vec<Cell>,
}

/// A topic's share in a period.
#[derive(Debug)]
pub struct Cell {
    share: String,
    emerging: bool,
}

#[derive(Template)]
#[template(path = "complaints.html")]
struct ComplaintsPage {
    nav: Nav,
    total: usize,
    teams: Vec<Team>,
    topics_note: String,
    topics_from: String,
    topics: Vec<TopicRow>,
    topic_heads: Vec<String>,
    periods: Vec<PeriodRow>,
}

fn f3(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.3}"))
}

/// Reasons as `phrase (+0.123); …`.
fn reasons(v: &Value) -> String {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    format!(
                        "{} ({:+.3})",
                        text_of(&r["text"]),
                        r["weight"].as_f64().unwrap_or(0.0)
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default()
}

/// The queue from audit records, newest answer per complaint, grouped by label, each team
/// highest risk first (complaints without a risk last, newest first among equals).
pub fn queue(entries: &[(i64, String, Value)]) -> Vec<Team> {
    let mut sorted: Vec<&(i64, String, Value)> = entries.iter().collect();
    sorted.sort_by_key(|e| std::cmp::Reverse(e.0));
    let mut seen = HashSet::new();
    let mut by: BTreeMap<String, Vec<(Option<f64>, i64, QueueRow)>> = BTreeMap::new();
    for (time, subject, a) in sorted {
        if !seen.insert(subject.as_str()) {
            continue;
        }
        let risk = a["escalation"]["risk"].as_f64();
        let row = QueueRow {
            id: subject.clone(),
            when: format_micros(*time - *time % 1_000_000),
            score: f3(a["score"].as_f64()),
            risk: f3(risk),
            high: risk.is_some_and(|r| r >= HIGH_RISK),
            sentiment: f3(a["sentiment"]["compound"].as_f64()),
            reasons: reasons(&a["reasons"]),
            risk_reasons: reasons(&a["escalation"]["reasons"]),
        };
        by.entry(text_of(&a["label"]))
            .or_default()
            .push((risk, *time, row));
    }
    by.into_iter()
        .map(|(label, mut rows)| {
            rows.sort_by(|a, b| {
                b.0.unwrap_or(-1.0)
                    .total_cmp(&a.0.unwrap_or(-1.0))
                    .then(b.1.cmp(&a.1))
            });
            let anchor = format!(
                "team-{}",
                label
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() {
                        c.to_ascii_lowercase()
                    } else {
                        '-'
                    })
                    .collect::<String>()
            );
            Team {
                high: rows.iter().filter(|r| r.2.high).count(),
                label,
                anchor,
                rows: rows.into_iter().map(|r| r.2).collect(),
            }
        })
        .collect()
}

/// The topics, the trend's column heads and its rows.
pub type TopicTables = (Vec<TopicRow>, Vec<String>, Vec<PeriodRow>);

/// The topic tables from a summary file's JSON.
pub fn topic_tables(v: &Value) -> Result<TopicTables, String> {
    if v["format"] != "riskstream-text-topics" {
        return Err(
            "not a topic summary (write one with `riskstream text topics --summary FILE`)".into(),
        );
    }
    let topics_v = v["topics"].as_array().ok_or("no `topics` array")?;
    let mut topics = Vec::new();
    for t in topics_v {
        let words: Vec<String> = t["words"]
            .as_array()
            .map(|a| a.iter().map(text_of).collect())
            .unwrap_or_default();
        let examples = t["examples"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| Example {
                        id: text_of(&e["id"]),
                        text: text_of(&e["text"]),
                    })
                    .collect()
            })
            .unwrap_or_default();
        topics.push(TopicRow {
            topic: text_of(&t["topic"]),
            words: words.join(", "),
            texts: text_of(&t["texts"]),
            examples,
        });
    }
    let k = topics.len();
    let mut periods: BTreeMap<String, Vec<Cell>> = BTreeMap::new();
    for r in v["trend"].as_array().into_iter().flatten() {
        let Some(topic) = r["topic"].as_u64().map(|t| t as usize).filter(|t| *t < k) else {
            continue;
        };
        let cells = periods.entry(text_of(&r["period"])).or_insert_with(|| {
            (0..k)
                .map(|_| Cell {
                    share: "–".into(),
                    emerging: false,
                })
                .collect()
        });
        cells[topic] = Cell {
            share: format!("{:.1} %", 100.0 * r["share"].as_f64().unwrap_or(0.0)),
            emerging: r["emerging"].as_bool().unwrap_or(false),
        };
    }
    let heads = topics
        .iter()
        .map(|t| format!("topic {}", t.topic))
        .collect();
    let periods = periods
        .into_iter()
        .map(|(period, cells)| PeriodRow { period, cells })
        .collect();
    Ok((topics, heads, periods))
}

/// `GET /console/complaints`: the routing queue and the topics.
pub async fn complaints_page(State(c): C, headers: HeaderMap) -> Result<Response, Fail> {
    let s = signed(&c, &headers, false).await?;
    require_analyst(&s)?;
    let Some(cfg) = &c.app.cfg.complaints else {
        return Err(Fail::Page(
            StatusCode::NOT_FOUND,
            "complaint classification is not configured: add a [complaints] section to the service config".into(),
        ));
    };
    let q = AuditQuery {
        actions: vec!["complaints.classify".into()],
        limit: RECENT,
        ..Default::default()
    };
    if let Some(w) = &c.app.audit {
        // Answers still in the audit queue belong in the queue page.
        if let Err(e) = w.flush().await {
            tracing::warn!(error = %e, "console: audit flush before the complaints page");
        }
    }
    let entries: Vec<(i64, String, Value)> = c
        .app
        .registry
        .audit_find(&q)
        .await
        .map_err(reg_fail)?
        .into_iter()
        .filter_map(|e| e.after.map(|a| (e.time, e.subject, a)))
        .collect();
    let teams = queue(&entries);
    let total = teams.iter().map(|t| t.rows.len()).sum();
    let (mut topics_note, mut topics_from) = (String::new(), String::new());
    let (mut topics, mut topic_heads, mut periods) = (Vec::new(), Vec::new(), Vec::new());
    match &cfg.topics {
        None => {
            topics_note = "No topic summary configured: set `topics` in [complaints] to the file `riskstream text topics --summary` writes.".into();
        }
        Some(p) => {
            // Written by `text topics --summary`, encrypted when master keys are set.
            let read = riskstream_core::crypt::read_file(p)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<Value>(&b).map_err(|e| e.to_string()))
                .and_then(|v| {
                    topics_from = format!(
                        "{} texts of {}, written {}",
                        text_of(&v["texts"]),
                        text_of(&v["input"]),
                        text_of(&v["written_at"])
                    );
                    topic_tables(&v)
                });
            match read {
                Ok((t, h, pr)) => (topics, topic_heads, periods) = (t, h, pr),
                Err(e) => {
                    topics_note = format!("The topic summary {} cannot be read: {e}", p.display())
                }
            }
        }
    }
    Ok(render(&ComplaintsPage {
        nav: s.nav(),
        total,
        teams,
        topics_note,
        topics_from,
        topics,
        topic_heads,
        periods,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_queue_keeps_the_newest_answer_and_puts_high_risk_first() {
        let e = vec![
            (
                1,
                "a".to_string(),
                json!({"label": "Cards", "score": 0.9, "escalation": {"risk": 0.2, "reasons": []}}),
            ),
            (
                2,
                "b".to_string(),
                json!({"label": "Cards", "score": 0.8, "escalation": {"risk": 0.9, "reasons": [{"text": "refund", "weight": 0.5}]}}),
            ),
            (
                3,
                "a".to_string(),
                json!({"label": "Mortgage", "score": 0.7}),
            ),
            (
                4,
                "c".to_string(),
                json!({"label": "Cards", "score": 0.6, "escalation": {"risk": 0.5, "reasons": []}}),
            ),
        ];
        let q = queue(&e);
        assert_eq!(q.len(), 2);
        assert_eq!(q[0].label, "Cards");
        let ids: Vec<&str> = q[0].rows.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["b", "c"], "`a` moved to Mortgage; highest risk first");
        assert_eq!(q[0].high, 2);
        assert_eq!(q[0].rows[0].risk_reasons, "refund (+0.500)");
        assert_eq!(q[1].rows[0].risk, "–");
    }

    #[test]
    fn topic_tables_read_a_summary() {
        let v = json!({"format": "riskstream-text-topics", "topics": [
            {"topic": 0, "words": ["fee", "overdraft"], "texts": 5, "examples": [{"id": "1", "text": "an overdraft fee"}]},
            {"topic": 1, "words": ["escrow"], "texts": 2, "examples": []}],
            "trend": [{"period": "2026-11-30", "topic": 1, "count": 2, "share": 0.5, "emerging": true},
                      {"period": "2026-11-23", "topic": 0, "count": 3, "share": 1.0, "emerging": false},
                      {"period": "2026-11-23", "topic": 9, "count": 3, "share": 1.0}]});
        let (t, h, p) = topic_tables(&v).unwrap();
        assert_eq!(t[0].words, "fee, overdraft");
        assert_eq!(h, ["topic 0", "topic 1"]);
        assert_eq!(p[0].period, "2026-11-23");
        assert_eq!(p[1].cells[1].share, "50.0 %");
        assert!(p[1].cells[1].emerging);
        assert!(topic_tables(&json!({"format": "x"})).is_err());
    }
}
