//! Card numbers never in clear and encryption at rest, in pipelines: generated bank
//! transactions with card numbers (`generate --pii`) go through `riskstream run` from an
//! NDJSON file (in two runs, the second resuming from the first's checkpoint) and through
//! the HTTP intake (its worker killed once and restarted), with PII keys and master keys
//! set. Planted bad records (a bad amount next to its card number, a line that is not JSON
//! with one) are dead-lettered. Every file the runs wrote is then read as stored and
//! decrypted, and scanned for Luhn-valid 13–19 digit numbers: none. The encrypted outputs
//! decrypt to exactly what a run without master keys writes; without the key, with a wrong
//! one or with a flipped byte they are refused with an error naming the file.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use riskstream_core::crypt::{is_sealed, open_bytes, CryptError, MasterKeys, OpenTail};
use riskstream_core::pii::scan::find_pans;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PII: &str = "k1:5e1f0c2b9a8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f";
const M1: &str = "m1:4b1d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d";
const M1_WRONG: &str = "m1:9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d4b1d1e0f9a8b7c6d5e4f3a2b1c0d";
const INTAKE_KEY: &str = "rsk_pii_pipeline_test_key";

fn bin(dir: &Path, master: Option<&str>) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_riskstream"));
    c.current_dir(dir)
        .env_remove("RISKSTREAM_MASTER_KEYS_FILE")
        .env_remove("RISKSTREAM_MASTER_KEYS")
        .env_remove("RISKSTREAM_PII_KEYS_FILE")
        .env("RISKSTREAM_PII_KEYS", PII)
        .env("RUST_LOG", "warn");
    if let Some(k) = master {
        c.env("RISKSTREAM_MASTER_KEYS", k);
    }
    c
}

fn output(mut c: Command) -> (Option<i32>, String) {
    let out = c.output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!text.contains("panicked"), "{c:?}:\n{text}");
    (out.status.code(), text)
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

/// A file's plaintext: decrypted when encrypted (a log still open has no final chunk: read
/// chunk by chunk), as stored otherwise.
fn plaintext(path: &Path, keys: &MasterKeys) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    if !is_sealed(&bytes) {
        return bytes;
    }
    let origin = path.display().to_string();
    match open_bytes(Some(keys), &bytes, &origin) {
        Ok(p) => p,
        Err(CryptError::Truncated { .. }) => {
            let mut t =
                OpenTail::open(std::fs::File::open(path).unwrap(), Some(keys), &origin).unwrap();
            let mut all = Vec::new();
            while let Some(c) = t.next_chunk().unwrap() {
                all.extend_from_slice(&c);
            }
            all
        }
        Err(e) => panic!("{e}"),
    }
}

fn pans(name: &str, text: &[u8]) -> Vec<String> {
    find_pans(text)
        .into_iter()
        .map(|r| {
            let lo = r.start.saturating_sub(30);
            let hi = (r.end + 30).min(text.len());
            format!("{name}: …{}…", String::from_utf8_lossy(&text[lo..hi]))
        })
        .collect()
}

fn config(d: &Path, name: &str, source: &str) -> PathBuf {
    let ex = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/bank");
    let text = format!(
        "name = \"{name}\"\n[source]\n{source}\n\
         [features]\nspec = \"{spec}\"\n[decide]\npolicy = \"{policy}\"\nmax_ahead = \"off\"\n\
         [sink]\nkind = \"file\"\npath = \"{name}/decisions.ndjson\"\n\
         [dead_letter]\nkind = \"file\"\npath = \"{name}/dead.ndjson\"\n\
         [checkpoint]\ndir = \"{name}/state\"\nevery = 500\ninterval = \"1s\"\n\
         [run]\nstop_when_idle = \"3s\"\n",
        spec = ex.join("features.toml").display(),
        policy = ex.join("policy.toml").display(),
    );
    let p = d.join(format!("{name}.toml"));
    std::fs::write(&p, text).unwrap();
    p
}

fn file_source(feed: &str) -> String {
    format!("kind = \"file\"\npath = \"{feed}\"")
}

