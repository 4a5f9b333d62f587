//! Exactly-once through NATS JetStream: the handbook's transactions (1,000,000 by default;
//! `RISKSTREAM_PIPELINE_EVENTS` to change) published to 4 partitions, decided by
//! `riskstream run` once straight through and once with the worker killed with SIGKILL at
//! random points at least 5 times and restarted; the two decision streams must hold the
//! same decisions, each exactly once. Then two workers sharing the partitions must give
//! the same decisions as one.
//!
//! Needs NATS with JetStream on 127.0.0.1:4222 (`.ci/run` starts it) and ../shared/data;
//! says SKIP otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use riskstream_connectors::NatsSource;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const URL: &str = "nats://127.0.0.1:4222";
const PARTITIONS: u32 = 4;

fn exe() -> &'static str {
    env!("CARGO_BIN_EXE_riskstream")
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn handbook() -> Option<PathBuf> {
    let d = std::env::var_os("RISKSTREAM_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let f = d.join("fraud-handbook-simulated/raw/transactions_2018-04-01_2018-09-30.csv.gz");
    f.is_file().then_some(f)
}

fn nats_up() -> bool {
    std::net::TcpStream::connect_timeout(&"127.0.0.1:4222".parse().unwrap(), Duration::from_secs(1))
        .is_ok()
}

struct Names {
    tx: String,
    sfx: String,
}

fn config(dir: &Path, n: &Names, out: &str, worker: (u32, u32), every: u64) -> PathBuf {
    let text = format!(
        "name = \"cards\"\n\
         [source]\nkind = \"nats\"\nurl = \"{URL}\"\nstream = \"{tx}\"\nsubject = \"{txs}\"\npartitions = {PARTITIONS}\n\
         [worker]\nindex = {wi}\ncount = {wc}\n\
         [features]\nspec = \"{spec}\"\n\
         [decide]\npolicy = \"{policy}\"\n\
         [sink]\nkind = \"nats\"\nurl = \"{URL}\"\nstream = \"{out}\"\nsubject = \"{outs}\"\n\
         [dead_letter]\nkind = \"nats\"\nurl = \"{URL}\"\nstream = \"DL_{out}\"\nsubject = \"dl{outs}\"\n\
         [checkpoint]\ndir = \"{state}\"\nevery = {every}\ninterval = \"2s\"\n\
         [run]\nstop_when_idle = \"3s\"\n",
        tx = n.tx,
        txs = n.tx.to_lowercase(),
        wi = worker.0,
        wc = worker.1,
        spec = examples().join("fraud-handbook/features.toml").display(),
        policy = examples().join("fraud-handbook/policy.toml").display(),
        outs = out.to_lowercase(),
        state = dir.join(format!("state-{out}")).display(),
    );
    let p = dir.join(format!("{out}-{}.toml", worker.0));
    std::fs::write(&p, text).unwrap();
    p
}

fn run_to_end(cfg: &Path) -> String {
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

/// Every decision in a stream: tx id → the decision's JSON; panics on a duplicate.
async fn decisions(stream: &str, expected: usize) -> HashMap<String, String> {
    let parts: Vec<u32> = (0..PARTITIONS).collect();
    let mut src = NatsSource::open(
        URL,
        stream,
        &stream.to_lowercase(),
        &parts,
        &Default::default(),
    )
    .await
    .unwrap();
    let mut m = HashMap::with_capacity(expected);
    while let Some(r) = src.next_record(Duration::from_secs(3)).await.unwrap() {
        let v: serde_json::Value = serde_json::from_slice(&r.payload).unwrap();
        let id = v["tx_id"].as_str().unwrap().to_string();
        let body = String::from_utf8(r.payload.to_vec()).unwrap();
        if let Some(prev) = m.insert(id.clone(), body) {
            panic!("{stream}: transaction {id} decided twice (first: {prev})");
        }
    }
    m
}

async fn drop_streams(names: &[String]) {
    let js = riskstream_connectors::nats::connect(URL).await.unwrap();
    for n in names {
        let _ = js.delete_stream(n).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_and_restarted_workers_decide_exactly_once() {
    let Some(data) = handbook() else {
        eprintln!("SKIP: ../shared/data is absent");
        return;
    };
    if !nats_up() {
        eprintln!("SKIP: no NATS on 127.0.0.1:4222 (.ci/run starts one)");
        return;
    }
    let events: usize = std::env::var("RISKSTREAM_PIPELINE_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let sfx = format!("{}{}", std::process::id(), nanos % 1_000_000);
    let n = Names {
        tx: format!("TX{sfx}"),
        sfx: sfx.clone(),
    };
    let dir = tempfile::tempdir().unwrap();
    let (ref_out, kill_out, two_out) = (
        format!("REF{}", n.sfx),
        format!("KILL{}", n.sfx),
        format!("TWO{}", n.sfx),
    );
    let cleanup: Vec<String> = [&n.tx, &ref_out, &kill_out, &two_out]
        .iter()
        .flat_map(|s| [s.to_string(), format!("DL_{s}")])
        .collect();

    // Publish.
    let o = Command::new(exe())
        .args(["produce", "--input"])
        .arg(&data)
        .args([
            "--schema",
            "fraud-handbook-raw",
            "--url",
            URL,
            "--stream",
            &n.tx,
        ])
        .args(["--subject", &n.tx.to_lowercase(), "--key", "CUSTOMER_ID"])
        .args([
            "--partitions",
            &PARTITIONS.to_string(),
            "--limit",
            &events.to_string(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    eprintln!("{}", String::from_utf8_lossy(&o.stdout).trim());

    // Straight through.
    let t0 = Instant::now();
    let out = run_to_end(&config(dir.path(), &n, &ref_out, (0, 1), 20_000));
    eprintln!(
        "reference: {} ({:.1} s)",
        out.trim(),
        t0.elapsed().as_secs_f64()
    );
    let reference = decisions(&ref_out, events).await;
    assert_eq!(reference.len(), events, "every transaction decided once");

    // Killed with SIGKILL at random points, restarted each time.
    let cfg = config(dir.path(), &n, &kill_out, (0, 1), 5_000);
    let mut rng = (nanos as u64) | 1;
    let mut kills = 0;
    for _ in 0..6 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let after = Duration::from_millis(700 + rng % 2_500);
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
    let killed = decisions(&kill_out, events).await;
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
    let a = config(dir.path(), &n, &two_out, (0, 2), 20_000);
    let b = config(dir.path(), &n, &two_out, (1, 2), 20_000);
    let (ra, rb) = std::thread::scope(|s| {
        let ha = s.spawn(|| run_to_end(&a));
        let hb = s.spawn(|| run_to_end(&b));
        (ha.join().unwrap(), hb.join().unwrap())
    });
    eprintln!("two workers:\n  {}\n  {}", ra.trim(), rb.trim());
    let two = decisions(&two_out, events).await;
    assert_eq!(two.len(), events);
    assert!(
        reference.iter().all(|(id, d)| two.get(id) == Some(d)),
        "two workers give the same decisions as one"
    );
    drop_streams(&cleanup).await;
}
