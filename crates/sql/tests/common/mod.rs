//! A slice of the fraud handbook's raw file (every 20th transaction over the six months,
//! so the last 30 days hold data), written as the files analysts query: the transactions
//! as gzip CSV and as a folder of two Parquet files, and delayed labels (two thirds of the
//! transactions) as NDJSON. The oracle side reads the same CSV with riskstream-io alone.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use riskstream_core::Schema;
use riskstream_io::table::{load, LoadOptions, Table};
use riskstream_sql::{EngineOptions, QueryResult, SqlEngine};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;

/// Every how many transactions the slice keeps one.
pub const EVERY: usize = 20;

pub const LABELS_SCHEMA: &str = r#"
name = "handbook-labels"
id = "TRANSACTION_ID"
[[field]]
name = "TRANSACTION_ID"
type = "int"
[[field]]
name = "TX_FRAUD"
type = "int"
"#;

pub struct Slice {
    pub dir: tempfile::TempDir,
    /// The transactions, gzip CSV.
    pub csv_gz: PathBuf,
    /// The same rows as two Parquet files in one folder.
    pub parquet_dir: PathBuf,
    /// TRANSACTION_ID, TX_FRAUD of the transactions whose id is not a multiple of 3.
    pub labels: PathBuf,
    /// The transactions read by riskstream-io (the oracle's input).
    pub table: Table,
}

/// The handbook's raw file, or `None` after printing SKIP.
pub fn raw() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    let dir = std::env::var_os("RISKSTREAM_DATA")
        .map(PathBuf::from)
        .unwrap_or(root);
    let p = dir.join("fraud-handbook-simulated/raw/transactions_2018-04-01_2018-09-30.csv.gz");
    if p.is_file() {
        Some(p)
    } else {
        eprintln!(
            "SKIP: {} is absent; this test queries the fraud handbook's raw file and needs \
             ../shared/data (set RISKSTREAM_DATA to point elsewhere); CI has it.",
            p.display()
        );
        None
    }
}

pub fn slice() -> Option<Slice> {
    let raw = raw()?;
    let dir = tempfile::tempdir().unwrap();
    let csv_gz = dir.path().join("tx.csv.gz");
    let input = BufReader::new(flate2::read::MultiGzDecoder::new(
        std::fs::File::open(&raw).unwrap(),
    ));
    let mut out = flate2::write::GzEncoder::new(
        std::fs::File::create(&csv_gz).unwrap(),
        flate2::Compression::fast(),
    );
    for (i, line) in input.lines().enumerate() {
        let line = line.unwrap();
        if i == 0 || (i - 1) % EVERY == 0 {
            writeln!(out, "{line}").unwrap();
        }
    }
    out.finish().unwrap();
    let table = load(
        &csv_gz,
        &LoadOptions {
            schema: Some("fraud-handbook-raw".into()),
            dead_letter: Some(dir.path().join("oracle.rejected.ndjson")),
            ..Default::default()
        },
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(
        table.stats.rejected, 0,
        "the published file has no bad rows"
    );
    assert!(table.rows > 80_000, "{} rows", table.rows);

    let ids = table.numeric("TRANSACTION_ID", "test").unwrap();
    let fraud = table.numeric("TX_FRAUD", "test").unwrap();
    let labels = dir.path().join("labels.ndjson");
    let mut l = std::io::BufWriter::new(std::fs::File::create(&labels).unwrap());
    for (id, f) in ids.iter().zip(fraud) {
        if (*id as i64) % 3 != 0 {
            writeln!(
                l,
                r#"{{"TRANSACTION_ID":{},"TX_FRAUD":{}}}"#,
                *id as i64, *f as i64
            )
            .unwrap();
        }
    }
    l.flush().unwrap();

    // The same rows as Parquet, split in two files of one folder, written by riskstream-io.
    let parquet_dir = dir.path().join("tx_parquet");
    std::fs::create_dir(&parquet_dir).unwrap();
    let schema = riskstream_core::schema::builtin("fraud-handbook-raw").unwrap();
    let mut reader = riskstream_io::EventReader::open(
        &csv_gz,
        &schema,
        &riskstream_io::ReadOptions::default(),
        Box::new(riskstream_io::DiscardDeadLetters),
    )
    .unwrap();
    let batches: Vec<_> = reader.by_ref().map(|b| b.unwrap()).collect();
    let half = batches.len().div_ceil(2);
    for (k, part) in batches.chunks(half).enumerate() {
        let mut w = riskstream_io::BatchWriter::create(
            &parquet_dir.join(format!("part-{k}.parquet")),
            reader.arrow_schema(),
            &riskstream_io::WriteOptions::default(),
        )
        .unwrap();
        for b in part {
            w.write(b).unwrap();
        }
        w.finish().unwrap();
    }
    Some(Slice {
        dir,
        csv_gz,
        parquet_dir,
        labels,
        table,
    })
}

/// An engine with `tx` (gzip CSV, the handbook schema) and `labels` (NDJSON, its schema).
pub fn engine(s: &Slice) -> SqlEngine {
    let mut e = SqlEngine::new(EngineOptions {
        dead_letter_dir: Some(s.dir.path().to_path_buf()),
        ..Default::default()
    })
    .unwrap();
    let tx = e
        .register(
            "tx",
            &s.csv_gz,
            Some(riskstream_core::schema::builtin("fraud-handbook-raw").unwrap()),
        )
        .unwrap();
    assert!(tx.notes.is_empty(), "{:?}", tx.notes);
    let labels = Schema::from_toml_str(LABELS_SCHEMA, "labels schema").unwrap();
    e.register("labels", &s.labels, Some(labels)).unwrap();
    e
}

fn column(r: &QueryResult, name: &str, to: &DataType) -> Vec<ArrayRef> {
    let i = r
        .schema
        .index_of(name)
        .unwrap_or_else(|_| panic!("no column {name} in {:?}", r.schema));
    r.batches
        .iter()
        .map(|b| cast(b.column(i), to).unwrap())
        .collect()
}

/// A result column as integers (null as `i64::MIN`).
pub fn ints(r: &QueryResult, name: &str) -> Vec<i64> {
    column(r, name, &DataType::Int64)
        .iter()
        .flat_map(|a| {
            let a = a.as_primitive::<Int64Type>().clone();
            (0..a.len()).map(move |i| if a.is_null(i) { i64::MIN } else { a.value(i) })
        })
        .collect()
}

/// A result column as floats (null as NaN).
pub fn floats(r: &QueryResult, name: &str) -> Vec<f64> {
    column(r, name, &DataType::Float64)
        .iter()
        .flat_map(|a| {
            let a = a.as_primitive::<Float64Type>().clone();
            (0..a.len()).map(move |i| if a.is_null(i) { f64::NAN } else { a.value(i) })
        })
        .collect()
}

/// A result column as text.
pub fn texts(r: &QueryResult, name: &str) -> Vec<String> {
    column(r, name, &DataType::Utf8)
        .iter()
        .flat_map(|a| {
            let a = a.as_string::<i32>().clone();
            (0..a.len()).map(move |i| a.value(i).to_string())
        })
        .collect()
}
