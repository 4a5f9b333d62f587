//! Parquet sink: one immutable file per partition per checkpoint, named by the source
//! offsets it covers.
//!
//! ```text
//!  write(p, offset, id, json) ─▶ rows buffered per partition (bounded by the checkpoint
//!                                 interval: `every` records or `interval`)
//!  flush (before each checkpoint) ─▶ <dir>/.tmp-<prefix>.p<p>.<first>-<last>.parquet
//!                                 ─▶ fsync ─▶ rename to <prefix>.p<p>.<first>-<last>.parquet
//!  open after a crash ─▶ files of p whose first offset is past the checkpoint are deleted
//!                        (their checkpoint never landed; the replay writes them again)
//! ```
//!
//! Why per checkpoint: Parquet files cannot be appended to, and a half-written one is
//! unreadable. Writing whole files at the moment the pipeline makes its state durable, and
//! naming them by the offsets inside, makes the directory exactly the decisions up to the
//! last checkpoint — what a reader (DataFusion, Spark, DuckDB) sees is never partial or
//! doubled.
//!
//! Columns: `partition`, `source_offset`, `id`, then `tx_id`, `outcome` and `score` taken
//! from the output when it has them (null otherwise: dead letters), and `json`, the whole
//! output.

use crate::error::ConnectorError;
use arrow_array::builder::{Float64Builder, StringBuilder, UInt32Builder, UInt64Builder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use riskstream_io::{BatchWriter, WriteOptions};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn io(path: &Path) -> impl Fn(std::io::Error) -> ConnectorError + '_ {
    move |source| ConnectorError::Io {
        path: path.display().to_string(),
        source,
    }
}

#[derive(Default)]
struct Rows {
    offsets: Vec<u64>,
    ids: Vec<String>,
    json: Vec<Vec<u8>>,
}

/// Writes outputs as Parquet files in a directory, one per partition and checkpoint.
pub struct ParquetSink {
    dir: PathBuf,
    prefix: String,
    schema: SchemaRef,
    rows: BTreeMap<u32, Rows>,
    files: u64,
}

impl std::fmt::Debug for ParquetSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetSink")
            .field("dir", &self.dir)
            .field("prefix", &self.prefix)
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

/// `<prefix>.p<p>.<first>-<last>.parquet` → (p, first).
fn parse_name(prefix: &str, name: &str) -> Option<(u32, u64)> {
    let rest = name.strip_prefix(prefix)?.strip_prefix(".p")?;
    let rest = rest.strip_suffix(".parquet")?;
    let (p, range) = rest.split_once('.')?;
    let (first, _) = range.split_once('-')?;
    Some((p.parse().ok()?, first.parse().ok()?))
}

