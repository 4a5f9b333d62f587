//! Exactly-once through a Kafka-protocol broker (the scenario in `common/pipeline.rs`).
//!
//! Needs a Kafka broker on 127.0.0.1:9092 (`.ci/run` starts tansu, installing it if
//! missing) and ../shared/data; says SKIP otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::pipeline::{self, Broker, PARTITIONS};
use riskstream_connectors::KafkaSource;
use std::time::Duration;

const BROKERS: &str = "127.0.0.1:9092";

struct Kafka;

impl Broker for Kafka {
    fn name(&self) -> &'static str {
        "Kafka"
    }
    fn endpoint(&self, t: &str, source: bool) -> String {
        let parts = if source {
            format!("partitions = {PARTITIONS}\n")
        } else {
            String::new()
        };
        format!("kind = \"kafka\"\nbrokers = \"{BROKERS}\"\ntopic = \"{t}\"\n{parts}")
    }
    fn produce_args(&self, t: &str) -> Vec<String> {
        ["--kafka", BROKERS, "--topic", t]
            .map(String::from)
            .to_vec()
    }
    async fn read_all(&self, t: &str) -> Vec<String> {
        let parts: Vec<u32> = (0..PARTITIONS).collect();
        let mut src = KafkaSource::open(BROKERS, t, &parts, &Default::default()).unwrap();
        let mut v = Vec::new();
        while let Some(r) = src.next_record(Duration::from_secs(5)).await.unwrap() {
            v.push(String::from_utf8(r.payload.to_vec()).unwrap());
        }
        v
    }
    fn kill_window_ms(&self) -> (u64, u64) {
        // Start-up reads the end of the decision and dead-letter topics (half a second of
        // quiet each) before the first record.
        (2_000, 5_500)
    }
    async fn cleanup(&self, topics: &[String]) {
        let t: Vec<&str> = topics.iter().map(String::as_str).collect();
        let _ = riskstream_connectors::kafka::delete_topics(BROKERS, &t).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_and_restarted_workers_decide_exactly_once() {
    let Some(data) = pipeline::handbook() else {
        eprintln!("SKIP: ../shared/data is absent");
        return;
    };
    if !pipeline::listening(BROKERS) {
        eprintln!("SKIP: no Kafka broker on {BROKERS} (.ci/run starts one)");
        return;
    }
    pipeline::exactly_once(&Kafka, &data, pipeline::events()).await;
}

/// Workers in one consumer group: the group hands partitions out as workers join, die and
/// come back, each new owner resumes from the partition's checkpoint on the shared
/// directory, and the output holds every decision of an uninterrupted run exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_group_rebalances_exactly_once() {
    use std::process::{Command, Stdio};
    let Some(data) = pipeline::handbook() else {
        eprintln!("SKIP: ../shared/data is absent");
        return;
    };
    if !pipeline::listening(BROKERS) {
        eprintln!("SKIP: no Kafka broker on {BROKERS} (.ci/run starts one)");
        return;
    }
    let events = pipeline::events().min(300_000);
    let sfx = format!(
        "{}{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
            % 1_000_000
    );
    let (tx, ref_out, out) = (
        format!("GTX{sfx}"),
        format!("GREF{sfx}"),
        format!("GOUT{sfx}"),
    );
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(pipeline::exe())
        .args(["produce", "--input"])
        .arg(&data)
        .args(["--schema", "fraud-handbook-raw", "--key", "CUSTOMER_ID"])
        .args(["--partitions", &PARTITIONS.to_string()])
        .args(["--limit", &events.to_string()])
        .args(Kafka.produce_args(&tx))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let ex = pipeline::examples();
    let config = |sink: &str, worker: &str, idle: &str| {
        let text = format!(
            "name = \"cards\"\n[source]\n{src}\n[worker]\n{worker}\n\
             [features]\nspec = \"{spec}\"\n[decide]\npolicy = \"{policy}\"\n\
             [sink]\n{sink_ep}\n[dead_letter]\n{dl}\n\
             [checkpoint]\ndir = \"{state}\"\nevery = 5000\ninterval = \"1s\"\n\
             [run]\nstop_when_idle = \"{idle}\"\n",
            src = Kafka.endpoint(&tx, true),
            spec = ex.join("fraud-handbook/features.toml").display(),
            policy = ex.join("fraud-handbook/policy.toml").display(),
            sink_ep = Kafka.endpoint(sink, false),
            dl = Kafka.endpoint(&format!("DL{sink}"), false),
            state = dir.path().join(format!("state-{sink}")).display(),
        );
        let p = dir.path().join(format!("{sink}.toml"));
        std::fs::write(&p, text).unwrap();
        p
    };
    let out_ref = pipeline::run_to_end(&config(&ref_out, "index = 0\ncount = 1", "3s"));
    eprintln!("reference: {}", out_ref.trim());
    let reference = pipeline::decisions(&Kafka, &ref_out).await;
    assert_eq!(reference.len(), events);

    // Worker A alone; B joins (rebalance); A is killed (its partitions move to B when its
    // session expires); A comes back (rebalance again); both run until the input is done.
    let cfg = config(&out, "group = \"riskstream-test-group\"", "12s");
    let start = || {
        Command::new(pipeline::exe())
            .arg("run")
            .arg(&cfg)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut a = start();
    std::thread::sleep(Duration::from_millis(3_000));
    let b = start();
    std::thread::sleep(Duration::from_millis(3_500));
    assert!(
        a.try_wait().unwrap().is_none(),
        "A ended before it could be killed"
    );
    a.kill().unwrap(); // SIGKILL
    let _ = a.wait();
    std::thread::sleep(Duration::from_millis(1_500));
    let a2 = start();
    let (ob, oa) = (
        b.wait_with_output().unwrap(),
        a2.wait_with_output().unwrap(),
    );
    assert!(
        ob.status.success() && oa.status.success(),
        "a worker failed"
    );
    eprintln!(
        "group workers:\n  B: {}\n  A again: {}",
        String::from_utf8_lossy(&ob.stdout).trim(),
        String::from_utf8_lossy(&oa.stdout).trim()
    );
    let got = pipeline::decisions(&Kafka, &out).await;
    assert_eq!(got.len(), events, "nothing lost, nothing duplicated");
    let diff = reference
        .iter()
        .filter(|(id, d)| got.get(*id) != Some(*d))
        .count();
    assert_eq!(
        diff, 0,
        "the group's decisions equal the uninterrupted run's"
    );
    Kafka
        .cleanup(&[
            tx.clone(),
            ref_out.clone(),
            out.clone(),
            format!("DL{ref_out}"),
            format!("DL{out}"),
        ])
        .await;
}
