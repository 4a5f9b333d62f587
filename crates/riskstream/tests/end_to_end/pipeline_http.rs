//! The HTTP source: transactions POSTed to `riskstream run` are acknowledged only once they
//! are in the intake log, and the decisions equal a file pipeline's over the same records —
//! with the worker killed with SIGKILL at least 5 times while clients keep posting.
//! Unauthenticated and malformed requests are refused with the reason and never reach the log.
//!
//! Needs ../shared/data; says SKIP otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::pipeline::{exe, handbook, produce_ndjson};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const KEY: &str = "rsk_pipeline_http_test_key";

fn sha256_hex(s: &str) -> String {
    riskstream_connectors::http::key_hash_hex(s)
}

fn examples() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn config(dir: &Path, source: &str, name: &str) -> std::path::PathBuf {
    let text = format!(
        "name = \"{name}\"\n[source]\n{source}\n\
         [features]\nspec = \"{spec}\"\n[decide]\npolicy = \"{policy}\"\n\
         [sink]\nkind = \"file\"\npath = \"{out}\"\n\
         [checkpoint]\ndir = \"{state}\"\nevery = 1000\ninterval = \"1s\"\n\
         [run]\nstop_when_idle = \"3s\"\n",
        spec = examples().join("fraud-handbook/features.toml").display(),
        policy = examples().join("fraud-handbook/policy.toml").display(),
        out = dir.join(format!("{name}.decisions.ndjson")).display(),
        state = dir.join(format!("state-{name}")).display(),
    );
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(&p, text).unwrap();
    p
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(cfg: &Path, port: u16) -> Child {
    let child = Command::new(exe())
        .args(["run"])
        .arg(cfg)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the intake did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posted_transactions_are_decided_exactly_once_across_kills() {
    let Some(data) = handbook() else {
        eprintln!("SKIP: ../shared/data is absent");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("tx.ndjson");
    produce_ndjson(&data, 20000, &input);
    let lines: Vec<String> = std::fs::read_to_string(&input)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();

    // Reference: the same records from the file.
    let fcfg = config(
        dir.path(),
        &format!("kind = \"file\"\npath = \"{}\"", input.display()),
        "file",
    );
    let o = Command::new(exe())
        .args(["run"])
        .arg(&fcfg)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let reference = std::fs::read_to_string(dir.path().join("file.decisions.ndjson")).unwrap();
    assert_eq!(reference.lines().count(), lines.len());

    let port = free_port();
    let hcfg = config(
        dir.path(),
        &format!(
            "kind = \"http\"\nlisten = \"127.0.0.1:{port}\"\nkey_sha256 = [\"{}\"]",
            sha256_hex(KEY)
        ),
        "http",
    );
    let url = format!("http://127.0.0.1:{port}/v1/transactions");
    let client = reqwest::Client::new();
    let mut child = start(&hcfg, port);

    // Refused requests never reach the log.
    let r = client
        .post(&url)
        .body(lines[0].clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = client
        .post(&url)
        .bearer_auth(KEY)
        .body(format!("{}\n{{\"broken\":", lines[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("line 2"));

    // Post in batches of 500; kill the worker at random points between acknowledged
    // batches (it is still deciding the backlog) and restart it.
    let mut rng: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut kills = 0;
    for (i, chunk) in lines.chunks(500).enumerate() {
        let r = client
            .post(&url)
            .bearer_auth(KEY)
            .body(chunk.join("\n"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        if i % 6 == 5 && kills < 6 {
            std::thread::sleep(Duration::from_millis(rng % 400));
            child.kill().unwrap(); // SIGKILL
            let _ = child.wait();
            kills += 1;
            child = start(&hcfg, port);
        }
    }
    assert!(kills >= 5, "killed {kills} times");
    let st = child.wait().unwrap(); // stops once idle
    assert!(st.success(), "{st:?}");
    let got = std::fs::read_to_string(dir.path().join("http.decisions.ndjson")).unwrap();
    assert_eq!(
        got.lines().count(),
        lines.len(),
        "each posted transaction decided once"
    );
    assert!(
        got == reference,
        "decisions through HTTP with {kills} kills equal the file pipeline's"
    );
}
