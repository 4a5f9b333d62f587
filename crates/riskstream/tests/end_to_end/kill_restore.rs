//! A checkpointed `riskstream features` run, killed with SIGKILL at several points and
//! restarted with the same arguments, writes byte-identical output and dead letters to an
//! uninterrupted run.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_riskstream"))
}

fn spec(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/fraud-handbook")
        .join(name)
}

/// A deterministic transaction history in the handbook's raw layout, with a few bad rows.
fn write_history(path: &Path, rows: u64) {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(f, "TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_AMOUNT,TX_TIME_SECONDS,TX_TIME_DAYS,TX_FRAUD,TX_FRAUD_SCENARIO").unwrap();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let origin = 1_522_540_800i64; // 2018-04-01
    let mut secs = 0i64;
    for id in 0..rows {
        secs += (next() % 20) as i64;
        let t = origin + secs;
        let days = t.div_euclid(86_400);
        let (y, m, d) = civil(days);
        let tod = t.rem_euclid(86_400);
        let cust = next() % 2_000;
        let term = next() % 3_000;
        let amount = (next() % 20_000) as f64 / 100.0;
        let fraud = u64::from(next() % 100 == 0);
        if id % 49_999 == 7 {
            writeln!(f, "{id},{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02},{cust},{term},not-a-number,{secs},{},{fraud},0", tod / 3600, (tod / 60) % 60, tod % 60, secs / 86_400).unwrap();
            continue;
        }
        writeln!(f, "{id},{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02},{cust},{term},{amount:.2},{secs},{},{fraud},0", tod / 3600, (tod / 60) % 60, tod % 60, secs / 86_400).unwrap();
    }
}

fn civil(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn args(spec: &Path, input: &Path, out: &Path, ckpt: &Path) -> Vec<String> {
    vec![
        "features".into(),
        "--spec".into(),
        spec.display().to_string(),
        "--input".into(),
        input.display().to_string(),
        "--output".into(),
        out.display().to_string(),
        "--checkpoint-dir".into(),
        ckpt.display().to_string(),
        "--checkpoint-every".into(),
        "20000".into(),
        "--batch-rows".into(),
        "5000".into(),
    ]
}

fn consumed(ckpt: &Path) -> u64 {
    std::fs::read_to_string(ckpt.join("meta.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["tx_consumed"].as_u64())
        .unwrap_or(0)
}

#[test]
fn sigkill_and_restore_gives_identical_features() {
    sigkill_and_restore(&spec("features.toml"));
}

/// The same with sequence patterns in the spec: their automata (partial matches mid-way
/// at a kill) are in the checkpoint, so the resumed output is the same bytes.
#[test]
fn sigkill_and_restore_gives_identical_pattern_features() {
    sigkill_and_restore(&spec("features-patterns.toml"));
}

fn sigkill_and_restore(spec: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let rows = 400_000u64;
    let input = dir.path().join("history.csv");
    write_history(&input, rows);

    // Uninterrupted reference run.
    let (out_a, ck_a) = (dir.path().join("a.parquet"), dir.path().join("ck-a"));
    let st = Command::new(bin())
        .args(args(spec, &input, &out_a, &ck_a))
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(
        st.code(),
        Some(1),
        "bad rows were dead-lettered, so the run exits 1"
    );

    // Killed run: SIGKILL shortly after each of several checkpoints, then restart.
    let (out_b, ck_b) = (dir.path().join("b.parquet"), dir.path().join("ck-b"));
    let thresholds = [40_000u64, 100_000, 160_000, 220_000, 280_000, 340_000];
    let mut kills = 0;
    let mut finished = false;
    for (i, &th) in thresholds.iter().enumerate() {
        let mut child = Command::new(bin())
            .args(args(spec, &input, &out_b, &ck_b))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(
                    status.code().is_some_and(|c| c <= 1),
                    "run failed: {status:?}"
                );
                finished = true;
                break;
            }
            if consumed(&ck_b) >= th {
                // Vary where in the next interval the kill lands.
                std::thread::sleep(Duration::from_millis(7 * i as u64));
                if child.try_wait().unwrap().is_none() {
                    child.kill().unwrap(); // SIGKILL
                    child.wait().unwrap();
                    kills += 1;
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        if finished {
            break;
        }
    }
    if !finished {
        let st = Command::new(bin())
            .args(args(spec, &input, &out_b, &ck_b))
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert_eq!(st.code(), Some(1));
    }
    assert!(
        kills >= 5,
        "only {kills} kills landed before the run finished"
    );
    let a = std::fs::read(&out_a).unwrap();
    let b = std::fs::read(&out_b).unwrap();
    if a != b {
        // Say whether the rows differ or only their encoding, and keep both files.
        let keep = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("kill_restore-failure");
        let _ = std::fs::create_dir_all(&keep);
        let _ = std::fs::copy(&out_a, keep.join("a.parquet"));
        let _ = std::fs::copy(&out_b, keep.join("b.parquet"));
        let rows = |p: &Path| -> Vec<arrow_array::RecordBatch> {
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                std::fs::File::open(p).unwrap(),
            )
            .unwrap()
            .build()
            .unwrap()
            .map(Result::unwrap)
            .collect()
        };
        // Row groups hold a fixed number of rows, so equal rows come back in equal batches.
        let same_rows = rows(&out_a) == rows(&out_b);
        panic!(
            "outputs differ after {kills} kills ({} vs {} bytes; rows {}); kept in {}",
            a.len(),
            b.len(),
            if same_rows { "equal" } else { "differ" },
            keep.display()
        );
    }
    let dla = std::fs::read(dir.path().join("a.parquet.rejected.ndjson")).unwrap();
    let dlb = std::fs::read(dir.path().join("b.parquet.rejected.ndjson")).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&dla).lines().count(),
        (rows / 49_999 + 1) as usize
    );
    assert!(
        dla == dlb,
        "dead letters differ:\n{}\n---\n{}",
        String::from_utf8_lossy(&dla),
        String::from_utf8_lossy(&dlb)
    );
    // A run without checkpoints writes the output directly: still the same bytes.
    let out_c = dir.path().join("c.parquet");
    let st = Command::new(bin())
        .args([
            "features",
            "--spec",
            spec.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--output",
            out_c.to_str().unwrap(),
            "--batch-rows",
            "5000",
        ])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(1));
    assert!(
        std::fs::read(&out_c).unwrap() == a,
        "the direct (uncheckpointed) output differs"
    );
    // The checkpoint is cleaned up after a complete run.
    assert!(!ck_b.join("meta.json").exists());
}
