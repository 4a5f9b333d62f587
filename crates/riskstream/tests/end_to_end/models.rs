//! The model commands as a user runs them: `train` → `score` → `evaluate` on a small
//! synthetic table, refusals of damaged model files and wrong inputs, and `backtest` on
//! the handbook reproducing the book's logistic-regression row.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_riskstream"))
}

fn run(dir: &Path, args: &[&str]) -> Output {
    bin().current_dir(dir).args(args).output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// 4,000 rows over 20 days: `risk` drives the label, `noise` does not.
fn write_table(dir: &Path) -> PathBuf {
    let p = dir.join("table.csv");
    let mut f = std::fs::File::create(&p).unwrap();
    writeln!(f, "tx_id,ts,card,risk,noise,label").unwrap();
    let mut state = 42u64;
    let mut rnd = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    for i in 0..4000 {
        let day = 1 + i / 200;
        let risk = rnd();
        let noise = rnd();
        let label = u8::from(rnd() < risk * risk * 0.5);
        writeln!(
            f,
            "{i},2024-03-{day:02}T{:02}:00:00Z,c{},{risk:.6},{noise:.6},{label}",
            i % 24,
            i % 300
        )
        .unwrap();
    }
    p
}

#[test]
fn train_score_evaluate_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let t = write_table(dir.path());
    let t = t.to_str().unwrap();
    for algo in ["lr", "tree", "rf", "gbdt"] {
        let model = format!("{algo}.json");
        let o = run(
            dir.path(),
            &[
                "train",
                "--input",
                t,
                "--label",
                "label",
                "--features",
                "risk,noise",
                "--time-col",
                "ts",
                "--from",
                "2024-03-01",
                "--to",
                "2024-03-14",
                "--algorithm",
                algo,
                "--set",
                "seed=1",
                "--set",
                "max_depth=4",
                "--output",
                &model,
            ],
        );
        // `seed` is not a logistic-regression parameter: a clear error naming it.
        if algo == "lr" {
            assert_eq!(o.status.code(), Some(2), "{}", text(&o));
            assert!(text(&o).contains("seed"), "{}", text(&o));
            let o = run(
                dir.path(),
                &[
                    "train",
                    "--input",
                    t,
                    "--label",
                    "label",
                    "--features",
                    "risk,noise",
                    "--time-col",
                    "ts",
                    "--from",
                    "2024-03-01",
                    "--to",
                    "2024-03-14",
                    "--algorithm",
                    algo,
                    "--output",
                    &model,
                ],
            );
            assert!(o.status.success(), "{}", text(&o));
        } else {
            assert!(o.status.success(), "{}", text(&o));
        }
        let card: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join(&model)).unwrap()).unwrap();
        assert_eq!(card["card"]["training"]["rows"], 2800, "14 days x 200 rows");
        assert_eq!(
            card["card"]["feature_names"],
            serde_json::json!(["risk", "noise"])
        );

        let scores = format!("{algo}.scores.csv");
        let o = run(
            dir.path(),
            &[
                "score",
                "--model",
                &model,
                "--input",
                t,
                "--time-col",
                "ts",
                "--from",
                "2024-03-15",
                "--id-col",
                "tx_id",
                "--reasons",
                "2",
                "--output",
                &scores,
            ],
        );
        assert!(o.status.success(), "{}", text(&o));
        let s = std::fs::read_to_string(dir.path().join(&scores)).unwrap();
        let mut lines = s.lines();
        assert_eq!(lines.next().unwrap(), "id,score,reason_1,reason_2");
        let first = lines.next().unwrap();
        assert!(first.starts_with("2800,"), "{first}");
        assert_eq!(s.lines().count(), 1 + 1200);

        let o = run(
            dir.path(),
            &[
                "evaluate",
                "--model",
                &model,
                "--input",
                t,
                "--label",
                "label",
                "--time-col",
                "ts",
                "--from",
                "2024-03-15",
                "--card-col",
                "card",
                "--k",
                "20",
                "--json",
            ],
        );
        assert!(o.status.success(), "{}", text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let auc = v["report"]["auc"].as_f64().unwrap();
        assert!(auc > 0.7, "{algo}: AUC {auc} on a learnable label");
        assert_eq!(v["report"]["n"], 1200);
        assert_eq!(v["card_precision"]["days"].as_array().unwrap().len(), 6);
    }
}

