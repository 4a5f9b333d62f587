//! `riskstream forecast`: per-series forecasts with intervals, rolling-origin backtests
//! and plots, over a long table of (series id, date, value) rows.
//!
//! ```text
//!  CSV (.gz) / Parquet / NDJSON ─▶ rows (id, date, value as text) ─▶ parse per row
//!      (a bad date or number: error naming the series and the line)
//!    ─▶ riskstream_forecast::prepare per series (gaps, blanks, duplicates, negatives)
//!    ─▶ forecast_all | backtest_all (parallel, progress bar) ─▶ CSV/Parquet, table, SVGs
//! ```
//!
//! The three columns are read as text and parsed here, not typed by the reader, so that a
//! bad value is reported with its series and line instead of silently dropping the row
//! into a dead-letter file (a dropped row would become a gap the model fills).

use super::UsageError;
use crate::Outcome;
use anyhow::Context;
use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field as ArrowField, Schema as ArrowSchema};
use indicatif::{ProgressBar, ProgressStyle};
use riskstream_core::{Field, FieldType, Schema};
use riskstream_forecast::{
    backtest_all, forecast_all, prepare, summarize, FillOptions, ForecastError, ForecastParams,
    Method, Observation, PrepareOptions, Series,
};
use riskstream_io::{BatchWriter, EventReader, ReadOptions, WriteOptions};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const DAY_US: i64 = 86_400_000_000;

/// The method on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelArg {
    /// Per series, the best of ets/theta/mstl/prophet/ensemble on the last `horizon` days.
    Auto,
    /// ETS, the form chosen by AICc.
    Ets,
    /// Theta (STM/OTM/DSTM/DOTM by in-sample MSE).
    Theta,
    /// MSTL (weekly + yearly) with ETS on the seasonally adjusted series.
    Mstl,
    /// Seasonal naive.
    Snaive,
    /// Prophet-style: trend changepoints, weekly/yearly Fourier terms, England and Wales
    /// bank holidays (Easter included), fitted by ridge MAP.
    Prophet,
    /// Mean of ETS, Theta and the Prophet-style model.
    Ensemble,
}

impl ModelArg {
    fn method(self) -> Method {
        match self {
            ModelArg::Auto => Method::Auto,
            ModelArg::Ets => Method::Ets,
            ModelArg::Theta => Method::Theta,
            ModelArg::Mstl => Method::Mstl,
            ModelArg::Snaive => Method::Snaive,
            ModelArg::Prophet => Method::Prophet,
            ModelArg::Ensemble => Method::Ensemble,
        }
    }
}

/// `riskstream forecast …`: a forecast run (the flags below), or one of the subcommands
/// that put published sets into the service's registry.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Top {
    #[command(subcommand)]
    cmd: Option<super::forecast_admin::ForecastCmd>,
    #[command(flatten)]
    run: Option<Args>,
}

/// Runs `forecast` or its subcommand.
pub fn run_top(t: Top) -> anyhow::Result<Outcome> {
    match (t.cmd, t.run) {
        (Some(c), _) => super::forecast_admin::run(c),
        (None, Some(a)) => run(a),
        (None, None) => Err(UsageError(
            "give --input, --id-col, --time-col, --value-col and --horizon, or a subcommand (push, stage, watch)"
                .into(),
        )
        .into()),
    }
}