impl ParquetSink {
    /// Opens `dir` (creating it) for partitions `resume`'s keys; for each, removes files
    /// starting after its checkpointed source offset (all of them when it has none) and
    /// leftovers of interrupted writes.
    pub fn open(
        dir: &Path,
        prefix: &str,
        resume: &BTreeMap<u32, Option<u64>>,
    ) -> Result<Self, ConnectorError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        for e in std::fs::read_dir(dir).map_err(io(dir))? {
            let e = e.map_err(io(dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            let stale = if name.starts_with(&format!(".tmp-{prefix}.p")) {
                true
            } else if let Some((p, first)) = parse_name(prefix, &name) {
                match resume.get(&p) {
                    Some(Some(done)) => first > *done,
                    Some(None) => true,
                    None => false, // another worker's partition
                }
            } else {
                false
            };
            if stale {
                std::fs::remove_file(e.path()).map_err(io(&e.path()))?;
            }
        }
        let schema = Arc::new(Schema::new(vec![
            Field::new("partition", DataType::UInt32, false),
            Field::new("source_offset", DataType::UInt64, false),
            Field::new("id", DataType::Utf8, false),
            Field::new("tx_id", DataType::Utf8, true),
            Field::new("outcome", DataType::Utf8, true),
            Field::new("score", DataType::Float64, true),
            Field::new("json", DataType::Utf8, false),
        ]));
        Ok(Self {
            dir: dir.to_path_buf(),
            prefix: prefix.to_string(),
            schema,
            rows: BTreeMap::new(),
            files: 0,
        })
    }

    /// Buffers one output of partition `p`.
    pub fn write(&mut self, p: u32, offset: u64, id: &str, json: Vec<u8>) {
        let r = self.rows.entry(p).or_default();
        r.offsets.push(offset);
        r.ids.push(id.to_string());
        r.json.push(json);
    }

    /// Files written so far.
    pub fn files(&self) -> u64 {
        self.files
    }

    fn batch(&self, p: u32, r: &Rows) -> Result<RecordBatch, String> {
        let n = r.offsets.len();
        let mut part = UInt32Builder::with_capacity(n);
        let mut off = UInt64Builder::with_capacity(n);
        let mut id = StringBuilder::new();
        let mut tx = StringBuilder::new();
        let mut outcome = StringBuilder::new();
        let mut score = Float64Builder::with_capacity(n);
        let mut json = StringBuilder::new();
        for i in 0..n {
            part.append_value(p);
            off.append_value(r.offsets[i]);
            id.append_value(&r.ids[i]);
            let text = String::from_utf8_lossy(&r.json[i]);
            let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            tx.append_option(v.get("tx_id").and_then(|x| x.as_str()));
            outcome.append_option(v.get("outcome").and_then(|x| x.as_str()));
            score.append_option(v.get("score").and_then(|x| x.as_f64()));
            json.append_value(text);
        }
        let cols: Vec<ArrayRef> = vec![
            Arc::new(part.finish()),
            Arc::new(off.finish()),
            Arc::new(id.finish()),
            Arc::new(tx.finish()),
            Arc::new(outcome.finish()),
            Arc::new(score.finish()),
            Arc::new(json.finish()),
        ];
        RecordBatch::try_new(self.schema.clone(), cols).map_err(|e| e.to_string())
    }

    /// Writes each partition's buffered rows to its own file, durably (before a checkpoint
    /// records the offsets they cover).
    pub fn flush(&mut self) -> Result<(), ConnectorError> {
        let rows = std::mem::take(&mut self.rows);
        for (p, r) in &rows {
            let (Some(first), Some(last)) = (r.offsets.first(), r.offsets.last()) else {
                continue;
            };
            let name = format!("{}.p{p}.{first:020}-{last:020}.parquet", self.prefix);
            let tmp = self.dir.join(format!(".tmp-{name}"));
            let fin = self.dir.join(&name);
            let fail = |m: String| ConnectorError::Io {
                path: tmp.display().to_string(),
                source: std::io::Error::other(m),
            };
            let batch = self.batch(*p, r).map_err(&fail)?;
            let mut w = BatchWriter::create(&tmp, self.schema.clone(), &WriteOptions::default())
                .map_err(|e| fail(e.to_string()))?;
            w.write(&batch).map_err(|e| fail(e.to_string()))?;
            w.finish().map_err(|e| fail(e.to_string()))?;
            riskstream_core::fs::commit(&tmp, &fin).map_err(io(&fin))?;
            self.files += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn files_past_the_checkpoint_are_removed_on_open() {
        let d = tempfile::tempdir().unwrap();
        let none = BTreeMap::from([(0, None), (1, None)]);
        let mut s = ParquetSink::open(d.path(), "decisions", &none).unwrap();
        s.write(
            0,
            5,
            "0-5",
            br#"{"tx_id":"a","outcome":"approve","score":0.1}"#.to_vec(),
        );
        s.write(0, 9, "0-9", br#"{"tx_id":"b","outcome":"review"}"#.to_vec());
        s.write(1, 3, "1-3", br#"{"origin":"x","reason":"bad"}"#.to_vec());
        s.flush().unwrap();
        s.write(
            0,
            12,
            "0-12",
            br#"{"tx_id":"c","outcome":"decline"}"#.to_vec(),
        );
        s.flush().unwrap();
        let names = |d: &Path| {
            let mut v: Vec<String> = std::fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        assert_eq!(names(d.path()).len(), 3);
        // The checkpoint covered partition 0 up to offset 9 and partition 1 up to 3.
        let resume = BTreeMap::from([(0, Some(9)), (1, Some(3))]);
        ParquetSink::open(d.path(), "decisions", &resume).unwrap();
        assert_eq!(
            names(d.path()),
            vec![
                format!("decisions.p0.{:020}-{:020}.parquet", 5, 9),
                format!("decisions.p1.{:020}-{:020}.parquet", 3, 3),
            ]
        );
        assert_eq!(
            parse_name(
                "decisions",
                "decisions.p12.00000000000000000007-00000000000000000009.parquet"
            ),
            Some((12, 7))
        );
    }
}
