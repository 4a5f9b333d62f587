//! Encryption at rest, end to end through the CLI: a checkpointed `riskstream features` run
//! with master keys set is killed after a checkpoint, its master key is rotated and the
//! files re-wrapped (`riskstream keys rewrap`), and the run restarts with only the new key:
//! it resumes from its encrypted checkpoint and writes the same features and dead letters as
//! a plain run. No checkpoint, dead-letter, score or model file holds the marker strings a
//! plain run shows in clear; a wrong key is a clear error naming the file.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use riskstream_core::crypt::{is_sealed, open_bytes, MasterKeys};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const S1: &str = "4b1d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d";
const S2: &str = "9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d4b1d1e0f9a8b7c6d5e4f3a2b1c0d";
/// In the bad rows' amount column: the dead letters keep the raw line.
const MARKER: &str = "MARKER-DEAD-LETTER";

fn spec() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/fraud-handbook/features.toml")
}

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
    let mut secs = 0i64;
    for id in 0..rows {
        secs += (next() % 20) as i64;
        let day = 1 + secs / 86_400; // April 2018 has 30 days: keep rows inside it
        let tod = secs % 86_400;
        let when = format!(
            "2018-04-{day:02} {:02}:{:02}:{:02}",
            tod / 3600,
            (tod / 60) % 60,
            tod % 60
        );
        let (cust, term) = (next() % 2_000, next() % 3_000);
        let amount = if id % 20_011 == 7 {
            MARKER.to_string()
        } else {
            format!("{:.2}", (next() % 20_000) as f64 / 100.0)
        };
        let fraud = u64::from(next() % 100 == 0);
        writeln!(
            f,
            "{id},{when},{cust},{term},{amount},{secs},{},{fraud},0",
            secs / 86_400
        )
        .unwrap();
    }
}

/// The CLI with the master keys given inline (`None`: encryption off).
fn bin(dir: &Path, keys: Option<&str>) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_riskstream"));
    c.current_dir(dir)
        .env_remove("RISKSTREAM_MASTER_KEYS_FILE")
        .env_remove("RISKSTREAM_MASTER_KEYS");
    if let Some(k) = keys {
        c.env("RISKSTREAM_MASTER_KEYS", k);
    }
    c
}

fn features(dir: &Path, keys: Option<&str>, out: &str) -> Command {
    let mut c = bin(dir, keys);
    c.args(["features", "--spec"])
        .arg(spec())
        .args(["--input", "history.csv", "--output"])
        .arg(format!("{out}/features.parquet"))
        .args(["--checkpoint-dir", &format!("{out}/ck")])
        .args(["--checkpoint-every", "20000", "--batch-rows", "5000"]);
    c
}