/// Arguments of a forecast run.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Long table of daily values: CSV (any delimiter, .gz), Parquet or NDJSON.
    #[arg(long)]
    input: PathBuf,
    /// The series id column.
    #[arg(long)]
    id_col: String,
    /// The date column (YYYY-MM-DD or an ISO-8601 timestamp; one row per series and day).
    #[arg(long)]
    time_col: String,
    /// The value column (blank = missing).
    #[arg(long)]
    value_col: String,
    /// Days to forecast.
    #[arg(long)]
    horizon: usize,
    /// Method.
    #[arg(long, value_enum, default_value_t = ModelArg::Ensemble)]
    model: ModelArg,
    /// Seasonal period in days.
    #[arg(long, default_value_t = 7)]
    season: usize,
    /// Missing days take the median of the same weekday in this many weeks on each side
    /// (0: every week of the series).
    #[arg(long, default_value_t = 4)]
    fill_weeks: usize,
    /// Treat zeros in the history as missing (e.g. an ATM out of service), filled like
    /// blanks; scored values are never changed.
    #[arg(long)]
    zeros_missing: bool,
    /// Fit on log(1 + y) and transform the forecasts back (non-negative series).
    #[arg(long)]
    log: bool,
    /// Accept negative values (refused by default: volumes cannot be negative).
    #[arg(long)]
    allow_negative: bool,
    /// Allow negative forecasts (by default forecasts and bounds are at least zero).
    #[arg(long)]
    allow_negative_forecasts: bool,
    /// Skip series that cannot be forecast (too short, bad rows) instead of stopping;
    /// they are listed and the exit code is 1.
    #[arg(long)]
    skip_bad: bool,
    /// Output: id, date, forecast, lo80, hi80, lo95, hi95 (.csv, .csv.gz, .parquet); with
    /// --backtest also origin, actual and the model fitted.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Backtest instead: forecast from `--origins` origins at the end of each series and
    /// score against what followed.
    #[arg(long)]
    backtest: bool,
    /// Backtest origins (the last one leaves exactly `--horizon` days to score).
    #[arg(long, default_value_t = 1)]
    origins: usize,
    /// Days between backtest origins (default: the horizon).
    #[arg(long)]
    step: Option<usize>,
    /// CSV delimiter, when the file name does not tell it.
    #[arg(long, value_parser = super::parse_delimiter)]
    delimiter: Option<u8>,
    /// Write one SVG per series (history, forecast, 80/95 % bands) into this directory.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Also write the forecasts as a forecast set (JSON) for the service: every series'
    /// forecast with its intervals, the last `--history-days` of history and the metrics
    /// of a backtest over `--origins` origins. Register it with `riskstream forecast push`.
    #[arg(long)]
    publish: Option<PathBuf>,
    /// Days of history kept per series in the published set (for charts).
    #[arg(long, default_value_t = 112)]
    history_days: usize,
    /// Holidays of your own for the Prophet-style model (also inside the ensemble): a CSV
    /// with a header and the columns `date,name[,lower,upper]` — the window in days around
    /// the date (lower ≤ 0, upper ≥ 0; default 0, 0). Each name gets its own effects.
    #[arg(long)]
    holidays: Option<PathBuf>,
    /// Leave out the built-in England and Wales bank holidays (e.g. with --holidays for
    /// another country's).
    #[arg(long)]
    no_uk_holidays: bool,
    /// Input columns holding external regressors of the Prophet-style model (comma-
    /// separated: promotions, pay days). Rows after a series' last value, with the value
    /// blank, carry the regressors' future values; every history and forecast day needs one.
    #[arg(long, value_delimiter = ',')]
    regressors: Vec<String>,
}

