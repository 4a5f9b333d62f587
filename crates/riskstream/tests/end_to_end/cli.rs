//! The CLI as a user runs it: `inspect` on the public data prints the published counts,
//! `validate` reports every problem at once and exits 2, `generate` is deterministic.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::path::PathBuf;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_riskstream"))
}

/// The standard output of a run that must have succeeded (else both outputs, in the panic).
fn succeeded(out: &std::process::Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn data() -> Option<PathBuf> {
    let d = std::env::var_os("RISKSTREAM_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    if d.is_dir() {
        Some(d)
    } else {
        eprintln!("SKIP: {} is absent; these tests read the public data sets in ../shared/data (CI has them; set RISKSTREAM_DATA)", d.display());
        None
    }
}

#[test]
fn inspect_prints_the_handbook_row_and_fraud_counts() {
    let Some(d) = data() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .current_dir(dir.path())
        .args([
            "inspect",
            d.join("fraud-handbook-simulated/raw/transactions_2018-04-01_2018-09-30.csv.gz")
                .to_str()
                .unwrap(),
        ])
        .output()
        .unwrap();
    let text = succeeded(&out);
    assert!(
        text.contains("1,754,155 read, 1,754,155 accepted, 0 rejected"),
        "{text}"
    );
    assert!(
        text.contains("TX_FRAUD: 14,681 positive of 1,754,155 labelled"),
        "{text}"
    );
    assert!(
        text.contains("2018-04-01 00:00:31 .. 2018-09-30 23:59:57"),
        "{text}"
    );
}

#[test]
fn inspect_reads_the_semicolon_separated_bank_marketing_file() {
    let Some(d) = data() else { return };
    let dir = tempfile::tempdir().unwrap();
    let f = d.join("bank-marketing-uci/bank-additional-full.csv.gz");
    // The delimiter is sniffed from the header (and said), or given explicitly.
    for args in [vec!["--json"], vec!["--delimiter", ";", "--json"]] {
        let out = bin()
            .current_dir(dir.path())
            .arg("inspect")
            .arg(&f)
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if args.len() == 1 {
            assert!(String::from_utf8_lossy(&out.stderr).contains("looks `;`-separated"));
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["read"]["accepted"], 41_188);
        assert_eq!(v["profile"]["columns"].as_array().unwrap().len(), 21);
    }
    // A wrong explicit delimiter is a clear error that names the right one.
    let out = bin()
        .current_dir(dir.path())
        .arg("inspect")
        .arg(&f)
        .args(["--delimiter", ",", "--schema", "fraud-handbook-raw"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--delimiter ';'"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn validate_reports_every_schema_problem_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.toml");
    std::fs::write(&p, "name = \"x\"\nentities = [\"CUSTOMR\"]\n[[field]]\nname = \"CUSTOMER\"\ntype = \"flaot\"\n[[field]]\nname = \"T\"\ntype = \"timestamp\"\nrequried = true\n").unwrap();
    let out = bin()
        .args(["validate", p.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for e in [
        "3 problems",
        "unknown type `flaot` (hint: did you mean `float`?)",
        "unknown key `requried`",
        "`CUSTOMR`, which is not declared",
    ] {
        assert!(err.contains(e), "missing `{e}` in:\n{err}");
    }
    let ok = bin()
        .args([
            "validate",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../schemas/fraud-handbook-raw.toml"
            ),
        ])
        .output()
        .unwrap();
    assert!(ok.status.success());
}

#[test]
fn generate_is_deterministic_and_its_output_inspects_clean() {
    let dir = tempfile::tempdir().unwrap();
    for run in ["a", "b"] {
        let st = bin()
            .current_dir(dir.path())
            .args([
                "generate",
                "--out",
                run,
                "--seed",
                "7",
                "--customers",
                "300",
                "--terminals",
                "100",
                "--days",
                "5",
                "--format",
                "csv",
            ])
            .output()
            .unwrap();
        assert!(
            st.status.success(),
            "{}",
            String::from_utf8_lossy(&st.stderr)
        );
    }
    for f in [
        "transactions.csv",
        "labels.csv",
        "loans.csv",
        "products.csv",
        "volumes.csv",
    ] {
        assert_eq!(
            std::fs::read(dir.path().join("a").join(f)).unwrap(),
            std::fs::read(dir.path().join("b").join(f)).unwrap(),
            "{f} differs"
        );
    }
    let out = bin()
        .current_dir(dir.path())
        .args([
            "inspect",
            "a/transactions.csv",
            "--schema",
            "riskstream-bank-transactions",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(" 0 rejected"));
}

#[test]
fn validate_checks_pipeline_configs() {
    let ex = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/pipeline");
    for f in ["nats.toml", "kafka.toml"] {
        let ok = bin()
            .args(["validate", &format!("{ex}/{f}")])
            .output()
            .unwrap();
        assert!(
            ok.status.success(),
            "{f}: {}",
            String::from_utf8_lossy(&ok.stderr)
        );
        assert!(String::from_utf8_lossy(&ok.stdout).contains("ok (pipeline"));
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("pipe.toml");
    std::fs::write(
        &p,
        "[source]\nkind = \"kafak\"\n[sink]\nkind = \"file\"\npath = \"d.ndjson\"\n\
         [registry]\nurl = \"sqlite::memory:\"\nreview = [\"declined\"]\n",
    )
    .unwrap();
    let out = bin()
        .args(["validate", p.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for e in [
        "source.kind",
        "did you mean `kafka`",
        "features.spec",
        "decide.policy",
        "registry.url",
        "registry.review[0]",
    ] {
        assert!(err.contains(e), "missing `{e}` in:\n{err}");
    }
}

/// `features` on a generated bank (transactions and label events, each read on its own
/// thread) gives the same rows whatever the Parquet compression, and a checkpointed run
/// gives the same bytes as a direct one; an unknown compression is refused by name.
#[test]
fn features_output_is_the_same_rows_under_every_compression() {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let dir = tempfile::tempdir().unwrap();
    let gen = bin()
        .current_dir(dir.path())
        .args([
            "generate",
            "--out",
            "bank",
            "--seed",
            "3",
            "--customers",
            "200",
            "--terminals",
            "100",
            "--days",
            "20",
        ])
        .output()
        .unwrap();
    assert!(
        gen.status.success(),
        "{}",
        String::from_utf8_lossy(&gen.stderr)
    );
    let spec = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/bank/features.toml");
    let run = |extra: &[&str], out: &str| {
        let o = bin()
            .current_dir(dir.path())
            .args(["features", "--spec", spec.to_str().unwrap()])
            .args([
                "--input",
                "bank/transactions.parquet",
                "--labels",
                "bank/labels.parquet",
            ])
            .args(["--output", out, "--batch-rows", "1000"])
            .args(extra)
            .output()
            .unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
        )
    };
    let rows = |name: &str| {
        let f = std::fs::File::open(dir.path().join(name)).unwrap();
        let r = ParquetRecordBatchReaderBuilder::try_new(f)
            .unwrap()
            .build()
            .unwrap();
        r.map(|b| b.unwrap()).collect::<Vec<_>>()
    };
    let mut seen = Vec::new();
    for c in ["zstd", "snappy", "lz4", "none"] {
        let out = format!("f-{c}.parquet");
        let (ok, text) = run(&["--compression", c], &out);
        assert!(ok, "{c}: {text}");
        let batches = rows(&out);
        let n: usize = batches.iter().map(|b| b.num_rows()).sum();
        assert!(n > 1_000, "{c}: {n} rows");
        seen.push((
            c,
            batches,
            std::fs::metadata(dir.path().join(&out)).unwrap().len(),
        ));
    }
    for (c, b, _) in &seen[1..] {
        assert_eq!(b, &seen[0].1, "{c} decodes to other rows than zstd");
    }
    let (zstd, none) = (seen[0].2, seen[3].2);
    assert!(zstd < none, "zstd {zstd} bytes, uncompressed {none}");
    // Checkpointed every 1,500 rows (several parts merged at the end): the same bytes.
    let (ok, text) = run(
        &["--checkpoint-dir", "ck", "--checkpoint-every", "1500"],
        "f-ck.parquet",
    );
    assert!(ok, "{text}");
    assert_eq!(
        std::fs::read(dir.path().join("f-ck.parquet")).unwrap(),
        std::fs::read(dir.path().join("f-zstd.parquet")).unwrap()
    );
    let (ok, text) = run(&["--compression", "brotli"], "f-x.parquet");
    assert!(!ok);
    assert!(
        text.contains("unknown Parquet compression `brotli`"),
        "{text}"
    );
}

/// `bench handbook` without peers runs our two jobs `--runs` times and reports the median.
#[test]
fn a_missing_input_is_named_once_with_its_cause() {
    let dir = tempfile::tempdir().unwrap();
    let spec = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/fraud-handbook/features.toml");
    let out = bin()
        .args(["features", "--spec"])
        .arg(&spec)
        .arg("--input")
        .arg(dir.path().join("absent.csv"))
        .arg("--output")
        .arg(dir.path().join("f.parquet"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot open") && err.contains("absent.csv"),
        "{err}"
    );
    assert_eq!(err.matches("os error 2").count(), 1, "{err}");
}

#[test]
fn bench_handbook_reports_the_median_of_its_runs() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("tx.csv");
    let mut csv = String::from("TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_AMOUNT,TX_TIME_SECONDS,TX_TIME_DAYS,TX_FRAUD,TX_FRAUD_SCENARIO\n");
    for i in 0..40 {
        csv.push_str(&format!(
            "{i},2018-04-01 00:{:02}:{:02},{},{},{}.25,{},0,0,0\n",
            i / 60,
            i % 60,
            i % 4,
            i % 3,
            10 + i,
            i
        ));
    }
    std::fs::write(&input, csv).unwrap();
    let spec = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/fraud-handbook/features.toml");
    let out = bin()
        .args(["bench", "handbook", "--peers", "", "--runs", "3"])
        .arg("--input")
        .arg(&input)
        .arg("--spec")
        .arg(&spec)
        .arg("--out-dir")
        .arg(dir.path().join("bench"))
        .output()
        .unwrap();
    let text = succeeded(&out);
    let ours: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("riskstream"))
        .collect();
    // To Parquet, into no sink, engine only.
    assert_eq!(ours.len(), 3, "{text}");
    assert!(ours[1].contains("no sink"), "{text}");
    for l in ours {
        assert!(l.contains("median of 3 runs"), "{l}");
        assert!(l.contains(" 40 "), "{l}");
    }
    let bad = bin()
        .args(["bench", "handbook", "--peers", "", "--runs", "0"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
}

/// `audit verify` / `audit head` on a registry keyed through RISKSTREAM_AUDIT_KEY_FILE: what
/// an operator sees with the key, without it, with a bad key file and with a published head.
#[cfg(unix)]
#[test]
fn audit_verify_with_a_key_file_and_a_published_head() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let spec = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/fraud-handbook/features.toml");
    let db = dir.path().join("registry.db");
    let config = dir.path().join("service.toml");
    std::fs::write(
        &config,
        format!(
            "[registry]\nurl = \"sqlite://{}\"\n\n[features]\nspec = \"{}\"\n",
            db.display(),
            spec.display()
        ),
    )
    .unwrap();
    let key = dir.path().join("audit.key");
    std::fs::write(&key, format!("{}\n", "5a".repeat(32))).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let run = |args: &[&str], with_key: bool| {
        let mut cmd = bin();
        cmd.env_remove("RISKSTREAM_AUDIT_KEY_FILE")
            .args(args)
            .arg("--config")
            .arg(&config);
        if with_key {
            cmd.env("RISKSTREAM_AUDIT_KEY_FILE", &key);
        }
        cmd.output().unwrap()
    };
    let stderr = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).into_owned();

    // Changes made with the key in the environment are keyed.
    for name in ["ops", "scorer"] {
        succeeded(&run(
            &["keys", "create", "--name", name, "--role", "admin"],
            true,
        ));
    }
    let mode = std::fs::metadata(&db).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the registry file is the owner's only");

    let ok = run(&["audit", "verify"], true);
    let report: serde_json::Value = serde_json::from_str(&succeeded(&ok)).unwrap();
    assert_eq!(
        (report["keyed"].as_u64(), report["unkeyed"].as_u64()),
        (Some(2), Some(0))
    );
    assert!(
        stderr(&ok).contains("audit log intact: 2 records (2 keyed"),
        "{}",
        stderr(&ok)
    );

    // Without the key: not verified, exit 1, and how to give it.
    let no_key = run(&["audit", "verify"], false);
    assert_eq!(no_key.status.code(), Some(1), "{}", stderr(&no_key));
    let err = stderr(&no_key);
    assert!(
        err.contains("NOT VERIFIED") && err.contains("--key-file"),
        "{err}"
    );
    let with_flag = run(
        &["audit", "verify", "--key-file", key.to_str().unwrap()],
        false,
    );
    succeeded(&with_flag);

    // An unkeyed change onto the keyed chain is refused (exit 2: the operator's setup).
    let refused = run(&["keys", "revoke", "ops"], false);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("RISKSTREAM_AUDIT_KEY_FILE"),
        "{}",
        stderr(&refused)
    );

    // The head to publish, and verify against it.
    let head = succeeded(&run(&["audit", "head"], false))
        .trim()
        .to_string();
    assert!(head.starts_with("2:") && head.len() == 66, "{head}");
    let anchored = run(&["audit", "verify", "--head", &head], true);
    assert!(
        stderr(&anchored).contains("contains the published head"),
        "{}",
        stderr(&anchored)
    );
    let forged = format!("2:{}", "0".repeat(64));
    let bad = run(&["audit", "verify", "--head", &forged], true);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr(&bad).contains("TAMPERED at row 2"),
        "{}",
        stderr(&bad)
    );
    let typo = run(&["audit", "verify", "--head", "2:xyz"], true);
    assert_eq!(typo.status.code(), Some(2));
    assert!(stderr(&typo).contains("SEQ:HASH"), "{}", stderr(&typo));

    // A key file others can read is refused, with the fix.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
    let loose = run(
        &["audit", "verify", "--key-file", key.to_str().unwrap()],
        false,
    );
    assert_eq!(loose.status.code(), Some(2));
    let err = stderr(&loose);
    assert!(
        err.contains("chmod 600") && err.contains("audit.key"),
        "{err}"
    );
}

/// A handbook-shaped CSV of `n` rows with `bad` rows whose amount is not a number.
fn handbook_csv(n: usize, bad: usize) -> String {
    let mut csv = String::from("TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_AMOUNT,TX_TIME_SECONDS,TX_TIME_DAYS,TX_FRAUD,TX_FRAUD_SCENARIO\n");
    for i in 0..n {
        let amount = if i < bad {
            "\"12,5x\"".to_string()
        } else {
            format!("{}.25", 10 + i)
        };
        csv.push_str(&format!(
            "{i},2018-04-01 00:{:02}:{:02},{},{},{amount},{},0,0,0\n",
            i / 60,
            i % 60,
            i % 4,
            i % 3,
            i
        ));
    }
    csv
}

/// Regression: a plain I/O error (a missing or unreadable input) ended as exit 70, "This is
/// a bug in riskstream". It is the user's (2) or the machine's (3), and the path is named.
#[test]
fn plain_io_errors_ended_as_exit_70() {
    let dir = tempfile::tempdir().unwrap();
    let absent = dir.path().join("absent.toml");
    let out = bin().arg("validate").arg(&absent).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("absent.toml"), "{err}");
    assert!(!err.contains("bug"), "{err}");
    // A directory where a file was expected: not the user's typo, not our bug either.
    let folder = dir.path().join("folder.toml");
    std::fs::create_dir(&folder).unwrap();
    let out = bin().arg("validate").arg(&folder).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(matches!(out.status.code(), Some(2 | 3)), "{err}");
    assert!(err.contains("folder.toml") && !err.contains("bug"), "{err}");
}

/// Regression: `riskstream inspect … | head -1` and `riskstream model list … | head -1`
/// panicked on the closed pipe (exit 101). They end quietly with exit 0.
#[test]
fn a_closed_stdout_panicked_with_exit_101() {
    use std::io::BufRead;
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    // 1,500 columns: inspect's table is far longer than a pipe's buffer.
    let wide = dir.path().join("wide.csv");
    let header: Vec<String> = (0..1_500).map(|i| format!("column_{i}")).collect();
    let row: Vec<String> = (0..1_500).map(|i| i.to_string()).collect();
    std::fs::write(
        &wide,
        format!(
            "{}\n{}\n{}\n",
            header.join(","),
            row.join(","),
            row.join(",")
        ),
    )
    .unwrap();
    let mut child = bin()
        .current_dir(dir.path())
        .arg("inspect")
        .arg(&wide)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("file:"), "{first}");
    // The reader is gone; the rest of the table meets a closed pipe.
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "{err}"
    );

    // `model list` on a registry with a deployment, its reader closed before it writes.
    let spec = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/fraud-handbook/features.toml");
    let config = dir.path().join("service.toml");
    std::fs::write(
        &config,
        format!(
            "[registry]\nurl = \"sqlite://{}?mode=rwc\"\n\n[features]\nspec = \"{}\"\n",
            dir.path().join("registry.db").display(),
            spec.display()
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        bin()
            .env_remove("RISKSTREAM_AUDIT_KEY_FILE")
            .args(args)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap()
    };
    let policy =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/fraud-handbook/policy.toml");
    succeeded(&run(&[
        "policy",
        "push",
        policy.to_str().unwrap(),
        "--activate",
    ]));
    succeeded(&run(&["model", "list"]));
    let mut child = bin()
        .env_remove("RISKSTREAM_AUDIT_KEY_FILE")
        .args(["model", "list", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// Regression: `inspect` and `validate` wrote `<input>.rejected.ndjson` into the current
/// directory. Looking at a file writes nothing unless asked; the first reasons are shown.
#[test]
fn read_only_commands_wrote_dead_letters_into_the_current_directory() {
    let data = tempfile::tempdir().unwrap();
    let input = data.path().join("tx.csv");
    std::fs::write(&input, handbook_csv(20, 2)).unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let inspect = bin()
        .current_dir(cwd.path())
        .arg("inspect")
        .arg(&input)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&inspect.stdout);
    assert_eq!(inspect.status.code(), Some(1), "{text}");
    assert!(text.contains("2 rejected"), "{text}");
    assert!(
        text.contains("first rejected rows") && text.contains("line 2: TX_AMOUNT: bad_float"),
        "{text}"
    );
    let validate = bin()
        .current_dir(cwd.path())
        .args(["validate", "--schema", "fraud-handbook-raw"])
        .arg(&input)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&validate.stdout);
    assert_eq!(validate.status.code(), Some(2), "{text}");
    assert!(
        text.contains("bad_float: 2") && text.contains("first rejected rows"),
        "{text}"
    );
    let left: Vec<_> = std::fs::read_dir(cwd.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(std::fs::read_dir(data.path()).unwrap().count(), 1);

    // Asked: the dead letters are written where asked, every one of them.
    let dl = cwd.path().join("inspect.ndjson");
    let out = bin()
        .current_dir(cwd.path())
        .arg("inspect")
        .arg(&input)
        .arg("--dead-letter")
        .arg(&dl)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("dead letters:"));
    assert_eq!(std::fs::read_to_string(&dl).unwrap().lines().count(), 2);
    let out = bin()
        .current_dir(cwd.path())
        .args([
            "validate",
            "--schema",
            "fraud-handbook-raw",
            "--dead-letter-dir",
            "dl",
        ])
        .arg(&input)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("dead letters:"));
    let written = std::fs::read_to_string(cwd.path().join("dl/tx.csv.rejected.ndjson")).unwrap();
    assert_eq!(written.lines().count(), 2);
}

/// Regression: defaults named files relative to the repository root (`examples/…`,
/// `../shared/…`), so the commands failed when run from anywhere else.
#[test]
fn defaults_relative_to_the_repository_root_failed_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tx.csv"), handbook_csv(40, 0)).unwrap();
    // The handbook's feature spec is the built-in default.
    let out = bin()
        .current_dir(dir.path())
        .args([
            "bench", "handbook", "--peers", "", "--runs", "1", "--input", "tx.csv",
        ])
        .output()
        .unwrap();
    let text = succeeded(&out);
    assert_eq!(
        text.lines().filter(|l| l.starts_with("riskstream")).count(),
        3,
        "{text}"
    );
    // The peers' scripts are looked for beside the repository, not beside the temp dir.
    let out = bin()
        .current_dir(dir.path())
        .args(["bench", "windows", "--input", "tx.csv", "--peers", "spark"])
        .env_remove("PEERS_DIR")
        .env_remove("PEERS_VENV")
        .output()
        .unwrap();
    let text = succeeded(&out);
    let beside = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/peers");
    if beside.join("spark_stream.py").is_file() {
        // Not run for want of the virtualenv, but the script it names is the one that exists.
        let spark = text.lines().find(|l| l.starts_with("spark")).unwrap();
        if let Some(named) = spark
            .split(" or ")
            .nth(1)
            .and_then(|r| r.split(" missing").next())
        {
            assert!(PathBuf::from(named).is_file(), "{spark}");
        }
    }
}

