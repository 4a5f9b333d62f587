//! Card numbers never in clear: a synthetic bank with card numbers goes through
//! `generate --pii` → `features` (checkpointed, with dead letters) → `train`, and then every
//! file riskstream wrote is scanned for Luhn-valid 13–19 digit numbers. The raw feed the
//! generator wrote (the bank's side) has them; nothing after ingest does. Tokens are stable
//! under one key and differ under another; without a key the input is refused.
//!
//! The scanner reads Parquet through its decoder (pages are compressed, so a byte scan
//! alone would see nothing) and every file's bytes as they are; it is shown to find a
//! planted card number in each kind of file, so a clean scan means something.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use riskstream_core::pii::scan::find_pans;
use std::path::{Path, PathBuf};
use std::process::Command;

const K1: &str = "k1:5e1f0c2b9a8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f";
const K2: &str = "k2:0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";

fn bin(dir: &Path, keys: Option<&str>) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_riskstream"));
    c.current_dir(dir)
        .env_remove("RISKSTREAM_PII_KEYS_FILE")
        .env_remove("RISKSTREAM_PII_KEYS");
    if let Some(k) = keys {
        c.env("RISKSTREAM_PII_KEYS", k);
    }
    c
}

fn ok(mut c: Command) -> String {
    let out = c.output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{c:?} failed:\n{text}");
    text
}

/// Every card number in `path` (Parquet decoded to CSV text, and the bytes as stored),
/// each with a little context.
fn pans_in(path: &Path) -> Vec<String> {
    let bytes = std::fs::read(path).unwrap();
    let mut texts = vec![bytes.clone()];
    if path.extension().is_some_and(|e| e == "parquet") {
        let f = std::fs::File::open(path).unwrap();
        let r = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
            .unwrap()
            .build()
            .unwrap();
        let mut csv = arrow_csv::Writer::new(Vec::new());
        for b in r {
            csv.write(&b.unwrap()).unwrap();
        }
        texts.push(csv.into_inner());
    }
    if path.extension().is_some_and(|e| e == "gz") {
        let mut s = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&bytes[..]), &mut s)
            .unwrap();
        texts.push(s);
    }
    texts
        .iter()
        .flat_map(|t| {
            find_pans(t).into_iter().map(move |r| {
                let lo = r.start.saturating_sub(30);
                let hi = (r.end + 30).min(t.len());
                format!(
                    "{}: …{}…",
                    path.display(),
                    String::from_utf8_lossy(&t[lo..hi])
                )
            })
        })
        .collect()
}

/// Every file under `dir`, recursively.
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

/// The `card_id` and `card_pan` columns of a features file.
fn cards(path: &Path) -> Vec<(i64, String)> {
    use arrow_array::cast::AsArray;
    let f = std::fs::File::open(path).unwrap();
    let r = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap();
    let mut v = Vec::new();
    for b in r {
        let b = b.unwrap();
        let id = b
            .column_by_name("card_id")
            .unwrap()
            .as_primitive::<arrow_array::types::Int64Type>()
            .clone();
        let pan = b.column_by_name("card_pan").unwrap();
        for r in 0..b.num_rows() {
            let t = match pan.as_string_opt::<i32>() {
                Some(s) => s.value(r).to_string(),
                None => {
                    let d = pan.as_dictionary::<arrow_array::types::Int32Type>();
                    let k = d.keys().value(r) as usize;
                    d.values().as_string::<i32>().value(k).to_string()
                }
            };
            v.push((id.value(r), t));
        }
    }
    v
}

