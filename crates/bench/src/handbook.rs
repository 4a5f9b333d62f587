//! `riskstream bench handbook`: the fraud handbook's 14 features on its raw file, ours
//! end to end (CSV.gz to Parquet), into no sink, and engine only, each run `runs` times
//! (median reported); then the same features in Spark (into its no-op sink, and writing the
//! same Parquet table as we do) and the same windows in Flink.

use crate::lines::{median_of, print_lines, Line};
use crate::windows::engine_only;
use crate::UsageError;
use anyhow::Context;
use riskstream_features::{Engine, FeatureSpec};
use riskstream_io::{DiscardDeadLetters, EventReader, PrefetchReader, ReadOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What `bench handbook` runs on (the command line's flags).
#[derive(Debug, Clone)]
pub struct HandbookOptions {
    /// The handbook's raw transactions.
    pub input: PathBuf,
    /// Our feature spec for it; `None`: the shipped `examples/fraud-handbook/features.toml`
    /// (built in).
    pub spec: Option<PathBuf>,
    /// The Spark peer job computing the same features.
    pub spark_job: PathBuf,
    /// The Flink peer job computing the same windows.
    pub flink_job: PathBuf,
    /// Peers to run: spark, flink (comma-separated; empty for none).
    pub peers: String,
    /// Directory holding the peers' virtualenvs (`spark/`, `flink/`).
    pub peers_venv: PathBuf,
    /// Working directory.
    pub out_dir: PathBuf,
    /// Runs of our own jobs (end to end, engine only); the median is reported, with the
    /// range. The peers run once each: a run takes them tens of seconds.
    pub runs: u32,
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

/// Runs `bench handbook`; the table goes to `stdout`.
pub fn run(h: HandbookOptions, stdout: &mut dyn Write) -> anyhow::Result<()> {
    std::fs::create_dir_all(&h.out_dir)
        .with_context(|| format!("creating {}", h.out_dir.display()))?;
    let spec = match &h.spec {
        Some(p) => FeatureSpec::from_file(p)?,
        None => crate::shipped::handbook_spec()?,
    };
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
    print_lines(stdout, &lines, base, false)?;
    Ok(())
}