#[test]
fn damaged_model_files_and_wrong_inputs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let t = write_table(dir.path());
    let t = t.to_str().unwrap();
    let o = run(
        dir.path(),
        &[
            "train",
            "--input",
            t,
            "--label",
            "label",
            "--features",
            "risk,nosie",
            "--algorithm",
            "tree",
            "--output",
            "m.json",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("did you mean `noise`"), "{}", text(&o));

    let o = run(
        dir.path(),
        &[
            "train",
            "--input",
            t,
            "--label",
            "label",
            "--features",
            "risk,noise",
            "--algorithm",
            "boosted-forest",
            "--output",
            "m.json",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("unknown algorithm"), "{}", text(&o));

    let o = run(
        dir.path(),
        &[
            "train",
            "--input",
            t,
            "--label",
            "label",
            "--features",
            "risk,noise",
            "--algorithm",
            "tree",
            "--set",
            "max_depth=3",
            "--output",
            "m.json",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));

    // Tamper with one threshold: the content hash no longer matches.
    let path = dir.path().join("m.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let th = &mut v["model"]["model"]["tree"]["nodes"][0]["threshold"];
    *th = serde_json::json!(th.as_f64().unwrap() + 0.1);
    std::fs::write(
        dir.path().join("tampered.json"),
        serde_json::to_vec(&v).unwrap(),
    )
    .unwrap();
    let o = run(
        dir.path(),
        &[
            "score",
            "--model",
            "tampered.json",
            "--input",
            t,
            "--output",
            "s.csv",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("content hash"), "{}", text(&o));

    // A truncated file.
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(dir.path().join("cut.json"), &bytes[..bytes.len() / 2]).unwrap();
    let o = run(
        dir.path(),
        &[
            "score", "--model", "cut.json", "--input", t, "--output", "s.csv",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("cut.json"), "{}", text(&o));

    // An input without one of the model's features.
    std::fs::write(dir.path().join("narrow.csv"), "risk,label\n0.5,1\n").unwrap();
    let o = run(
        dir.path(),
        &[
            "score",
            "--model",
            "m.json",
            "--input",
            "narrow.csv",
            "--output",
            "s.csv",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("noise"), "{}", text(&o));
}

#[test]
fn backtest_reproduces_the_handbook_logistic_regression_row() {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(
        "../../../shared/data/fraud-handbook-simulated/transformed/transactions_2018-06-11_2018-09-14.csv.gz",
    );
    if !data.exists() {
        eprintln!("SKIP: {} is absent", data.display());
        return;
    }
    let spec = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/fraud-handbook/features.toml");
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        dir.path(),
        &[
            "backtest",
            "--input",
            data.to_str().unwrap(),
            "--label",
            "TX_FRAUD",
            "--time-col",
            "TX_DATETIME",
            "--card-col",
            "CUSTOMER_ID",
            "--features",
            "TX_AMOUNT",
            "--spec",
            spec.to_str().unwrap(),
            "--train-start",
            "2018-07-25",
            "--model",
            "lr",
            "--output",
            "r.json",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("67,240      598     58,264      385"), "{out}");
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("r.json")).unwrap()).unwrap();
    // BASELINES.md table 1: 0.871 / 0.606 / 0.291.
    for (k, want) in [
        ("auc", 0.871),
        ("average_precision", 0.606),
        ("card_precision", 0.291),
    ] {
        let got = v["lr"][k].as_f64().unwrap();
        assert!(
            (got - want).abs() <= 0.005,
            "{k}: {got} vs the book's {want}"
        );
    }
}

/// The accuracy target: on the handbook's 4-fold prequential test protocol, our
/// features (`features-plus.toml`, built from the raw file by our engine) and our GBDT,
/// with the configuration chosen on the validation folds, beat the book's best published
/// results (XGBoost: AUC 0.869, AP 0.687, CP@100 0.303; BASELINES.md table 3) on all three.
#[test]
fn backtest_beats_the_handbook_best_prequential_results() {
    let raw = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(
        "../../../shared/data/fraud-handbook-simulated/raw/transactions_2018-04-01_2018-09-30.csv.gz",
    );
    if !raw.exists() {
        eprintln!("SKIP: {} is absent", raw.display());
        return;
    }
    let spec = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/fraud-handbook/features-plus.toml");
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        dir.path(),
        &[
            "features",
            "--spec",
            spec.to_str().unwrap(),
            "--input",
            raw.to_str().unwrap(),
            "--output",
            "plus.parquet",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = run(
        dir.path(),
        &[
            "backtest",
            "--input",
            "plus.parquet",
            "--label",
            "TX_FRAUD",
            "--time-col",
            "TX_DATETIME",
            "--card-col",
            "CUSTOMER_ID",
            "--features",
            "TX_AMOUNT",
            "--spec",
            spec.to_str().unwrap(),
            "--train-start",
            "2018-08-15",
            "--protocol",
            "prequential",
            "--folds",
            "4",
            "--model",
            "gbdt:split_mode=exact,max_depth=3,learning_rate=0.3,n_rounds=50,base_score=0.5",
            "--output",
            "r.json",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("r.json")).unwrap()).unwrap();
    let r = v.as_object().unwrap().values().next().unwrap();
    for (k, book) in [
        ("auc", 0.869),
        ("average_precision", 0.687),
        ("card_precision", 0.303),
    ] {
        let got = r[k].as_f64().unwrap();
        assert!(
            got > book,
            "{k}: ours {got} does not beat the book's best {book}"
        );
    }
}
