//! `riskstream bench`: end-to-end speed, side by side with the peers on the same data in
//! the same run.
//!
//! `bench windows` runs the per-event trailing-window query that fraud features are made of
//! (per account: count and sum of amounts over the trailing 1 h and 24 h, current event
//! included) through our feature engine, then through Apache Spark and Apache Flink with the
//! scripts in `../shared/peers` (`over_1h`, `over_24h`), on one CSV, and prints the ratios.

use super::{file_format, resolve_schema, thousands, UsageError};
use crate::Outcome;
use anyhow::Context;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use riskstream_features::{Engine, FeatureSpec};
use riskstream_io::{DiscardDeadLetters, EventReader, PrefetchReader, ReadOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Arguments of `riskstream bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub what: What,
}

/// What to benchmark.
#[derive(Debug, clap::Subcommand)]
pub enum What {
    /// Per-event trailing windows (count and sum over 1 h and 24 h per entity) against Spark and Flink.
    Windows(WindowArgs),
    /// The fraud handbook's 14 features on its raw file, against the same features in Spark
    /// (into its no-op sink, and writing the same Parquet table as we do) and Flink.
    Handbook(HandbookArgs),
    /// Our learners against LightGBM, XGBoost, scikit-learn and Spark MLlib on the same CSVs.
    Models(super::bench_models::ModelArgs),
    /// The decision service over HTTP: open-loop load at fixed rates, p50/p99/p99.9 and errors.
    Http(super::bench_http::HttpArgs),
    /// Streaming pipelines through NATS JetStream and Kafka: broker produce/consume ceilings,
    /// pipeline events/s and event-to-decision latency, in one run.
    Pipeline(super::bench_pipeline::PipelineArgs),
}

/// Arguments of `riskstream bench handbook`.
#[derive(Debug, clap::Args)]
pub struct HandbookArgs {
    /// The handbook's raw transactions.
    #[arg(
        long,
        default_value = "../shared/data/fraud-handbook-simulated/raw/transactions_2018-04-01_2018-09-30.csv.gz"
    )]
    pub input: PathBuf,
    /// Our feature spec for it.
    #[arg(long, default_value = "examples/fraud-handbook/features.toml")]
    pub spec: PathBuf,
    /// The Spark peer job computing the same features.
    #[arg(long, default_value = "bench/peers/spark_handbook_features.py")]
    pub spark_job: PathBuf,
    /// The Flink peer job computing the same windows.
    #[arg(long, default_value = "bench/peers/flink_handbook_features.py")]
    pub flink_job: PathBuf,
    /// Peers to run: spark, flink (comma-separated; empty for none).
    #[arg(long, default_value = "spark,flink")]
    pub peers: String,
    /// Directory holding the peers' virtualenvs (`spark/`, `flink/`).
    #[arg(long, env = "PEERS_VENV", default_value = "../peers-venv")]
    pub peers_venv: PathBuf,
    /// Working directory.
    #[arg(long, default_value = "out/bench")]
    pub out_dir: PathBuf,
    /// Runs of our own jobs (end to end, engine only); the median is reported, with the
    /// range. The peers run once each: a run takes them tens of seconds.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=99))]
    pub runs: u32,
}

/// The median of some run times, and the note saying how many and their range.
fn median_of(mut secs: Vec<f64>) -> (f64, String) {
    secs.sort_by(f64::total_cmp);
    let Some(&mid) = secs.get(secs.len() / 2) else {
        return (f64::NAN, "no runs".to_string());
    };
    let note = if secs.len() == 1 {
        "1 run".to_string()
    } else {
        format!(
            "median of {} runs, {:.3}–{:.3} s",
            secs.len(),
            secs[0],
            secs[secs.len() - 1]
        )
    };
    (mid, note)
}

/// Seconds for a fresh engine to turn `batches`, already in memory, into output batches
/// in chunks as replay does (the output is built and dropped).
fn engine_only(spec: &FeatureSpec, batches: &[RecordBatch]) -> anyhow::Result<f64> {
    let mut engine = Engine::new(spec);
    engine.set_apply_chunk(riskstream_features::replay::APPLY_CHUNK);
    let t = Instant::now();
    for b in batches {
        engine.push_transactions(b, &mut |_| {})?;
        if engine.ready_rows() >= riskstream_features::replay::APPLY_CHUNK {
            engine.take_output()?;
        }
    }
    engine.finish(&mut |_| {});
    engine.take_output()?;
    Ok(t.elapsed().as_secs_f64())
}

/// Seconds and rows for our replay into no sink, the job Spark's no-op sink runs: the file
/// read and parsed on its own thread, features computed (streams side by side, as in
/// replay) and each output batch built and dropped.
fn no_sink(spec: &FeatureSpec, input: &Path) -> anyhow::Result<(f64, u64)> {
    let chunk = riskstream_features::replay::APPLY_CHUNK;
    let t = Instant::now();
    let reader = PrefetchReader::open(
        input,
        &spec.schema,
        &ReadOptions::default(),
        Box::new(DiscardDeadLetters),
    )?;
    let mut engine = Engine::new(spec);
    engine.set_apply_chunk(chunk);
    engine.set_threads(riskstream_io::default_threads());
    let mut rows = 0;
    for b in reader {
        engine.push_transactions(&b?, &mut |_| {})?;
        if engine.ready_rows() >= chunk {
            rows += engine.take_output()?.num_rows() as u64;
        }
    }
    engine.finish(&mut |_| {});
    rows += engine.take_output()?.num_rows() as u64;
    Ok((t.elapsed().as_secs_f64(), rows))
}

/// Arguments of `riskstream bench windows`.
#[derive(Debug, clap::Args)]
pub struct WindowArgs {
    /// Input events (any supported file).
    #[arg(long)]
    pub input: PathBuf,
    /// Schema of the input (file or shipped name); default: detected from the header.
    #[arg(long)]
    pub schema: Option<String>,
    /// Entity-key field (an int field); default: the schema's first entity.
    #[arg(long)]
    pub entity: Option<String>,
    /// Amount field (a number); default: a field called TX_AMOUNT or amount.
    #[arg(long)]
    pub amount: Option<String>,
    /// Working directory for the converted input and the spec.
    #[arg(long, default_value = "out/bench")]
    pub out_dir: PathBuf,
    /// Peers to run: spark, flink (comma-separated; empty for none).
    #[arg(long, default_value = "spark,flink")]
    pub peers: String,
    /// Directory holding the peers' virtualenvs (`spark/`, `flink/`).
    #[arg(long, env = "PEERS_VENV", default_value = "../peers-venv")]
    pub peers_venv: PathBuf,
    /// Directory holding the peer scripts.
    #[arg(long, env = "PEERS_DIR", default_value = "../shared/peers")]
    pub peers_dir: PathBuf,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
}

const PEER_SCHEMA: &str = r#"name = "bench-windows"
event_time = "ts"
entities = ["account_id"]

[[field]]
name = "account_id"
type = "int"

[[field]]
name = "ts"
type = "timestamp"
format = "unix_s"

[[field]]
name = "amount"
type = "float"
"#;

const SPEC: &str = r#"name = "bench-windows"
schema = "bench-windows.schema.toml"
passthrough = []

[[feature]]
name = "cnt_1h"
entity = "account_id"
agg = "count"
window = "1h"

[[feature]]
name = "sum_1h"
entity = "account_id"
agg = "sum"
field = "amount"
window = "1h"

[[feature]]
name = "cnt_24h"
entity = "account_id"
agg = "count"
window = "24h"

[[feature]]
name = "sum_24h"
entity = "account_id"
agg = "sum"
field = "amount"
window = "24h"
"#;

/// One measured line.
#[derive(Debug, serde::Serialize)]
struct Line {
    system: String,
    query: String,
    events: u64,
    seconds: f64,
    events_per_s: f64,
    note: String,
    /// Events/s of our run of the same job, when it is not the first line's.
    #[serde(skip)]
    versus: Option<f64>,
}

impl Line {
    /// A system that gave no result, and why.
    fn none(system: &str, note: impl Into<String>) -> Line {
        Line {
            system: system.into(),
            query: "-".into(),
            events: 0,
            seconds: 0.0,
            events_per_s: 0.0,
            note: note.into(),
            versus: None,
        }
    }

    /// A peer's result: one JSON line its job printed (`version`, `events`, `wall_s`,
    /// `events_per_s`), under `query` with `note`.
    fn from_peer(peer: &str, v: &serde_json::Value, query: &str, note: String) -> Option<Line> {
        Some(Line {
            system: format!("{peer} {}", v["version"].as_str().unwrap_or("")),
            query: query.into(),
            events: v["events"].as_u64().unwrap_or(0),
            seconds: v["wall_s"].as_f64().unwrap_or(0.0),
            events_per_s: v["events_per_s"].as_f64()?,
            note,
            versus: None,
        })
    }
}

/// Runs `bench`.
pub fn run(a: Args) -> anyhow::Result<Outcome> {
    match a.what {
        What::Windows(w) => windows(w),
        What::Handbook(h) => handbook(h),
        What::Models(m) => super::bench_models::run(m),
        What::Http(h) => super::bench_http::run(h),
        What::Pipeline(p) => super::bench_pipeline::run(p),
    }
}

/// Writes the input as `account_id,ts,amount` (unix seconds), the peers' layout.
fn convert(w: &WindowArgs, out: &Path) -> anyhow::Result<u64> {
    let ff = file_format(&w.input, None, None)?;
    let (schema, _) = resolve_schema(w.schema.as_deref(), &w.input, ff)?;
    let ent = match &w.entity {
        Some(n) => schema.index_of(n).ok_or_else(|| {
            UsageError(format!(
                "--entity `{n}` is not a field of `{}`",
                schema.name
            ))
        })?,
        None => *schema
            .entities
            .first()
            .ok_or_else(|| UsageError("the schema declares no entity: pass --entity".into()))?,
    };
    let amt = match &w.amount {
        Some(n) => schema.index_of(n),
        None => schema
            .index_of("TX_AMOUNT")
            .or_else(|| schema.index_of("amount")),
    }
    .ok_or_else(|| UsageError("no amount field: pass --amount".into()))?;
    let ts = schema
        .event_time
        .ok_or_else(|| UsageError("the schema declares no event_time".into()))?;
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?,
    );
    writeln!(f, "account_id,ts,amount")?;
    let mut n = 0u64;
    let mut r = EventReader::open(
        &w.input,
        &schema,
        &ReadOptions::default(),
        Box::new(DiscardDeadLetters),
    )?;
    for b in &mut r {
        let b = b?;
        let e = b.column(ent).as_primitive::<Int64Type>();
        let t = b.column(ts).as_primitive::<TimestampMicrosecondType>();
        let am = b.column(amt);
        for i in 0..b.num_rows() {
            let amount = match am.data_type() {
                arrow_schema::DataType::Float64 => am.as_primitive::<Float64Type>().value(i),
                _ => am.as_primitive::<Int64Type>().value(i) as f64,
            };
            writeln!(
                f,
                "{},{},{}",
                e.value(i),
                t.value(i).div_euclid(1_000_000),
                amount
            )?;
            n += 1;
        }
    }
    f.flush()?;
    Ok(n)
}

fn ours(dir: &Path, input: &Path) -> anyhow::Result<Vec<Line>> {
    let spec = FeatureSpec::from_toml_str(SPEC, "bench-windows", Some(dir))?;
    // End to end: parse the CSV, compute the four features per event, discard the rows
    // (the peers write to no-op sinks too).
    let t0 = Instant::now();
    let mut reader = EventReader::open(
        input,
        &spec.schema,
        &ReadOptions::default(),
        Box::new(DiscardDeadLetters),
    )?;
    let mut engine = Engine::new(&spec);
    engine.set_apply_chunk(riskstream_features::replay::APPLY_CHUNK);
    let mut batches = Vec::new();
    let mut rows = 0u64;
    for b in &mut reader {
        let b = b?;
        engine.push_transactions(&b, &mut |_| {})?;
        if engine.ready_rows() >= riskstream_features::replay::APPLY_CHUNK {
            rows += engine.take_output()?.num_rows() as u64;
        }
        batches.push(b);
    }
    engine.finish(&mut |_| {});
    rows += engine.take_output()?.num_rows() as u64;
    let e2e = t0.elapsed().as_secs_f64();
    // Engine only: the same events from memory.
    let eng = engine_only(&spec, &batches)?;
    Ok(vec![
        Line {
            system: "riskstream".into(),
            query: "over_1h+over_24h".into(),
            events: rows,
            seconds: e2e,
            events_per_s: rows as f64 / e2e,
            note: "file to no-op sink, both windows in one pass, 1 thread".into(),
            versus: None,
        },
        Line {
            system: "riskstream (engine only)".into(),
            query: "over_1h+over_24h".into(),
            events: rows,
            seconds: eng,
            events_per_s: rows as f64 / eng,
            note: "events already in memory".into(),
            versus: None,
        },
    ])
}

fn peer(w: &WindowArgs, name: &str, input: &Path) -> Vec<Line> {
    let (py, script, args): (PathBuf, &str, Vec<String>) = match name {
        "spark" => (
            w.peers_venv.join("spark/bin/python"),
            "spark_stream.py",
            vec![
                "--mode".into(),
                "batch".into(),
                "--queries".into(),
                "over_1h,over_24h".into(),
            ],
        ),
        "flink" => (
            w.peers_venv.join("flink/bin/python"),
            "flink_window.py",
            vec![
                "--source".into(),
                "file".into(),
                "--queries".into(),
                "over_1h,over_24h".into(),
            ],
        ),
        other => return vec![Line::none(other, "unknown peer")],
    };
    let script = w.peers_dir.join(script);
    if !py.exists() || !script.exists() {
        return vec![Line::none(
            name,
            format!(
                "not run: {} or {} missing (see ../shared/peers/README.md)",
                py.display(),
                script.display()
            ),
        )];
    }
    let out = std::process::Command::new(&py)
        .arg(&script)
        .arg("--input")
        .arg(input)
        .args(&args)
        .stderr(std::process::Stdio::null())
        .output();
    let Ok(out) = out else {
        return vec![Line::none(name, "failed to start")];
    };
    let mut lines = Vec::new();
    for l in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(l) else {
            continue;
        };
        let Some(q) = v["query"].as_str() else {
            continue;
        };
        let net = v["events_per_s_net"]
            .as_f64()
            .map(|n| format!("; net of job start: {n:.0}/s"))
            .unwrap_or_default();
        lines.extend(Line::from_peer(
            name,
            &v,
            q,
            format!("wall, file to no-op sink{net}"),
        ));
    }
    if lines.is_empty() {
        lines.push(Line::none(
            name,
            format!("no result (exit {:?})", out.status.code()),
        ));
    }
    lines
}

fn windows(w: WindowArgs) -> anyhow::Result<Outcome> {
    std::fs::create_dir_all(&w.out_dir)
        .with_context(|| format!("creating {}", w.out_dir.display()))?;
    std::fs::write(w.out_dir.join("bench-windows.schema.toml"), PEER_SCHEMA)?;
    let input = w.out_dir.join("windows-input.csv");
    let n = convert(&w, &input)?;
    eprintln!("converted {} events to {}", thousands(n), input.display());
    let mut lines = ours(&w.out_dir, &input)?;
    let base = lines[0].events_per_s;
    for p in w.peers.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        eprintln!("running peer {p} …");
        lines.extend(peer(&w, p, &input));
    }
    print_lines(&lines, base, w.json)?;
    Ok(Outcome::Clean)
}

/// Prints the measurements with each one's ratio to our run of the same job (`versus`, or
/// else `base`), or as JSON lines.
fn print_lines(lines: &[Line], base: f64, json: bool) -> anyhow::Result<()> {
    if json {
        for l in lines {
            println!("{}", serde_json::to_string(l)?);
        }
        return Ok(());
    }
    println!(
        "{:<28} {:<22} {:>12} {:>9} {:>14} {:>10}  note",
        "system", "job", "events", "seconds", "events/s", "ours ÷ it"
    );
    for l in lines {
        // Ratios compare us with peers; our own rows have none.
        let ratio = if l.events_per_s > 0.0 && !l.system.starts_with("riskstream") {
            format!("{:.1}×", l.versus.unwrap_or(base) / l.events_per_s)
        } else {
            "-".into()
        };
        println!(
            "{:<28} {:<22} {:>12} {:>9.3} {:>14.0} {:>10}  {}",
            l.system,
            l.query,
            thousands(l.events),
            l.seconds,
            l.events_per_s,
            ratio,
            l.note
        );
    }
    Ok(())
}

fn handbook(h: HandbookArgs) -> anyhow::Result<Outcome> {
    std::fs::create_dir_all(&h.out_dir)
        .with_context(|| format!("creating {}", h.out_dir.display()))?;
    let spec = FeatureSpec::from_file(&h.spec)?;
    let mut lines = Vec::new();
    // Ours, file to file: CSV.gz → features → Parquet.
    let out = h.out_dir.join("handbook-features.parquet");
    let opts = riskstream_features::replay::ReplayOptions {
        read: ReadOptions::default(),
        write: Default::default(),
        dead_letter: h.out_dir.join("handbook-features.rejected.ndjson"),
        checkpoint_dir: None,
        checkpoint_every: u64::MAX,
        threads: riskstream_io::default_threads(),
    };
    let mut times = Vec::new();
    let mut n = 0;
    for run in 1..=h.runs {
        eprintln!("running ours end to end ({run} of {}) …", h.runs);
        // Each run writes a new file, as the Spark job writes a new directory: replacing
        // the last run's file (still being flushed to disk) would be timed too.
        let _ = std::fs::remove_file(&out);
        let t0 = Instant::now();
        let report =
            riskstream_features::replay::replay(&spec, &h.input, None, &out, &opts, &mut |_| {})?;
        times.push(t0.elapsed().as_secs_f64());
        n = report.rows_written;
    }
    let (secs, runs) = median_of(times);
    lines.push(Line {
        system: "riskstream".into(),
        query: "handbook 14 features".into(),
        events: n,
        seconds: secs,
        events_per_s: n as f64 / secs,
        note: format!(
            "CSV.gz to Parquet file (zstd); read and write threads, streams and columns side by side; {runs}"
        ),
        versus: None,
    });
    let parquet_eps = n as f64 / secs;
    // Ours into no sink: the job Spark's no-op sink runs.
    let mut times = Vec::new();
    for run in 1..=h.runs {
        eprintln!("running ours into no sink ({run} of {}) …", h.runs);
        let (t, rows) = no_sink(&spec, &h.input)?;
        times.push(t);
        n = rows;
    }
    let (secs, runs) = median_of(times);
    let no_sink_eps = n as f64 / secs;
    lines.push(Line {
        system: "riskstream".into(),
        query: "handbook 14 features".into(),
        events: n,
        seconds: secs,
        events_per_s: no_sink_eps,
        note: format!("CSV.gz to no sink (rows built, dropped); {runs}"),
        versus: None,
    });
    // Engine only.
    let batches: Vec<_> = EventReader::open(
        &h.input,
        &spec.schema,
        &ReadOptions::default(),
        Box::new(DiscardDeadLetters),
    )?
    .collect::<Result<_, _>>()?;
    let mut times = Vec::new();
    for _ in 0..h.runs {
        times.push(engine_only(&spec, &batches)?);
    }
    let (eng, runs) = median_of(times);
    lines.push(Line {
        system: "riskstream (engine only)".into(),
        query: "handbook 14 features".into(),
        events: n,
        seconds: eng,
        events_per_s: n as f64 / eng,
        note: format!("events already in memory, one thread; {runs}"),
        versus: None,
    });
    // The peers, same file: Spark computes the same feature rows; Flink the same windows.
    for peer in h.peers.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        // Spark runs twice: into its no-op sink (compute only), and into a Parquet file
        // like ours, the same job end to end.
        let spark_out = h.out_dir.join("handbook-features.spark.parquet");
        // Each peer run: its extra arguments, what it does, and our events/s on that job.
        type Runs<'a> = Vec<(Vec<std::ffi::OsString>, &'a str, (f64, &'a str))>;
        let ours_no_sink = (no_sink_eps, "ours into no sink");
        let ours_parquet = (parquet_eps, "ours to Parquet");
        let (py, job, what, runs): (_, _, _, Runs<'_>) = match peer {
            "spark" => (
                h.peers_venv.join("spark/bin/python"),
                &h.spark_job,
                "handbook 14 features",
                vec![
                    (Vec::new(), "CSV.gz to no-op sink", ours_no_sink),
                    (
                        vec!["--output".into(), spark_out.clone().into_os_string()],
                        "CSV.gz to Parquet file (zstd)",
                        ours_parquet,
                    ),
                ],
            ),
            "flink" => (
                h.peers_venv.join("flink/bin/python"),
                &h.flink_job,
                "handbook 7 windows",
                vec![(
                    Vec::new(),
                    "CSV (gunzipped first, untimed) to 7 blackhole sinks",
                    ours_no_sink,
                )],
            ),
            other => {
                return Err(UsageError(format!("unknown peer `{other}`: use spark, flink")).into())
            }
        };
        if !(py.exists() && job.exists()) {
            lines.push(Line::none(
                peer,
                format!("not run: {} or {} missing", py.display(), job.display()),
            ));
            continue;
        }
        for (extra, how, (ours, vs)) in runs {
            eprintln!("running the {peer} peer job ({how}) …");
            let out = std::process::Command::new(&py)
                .arg(job)
                .arg("--input")
                .arg(&h.input)
                .args(&extra)
                .stderr(std::process::Stdio::null())
                .output()?;
            let mut ran = false;
            for l in String::from_utf8_lossy(&out.stdout).lines() {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(l) else {
                    continue;
                };
                let net = v["net_runtime_s"]
                    .as_f64()
                    .map(|n| format!(", job runtime {n:.3} s"))
                    .unwrap_or_default();
                let note = format!("{how}, {} threads{net}; ratio: {vs}", v["threads"]);
                if let Some(mut line) = Line::from_peer(peer, &v, what, note) {
                    line.versus = Some(ours);
                    ran = true;
                    lines.push(line);
                }
            }
            if !ran {
                lines.push(Line::none(
                    peer,
                    format!(
                        "failed ({}): rerun {} {} --input {}{} to see why",
                        out.status,
                        py.display(),
                        job.display(),
                        h.input.display(),
                        extra
                            .iter()
                            .map(|a| format!(" {}", a.to_string_lossy()))
                            .collect::<String>()
                    ),
                ));
            }
        }
        let _ = std::fs::remove_dir_all(&spark_out);
    }
    let base = lines[0].events_per_s;
    print_lines(&lines, base, false)?;
    Ok(Outcome::Clean)
}
