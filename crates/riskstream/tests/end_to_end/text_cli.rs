//! `riskstream text` as an operations analyst runs it: train on complaints whose narratives
//! have line breaks inside quotes, classify with reasons, evaluate on a time split, group
//! duplicates; and bad input (a damaged model, a missing column, bytes that are not UTF-8,
//! an empty narrative) answered as documented, never a panic.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::path::Path;
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_riskstream"))
}

fn run(args: &[&str], dir: &Path) -> Output {
    bin().args(args).current_dir(dir).output().unwrap()
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// 40 complaints over 20 days, two products, every other narrative on two lines.
fn complaints(dir: &Path) {
    let mut s = String::from("complaint_id,date_received,product,narrative\n");
    for i in 0..40 {
        let (product, body) = if i % 2 == 0 {
            (
                "Debt collection",
                "A debt collector keeps calling me about a debt of {$500.00} I do not owe",
            )
        } else {
            ("Credit reporting", "My credit report shows an account XXXX that is not mine; the bureau ignored my dispute")
        };
        let sep = if i % 4 < 2 { "\n" } else { " " };
        // A templated tail, as the credit-repair letters have.
        let tail = "I have asked several times in writing and by phone and nobody has answered \
                    my letters so I ask the bureau to look into this and correct it quickly";
        s.push_str(&format!(
            "{},2023-06-{:02},{product},\"Complaint {i}.{sep}{body}, said \"\"me\"\". {tail}\"\n",
            1000 + i,
            1 + i / 2
        ));
    }
    std::fs::write(dir.join("c.csv"), s).unwrap();
}

#[test]
fn train_classify_evaluate_and_duplicates() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    complaints(dir);
    let out = run(
        &[
            "text",
            "train",
            "--input",
            "c.csv",
            "--text-col",
            "narrative",
            "--label-col",
            "product",
            "--output",
            "m.json",
            "--seed",
            "3",
        ],
        dir,
    );
    let (so, se) = text(&out);
    assert!(out.status.success(), "{so}{se}");
    assert!(so.contains("2 classes from 40 of 40 rows"), "{so}");

    let out = run(
        &[
            "text",
            "classify",
            "--model",
            "m.json",
            "--input",
            "c.csv",
            "--id-col",
            "complaint_id",
            "--output",
            "p.csv",
        ],
        dir,
    );
    assert!(out.status.success(), "{:?}", text(&out));
    let p = std::fs::read_to_string(dir.join("p.csv")).unwrap();
    let mut lines = p.lines();
    assert_eq!(lines.next(), Some("id,label,score,reasons,note"));
    let first = lines.next().unwrap();
    assert!(first.starts_with("1000,Debt collection,"), "{first}");
    assert!(first.contains("debt"), "reasons name the words: {first}");

    let out = run(
        &[
            "text",
            "evaluate",
            "--input",
            "c.csv",
            "--text-col",
            "narrative",
            "--label-col",
            "product",
            "--date-col",
            "date_received",
        ],
        dir,
    );
    let (so, se) = text(&out);
    assert!(out.status.success(), "{so}{se}");
    assert!(so.contains("32 training rows, 8 test rows"), "{so}");
    assert!(so.contains("without 0 exact duplicates"), "{so}");

    let out = run(
        &[
            "text",
            "duplicates",
            "--input",
            "c.csv",
            "--text-col",
            "narrative",
            "--id-col",
            "complaint_id",
            "--output",
            "g.csv",
        ],
        dir,
    );
    let (so, se) = text(&out);
    assert!(out.status.success(), "{so}{se}");
    assert!(
        so.contains("40 texts: 40 in 2 near-duplicate groups"),
        "{so}"
    );
}