#[test]
fn no_card_number_is_written_after_ingest_and_tokens_join() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok({
        let mut c = bin(d, None);
        c.args([
            "generate", "--pii", "--format", "csv", "--out", "raw", "--seed", "5",
        ])
        .args(["--customers", "300", "--terminals", "100", "--days", "20"]);
        c
    });
    // The bank's raw feed has card numbers in clear: the scanner sees them.
    let raw_tx = d.join("raw/transactions.csv");
    let found = pans_in(&raw_tx);
    assert!(
        found.len() > 1_000,
        "{} card numbers in the raw feed",
        found.len()
    );

    // Two broken rows with card numbers go to the dead letters: one whose amount is bad
    // (the card number is in its column), one cut short (it cannot be split into fields).
    let text = std::fs::read_to_string(&raw_tx).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    assert_eq!(header.last(), Some(&"card_pan"));
    let amount = header.iter().position(|h| *h == "amount").unwrap();
    let last: Vec<&str> = text.lines().last().unwrap().split(',').collect();
    let mut bad = last.clone();
    bad[amount] = "x";
    let cut = format!("{},{},5555555555554444", last[0], last[1]);
    std::fs::create_dir_all(d.join("feed")).unwrap();
    std::fs::write(
        d.join("feed/transactions.csv"),
        format!("{text}{}\n{cut}\n", bad.join(",")),
    )
    .unwrap();

    // The feature spec of examples/bank, plus a velocity feature keyed by the card token
    // and the token passed through to the output.
    let ex = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/bank");
    let spec = std::fs::read_to_string(ex.join("features.toml"))
        .unwrap()
        .replace("\"is_fraud\"]", "\"is_fraud\", \"card_pan\"]");
    assert!(spec.contains("\"card_pan\"]"));
    let spec = format!("{spec}\n[[feature]]\nname = \"pan_n_1d\"\nentity = \"card_pan\"\nagg = \"count\"\nwindow = \"1d\"\n");
    std::fs::write(d.join("features.toml"), spec).unwrap();
    std::fs::copy(ex.join("labels.schema.toml"), d.join("labels.schema.toml")).unwrap();

    let features = |keys: Option<&str>, out: &str| {
        let mut c = bin(d, keys);
        c.args([
            "features",
            "--spec",
            "features.toml",
            "--input",
            "feed/transactions.csv",
        ])
        .args(["--labels", "raw/labels.csv"])
        .args(["--output", &format!("{out}/features.parquet")])
        .args(["--dead-letter", &format!("{out}/dead.ndjson")])
        .args([
            "--checkpoint-dir",
            &format!("{out}/ck"),
            "--checkpoint-every",
            "3000",
        ]);
        c
    };
    // No key: refused, naming the field and the way to give one.
    let refused = features(None, "nokey").output().unwrap();
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("`card_pan`") && err.contains("no PII key"),
        "{err}"
    );

    // The two planted bad rows are dead-lettered: the run finishes and exits 1 ("done, with
    // rejected records"), as every command that dead-letters does.
    for (k, run) in [(K1, "run1"), (K1, "run2"), (K2, "run3")] {
        let out = features(Some(k), run).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{run}:\n{text}");
        assert!(text.contains("2 rejected"), "{run}:\n{text}");
    }
    ok({
        let mut c = bin(d, Some(K1));
        c.args([
            "train",
            "--input",
            "run1/features.parquet",
            "--spec",
            "features.toml",
        ])
        .args([
            "--label",
            "is_fraud",
            "--algorithm",
            "gbdt",
            "--set",
            "n_rounds=5",
        ])
        .args(["--output", "run1/model.json"]);
        c
    });

    // Nothing riskstream wrote after ingest holds a card number.
    let mut scanned = Vec::new();
    for run in ["run1", "run2", "run3"] {
        for f in files(&d.join(run)) {
            let found = pans_in(&f);
            assert!(
                found.is_empty(),
                "card numbers in clear:\n{}",
                found.join("\n")
            );
            scanned.push(f.strip_prefix(d).unwrap().display().to_string());
        }
    }
    // At least the feature tables and dead letters of every run and the model.
    for want in [
        "run1/features.parquet",
        "run1/dead.ndjson",
        "run1/model.json",
        "run2/features.parquet",
        "run3/dead.ndjson",
    ] {
        assert!(
            scanned.iter().any(|s| s == want),
            "{want} not scanned: {scanned:?}"
        );
    }

    // The dead letters kept both rows, treated.
    let dead = std::fs::read_to_string(d.join("run1/dead.ndjson")).unwrap();
    let lines: Vec<&str> = dead.lines().collect();
    assert_eq!(lines.len(), 2, "{dead}");
    assert!(
        lines[0].contains("\"reason\":\"bad_float\"") && lines[0].contains("tok:k1:"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains("\"reason\":\"wrong_field_count\"")
            && lines[1].contains("************4444"),
        "{}",
        lines[1]
    );

    // Tokens: one per card, the same in two runs under one key, others under another key.
    let (a, b, c) = (
        cards(&d.join("run1/features.parquet")),
        cards(&d.join("run2/features.parquet")),
        cards(&d.join("run3/features.parquet")),
    );
    assert!(a.len() > 1_000);
    assert_eq!(a, b, "same key, same tokens");
    let per_card: std::collections::HashMap<i64, &str> =
        a.iter().map(|(id, t)| (*id, t.as_str())).collect();
    assert!(a
        .iter()
        .all(|(id, t)| per_card[id] == t && t.starts_with("tok:k1:")));
    let distinct: std::collections::HashSet<&str> = per_card.values().copied().collect();
    assert_eq!(distinct.len(), per_card.len(), "one token per card");
    assert_eq!(a.len(), c.len());
    for ((ia, ta), (ic, tc)) in a.iter().zip(&c) {
        assert_eq!(ia, ic);
        assert!(tc.starts_with("tok:k2:") && ta[7..] != tc[7..], "{ta} {tc}");
    }
}

