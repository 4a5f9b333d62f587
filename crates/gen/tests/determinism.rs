//! Same configuration → byte-identical files, whatever the thread count; a different seed
//! → different data.

// Helpers outside #[test] functions panic on failure by design.
#![allow(clippy::unwrap_used)]

mod common;

use riskstream_gen::GenConfig;
use riskstream_io::Format;
use std::path::Path;

fn small(seed: u64, threads: usize) -> GenConfig {
    GenConfig {
        seed,
        customers: 1_500,
        terminals: 300,
        days: 12,
        threads,
        batch_rows: 4_096,
        ..GenConfig::default()
    }
}

/// Every file of the run except the manifest, by name.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap() != "manifest.json")
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

/// The manifest without what legitimately differs between runs.
fn manifest(dir: &Path) -> serde_json::Value {
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    m["report"]["elapsed_secs"] = serde_json::Value::Null;
    m["config"]["threads"] = serde_json::Value::Null;
    m
}

fn assert_identical(format: Format, gzip: bool) {
    let (a, ra) = common::run(&small(5, 1), format, gzip);
    let (b, rb) = common::run(&small(5, 2), format, gzip);
    let (fa, fb) = (files(a.path()), files(b.path()));
    assert_eq!(fa.len(), 14, "7 data files and 7 schemas");
    for ((na, ba), (nb, bb)) in fa.iter().zip(&fb) {
        assert_eq!(na, nb);
        assert!(ba == bb, "{na} differs between threads=1 and threads=2");
    }
    assert_eq!(manifest(a.path()), manifest(b.path()));
    assert_eq!(ra.transactions, rb.transactions);
    assert!(ra.transactions > 20_000);
}

#[test]
fn same_seed_gives_identical_parquet_for_any_thread_count() {
    assert_identical(Format::Parquet, false);
}

#[test]
fn same_seed_gives_identical_csv_for_any_thread_count() {
    assert_identical(Format::Csv, false);
}

#[test]
fn same_seed_gives_identical_gzipped_ndjson() {
    assert_identical(Format::Ndjson, true);
}

#[test]
fn different_seed_gives_different_data() {
    let (a, _) = common::run(&small(5, 2), Format::Csv, false);
    let (b, _) = common::run(&small(6, 2), Format::Csv, false);
    for (name, ba) in files(a.path()) {
        let bb = std::fs::read(b.path().join(&name)).unwrap();
        if name.ends_with(".schema.toml") {
            assert_eq!(ba, bb, "{name}: schemas do not depend on the seed");
        } else {
            assert_ne!(ba, bb, "{name} should depend on the seed");
        }
    }
}

#[test]
fn text_output_reads_back_clean() {
    let (dir, report) = common::run(&small(9, 2), Format::Csv, true);
    let t = common::read(&dir.path().join("transactions.csv.gz"), "transactions");
    assert_eq!(t.rows as u64, report.transactions);
    let l = common::read(&dir.path().join("labels.csv.gz"), "labels");
    assert_eq!(l.rows as u64, report.labels);
    for f in ["customers", "terminals", "loans", "products", "volumes"] {
        common::read(&dir.path().join(format!("{f}.csv.gz")), f);
    }
}

#[test]
fn every_format_carries_the_same_rows() {
    let cfg = small(21, 2);
    let (p, _) = common::run(&cfg, Format::Parquet, false);
    let (c, _) = common::run(&cfg, Format::Csv, false);
    let (n, _) = common::run(&cfg, Format::Ndjson, true);
    for f in riskstream_gen::schemas::FILES {
        let a = common::read(&p.path().join(format!("{f}.parquet")), f);
        let b = common::read(&c.path().join(format!("{f}.csv")), f);
        let j = common::read(&n.path().join(format!("{f}.ndjson.gz")), f);
        assert_eq!(a.rows, b.rows, "{f}");
        assert_eq!(a.rows, j.rows, "{f}");
        for (k, name) in a.names.iter().enumerate() {
            for other in [&b, &j] {
                match (&a.cols[k], &other.cols[k]) {
                    (common::Col::Int(x), common::Col::Int(y)) => assert_eq!(x, y, "{f}.{name}"),
                    (common::Col::Float(x), common::Col::Float(y)) => {
                        assert_eq!(x, y, "{f}.{name}")
                    }
                    (common::Col::Cat(..), common::Col::Cat(..)) => {
                        for r in 0..a.rows {
                            assert_eq!(
                                a.str_at(name, r),
                                other.str_at(name, r),
                                "{f}.{name} row {r}"
                            );
                        }
                    }
                    _ => panic!("{f}.{name}: column types differ between formats"),
                }
            }
        }
    }
}

#[test]
fn a_tiny_bank_works() {
    let cfg = GenConfig {
        customers: 1,
        terminals: 100,
        days: 1,
        threads: 1,
        ..GenConfig::default()
    };
    let mut days = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let r = riskstream_gen::generate(&cfg, dir.path(), Format::Csv, false, &mut |p| {
        days.push(p.day)
    })
    .unwrap();
    assert_eq!(days, [1]);
    assert_eq!(r.customers, 1);
    assert_eq!(r.terminals, 100);
    for f in riskstream_gen::schemas::FILES {
        common::read(&dir.path().join(format!("{f}.csv")), f);
    }
}
