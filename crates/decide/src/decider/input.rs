//! The first step of a decision: a JSON transaction decoded, checked and run through the
//! feature engine, giving its values as rules see them and its feature row (pass-through
//! fields as numbers, then features). Also the same path without a decision
//! ([`Decider::features`], [`Decider::warm_up`]).

use super::{fields_hash, Decider, Featured, MAX_ID_BYTES};
use crate::error::DecideError;
use crate::rules::TxValue;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use riskstream_core::time::format_micros;
use riskstream_features::spec::LatePolicy;

impl Decider {
    /// Feeds historical transactions (a batch of the spec's schema, in event-time order)
    /// into the feature state without deciding: warming up a fresh decider. Returns the
    /// number of rows that produced features (late ones under `drop`/`dead_letter` do not).
    pub fn warm_up(&mut self, batch: &RecordBatch) -> Result<usize, DecideError> {
        self.engine.push_transactions(batch, &mut |_| {})?;
        self.engine.release_all();
        let n = self.engine.take_feature_rows(&mut self.feat_buf);
        // Rows without features were late and set aside by the spec's policy.
        self.counters.late += batch.num_rows().saturating_sub(n) as u64;
        if let Some(i) = self.spec().schema.event_time {
            if let Some(t) = batch
                .column(i)
                .as_primitive_opt::<TimestampMicrosecondType>()
                .and_then(|a| a.iter().flatten().max())
            {
                self.max_time = self.max_time.max(t);
            }
        }
        Ok(n)
    }

    /// Computes one transaction's features without deciding (the first stage of a
    /// repartitioned pipeline): the feature state moves on exactly as in
    /// [`Decider::decide`], and the same errors apply.
    /// `key` names a field (schema index) whose value is returned as text, e.g. to pick
    /// the transaction's partition by another entity.
    pub fn features(
        &mut self,
        tx: &serde_json::Map<String, serde_json::Value>,
        key: Option<usize>,
    ) -> Result<Featured, DecideError> {
        let (txv, time, tx_id, _) = self.compute(tx)?;
        self.max_time = self.max_time.max(time);
        let nf = self.spec().features.len();
        let order = match self.id_field.and_then(|i| txv.get(i)) {
            Some(TxValue::Int(i)) => *i,
            _ => 0,
        };
        let key = key.and_then(|k| txv.get(k)).and_then(TxValue::text);
        Ok(Featured {
            tx_id,
            time,
            order,
            values: self.feat_buf[self.feat_buf.len() - nf..].to_vec(),
            key,
        })
    }

    /// Decodes `tx` and runs it through the feature engine: (its values, event time, id,
    /// µs it was moved forward by the live tolerance). The features are the last
    /// `spec.features.len()` values of `feat_buf`.
    pub(super) fn compute(
        &mut self,
        tx: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(Vec<TxValue>, i64, String, Option<i64>), DecideError> {
        let batch = match self.decoder.decode(tx) {
            Ok(b) => b,
            Err(e) => {
                self.counters.input_errors += 1;
                return Err(DecideError::input(e.field, e.message));
            }
        };
        let txv = tx_values(&batch);
        let time = match txv.get(self.time_field) {
            Some(TxValue::Int(t)) => *t,
            _ => {
                self.counters.input_errors += 1;
                return Err(DecideError::input(
                    None,
                    "the event time is missing; the schema's event_time field is required",
                ));
            }
        };
        let tx_id = match self
            .id_field
            .and_then(|i| txv.get(i))
            .and_then(TxValue::text)
        {
            Some(id) => id,
            None => format!("#{}", self.counters.decisions + 1),
        };
        if tx_id.len() > MAX_ID_BYTES {
            self.counters.input_errors += 1;
            return Err(DecideError::input(
                self.id_field
                    .map(|i| self.spec().schema.fields[i].name.clone()),
                format!(
                    "the id is {} bytes long; at most {MAX_ID_BYTES} are accepted",
                    tx_id.len()
                ),
            ));
        }
        if let Some(r) = self.recall.decisions.get(&tx_id) {
            return Err(if r.fields_hash == fields_hash(&self.decoder.protect(tx)) {
                DecideError::Duplicate {
                    tx_id,
                    original: r.json.clone(),
                }
            } else {
                DecideError::Conflict(format!(
                    "transaction id `{tx_id}` was already decided with other fields; a retry must resend the same transaction, and a new transaction needs a new id"
                ))
            });
        }
        self.check_ahead(|| format!("transaction `{tx_id}`"), time)?;

        // Features, now.
        let clamped_before = self.engine.late_clamped();
        let released = self.engine.last_released_time();
        self.engine.push_transactions(&batch, &mut |_| {})?;
        self.engine.release_all();
        let n = self.engine.take_feature_rows(&mut self.feat_buf);
        let nf = self.spec().features.len();
        if n == 0 || self.feat_buf.len() < nf {
            self.counters.late += 1;
            return Err(DecideError::Late {
                tx_id,
                time: format_micros(time),
                watermark: if self.max_time == i64::MIN {
                    "the start".into()
                } else {
                    format_micros(self.max_time)
                },
                policy: match self.spec().time.late_events {
                    LatePolicy::Update => "update",
                    LatePolicy::Drop => "drop",
                    LatePolicy::DeadLetter => "dead_letter",
                }
                .into(),
            });
        }
        let late_by_us = (self.engine.late_clamped() > clamped_before)
            .then(|| released.map_or(0, |r| r.saturating_sub(time)));
        let feats = &self.feat_buf[self.feat_buf.len() - nf..];
        self.latest
            .record(|f| txv.get(f).and_then(TxValue::text), time, &tx_id, feats);
        Ok((txv, time, tx_id, late_by_us))
    }

    /// The pass-through fields of a transaction as numbers: the start of its feature row.
    pub(super) fn pass_row(&self, txv: &[TxValue]) -> Vec<f64> {
        let mut row = Vec::with_capacity(self.columns.len());
        row.extend(self.pass_fields.iter().map(|&i| match &txv[i] {
            TxValue::Int(v) => *v as f64,
            TxValue::Float(v) => *v,
            TxValue::Bool(b) => f64::from(u8::from(*b)),
            TxValue::Null | TxValue::Str(_) => f64::NAN,
        }));
        row
    }
}

/// The values of a one-row batch, as rules see them.
pub(super) fn tx_values(batch: &RecordBatch) -> Vec<TxValue> {
    batch
        .columns()
        .iter()
        .map(|c| {
            if c.is_null(0) {
                return TxValue::Null;
            }
            if let Some(a) = c.as_primitive_opt::<Int64Type>() {
                TxValue::Int(a.value(0))
            } else if let Some(a) = c.as_primitive_opt::<Float64Type>() {
                TxValue::Float(a.value(0))
            } else if let Some(a) = c.as_primitive_opt::<TimestampMicrosecondType>() {
                TxValue::Int(a.value(0))
            } else if let Some(a) = c.as_boolean_opt() {
                TxValue::Bool(a.value(0))
            } else if let Some(a) = c.as_string_opt::<i32>() {
                TxValue::Str(a.value(0).to_string())
            } else if let Some(d) = c.as_dictionary_opt::<Int32Type>() {
                let k = d.keys().value(0) as usize;
                TxValue::Str(
                    d.values()
                        .as_string_opt::<i32>()
                        .map(|v| v.value(k).to_string())
                        .unwrap_or_default(),
                )
            } else {
                TxValue::Null
            }
        })
        .collect()
}
