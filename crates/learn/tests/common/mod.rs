//! Shared test data: the fraud handbook's transformed file (15 published features) read
//! into columns. Tests skip when `../shared/data` is absent.

#![allow(dead_code)]

use flate2::read::GzDecoder;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;

/// The handbook's 15 model inputs, in the book's order.
pub const FEATURES: [&str; 15] = [
    "TX_AMOUNT",
    "TX_DURING_WEEKEND",
    "TX_DURING_NIGHT",
    "CUSTOMER_ID_NB_TX_1DAY_WINDOW",
    "CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW",
    "CUSTOMER_ID_NB_TX_7DAY_WINDOW",
    "CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW",
    "CUSTOMER_ID_NB_TX_30DAY_WINDOW",
    "CUSTOMER_ID_AVG_AMOUNT_30DAY_WINDOW",
    "TERMINAL_ID_NB_TX_1DAY_WINDOW",
    "TERMINAL_ID_RISK_1DAY_WINDOW",
    "TERMINAL_ID_NB_TX_7DAY_WINDOW",
    "TERMINAL_ID_RISK_7DAY_WINDOW",
    "TERMINAL_ID_NB_TX_30DAY_WINDOW",
    "TERMINAL_ID_RISK_30DAY_WINDOW",
];

/// The transformed handbook file in memory.
pub struct Handbook {
    /// Feature columns, in [`FEATURES`] order.
    pub columns: Vec<Vec<f64>>,
    /// TX_FRAUD.
    pub labels: Vec<f64>,
    /// Day index (days since the Unix epoch) of TX_DATETIME.
    pub days: Vec<i64>,
    /// CUSTOMER_ID.
    pub customers: Vec<u64>,
}

/// Path of the transformed file.
pub fn path() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/fraud-handbook-simulated/transformed/transactions_2018-06-11_2018-09-14.csv.gz"
    ))
}

/// Reads the file, or returns `None` (with a note) when the shared data is absent.
pub fn load() -> Option<Handbook> {
    let p = path();
    let Ok(f) = std::fs::File::open(&p) else {
        eprintln!("skipping: {} not found", p.display());
        return None;
    };
    let mut lines = BufReader::new(GzDecoder::new(f)).lines();
    let header: Vec<String> = lines
        .next()
        .expect("header")
        .expect("read header")
        .split(',')
        .map(str::to_string)
        .collect();
    let col = |n: &str| header.iter().position(|h| h == n).expect(n);
    let fidx: Vec<usize> = FEATURES.iter().map(|f| col(f)).collect();
    let (dt, fraud, cust) = (col("TX_DATETIME"), col("TX_FRAUD"), col("CUSTOMER_ID"));
    let mut h = Handbook {
        columns: vec![Vec::new(); FEATURES.len()],
        labels: Vec::new(),
        days: Vec::new(),
        customers: Vec::new(),
    };
    for line in lines {
        let line = line.expect("read line");
        let v: Vec<&str> = line.split(',').collect();
        for (c, &i) in h.columns.iter_mut().zip(&fidx) {
            c.push(v[i].parse().expect("number"));
        }
        h.labels.push(v[fraud].parse().expect("label"));
        let t = riskstream_core::time::parse_iso8601(v[dt]).expect("time");
        h.days.push(t.div_euclid(86_400_000_000));
        h.customers.push(v[cust].parse().expect("customer"));
    }
    Some(h)
}

impl Handbook {
    /// The dataset of the given rows.
    pub fn dataset(&self, rows: &[usize]) -> riskstream_learn::Dataset {
        let mut data = Vec::with_capacity(rows.len() * FEATURES.len());
        for &i in rows {
            data.extend(self.columns.iter().map(|c| c[i]));
        }
        let x = riskstream_learn::Matrix::new(rows.len(), FEATURES.len(), data).expect("matrix");
        riskstream_learn::Dataset::new(
            x,
            rows.iter().map(|&i| self.labels[i]).collect(),
            FEATURES.iter().map(|s| s.to_string()).collect(),
        )
        .expect("dataset")
    }

    /// Day index of `YYYY-MM-DD`.
    pub fn day(s: &str) -> i64 {
        riskstream_core::time::parse_iso8601(s)
            .expect("date")
            .div_euclid(86_400_000_000)
    }
}