/// Regression: `keys list --config other/service.toml` on a registry that was not there
/// created an empty database and listed nothing. Read-only and changing commands on a
/// missing registry now say so (exit 2) and create nothing; `policy push` goes through the
/// same check as the API, so a policy naming an unknown feature is refused and not stored.
#[test]
fn registry_commands_on_a_missing_registry_created_an_empty_one() {
    let dir = tempfile::tempdir().unwrap();
    let svc = dir.path().join("svc");
    std::fs::create_dir(&svc).unwrap();
    let spec = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/fraud-handbook/features.toml");
    let config = svc.join("service.toml");
    std::fs::write(
        &config,
        format!(
            "[registry]\nurl = \"sqlite://registry.db?mode=rwc\"\n\n[features]\nspec = \"{}\"\n",
            spec.display()
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        bin()
            .current_dir(dir.path())
            .env_remove("RISKSTREAM_AUDIT_KEY_FILE")
            .args(args)
            .arg("--config")
            .arg("svc/service.toml")
            .output()
            .unwrap()
    };
    for args in [
        &["keys", "list"][..],
        &["model", "list"],
        &["audit", "tail"],
        &["keys", "revoke", "ops"],
        &["model", "rollback"],
    ] {
        let out = run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("no registry at"), "{args:?}: {err}");
        assert!(err.contains("registry.db"), "{args:?}: {err}");
        assert!(!svc.join("registry.db").exists(), "{args:?} created it");
        assert!(
            !dir.path().join("registry.db").exists(),
            "{args:?} created it"
        );
    }

    // A policy naming a feature the spec lacks: refused with the feature named, nothing stored.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "name = \"bad\"\n\n[[rule]]\nname = \"r\"\nwhen = \"features.CUSTOMER_ID_NB_TX_99DAY_WINDOW > 3\"\noutcome = \"review\"\nreason = \"too many\"\n",
    )
    .unwrap();
    let out = run(&["policy", "push", bad.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("CUSTOMER_ID_NB_TX_99DAY_WINDOW"), "{err}");

    // The first change creates the registry beside the config; reads work from then on.
    let policy =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/fraud-handbook/policy.toml");
    let text = succeeded(&run(&[
        "policy",
        "push",
        policy.to_str().unwrap(),
        "--activate",
    ]));
    assert!(text.contains("registered policy"), "{text}");
    assert!(svc.join("registry.db").exists());
    let text = succeeded(&run(&["audit", "tail"]));
    assert!(text.contains("policy"), "{text}");
}

