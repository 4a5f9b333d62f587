//! Labels: fraud or genuine, for a transaction decided earlier. A label goes to the
//! feature state (for specs that take labels as events) and to every online model, which
//! learns from the row it saw at decision time; what is remembered makes a repeated label
//! a duplicate and a contradicting one a conflict (or a correction).

use super::{Decider, MAX_ID_BYTES};
use crate::decision::LabelOutcome;
use crate::error::DecideError;
use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, RecordBatch};
use riskstream_core::time::format_micros;
use riskstream_core::FieldType;
use riskstream_features::spec::LabelMode;
use riskstream_features::FeatureSpec;
use std::sync::Arc;

/// Where label events go, for specs with `[labels] mode = "events"`.
#[derive(Debug)]
pub(super) struct LabelTarget {
    schema: riskstream_core::Schema,
    tx_id: usize,
    value: usize,
    time: usize,
}

impl LabelTarget {
    /// Where `spec`'s label events go, if it takes labels as events.
    pub(super) fn of(spec: &FeatureSpec) -> Option<LabelTarget> {
        match &spec.labels {
            LabelMode::Events {
                schema,
                tx_id,
                value,
            } => schema.event_time.map(|time| LabelTarget {
                schema: schema.clone(),
                tx_id: *tx_id,
                value: *value,
                time,
            }),
            LabelMode::Inline => None,
        }
    }
}

impl Decider {
    /// Records a label: feeds it to the feature state when the spec takes labels as events
    /// (so label-based features see it from now on), and to every online model, which
    /// learns from the feature row it saw when the transaction was decided. `time` is when
    /// the label became known (µs since the epoch).
    pub fn label(
        &mut self,
        tx_id: &str,
        fraud: bool,
        time: i64,
    ) -> Result<LabelOutcome, DecideError> {
        self.label_with(tx_id, fraud, time, false)
    }

    /// [`Decider::label`], checked against what is remembered: the same label again is a
    /// duplicate and changes nothing; a label contradicting an earlier one is refused
    /// ([`DecideError::Conflict`]) unless `correction` is set, when the new verdict is
    /// recorded (and reported as a correction) but nothing learns from it again — what an
    /// online model learned cannot be taken back. A label for a transaction that is not
    /// known is refused ([`DecideError::UnknownTransaction`]); so is a label time before
    /// 1970, before the transaction's own time, or too far ahead of the clock.
    pub fn label_with(
        &mut self,
        tx_id: &str,
        fraud: bool,
        time: i64,
        correction: bool,
    ) -> Result<LabelOutcome, DecideError> {
        let mut out = LabelOutcome {
            known: false,
            feature_state: false,
            learned: Vec::new(),
            drift: Vec::new(),
            duplicate: false,
            correction: false,
        };
        if tx_id.is_empty() || tx_id.len() > MAX_ID_BYTES {
            return Err(DecideError::input(
                Some("tx_id".into()),
                format!(
                    "the id is {} bytes long; give 1 to {MAX_ID_BYTES}",
                    tx_id.len()
                ),
            ));
        }
        if time < 0 {
            return Err(DecideError::input(
                Some("time".into()),
                format!(
                    "{} is before 1970; give the time the label became known",
                    format_micros(time)
                ),
            ));
        }
        self.check_ahead(|| format!("label of `{tx_id}`"), time)?;
        if let Some(&prior) = self.recall.labels.get(tx_id) {
            out.known = true;
            if prior == fraud {
                out.duplicate = true;
                return Ok(out);
            }
            if !correction {
                return Err(DecideError::Conflict(format!(
                    "transaction `{tx_id}` is already labelled {}; to change it, send the label again with \"correction\": true (it is recorded as a correction)",
                    if prior { "fraud" } else { "genuine" }
                )));
            }
            self.recall.labels.put(tx_id, fraud);
            out.correction = true;
            return Ok(out);
        }
        if let Some(r) = self.recall.decisions.get(tx_id) {
            if time < r.time {
                return Err(DecideError::input(
                    Some("time".into()),
                    format!(
                        "{} is before the transaction's own time {}",
                        format_micros(time),
                        format_micros(r.time)
                    ),
                ));
            }
        }
        let remembered =
            self.recall.decisions.get(tx_id).is_some() || self.rows.map.contains_key(tx_id);
        if let Some(t) = &self.labels {
            let batch = label_batch(t, tx_id, fraud, time)?;
            let before = self.engine.stats().labels_applied;
            self.engine.push_labels(&batch, &mut |_| {})?;
            self.engine.release_all();
            self.engine.take_feature_rows(&mut self.feat_buf);
            out.feature_state = true;
            out.known |= self.engine.stats().labels_applied > before;
        }
        self.counters.labels += 1;
        if let Some(row) = self.rows.take(tx_id) {
            out.known = true;
            let mut x = Vec::new();
            for o in &self.online {
                x.clear();
                x.extend(
                    o.columns
                        .iter()
                        .map(|&c| row.get(c).copied().unwrap_or(f64::NAN)),
                );
                let Ok(mut m) = o.model.lock() else { continue };
                // A refused row is counted in the model's `learn_errors`.
                if let Ok(drift) = m.learn(&x, fraud) {
                    out.learned.push(o.id.clone());
                    if drift {
                        out.drift.push(o.id.clone());
                    }
                }
            }
        }
        out.known |= remembered;
        if !out.known {
            self.counters.labels_unknown += 1;
            return Err(DecideError::UnknownTransaction {
                tx_id: tx_id.to_string(),
                window: self.recall.decisions.capacity(),
            });
        }
        if self.recall.labels.capacity() > 0 {
            self.recall.labels.put(tx_id, fraud);
        }
        Ok(out)
    }
}

