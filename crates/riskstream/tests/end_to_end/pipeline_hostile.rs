//! A pipeline fed what a hostile or broken producer sends: a transaction dated 9999, the
//! same transaction twice, an id reused for another transaction, an absurd amount. Each is
//! a dead letter with its reason; none moves the feature state, so the transactions after
//! them are decided as if they had not been sent.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::pipeline::exe;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

fn tx(id: i64, when: &str, amount: f64) -> Value {
    json!({"TRANSACTION_ID": id, "TX_DATETIME": when, "CUSTOMER_ID": 7, "TERMINAL_ID": 3,
           "TX_AMOUNT": amount, "TX_TIME_SECONDS": id, "TX_TIME_DAYS": 0, "TX_FRAUD": 0})
}

#[test]
fn far_future_duplicate_and_absurd_transactions_are_dead_letters_with_their_reason() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = d.join("tx.ndjson");
    let lines = [
        tx(1, "2026-11-24 10:00:00", 10.0),
        tx(2, "9999-12-31 23:59:59", 10.0),
        tx(1, "2026-11-24 10:00:00", 10.0),
        tx(1, "2026-11-24 10:00:00", 55.0),
        tx(3, "2026-11-24 10:01:00", 1.7e308),
        tx(4, "2026-11-24 10:02:00", 20.0),
    ];
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&input, text).unwrap();
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let cfg = d.join("p.toml");
    std::fs::write(
        &cfg,
        format!(
            "name = \"hostile\"\n[source]\nkind = \"file\"\npath = \"{}\"\n\
             [features]\nspec = \"{}\"\n[decide]\npolicy = \"{}\"\ninclude_features = true\n\
             [sink]\nkind = \"file\"\npath = \"{}\"\n[dead_letter]\nkind = \"file\"\npath = \"{}\"\n\
             [checkpoint]\ndir = \"{}\"\n",
            input.display(),
            ex.join("fraud-handbook/features.toml").display(),
            ex.join("fraud-handbook/policy.toml").display(),
            d.join("decisions.ndjson").display(),
            d.join("dead.ndjson").display(),
            d.join("state").display(),
        ),
    )
    .unwrap();
    let o = Command::new(exe()).arg("run").arg(&cfg).output().unwrap();
    // Exit 1: the run finished and set records aside (as ripgrep does for unreadable files).
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("2 decisions, 4 dead letters"), "{out}");
    let read = |name: &str| -> Vec<Value> {
        std::fs::read_to_string(d.join(name))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let decided = read("decisions.ndjson");
    let dead = read("dead.ndjson");
    let ids: Vec<&str> = decided
        .iter()
        .map(|v| v["tx_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["1", "4"], "{decided:?}");
    let count = |v: &Value| {
        v["features"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f[0] == "CUSTOMER_ID_NB_TX_1DAY_WINDOW")
            .unwrap()[1]
            .as_f64()
            .unwrap()
    };
    assert_eq!(count(&decided[1]), 2.0, "nothing refused was counted");
    let reasons: Vec<String> = dead.iter().map(|v| v.to_string()).collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert!(reasons[0].contains("ahead of the clock"), "{}", reasons[0]);
    assert!(reasons[1].contains("already decided"), "{}", reasons[1]);
    assert!(reasons[2].contains("other fields"), "{}", reasons[2]);
    assert!(reasons[3].contains("TX_AMOUNT"), "{}", reasons[3]);
}