/// Runs `forecast`.
pub fn run(a: Args) -> anyhow::Result<Outcome> {
    if a.horizon == 0 {
        return Err(UsageError("--horizon must be at least 1 day".into()).into());
    }
    if a.backtest && a.origins == 0 {
        return Err(UsageError("--origins must be at least 1".into()).into());
    }
    if !a.backtest && a.output.is_none() && a.publish.is_none() {
        return Err(UsageError(
            "--output or --publish is required (or pass --backtest to score instead)".into(),
        )
        .into());
    }
    if a.backtest && a.publish.is_some() {
        return Err(UsageError(
            "--publish writes forecasts (with a backtest inside): leave out --backtest".into(),
        )
        .into());
    }
    let params = ForecastParams {
        method: a.model.method(),
        period: a.season,
        validation: a.horizon,
        nonnegative: !a.allow_negative_forecasts,
        log: a.log,
        ..Default::default()
    };
    let mut params = params;
    if let Some(path) = &a.holidays {
        params.prophet.extra_holidays = read_holidays(path)?;
    }
    params.prophet.holidays = !a.no_uk_holidays;
    params.prophet.regressors = a.regressors.clone();
    params.check()?;
    let (series, mut problems) = read_series(&a)?;
    if !problems.is_empty() && !a.skip_bad {
        return Err(ForecastError::many(problems).into());
    }
    let (gaps, blanks): (usize, usize) = series
        .iter()
        .fold((0, 0), |(g, b), s| (g + s.gaps, b + s.blanks));
    eprintln!(
        "{} series, {} days in all; {} blank values and {} absent dates filled (same weekday, ±{} weeks)",
        series.len(),
        series.iter().map(|s| s.values.len()).sum::<usize>(),
        blanks,
        gaps,
        a.fill_weeks
    );
    let bar = ProgressBar::new(series.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} series [{elapsed_precise}, eta {eta}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let fo = FillOptions {
        weeks: a.fill_weeks,
        zeros_missing: a.zeros_missing,
    };
    let tick = || bar.inc(1);
    let started = std::time::Instant::now();
    if a.backtest {
        let step = a.step.unwrap_or(a.horizon);
        let results = backtest_all(&series, &params, a.horizon, a.origins, step, fo, &tick);
        bar.finish_and_clear();
        let secs = started.elapsed().as_secs_f64();
        let mut scores = Vec::new();
        for r in results {
            match r {
                Ok(s) => scores.extend(s),
                Err(e) => problems.push(e),
            }
        }
        if !problems.is_empty() && !a.skip_bad {
            return Err(ForecastError::many(problems).into());
        }
        let s = summarize(&scores);
        println!("| method | series × origins | SMAPE | SMAPE_ε (NN5) | MASE | MAE | 80 % coverage | 95 % coverage | seconds |");
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        println!(
            "| {} | {} | {:.2} | {:.2} | {:.3} | {:.3} | {:.1} % | {:.1} % | {:.2} |",
            params.method.name(),
            s.count,
            s.smape,
            s.smape_eps,
            s.mase,
            s.mae,
            100.0 * s.coverage80,
            100.0 * s.coverage95,
            secs
        );
        print_models(scores.iter().map(|s| s.model.as_str()));
        let by_id: HashMap<&str, &Series> = series.iter().map(|s| (s.id.as_str(), s)).collect();
        if let Some(out) = &a.output {
            write_backtest(out, &scores, &by_id, a.horizon, step, a.origins)?;
        }
        if let Some(dir) = &a.plot {
            let last: Vec<_> = scores
                .iter()
                .filter(|s| s.origin + 1 == a.origins.max(1))
                .collect();
            plot_all(
                dir,
                last.iter().map(|s| {
                    let ser = by_id.get(s.id.as_str()).copied();
                    let n = ser.map_or(0, |x| x.values.len());
                    let o = n.saturating_sub(a.horizon);
                    (
                        s.id.as_str(),
                        ser.map_or(&[][..], |x| &x.values[..o]),
                        ser.map_or(0, |x| x.start),
                        &s.forecast,
                    )
                }),
            )?;
        }
    } else {
        let results = forecast_all(&series, &params, a.horizon, fo, &tick);
        bar.finish_and_clear();
        let secs = started.elapsed().as_secs_f64();
        let mut done = Vec::new();
        for r in results {
            match r {
                Ok(f) => done.push(f),
                Err(e) => problems.push(e),
            }
        }
        if !problems.is_empty() && !a.skip_bad {
            return Err(ForecastError::many(problems).into());
        }
        eprintln!(
            "{} series forecast {} days ahead in {secs:.2} s",
            done.len(),
            a.horizon
        );
        print_models(done.iter().map(|f| f.model.as_str()));
        if let Some(out) = &a.output {
            write_forecasts(out, &done)?;
            println!("wrote {}", out.display());
        }
        if let Some(out) = &a.publish {
            publish(&a, out, &params, fo, &series, &done)?;
        }
        if let Some(dir) = &a.plot {
            let by_id: HashMap<&str, &Series> = series.iter().map(|s| (s.id.as_str(), s)).collect();
            plot_all(
                dir,
                done.iter().map(|f| {
                    let ser = by_id.get(f.id.as_str()).copied();
                    (
                        f.id.as_str(),
                        ser.map_or(&[][..], |x| &x.values[..]),
                        ser.map_or(0, |x| x.start),
                        &f.forecast,
                    )
                }),
            )?;
        }
    }
    if problems.is_empty() {
        Ok(Outcome::Clean)
    } else {
        eprintln!("skipped {} series:", problems.len());
        for p in &problems {
            eprintln!("  {p}");
        }
        Ok(Outcome::Problems)
    }
}

/// Backtests the forecast series and writes the set `--publish` names.
fn publish(
    a: &Args,
    out: &Path,
    params: &ForecastParams,
    fo: FillOptions,
    series: &[Series],
    done: &[riskstream_forecast::SeriesForecast],
) -> anyhow::Result<()> {
    let step = a.step.unwrap_or(a.horizon);
    let origins = a.origins.max(1);
    let mut scores = Vec::new();
    let mut short = 0usize;
    for r in backtest_all(series, params, a.horizon, origins, step, fo, &|| {}) {
        match r {
            Ok(s) => scores.extend(s),
            Err(_) => short += 1,
        }
    }
    if short > 0 {
        eprintln!(
            "{short} series too short for a backtest of {origins} origin(s) × {} days: published without metrics",
            a.horizon
        );
    }
    let created = riskstream_core::time::format_micros(riskstream_core::time::now_micros());
    let set = riskstream_forecast::ForecastSet::build(
        params,
        a.horizon,
        &created,
        series,
        done,
        Some((&scores, origins, step)),
        a.history_days,
    );
    set.check()?;
    std::fs::write(out, set.to_json()?)
        .with_context(|| format!("cannot write {}", out.display()))?;
    if let Some(b) = &set.backtest {
        println!(
            "published {} series to {} (backtest: SMAPE {:.2}, MASE {:.3}, 95 % coverage {:.1} %)",
            set.series.len(),
            out.display(),
            b.smape,
            b.mase,
            100.0 * b.coverage95
        );
    }
    Ok(())
}

/// How often each fitted model was chosen.
fn print_models<'a>(models: impl Iterator<Item = &'a str>) {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for m in models {
        *counts.entry(m).or_default() += 1;
    }
    let mut v: Vec<_> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    if v.len() <= 12 {
        for (m, c) in v {
            println!("  {c:>5} × {m}");
        }
    } else {
        println!("  {} distinct fitted models", v.len());
    }
}

