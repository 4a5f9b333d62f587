//! The case page's history of the case's entities: for each entity field the transaction
//! carries (the customer, the terminal, …), its latest decided transactions and its window
//! features over them, one small chart per feature with the case's own transaction marked.
//!
//! ```text
//!  case tx ─▶ CUSTOMER_ID = 42 ─▶ AppState::entity_history("CUSTOMER_ID", "42", 20)
//!                                   ▼ each: event, feature row, decision (audit record)
//!            table: time, tx, outcome, score, rules, the event's other fields
//!            charts: the features keyed by CUSTOMER_ID (the feature spec's), oldest → newest
//! ```
//!
//! Why the entity's own window features: they are what moved when the customer or the
//! terminal changed behaviour (a burst of transactions, a higher mean amount), the thing an
//! analyst checks first. Everything is rendered on the server; the charts are inline SVG
//! with the values in a table beside them, readable without JavaScript.

use super::{score_text, text_of};
use crate::Console;
use riskstream_core::time::format_micros;
use serde_json::{Map, Value};

/// Events shown per entity.
pub(super) const HISTORY_ROWS: usize = 20;

/// One decided transaction of the entity.
pub(super) struct HistRow {
    pub when: String,
    pub tx_id: String,
    /// The case's own transaction.
    pub this: bool,
    pub outcome: String,
    pub score: String,
    pub rules: String,
    pub values: Vec<String>,
}

/// One feature over the entity's events.
pub(super) struct Spark {
    pub feature: String,
    /// SVG polyline points, oldest event on the left.
    pub points: String,
    /// The case's own point, if among the events.
    pub mark: Option<(f64, f64)>,
    pub low: String,
    pub high: String,
    pub last: String,
}

/// The history of one entity.
pub(super) struct EntitySection {
    pub field: String,
    pub value: String,
    /// The event fields shown as columns.
    pub columns: Vec<String>,
    pub rows: Vec<HistRow>,
    pub sparks: Vec<Spark>,
    /// Why there is nothing to show (empty when there is).
    pub note: String,
}

pub(super) const SPARK_W: f64 = 220.0;
pub(super) const SPARK_H: f64 = 48.0;

/// The sections of the entities `tx` carries; the case's transaction is `case_tx_id`.
pub(super) async fn sections(
    c: &Console,
    tx: Option<&Map<String, Value>>,
    case_tx_id: &str,
) -> Vec<EntitySection> {
    let Some(tx) = tx else { return Vec::new() };
    let schema = &c.app.spec.schema;
    let skip: Vec<usize> = schema
        .id
        .iter()
        .chain(schema.event_time.iter())
        .chain(schema.entities.iter())
        .chain(schema.labels.iter())
        .copied()
        .collect();
    let columns: Vec<String> = (0..schema.fields.len())
        .filter(|i| !skip.contains(i))
        .map(|i| schema.fields[i].name.clone())
        .take(4)
        .collect();
    // The window features keyed by each entity field, in spec order.
    let keyed: Vec<(String, Vec<String>)> = {
        let g = c.app.decider.lock().unwrap_or_else(|e| e.into_inner());
        g.latest()
            .fields()
            .iter()
            .map(|f| {
                (
                    f.name.clone(),
                    f.features.iter().map(|(_, n)| n.clone()).collect(),
                )
            })
            .collect()
    };
    let mut out = Vec::new();
    for field in c.app.events.entity_fields() {
        let Some(value) = tx
            .get(field)
            .and_then(riskstream_server::event_audit::entity_text)
        else {
            continue;
        };
        let features = keyed
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, n)| n.clone())
            .unwrap_or_default();
        let mut s = EntitySection {
            field: field.clone(),
            value: value.clone(),
            columns: columns.clone(),
            rows: Vec::new(),
            sparks: Vec::new(),
            note: String::new(),
        };
        match c
            .app
            .entity_history(field, &value, HISTORY_ROWS, None)
            .await
        {
            Err(e) => s.note = format!("The history could not be read: {e}"),
            Ok(events) if events.is_empty() => {
                s.note = "No decided transaction of this entity is held: the service keeps the last `[audit] history` transactions of its most recently active entities (none when that is 0 or the audit of decisions is off; decisions from before this version are not listed).".into();
            }
            Ok(events) => {
                for e in &events {
                    let d = e.record.after.as_ref().unwrap_or(&Value::Null);
                    let ev = e.record.before.as_ref().map(|b| &b["event"]);
                    s.rows.push(HistRow {
                        when: format_micros(e.event_time - e.event_time % 1_000_000),
                        tx_id: e.record.subject.clone(),
                        this: e.record.subject == case_tx_id,
                        outcome: text_of(&d["outcome"]),
                        score: score_text(d["score"].as_f64()),
                        rules: d["rules_fired"]
                            .as_array()
                            .map(|a| a.iter().map(text_of).collect::<Vec<_>>().join(", "))
                            .unwrap_or_default(),
                        values: columns
                            .iter()
                            .map(|c| ev.map(|ev| text_of(&ev[c])).unwrap_or_default())
                            .collect(),
                    });
                }
                // Oldest first for the charts.
                let chrono: Vec<_> = events.iter().rev().collect();
                for f in &features {
                    let ys: Vec<Option<f64>> = chrono
                        .iter()
                        .map(|e| {
                            e.record
                                .before
                                .as_ref()
                                .and_then(|b| b["features"][f].as_f64())
                        })
                        .collect();
                    let this = chrono.iter().position(|e| e.record.subject == case_tx_id);
                    if let Some(sp) = spark(f, &ys, this) {
                        s.sparks.push(sp);
                    }
                }
            }
        }
        out.push(s);
    }
    out
}

