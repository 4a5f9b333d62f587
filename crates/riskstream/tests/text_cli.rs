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
