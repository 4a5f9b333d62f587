//! `riskstream bench pipeline`: a streaming pipeline end to end through each broker, beside
//! the broker's own ceiling measured in the same run on the same records.
//!
//! Per broker (NATS JetStream, Kafka), on fresh topics:
//! 1. **produce ceiling** — publish the records as fast as the client allows (acks awaited);
//! 2. **consume ceiling** — read them back with the pipeline's own source, doing nothing else;
//! 3. **pipeline** — `riskstream run`'s loop over that backlog: decode, features, policy,
//!    decision to the output topic, checkpoints; events/s while busy;
//! 4. **broker latency** — records published at a fixed rate and read straight back: the
//!    broker's own store-to-delivery latency, the floor for the next step;
//! 5. **latency** — records published at a fixed rate while the pipeline runs; the
//!    event-to-decision latency from the broker's timestamp (NATS: when the server stored
//!    the message; Kafka: the producer's create time) to the decision handed to the sink.
//!
//! Producer, pipeline and broker share the machine's cores, as they do in the tests.

use crate::UsageError;
use riskstream_connectors::{KafkaSink, KafkaSource, NatsSink, NatsSource};
use riskstream_pipeline::PipelineConfig;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What `bench pipeline` runs on (the command line's flags).
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// Transactions to stream.
    pub input: PathBuf,
    /// Schema of the input.
    pub schema: String,
    /// Partition key.
    pub key: String,
    /// Records for the throughput steps.
    pub events: usize,
    /// Partitions.
    pub partitions: u32,
    /// Publishing rate for the latency step, per second.
    pub rate: u32,
    /// Seconds of the latency step.
    pub seconds: u64,
    /// Brokers to run: nats, kafka.
    pub brokers: Vec<String>,
    /// NATS server.
    pub nats_url: String,
    /// Kafka bootstrap servers.
    pub kafka: String,
    /// Feature spec; `None`: the shipped `examples/fraud-handbook/features.toml` (built in).
    pub spec: Option<PathBuf>,
    /// Policy; `None`: the shipped `examples/fraud-handbook/policy.toml` (built in).
    pub policy: Option<PathBuf>,
    /// Repartition by this second entity (`[repartition] by`; Kafka only): the pipeline
    /// then runs in two stages through a repartition topic, with the entity's features exact.
    pub repartition: Option<String>,
    /// Print JSON lines instead of a table.
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Nats,
    Kafka,
}

struct Target<'a> {
    kind: Kind,
    a: &'a PipelineOptions,
    /// The feature spec and the policy the pipeline runs, as absolute paths.
    spec: &'a Path,
    policy: &'a Path,
}

enum Producer {
    Nats(Box<NatsSink>),
    Kafka(Box<KafkaSink>),
}

impl Producer {
    async fn send(&mut self, r: &Keyed) -> anyhow::Result<()> {
        match self {
            Producer::Nats(s) => s.publish(r.0, &r.1, None, r.2.clone().into()).await?,
            Producer::Kafka(s) => s.publish(r.0, &r.1, None, &r.2).await?,
        }
        Ok(())
    }
    async fn flush(&mut self) -> anyhow::Result<()> {
        match self {
            Producer::Nats(s) => s.flush().await?,
            Producer::Kafka(s) => s.flush().await?,
        }
        Ok(())
    }
}

