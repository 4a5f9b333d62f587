//! The analysts' questions of the fraud handbook's transactions, asked in SQL and answered
//! again by plain loops over the rows riskstream-io read: every row must match.
//!
//! Integer answers (counts, frauds, amounts in cents) are compared exactly; the one ratio
//! is a single division of two exact integers on both sides, so it is exact too.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

use common::{engine, floats, ints, slice};
use std::collections::{BTreeMap, HashMap};

const DAY_US: i64 = 86_400_000_000;

#[test]
fn fraud_rate_by_day_and_terminal() {
    let Some(s) = slice() else { return };
    let e = engine(&s);
    let sql = r#"
        SELECT CAST(TX_DATETIME AS DATE) AS day, TERMINAL_ID,
               count(*) AS n, sum(TX_FRAUD) AS frauds,
               CAST(sum(TX_FRAUD) AS DOUBLE) / count(*) AS fraud_rate
        FROM tx
        GROUP BY CAST(TX_DATETIME AS DATE), TERMINAL_ID
        ORDER BY day, TERMINAL_ID"#;
    let r = e.query(sql).unwrap();

    let t = &s.table;
    let times = t.times("TX_DATETIME", "test").unwrap();
    let terminal = t.numeric("TERMINAL_ID", "test").unwrap();
    let fraud = t.numeric("TX_FRAUD", "test").unwrap();
    let mut want: BTreeMap<(i64, i64), (i64, i64)> = BTreeMap::new();
    for i in 0..t.rows {
        let g = want
            .entry((times[i].div_euclid(DAY_US), terminal[i] as i64))
            .or_default();
        g.0 += 1;
        g.1 += fraud[i] as i64;
    }
    let (day, term, n, frauds, rate) = (
        ints(&r, "day"),
        ints(&r, "TERMINAL_ID"),
        ints(&r, "n"),
        ints(&r, "frauds"),
        floats(&r, "fraud_rate"),
    );
    assert_eq!(r.rows(), want.len());
    for (k, ((d, tm), (wn, wf))) in want.iter().enumerate() {
        assert_eq!(
            (day[k], term[k], n[k], frauds[k]),
            (*d, *tm, *wn, *wf),
            "row {k}"
        );
        assert_eq!(rate[k], *wf as f64 / *wn as f64, "row {k}");
    }
    assert!(want.values().any(|g| g.1 > 0), "the slice holds frauds");
}

#[test]
fn top_ten_customers_by_amount_over_the_last_30_days() {
    let Some(s) = slice() else { return };
    let e = engine(&s);
    let sql = r#"
        SELECT CUSTOMER_ID, sum(CAST(round(TX_AMOUNT * 100) AS BIGINT)) AS cents, count(*) AS n
        FROM tx
        WHERE TX_DATETIME > (SELECT max(TX_DATETIME) FROM tx) - INTERVAL '30 days'
        GROUP BY CUSTOMER_ID
        ORDER BY cents DESC, CUSTOMER_ID
        LIMIT 10"#;
    let r = e.query(sql).unwrap();

    let t = &s.table;
    let times = t.times("TX_DATETIME", "test").unwrap();
    let customer = t.numeric("CUSTOMER_ID", "test").unwrap();
    let amount = t.numeric("TX_AMOUNT", "test").unwrap();
    let last = *times.iter().max().unwrap();
    let mut by: HashMap<i64, (i64, i64)> = HashMap::new();
    for i in 0..t.rows {
        if times[i] > last - 30 * DAY_US {
            let g = by.entry(customer[i] as i64).or_default();
            g.0 += (amount[i] * 100.0).round() as i64;
            g.1 += 1;
        }
    }
    let mut want: Vec<(i64, i64, i64)> = by.into_iter().map(|(c, (a, n))| (c, a, n)).collect();
    want.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    want.truncate(10);
    let got: Vec<(i64, i64, i64)> = ints(&r, "CUSTOMER_ID")
        .into_iter()
        .zip(ints(&r, "cents"))
        .zip(ints(&r, "n"))
        .map(|((c, a), n)| (c, a, n))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn transactions_joined_with_delayed_labels() {
    let Some(s) = slice() else { return };
    let e = engine(&s);
    let sql = r#"
        SELECT t.TERMINAL_ID, count(*) AS labelled, sum(l.TX_FRAUD) AS frauds
        FROM tx t JOIN labels l ON t.TRANSACTION_ID = l.TRANSACTION_ID
        WHERE t.TX_AMOUNT > 100
        GROUP BY t.TERMINAL_ID
        ORDER BY frauds DESC, labelled DESC, t.TERMINAL_ID"#;
    let r = e.query(sql).unwrap();

    let t = &s.table;
    let ids = t.numeric("TRANSACTION_ID", "test").unwrap();
    let terminal = t.numeric("TERMINAL_ID", "test").unwrap();
    let amount = t.numeric("TX_AMOUNT", "test").unwrap();
    // The labels file, read back as the oracle's own map (id → label).
    let mut label: HashMap<i64, i64> = HashMap::new();
    for line in std::fs::read_to_string(&s.labels).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        label.insert(
            v["TRANSACTION_ID"].as_i64().unwrap(),
            v["TX_FRAUD"].as_i64().unwrap(),
        );
    }
    assert!(label.len() < t.rows, "some labels are still missing");
    let mut by: HashMap<i64, (i64, i64)> = HashMap::new();
    for i in 0..t.rows {
        if amount[i] > 100.0 {
            if let Some(l) = label.get(&(ids[i] as i64)) {
                let g = by.entry(terminal[i] as i64).or_default();
                g.0 += 1;
                g.1 += l;
            }
        }
    }
    let mut want: Vec<(i64, i64, i64)> = by.into_iter().map(|(k, (n, f))| (k, n, f)).collect();
    want.sort_by(|a, b| b.2.cmp(&a.2).then(b.1.cmp(&a.1)).then(a.0.cmp(&b.0)));
    let got: Vec<(i64, i64, i64)> = ints(&r, "TERMINAL_ID")
        .into_iter()
        .zip(ints(&r, "labelled"))
        .zip(ints(&r, "frauds"))
        .map(|((k, n), f)| (k, n, f))
        .collect();
    assert_eq!(got.len(), want.len());
    assert_eq!(got, want);
    // The labels agree with the raw file's own column for every joined row.
    let check = e
        .query(
            "SELECT count(*) AS n FROM tx t JOIN labels l \
             ON t.TRANSACTION_ID = l.TRANSACTION_ID WHERE t.TX_FRAUD <> l.TX_FRAUD",
        )
        .unwrap();
    assert_eq!(ints(&check, "n"), vec![0]);
}

#[test]
fn a_folder_of_parquet_files_answers_like_the_csv() {
    let Some(s) = slice() else { return };
    let mut e = engine(&s);
    let info = e.register("txp", &s.parquet_dir, None).unwrap();
    assert!(matches!(info.storage, riskstream_sql::Storage::Parquet));
    let q = |table: &str| {
        format!(
            "SELECT TERMINAL_ID, count(*) AS n, sum(TX_FRAUD) AS frauds, \
             sum(CAST(round(TX_AMOUNT * 100) AS BIGINT)) AS cents, min(TX_DATETIME) AS first \
             FROM {table} GROUP BY TERMINAL_ID ORDER BY TERMINAL_ID"
        )
    };
    let a = e.query(&q("tx")).unwrap();
    let b = e.query(&q("txp")).unwrap();
    assert!(a.rows() > 1000);
    for c in ["TERMINAL_ID", "n", "frauds", "cents", "first"] {
        assert_eq!(ints(&a, c), ints(&b, c), "column {c}");
    }
}
