//! Data-quality checks on streams: completeness, validity, uniqueness, freshness, volume,
//! stuck values and distribution drift, judged over tumbling event-time windows.
//!
//! ```text
//!  quality.toml ──QualitySpec::parse(schema)──▶ QualitySpec (every problem at once)
//!                                                  │
//!  records (JSON objects, Arrow batches) ──Row──▶ Monitor::observe ──▶ Quarantine? (record)
//!                                                  │ a window closes
//!                                                  ▼
//!                              WindowReport { per check: pass / fired / skipped / learning }
//! ```
//!
//! Why here, in `io`: the same checks run wherever records come in — `riskstream quality`
//! over files, the pipelines over Kafka, NATS and HTTP, the decision service — so they sit
//! beside the readers and the JSON decoder every one of those uses, and read records
//! through the small [`Row`] trait rather than one input's types. Values are read as the
//! readers give them, so a `pii` field is judged by its token: reports and dead-letter
//! reasons never quote a value.
//!
//! Sketches come from `datasketches` (Apache DataSketches' Rust port): KLL for the drift
//! check's quantiles, frequent items for the stuck check, so memory per window is fixed
//! however many records it holds.

mod monitor;
mod spec;
#[cfg(test)]
mod tests;

pub use monitor::{Cell, CheckResult, CheckTotals, Monitor, Quarantine, Row, Status, WindowReport};
pub use spec::{Action, Check, Clock, Kind, QualitySpec};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use riskstream_core::{FieldType, Schema};
use serde_json::{Map, Value};
use std::sync::Arc;

impl Monitor {
    /// A monitor for `spec` over records of `schema`.
    pub fn for_schema(spec: Arc<QualitySpec>, schema: &Schema) -> Self {
        let numeric: Vec<bool> = schema
            .fields
            .iter()
            .map(|f| matches!(f.ty, FieldType::Int | FieldType::Float | FieldType::Bool))
            .collect();
        Monitor::new(spec, &numeric)
    }

    /// Judges every row of a batch whose columns are named like the schema's fields (as
    /// the readers give them). Returns the rows a quarantine check refuses, with why.
    pub fn observe_batch(
        &mut self,
        schema: &Schema,
        batch: &RecordBatch,
        now_us: i64,
    ) -> Vec<(usize, Quarantine)> {
        let cols: Vec<Col<'_>> = schema
            .fields
            .iter()
            .map(|f| match batch.column_by_name(&f.name) {
                Some(a) => Col::of(a.as_ref()),
                None => Col::Missing,
            })
            .collect();
        let mut out = Vec::new();
        for row in 0..batch.num_rows() {
            let r = BatchRow {
                cols: &cols,
                row,
                time: schema.event_time,
            };
            if let Some(q) = self.observe(&r, now_us) {
                out.push((row, q));
            }
        }
        out
    }
}

/// A JSON object read as a record of `schema` (the decision service's and the pipelines'
/// input), before the schema's own checks.
#[derive(Debug)]
pub struct JsonRow<'a> {
    /// The record.
    pub object: &'a Map<String, Value>,
    /// Its schema.
    pub schema: &'a Schema,
}

impl Row for JsonRow<'_> {
    fn cell(&self, field: usize) -> Cell<'_> {
        let Some(f) = self.schema.fields.get(field) else {
            return Cell::Null;
        };
        match self.object.get(&f.name) {
            None | Some(Value::Null) => Cell::Null,
            Some(Value::Bool(b)) => Cell::Num(f64::from(u8::from(*b))),
            Some(Value::Number(n)) => n.as_f64().map_or(Cell::Other, Cell::Num),
            Some(Value::String(s)) => match f.ty {
                FieldType::Int | FieldType::Float if !s.trim().is_empty() => {
                    s.trim().parse::<f64>().map_or(Cell::Text(s), Cell::Num)
                }
                _ => Cell::Text(s),
            },
            Some(_) => Cell::Other,
        }
    }

    fn event_time(&self) -> Option<i64> {
        let f = &self.schema.fields[self.schema.event_time?];
        match self.object.get(&f.name)? {
            Value::String(s) => f.format.parse(s).ok(),
            _ => None,
        }
    }
}

enum Col<'a> {
    I64(&'a arrow_array::Int64Array),
    F64(&'a arrow_array::Float64Array),
    Str(&'a arrow_array::StringArray),
    Dict(
        &'a arrow_array::DictionaryArray<Int32Type>,
        &'a arrow_array::StringArray,
    ),
    Bool(&'a arrow_array::BooleanArray),
    Ts(&'a arrow_array::TimestampMicrosecondArray),
    Missing,
}

impl<'a> Col<'a> {
    fn of(a: &'a dyn Array) -> Self {
        match a.data_type() {
            DataType::Int64 => Col::I64(a.as_primitive::<Int64Type>()),
            DataType::Float64 => Col::F64(a.as_primitive::<Float64Type>()),
            DataType::Utf8 => Col::Str(a.as_string::<i32>()),
            DataType::Boolean => Col::Bool(a.as_boolean()),
            DataType::Timestamp(arrow_schema::TimeUnit::Microsecond, _) => {
                Col::Ts(a.as_primitive::<TimestampMicrosecondType>())
            }
            DataType::Dictionary(k, v) if **k == DataType::Int32 && **v == DataType::Utf8 => {
                let d = a.as_dictionary::<Int32Type>();
                Col::Dict(d, d.values().as_string::<i32>())
            }
            _ => Col::Missing,
        }
    }
}

struct BatchRow<'a, 'b> {
    cols: &'b [Col<'a>],
    row: usize,
    time: Option<usize>,
}

impl Row for BatchRow<'_, '_> {
    fn cell(&self, field: usize) -> Cell<'_> {
        let i = self.row;
        match self.cols.get(field) {
            Some(Col::I64(a)) if a.is_valid(i) => Cell::Num(a.value(i) as f64),
            Some(Col::F64(a)) if a.is_valid(i) => Cell::Num(a.value(i)),
            Some(Col::Str(a)) if a.is_valid(i) => Cell::Text(a.value(i)),
            Some(Col::Dict(d, v)) if d.is_valid(i) => {
                Cell::Text(v.value(d.keys().value(i) as usize))
            }
            Some(Col::Bool(a)) if a.is_valid(i) => Cell::Num(f64::from(u8::from(a.value(i)))),
            Some(Col::Ts(a)) if a.is_valid(i) => Cell::Num(a.value(i) as f64),
            _ => Cell::Null,
        }
    }

    fn event_time(&self) -> Option<i64> {
        match self.cols.get(self.time?)? {
            Col::Ts(a) if a.is_valid(self.row) => Some(a.value(self.row)),
            _ => None,
        }
    }
}