#[test]
fn pipelines_write_no_card_number_and_encrypt_their_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (code, text) = output({
        let mut c = bin(d, None);
        c.args([
            "generate", "--pii", "--format", "ndjson", "--out", "raw", "--seed", "5",
        ])
        .args(["--customers", "150", "--terminals", "100", "--days", "4"]);
        c
    });
    assert_eq!(code, Some(0), "{text}");
    // The bank's side: card numbers in clear.
    let raw = std::fs::read_to_string(d.join("raw/transactions.ndjson")).unwrap();
    assert!(pans("raw", raw.as_bytes()).len() > 500);
    let lines: Vec<&str> = raw.lines().collect();

    // Planted: a bad amount next to its card number (a new id, so no retry), and a line
    // that is not JSON with a card number in it.
    let mut bad: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(lines[lines.len() - 1]).unwrap();
    assert!(bad["card_pan"].as_str().is_some_and(|p| p.len() >= 13));
    bad.insert("tx_id".into(), serde_json::json!(99_999_999));
    bad.insert("amount".into(), serde_json::json!("x"));
    let bad = serde_json::to_string(&bad).unwrap();
    let half = lines.len() / 2;
    let first: String = lines[..half].iter().map(|l| format!("{l}\n")).collect();
    let second = format!(
        "{}{bad}\nnot json 5555555555554444\n",
        lines[half..]
            .iter()
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    );
    // The same file name in both runs: a dead letter names its origin.
    std::fs::write(d.join("feed.ndjson"), format!("{first}{second}")).unwrap();

    // Reference: master keys off, one run over the whole feed.
    let plain = config(d, "plain", &file_source("feed.ndjson"));
    let (code, text) = output({
        let mut c = bin(d, None);
        c.arg("run").arg(&plain);
        c
    });
    assert_eq!(code, Some(1), "dead letters make exit 1:\n{text}");

    // Encrypted: the first half, then the rest appended and the run resumed.
    std::fs::write(d.join("feed.ndjson"), &first).unwrap();
    let enc = config(d, "enc", &file_source("feed.ndjson"));
    let run_enc = |master: &str| {
        let mut c = bin(d, Some(master));
        c.arg("run").arg(&enc);
        output(c)
    };
    let (code, text) = run_enc(M1);
    assert_eq!(code, Some(0), "{text}");
    std::fs::write(d.join("feed.ndjson"), format!("{first}{second}")).unwrap();
    // A wrong secret or no key: the resumed run is refused, naming a file it cannot open.
    let (code, text) = run_enc(M1_WRONG);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("master key `m1` does not open"), "{text}");
    let (code, text) = output({
        let mut c = bin(d, None);
        c.arg("run").arg(&enc);
        c
    });
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("no master keys are configured"), "{text}");
    let (code, text) = run_enc(M1);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("resumed") || text.contains("restored"),
        "{text}"
    );

    let keys = MasterKeys::parse_inline(M1, "test").unwrap();
    for f in ["decisions.ndjson", "dead.ndjson"] {
        let stored = std::fs::read(d.join("enc").join(f)).unwrap();
        assert!(is_sealed(&stored), "{f} is not encrypted");
        assert_eq!(
            open_bytes(Some(&keys), &stored, f).unwrap(),
            std::fs::read(d.join("plain").join(f)).unwrap(),
            "{f}: the encrypted run differs from the plain one"
        );
    }
    // The dead letters: the bad amount with the card as its token, the broken line starred.
    let dead = String::from_utf8(std::fs::read(d.join("plain/dead.ndjson")).unwrap()).unwrap();
    let dl: Vec<&str> = dead.lines().collect();
    assert_eq!(dl.len(), 2, "{dead}");
    assert!(dl.iter().any(|l| l.contains("tok:k1:")), "{dead}");
    assert!(dl.iter().any(|l| l.contains("************4444")), "{dead}");

    // A flipped byte in the encrypted dead letters: `inspect` refuses it, naming the file.
    let mut flipped = std::fs::read(d.join("enc/dead.ndjson")).unwrap();
    let at = flipped.len() - 30;
    flipped[at] ^= 1;
    std::fs::write(d.join("flipped.ndjson"), &flipped).unwrap();
    let (code, text) = output({
        let mut c = bin(d, Some(M1));
        c.args(["inspect", "flipped.ndjson"]);
        c
    });
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("flipped.ndjson") && text.contains("fails authentication"),
        "{text}"
    );
    std::fs::remove_file(d.join("flipped.ndjson")).unwrap();

    // The HTTP intake: records are treated before the log holds them, and the log is
    // encrypted.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let http = config(
        d,
        "http",
        &format!(
            "kind = \"http\"\nlisten = \"127.0.0.1:{port}\"\nkey_sha256 = [\"{}\"]",
            riskstream_connectors::http::key_hash_hex(INTAKE_KEY)
        ),
    );
    let start = || {
        let child = bin(d, Some(M1))
            .arg("run")
            .arg(&http)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t0 = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(t0.elapsed() < Duration::from_secs(30), "no intake");
            std::thread::sleep(Duration::from_millis(20));
        }
        child
    };
    let mut child = start();
    let mut posted = lines.clone();
    posted.push(&bad);
    for (i, chunk) in posted.chunks(400).enumerate() {
        std::fs::write(d.join("body.ndjson"), chunk.join("\n")).unwrap();
        let out = std::process::Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
            .args(["-H", &format!("Authorization: Bearer {INTAKE_KEY}")])
            .arg("--data-binary")
            .arg(format!("@{}", d.join("body.ndjson").display()))
            .arg(format!("http://127.0.0.1:{port}/v1/transactions"))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "202");
        if i == 1 {
            // SIGKILL while the backlog is being decided: the encrypted log and outputs
            // are continued from the checkpoint.
            child.kill().unwrap();
            child.wait().unwrap();
            child = start();
        }
    }
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(1), "one dead letter");
    let log = d.join("http/state/http.intake.ndjson");
    assert!(is_sealed(&std::fs::read(&log).unwrap()), "the intake log");
    let logged = plaintext(&log, &keys);
    assert_eq!(
        logged.iter().filter(|b| **b == b'\n').count(),
        posted.len(),
        "every posted record is in the log"
    );
    assert!(find_pans(&logged).is_empty() && String::from_utf8_lossy(&logged).contains("tok:k1:"));
    let http_dead = plaintext(&d.join("http/dead.ndjson"), &keys);
    assert!(
        String::from_utf8_lossy(&http_dead).contains("tok:k1:"),
        "{}",
        String::from_utf8_lossy(&http_dead)
    );
    // Restarted with a wrong secret: refused, not read as garbage.
    let (code, text) = output({
        let mut c = bin(d, Some(M1_WRONG));
        c.arg("run").arg(&http);
        c
    });
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("master key `m1` does not open"), "{text}");
    // Treated at the intake, killed once: the same decisions as the file pipeline's.
    assert_eq!(
        plaintext(&d.join("http/decisions.ndjson"), &keys),
        std::fs::read(d.join("plain/decisions.ndjson")).unwrap(),
        "the intake's decisions differ from the file pipeline's"
    );

    // Nothing any run wrote holds a card number: as stored, and decrypted.
    let mut scanned = 0;
    let mut sealed = 0;
    for run in ["plain", "enc", "http"] {
        for f in files(&d.join(run)) {
            let name = f.strip_prefix(d).unwrap().display().to_string();
            let stored = std::fs::read(&f).unwrap();
            let clear = plaintext(&f, &keys);
            let found: Vec<String> = pans(&name, &stored)
                .into_iter()
                .chain(pans(&name, &clear))
                .collect();
            assert!(
                found.is_empty(),
                "card numbers in clear:\n{}",
                found.join("\n")
            );
            scanned += 1;
            if run != "plain" {
                assert!(is_sealed(&stored), "{name} is not encrypted");
                sealed += 1;
            }
        }
    }
    assert!(
        scanned >= 9 && sealed >= 6,
        "{scanned} scanned, {sealed} encrypted"
    );
}
