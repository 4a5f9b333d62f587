//! Exactly-once through a Kafka-protocol broker (the scenario in `common/pipeline.rs`).
//!
//! Needs a Kafka broker on 127.0.0.1:9092 (`.ci/run` starts tansu, installing it if
//! missing) and ../shared/data; says SKIP otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

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

/// Features keyed by a second entity through a repartition topic: the source is keyed by
/// customer, the handbook's terminal windows need every transaction of a terminal. Two
/// workers share 4 source partitions and 4 repartition partitions; one is killed with
/// SIGKILL at random points 5+ times. Every decision — with its whole feature row, the
/// terminal windows included — must equal a single-partition file pipeline's, each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repartition_topic_makes_second_entity_features_exact() {
    repartitioned(false).await;
}

/// The same in a consumer group (one for the source, one for the repartition topic): A
/// alone, B joins, A is killed (its partitions of both topics move to B), A comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repartition_topic_works_in_a_consumer_group() {
    repartitioned(true).await;
}

async fn repartitioned(group: bool) {
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
    let m = if group { "G" } else { "" };
    let (tx, rp, out) = (
        format!("{m}RTX{sfx}"),
        format!("{m}RP{sfx}"),
        format!("{m}ROUT{sfx}"),
    );
    let dir = tempfile::tempdir().unwrap();
    let ex = pipeline::examples();
    let spec = ex.join("fraud-handbook/features.toml");
    let policy = ex.join("fraud-handbook/policy.toml");

    // The reference: one partition, so every entity's windows see every transaction.
    let nd = dir.path().join("tx.ndjson");
    pipeline::produce_ndjson(&data, events, &nd);
    let ref_out = dir.path().join("ref.ndjson");
    let ref_cfg = dir.path().join("ref.toml");
    std::fs::write(
        &ref_cfg,
        format!(
            "name = \"ref\"\n[source]\nkind = \"file\"\npath = \"{}\"\n\
             [features]\nspec = \"{}\"\n[decide]\npolicy = \"{}\"\ninclude_features = true\n\
             [sink]\nkind = \"file\"\npath = \"{}\"\n[checkpoint]\ndir = \"{}\"\n",
            nd.display(),
            spec.display(),
            policy.display(),
            ref_out.display(),
            dir.path().join("state-ref").display()
        ),
    )
    .unwrap();
    let t0 = std::time::Instant::now();
    let o = pipeline::run_to_end(&ref_cfg);
    eprintln!(
        "reference (file, 1 partition): {} ({:.1} s)",
        o.trim(),
        t0.elapsed().as_secs_f64()
    );
    let mut reference = std::collections::HashMap::new();
    for line in std::fs::read_to_string(&ref_out).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        reference.insert(v["tx_id"].as_str().unwrap().to_string(), line.to_string());
    }
    assert_eq!(reference.len(), events);

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

    let config = |worker: u32| {
        let (assign, idle) = if group {
            (format!("group = \"rp{sfx}\""), "12s")
        } else {
            (format!("index = {worker}\ncount = 2"), "3s")
        };
        let text = format!(
            "name = \"cards\"\n[source]\n{src}\n[worker]\n{assign}\n\
             [features]\nspec = \"{spec}\"\n[decide]\npolicy = \"{policy}\"\ninclude_features = true\n\
             [sink]\n{sink}\n[dead_letter]\n{dl}\n\
             [repartition]\nfrom = \"CUSTOMER_ID\"\nby = \"TERMINAL_ID\"\ntopic = \"{rp}\"\n\
             watermark_interval = \"100ms\"\nidle_after = \"30s\"\n\
             [checkpoint]\ndir = \"{state}\"\nevery = 5000\ninterval = \"1s\"\n\
             [run]\nstop_when_idle = \"{idle}\"\n",
            src = Kafka.endpoint(&tx, true),
            spec = spec.display(),
            policy = policy.display(),
            sink = Kafka.endpoint(&out, false),
            dl = Kafka.endpoint(&format!("DL{out}"), false),
            state = dir.path().join("state").display(),
        );
        let p = dir.path().join(format!("w{worker}.toml"));
        std::fs::write(&p, text).unwrap();
        p
    };
    let (w0, w1) = (config(0), config(1));
    let o = Command::new(pipeline::exe())
        .arg("validate")
        .arg(&w0)
        .output()
        .unwrap();
    assert!(
        o.status.success()
            && String::from_utf8_lossy(&o.stdout).contains("repartitioned by TERMINAL_ID"),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );

    if group {
        // A alone; B joins (both groups rebalance); A is killed (its partitions move to B
        // when its sessions expire); A comes back; both run until the input is done.
        let start = || {
            Command::new(pipeline::exe())
                .arg("run")
                .arg(&w0)
                .env("RUST_LOG", "warn")
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let mut a = start();
        std::thread::sleep(std::time::Duration::from_millis(3_000));
        let b = start();
        std::thread::sleep(std::time::Duration::from_millis(3_500));
        assert!(
            a.try_wait().unwrap().is_none(),
            "A ended before it could be killed"
        );
        a.kill().unwrap(); // SIGKILL
        let _ = a.wait();
        std::thread::sleep(std::time::Duration::from_millis(1_500));
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
    } else {
        // Worker 1 runs while worker 0 is killed again and again; then both to the end.
        let seed = (u64::from(std::process::id()) << 16) | 0x5eed;
        let kills = std::thread::scope(|s| {
            let h = s.spawn(|| pipeline::run_to_end(&w1));
            let kills = pipeline::kill_repeatedly(&w0, 6, 2_000, 4_000, seed);
            eprintln!("worker 1 meanwhile: {}", h.join().unwrap().trim());
            kills
        });
        assert!(
            kills >= 5,
            "worker 0 ended before it was killed 5 times ({kills})"
        );
        let (r0, r1) = std::thread::scope(|s| {
            let h0 = s.spawn(|| pipeline::run_to_end(&w0));
            let h1 = s.spawn(|| pipeline::run_to_end(&w1));
            (h0.join().unwrap(), h1.join().unwrap())
        });
        eprintln!(
            "after {kills} kills:\n  worker 0: {}\n  worker 1: {}",
            r0.trim(),
            r1.trim()
        );
    }

    let got = pipeline::decisions(&Kafka, &out).await;
    assert_eq!(got.len(), events, "nothing lost, nothing duplicated");
    let mut diff = 0;
    for (id, d) in &reference {
        if got.get(id) != Some(d) {
            diff += 1;
            if diff <= 3 {
                eprintln!("differs: {id}\n  ref: {d}\n  got: {:?}", got.get(id));
            }
        }
    }
    assert_eq!(
        diff, 0,
        "every decision and feature row equals the single-partition run's"
    );
    // Not vacuous: most rows have terminal windows with transactions in them, and with 4
    // partitions by customer about 3 in 4 of a terminal's transactions come from other
    // partitions — without the repartition those counts would come out short.
    let busy =
        reference
            .values()
            .filter(|d| {
                let v: serde_json::Value = serde_json::from_str(d).unwrap();
                v["features"].as_array().unwrap().iter().any(|f| {
                    f[0] == "TERMINAL_ID_NB_TX_30DAY_WINDOW" && f[1].as_f64().unwrap() > 0.0
                })
            })
            .count();
    assert!(
        busy > events / 2,
        "terminal windows hold transactions ({busy} of {events} rows)"
    );
    Kafka
        .cleanup(&[tx.clone(), rp.clone(), out.clone(), format!("DL{out}")])
        .await;
}
