//! MovieLens 100K, read once per test binary from `../shared/data`.

#![allow(dead_code)]

use riskstream_recommend::protocol::Row;
use std::io::Read;

/// The ratings with their official fold (1–5).
pub fn movielens() -> (Vec<Row>, Vec<u8>) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/movielens-100k/ratings.csv.gz"
    );
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut text = String::new();
    flate2::read::GzDecoder::new(f)
        .read_to_string(&mut text)
        .expect("gunzip ratings");
    let mut rows = Vec::new();
    let mut folds = Vec::new();
    for (k, line) in text.lines().skip(1).enumerate() {
        let c: Vec<&str> = line.split(',').collect();
        rows.push(Row {
            line: k + 1,
            user: c[0].to_string(),
            item: c[1].to_string(),
            value: Some(c[2].parse().expect("rating")),
        });
        folds.push(c[4].parse().expect("fold"));
    }
    assert_eq!(rows.len(), 100_000, "MovieLens 100K has 100,000 ratings");
    (rows, folds)
}