/// The scan finds a card number planted in each kind of file it reads, so a clean scan is
/// evidence, not an accident of how files are read.
#[test]
fn the_scanner_finds_planted_card_numbers() {
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("a.ndjson"), "{\"x\":\"4539148803436467\"}\n").unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, b"id,pan\n1,378282246310005\n").unwrap();
    std::fs::write(d.join("b.csv.gz"), gz.finish().unwrap()).unwrap();
    // Parquet, zstd-compressed, dictionary-encoded, no statistics: only decoding finds it.
    let col: arrow_array::ArrayRef = Arc::new(arrow_array::StringArray::from(vec![
            "6011111111111117";
            1000
        ]));
    let batch = arrow_array::RecordBatch::try_from_iter([("pan", col)]).unwrap();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
        .set_statistics_enabled(parquet::file::properties::EnabledStatistics::None)
        .build();
    let f = std::fs::File::create(d.join("c.parquet")).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(f, batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    for (f, pan) in [
        ("a.ndjson", "4539148803436467"),
        ("b.csv.gz", "378282246310005"),
        ("c.parquet", "6011111111111117"),
    ] {
        let found = pans_in(&d.join(f));
        assert!(found.iter().any(|s| s.contains(pan)), "{f}: {found:?}");
    }
    std::fs::write(d.join("clean.txt"), "0.4539148803436467 tok:k1:abc 12345").unwrap();
    assert!(pans_in(&d.join("clean.txt")).is_empty());
}