#[test]
fn bad_input_is_answered_as_documented() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    complaints(dir);
    let train = |extra: &[&str]| {
        let mut a = vec![
            "text",
            "train",
            "--input",
            "c.csv",
            "--text-col",
            "narrative",
            "--label-col",
            "product",
            "--output",
            "m.json",
        ];
        a.extend_from_slice(extra);
        run(&a, dir)
    };
    assert!(train(&[]).status.success());

    // A missing column: exit 2, the columns listed.
    let out = run(
        &[
            "text",
            "train",
            "--input",
            "c.csv",
            "--text-col",
            "text",
            "--label-col",
            "product",
            "--output",
            "x.json",
        ],
        dir,
    );
    let (_, se) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{se}");
    assert!(
        se.contains("no column `text`") && se.contains("narrative"),
        "{se}"
    );

    // A damaged model: exit 2, said so.
    let body = std::fs::read(dir.join("m.json")).unwrap();
    std::fs::write(dir.join("cut.json"), &body[..body.len() / 3]).unwrap();
    let out = run(
        &[
            "text", "classify", "--model", "cut.json", "--input", "c.csv", "--output", "p.csv",
        ],
        dir,
    );
    let (_, se) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{se}");
    assert!(
        se.contains("model file cut.json") && !se.contains("panicked"),
        "{se}"
    );

    // An unknown hyper-parameter: exit 2 before reading data.
    std::fs::write(dir.join("p.toml"), "epoch = 3\n").unwrap();
    let out = train(&["--params", "p.toml"]);
    let (_, se) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{se}");
    assert!(se.contains("unknown field `epoch`"), "{se}");

    // Bytes that are not UTF-8 and an empty narrative: kept, said, exit 1; the empty one
    // gets the priors and the note.
    let mut s = b"complaint_id,narrative\n1,a debt collector \xff called\n2,\"\"\n".to_vec();
    s.extend_from_slice(b"3,my credit report is wrong\n");
    std::fs::write(dir.join("new.csv"), s).unwrap();
    let out = run(
        &[
            "text",
            "classify",
            "--model",
            "m.json",
            "--input",
            "new.csv",
            "--id-col",
            "complaint_id",
            "--output",
            "p.csv",
        ],
        dir,
    );
    let (so, se) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{so}{se}");
    assert!(se.contains("not UTF-8"), "{se}");
    let p = std::fs::read_to_string(dir.join("p.csv")).unwrap();
    assert!(
        p.lines().nth(1).unwrap().starts_with("1,Debt collection,"),
        "{p}"
    );
    assert!(p.lines().nth(2).unwrap().ends_with("no_features"), "{p}");
    assert!(
        p.lines().nth(3).unwrap().starts_with("3,Credit reporting,"),
        "{p}"
    );
}

/// Complaints with a company response, half closed with relief (the fee ones mostly).
fn with_responses(dir: &Path) {
    let mut s =
        String::from("complaint_id,date_received,product,issues,company_response,narrative\n");
    for i in 0..60 {
        let (product, issues, response, body) = match i % 3 {
            0 => (
                "Checking",
                "fee",
                "Closed with monetary relief",
                "The bank charged an unauthorized overdraft fee and would not refund it",
            ),
            1 => (
                "Credit reporting",
                "report",
                "Closed with explanation",
                "My credit report shows a late payment, the bureau says it is accurate",
            ),
            _ => (
                "Credit reporting",
                "report|fee",
                if i % 2 == 0 {
                    "In progress"
                } else {
                    "Closed with non-monetary relief"
                },
                "The bureau reports a fee the bank charged as a late payment on my credit report",
            ),
        };
        s.push_str(&format!(
            "{},2023-06-{:02},{product},{issues},{response},\"{body} {i}\"\n",
            2000 + i,
            1 + i / 3
        ));
    }
    std::fs::write(dir.join("r.csv"), s).unwrap();
}

