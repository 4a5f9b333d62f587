//! Encryption at rest of the credit, recommendation and text model files, through the CLI.
//! Each kind is trained twice, with master keys and without; the encrypted file holds none
//! of the training data's marker in clear, decrypts to the same model the plain run fitted,
//! and the command that uses it gives the same answers as the plain file. Without the key,
//! with a wrong one, with a flipped byte or cut short, the file is refused with an error
//! naming it (exit 2), never read as garbage; `keys rewrap` moves it to a new master key.
//! Pushed to the registry, a model is stored encrypted (the database file never shows the
//! marker) and read back through the registry with the key only.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use riskstream_core::crypt::{is_sealed, open_bytes, MasterKeys};
use std::path::Path;
use std::process::Command;

const S1: &str = "4b1d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d";
const S2: &str = "9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d4b1d1e0f9a8b7c6d5e4f3a2b1c0d";
/// A category, an item id and a label in the training data: every plain model file holds
/// it, so its absence from the encrypted one means something.
const MARKER: &str = "MARKERZQX";

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

fn run(dir: &Path, keys: Option<&str>, args: &[&str]) -> (Option<i32>, String) {
    let out = bin(dir, keys).args(args).output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!text.contains("panicked"), "{args:?}:\n{text}");
    (out.status.code(), text)
}

