//! Exactly-once through NATS JetStream (the scenario in `common/pipeline.rs`).
//!
//! Needs NATS with JetStream on 127.0.0.1:4222 (`.ci/run` starts it) and ../shared/data;
//! says SKIP otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::pipeline::{self, Broker, PARTITIONS};
use riskstream_connectors::NatsSource;
use std::time::Duration;

const URL: &str = "nats://127.0.0.1:4222";

struct Nats;

impl Broker for Nats {
    fn name(&self) -> &'static str {
        "NATS JetStream"
    }
    fn endpoint(&self, t: &str, source: bool) -> String {
        let parts = if source {
            format!("partitions = {PARTITIONS}\n")
        } else {
            String::new()
        };
        format!(
            "kind = \"nats\"\nurl = \"{URL}\"\nstream = \"{t}\"\nsubject = \"{}\"\n{parts}",
            t.to_lowercase()
        )
    }
    fn produce_args(&self, t: &str) -> Vec<String> {
        ["--url", URL, "--stream", t, "--subject", &t.to_lowercase()]
            .map(String::from)
            .to_vec()
    }
    async fn read_all(&self, t: &str) -> Vec<String> {
        let parts: Vec<u32> = (0..PARTITIONS).collect();
        let mut src = NatsSource::open(URL, t, &t.to_lowercase(), &parts, &Default::default())
            .await
            .unwrap();
        // Read until the stream's own message count is reached: an ordered consumer that
        // is being reset can pause for a few seconds, and a quiet spell alone is not the end.
        let js = riskstream_connectors::nats::connect(URL).await.unwrap();
        let total = js
            .get_stream(t)
            .await
            .unwrap()
            .info()
            .await
            .unwrap()
            .state
            .messages as usize;
        let t0 = std::time::Instant::now();
        let mut v = Vec::new();
        while v.len() < total && t0.elapsed() < Duration::from_secs(120) {
            if let Some(r) = src.next_record(Duration::from_secs(3)).await.unwrap() {
                v.push(String::from_utf8(r.payload.to_vec()).unwrap());
            }
        }
        assert_eq!(v.len(), total, "{t}: read every message the stream holds");
        v
    }
    async fn cleanup(&self, topics: &[String]) {
        let js = riskstream_connectors::nats::connect(URL).await.unwrap();
        for n in topics {
            let _ = js.delete_stream(n).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_and_restarted_workers_decide_exactly_once() {
    let Some(data) = pipeline::handbook() else {
        eprintln!("SKIP: ../shared/data is absent");
        return;
    };
    if !pipeline::listening("127.0.0.1:4222") {
        eprintln!("SKIP: no NATS on 127.0.0.1:4222 (.ci/run starts one)");
        return;
    }
    pipeline::exactly_once(&Nats, &data, pipeline::events()).await;
}
