//! `riskstream validate` checks what `run` will run: a pipeline together with the spec,
//! policy and model it names, and a policy file against a feature spec. Regression tests
//! for "validate passed a pipeline whose policy names a feature the spec does not have"
//! and "validate cannot check a policy file on its own".

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_riskstream"))
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .canonicalize()
        .unwrap()
}

/// A policy whose rule reads a feature the handbook spec does not have.
const BAD_POLICY: &str = r#"name = "bad"
[score]
review_at = 0.5
decline_at = 0.9

[[rule]]
name = "velocity"
when = "features.CUSTOMER_ID_NB_TX_99DAY_WINDOW > 5"
outcome = "review"
reason = "too many"
"#;

fn pipeline(dir: &Path, policy: &Path) -> PathBuf {
    let input = dir.join("tx.ndjson");
    std::fs::write(&input, "").unwrap();
    let p = dir.join("pipeline.toml");
    std::fs::write(
        &p,
        format!(
            "name = \"t\"\n[source]\nkind = \"file\"\npath = \"tx.ndjson\"\n[features]\nspec = \"{}\"\n[decide]\npolicy = \"{}\"\n[sink]\nkind = \"file\"\npath = \"out.ndjson\"\n",
            examples().join("fraud-handbook/features.toml").display(),
            policy.display()
        ),
    )
    .unwrap();
    p
}

#[test]
fn validate_refuses_a_pipeline_whose_policy_names_a_feature_the_spec_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, BAD_POLICY).unwrap();
    let p = pipeline(dir.path(), &policy);
    let out = bin()
        .args(["validate", p.to_str().unwrap()])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("policy.toml") && err.contains("CUSTOMER_ID_NB_TX_99DAY_WINDOW"),
        "the problem names the policy file and the feature: {err}"
    );
    // `run` refuses the same pipeline before it reads a record, with the same report.
    let out = bin()
        .args(["run", p.to_str().unwrap()])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let run_err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{run_err}");
    assert!(
        run_err.contains("CUSTOMER_ID_NB_TX_99DAY_WINDOW"),
        "{run_err}"
    );
    // And the good policy passes, naming what it checked.
    let good = pipeline(dir.path(), &examples().join("fraud-handbook/policy.toml"));
    let out = bin()
        .args(["validate", good.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("policy `handbook-card-fraud`"), "{text}");
}

#[test]
fn validate_checks_a_policy_file_against_a_spec() {
    let dir = tempfile::tempdir().unwrap();
    let spec = examples().join("fraud-handbook/features.toml");
    let good = examples().join("fraud-handbook/policy.toml");
    let out = bin()
        .args([
            "validate",
            good.to_str().unwrap(),
            "--spec",
            spec.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("ok (policy"), "{text}");

    let bad = dir.path().join("policy.toml");
    std::fs::write(&bad, BAD_POLICY).unwrap();
    let out = bin()
        .args([
            "validate",
            bad.to_str().unwrap(),
            "--spec",
            spec.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("CUSTOMER_ID_NB_TX_99DAY_WINDOW"), "{err}");

    // Without --spec the user is told what to add.
    let out = bin()
        .args(["validate", bad.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--spec"), "{err}");
}