/// Reads the file's three columns as text and groups the rows into series; bad rows
/// are reported with their series and line.
fn read_series(a: &Args) -> anyhow::Result<(Vec<Series>, Vec<ForecastError>)> {
    let field = |name: &str| Field {
        name: name.to_string(),
        ty: FieldType::String,
        required: false,
        unique: false,
        min: None,
        max: None,
        values: None,
        format: riskstream_core::time::TimestampFormat::Iso8601,
        description: None,
        pii: None,
    };
    let schema = Schema {
        name: "forecast-input".into(),
        description: None,
        fields: [&a.id_col, &a.time_col, &a.value_col]
            .into_iter()
            .chain(&a.regressors)
            .map(|n| field(n))
            .collect(),
        id: None,
        event_time: None,
        entities: Vec::new(),
        labels: Vec::new(),
    };
    let ff = super::file_format(&a.input, None, a.delimiter)?;
    // The reader would read an absent optional column as all blanks; say so instead.
    let (found, _) = super::resolve_schema(None, &a.input, ff)?;
    for (flag, name) in [
        ("--id-col", &a.id_col),
        ("--time-col", &a.time_col),
        ("--value-col", &a.value_col),
    ]
    .into_iter()
    .chain(a.regressors.iter().map(|r| ("--regressors", r)))
    {
        if found.index_of(name).is_none() {
            let names: Vec<&str> = found.fields.iter().map(|f| f.name.as_str()).collect();
            return Err(UsageError(format!(
                "{flag}: {} has no column `{name}`; its columns are {}",
                a.input.display(),
                names.join(", ")
            ))
            .into());
        }
    }
    let (sink, first) = super::first_rejections(None);
    let opts = ReadOptions {
        format: Some(ff),
        delimiter: a.delimiter,
        ..Default::default()
    };
    let mut reader = EventReader::open(&a.input, &schema, &opts, Box::new(sink))
        .with_context(|| format!("reading {}", a.input.display()))?;
    let mut groups: Vec<(String, Vec<Observation>)> = Vec::new();
    // Per group: (day, regressor values) of every row.
    let mut xvals: Vec<Vec<(i64, Vec<f64>)>> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut problems = Vec::new();
    let mut row: u64 = 0;
    for batch in reader.by_ref() {
        let batch = batch?;
        // The schema declares the three columns as strings, so the reader gives Utf8.
        let col = |i: usize| -> anyhow::Result<StringArray> {
            batch
                .column(i)
                .as_any()
                .downcast_ref::<StringArray>()
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("column {i} was not read as text"))
        };
        let (ids, dates, values) = (col(0)?, col(1)?, col(2)?);
        let xcols: Vec<StringArray> = (0..a.regressors.len())
            .map(|j| col(3 + j))
            .collect::<anyhow::Result<_>>()?;
        for r in 0..batch.num_rows() {
            row += 1;
            let line = row + 1; // the header is line 1
            if ids.is_null(r) || ids.value(r).trim().is_empty() {
                return Err(UsageError(format!(
                    "{}, line {line}: the id column `{}` is empty; every row needs a series id",
                    a.input.display(),
                    a.id_col
                ))
                .into());
            }
            let id = ids.value(r).trim().to_string();
            let date = if dates.is_null(r) {
                ""
            } else {
                dates.value(r).trim()
            };
            let Ok(micros) = riskstream_core::time::parse_iso8601(date) else {
                problems.push(ForecastError::BadValue {
                    series: id.clone(),
                    line,
                    value: date.to_string(),
                    reason: format!("in `{}` is not a date; write YYYY-MM-DD", a.time_col),
                });
                continue;
            };
            let text = if values.is_null(r) {
                ""
            } else {
                values.value(r).trim()
            };
            let value = if text.is_empty()
                || text.eq_ignore_ascii_case("na")
                || text.eq_ignore_ascii_case("nan")
            {
                None
            } else if let Ok(v) = text.parse::<f64>() {
                Some(v)
            } else {
                problems.push(ForecastError::BadValue {
                    series: id.clone(),
                    line,
                    value: text.to_string(),
                    reason: format!(
                        "in `{}` is not a number; leave the cell blank for a missing day",
                        a.value_col
                    ),
                });
                continue;
            };
            let mut xs = Vec::with_capacity(xcols.len());
            for (j, c) in xcols.iter().enumerate() {
                let t = if c.is_null(r) { "" } else { c.value(r).trim() };
                match t.parse::<f64>() {
                    Ok(v) if v.is_finite() => xs.push(v),
                    _ if t.is_empty() => xs.push(f64::NAN),
                    _ => problems.push(ForecastError::BadValue {
                        series: id.clone(),
                        line,
                        value: t.to_string(),
                        reason: format!("in regressor `{}` is not a number", a.regressors[j]),
                    }),
                }
            }
            if xs.len() < xcols.len() {
                continue;
            }
            let day = micros.div_euclid(DAY_US);
            let k = *index.entry(id.clone()).or_insert_with(|| {
                groups.push((id.clone(), Vec::new()));
                xvals.push(Vec::new());
                groups.len() - 1
            });
            if !xs.is_empty() {
                xvals[k].push((day, xs));
            }
            groups[k].1.push(Observation {
                day: micros.div_euclid(DAY_US),
                value,
                line,
            });
        }
    }
    let stats = reader.finish()?;
    if stats.rejected > 0 {
        super::print_first_rejections(&first, stats.rejected, "", "fix the file;");
        return Err(UsageError(format!(
            "{}: {} malformed rows (see above); line numbers after them would be wrong, so nothing was forecast",
            a.input.display(),
            stats.rejected
        ))
        .into());
    }
    if groups.is_empty() {
        return Err(UsageError(format!("{} has no rows", a.input.display())).into());
    }
    let po = PrepareOptions {
        allow_negative: a.allow_negative,
    };
    let mut series = Vec::with_capacity(groups.len());
    for ((id, mut obs), xv) in groups.into_iter().zip(xvals) {
        if !a.regressors.is_empty() {
            // Rows after the last value carry future regressor values only.
            if let Some(end) = obs
                .iter()
                .filter(|o| o.value.is_some())
                .map(|o| o.day)
                .max()
            {
                obs.retain(|o| o.day <= end);
            }
        }
        match prepare(&id, obs, po) {
            Ok(mut s) if !a.regressors.is_empty() => {
                let last = xv.iter().map(|(d, _)| *d).max().unwrap_or(s.start);
                let len = (last - s.start + 1).max(0) as usize;
                let mut x = vec![vec![f64::NAN; len]; a.regressors.len()];
                for (d, vals) in &xv {
                    if let Ok(i) = usize::try_from(d - s.start) {
                        for (j, v) in vals.iter().enumerate() {
                            x[j][i] = *v;
                        }
                    }
                }
                s.regressors = x;
                series.push(s);
            }
            Ok(s) => series.push(s),
            Err(ForecastError::Many(v)) => problems.extend(v),
            Err(e) => problems.push(e),
        }
    }
    Ok((series, problems))
}

