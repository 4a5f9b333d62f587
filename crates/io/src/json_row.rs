//! One JSON object in, one validated Arrow row out: the live path's decoder.
//!
//! A decision service receives transactions one at a time as JSON objects, but the
//! feature engine reads Arrow batches of the schema. [`JsonRowDecoder`] applies exactly
//! the checks the file readers apply to an NDJSON line (types, required fields, ranges,
//! category values; the same row assembler in `rows.rs` does the work) and returns a
//! one-row batch, or an error naming the field and what was expected. Two differences
//! from the NDJSON reader, both because a live request is not a file:
//!
//! * keys the schema does not declare are always refused (a misspelt field in a request
//!   must not silently become "missing"), and the error lists the allowed fields;
//! * `unique` is not enforced: remembering every id ever seen would grow without bound in
//!   a long-running service. Duplicate detection there belongs to whoever owns the ids.
//!
//! Fields marked `pii` are treated by the same row assembler, so the batch (and everything
//! the service derives from it: features, decisions, cases, audit) holds tokens or masks,
//! and an error message never repeats such a value.

use crate::deadletter::Reason;
use crate::rows::{Cell, RowAssembler};
use arrow_array::RecordBatch;
use riskstream_core::diag::did_you_mean;
use riskstream_core::pii::Protector;
use riskstream_core::Schema;
use serde_json::{Map, Value};
use std::sync::Arc;

/// Why a JSON object was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{message}", field.as_ref().map(|f| format!("field `{f}`: ")).unwrap_or_default())]
pub struct JsonRowError {
    /// The field at fault, when one is.
    pub field: Option<String>,
    /// The reason code (the same codes as dead letters).
    pub reason: Reason,
    /// What is wrong and what was expected.
    pub message: String,
}

/// Decodes JSON objects of one schema into validated one-row Arrow batches.
pub struct JsonRowDecoder {
    asm: RowAssembler,
    schema: Schema,
    allowed: String,
    /// Why the environment's PII keys could not be read, if they could not.
    key_problem: Option<String>,
}

impl std::fmt::Debug for JsonRowDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonRowDecoder")
            .field("schema", &self.schema.name)
            .finish_non_exhaustive()
    }
}

/// `obj` with `schema`'s `pii` fields treated by `p` (see [`JsonRowDecoder::protect`]);
/// also for holders of a transaction that decode none, e.g. a pipeline's HTTP intake
/// treating each record before its durable log holds it.
pub fn protect_object<'a>(
    schema: &Schema,
    p: &Protector,
    obj: &'a Map<String, Value>,
) -> std::borrow::Cow<'a, Map<String, Value>> {
    use std::borrow::Cow;
    let mut out: Option<Map<String, Value>> = None;
    for (i, t) in schema.pii_fields() {
        let name = &schema.fields[i].name;
        let text: Cow<'_, str> = match obj.get(name) {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) => Cow::Borrowed(s.as_str()),
            Some(other) => Cow::Owned(other.to_string()),
        };
        let mut treated = String::new();
        let keep = t != riskstream_core::pii::Treatment::Drop
            && !text.is_empty()
            && p.apply(t, &text, &mut treated).is_ok();
        if keep && matches!(obj.get(name), Some(Value::String(s)) if *s == treated) {
            continue;
        }
        let m = out.get_or_insert_with(|| obj.clone());
        if keep {
            m.insert(name.clone(), Value::String(treated));
        } else {
            m.remove(name);
        }
    }
    match out {
        Some(m) => Cow::Owned(m),
        None => Cow::Borrowed(obj),
    }
}

impl JsonRowDecoder {
    /// A decoder for `schema`, with the environment's PII keys when the schema has `pii`
    /// fields (`RISKSTREAM_PII_KEYS_FILE` or `RISKSTREAM_PII_KEYS`).
    pub fn new(schema: &Schema) -> Self {
        if schema.pii_fields().next().is_none() {
            return Self::with_protector(schema, Arc::new(Protector::without_keys()));
        }
        match Protector::from_env() {
            Ok(p) => Self::with_protector(schema, Arc::new(p)),
            Err(d) => {
                let mut me = Self::with_protector(schema, Arc::new(Protector::without_keys()));
                me.key_problem = Some(d.to_string());
                me
            }
        }
    }