fn consumed(ckpt: &Path) -> u64 {
    std::fs::read_to_string(ckpt.join("meta.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["tx_consumed"].as_u64())
        .unwrap_or(0)
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn run_text(mut c: Command) -> (Option<i32>, String) {
    let out = c.output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

#[test]
fn encrypted_checkpoints_restore_after_a_kill_and_a_key_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_history(&d.join("history.csv"), 200_000);
    let m1 = format!("m1:{S1}");

    // Reference: encryption off. The marker is in the plain dead letters (the scan below
    // can see it when it is there).
    let (code, text) = run_text(features(d, None, "plain"));
    assert_eq!(code, Some(1), "bad rows are dead-lettered:\n{text}");
    let plain_dead = std::fs::read(d.join("plain/features.parquet.rejected.ndjson")).unwrap();
    assert!(contains(&plain_dead, MARKER));

    // Encrypted run, killed right after a checkpoint.
    let mut child = features(d, Some(&m1), "enc")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut killed = false;
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if consumed(&d.join("enc/ck")) >= 40_000 {
            child.kill().unwrap();
            child.wait().unwrap();
            killed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(
        killed,
        "the run finished before a checkpoint could be killed"
    );

    // Every state file and the dead letters are encrypted; no marker anywhere.
    let mut sealed = 0;
    for f in files(&d.join("enc")) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !contains(&bytes, MARKER),
            "{} holds the marker",
            f.display()
        );
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("state") || name.ends_with(".ndjson") {
            assert!(is_sealed(&bytes), "{} is not encrypted", f.display());
            sealed += 1;
        }
    }
    assert!(sealed >= 2, "{sealed} encrypted files");

    // A wrong secret under the same id: refused, naming the state file, exit 2.
    let (code, text) = run_text(features(d, Some(&format!("m1:{S2}")), "enc"));
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("state-") && text.contains("master key `m1` does not open"),
        "{text}"
    );

    // Rotation: m2 becomes primary (key file, owner-only), files are re-wrapped, and m1 is
    // dropped.
    let keyfile = d.join("master.toml");
    std::fs::write(
        &keyfile,
        format!("active = \"m2\"\n[[key]]\nid = \"m1\"\nsecret = \"{S1}\"\n[[key]]\nid = \"m2\"\nsecret = \"{S2}\"\n"),
    )
    .unwrap();
    let mut c = bin(d, None);
    c.env("RISKSTREAM_MASTER_KEYS_FILE", &keyfile)
        .args(["keys", "rewrap", "enc"]);
    let (code, text) = run_text(c);
    assert_eq!(
        code,
        Some(2),
        "a group-readable key file is refused:\n{text}"
    );
    assert!(text.contains("chmod 600"), "{text}");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&keyfile, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let mut c = bin(d, None);
    c.env("RISKSTREAM_MASTER_KEYS_FILE", &keyfile)
        .args(["keys", "rewrap", "enc"]);
    let (code, text) = run_text(c);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("re-wrapped from `m1` to `m2`"), "{text}");

    // Restart with only m2: resumes from the encrypted checkpoint.
    let m2 = format!("m2:{S2}");
    let (code, text) = run_text(features(d, Some(&m2), "enc"));
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("resumed from a checkpoint"), "{text}");
    let keys = MasterKeys::parse_inline(&m2, "test").unwrap();
    // The features are written with Parquet's modular encryption: the plain reader refuses
    // them, ours with the key reads the plain run's batches.
    let enc_features = d.join("enc/features.parquet");
    assert!(std::fs::read(&enc_features).unwrap().ends_with(b"PARE"));
    let plain_reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(&enc_features).unwrap(),
    );
    assert!(plain_reader.is_err(), "read without the key");
    let batches = |b: parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder<
        std::fs::File,
    >| { b.build().unwrap().map(Result::unwrap).collect::<Vec<_>>() };
    assert_eq!(
        batches(
            riskstream_io::parquet_crypt::reader_builder_with(&enc_features, Some(&keys)).unwrap()
        ),
        batches(
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                std::fs::File::open(d.join("plain/features.parquet")).unwrap()
            )
            .unwrap()
        ),
        "features differ from the plain run"
    );
    let enc_dead = std::fs::read(d.join("enc/features.parquet.rejected.ndjson")).unwrap();
    assert!(is_sealed(&enc_dead) && !contains(&enc_dead, MARKER));
    assert_eq!(
        open_bytes(Some(&keys), &enc_dead, "dead").unwrap(),
        plain_dead
    );

    // Train and score with encryption on: the model and the scores are encrypted, and the
    // same commands read them back.
    let (code, text) = run_text({
        let mut c = bin(d, Some(&m2));
        c.args(["train", "--input", "enc/features.parquet", "--spec"])
            .arg(spec())
            .args([
                "--label",
                "TX_FRAUD",
                "--algorithm",
                "gbdt",
                "--set",
                "n_rounds=3",
            ])
            .args(["--output", "enc/model.json"]);
        c
    });
    assert_eq!(code, Some(0), "{text}");
    let model = std::fs::read(d.join("enc/model.json")).unwrap();
    assert!(is_sealed(&model) && !contains(&model, "feature_names"));
    let (code, text) = run_text({
        let mut c = bin(d, Some(&m2));
        c.args(["score", "--input", "enc/features.parquet", "--spec"])
            .arg(spec())
            .args(["--model", "enc/model.json", "--output", "enc/scores.csv"]);
        c
    });
    assert!(code.is_some_and(|c| c <= 1), "{text}");
    let scores = std::fs::read(d.join("enc/scores.csv")).unwrap();
    assert!(is_sealed(&scores));
    let clear = open_bytes(Some(&keys), &scores, "scores").unwrap();
    assert!(
        clear.len() > 1000 && clear.iter().filter(|b| **b == b'\n').count() > 100,
        "{} bytes of scores",
        clear.len()
    );
    // The readers tell an encrypted CSV by its header: `inspect` reads the scores as they
    // are on disk, with the key; without it, the error names the file and the key.
    let (code, text) = run_text({
        let mut c = bin(d, Some(&m2));
        c.args(["inspect", "enc/scores.csv"]);
        c
    });
    // Exit 1: the inferred schema makes an empty third reason a rejected row.
    assert!(
        code.is_some_and(|c| c <= 1) && text.contains("199,990 read"),
        "{text}"
    );
    let (code, text) = run_text({
        let mut c = bin(d, None);
        c.args(["inspect", "enc/scores.csv"]);
        c
    });
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("enc/scores.csv") && text.contains("master key `m2`"),
        "{text}"
    );
    // Without the key the model is refused with the reason, not read as garbage.
    let (code, text) = run_text({
        let mut c = bin(d, None);
        c.args(["score", "--input", "enc/features.parquet", "--spec"])
            .arg(spec())
            .args(["--model", "enc/model.json", "--output", "enc/scores2.csv"]);
        c
    });
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("no master keys are configured"), "{text}");
}