/// Reads `--holidays`: a header, then `date,name[,lower,upper]` per row.
fn read_holidays(path: &Path) -> anyhow::Result<Vec<riskstream_forecast::prophet::HolidayDef>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read --holidays {}", path.display()))?;
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let day = riskstream_forecast::publish::parse_day(f[0]);
        let name = f.get(1).copied().unwrap_or("");
        let num = |k: usize| -> Option<i64> {
            match f.get(k) {
                None | Some(&"") => Some(0),
                Some(t) => t.parse().ok(),
            }
        };
        match (day, name.is_empty(), num(2), num(3)) {
            (Some(day), false, Some(lower), Some(upper)) if lower <= 0 && upper >= 0 => {
                out.push(riskstream_forecast::prophet::HolidayDef {
                    name: name.to_string(),
                    day,
                    lower,
                    upper,
                })
            }
            _ => bad.push(format!(
                "line {line_no}: `{line}` (want date YYYY-MM-DD, a name, and optionally lower ≤ 0 and upper ≥ 0 days)"
            )),
        }
    }
    if !bad.is_empty() {
        return Err(UsageError(format!(
            "--holidays {}: {} bad row(s):\n  {}",
            path.display(),
            bad.len(),
            bad.join("\n  ")
        ))
        .into());
    }
    if out.is_empty() {
        return Err(UsageError(format!(
            "--holidays {} has no rows (a header, then date,name[,lower,upper])",
            path.display()
        ))
        .into());
    }
    Ok(out)
}

