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
