//! The exactly-once scenario every broker must pass, written once: the handbook's
//! transactions (1,000,000 by default; `RISKSTREAM_PIPELINE_EVENTS` to change) published to 4
//! partitions keyed by customer, decided by `riskstream run` once straight through and once
//! with the worker killed with SIGKILL at random points at least 5 times and restarted; the
//! two decision streams must hold the same decisions, each exactly once. Then two workers
//! sharing the partitions must give the same decisions as one.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const PARTITIONS: u32 = 4;

/// What differs between brokers: how the config names a topic, how to publish, and how
/// to read every output back.
pub trait Broker {
    /// Name for messages.
    fn name(&self) -> &'static str;
    /// A `[source]` / `[sink]` / `[dead_letter]` body for topic `t`.
    fn endpoint(&self, t: &str, source: bool) -> String;
    /// `riskstream produce` arguments that publish to topic `t`.
    fn produce_args(&self, t: &str) -> Vec<String>;
    /// Every output record of topic `t` (all partitions), as JSON text.
    fn read_all(&self, t: &str) -> impl std::future::Future<Output = Vec<String>>;
    /// When to kill a worker, in ms after its start: a random point in this window (it
    /// must fall after the worker's start-up, in the middle of the stream).
    fn kill_window_ms(&self) -> (u64, u64) {
        (700, 3_200)
    }
    /// Removes topics made by the test.
    fn cleanup(&self, topics: &[String]) -> impl std::future::Future<Output = ()>;
}

pub fn exe() -> &'static str {
    env!("CARGO_BIN_EXE_riskstream")
}

pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// The raw handbook file, if ../shared/data is there.
pub fn handbook() -> Option<PathBuf> {
    let d = std::env::var_os("RISKSTREAM_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let f = d.join("fraud-handbook-simulated/raw/transactions_2018-04-01_2018-09-30.csv.gz");
    f.is_file().then_some(f)
}

/// Whether something listens on `addr`.
pub fn listening(addr: &str) -> bool {
    std::net::TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(1)).is_ok()
}

fn config<B: Broker>(
    b: &B,
    dir: &Path,
    tx: &str,
    out: &str,
    worker: (u32, u32),
    every: u64,
) -> PathBuf {
    let text = format!(
        "name = \"cards\"\n\
         [source]\n{src}\n\
         [worker]\nindex = {wi}\ncount = {wc}\n\
         [features]\nspec = \"{spec}\"\n\
         [decide]\npolicy = \"{policy}\"\n\
         [sink]\n{sink}\n\
         [dead_letter]\n{dl}\n\
         [checkpoint]\ndir = \"{state}\"\nevery = {every}\ninterval = \"2s\"\n\
         [run]\nstop_when_idle = \"3s\"\n",
        src = b.endpoint(tx, true),
        wi = worker.0,
        wc = worker.1,
        spec = examples().join("fraud-handbook/features.toml").display(),
        policy = examples().join("fraud-handbook/policy.toml").display(),
        sink = b.endpoint(out, false),
        dl = b.endpoint(&format!("DL{out}"), false),
        state = dir.join(format!("state-{out}")).display(),
    );
    let p = dir.join(format!("{out}-{}.toml", worker.0));
    std::fs::write(&p, text).unwrap();
    p
}

