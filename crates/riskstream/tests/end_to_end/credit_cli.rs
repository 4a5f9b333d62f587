//! `riskstream credit` as a lender's analyst runs it: develop a scorecard and a monotone
//! GBDT on the German credit data, score applications with reasons, report stability
//! against a later sample, export the card as SQL; bad inputs are clear errors (exit 2).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use crate::common;

use common::run::{bin, succeeded};
use std::path::{Path, PathBuf};
use std::process::Output;

fn refused(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn german() -> Option<PathBuf> {
    let d = std::env::var_os("RISKSTREAM_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let f = d.join("german-credit-statlog/german_credit.csv.gz");
    if f.is_file() {
        Some(f)
    } else {
        eprintln!(
            "SKIP: {} is absent (the public data sets in ../shared/data; set RISKSTREAM_DATA)",
            f.display()
        );
        None
    }
}

/// The German file as plain CSV with an id column, split into the first 700 applicants
/// (development) and the last 300 (a "later" sample).
fn split(src: &Path, dir: &Path) -> (PathBuf, PathBuf) {
    use std::io::Read;
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(src).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    let mut lines = text.lines();
    let header = format!("applicant,{}", lines.next().unwrap());
    let rows: Vec<String> = lines
        .enumerate()
        .map(|(i, l)| format!("A{i:04},{l}"))
        .collect();
    let write = |name: &str, rows: &[String]| {
        let p = dir.join(name);
        std::fs::write(&p, format!("{header}\n{}\n", rows.join("\n"))).unwrap();
        p
    };
    (
        write("dev.csv", &rows[..700]),
        write("later.csv", &rows[700..]),
    )
}

#[test]
fn a_scorecard_and_a_gbdt_are_developed_scored_reported_and_exported() {
    let Some(src) = german() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (dev, later) = split(&src, dir.path());
    let card = dir.path().join("card.json");
    let text = succeeded(
        &bin()
            .args(["credit", "train", "--input"])
            .arg(&dev)
            .args([
                "--label",
                "class",
                "--bad-value",
                "2",
                "--id-col",
                "applicant",
            ])
            .arg("--output")
            .arg(&card)
            .output()
            .unwrap(),
    );
    // The binning table names every candidate; the points table the kept ones.
    assert!(text.contains("| checking_status |"), "{text}");
    assert!(
        !text.contains("| applicant |"),
        "the id is never a characteristic: {text}"
    );
    assert!(
        text.contains("| characteristic | attribute | WoE | points |"),
        "{text}"
    );
    let reasons = dir.path().join("card.reasons.toml");
    let rtext = std::fs::read_to_string(&reasons).unwrap();
    assert!(rtext.contains("code = \"R01\""), "{rtext}");

    // Scoring: every applicant gets a score, a PD, a decision and reasons from the codes.
    let scored = dir.path().join("scored.csv");
    succeeded(
        &bin()
            .args(["credit", "score", "--model"])
            .arg(&card)
            .arg("--input")
            .arg(&later)
            .args([
                "--id-col",
                "applicant",
                "--decline-pd",
                "0.1667",
                "--review-pd",
                "0.1",
            ])
            .arg("--output")
            .arg(&scored)
            .output()
            .unwrap(),
    );
    let out = std::fs::read_to_string(&scored).unwrap();
    let mut lines = out.lines();
    assert_eq!(lines.next().unwrap(), "id,score,pd,decision,reasons,unseen");
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 300);
    assert!(rows[0].starts_with("A0700,"), "{}", rows[0]);
    let declined: Vec<&&str> = rows.iter().filter(|r| r.contains(",decline,")).collect();
    assert!(!declined.is_empty() && declined.len() < 300);
    // A declined applicant is told why, in the configured codes, never "other".
    for r in &declined {
        assert!(r.contains("R0") || r.contains("R1"), "{r}");
        assert!(!r.to_lowercase().contains("other"), "{r}");
    }

    // The report: discrimination, calibration, PSI/CSI, and an HTML page with charts.
    let html = dir.path().join("report.html");
    let text = succeeded(
        &bin()
            .args(["credit", "report", "--model"])
            .arg(&card)
            .arg("--input")
            .arg(&dev)
            .arg("--recent")
            .arg(&later)
            .args(["--label", "class", "--bad-value", "2", "--html"])
            .arg(&html)
            .output()
            .unwrap(),
    );
    assert!(
        text.contains("AUC") && text.contains("PSI") && text.contains("| characteristic | CSI |"),
        "{text}"
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert_eq!(
        page.matches("<svg").count(),
        3,
        "distribution, calibration, CSI"
    );

    // Export: the points table and SQL.
    let table = succeeded(
        &bin()
            .args(["credit", "export", "--model"])
            .arg(&card)
            .output()
            .unwrap(),
    );
    assert!(
        table.starts_with("characteristic,attribute,woe,points"),
        "{table}"
    );
    let sql = succeeded(
        &bin()
            .args(["credit", "export", "--sql", "--model"])
            .arg(&card)
            .output()
            .unwrap(),
    );
    assert!(
        sql.contains("CASE") && sql.contains("checking_status"),
        "{sql}"
    );

    // The monotone GBDT: same commands, same output columns; no SQL export.
    let gbdt = dir.path().join("gbdt.json");
    succeeded(
        &bin()
            .args(["credit", "train", "--algorithm", "gbdt", "--input"])
            .arg(&dev)
            .args([
                "--label",
                "class",
                "--bad-value",
                "2",
                "--id-col",
                "applicant",
            ])
            .arg("--output")
            .arg(&gbdt)
            .output()
            .unwrap(),
    );
    let scored = dir.path().join("gbdt.csv");
    succeeded(
        &bin()
            .args(["credit", "score", "--model"])
            .arg(&gbdt)
            .arg("--input")
            .arg(&later)
            .args(["--id-col", "applicant", "--decline-pd", "0.1667"])
            .arg("--output")
            .arg(&scored)
            .output()
            .unwrap(),
    );
    assert_eq!(
        std::fs::read_to_string(&scored).unwrap().lines().count(),
        301
    );
    let err = refused(
        &bin()
            .args(["credit", "export", "--sql", "--model"])
            .arg(&gbdt)
            .output()
            .unwrap(),
    );
    assert!(err.contains("GBDT"), "{err}");
}

#[test]
fn bad_inputs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let train = |file: &Path, label: &str, bad: &str| {
        bin()
            .args(["credit", "train", "--input"])
            .arg(file)
            .args(["--label", label, "--bad-value", bad, "--output"])
            .arg(dir.path().join("m.json"))
            .output()
            .unwrap()
    };
    // A label with three values.
    let f = dir.path().join("three.csv");
    let mut rows = String::from("income,purpose,outcome\n");
    for i in 0..60 {
        rows.push_str(&format!(
            "{},{},{}\n",
            1000 + i * 10,
            ["car", "home"][i % 2],
            ["good", "bad", "late"][i % 3]
        ));
    }
    std::fs::write(&f, rows).unwrap();
    let err = refused(&train(&f, "outcome", "bad"));
    assert!(err.contains("outcome") && err.contains("late"), "{err}");
    // The bad value is not in the label column.
    let err = refused(&train(&f, "outcome", "defaulted"));
    assert!(err.contains("defaulted"), "{err}");
    // A label column that does not exist: the columns that do are listed.
    let err = refused(&train(&f, "status", "bad"));
    assert!(err.contains("status") && err.contains("income"), "{err}");
    // A header and no rows.
    let e = dir.path().join("empty.csv");
    std::fs::write(&e, "income,outcome\n").unwrap();
    let err = refused(&train(&e, "outcome", "bad"));
    assert!(err.contains("empty.csv has no rows"), "{err}");
    // A parameter file with a misspelt key fails before the data is read.
    let p = dir.path().join("params.toml");
    std::fs::write(&p, "[binning]\nmax_nbins = 5\n").unwrap();
    let out = bin()
        .args([
            "credit",
            "train",
            "--input",
            "/nonexistent.csv",
            "--label",
            "y",
            "--bad-value",
            "1",
            "--params",
        ])
        .arg(&p)
        .args(["--output"])
        .arg(dir.path().join("m.json"))
        .output()
        .unwrap();
    let err = refused(&out);
    assert!(
        err.contains("params.toml") && err.contains("max_nbins"),
        "{err}"
    );
}

/// The generator plants a logistic default model in its loan applications (documented in
/// `crates/gen/src/params.rs`, `DEFAULT_MODEL` and `LOAN_PURPOSES`); a scorecard developed
/// on them must find every driver with the planted direction.
#[test]
fn a_scorecard_finds_the_drivers_the_generator_planted_in_its_loans() {
    let dir = tempfile::tempdir().unwrap();
    let gen = dir.path().join("bank");
    succeeded(
        &bin()
            .args([
                "generate",
                "--seed",
                "7",
                "--days",
                "120",
                "--customers",
                "50000",
            ])
            .args(["--transactions", "20000", "--format", "csv", "--out"])
            .arg(&gen)
            .output()
            .unwrap(),
    );
    let card = dir.path().join("loans.json");
    succeeded(
        &bin()
            .args(["credit", "train", "--input"])
            .arg(gen.join("loans.csv"))
            .args(["--label", "defaulted", "--bad-value", "1"])
            .args([
                "--id-col",
                "application_id",
                "--exclude",
                "customer_id,event_time",
            ])
            .arg("--output")
            .arg(&card)
            .output()
            .unwrap(),
    );
    let table = succeeded(
        &bin()
            .args(["credit", "export", "--model"])
            .arg(&card)
            .output()
            .unwrap(),
    );
    // (characteristic, attribute, WoE) of every row; WoE is ln(good share / bad share).
    let rows: Vec<(String, String, f64)> = table
        .lines()
        .skip(1)
        .map(|l| {
            let (name, rest) = l.split_once(',').unwrap();
            let mut back = rest.rsplitn(3, ',');
            let _points = back.next().unwrap();
            let woe: f64 = back.next().unwrap().parse().unwrap();
            (
                name.to_string(),
                back.next().unwrap().trim_matches('"').to_string(),
                woe,
            )
        })
        .collect();
    let woe_of = |c: &str| -> Vec<f64> {
        rows.iter()
            .filter(|r| r.0 == c && r.1.starts_with('['))
            .map(|r| r.2)
            .collect()
    };
    // Planted sign of each coefficient on the default log-odds: + means riskier as it grows,
    // so the WoE (goodness) must fall across the bins, and the other way round.
    for (c, riskier_as_it_grows) in [
        ("debt_to_income", true),
        ("existing_loans", true),
        ("amount", true),
        ("income", false),
        ("credit_history_months", false),
        ("employment_years", false),
    ] {
        let w = woe_of(c);
        assert!(
            w.len() >= 2,
            "{c} was binned into {} numeric bins:\n{table}",
            w.len()
        );
        let ok = w.windows(2).all(|p| {
            if riskier_as_it_grows {
                p[1] <= p[0]
            } else {
                p[1] >= p[0]
            }
        });
        assert!(ok, "{c}: WoE {w:?} against the planted direction");
    }
    // Purposes with a higher planted log-odds shift are worse attributes.
    let purpose = |p: &str| {
        rows.iter()
            .find(|r| r.0 == "purpose" && r.1.split(", ").any(|x| x == p))
            .unwrap()
            .2
    };
    assert!(purpose("business") < purpose("home_improvement"), "{table}");
    assert!(purpose("debt_consolidation") < purpose("car"), "{table}");
}