/// `cases list` takes the console's queue filters: a rule, a model, a score range, an
/// outcome and the order; a score bound that is not a number is a usage error.
#[test]
fn cases_list_filters_as_the_console_does() {
    use riskstream_registry::{NewCase, Registry};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("registry.db");
    let url = format!("sqlite://{}?mode=rwc", db.display());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let reg = Registry::open(&url).await.unwrap();
        let cases: Vec<NewCase> = (0..6u32)
            .map(|i| NewCase {
                id: format!("cards:0-{i}"),
                tx_id: format!("{i}"),
                outcome: if i == 5 { "decline" } else { "review" }.into(),
                score: Some(f64::from(i) / 10.0),
                decision: serde_json::json!({
                    "rules_fired": if i % 2 == 0 { vec!["night"] } else { vec!["big"] },
                    "model": format!("m{}", i % 3),
                })
                .to_string(),
                tx: None,
            })
            .collect();
        reg.open_cases("cards", &cases).await.unwrap();
        reg.close().await;
    });
    let spec = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/fraud-handbook/features.toml");
    let config = dir.path().join("service.toml");
    std::fs::write(
        &config,
        format!(
            "[registry]\nurl = \"{url}\"\n\n[features]\nspec = \"{}\"\n",
            spec.display()
        ),
    )
    .unwrap();
    let list = |args: &[&str]| {
        let out = bin()
            .args(["cases", "list", "--config"])
            .arg(&config)
            .args(args)
            .output()
            .unwrap();
        let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["id"].as_str().unwrap().to_string()
            })
            .collect();
        (
            out.status.code(),
            ids,
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let ids = |v: &[u32]| -> Vec<String> { v.iter().map(|i| format!("cards:0-{i}")).collect() };
    for (args, want) in [
        (vec!["--rule", "night"], ids(&[0, 2, 4])),
        (
            vec!["--rule", "night", "--sort", "score_desc"],
            ids(&[4, 2, 0]),
        ),
        (vec!["--model", "m1"], ids(&[1, 4])),
        (
            vec!["--rule", "big", "--score-min", "0.2", "--score-max", "0.45"],
            ids(&[3]),
        ),
        (vec!["--outcome", "decline"], ids(&[5])),
        (
            vec!["--model", "m2", "--rule", "big", "--sort", "newest"],
            ids(&[5]),
        ),
    ] {
        let (code, got, err) = list(&args);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        assert_eq!(got, want, "{args:?}");
    }
    // Comment, escalate, the escalated filter and the trail.
    let cases = |args: &[&str]| {
        bin()
            .env_remove("RISKSTREAM_AUDIT_KEY_FILE")
            .args(["cases"])
            .args(args)
            .arg("--config")
            .arg(&config)
            .args(["--actor", "ana"])
            .output()
            .unwrap()
    };
    succeeded(&cases(&[
        "comment",
        "cards:0-3",
        "--text",
        "called the customer",
    ]));
    succeeded(&cases(&[
        "escalate",
        "cards:0-3",
        "--reason",
        "over my limit",
    ]));
    let again = cases(&["escalate", "cards:0-3", "--reason", "again"]);
    assert_eq!(again.status.code(), Some(2), "{again:?}");
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("already escalated by cli:ana"), "{err}");
    let (code, got, err) = list(&["--escalated"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(got, ids(&[3]));
    let trail = cases(&["trail", "cards:0-3"]);
    succeeded(&trail);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&trail.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let actions: Vec<&str> = lines
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["case.escalate", "case.comment"]);
    assert_eq!(lines[0]["actor"], "cli:ana");
    assert_eq!(lines[0]["after"]["reason"], "over my limit");
    let (code, _, err) = list(&["--score-min", "NaN"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--score-min"), "{err}");
    let (code, _, err) = list(&["--sort", "sideways"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("score_desc"), "{err}");
}

/// Keys made for a tenant (`--tenant`, or `[registry] tenant`) are that tenant's only: the
/// default tenant's list does not show them, its audit chain does not hold them, and the
/// tenant's registry is a file of its own beside the default one.
#[cfg(unix)]
#[test]
fn keys_and_audit_belong_to_the_tenant_named() {
    let dir = tempfile::tempdir().unwrap();
    let spec = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/fraud-handbook/features.toml");
    let config = dir.path().join("service.toml");
    std::fs::write(
        &config,
        format!(
            "[registry]\nurl = \"sqlite://{}\"\n\n[features]\nspec = \"{}\"\n",
            dir.path().join("registry.db").display(),
            spec.display()
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        bin()
            .env_remove("RISKSTREAM_AUDIT_KEY_FILE")
            .env_remove("RISKSTREAM_TENANT")
            .args(args)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap()
    };
    let created = run(&[
        "keys", "create", "--tenant", "acme", "--name", "ops", "--role", "admin",
    ]);
    let key = succeeded(&created);
    assert!(key.trim().starts_with("rsk_"), "{key}");
    assert!(
        String::from_utf8_lossy(&created.stderr).contains("for tenant `acme`"),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    succeeded(&run(&[
        "keys", "create", "--name", "home", "--role", "analyst",
    ]));
    let acme = succeeded(&run(&["keys", "list", "--tenant", "acme"]));
    let home = succeeded(&run(&["keys", "list"]));
    assert!(
        acme.contains("\"ops\"") && !acme.contains("\"home\""),
        "{acme}"
    );
    assert!(
        home.contains("\"home\"") && !home.contains("\"ops\""),
        "{home}"
    );
    let tail = succeeded(&run(&["audit", "tail"]));
    assert!(!tail.contains("ops"), "{tail}");
    assert!(dir.path().join("registry.tenant-acme.db").is_file());
    let bad = run(&["keys", "list", "--tenant", "Acme Bank"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("not a tenant name"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    // On SQLite there are no database roles to grant: the command says so.
    let grant = run(&["keys", "grant-db-role", "--role", "riskstream_app"]);
    assert_ne!(grant.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&grant.stderr).contains("SQLite has no database roles"),
        "{}",
        String::from_utf8_lossy(&grant.stderr)
    );
}
