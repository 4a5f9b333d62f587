//! The Parquet sink: a file pipeline killed with SIGKILL at random points and restarted
//! leaves a directory of Parquet files holding exactly the decisions of an uninterrupted
//! NDJSON run — each transaction once, nothing partial.
//!
//! Needs ../shared/data; says SKIP otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use arrow_array::cast::AsArray;
use common::pipeline::{exe, handbook, produce_ndjson};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

/// Which spec and policy a run uses.
#[derive(Clone, Copy)]
enum Spec {
    /// The handbook's features and policy.
    Handbook,
    /// With sequence patterns, a rule on one, and the features in each decision.
    Patterns,
}

fn config(dir: &Path, input: &Path, sink: &str, name: &str, spec: Spec) -> std::path::PathBuf {
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let (features, policy, include) = match spec {
        Spec::Handbook => ("features.toml", "policy.toml", ""),
        Spec::Patterns => (
            "features-patterns.toml",
            "policy-patterns.toml",
            "include_features = true\n",
        ),
    };
    let text = format!(
        "name = \"{name}\"\n[source]\nkind = \"file\"\npath = \"{}\"\n\
         [features]\nspec = \"{}\"\n[decide]\npolicy = \"{}\"\n{include}\
         [sink]\n{sink}\n\
         [checkpoint]\ndir = \"{}\"\nevery = 5000\ninterval = \"1s\"\n",
        input.display(),
        ex.join("fraud-handbook").join(features).display(),
        ex.join("fraud-handbook").join(policy).display(),
        dir.join(format!("state-{name}")).display(),
    );
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn a_killed_pipeline_leaves_exactly_the_decisions_in_parquet() {
    killed_pipeline(Spec::Handbook);
}

/// The same with sequence patterns in the spec and a rule on one: the automata are in the
/// partition checkpoints, so features and decisions come out as in the uninterrupted run.
#[test]
fn a_killed_pipeline_with_pattern_features_leaves_exactly_the_decisions() {
    killed_pipeline(Spec::Patterns);
}

fn killed_pipeline(spec: Spec) {
    let Some(data) = handbook() else {
        eprintln!("SKIP: ../shared/data is absent");
        return;
    };
    let events: usize = std::env::var("RISKSTREAM_PIPELINE_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
        .min(200_000);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("tx.ndjson");
    produce_ndjson(&data, events, &input);

    let out = dir.path().join("ref.ndjson");
    let rcfg = config(
        dir.path(),
        &input,
        &format!("kind = \"file\"\npath = \"{}\"", out.display()),
        "ref",
        spec,
    );
    let o = Command::new(exe())
        .args(["run"])
        .arg(&rcfg)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let reference: Vec<String> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(reference.len(), events);

    let pq = dir.path().join("decisions");
    let pcfg = config(
        dir.path(),
        &input,
        &format!("kind = \"parquet\"\npath = \"{}\"", pq.display()),
        "pq",
        spec,
    );
    let kills = common::pipeline::kill_repeatedly(&pcfg, 6, 300, 900, 0x2545_F491_4F6C_DD1D);
    let o = Command::new(exe())
        .args(["run"])
        .arg(&pcfg)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    eprintln!(
        "{kills} kills; {}",
        String::from_utf8_lossy(&o.stdout).trim()
    );
    assert!(
        kills >= 3,
        "the run ended before it could be killed ({kills})"
    );

    let mut got: HashMap<String, String> = HashMap::new();
    let mut files = 0;
    for e in std::fs::read_dir(&pq).unwrap() {
        let path = e.unwrap().path();
        assert!(
            path.extension().is_some_and(|x| x == "parquet"),
            "only whole Parquet files remain: {}",
            path.display()
        );
        files += 1;
        let r = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path).unwrap())
            .unwrap()
            .build()
            .unwrap();
        for b in r {
            let b = b.unwrap();
            let tx = b
                .column_by_name("tx_id")
                .unwrap()
                .as_string::<i32>()
                .clone();
            let js = b.column_by_name("json").unwrap().as_string::<i32>().clone();
            for i in 0..b.num_rows() {
                let prev = got.insert(tx.value(i).to_string(), js.value(i).to_string());
                assert!(prev.is_none(), "transaction {} written twice", tx.value(i));
            }
        }
    }
    eprintln!("{files} Parquet files, {} decisions", got.len());
    assert_eq!(got.len(), events, "every transaction once");
    for line in &reference {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let id = v["tx_id"].as_str().unwrap();
        assert_eq!(
            got.get(id).map(String::as_str),
            Some(line.as_str()),
            "decision of {id}"
        );
    }
}