fn ok(dir: &Path, keys: Option<&str>, args: &[&str]) -> String {
    let (code, text) = run(dir, keys, args);
    assert!(code.is_some_and(|c| c <= 1), "{args:?} failed:\n{text}");
    text
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Applicants with income, age and a purpose (one of them the marker); bad when poor and
/// young, with noise.
fn applicants(dir: &Path) {
    let mut s = String::from("applicant,income,age,purpose,bad\n");
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..800 {
        let income = 800 + next() % 5_000;
        let age = 19 + next() % 50;
        let purpose = ["car", "home", MARKER, "education"][(next() % 4) as usize];
        let risk = (6_000 - income) / 60 + (70 - age) + if purpose == MARKER { 30 } else { 0 };
        let bad = u64::from(next() % 220 < risk);
        s.push_str(&format!("A{i:04},{income},{age},{purpose},{bad}\n"));
    }
    std::fs::write(dir.join("applicants.csv"), s).unwrap();
}

/// Holdings: students hold loans and cards, the affluent savings; the marker is a product.
fn holdings(dir: &Path) {
    let mut h = String::from("customer_id,product\n");
    for i in 0..60 {
        let products: &[&str] = if i % 2 == 0 {
            &["current", "loan", MARKER]
        } else {
            &["current", "savings", "investment"]
        };
        for (k, p) in products.iter().enumerate() {
            if i % 5 == 0 && k == products.len() - 1 {
                continue;
            }
            h.push_str(&format!("C{i},{p}\n"));
        }
    }
    std::fs::write(dir.join("products.csv"), h).unwrap();
}

/// Complaints of two products, one named by the marker.
fn complaints(dir: &Path) {
    let mut s = String::from("complaint_id,product,narrative\n");
    for i in 0..60 {
        let (product, body) = if i % 2 == 0 {
            (
                "Debt collection",
                "a debt collector keeps calling me about a debt I do not owe",
            )
        } else {
            (MARKER, "my credit report shows an account that is not mine")
        };
        s.push_str(&format!(
            "{},{product},\"Complaint {i}: {body}\"\n",
            1000 + i
        ));
    }
    std::fs::write(dir.join("complaints.csv"), s).unwrap();
}

/// One model kind: how to train it into `model`, and how to use it into `out`.
struct Kind {
    name: &'static str,
    train: fn(model: &str) -> Vec<String>,
    apply: fn(model: &str, out: &str) -> Vec<String>,
    /// The model file's text without what differs run to run (times).
    stable: fn(&[u8]) -> serde_json::Value,
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn without_times(bytes: &[u8]) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    if let Some(card) = v.get_mut("card").and_then(|c| c.as_object_mut()) {
        card.remove("trained_at");
        card.remove("train_seconds");
    }
    v
}

fn kinds() -> Vec<Kind> {
    vec![
        Kind {
            name: "credit",
            train: |m| {
                strs(&[
                    "credit",
                    "train",
                    "--input",
                    "applicants.csv",
                    "--label",
                    "bad",
                    "--bad-value",
                    "1",
                    "--id-col",
                    "applicant",
                    "--output",
                    m,
                ])
            },
            apply: |m, o| {
                strs(&[
                    "credit",
                    "score",
                    "--model",
                    m,
                    "--input",
                    "applicants.csv",
                    "--id-col",
                    "applicant",
                    "--output",
                    o,
                ])
            },
            stable: |b| serde_json::from_slice(b).unwrap(),
        },
        Kind {
            name: "recommend",
            train: |m| {
                strs(&[
                    "recommend",
                    "train",
                    "--input",
                    "products.csv",
                    "--user-col",
                    "customer_id",
                    "--item-col",
                    "product",
                    "--implicit",
                    "--rank",
                    "3",
                    "--output",
                    m,
                ])
            },
            apply: |m, o| strs(&["recommend", "top", "--model", m, "--k", "2", "--output", o]),
            stable: without_times,
        },
        Kind {
            name: "text",
            train: |m| {
                strs(&[
                    "text",
                    "train",
                    "--input",
                    "complaints.csv",
                    "--text-col",
                    "narrative",
                    "--label-col",
                    "product",
                    "--seed",
                    "3",
                    "--output",
                    m,
                ])
            },
            apply: |m, o| {
                strs(&[
                    "text",
                    "classify",
                    "--model",
                    m,
                    "--input",
                    "complaints.csv",
                    "--id-col",
                    "complaint_id",
                    "--output",
                    o,
                ])
            },
            stable: without_times,
        },
    ]
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn credit_recommend_and_text_models_are_encrypted_at_rest() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    applicants(d);
    holdings(d);
    complaints(d);
    let m1 = format!("m1:{S1}");
    let k1 = MasterKeys::parse_inline(&m1, "test").unwrap();
    for k in kinds() {
        let (plain, enc) = (
            format!("{}-plain.json", k.name),
            format!("{}-enc.json", k.name),
        );
        ok(d, None, &args(&(k.train)(&plain)));
        ok(d, Some(&m1), &args(&(k.train)(&enc)));
        let pb = std::fs::read(d.join(&plain)).unwrap();
        let eb = std::fs::read(d.join(&enc)).unwrap();
        assert!(
            contains(&pb, MARKER),
            "{}: the plain model shows the marker",
            k.name
        );
        assert!(is_sealed(&eb), "{}: not encrypted", k.name);
        assert!(!contains(&eb, MARKER), "{}: marker in clear", k.name);
        // Restores exactly: the same model as the plain run's (seeded fits).
        let clear = open_bytes(Some(&k1), &eb, &enc).unwrap();
        assert_eq!((k.stable)(&clear), (k.stable)(&pb), "{}", k.name);

        // Used with the key, the encrypted model answers as the plain one.
        let (po, eo) = (
            format!("{}-plain.csv", k.name),
            format!("{}-enc.csv", k.name),
        );
        ok(d, None, &args(&(k.apply)(&plain, &po)));
        ok(d, Some(&m1), &args(&(k.apply)(&enc, &eo)));
        let want = std::fs::read(d.join(&po)).unwrap();
        let got = std::fs::read(d.join(&eo)).unwrap();
        assert!(is_sealed(&got), "{}: the output is encrypted too", k.name);
        assert_eq!(
            open_bytes(Some(&k1), &got, &eo).unwrap(),
            want,
            "{}: answers differ",
            k.name
        );

        // Without keys, with a wrong secret, damaged, cut: refused, naming the file.
        let refused = |keys: Option<&str>, file: &str, what: &str| {
            let (code, text) = run(d, keys, &args(&(k.apply)(file, "x.csv")));
            assert_eq!(code, Some(2), "{}: {what}:\n{text}", k.name);
            assert!(
                text.contains(file) && text.contains(what),
                "{}: {what}:\n{text}",
                k.name
            );
        };
        refused(None, &enc, "no master keys are configured");
        refused(
            Some(&format!("m1:{S2}")),
            &enc,
            "master key `m1` does not open",
        );
        refused(Some(&format!("m2:{S2}")), &enc, "`m1`, which is not loaded");
        let mut flipped = eb.clone();
        let at = eb.len() / 2;
        flipped[at] ^= 0x01;
        let bad = format!("{}-flipped.json", k.name);
        std::fs::write(d.join(&bad), &flipped).unwrap();
        refused(Some(&m1), &bad, "fails authentication");
        let cut = format!("{}-cut.json", k.name);
        std::fs::write(d.join(&cut), &eb[..eb.len() - 20]).unwrap();
        refused(Some(&m1), &cut, "truncated");
        for f in [&bad, &cut] {
            std::fs::remove_file(d.join(f)).unwrap();
        }
    }

    // Rotation: `keys rewrap` moves every model file to m2; m1 can then go.
    let keyfile = d.join("master.toml");
    std::fs::write(
        &keyfile,
        format!("active = \"m2\"\n[[key]]\nid = \"m1\"\nsecret = \"{S1}\"\n[[key]]\nid = \"m2\"\nsecret = \"{S2}\"\n"),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&keyfile, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let out = bin(d, None)
        .env("RISKSTREAM_MASTER_KEYS_FILE", &keyfile)
        .args(["keys", "rewrap", "."])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let m2 = format!("m2:{S2}");
    for k in kinds() {
        let enc = format!("{}-enc.json", k.name);
        assert!(
            text.contains(&format!("{enc}: re-wrapped from `m1` to `m2`")),
            "{text}"
        );
        let o = format!("{}-m2.csv", k.name);
        ok(d, Some(&m2), &args(&(k.apply)(&enc, &o)));
    }

    // The registry: `credit push` stores the scorecard encrypted; staging it reads it back
    // (the service's reloads read through the same call), which needs the key.
    let spec = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/fraud-handbook/features.toml");
    std::fs::write(
        d.join("service.toml"),
        format!(
            "[server]\nlisten = \"127.0.0.1:1\"\nmetrics_listen = \"off\"\n\
             [registry]\nurl = \"sqlite://registry.db?mode=rwc\"\ndeployment = \"cards\"\n\
             [state]\ndir = \"state\"\ncheckpoint_interval = \"off\"\ndurability = \"off\"\n\
             [features]\nspec = \"{}\"\n\
             [credit]\ndeployment = \"credit\"\ndecline_pd = 0.5\nreview_pd = 0.3\nreasons = \"credit-enc.reasons.toml\"\n",
            spec.display()
        ),
    )
    .unwrap();
    let reg = |keys: Option<&str>, a: &[&str]| {
        let mut v = a.to_vec();
        v.extend(["--config", "service.toml", "--actor", "test"]);
        run(d, keys, &v)
    };
    let (code, text) = reg(Some(&m2), &["credit", "push", "credit-enc.json"]);
    assert_eq!(code, Some(0), "{text}");
    let id = text
        .split_whitespace()
        .find(|w| w.len() == 64)
        .expect("an artifact id")
        .to_string();
    for f in std::fs::read_dir(d).unwrap() {
        let p = f.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("registry.db")
        {
            let bytes = std::fs::read(&p).unwrap();
            assert!(
                !contains(&bytes, MARKER) && !contains(&bytes, "\"binning\""),
                "{} holds the model in clear",
                p.display()
            );
        }
    }
    let (code, text) = reg(None, &["credit", "stage", &id, "champion"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains(&format!("artifact {id}")) && text.contains("no master keys"),
        "{text}"
    );
    let (code, text) = reg(
        Some(&format!("m2:{S1}")),
        &["credit", "stage", &id, "champion"],
    );
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("master key `m2` does not open"), "{text}");
    let (code, text) = reg(Some(&m2), &["credit", "stage", &id, "champion"]);
    assert_eq!(code, Some(0), "{text}");
}