/// A small line chart of `ys` (oldest first; `None` where the row was not recorded),
/// scaled to its own range; `None` when no value is known.
fn spark(feature: &str, ys: &[Option<f64>], this: Option<usize>) -> Option<Spark> {
    let known: Vec<f64> = ys.iter().flatten().copied().collect();
    let (lo, hi) = known
        .iter()
        .fold(None, |r: Option<(f64, f64)>, &v| match r {
            None => Some((v, v)),
            Some((a, b)) => Some((a.min(v), b.max(v))),
        })?;
    let n = ys.len().max(2) - 1;
    let x = |i: usize| 4.0 + (SPARK_W - 8.0) * i as f64 / n as f64;
    let y = |v: f64| {
        if hi > lo {
            SPARK_H - 4.0 - (SPARK_H - 8.0) * (v - lo) / (hi - lo)
        } else {
            SPARK_H / 2.0
        }
    };
    let points = ys
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| format!("{:.1},{:.1}", x(i), y(v))))
        .collect::<Vec<_>>()
        .join(" ");
    let mark = this.and_then(|i| ys[i].map(|v| (x(i), y(v))));
    let fmt = |v: f64| {
        if v.fract() == 0.0 && v.abs() < 1e15 {
            format!("{v:.0}")
        } else {
            format!("{v:.3}")
        }
    };
    Some(Spark {
        feature: feature.to_string(),
        points,
        mark,
        low: fmt(lo),
        high: fmt(hi),
        last: known.last().map(|&v| fmt(v)).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spark_spans_its_range_and_marks_the_case() {
        let s = spark("f", &[Some(1.0), None, Some(3.0), Some(2.0)], Some(2)).unwrap();
        // Three known points, the highest at the top and the lowest at the bottom.
        assert_eq!(s.points, "4.0,44.0 145.3,4.0 216.0,24.0");
        let (mx, my) = s.mark.unwrap();
        assert!((mx - (4.0 + 212.0 * 2.0 / 3.0)).abs() < 1e-9 && my == 4.0);
        assert_eq!(
            (s.low.as_str(), s.high.as_str(), s.last.as_str()),
            ("1", "3", "2")
        );
        assert!(spark("f", &[None, None], None).is_none());
        // A flat series sits in the middle.
        let flat = spark("f", &[Some(0.5), Some(0.5)], None).unwrap();
        assert_eq!(flat.points, "4.0,24.0 216.0,24.0");
        assert_eq!(flat.low, "0.500");
    }
}
