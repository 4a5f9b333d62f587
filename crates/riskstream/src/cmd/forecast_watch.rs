//! `riskstream forecast watch`: the service's early warning over a transactions file —
//! daily volumes per value of `--by` fields, each of the last `--days` complete days
//! checked against the interval of a forecast fitted on the days before them.
//!
//! ```text
//!  transactions (CSV/Parquet/NDJSON) ─▶ (time, by-fields as text) ─▶ Volumes (field=value, day)
//!     ─▶ series through the last complete day ─▶ warn::early_warning ─▶ table, CSV, webhook
//! ```
//!
//! The same library function as the service's scheduled check
//! ([`riskstream_server::early_warning`]), so a file replayed here raises the alerts the
//! service would. Exit code 1 when there is an alert (for schedulers and scripts).

use super::UsageError;
use crate::Outcome;
use anyhow::Context;
use arrow_array::{Array, StringArray};
use riskstream_core::{Field, FieldType, Schema};
use riskstream_forecast::publish::{format_day, parse_day};
use riskstream_forecast::warn::{early_warning, Rule, Volumes};
use riskstream_forecast::{ForecastParams, Method};
use riskstream_io::{EventReader, ReadOptions};
use std::io::Write;
use std::path::PathBuf;

const DAY_US: i64 = 86_400_000_000;

/// Arguments of `forecast watch`.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// Transactions: CSV (any delimiter, .gz), Parquet or NDJSON.
    #[arg(long)]
    input: PathBuf,
    /// The event-time column (ISO-8601 timestamps or dates).
    #[arg(long, default_value = "event_time")]
    time_col: String,
    /// Columns to count volumes by, comma-separated: one daily series per value
    /// (`channel=atm`, `terminal_id=42`).
    #[arg(long, value_delimiter = ',', required = true)]
    by: Vec<String>,
    /// The last complete days to check (each against a forecast fitted on the days before).
    #[arg(long, default_value_t = 1)]
    days: usize,
    /// The last complete day (YYYY-MM-DD); default: the day before the file's last event.
    #[arg(long)]
    through: Option<String>,
    /// The model refitted: ets, theta, snaive, mstl, prophet or ensemble.
    #[arg(long, default_value = "ets")]
    model: String,
    /// The interval an actual must leave: 80 or 95.
    #[arg(long, default_value_t = 95)]
    band: u8,
    /// …and the relative error |actual − forecast| / forecast (percent) it must reach.
    #[arg(long, default_value_t = 0.0)]
    min_error_pct: f64,
    /// Days of history a series needs before the checked ones.
    #[arg(long, default_value_t = 28)]
    min_history: usize,
    /// Write the alerts as CSV here.
    #[arg(long)]
    output: Option<PathBuf>,
    /// POST the alerts (JSON) to this http:// or https:// URL.
    #[arg(long)]
    webhook: Option<String>,
    /// Environment variable holding the webhook's HMAC-SHA256 key (header
    /// `x-riskstream-signature: sha256=<hex>`).
    #[arg(long)]
    webhook_secret_env: Option<String>,
    /// Extra trusted roots (PEM) for an https:// webhook, beside the system's.
    #[arg(long)]
    webhook_ca_file: Option<PathBuf>,
    /// CSV delimiter, when the file name does not tell it.
    #[arg(long, value_parser = super::parse_delimiter)]
    delimiter: Option<u8>,
}

fn method(name: &str) -> anyhow::Result<Method> {
    Ok(match name {
        "ets" => Method::Ets,
        "theta" => Method::Theta,
        "snaive" => Method::Snaive,
        "mstl" => Method::Mstl,
        "prophet" => Method::Prophet,
        "ensemble" => Method::Ensemble,
        other => {
            return Err(UsageError(format!(
                "--model {other}: give ets, theta, snaive, mstl, prophet or ensemble"
            ))
            .into())
        }
    })
}

