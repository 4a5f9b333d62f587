//! Schema inference for files that match no shipped schema, so `inspect` works on any file.
//!
//! Text formats: the first rows (default 10,000) are sampled; a column is `int` if every
//! non-empty value parses as an integer, then `float`, `timestamp` (ISO-8601), `bool`, else
//! `string`; a column with empty cells is optional. Parquet: from the file's own types. The
//! inferred schema has no roles; write a schema file to declare them.

use crate::error::{IoError, Result};
use crate::format::{FileFormat, Format};
use crate::types::field_type_of;
use riskstream_core::time::{parse_iso8601, TimestampFormat};
use riskstream_core::{Field, FieldType, Schema};
use std::io::BufRead;
use std::path::Path;

fn field(name: &str, ty: FieldType, required: bool) -> Field {
    Field {
        name: name.to_string(),
        ty,
        required,
        unique: false,
        min: None,
        max: None,
        values: None,
        format: TimestampFormat::Iso8601,
        description: None,
        pii: None,
    }
}

#[derive(Clone, Copy)]
struct Guess {
    int: bool,
    float: bool,
    ts: bool,
    boolean: bool,
    empty: bool,
    seen: bool,
}

impl Guess {
    fn new() -> Self {
        Self {
            int: true,
            float: true,
            ts: true,
            boolean: true,
            empty: false,
            seen: false,
        }
    }
    fn add(&mut self, v: &str) {
        let v = v.trim();
        if v.is_empty() {
            self.empty = true;
            return;
        }
        self.seen = true;
        self.int &= v.parse::<i64>().is_ok();
        self.float &= v.parse::<f64>().is_ok_and(f64::is_finite);
        self.ts &= parse_iso8601(v).is_ok();
        self.boolean &= matches!(
            v.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no"
        );
    }
    fn ty(self) -> FieldType {
        match self {
            _ if !self.seen => FieldType::String,
            Guess { int: true, .. } => FieldType::Int,
            Guess { float: true, .. } => FieldType::Float,
            Guess { ts: true, .. } => FieldType::Timestamp,
            Guess { boolean: true, .. } => FieldType::Bool,
            _ => FieldType::String,
        }
    }
}

/// Infers a schema for `path` from its first `sample_rows` rows.
pub fn infer_schema(
    path: &Path,
    ff: FileFormat,
    delimiter: Option<u8>,
    sample_rows: usize,
) -> Result<Schema> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "inferred".into());
    let fields = match ff.format {
        Format::Parquet => {
            let b = crate::parquet_crypt::reader_builder(path)?;
            b.schema()
                .fields()
                .iter()
                .filter_map(|f| {
                    field_type_of(f.data_type()).map(|t| field(f.name(), t, !f.is_nullable()))
                })
                .collect()
        }
        Format::Csv => {
            let mut input = crate::reader::open_text(path)?;
            let delim = delimiter.unwrap_or(ff.delimiter);
            let mut rdr = csv_core::ReaderBuilder::new().delimiter(delim).build();
            let (mut out, mut ends) = (Vec::new(), Vec::new());
            let mut line = Vec::new();
            let mut names: Vec<String> = Vec::new();
            let mut guesses: Vec<Guess> = Vec::new();
            for n in 0..=sample_rows {
                line.clear();
                match input.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                while matches!(line.last(), Some(b'\n' | b'\r')) {
                    line.pop();
                }
                let Ok(nf) = crate::reader::split_csv(&mut rdr, &line, &mut out, &mut ends) else {
                    continue;
                };
                let cells: Vec<String> = (0..nf)
                    .map(|k| {
                        String::from_utf8_lossy(&out[if k == 0 { 0 } else { ends[k - 1] }..ends[k]])
                            .into_owned()
                    })
                    .collect();
                if n == 0 {
                    names = cells
                        .iter()
                        .map(|c| c.trim_start_matches('\u{feff}').trim().to_string())
                        .collect();
                    guesses = vec![Guess::new(); names.len()];
                } else if cells.len() == names.len() {
                    for (g, c) in guesses.iter_mut().zip(&cells) {
                        g.add(c);
                    }
                }
            }
            names
                .iter()
                .zip(&guesses)
                .map(|(n, g)| field(n, g.ty(), !g.empty && g.seen))
                .collect()
        }
        Format::Ndjson => {
            let mut input = crate::reader::open_text(path)?;
            let mut names: Vec<String> = Vec::new();
            let mut guesses: Vec<Guess> = Vec::new();
            let mut rows = 0usize;
            let mut line = String::new();
            while rows < sample_rows {
                line.clear();
                match input.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let Ok(serde_json::Value::Object(obj)) =
                    serde_json::from_str::<serde_json::Value>(&line)
                else {
                    continue;
                };
                rows += 1;
                for (k, v) in &obj {
                    let i = match names.iter().position(|n| n == k) {
                        Some(i) => i,
                        None => {
                            names.push(k.clone());
                            let mut g = Guess::new();
                            g.empty = rows > 1;
                            guesses.push(g);
                            names.len() - 1
                        }
                    };
                    match v {
                        serde_json::Value::Null => guesses[i].add(""),
                        serde_json::Value::String(s) => guesses[i].add(s),
                        other => guesses[i].add(&other.to_string()),
                    }
                }
                for (n, g) in names.iter().zip(guesses.iter_mut()) {
                    if !obj.contains_key(n) {
                        g.empty = true;
                    }
                }
            }
            names
                .iter()
                .zip(&guesses)
                .map(|(n, g)| field(n, g.ty(), !g.empty && g.seen))
                .collect()
        }
    };
    let schema = Schema {
        name,
        description: Some("inferred".into()),
        fields,
        id: None,
        event_time: None,
        entities: vec![],
        labels: vec![],
    };
    if schema.fields.is_empty() {
        return Err(IoError::Layout {
            path: path.to_path_buf(),
            message: "no columns found".into(),
            hint: Some("is the file empty?".into()),
        });
    }
    Ok(schema)
}
