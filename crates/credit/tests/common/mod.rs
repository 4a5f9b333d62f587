//! Shared test helpers: the German credit data, read from `shared/data` beside the repo.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use riskstream_credit::data::Column;
use riskstream_credit::Table;
use riskstream_learn::Matrix;
use std::io::BufReader;
use std::path::PathBuf;

/// `shared/data` relative to the repository (the data are never committed).
pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

/// Reads a gzipped delimited file, or `None` (after saying so) when it is absent.
pub fn read_gz(rel: &str, delimiter: char) -> Option<Table> {
    let path = data_dir().join(rel);
    if !path.exists() {
        eprintln!(
            "SKIPPED: {} not found (the shared data are not checked in)",
            path.display()
        );
        return None;
    }
    let file = std::fs::File::open(&path).expect("open data");
    let gz = flate2::read::GzDecoder::new(file);
    Some(Table::read_csv(BufReader::new(gz), delimiter).expect("parse CSV"))
}

/// German credit (symbolic codes): the table, the characteristic names and bad = true.
pub fn german() -> Option<(Table, Vec<String>, Vec<bool>)> {
    let t = read_gz("german-credit-statlog/german_credit.csv.gz", ',')?;
    let y = t.binary_label("class", "2").expect("class is 1/2");
    let names: Vec<String> = t.names.iter().filter(|n| *n != "class").cloned().collect();
    Some((t, names, y))
}

/// One-hot (categoricals, levels of the training rows) plus raw numeric columns.
pub fn one_hot(train: &Table, other: &Table, names: &[String]) -> (Matrix, Matrix, Vec<String>) {
    let mut cols_a: Vec<Vec<f64>> = Vec::new();
    let mut cols_b: Vec<Vec<f64>> = Vec::new();
    let mut feat = Vec::new();
    for name in names {
        match (train.column(name).unwrap(), other.column(name).unwrap()) {
            (Column::Numeric(a), Column::Numeric(b)) => {
                cols_a.push(a.clone());
                cols_b.push(b.clone());
                feat.push(name.clone());
            }
            (Column::Categorical(a), Column::Categorical(b)) => {
                let mut levels: Vec<&String> = a.iter().flatten().collect();
                levels.sort();
                levels.dedup();
                for l in levels.iter().skip(1) {
                    cols_a.push(
                        a.iter()
                            .map(|v| f64::from(u8::from(v.as_ref() == Some(*l))))
                            .collect(),
                    );
                    cols_b.push(
                        b.iter()
                            .map(|v| f64::from(u8::from(v.as_ref() == Some(*l))))
                            .collect(),
                    );
                    feat.push(format!("{name}={l}"));
                }
            }
            _ => panic!("column types differ"),
        }
    }
    (
        Matrix::from_columns(&cols_a).unwrap(),
        Matrix::from_columns(&cols_b).unwrap(),
        feat,
    )
}