/// A one-row batch of the label schema: the transaction id, the label, the time; other
/// fields null.
fn label_batch(
    t: &LabelTarget,
    tx_id: &str,
    fraud: bool,
    time: i64,
) -> Result<RecordBatch, DecideError> {
    use arrow_array::{
        BooleanArray, DictionaryArray, Float64Array, Int64Array, StringArray,
        TimestampMicrosecondArray,
    };
    let y = u8::from(fraud);
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(t.schema.fields.len());
    for (i, f) in t.schema.fields.iter().enumerate() {
        let a: ArrayRef = if i == t.tx_id {
            match f.ty {
                FieldType::Int => {
                    let v = tx_id.trim().parse::<i64>().map_err(|_| {
                        DecideError::input(
                            Some("tx_id".into()),
                            format!(
                                "`{tx_id}` is not an integer; the label schema's `{}` is an int",
                                f.name
                            ),
                        )
                    })?;
                    Arc::new(Int64Array::from(vec![v]))
                }
                FieldType::Category => Arc::new(
                    [Some(tx_id)]
                        .into_iter()
                        .collect::<DictionaryArray<Int32Type>>(),
                ),
                _ => Arc::new(StringArray::from(vec![tx_id])),
            }
        } else if i == t.value {
            match f.ty {
                FieldType::Bool => Arc::new(BooleanArray::from(vec![fraud])),
                FieldType::Float => Arc::new(Float64Array::from(vec![f64::from(y)])),
                _ => Arc::new(Int64Array::from(vec![i64::from(y)])),
            }
        } else if i == t.time {
            Arc::new(TimestampMicrosecondArray::from(vec![time]).with_timezone("+00:00"))
        } else {
            arrow_array::new_null_array(&riskstream_io::arrow_type(f.ty), 1)
        };
        cols.push(a);
    }
    RecordBatch::try_new(riskstream_io::arrow_schema(&t.schema), cols)
        .map_err(|e| DecideError::input(None, format!("cannot build the label event: {e}")))
}