fn day_text(day: i64) -> String {
    riskstream_core::time::format_micros(day * DAY_US)
        .chars()
        .take(10)
        .collect()
}

fn write_table(out: &Path, fields: Vec<ArrowField>, cols: Vec<ArrayRef>) -> anyhow::Result<()> {
    let schema = Arc::new(ArrowSchema::new(fields));
    let mut w = BatchWriter::create(out, schema.clone(), &WriteOptions::default())
        .with_context(|| format!("creating {}", out.display()))?;
    w.write(&RecordBatch::try_new(schema, cols)?)?;
    w.finish()?;
    Ok(())
}

fn value_fields() -> Vec<ArrowField> {
    ["forecast", "lo80", "hi80", "lo95", "hi95"]
        .into_iter()
        .map(|n| ArrowField::new(n, DataType::Float64, false))
        .collect()
}

fn write_forecasts(out: &Path, done: &[riskstream_forecast::SeriesForecast]) -> anyhow::Result<()> {
    let (mut ids, mut dates) = (Vec::new(), Vec::new());
    let mut v: [Vec<f64>; 5] = Default::default();
    for f in done {
        for i in 0..f.forecast.len() {
            ids.push(f.id.clone());
            dates.push(day_text(f.first_day + i as i64));
        }
        let fc = &f.forecast;
        for (dst, src) in v
            .iter_mut()
            .zip([&fc.mean, &fc.lo80, &fc.hi80, &fc.lo95, &fc.hi95])
        {
            dst.extend(src);
        }
    }
    let mut fields = vec![
        ArrowField::new("id", DataType::Utf8, false),
        ArrowField::new("date", DataType::Utf8, false),
    ];
    fields.extend(value_fields());
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(ids)),
        Arc::new(StringArray::from(dates)),
    ];
    cols.extend(
        v.into_iter()
            .map(|c| Arc::new(Float64Array::from(c)) as ArrayRef),
    );
    write_table(out, fields, cols)
}