    /// A decoder for `schema` treating its `pii` fields with `protector`.
    pub fn with_protector(schema: &Schema, protector: Arc<Protector>) -> Self {
        let mut schema = schema.clone();
        // See the module docs: no unbounded id memory in a service.
        for f in &mut schema.fields {
            f.unique = false;
        }
        let allowed = schema
            .fields
            .iter()
            .map(|f| format!("{} ({})", f.name, f.ty))
            .collect::<Vec<_>>()
            .join(", ");
        Self {
            asm: RowAssembler::new(&schema, 1, protector),
            schema,
            allowed,
            key_problem: None,
        }
    }

    /// The schema rows are checked against.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// `obj` with its `pii` fields treated as [`JsonRowDecoder::decode`] treats them (a
    /// dropped field, or one that cannot be treated, left out): what a service may keep of
    /// a transaction (a write-ahead log, a case). Treatments are idempotent, so a treated
    /// object gives the same batch, and the same result here, as the original.
    pub fn protect<'a>(
        &self,
        obj: &'a Map<String, Value>,
    ) -> std::borrow::Cow<'a, Map<String, Value>> {
        protect_object(&self.schema, self.asm.protector(), obj)
    }

    /// Checks `obj` and returns it as a one-row batch of the schema's Arrow layout
    /// ([`crate::arrow_schema`]). On error nothing is kept.
    pub fn decode(&mut self, obj: &Map<String, Value>) -> Result<RecordBatch, JsonRowError> {
        if let Some(k) = obj.keys().find(|k| self.schema.index_of(k).is_none()) {
            let mut message = format!(
                "not declared in schema `{}`; allowed fields: {}",
                self.schema.name, self.allowed
            );
            if let Some(h) = did_you_mean(k, self.schema.fields.iter().map(|f| f.name.as_str())) {
                message.push_str(&format!("; {h}"));
            }
            return Err(JsonRowError {
                field: Some(k.clone()),
                reason: Reason::UnknownField,
                message,
            });
        }
        let mut cells = Vec::with_capacity(self.schema.fields.len());
        for f in &self.schema.fields {
            cells.push(match obj.get(&f.name) {
                None | Some(Value::Null) => Cell::Null,
                Some(Value::Bool(b)) => Cell::Bool(*b),
                Some(Value::Number(n)) => match n.as_i64() {
                    Some(v) => Cell::Int(v),
                    None => Cell::Float(n.as_f64().unwrap_or(f64::NAN)),
                },
                Some(Value::String(s)) => Cell::Text(s.as_str()),
                Some(other) => {
                    return Err(JsonRowError {
                        field: Some(f.name.clone()),
                        reason: Reason::WrongType,
                        message: format!(
                            "expected {}, found a JSON {}",
                            f.ty,
                            if other.is_array() { "array" } else { "object" }
                        ),
                    })
                }
            });
        }
        if let Err(e) = self.asm.push(&cells) {
            let field = e.field.map(|i| self.schema.fields[i].name.clone());
            if self.asm.take_missing_key().is_some() {
                return Err(JsonRowError {
                    field,
                    reason: e.reason,
                    message: format!(
                        "cannot be treated: the field is marked pii and this service has no \
                         PII key ({})",
                        self.key_problem.as_deref().unwrap_or(
                            "set RISKSTREAM_PII_KEYS_FILE or RISKSTREAM_PII_KEYS for the service"
                        )
                    ),
                });
            }
            let detail = crate::pii_raw::protect_detail(&self.schema, e.field, e.reason, e.detail);
            let e = crate::rows::RowError { detail, ..e };
            let message = match (e.reason, &field) {
                (Reason::MissingField, Some(f)) => format!(
                    "required field `{f}` is missing or null (expected {})",
                    self.schema.fields[e.field.unwrap_or_default()].ty
                ),
                _ => e.detail,
            };
            return Err(JsonRowError {
                field,
                reason: e.reason,
                message,
            });
        }
        self.asm.take_batch().map_err(|e| JsonRowError {
            field: None,
            reason: Reason::WrongType,
            message: format!("internal error building the row: {e}"),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const SCHEMA: &str = r#"
name = "tx"
id = "id"
event_time = "ts"
[[field]]
name = "id"
type = "int"
unique = true
[[field]]
name = "ts"
type = "timestamp"
[[field]]
name = "amount"
type = "float"
min = 0
[[field]]
name = "channel"
type = "category"
values = ["pos", "ecom"]
[[field]]
name = "note"
type = "string"
required = false
"#;

    fn obj(v: serde_json::Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn decodes_and_names_the_field_at_fault() {
        let schema = Schema::from_toml_str(SCHEMA, "tx").unwrap();
        let mut d = JsonRowDecoder::new(&schema);
        let ok = serde_json::json!({"id": 1, "ts": "2024-01-01 00:00:00", "amount": 3, "channel": "pos"});
        let b = d.decode(&obj(ok.clone())).unwrap();
        assert_eq!(b.num_rows(), 1);
        assert_eq!(b.num_columns(), 5);
        // `unique` is not enforced on the live path.
        assert_eq!(d.decode(&obj(ok)).unwrap().num_rows(), 1);

        let cases = [
            (
                serde_json::json!({"id": 1, "ts": "2024-01-01", "amount": "x", "channel": "pos"}),
                "amount",
                Reason::BadFloat,
            ),
            (
                serde_json::json!({"id": 1, "amount": 1.0, "channel": "pos"}),
                "ts",
                Reason::MissingField,
            ),
            (
                serde_json::json!({"id": 1, "ts": "2024-01-01", "amount": 1.0, "channel": "atm"}),
                "channel",
                Reason::UnknownCategory,
            ),
            (
                serde_json::json!({"id": 1, "ts": "2024-01-01", "amount": 1.0, "channel": "pos", "amont": 2}),
                "amont",
                Reason::UnknownField,
            ),
            (
                serde_json::json!({"id": [1], "ts": "2024-01-01", "amount": 1.0, "channel": "pos"}),
                "id",
                Reason::WrongType,
            ),
            (
                serde_json::json!({"id": 1, "ts": "2024-01-01", "amount": -1.0, "channel": "pos"}),
                "amount",
                Reason::OutOfRange,
            ),
        ];
        for (v, field, reason) in cases {
            let e = d.decode(&obj(v)).unwrap_err();
            assert_eq!(e.field.as_deref(), Some(field), "{e}");
            assert_eq!(e.reason, reason, "{e}");
        }
        let e = d
            .decode(&obj(serde_json::json!({"amont": 1})))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("allowed fields: id (int), ts (timestamp)"),
            "{e}"
        );
        assert!(e.contains("did you mean `amount`?"), "{e}");
        let e = d
            .decode(&obj(
                serde_json::json!({"id": 1, "amount": 1.0, "channel": "pos"}),
            ))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing or null (expected timestamp)"), "{e}");
    }

    #[test]
    fn pii_fields_are_treated_and_never_echoed() {
        let text =
            format!("{SCHEMA}[[field]]\nname = \"pan\"\ntype = \"string\"\npii = \"tokenize\"\n");
        let schema = Schema::from_toml_str(&text, "tx").unwrap();
        let keys = riskstream_core::pii::Keys::parse_inline(
            "k1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            "t",
        )
        .unwrap();
        let p = Arc::new(Protector::new(keys));
        let mut d = JsonRowDecoder::with_protector(&schema, p.clone());
        let b = d
            .decode(&obj(
                serde_json::json!({"id": 1, "ts": "2024-01-01", "amount": 3,
                "channel": "pos", "pan": "4111111111111111"}),
            ))
            .unwrap();
        use arrow_array::cast::AsArray;
        let pan = b.column(5).as_string::<i32>().value(0).to_string();
        assert_eq!(pan, p.token("4111111111111111").unwrap());
        let e = d
            .decode(&obj(
                serde_json::json!({"id": 1, "ts": "2024-01-01", "amount": 3,
                "channel": "pos", "pan": 4111111111111111u64}),
            ))
            .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("pan"));
        assert!(!e.to_string().contains("4111"), "{e}");
        // What a service may keep: treated, and treating it again changes nothing.
        let clear = obj(serde_json::json!({"id": 1, "ts": "2024-01-01", "amount": 3,
            "channel": "pos", "pan": "4111 1111 1111 1111"}));
        let kept = d.protect(&clear).into_owned();
        assert_eq!(kept["pan"], p.token("4111111111111111").unwrap().as_str());
        assert!(matches!(d.protect(&kept), std::borrow::Cow::Borrowed(_)));
        let b2 = d.decode(&kept).unwrap();
        assert_eq!(b2.column(5).as_string::<i32>().value(0), pan);
        // Without a key the value is refused, not passed on in clear.
        let mut d = JsonRowDecoder::with_protector(&schema, Arc::new(Protector::without_keys()));
        let e = d
            .decode(&obj(
                serde_json::json!({"id": 1, "ts": "2024-01-01", "amount": 3,
                "channel": "pos", "pan": "4111111111111111"}),
            ))
            .unwrap_err();
        assert!(e.to_string().contains("no PII key"), "{e}");
    }
}