/// `pii = "fpe"` on the generated card numbers: the features keep each card's length, BIN
/// and last four, one value per card and the same in two runs; nothing written is a
/// Luhn-valid number; `riskstream keys fpe-decrypt` gives the bank's numbers back.
#[test]
fn fpe_cards_keep_their_format_decrypt_and_are_never_luhn_valid() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok({
        let mut c = bin(d, None);
        c.args([
            "generate", "--pii", "--format", "csv", "--out", "raw", "--seed", "7",
        ])
        .args(["--customers", "150", "--terminals", "100", "--days", "10"]);
        c
    });
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let schema = std::fs::read_to_string(root.join("schemas/bank-transactions.toml")).unwrap();
    assert_eq!(schema.matches("pii = \"tokenize\"").count(), 1);
    let schema = schema.replace("pii = \"tokenize\"", "pii = \"fpe\"");
    std::fs::write(d.join("tx.schema.toml"), schema).unwrap();
    let ex = root.join("examples/bank");
    let spec = std::fs::read_to_string(ex.join("features.toml"))
        .unwrap()
        .replace(
            "schema = \"riskstream-bank-transactions\"",
            "schema = \"tx.schema.toml\"",
        )
        .replace("\"is_fraud\"]", "\"is_fraud\", \"card_pan\"]");
    assert!(spec.contains("\"card_pan\"]") && spec.contains("tx.schema.toml"));
    let spec = format!("{spec}\n[[feature]]\nname = \"pan_n_1d\"\nentity = \"card_pan\"\nagg = \"count\"\nwindow = \"1d\"\n");
    std::fs::write(d.join("features.toml"), spec).unwrap();
    std::fs::copy(ex.join("labels.schema.toml"), d.join("labels.schema.toml")).unwrap();
    for run in ["run1", "run2"] {
        ok({
            let mut c = bin(d, Some(K1));
            c.args(["features", "--spec", "features.toml"])
                .args([
                    "--input",
                    "raw/transactions.csv",
                    "--labels",
                    "raw/labels.csv",
                ])
                .args(["--output", &format!("{run}/features.parquet")])
                .args(["--dead-letter", &format!("{run}/dead.ndjson")])
                .args([
                    "--checkpoint-dir",
                    &format!("{run}/ck"),
                    "--checkpoint-every",
                    "2000",
                ]);
            c
        });
        for f in files(&d.join(run)) {
            let found = pans_in(&f);
            assert!(found.is_empty(), "card numbers:\n{}", found.join("\n"));
        }
    }
    let (a, b) = (
        cards(&d.join("run1/features.parquet")),
        cards(&d.join("run2/features.parquet")),
    );
    assert!(a.len() > 500, "{}", a.len());
    assert_eq!(a, b, "same key, same values");

    // The bank's card numbers, by card id.
    let text = std::fs::read_to_string(d.join("raw/transactions.csv")).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    let (ci, pi) = (col("card_id"), col("card_pan"));
    let raw: std::collections::HashMap<i64, String> = text
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[ci].parse().unwrap(), f[pi].to_string())
        })
        .collect();
    let mut per_card = std::collections::BTreeMap::new();
    for (id, v) in &a {
        let pan = &raw[id];
        let n = pan.len();
        let front = (n - 10).min(6);
        assert!(
            v.len() == n && v != pan && v[..front] == pan[..front] && v[n - 4..] == pan[n - 4..],
            "{pan} -> {v}"
        );
        assert_eq!(per_card.entry(*id).or_insert(v), &v, "one value per card");
    }
    let distinct: std::collections::HashSet<&&String> = per_card.values().collect();
    assert_eq!(distinct.len(), per_card.len());

    // Decrypted through the CLI, from standard input: the bank's numbers.
    let mut c = bin(d, Some(K1));
    c.args(["keys", "fpe-decrypt"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    let input: String = per_card.values().map(|v| format!("{v}\n")).collect();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let clear: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let want: Vec<String> = per_card.keys().map(|id| raw[id].clone()).collect();
    assert_eq!(clear, want);
    // Under another key id: refused by name; a card number in clear is not an fpe value.
    let mut c = bin(d, Some(K1));
    c.args(["keys", "fpe-decrypt", "--key-id", "k2", &want[0]]);
    let out = c.output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no PII key with id `k2`"));
    let mut c = bin(d, Some(K1));
    c.args(["keys", "fpe-decrypt", &want[0]]);
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("value 1: not an fpe output") && !err.contains(&want[0]),
        "{err}"
    );
}
