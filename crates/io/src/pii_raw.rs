//! Personal data in what a reader keeps of a rejected row.
//!
//! A dead letter keeps the row's original text so it can be repaired and replayed; for a
//! schema with `pii` fields that text would be the one place a card number survives in
//! clear. So before a rejection reaches any sink:
//!
//! ```text
//!  raw line ─▶ split like the reader (CSV: csv-core with the file's delimiter and header
//!     │        map; NDJSON / Parquet rows: a JSON object)
//!     ├─ split ─▶ each pii field's value treated as in the accepted rows (drop: emptied)
//!     └─ not  ─▶ kept as it is
//!  ─▶ every remaining Luhn-valid 13–19 digit run starred but its last four (any column,
//!     or a line too broken to split) ─▶ `raw` (and `raw_base64`, made from these bytes)
//!  detail of a pii field ─▶ says which check failed, never the value
//! ```
//!
//! A treated CSV line is written back with minimal quoting, so its bytes can differ from
//! the original in quoting only. Without `pii` fields nothing here runs: raw stays exact.

use crate::deadletter::Reason;
use crate::error::IoError;
use riskstream_core::pii::{scan, Protector, Treatment};
use riskstream_core::Schema;
use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

/// How the reader splits a line of its input.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Shape<'a> {
    /// CSV: the file column of each schema field, the column count, the delimiter.
    Csv {
        map: &'a [Option<usize>],
        ncols: usize,
        delimiter: u8,
    },
    /// A JSON object per row (NDJSON lines, Parquet rows as the dead letter shows them).
    Json,
}

/// The protector a reader of `schema` uses: the one given, else the environment's keys
/// when the schema has `pii` fields (none needed otherwise).
pub(crate) fn protector(
    schema: &Schema,
    given: Option<&Arc<Protector>>,
) -> Result<Arc<Protector>, IoError> {
    if let Some(p) = given {
        return Ok(p.clone());
    }
    if schema.pii_fields().next().is_none() {
        return Ok(Arc::new(Protector::without_keys()));
    }
    Protector::from_env()
        .map(Arc::new)
        .map_err(|d| IoError::Pii(d.to_string()))
}

/// The error for a `pii` field that holds values but has no key to treat them with.
pub(crate) fn no_key(path: &Path, schema: &Schema, field: usize) -> IoError {
    let f = &schema.fields[field];
    IoError::Pii(format!(
        "{}: field `{}` is marked pii = \"{}\" in schema `{}`, which needs a key, and no PII key \
         is configured (hint: set {} to a key file or {} to `id:hex`; see the README's \
         \"Data protection\")",
        path.display(),
        f.name,
        f.pii.map_or("", Treatment::name),
        schema.name,
        riskstream_core::pii::KEYS_FILE_ENV,
        riskstream_core::pii::KEYS_ENV,
    ))
}

/// Refuses, before any row is read, a file that has a column needing a key when there is
/// none (a file without the column reads as before).
pub(crate) fn check_keys(
    path: &Path,
    schema: &Schema,
    map: &[Option<usize>],
    p: &Protector,
) -> Result<(), IoError> {
    if p.has_keys() {
        return Ok(());
    }
    match schema
        .pii_fields()
        .find(|&(i, t)| t.needs_key() && map[i].is_some())
    {
        Some((i, _)) => Err(no_key(path, schema, i)),
        None => Ok(()),
    }
}

/// The detail of a rejection: a pii field's says what failed without its value; any other
/// has its card numbers starred.
pub(crate) fn protect_detail(
    schema: &Schema,
    field: Option<usize>,
    reason: Reason,
    detail: String,
) -> String {
    if schema.pii_fields().next().is_none() {
        return detail;
    }
    if let Some(f) = field.map(|i| &schema.fields[i]) {
        if let Some(t) = f.pii {
            let hidden = hidden(reason, &f.name, t);
            // A detail that starts like this was written by the pii check itself, and what
            // follows says what is wrong without the value.
            if detail.starts_with(&hidden) {
                return detail;
            }
            return hidden;
        }
    }
    let mut b = detail.into_bytes();
    scan::redact_pans(&mut b);
    // Starring replaces ASCII digits with an ASCII byte: still UTF-8.
    String::from_utf8(b).unwrap_or_default()
}

/// The start of every rejection detail of a pii field: where, never the value.
pub(crate) fn hidden(reason: Reason, field: &str, t: Treatment) -> String {
    format!("{reason} in `{field}` (pii = \"{t}\": the value is not shown)")
}

/// The raw text of a rejected row with its personal data treated (see the module docs).
pub(crate) fn protect_raw<'r>(
    schema: &Schema,
    p: &Protector,
    shape: Shape<'_>,
    raw: &'r [u8],
) -> Cow<'r, [u8]> {
    if schema.pii_fields().next().is_none() {
        return Cow::Borrowed(raw);
    }
    let mut out = match shape {
        Shape::Csv {
            map,
            ncols,
            delimiter,
        } => csv(schema, p, map, ncols, delimiter, raw),
        Shape::Json => json(schema, p, raw),
    }
    .unwrap_or_else(|| raw.to_vec());
    scan::redact_pans(&mut out);
    Cow::Owned(out)
}