pub fn run_to_end(cfg: &Path) -> String {
    let o = Command::new(exe())
        .args(["run"])
        .arg(cfg)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// Every decision in a topic: tx id → the decision's JSON; panics on a duplicate.
pub async fn decisions<B: Broker>(b: &B, t: &str) -> HashMap<String, String> {
    let mut m = HashMap::new();
    for body in b.read_all(t).await {
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let id = v["tx_id"].as_str().unwrap().to_string();
        if let Some(prev) = m.insert(id.clone(), body) {
            panic!("{t}: transaction {id} decided twice (first: {prev})");
        }
    }
    m
}

/// The scenario; `events` records, names made unique with `sfx`.
pub async fn exactly_once<B: Broker>(b: &B, data: &Path, events: usize) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let sfx = format!("{}{}", std::process::id(), nanos % 1_000_000);
    let tx = format!("TX{sfx}");
    let dir = tempfile::tempdir().unwrap();
    let (ref_out, kill_out, two_out) = (
        format!("REF{sfx}"),
        format!("KILL{sfx}"),
        format!("TWO{sfx}"),
    );
    let cleanup: Vec<String> = [&tx, &ref_out, &kill_out, &two_out]
        .iter()
        .flat_map(|s| [s.to_string(), format!("DL{s}")])
        .collect();

    // Publish.
    let o = Command::new(exe())
        .args(["produce", "--input"])
        .arg(data)
        .args(["--schema", "fraud-handbook-raw", "--key", "CUSTOMER_ID"])
        .args(["--partitions", &PARTITIONS.to_string()])
        .args(["--limit", &events.to_string()])
        .args(b.produce_args(&tx))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    eprintln!(
        "{}: {}",
        b.name(),
        String::from_utf8_lossy(&o.stdout).trim()
    );

    // Straight through.
    let t0 = Instant::now();
    let out = run_to_end(&config(b, dir.path(), &tx, &ref_out, (0, 1), 20_000));
    eprintln!(
        "reference: {} ({:.1} s)",
        out.trim(),
        t0.elapsed().as_secs_f64()
    );
    let reference = decisions(b, &ref_out).await;
    assert_eq!(reference.len(), events, "every transaction decided once");

    // Killed with SIGKILL at random points, restarted each time.
    let cfg = config(b, dir.path(), &tx, &kill_out, (0, 1), 5_000);
    let mut rng = (nanos as u64) | 1;
    let mut kills = 0;
    for _ in 0..6 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let (lo, hi) = b.kill_window_ms();
        let after = Duration::from_millis(lo + rng % (hi - lo));
        let mut child = Command::new(exe())
            .args(["run"])
            .arg(&cfg)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(after);
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        let _ = child.wait();
    }
    let out = run_to_end(&cfg);
    eprintln!("after {kills} kills: {}", out.trim());
    assert!(
        kills >= 5,
        "the worker finished before it could be killed 5 times ({kills})"
    );
    let killed = decisions(b, &kill_out).await;
    assert_eq!(killed.len(), events, "nothing lost, nothing duplicated");
    let mut diff = 0;
    for (id, d) in &reference {
        if killed.get(id) != Some(d) {
            diff += 1;
            if diff <= 3 {
                eprintln!(
                    "differs: {id}\n  ref:    {d}\n  killed: {:?}",
                    killed.get(id)
                );
            }
        }
    }
    assert_eq!(diff, 0, "decisions after kills equal the uninterrupted run");

    // Two workers sharing the partitions (0,2 and 1,3) decide as one.
    let a = config(b, dir.path(), &tx, &two_out, (0, 2), 20_000);
    let c = config(b, dir.path(), &tx, &two_out, (1, 2), 20_000);
    let (ra, rc) = std::thread::scope(|s| {
        let ha = s.spawn(|| run_to_end(&a));
        let hc = s.spawn(|| run_to_end(&c));
        (ha.join().unwrap(), hc.join().unwrap())
    });
    eprintln!("two workers:\n  {}\n  {}", ra.trim(), rc.trim());
    let two = decisions(b, &two_out).await;
    assert_eq!(two.len(), events);
    assert!(
        reference.iter().all(|(id, d)| two.get(id) == Some(d)),
        "two workers give the same decisions as one"
    );
    b.cleanup(&cleanup).await;
}

/// The handbook's first `limit` transactions as NDJSON at `out` (`riskstream produce --output`).
pub fn produce_ndjson(data: &Path, limit: usize, out: &Path) {
    let o = Command::new(exe())
        .args(["produce", "--input"])
        .arg(data)
        .args([
            "--schema",
            "fraud-handbook-raw",
            "--limit",
            &limit.to_string(),
            "--output",
        ])
        .arg(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// `RISKSTREAM_PIPELINE_EVENTS`, default 1,000,000.
pub fn events() -> usize {
    std::env::var("RISKSTREAM_PIPELINE_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// Starts `riskstream run cfg` `times` times, each killed with SIGKILL at a pseudo-random
/// point `lo_ms` to `lo_ms + span_ms` after its start (xorshift from `seed`) unless it ended
/// first; returns how many were killed.
pub fn kill_repeatedly(cfg: &Path, times: usize, lo_ms: u64, span_ms: u64, seed: u64) -> usize {
    let mut rng = seed | 1;
    let mut kills = 0;
    for _ in 0..times {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let mut child = Command::new(exe())
            .arg("run")
            .arg(cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(lo_ms + rng % span_ms));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        let _ = child.wait();
    }
    kills
}
