//! `riskstream run pipeline.toml` (a streaming decision pipeline) and `riskstream produce`
//! (publish a data file to a partitioned NATS JetStream subject, keyed by an entity).

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
    let rt = super::serve::runtime()?;
    let stop = Arc::new(AtomicBool::new(false));
    let report = rt.block_on(async {
        let s = stop.clone();
        tokio::spawn(async move {
            super::serve::stop_signal().await;
            s.store(true, Ordering::Relaxed);
        });
        riskstream_pipeline::run(&cfg, stop.clone()).await
    })?;
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "pipeline `{}` (partitions {:?}): {} records in {:.2} s ({:.0}/s); {} decisions, {} dead letters, {} already written before a restart; {} checkpoints",
            cfg.name,
            cfg.owned_partitions(),
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
    #[arg(long, required_unless_present = "output")]
    pub stream: Option<String>,
    /// Subject prefix: record goes to `<subject>.<partition>`.
    #[arg(long, required_unless_present = "output")]
    pub subject: Option<String>,
    /// Write NDJSON to this file instead of publishing (input for a file pipeline).
    #[arg(long, conflicts_with_all = ["stream", "subject"])]
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

/// Publishes the file's rows, in event-time order, one JSON object per message.
pub fn produce(a: ProduceArgs) -> anyhow::Result<Outcome> {
    if a.partitions == 0 {
        return Err(UsageError("--partitions must be at least 1".into()).into());
    }
    let t = table::load(
        &a.input,
        &LoadOptions {
            schema: Some(a.schema.clone()),
            ..Default::default()
        },
    )?;
    let schema = super::resolve_schema(
        Some(&a.schema),
        &a.input,
        super::file_format(&a.input, None, None)?,
    )?
    .0;
    let col = |name: &str| {
        t.names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| UsageError(format!("no field `{name}` in {}", a.input.display())))
    };
    let key = if a.output.is_some() && a.key.is_empty() {
        0
    } else {
        col(&a.key)?
    };
    let id_name = match &a.id {
        Some(i) => i.clone(),
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
    rows.truncate(a.limit.unwrap_or(usize::MAX));
    let text = |c: usize, r: usize| match &t.columns[c] {
        Column::Num(v) if v[r].fract() == 0.0 => format!("{}", v[r] as i64),
        Column::Num(v) => v[r].to_string(),
        Column::Time(v) => v[r].to_string(),
        Column::Text(v) => v[r].clone().unwrap_or_default(),
    };
    let n = rows.len();
    let t0 = Instant::now();
    if let Some(out) = &a.output {
        let mut sink = riskstream_connectors::FileSink::open(out, Some(0))?;
        for &r in &rows {
            sink.write_line(&serde_json::to_vec(&super::demo::row_json(&t, &schema, r))?)?;
        }
        sink.flush()?;
        println!("wrote {n} records to {}", out.display());
        return Ok(Outcome::Clean);
    }
    let (Some(stream), Some(subject)) = (&a.stream, &a.subject) else {
        return Err(UsageError("give --stream and --subject, or --output".into()).into());
    };
    let rt = super::serve::runtime()?;
    rt.block_on(async {
        let mut sink = riskstream_connectors::NatsSink::open(
            &a.url,
            stream,
            subject,
            std::time::Duration::from_secs(600),
        )
        .await?;
        for &r in &rows {
            let p = (xxhash_rust::xxh3::xxh3_64(text(key, r).as_bytes()) % u64::from(a.partitions))
                as u32;
            let body = serde_json::to_vec(&super::demo::row_json(&t, &schema, r))?;
            sink.publish(p, &text(id, r), None, body.into()).await?;
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