#[test]
fn sentiment_escalation_and_multi_label_columns() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    with_responses(dir);
    let train = |extra: &[&str], out: &str| {
        let mut a = vec![
            "text",
            "train",
            "--input",
            "r.csv",
            "--text-col",
            "narrative",
            "--output",
            out,
        ];
        a.extend_from_slice(extra);
        let o = run(&a, dir);
        let (so, se) = text(&o);
        assert!(o.status.success(), "{so}{se}");
        so
    };
    let so = train(
        &[
            "--label-col",
            "product",
            "--escalation-col",
            "company_response",
            "--sentiment",
        ],
        "m.json",
    );
    assert!(
        so.contains("escalation model on `company_response`: 50 rows with an outcome"),
        "{so}"
    );
    let o = run(
        &[
            "text",
            "classify",
            "--model",
            "m.json",
            "--input",
            "r.csv",
            "--id-col",
            "complaint_id",
            "--output",
            "p.csv",
        ],
        dir,
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let p = std::fs::read_to_string(dir.join("p.csv")).unwrap();
    let head = p.lines().next().unwrap();
    assert_eq!(
        head,
        "id,label,score,reasons,note,sentiment,escalation,escalation_reasons"
    );
    let row0 = p.lines().nth(1).unwrap();
    assert!(row0.starts_with("2000,Checking,"), "{row0}");
    let risk: f64 = row0.split(',').rev().nth(1).unwrap().parse().unwrap();
    assert!(risk > 0.5, "a fee refund complaint is at risk: {row0}");

    // Evaluate reports the escalation model beside the router.
    let o = run(
        &[
            "text",
            "evaluate",
            "--input",
            "r.csv",
            "--text-col",
            "narrative",
            "--label-col",
            "product",
            "--date-col",
            "date_received",
            "--escalation-col",
            "company_response",
        ],
        dir,
    );
    let (so, se) = text(&o);
    assert!(o.status.success(), "{so}{se}");
    assert!(so.contains("escalation risk (relief vs no relief"), "{so}");

    // Multi-label: the `labels` column holds every label over its threshold.
    let so = train(&["--label-col", "issues", "--label-sep", "|"], "ml.json");
    assert!(so.contains("multi-label: 2 labels"), "{so}");
    let o = run(
        &[
            "text", "classify", "--model", "ml.json", "--input", "r.csv", "--output", "ml.csv",
        ],
        dir,
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let p = std::fs::read_to_string(dir.join("ml.csv")).unwrap();
    assert_eq!(
        p.lines().next().unwrap(),
        "id,label,score,reasons,note,labels"
    );
    assert!(
        p.lines().nth(3).unwrap().ends_with(",fee|report")
            || p.lines().nth(3).unwrap().ends_with(",report|fee"),
        "{p}"
    );

    // A response column without both outcomes is refused with the reason.
    let o = run(
        &[
            "text",
            "train",
            "--input",
            "r.csv",
            "--text-col",
            "narrative",
            "--label-col",
            "product",
            "--escalation-col",
            "product",
            "--output",
            "x.json",
        ],
        dir,
    );
    let (so, se) = text(&o);
    assert!(!o.status.success(), "{so}");
    assert!(se.contains("escalation labels"), "{se}");
}

/// `riskstream generate --complaints` writes complaint texts with planted themes that
/// `riskstream text topics` reads as written (CFPB column names) and takes apart again: one
/// topic per theme, and the theme that starts in the fourth week flagged as emerging there.
#[test]
fn generated_complaints_feed_text_topics() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = run(
        &[
            "generate",
            "--out",
            "bank",
            "--customers",
            "6000",
            "--days",
            "35",
            "--format",
            "csv",
            "--complaints",
        ],
        d,
    );
    let (so, se) = text(&out);
    assert!(out.status.success(), "{so}{se}");
    assert!(so.contains("complaint texts"), "{so}");
    let csv = d.join("bank/complaints.csv");
    assert!(d.join("bank/complaints.schema.toml").is_file());
    let header = std::fs::read_to_string(&csv).unwrap();
    assert!(
        header.starts_with("complaint_id,customer_id,date_received,product,issue,narrative"),
        "{}",
        &header[..80.min(header.len())]
    );
    let out = run(
        &[
            "text",
            "topics",
            "--input",
            "bank/complaints.csv",
            "--text-col",
            "narrative",
            "--date-col",
            "date_received",
            "--k",
            "4",
        ],
        d,
    );
    let (so, se) = text(&out);
    assert!(out.status.success(), "{so}{se}");
    // Each planted theme names a topic (its most typical word among the topic's words).
    for w in ["overdraft", "chargeback", "escrow", "login"] {
        assert!(
            so.lines().any(|l| l.contains("topic ") && l.contains(w)),
            "no topic with `{w}`:\n{so}"
        );
    }
    // The app-lockout theme starts on day 21 (2024-01-22, a Monday): its topic is flagged
    // that week and only then.
    let flagged: Vec<&str> = so.lines().filter(|l| l.ends_with("emerging")).collect();
    assert_eq!(flagged.len(), 1, "{so}");
    assert!(flagged[0].trim_start().starts_with("2024-01-22"), "{so}");

    // The summary for the console: JSON in clear without master keys; with them, encrypted
    // like every other file written (its examples quote the narratives).
    let summary = |file: &str, keys: Option<&str>| {
        let mut c = bin();
        c.current_dir(d)
            .env_remove("RISKSTREAM_MASTER_KEYS_FILE")
            .env_remove("RISKSTREAM_MASTER_KEYS")
            .args([
                "text",
                "topics",
                "--input",
                "bank/complaints.csv",
                "--text-col",
                "narrative",
                "--date-col",
                "date_received",
                "--k",
                "4",
                "--summary",
                file,
            ]);
        if let Some(k) = keys {
            c.env("RISKSTREAM_MASTER_KEYS", k);
        }
        let out = c.output().unwrap();
        let (so, se) = text(&out);
        assert!(out.status.success(), "{so}{se}");
        std::fs::read(d.join(file)).unwrap()
    };
    let clear = summary("topics.json", None);
    let v: serde_json::Value = serde_json::from_slice(&clear).unwrap();
    assert!(v["texts"].as_u64().unwrap() > 0, "{v}");
    assert!(String::from_utf8_lossy(&clear).contains("overdraft"));
    let sealed = summary(
        "topics.sealed.json",
        Some(&format!("m1:{}", "7c".repeat(32))),
    );
    assert!(sealed.starts_with(b"\x89RSENC"), "not encrypted");
    assert!(!String::from_utf8_lossy(&sealed).contains("overdraft"));
}
