//! A replay checkpoint is committed by renaming `meta.json`, which names its state file. A
//! crash after a newer state file was written but before the meta naming it was renamed
//! must resume from the older, matching pair, and give the uninterrupted output.
//!
//! The crash is a panic from the progress callback (the replay's files stay as they were on
//! disk); the newer state file is a real later state, taken from a second run crashed
//! further on.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use riskstream_features::replay::{replay, ReplayOptions};
use riskstream_features::FeatureSpec;
use riskstream_io::ReadOptions;
use std::path::{Path, PathBuf};

fn spec() -> FeatureSpec {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/fraud-handbook/features.toml");
    FeatureSpec::from_file(&p).unwrap_or_else(|d| panic!("{d}"))
}

/// Transactions in the handbook's raw layout: 200 customers, 300 terminals, a few days.
fn write_history(path: &Path, rows: u64) {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(f, "TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_AMOUNT,TX_TIME_SECONDS,TX_TIME_DAYS,TX_FRAUD,TX_FRAUD_SCENARIO").unwrap();
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut secs = 0u64;
    for id in 0..rows {
        secs += next() % 30;
        let (d, h, m, s) = (
            secs / 86_400,
            (secs / 3600) % 24,
            (secs / 60) % 60,
            secs % 60,
        );
        let fraud = u64::from(next() % 50 == 0);
        writeln!(
            f,
            "{id},2018-04-{:02} {h:02}:{m:02}:{s:02},{},{},{}.{:02},{secs},{d},{fraud},0",
            d + 1,
            next() % 200,
            next() % 300,
            next() % 200,
            next() % 100
        )
        .unwrap();
    }
}

fn opts(dir: &Path, name: &str, ckpt: &Path) -> ReplayOptions {
    ReplayOptions {
        read: ReadOptions {
            batch_rows: 1_000,
            ..ReadOptions::default()
        },
        write: Default::default(),
        dead_letter: dir.join(format!("{name}.rejected.ndjson")),
        checkpoint_dir: Some(ckpt.to_path_buf()),
        checkpoint_every: 5_000,
        threads: 2,
    }
}

/// Runs a replay into `out` that panics on its `crash_at`-th progress report (`None`: runs
/// to the end).
fn run(spec: &FeatureSpec, input: &Path, out: &Path, o: &ReplayOptions, crash_at: Option<u64>) {
    let mut calls = 0u64;
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        replay(spec, input, None, out, o, &mut |_| {
            calls += 1;
            if Some(calls) == crash_at {
                panic!("simulated crash");
            }
        })
        .unwrap();
    }));
    assert_eq!(r.is_err(), crash_at.is_some());
}

fn meta(ckpt: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(ckpt.join("meta.json")).unwrap()).unwrap()
}

#[test]
fn a_state_file_the_meta_does_not_name_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = d.join("history.csv");
    write_history(&input, 40_000);
    let spec = spec();

    // Uninterrupted reference.
    let ck_ref = d.join("ck-ref");
    run(
        &spec,
        &input,
        &d.join("ref.parquet"),
        &opts(d, "ref", &ck_ref),
        None,
    );

    // Run A crashes after some checkpoints; run B (same output name, its own checkpoint
    // directory) crashes later, so its state file is a genuinely newer state of the same run.
    let out = d.join("out.parquet");
    let (ck_a, ck_b) = (d.join("ck-a"), d.join("ck-b"));
    run(&spec, &input, &out, &opts(d, "out", &ck_b), Some(30));
    let _ = std::fs::remove_dir_all(d.join("out.parquet.parts"));
    run(&spec, &input, &out, &opts(d, "out", &ck_a), Some(12));
    let (ma, mb) = (meta(&ck_a), meta(&ck_b));
    assert!(mb["tx_consumed"].as_u64() > ma["tx_consumed"].as_u64());
    let named = ma["state_file"].as_str().unwrap().to_string();
    assert!(
        ck_a.join(&named).exists(),
        "meta names {named}, which is missing"
    );
    // The crash window: the next state file is written, the meta naming it is not.
    let gen = ma["generation"].as_u64().unwrap();
    std::fs::copy(
        ck_b.join(meta(&ck_b)["state_file"].as_str().unwrap()),
        ck_a.join(format!("state-{:06}.bin", gen + 1)),
    )
    .unwrap();

    run(&spec, &input, &out, &opts(d, "out", &ck_a), None);
    assert!(
        std::fs::read(&out).unwrap() == std::fs::read(d.join("ref.parquet")).unwrap(),
        "the resumed output differs from the uninterrupted one"
    );
    assert_eq!(
        std::fs::read(d.join("out.rejected.ndjson")).unwrap(),
        std::fs::read(d.join("ref.rejected.ndjson")).unwrap(),
        "a resumed run dead-lettered rows (replayed into a newer state, they come out late)"
    );
    // A finished run leaves no checkpoint behind.
    assert!(!ck_a.join("meta.json").exists());
    assert!(!ck_a.join(&named).exists());
}