fn write_backtest(
    out: &Path,
    scores: &[riskstream_forecast::Score],
    by_id: &HashMap<&str, &Series>,
    h: usize,
    step: usize,
    origins: usize,
) -> anyhow::Result<()> {
    let (mut ids, mut dates, mut origin, mut actual, mut model) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut v: [Vec<f64>; 5] = Default::default();
    for s in scores {
        let Some(ser) = by_id.get(s.id.as_str()) else {
            continue;
        };
        let n = ser.values.len();
        let o = n - (h + (origins.max(1) - 1) * step) + s.origin * step;
        for i in 0..h {
            ids.push(s.id.clone());
            dates.push(day_text(ser.start + (o + i) as i64));
            origin.push(s.origin as i64);
            actual.push(ser.values[o + i]);
            model.push(s.model.clone());
        }
        let fc = &s.forecast;
        for (dst, src) in v
            .iter_mut()
            .zip([&fc.mean, &fc.lo80, &fc.hi80, &fc.lo95, &fc.hi95])
        {
            dst.extend(src);
        }
    }
    let mut fields = vec![
        ArrowField::new("id", DataType::Utf8, false),
        ArrowField::new("date", DataType::Utf8, false),
        ArrowField::new("origin", DataType::Int64, false),
        ArrowField::new("actual", DataType::Float64, true),
        ArrowField::new("model", DataType::Utf8, false),
    ];
    fields.extend(value_fields());
    let actual: Float64Array = actual
        .into_iter()
        .map(|x| x.is_finite().then_some(x))
        .collect();
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(ids)),
        Arc::new(StringArray::from(dates)),
        Arc::new(Int64Array::from(origin)),
        Arc::new(actual),
        Arc::new(StringArray::from(model)),
    ];
    cols.extend(
        v.into_iter()
            .map(|c| Arc::new(Float64Array::from(c)) as ArrayRef),
    );
    write_table(out, fields, cols)?;
    println!("wrote {}", out.display());
    Ok(())
}

/// One SVG per series; file names keep letters, digits, `-`, `_` and `.` of the id.
fn plot_all<'a>(
    dir: &Path,
    items: impl Iterator<Item = (&'a str, &'a [f64], i64, &'a riskstream_forecast::Forecast)>,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut n = 0;
    for (id, history, start, f) in items {
        let show = 8 * 7 * 3;
        let first = start + history.len().saturating_sub(show) as i64;
        let last = start + (history.len() + f.len()) as i64 - 1;
        let svg =
            riskstream_forecast::plot::svg(id, history, f, show, &day_text(first), &day_text(last));
        let safe: String = id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = dir.join(format!("{safe}.svg"));
        riskstream_core::fs::write_atomic(&path, svg.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
        n += 1;
    }
    println!("wrote {n} plots to {}", dir.display());
    Ok(())
}