impl Target<'_> {
    fn name(&self) -> &'static str {
        match (self.kind, &self.a.repartition) {
            (Kind::Nats, _) => "NATS JetStream",
            (Kind::Kafka, None) => "Kafka (tansu)",
            (Kind::Kafka, Some(_)) => "Kafka, repartitioned",
        }
    }

    async fn producer(&self, topic: &str) -> anyhow::Result<Producer> {
        Ok(match self.kind {
            Kind::Nats => Producer::Nats(Box::new(
                NatsSink::open(
                    &self.a.nats_url,
                    topic,
                    &topic.to_lowercase(),
                    Duration::from_secs(120),
                )
                .await?,
            )),
            Kind::Kafka => Producer::Kafka(Box::new(
                KafkaSink::open(&self.a.kafka, topic, self.a.partitions).await?,
            )),
        })
    }

    /// Reads `n` records from `topic`; records/s, and each record's latency from the
    /// broker's timestamp to its arrival here (µs).
    async fn consume(&self, topic: &str, n: usize) -> anyhow::Result<(f64, Vec<i64>)> {
        let parts: Vec<u32> = (0..self.a.partitions).collect();
        let idle = Duration::from_secs(5);
        let t0 = Instant::now();
        let mut got = 0usize;
        let mut lat = Vec::with_capacity(n);
        let mut seen = |r: riskstream_connectors::Record| {
            if let Some(t) = r.stored_us {
                lat.push(now_us() - t);
            }
        };
        match self.kind {
            Kind::Nats => {
                let mut s = NatsSource::open(
                    &self.a.nats_url,
                    topic,
                    &topic.to_lowercase(),
                    &parts,
                    &Default::default(),
                )
                .await?;
                while got < n {
                    let Some(r) = s.next_record(idle).await? else {
                        break;
                    };
                    seen(r);
                    got += 1;
                }
            }
            Kind::Kafka => {
                let mut s = KafkaSource::open(&self.a.kafka, topic, &parts, &Default::default())?;
                while got < n {
                    let Some(r) = s.next_record(idle).await? else {
                        break;
                    };
                    seen(r);
                    got += 1;
                }
            }
        }
        anyhow::ensure!(got == n, "{}: read {got} of {n} records back", self.name());
        Ok((n as f64 / t0.elapsed().as_secs_f64(), lat))
    }

    fn endpoint(&self, topic: &str, source: bool) -> String {
        let parts = if source {
            format!("partitions = {}\n", self.a.partitions)
        } else {
            String::new()
        };
        match self.kind {
            Kind::Nats => format!(
                "kind = \"nats\"\nurl = \"{}\"\nstream = \"{topic}\"\nsubject = \"{}\"\n{parts}",
                self.a.nats_url,
                topic.to_lowercase()
            ),
            Kind::Kafka => format!(
                "kind = \"kafka\"\nbrokers = \"{}\"\ntopic = \"{topic}\"\n{parts}",
                self.a.kafka
            ),
        }
    }

    fn config(
        &self,
        dir: &std::path::Path,
        input: &str,
        output: &str,
    ) -> anyhow::Result<PipelineConfig> {
        let cwd = std::env::current_dir()?;
        let repartition = match &self.a.repartition {
            Some(by) => format!(
                "[repartition]\nfrom = \"{}\"\nby = \"{by}\"\ntopic = \"{output}RP\"\n",
                self.a.key
            ),
            None => String::new(),
        };
        let text = format!(
            "name = \"bench\"\n[source]\n{}\n[features]\nspec = \"{}\"\n[decide]\npolicy = \"{}\"\n\
             [sink]\n{}\n[checkpoint]\ndir = \"{}\"\nevery = 20000\ninterval = \"5s\"\n\
             [run]\nstop_when_idle = \"2s\"\n{repartition}",
            self.endpoint(input, true),
            self.spec.display(),
            self.policy.display(),
            self.endpoint(output, false),
            dir.join(output).display(),
        );
        Ok(PipelineConfig::parse(&text, "bench pipeline", &cwd)?)
    }

    async fn cleanup(&self, topics: &[String]) {
        match self.kind {
            Kind::Nats => {
                if let Ok(js) = riskstream_connectors::nats::connect(&self.a.nats_url).await {
                    for t in topics {
                        let _ = js.delete_stream(t).await;
                    }
                }
            }
            Kind::Kafka => {
                let t: Vec<&str> = topics.iter().map(String::as_str).collect();
                let _ = riskstream_connectors::kafka::delete_topics(&self.a.kafka, &t).await;
            }
        }
    }
}

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// p50, p99 and max of latencies in µs, in ms.
fn quantiles_ms(mut v: Vec<i64>) -> [f64; 3] {
    if v.is_empty() {
        return [f64::NAN; 3];
    }
    v.sort_unstable();
    let q = |f: f64| v[((v.len() - 1) as f64 * f).round() as usize] as f64 / 1000.0;
    [q(0.5), q(0.99), q(1.0)]
}

