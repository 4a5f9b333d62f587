//! `riskstream bench windows`: the per-event trailing-window query that fraud features are
//! made of (per account: count and sum of amounts over the trailing 1 h and 24 h, current
//! event included) through our feature engine, then through Apache Spark and Apache Flink
//! with the scripts in `../shared/peers` (`over_1h`, `over_24h`), on one CSV; the ratios
//! are printed.

use crate::lines::{print_lines, Line};
use crate::UsageError;
use anyhow::Context;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use riskstream_features::{Engine, FeatureSpec};
use riskstream_io::table::{file_format, resolve_schema, thousands};
use riskstream_io::{DiscardDeadLetters, EventReader, ReadOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What `bench windows` runs on (the command line's flags).
#[derive(Debug, Clone)]
pub struct WindowsOptions {
    /// Input events (any supported file).
    pub input: PathBuf,
    /// Schema of the input (file or shipped name); default: detected from the header.
    pub schema: Option<String>,
    /// Entity-key field (an int field); default: the schema's first entity.
    pub entity: Option<String>,
    /// Amount field (a number); default: a field called TX_AMOUNT or amount.
    pub amount: Option<String>,
    /// Working directory for the converted input and the spec.
    pub out_dir: PathBuf,
    /// Peers to run: spark, flink (comma-separated; empty for none).
    pub peers: String,
    /// Directory holding the peers' virtualenvs (`spark/`, `flink/`).
    pub peers_venv: PathBuf,
    /// Directory holding the peer scripts.
    pub peers_dir: PathBuf,
    /// Print JSON lines instead of a table.
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

/// Seconds for a fresh engine to turn `batches`, already in memory, into output batches
/// in chunks as replay does (the output is built and dropped).
pub(crate) fn engine_only(spec: &FeatureSpec, batches: &[RecordBatch]) -> anyhow::Result<f64> {
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

/// Writes the input as `account_id,ts,amount` (unix seconds), the peers' layout.
fn convert(w: &WindowsOptions, out: &Path) -> anyhow::Result<u64> {
    let ff = file_format(&w.input, None, None, &mut crate::print_note)?;
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

fn peer(w: &WindowsOptions, name: &str, input: &Path) -> Vec<Line> {
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

/// Runs `bench windows`; the table (or JSON lines) goes to `stdout`.
pub fn run(w: WindowsOptions, stdout: &mut dyn Write) -> anyhow::Result<()> {
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
    print_lines(stdout, &lines, base, w.json)?;
    Ok(())
}