/// A pii value as it goes into a dead letter: treated, or empty (dropped, or no key).
fn treat(p: &Protector, t: Treatment, v: &str) -> Option<String> {
    if t == Treatment::Drop || v.is_empty() {
        return None;
    }
    let mut s = String::new();
    p.apply(t, v, &mut s).ok()?;
    Some(s)
}

fn csv(
    schema: &Schema,
    p: &Protector,
    map: &[Option<usize>],
    ncols: usize,
    delimiter: u8,
    raw: &[u8],
) -> Option<Vec<u8>> {
    let mut parser = csv_core::ReaderBuilder::new().delimiter(delimiter).build();
    let (mut out, mut ends) = (Vec::new(), Vec::new());
    let nf = crate::reader::split_csv(&mut parser, raw, &mut out, &mut ends).ok()?;
    if nf != ncols {
        return None;
    }
    let mut fields: Vec<Vec<u8>> = (0..nf)
        .map(|k| out[if k == 0 { 0 } else { ends[k - 1] }..ends[k]].to_vec())
        .collect();
    let mut changed = false;
    for (i, t) in schema.pii_fields() {
        if let Some(k) = map[i] {
            if fields[k].is_empty() {
                continue;
            }
            let v = String::from_utf8_lossy(&fields[k]).into_owned();
            fields[k] = treat(p, t, v.trim()).unwrap_or_default().into_bytes();
            changed = true;
        }
    }
    if !changed {
        return None;
    }
    let mut line = Vec::with_capacity(raw.len());
    for (k, f) in fields.iter().enumerate() {
        if k > 0 {
            line.push(delimiter);
        }
        let quote = f
            .iter()
            .any(|&b| b == delimiter || b == b'"' || b == b'\n' || b == b'\r');
        if quote {
            line.push(b'"');
            for &b in f {
                if b == b'"' {
                    line.push(b'"');
                }
                line.push(b);
            }
            line.push(b'"');
        } else {
            line.extend_from_slice(f);
        }
    }
    Some(line)
}

fn json(schema: &Schema, p: &Protector, raw: &[u8]) -> Option<Vec<u8>> {
    let mut v: serde_json::Value = serde_json::from_slice(raw).ok()?;
    let obj = v.as_object_mut()?;
    let mut changed = false;
    for (i, t) in schema.pii_fields() {
        let name = &schema.fields[i].name;
        let text = match obj.get(name) {
            None | Some(serde_json::Value::Null) => continue,
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        changed = true;
        match treat(p, t, text.trim()) {
            Some(s) => {
                obj.insert(name.clone(), serde_json::Value::String(s));
            }
            None => {
                obj.remove(name);
            }
        }
    }
    if !changed {
        return None;
    }
    serde_json::to_vec(&v).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn schema() -> Schema {
        Schema::from_toml_str(
            r#"
name = "t"
[[field]]
name = "id"
type = "int"
[[field]]
name = "pan"
type = "string"
pii = "tokenize"
[[field]]
name = "name"
type = "string"
required = false
pii = "drop"
[[field]]
name = "phone"
type = "string"
required = false
pii = "mask"
"#,
            "t",
        )
        .unwrap()
    }

    fn keys() -> Protector {
        Protector::new(
            riskstream_core::pii::Keys::parse_inline(
                "k1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
                "t",
            )
            .unwrap(),
        )
    }

    #[test]
    fn csv_lines_have_their_pii_treated_and_stray_numbers_starred() {
        let (s, p) = (schema(), keys());
        let map = [Some(0), Some(1), Some(2), Some(3)];
        let shape = Shape::Csv {
            map: &map,
            ncols: 4,
            delimiter: b',',
        };
        let raw = b"x,4111111111111111,\"Doe, Jane\",+44 20 7946 0958";
        let got = String::from_utf8(protect_raw(&s, &p, shape, raw).into_owned()).unwrap();
        let token = p.token("4111111111111111").unwrap();
        assert_eq!(got, format!("x,{token},,+** ** **** 0958"));
        // Too broken to split: the card number is starred where it stands.
        let raw = b"x,4111111111111111,\"Doe";
        let got = String::from_utf8(protect_raw(&s, &p, shape, raw).into_owned()).unwrap();
        assert_eq!(got, "x,************1111,\"Doe");
        // A card number in a column that is not marked (here: the id) is starred too.
        let raw = b"5555555555554444,,,";
        let got = protect_raw(&s, &p, shape, raw);
        assert!(scan::find_pans(&got).is_empty());
    }

    #[test]
    fn json_rows_have_their_pii_treated() {
        let (s, p) = (schema(), keys());
        let raw =
            br#"{"id":"bad","pan":4111111111111111,"name":"Jane Doe","other":"5555555555554444"}"#;
        let got: serde_json::Value =
            serde_json::from_slice(&protect_raw(&s, &p, Shape::Json, raw)).unwrap();
        assert_eq!(got["pan"], p.token("4111111111111111").unwrap().as_str());
        assert!(got.get("name").is_none());
        assert_eq!(got["other"], "************4444");
        let d = protect_detail(
            &s,
            Some(1),
            Reason::WrongType,
            "`4111111111111111` x".into(),
        );
        assert_eq!(
            d,
            "wrong_type in `pan` (pii = \"tokenize\": the value is not shown)"
        );
        let d = protect_detail(&s, Some(0), Reason::BadInt, "`4111111111111111` no".into());
        assert_eq!(d, "`************1111` no");
    }
}