/// Runs `forecast watch`.
pub fn run(a: WatchArgs) -> anyhow::Result<Outcome> {
    let p = ForecastParams {
        method: method(&a.model)?,
        ..Default::default()
    };
    let rule = Rule {
        band: a.band,
        min_error_pct: a.min_error_pct,
        min_history: a.min_history,
    };
    rule.check()?;
    p.check()?;
    if a.days == 0 {
        return Err(UsageError("--days must be at least 1".into()).into());
    }
    let through = a
        .through
        .as_deref()
        .map(|t| {
            parse_day(t).ok_or_else(|| UsageError(format!("--through `{t}` is not YYYY-MM-DD")))
        })
        .transpose()?;
    let webhook = match &a.webhook {
        None => None,
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
            Some(riskstream_server::forecast::Webhook {
                url: url.clone(),
                ca_file: a.webhook_ca_file.clone(),
                secret: match &a.webhook_secret_env {
                    None => None,
                    Some(var) => Some(
                        std::env::var(var)
                            .ok()
                            .filter(|s| !s.is_empty())
                            .ok_or_else(|| {
                                UsageError(format!(
                                    "--webhook-secret-env: `{var}` is not set or empty"
                                ))
                            })?
                            .into_bytes(),
                    ),
                },
                timeout: std::time::Duration::from_secs(5),
                retries: 3,
            })
        }
        Some(url) => {
            return Err(UsageError(format!(
                "--webhook `{url}` is not an http:// or https:// URL"
            ))
            .into())
        }
    };
    let volumes = read_volumes(&a.input, &a.time_col, &a.by, a.delimiter)?;
    let Some(last) = volumes.last_day() else {
        return Err(UsageError(format!(
            "{} has no rows with an event time",
            a.input.display()
        ))
        .into());
    };
    let through = through.unwrap_or(last - 1);
    let series = volumes.series(through);
    let c = early_warning(&series, &p, a.days, rule)?;
    eprintln!(
        "{} series through {}; {} checked over the last {} day(s), {} too short",
        series.len(),
        format_day(through),
        c.series_checked,
        a.days,
        c.skipped.len()
    );
    println!(
        "| series | date | actual | forecast | {} % interval | error | |",
        a.band
    );
    println!("|---|---|---:|---:|---|---:|---|");
    for x in &c.alerts {
        println!(
            "| {} | {} | {:.0} | {:.1} | {:.1} – {:.1} | {:.1} % | {} |",
            x.series, x.date, x.actual, x.forecast, x.lo, x.hi, x.error_pct, x.direction
        );
    }
    if let Some(out) = &a.output {
        let mut f = std::io::BufWriter::new(
            std::fs::File::create(out)
                .with_context(|| format!("cannot write {}", out.display()))?,
        );
        writeln!(
            f,
            "series,date,actual,forecast,lo,hi,band,error_pct,direction,model"
        )?;
        for x in &c.alerts {
            writeln!(
                f,
                "{},{},{},{},{},{},{},{},{},{}",
                csv_field(&x.series),
                x.date,
                x.actual,
                x.forecast,
                x.lo,
                x.hi,
                x.band,
                x.error_pct,
                x.direction,
                csv_field(&x.model)
            )?;
        }
        f.flush()?;
    }
    if let (Some(w), false) = (&webhook, c.alerts.is_empty()) {
        let body = serde_json::json!({ "alerts": c.alerts }).to_string();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let n = rt
            .block_on(riskstream_server::early_warning::deliver(w, &body))
            .map_err(|e| anyhow::anyhow!("webhook: {e}"))?;
        eprintln!("alerts delivered to the webhook ({n} attempt(s))");
    }
    Ok(if c.alerts.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Problems
    })
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Counts events per `field=value` and event day (also `forecast volumes`).
pub(super) fn read_volumes(
    input: &std::path::Path,
    time_col: &str,
    by: &[String],
    delimiter: Option<u8>,
) -> anyhow::Result<Volumes> {
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
    let mut fields = vec![field(time_col)];
    fields.extend(by.iter().map(|b| field(b)));
    let schema = Schema {
        name: "forecast-watch-input".into(),
        description: None,
        fields,
        id: None,
        event_time: None,
        entities: Vec::new(),
        labels: Vec::new(),
    };
    let ff = super::file_format(input, None, delimiter)?;
    let (found, _) = super::resolve_schema(None, input, ff)?;
    for (flag, name) in
        std::iter::once(("--time-col", time_col)).chain(by.iter().map(|b| ("--by", b.as_str())))
    {
        if found.index_of(name).is_none() {
            let names: Vec<&str> = found.fields.iter().map(|f| f.name.as_str()).collect();
            return Err(UsageError(format!(
                "{flag}: {} has no column `{name}`; its columns are {}",
                input.display(),
                names.join(", ")
            ))
            .into());
        }
    }
    let (sink, _first) = super::first_rejections(None);
    let opts = ReadOptions {
        format: Some(ff),
        delimiter,
        ..Default::default()
    };
    let mut reader = EventReader::open(input, &schema, &opts, Box::new(sink))
        .with_context(|| format!("reading {}", input.display()))?;
    let mut v = Volumes::new();
    let mut row: u64 = 0;
    for batch in reader.by_ref() {
        let batch = batch?;
        let cols: Vec<StringArray> = (0..batch.num_columns())
            .map(|i| {
                batch
                    .column(i)
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .cloned()
                    .ok_or_else(|| anyhow::anyhow!("column {i} was not read as text"))
            })
            .collect::<anyhow::Result<_>>()?;
        for r in 0..batch.num_rows() {
            row += 1;
            let t = if cols[0].is_null(r) {
                ""
            } else {
                cols[0].value(r).trim()
            };
            let Ok(micros) = riskstream_core::time::parse_iso8601(t) else {
                return Err(UsageError(format!(
                    "{}, row {row}: `{t}` in `{}` is not a timestamp (YYYY-MM-DD[ HH:MM:SS])",
                    input.display(),
                    time_col
                ))
                .into());
            };
            let day = micros.div_euclid(DAY_US);
            for (k, name) in by.iter().enumerate() {
                let c = &cols[k + 1];
                if c.is_null(r) || c.value(r).trim().is_empty() {
                    continue;
                }
                v.add(&format!("{name}={}", c.value(r).trim()), day, 1.0);
            }
        }
    }
    Ok(v)
}