/// Publishes `rows` at `rate` per second (the first at once).
async fn paced(p: &mut Producer, rows: &[Keyed], rate: u32) -> anyhow::Result<()> {
    let start = Instant::now();
    let every = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    for (i, r) in rows.iter().enumerate() {
        let due = start + every.mul_f64(i as f64);
        let now = Instant::now();
        if due > now {
            tokio::time::sleep(due - now).await;
        }
        p.send(r).await?;
    }
    p.flush().await
}

#[derive(Debug, serde::Serialize)]
struct Line {
    broker: &'static str,
    events: usize,
    produce_per_s: f64,
    consume_per_s: f64,
    pipeline_per_s: f64,
    pipeline_vs_consume: f64,
    latency_rate: u32,
    latency_events: usize,
    broker_p50_ms: f64,
    broker_p99_ms: f64,
    latency_p50_ms: f64,
    latency_p99_ms: f64,
    latency_max_ms: f64,
}

async fn one(t: &Target<'_>, rows: &[Keyed], dir: &std::path::Path) -> anyhow::Result<Line> {
    let a = t.a;
    let sfx = format!(
        "{}{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis()
            % 1_000_000
    );
    let (tx, out, lat_in, lat_out, bare) = (
        format!("BENCHTX{sfx}"),
        format!("BENCHOUT{sfx}"),
        format!("BENCHLATIN{sfx}"),
        format!("BENCHLATOUT{sfx}"),
        format!("BENCHBARE{sfx}"),
    );
    let n = a.events.min(rows.len());
    eprintln!("{}: publishing {n} records …", t.name());
    let t0 = Instant::now();
    let mut p = t.producer(&tx).await?;
    for r in &rows[..n] {
        p.send(r).await?;
    }
    p.flush().await?;
    let produce = n as f64 / t0.elapsed().as_secs_f64();
    eprintln!("{}: reading them back …", t.name());
    let (consume, _) = t.consume(&tx, n).await?;

    eprintln!("{}: the pipeline over the backlog …", t.name());
    let cfg = t.config(dir, &tx, &out)?;
    let rep = riskstream_pipeline::run(&cfg, Arc::new(AtomicBool::new(false))).await?;
    anyhow::ensure!(
        rep.decisions as usize == n,
        "{}: {} decisions for {n} records ({} dead letters)",
        t.name(),
        rep.decisions,
        rep.dead_letters
    );
    let pipeline = n as f64 / rep.busy_seconds.max(1e-9);

    let m = ((a.rate as u64 * a.seconds) as usize).min(rows.len());
    eprintln!(
        "{}: the broker alone, {m} records at {}/s published and read back …",
        t.name(),
        a.rate
    );
    let mut p = t.producer(&bare).await?;
    p.send(&rows[0]).await?;
    p.flush().await?;
    let (read, sent) = tokio::join!(t.consume(&bare, m), paced(&mut p, &rows[1..m], a.rate));
    sent?;
    let [b50, b99, _] = quantiles_ms(read?.1);
    eprintln!(
        "{}: latency, {m} records at {}/s while the pipeline runs …",
        t.name(),
        a.rate
    );
    let cfg = t.config(dir, &lat_in, &lat_out)?;
    let mut p = t.producer(&lat_in).await?;
    // The first record creates the topic the pipeline reads.
    p.send(&rows[0]).await?;
    p.flush().await?;
    let stop = Arc::new(AtomicBool::new(false));
    let runner = tokio::spawn(async move { riskstream_pipeline::run(&cfg, stop).await });
    paced(&mut p, &rows[1..m], a.rate).await?;
    let rep = runner.await??;
    let [p50, p99, max] = rep.latency_ms.unwrap_or([f64::NAN; 3]);
    let (rp, lat_rp) = (format!("{out}RP"), format!("{lat_out}RP"));
    t.cleanup(&[tx, out, lat_in, lat_out, bare, rp, lat_rp])
        .await;
    Ok(Line {
        broker: t.name(),
        events: n,
        produce_per_s: produce,
        consume_per_s: consume,
        pipeline_per_s: pipeline,
        pipeline_vs_consume: pipeline / consume,
        latency_rate: a.rate,
        latency_events: m,
        broker_p50_ms: b50,
        broker_p99_ms: b99,
        latency_p50_ms: p50,
        latency_p99_ms: p99,
        latency_max_ms: max,
    })
}

