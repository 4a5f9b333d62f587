//! `riskstream run pipeline.toml` (a streaming decision pipeline) and `riskstream produce`
//! (publish a data file to a partitioned NATS JetStream subject or Kafka topic, keyed by an
//! entity).

use super::table::{self, Column, LoadOptions};
use super::UsageError;
use crate::Outcome;
use riskstream_pipeline::PipelineConfig;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Arguments of `riskstream run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Pipeline config (TOML): source, features, policy and model, sinks, checkpoints.
    /// See examples/pipeline/.
    pub config: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs a pipeline until its input ends or goes idle (`[run] stop_when_idle`), or until
/// SIGINT/SIGTERM; every stop writes a final checkpoint.
pub fn run(a: RunArgs) -> anyhow::Result<Outcome> {
    super::serve::init_logging(false);
    let cfg = PipelineConfig::load(&a.config)?;
    // Every file the pipeline names, checked before anything connects (as `validate` does).
    let topology = cfg.check()?;
    let rt = super::serve::runtime()?;
    let stop = Arc::new(AtomicBool::new(false));
    let report = rt.block_on(async {
        let s = stop.clone();
        tokio::spawn(async move {
            super::serve::stop_signal().await;
            s.store(true, Ordering::Relaxed);
        });
        if let riskstream_pipeline::SourceConfig::Http { listen, tls, .. } = &cfg.source {
            eprintln!(
                "accepting transactions on {}://{listen}/v1/transactions",
                if tls.is_some() { "https" } else { "http" }
            );
        }
        if let Some(addr) = cfg.metrics_listen {
            let bound = riskstream_server::serve_metrics(addr).await?;
            eprintln!("serving /metrics on http://{bound}/metrics");
        }
        anyhow::Ok(riskstream_pipeline::run_checked(&topology, stop.clone()).await?)
    })?;
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "pipeline `{}` ({}): {} records in {:.2} s ({:.0}/s); {} decisions, {} dead letters, {} already written before a restart; {} checkpoints",
            cfg.name,
            match &cfg.group {
                Some(g) => format!("partitions from consumer group `{g}`"),
                None => format!("partitions {:?}", cfg.owned_partitions()),
            },
            report.records,
            report.seconds,
            report.records as f64 / report.seconds.max(1e-9),
            report.decisions,
            report.dead_letters,
            report.suppressed,
            report.checkpoints
        );
        for (p, o) in &report.restored {
            println!("  partition {p} resumed after offset {o}");
        }
        if cfg.registry.is_some() {
            println!(
                "  registry: {} cases opened in the review queue, {} decisions in the audit log",
                report.cases, report.audited
            );
        }
        if let (Some(r), Some(cr)) = (&report.repartition, &cfg.repartition) {
            println!(
                "  repartition by {} through `{}`: {} transactions forwarded, {} watermarks; the second stage read {}, dropped {} duplicates of a replay, holds {} waiting for a slower partition{}",
                cr.by, cr.topic, r.forwarded, r.watermarks, r.received, r.duplicates, r.held,
                if r.released_early > 0 {
                    format!("; released {} early (more than max_held were waiting)", r.released_early)
                } else {
                    String::new()
                }
            );
        }
        if let Some(q) = &report.quality {
            println!(
                "  quality: {} windows, {} fired (every window's results in {})",
                q.windows,
                q.fired,
                q.report.display()
            );
        }
        if let Some([p50, p99, max]) = report.latency_ms {
            println!(
                "  event to decision: p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.1} ms (from the broker's store time)"
            );
        }
    }
    Ok(if report.dead_letters > 0 {
        Outcome::Problems
    } else {
        Outcome::Clean
    })
}

/// Arguments of `riskstream produce`.
#[derive(Debug, clap::Args)]
pub struct ProduceArgs {
    /// Data file (CSV, Parquet, NDJSON; .gz ok).
    #[arg(long)]
    pub input: PathBuf,
    /// Schema (file or shipped name).
    #[arg(long)]
    pub schema: String,
    /// NATS server.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    pub url: String,
    /// Stream (created if missing, over `<subject>.>`).
    #[arg(long, required_unless_present_any = ["output", "topic"])]
    pub stream: Option<String>,
    /// Subject prefix: record goes to `<subject>.<partition>`.
    #[arg(long, required_unless_present_any = ["output", "topic"])]
    pub subject: Option<String>,
    /// Publish to this Kafka topic instead (created with --partitions if missing).
    #[arg(long, conflicts_with_all = ["stream", "subject"], requires = "kafka")]
    pub topic: Option<String>,
    /// Kafka bootstrap servers, with --topic.
    #[arg(long, requires = "topic")]
    pub kafka: Option<String>,
    /// Write NDJSON to this file instead of publishing (input for a file pipeline).
    #[arg(long, conflicts_with_all = ["stream", "subject", "topic"])]
    pub output: Option<PathBuf>,
    /// Number of partitions.
    #[arg(long, default_value_t = 1)]
    pub partitions: u32,
    /// Field whose value picks the partition (xxh3 of its text, modulo partitions).
    #[arg(long, default_value = "")]
    pub key: String,
    /// Field used as the message id (broker-side dedup); default the schema's id.
    #[arg(long)]
    pub id: Option<String>,
    /// Send at most this many records (in time order).
    #[arg(long)]
    pub limit: Option<usize>,
}

/// One record to publish: its partition, id and JSON body.
pub type Keyed = (u32, String, Vec<u8>);

/// The file's rows in event-time order (at most `limit`), as JSON objects, each with the
/// partition its `key` field picks (xxh3 of the text, modulo `partitions`) and its id.
pub fn keyed_rows(
    input: &std::path::Path,
    schema_name: &str,
    key: &str,
    id: Option<&str>,
    partitions: u32,
    limit: Option<usize>,
) -> anyhow::Result<Vec<Keyed>> {
    if partitions == 0 {
        return Err(UsageError("--partitions must be at least 1".into()).into());
    }
    let t = table::load(
        input,
        &LoadOptions {
            schema: Some(schema_name.to_string()),
            ..Default::default()
        },
    )?;
    let schema = super::resolve_schema(
        Some(schema_name),
        input,
        super::file_format(input, None, None)?,
    )?
    .0;
    let col = |name: &str| {
        t.names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| UsageError(format!("no field `{name}` in {}", input.display())))
    };
    let key = if key.is_empty() {
        None
    } else {
        Some(col(key)?)
    };
    let id_name = match id {
        Some(i) => i.to_string(),
        None => schema
            .id
            .map(|i| schema.fields[i].name.clone())
            .ok_or_else(|| UsageError("the schema has no id field; pass --id".into()))?,
    };
    let id = col(&id_name)?;
    let mut rows: Vec<usize> = (0..t.rows).collect();
    if let Some(ti) = schema.event_time {
        if let Ok(c) = col(&schema.fields[ti].name) {
            if let Column::Time(times) = &t.columns[c] {
                rows.sort_by_key(|&r| (times[r], r));
            }
        }
    }
    rows.truncate(limit.unwrap_or(usize::MAX));
    let text = |c: usize, r: usize| match &t.columns[c] {
        Column::Num(v) if v[r].fract() == 0.0 => format!("{}", v[r] as i64),
        Column::Num(v) => v[r].to_string(),
        Column::Time(v) => v[r].to_string(),
        Column::Text(v) => v[r].clone().unwrap_or_default(),
    };
    rows.iter()
        .map(|&r| {
            let p = key.map_or(0, |k| {
                (xxhash_rust::xxh3::xxh3_64(text(k, r).as_bytes()) % u64::from(partitions)) as u32
            });
            let body = serde_json::to_vec(&super::demo::row_json(&t, &schema, r))?;
            Ok((p, text(id, r), body))
        })
        .collect()
}

/// Publishes the file's rows, in event-time order, one JSON object per message.
pub fn produce(a: ProduceArgs) -> anyhow::Result<Outcome> {
    if a.output.is_none() && a.key.is_empty() && a.partitions > 1 {
        return Err(UsageError(
            "--key is needed with more than one partition: it keeps an entity's records in one partition".into(),
        )
        .into());
    }
    let rows = keyed_rows(
        &a.input,
        &a.schema,
        &a.key,
        a.id.as_deref(),
        a.partitions,
        a.limit,
    )?;
    let n = rows.len();
    let t0 = Instant::now();
    if let Some(out) = &a.output {
        let mut sink = riskstream_connectors::FileSink::open(out, Some(0))?;
        for (_, _, body) in &rows {
            sink.write_line(body)?;
        }
        sink.flush()?;
        println!("wrote {n} records to {}", out.display());
        return Ok(Outcome::Clean);
    }
    let rt = super::serve::runtime()?;
    if let (Some(topic), Some(brokers)) = (&a.topic, &a.kafka) {
        rt.block_on(async {
            let mut sink =
                riskstream_connectors::KafkaSink::open(brokers, topic, a.partitions).await?;
            for (p, id, body) in &rows {
                sink.publish(*p, id, None, body).await?;
            }
            sink.flush().await?;
            anyhow::Ok(())
        })?;
        let s = t0.elapsed().as_secs_f64();
        println!(
            "published {n} records to Kafka topic {topic} (partitions 0..{}) in {s:.2} s ({:.0}/s)",
            a.partitions,
            n as f64 / s.max(1e-9)
        );
        return Ok(Outcome::Clean);
    }
    let (Some(stream), Some(subject)) = (&a.stream, &a.subject) else {
        return Err(UsageError(
            "give --stream and --subject, --kafka and --topic, or --output".into(),
        )
        .into());
    };
    rt.block_on(async {
        let mut sink = riskstream_connectors::NatsSink::open(
            &a.url,
            stream,
            subject,
            std::time::Duration::from_secs(600),
        )
        .await?;
        for (p, id, body) in rows {
            sink.publish(p, &id, None, body.into()).await?;
        }
        sink.flush().await?;
        anyhow::Ok(())
    })?;
    let s = t0.elapsed().as_secs_f64();
    println!(
        "published {n} records to {}.<0..{}> in {s:.2} s ({:.0}/s)",
        subject,
        a.partitions,
        n as f64 / s.max(1e-9)
    );
    Ok(Outcome::Clean)
}