/// One record to publish: its partition, id and JSON body (what `riskstream produce` sends).
pub type Keyed = (u32, String, Vec<u8>);

/// Reads the records to stream: `(input, schema, key field, partitions, at most n)` to the
/// file's rows in event-time order with their partitions (the command line passes
/// `riskstream produce`'s reader, so the bench streams what `produce` would publish).
pub type LoadRecords<'a> = &'a dyn Fn(&Path, &str, &str, u32, usize) -> anyhow::Result<Vec<Keyed>>;

/// Runs the steps for each broker and prints one line per broker to `stdout`.
pub fn run(
    a: PipelineOptions,
    records: LoadRecords<'_>,
    stdout: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut kinds = Vec::new();
    if a.repartition.is_some() && a.brokers.iter().any(|b| b != "kafka") {
        return Err(UsageError(
            "--repartition: the repartition topic is Kafka's; add --brokers kafka".into(),
        )
        .into());
    }
    for b in &a.brokers {
        kinds.push(match b.as_str() {
            "nats" => Kind::Nats,
            "kafka" => Kind::Kafka,
            other => {
                return Err(UsageError(format!(
                    "--brokers: `{other}` is not a broker; use nats, kafka or both"
                ))
                .into())
            }
        });
    }
    eprintln!("loading {} …", a.input.display());
    let rows = records(
        &a.input,
        &a.schema,
        &a.key,
        a.partitions,
        a.events.max((a.rate as u64 * a.seconds) as usize),
    )?;
    anyhow::ensure!(rows.len() > 1, "{} has no records", a.input.display());
    let dir = tempfile::tempdir()?;
    let cwd = std::env::current_dir()?;
    let spec = match &a.spec {
        Some(p) => cwd.join(p),
        None => crate::shipped::write_handbook_spec(dir.path())?,
    };
    let policy = match &a.policy {
        Some(p) => cwd.join(p),
        None => crate::shipped::write_handbook_policy(dir.path())?,
    };
    let rt = crate::runtime()?;
    let mut lines = Vec::new();
    for k in kinds {
        let t = Target {
            kind: k,
            a: &a,
            spec: &spec,
            policy: &policy,
        };
        lines.push(rt.block_on(one(&t, &rows, dir.path()))?);
    }
    if a.json {
        for l in &lines {
            writeln!(stdout, "{}", serde_json::to_string(l)?)?;
        }
    } else {
        writeln!(
            stdout,
            "{:<20} {:>9} {:>12} {:>12} {:>12} {:>9} {:>13} {:>11} {:>11} {:>9} {:>9} {:>9}",
            "broker",
            "events",
            "produce/s",
            "consume/s",
            "pipeline/s",
            "pipe/cons",
            "latency at/s",
            "broker p50",
            "broker p99",
            "p50 ms",
            "p99 ms",
            "max ms"
        )?;
        for l in &lines {
            writeln!(
                stdout,
                "{:<20} {:>9} {:>12.0} {:>12.0} {:>12.0} {:>9.2} {:>13} {:>11.2} {:>11.2} {:>9.2} {:>9.2} {:>9.1}",
                l.broker,
                l.events,
                l.produce_per_s,
                l.consume_per_s,
                l.pipeline_per_s,
                l.pipeline_vs_consume,
                l.latency_rate,
                l.broker_p50_ms,
                l.broker_p99_ms,
                l.latency_p50_ms,
                l.latency_p99_ms,
                l.latency_max_ms
            )?;
        }
    }
    Ok(())
}
