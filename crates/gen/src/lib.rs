//! A deterministic synthetic bank, streamed to disk: customers, cards, terminals, card
//! transactions with injected fraud patterns, delayed fraud labels, loan applications with
//! a learnable default model, product holdings and daily ATM/branch cash volumes.
//!
//! # Why
//!
//! A fraud engine cannot be tested on data nobody may share. Public fraud datasets are
//! small, static and have no label delay. This crate produces data with the properties
//! that make the real problem hard — label delay, seasonality, customer heterogeneity,
//! several fraud patterns with different signatures — with every rate documented
//! (`docs/generator.md`, [`params`]) so tests can check a detector against known truth.
//! The same configuration always produces byte-identical files, whatever the thread count.
//!
//! # Data flow
//!
//! ```text
//!  GenConfig ──validate──▶ World::build (customers, cards, terminals, trips, compromises)
//!                               │                                    │
//!                               │ customers/terminals/products ──────┼──▶ BatchWriter ─▶ files
//!                               ▼                                    │
//!   generator thread:  for each day d                                │
//!      per (d, customer) random stream ─▶ genuine tx + fraud episodes│
//!      + yesterday's carried tail ─▶ sort by event time ─▶ ids       │
//!      ─▶ label queue (released when the clock passes them)          │
//!      ─▶ Arrow batches: transactions, labels, loans, volumes ───────┘
//!                 │  bounded channel (4 batches)
//!                 ▼
//!   writer (calling thread): Parquet/CSV/NDJSON encode, progress callback, manifest.json
//! ```
//!
//! Memory is bounded by one day of raw transactions (about 60 bytes each), a few Arrow
//! batches in flight, Parquet's open row group and the labels still waiting to arrive (at
//! most ~60 days of labels, well under 1 % of transactions): it grows with the daily volume,
//! never with the number of days. 100 M transactions (500 000 customers, 90 days) peak at
//! about 300 MB.
//! Every random draw comes from a Xoshiro256++ stream seeded by a hash of (seed, stream,
//! entity), e.g. (seed, "day", d, customer), so the work can be split any way without
//! changing a byte.
//!
//! ```no_run
//! use riskstream_gen::{generate, GenConfig};
//! let cfg = GenConfig { customers: 1_000, days: 30, ..GenConfig::default() };
//! cfg.validate().expect("valid config");
//! let report = generate(&cfg, "out".as_ref(), riskstream_io::Format::Parquet, false, &mut |p| {
//!     eprintln!("day {}/{}: {} transactions", p.day, p.days, p.transactions)
//! })
//! .expect("generated");
//! println!("{} transactions, {} frauds", report.transactions, report.frauds);
//! ```

pub mod calendar;
pub mod complaints;
mod loans;
pub mod params;
mod people;
pub mod products;
mod rng;
pub mod schemas;
mod tables;
mod tx;
mod volumes;
mod world;

pub use world::CompromiseWindow;

use arrow_array::RecordBatch;
use arrow_schema::{ArrowError, SchemaRef};
use riskstream_core::time::{days_from_civil, format_micros, MICROS_PER_DAY};
use riskstream_core::{Classify, Diagnostic, Diagnostics, ErrorClass};
use riskstream_io::{BatchWriter, FileFormat, Format, IoError, WriteOptions};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tables::Dicts;
use world::World;

/// What to generate. The doc comments are the user documentation of the matching
/// `riskstream generate` flags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenConfig {
    /// Seed of every random draw: the same configuration gives byte-identical files.
    pub seed: u64,
    /// Number of customers (each has one account and one or two cards).
    pub customers: u32,
    /// Number of terminals (POS, contactless-only, e-commerce and ATM), at least 100.
    pub terminals: u32,
    /// First simulated day, as microseconds since the epoch; must be midnight UTC.
    pub start: i64,
    /// Number of simulated days.
    pub days: u32,
    /// Target total number of transactions. When set, every customer's daily rate (and
    /// the fraud episode rates, so the fraud share is unchanged) is scaled so the expected
    /// total equals it; the number of days stays as given.
    pub transactions: Option<u64>,
    /// Rows per Arrow batch written.
    pub batch_rows: usize,
    /// Threads: 1 generates and writes on the calling thread; 2 or more generate on a
    /// second thread while the calling thread encodes and writes. The output is identical.
    pub threads: usize,
    /// Also write personal data: a Luhn-valid card number per card (`card_pan` in
    /// transactions; several issuer ranges) and a name, e-mail address and phone number per
    /// customer. The shipped schemas mark these fields `pii`, so reading them needs a PII key
    /// (see `riskstream_core::pii`). Off by default: the files are then exactly as without
    /// these columns.
    #[serde(default)]
    pub pii: bool,
    /// Also write `complaints`: complaint texts from the customers, written from templates
    /// with planted themes (one emerging in a later week; see [`complaints`]). Off by
    /// default: the other files are the same either way.
    #[serde(default, skip_serializing_if = "is_false")]
    pub complaints: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Default for GenConfig {
    fn default() -> Self {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(2);
        GenConfig {
            seed: 42,
            customers: 10_000,
            terminals: 2_000,
            start: days_from_civil(2024, 1, 1) * MICROS_PER_DAY,
            days: 90,
            transactions: None,
            batch_rows: 65_536,
            threads,
            pii: false,
            complaints: false,
        }
    }
}

/// Upper bounds accepted by [`GenConfig::validate`].
const MAX_CUSTOMERS: u32 = 50_000_000;
const MAX_TERMINALS: u32 = 10_000_000;
const MAX_DAYS: u32 = 36_500;
const MAX_TX_PER_CUSTOMER_DAY: u64 = 1_000;
const MAX_BATCH_ROWS: usize = 1 << 24;
const MAX_THREADS: usize = 256;

impl GenConfig {
    /// Checks the whole configuration and reports every problem at once, with the key
    /// (`customers`, `start`, …) and a hint.
    pub fn validate(&self) -> Result<(), Diagnostics> {
        let mut d = Diagnostics::new("generator config");
        if self.customers == 0 {
            d.push(Diagnostic::new("customers", "must be at least 1"));
        } else if self.customers > MAX_CUSTOMERS {
            d.push(
                Diagnostic::new("customers", format!("{} is more than the maximum {MAX_CUSTOMERS}", self.customers))
                    .hint("customer profiles are held in memory (~100 bytes each); raise `transactions` instead"),
            );
        }
        if self.terminals < params::MIN_TERMINALS {
            d.push(
                Diagnostic::new(
                    "terminals",
                    format!(
                        "{} is fewer than the minimum {}",
                        self.terminals,
                        params::MIN_TERMINALS
                    ),
                )
                .hint("every city needs POS, contactless, ATM and e-commerce terminals"),
            );
        } else if self.terminals > MAX_TERMINALS {
            d.push(Diagnostic::new(
                "terminals",
                format!(
                    "{} is more than the maximum {MAX_TERMINALS}",
                    self.terminals
                ),
            ));
        }
        if self.start.rem_euclid(MICROS_PER_DAY) != 0 {
            d.push(
                Diagnostic::new(
                    "start",
                    format!("{} is not midnight UTC", format_micros(self.start)),
                )
                .hint("give a date such as 2024-01-01"),
            );
        }
        let max_start = days_from_civil(9000, 1, 1) * MICROS_PER_DAY;
        if !(0..=max_start).contains(&self.start) {
            d.push(Diagnostic::new(
                "start",
                "must be between 1970-01-01 and 9000-01-01",
            ));
        }
        if self.days == 0 {
            d.push(Diagnostic::new("days", "must be at least 1"));
        } else if self.days > MAX_DAYS {
            d.push(Diagnostic::new(
                "days",
                format!(
                    "{} is more than the maximum {MAX_DAYS} (100 years)",
                    self.days
                ),
            ));
        }
        match self.transactions {
            Some(0) => d.push(
                Diagnostic::new("transactions", "must be at least 1")
                    .hint("omit it to use the natural rates"),
            ),
            Some(t) if self.customers > 0 && self.days > 0 => {
                let per = t as f64 / (f64::from(self.customers) * f64::from(self.days));
                if per > MAX_TX_PER_CUSTOMER_DAY as f64 {
                    d.push(
                        Diagnostic::new(
                            "transactions",
                            format!("{t} means {per:.0} transactions per customer-day, more than {MAX_TX_PER_CUSTOMER_DAY}"),
                        )
                        .hint("add customers or days"),
                    );
                }
            }
            _ => {}
        }
        if self.batch_rows == 0 {
            d.push(
                Diagnostic::new("batch_rows", "must be at least 1").hint("65536 is a good size"),
            );
        } else if self.batch_rows > MAX_BATCH_ROWS {
            d.push(Diagnostic::new(
                "batch_rows",
                format!(
                    "{} is more than the maximum {MAX_BATCH_ROWS}",
                    self.batch_rows
                ),
            ));
        }
        if self.threads == 0 {
            d.push(Diagnostic::new("threads", "must be at least 1"));
        } else if self.threads > MAX_THREADS {
            d.push(Diagnostic::new(
                "threads",
                format!("{} is more than the maximum {MAX_THREADS}", self.threads),
            ));
        }
        d.finish(())
    }
}

/// Progress after each simulated day has been written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Days written so far (1 … `days`).
    pub day: u32,
    /// Days in total.
    pub days: u32,
    /// Transactions written so far.
    pub transactions: u64,
}

/// What a run produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GenReport {
    /// Transactions written.
    pub transactions: u64,
    /// Of which fraud.
    pub frauds: u64,
    /// `frauds / transactions`.
    pub fraud_share: f64,
    /// Fraudulent transactions per pattern (every pattern is listed, also with 0).
    pub patterns: BTreeMap<String, u64>,
    /// Fraud episodes per pattern (`compromised_terminal`: compromise windows overlapping
    /// the period).
    pub episodes: BTreeMap<String, u64>,
    /// Label events written.
    pub labels: u64,
    /// Label events that arrive after the simulated period (written anyway).
    pub labels_after_end: u64,
    /// Loan applications written.
    pub loans: u64,
    /// Product holding rows written.
    pub products: u64,
    /// Volume rows (site-days) written.
    pub volumes: u64,
    /// Complaint texts written (0 unless `complaints` is on).
    #[serde(skip_serializing_if = "is_zero")]
    pub complaints: u64,
    /// Customers written.
    pub customers: u64,
    /// Cards issued.
    pub cards: u64,
    /// Terminals written.
    pub terminals: u64,
    /// Merchants owning them.
    pub merchants: u64,
    /// Genuine trips that started within the period.
    pub trips: u64,
    /// Factor applied to the documented daily and fraud episode rates (1 unless
    /// `transactions` was given).
    pub activity_scale: f64,
    /// Transactions of episodes that ran past the end of the period (not written).
    pub dropped_after_end: u64,
    /// Files written, including `manifest.json`.
    pub files: Vec<PathBuf>,
    /// Wall-clock time of the run.
    pub elapsed_secs: f64,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    /// The configuration is invalid (every problem is listed).
    #[error("{0}")]
    Config(Diagnostics),
    /// Creating or writing an output file failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// Creating the output directory or writing a side file (schema, manifest) failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A bug in the generator.
    #[error("internal error in the generator: {0}")]
    Internal(String),
}

impl Classify for GenError {
    fn class(&self) -> ErrorClass {
        match self {
            GenError::Config(_) => ErrorClass::User,
            GenError::Io(e) => e.class(),
            GenError::Write { source, .. }
                if source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                ErrorClass::User
            }
            GenError::Write { .. } => ErrorClass::External,
            GenError::Internal(_) => ErrorClass::Internal,
        }
    }
}

impl From<ArrowError> for GenError {
    fn from(e: ArrowError) -> Self {
        GenError::Internal(format!("building an Arrow batch: {e}"))
    }
}

/// The Arrow schemas of the output files, in [`schemas::FILES`] order.
struct Schemas {
    arrow: Vec<SchemaRef>,
}

impl Schemas {
    /// The files' layouts; without `pii`, the personal-data columns are left out.
    fn load(pii: bool) -> Result<Self, GenError> {
        let arrow = schemas::FILES
            .iter()
            .map(|f| {
                schemas::schema(f)
                    .map(|s| if pii { s } else { schemas::without_pii(&s) })
                    .map(|s| riskstream_io::arrow_schema(&s))
                    .ok_or_else(|| {
                        GenError::Internal(format!("the shipped schema of `{f}` does not parse"))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Schemas { arrow })
    }

    fn get(&self, file: &str) -> SchemaRef {
        let i = schemas::FILES.iter().position(|f| *f == file).unwrap_or(0);
        self.arrow[i].clone()
    }
}

/// The Arrow schema of the optional `complaints` file.
fn complaint_schema(pii: bool) -> Result<SchemaRef, GenError> {
    schemas::schema("complaints")
        .map(|s| if pii { s } else { schemas::without_pii(&s) })
        .map(|s| riskstream_io::arrow_schema(&s))
        .ok_or_else(|| {
            GenError::Internal("the shipped schema of `complaints` does not parse".into())
        })
}

/// What the generator side hands to the writer side, one batch at a time (so memory holds a
/// few batches, not whole days of Arrow data).
enum Msg {
    Tx(RecordBatch),
    Labels(RecordBatch),
    Loans(RecordBatch),
    Volumes(RecordBatch),
    /// Day `day` (0-based) is complete; it had `tx_rows` transactions.
    DayDone {
        day: u32,
        tx_rows: u64,
    },
}

/// The writer side refused a message (it failed and stopped); the generator stops too.
struct Stopped;

/// Counters the generator side reports at the end.
#[derive(Debug, Default)]
struct ProducerStats {
    tx: tx::TxStats,
    labels: u64,
    labels_after_end: u64,
    loans: u64,
    volumes: u64,
}

/// The generator side: turns days into Arrow batches.
struct Producer<'w> {
    w: &'w World,
    gen: tx::DayGen<'w>,
    sites: Vec<volumes::Site>,
    dicts: Dicts,
    purpose: tables::Dict,
    tx_schema: SchemaRef,
    label_schema: SchemaRef,
    loan_schema: SchemaRef,
    volume_schema: SchemaRef,
    batch_rows: usize,
    stats: ProducerStats,
}

impl<'w> Producer<'w> {
    fn new(w: &'w World, s: &Schemas, batch_rows: usize) -> Self {
        Producer {
            w,
            gen: tx::DayGen::new(w),
            sites: volumes::sites(w),
            dicts: Dicts::new(),
            purpose: tables::Dict::new(params::LOAN_PURPOSES.iter().map(|p| p.0)),
            tx_schema: s.get("transactions"),
            label_schema: s.get("labels"),
            loan_schema: s.get("loans"),
            volume_schema: s.get("volumes"),
            batch_rows,
            stats: ProducerStats::default(),
        }
    }

    /// Generates day `d` and hands its batches to `emit`. `Err(None)`: `emit` stopped.
    fn day(
        &mut self,
        d: u32,
        emit: &mut dyn FnMut(Msg) -> Result<(), Stopped>,
    ) -> Result<(), Option<ArrowError>> {
        let w = self.w;
        let stop = |_: Stopped| None;
        let (first_id, txs) = self.gen.day(d);
        for (k, rows) in txs.chunks(self.batch_rows).enumerate() {
            let first = first_id + (k * self.batch_rows) as u64;
            emit(Msg::Tx(tables::tx_batch(
                w,
                &self.dicts,
                &self.tx_schema,
                rows,
                first,
            )?))
            .map_err(stop)?;
        }
        let last = d + 1 >= w.days;
        let next_day = (w.start_day + i64::from(d) + 1) * MICROS_PER_DAY;
        let released = self
            .gen
            .release_labels(if last { None } else { Some(next_day) });
        let end = (w.start_day + i64::from(w.days)) * MICROS_PER_DAY;
        self.stats.labels_after_end += released.iter().filter(|l| l.time >= end).count() as u64;
        for rows in released.chunks(self.batch_rows) {
            let b = tables::label_batch(&self.dicts, &self.label_schema, rows, self.stats.labels)?;
            self.stats.labels += rows.len() as u64;
            emit(Msg::Labels(b)).map_err(stop)?;
        }
        let apps = loans::day(w, d);
        if !apps.is_empty() {
            let b = loans::batch(&self.purpose, &self.loan_schema, &apps, self.stats.loans)?;
            self.stats.loans += apps.len() as u64;
            emit(Msg::Loans(b)).map_err(stop)?;
        }
        let vol = volumes::day(w, &self.sites, d);
        if !vol.is_empty() {
            self.stats.volumes += vol.len() as u64;
            let b = volumes::batch(
                w,
                &self.dicts.city,
                &self.volume_schema,
                &self.sites,
                d,
                &vol,
            )?;
            emit(Msg::Volumes(b)).map_err(stop)?;
        }
        emit(Msg::DayDone {
            day: d,
            tx_rows: txs.len() as u64,
        })
        .map_err(stop)
    }

    fn finish(mut self) -> ProducerStats {
        self.stats.tx = self.gen.stats;
        self.stats
    }
}

/// The writer side: one [`BatchWriter`] per streamed file.
struct Sinks {
    tx: BatchWriter,
    labels: BatchWriter,
    loans: BatchWriter,
    volumes: BatchWriter,
    written: u64,
}

impl Sinks {
    /// Writes one message; returns the finished day, if this message ends one.
    fn write(&mut self, m: Msg) -> Result<Option<u32>, GenError> {
        match m {
            Msg::Tx(b) => self.tx.write(&b)?,
            Msg::Labels(b) => self.labels.write(&b)?,
            Msg::Loans(b) => self.loans.write(&b)?,
            Msg::Volumes(b) => self.volumes.write(&b)?,
            Msg::DayDone { day, tx_rows } => {
                self.written += tx_rows;
                return Ok(Some(day));
            }
        }
        Ok(None)
    }
}

fn file_name(stem: &str, format: Format, gzip: bool) -> String {
    let gz = if gzip && format != Format::Parquet {
        ".gz"
    } else {
        ""
    };
    format!("{stem}.{}{gz}", format.extension())
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), GenError> {
    std::fs::write(path, bytes).map_err(|source| GenError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Closes a writer; a file that got no rows gets an empty batch first, so a CSV file still
/// has its header row.
fn finish(mut w: BatchWriter, schema: SchemaRef) -> Result<u64, GenError> {
    if w.rows() == 0 {
        w.write(&RecordBatch::new_empty(schema))?;
    }
    Ok(w.finish()?)
}

/// Writes `rows` items in chunks through `make` to a new file.
fn write_table(
    path: &Path,
    ff: FileFormat,
    schema: SchemaRef,
    total: usize,
    chunk: usize,
    mut make: impl FnMut(std::ops::Range<usize>) -> Result<RecordBatch, GenError>,
) -> Result<u64, GenError> {
    let mut w = BatchWriter::create_as(path, ff, schema.clone(), &WriteOptions::default())?;
    let mut start = 0;
    while start < total {
        let end = (start + chunk).min(total);
        w.write(&make(start..end)?)?;
        start = end;
    }
    finish(w, schema)
}

/// Generates the whole dataset into `out_dir` (created if missing).
///
/// Writes `transactions`, `labels`, `customers`, `terminals`, `loans`, `products` and
/// `volumes` (and `complaints` when [`GenConfig::complaints`] is on) in `format` (`.gz`
/// appended for CSV/NDJSON when `gzip`), a `<file>.schema.toml` for each, and
/// `manifest.json`. `progress` is called on the calling
/// thread after each day is written. Fails before writing anything if the configuration
/// is invalid.
pub fn generate(
    cfg: &GenConfig,
    out_dir: &Path,
    format: Format,
    gzip: bool,
    progress: &mut dyn FnMut(Progress),
) -> Result<GenReport, GenError> {
    let t0 = Instant::now();
    let mut diags = match cfg.validate() {
        Ok(()) => Diagnostics::new("generator config"),
        Err(d) => d,
    };
    if gzip && format == Format::Parquet {
        diags.push(
            Diagnostic::new("gzip", "gzip applies to csv and ndjson only")
                .hint("Parquet compresses its pages itself; drop --gzip"),
        );
    }
    diags.finish(()).map_err(GenError::Config)?;
    std::fs::create_dir_all(out_dir).map_err(|source| GenError::Write {
        path: out_dir.to_path_buf(),
        source,
    })?;

    let schemas = Schemas::load(cfg.pii)?;
    let world = World::build(cfg);
    let ff = FileFormat {
        format,
        gzip: gzip && format != Format::Parquet,
        delimiter: b',',
    };
    let path_of = |stem: &str| out_dir.join(file_name(stem, format, gzip));
    let mut files: Vec<PathBuf> = Vec::new();
    for f in schemas::FILES {
        let path = out_dir.join(format!("{f}.schema.toml"));
        let text = schemas::schema_text(f)
            .ok_or_else(|| GenError::Internal(format!("no schema for `{f}`")))?;
        write_file(&path, text.as_bytes())?;
        files.push(path);
    }

    let opts = WriteOptions::default();
    let mut sinks = Sinks {
        tx: BatchWriter::create_as(
            &path_of("transactions"),
            ff,
            schemas.get("transactions"),
            &opts,
        )?,
        labels: BatchWriter::create_as(&path_of("labels"), ff, schemas.get("labels"), &opts)?,
        loans: BatchWriter::create_as(&path_of("loans"), ff, schemas.get("loans"), &opts)?,
        volumes: BatchWriter::create_as(&path_of("volumes"), ff, schemas.get("volumes"), &opts)?,
        written: 0,
    };
    let days = cfg.days;
    let batch_rows = cfg.batch_rows;

    // Dimension tables: written on the calling thread (while the generator thread, if any,
    // is already producing days).
    let write_dimensions = || -> Result<u64, GenError> {
        let dicts = Dicts::new();
        let w = &world;
        write_table(
            &path_of("customers"),
            ff,
            schemas.get("customers"),
            w.customers.len(),
            batch_rows,
            |r| {
                Ok(tables::customer_batch(
                    w,
                    &dicts,
                    &schemas.get("customers"),
                    r,
                )?)
            },
        )?;
        write_table(
            &path_of("terminals"),
            ff,
            schemas.get("terminals"),
            w.terminals.len(),
            batch_rows,
            |r| {
                Ok(tables::terminal_batch(
                    w,
                    &dicts,
                    &schemas.get("terminals"),
                    r,
                )?)
            },
        )?;
        // Products: about three rows per customer, so chunk customers by a third of a batch.
        let mut pw =
            BatchWriter::create_as(&path_of("products"), ff, schemas.get("products"), &opts)?;
        let step = (batch_rows / 3).max(1);
        let mut start = 0;
        while start < w.customers.len() {
            let end = (start + step).min(w.customers.len());
            pw.write(&products::batch(
                &schemas.get("products"),
                &products::rows(w, start..end),
            )?)?;
            start = end;
        }
        finish(pw, schemas.get("products"))
    };

    let mut on_msg = |sinks: &mut Sinks, m: Msg| -> Result<(), GenError> {
        if let Some(day) = sinks.write(m)? {
            progress(Progress {
                day: day + 1,
                days,
                transactions: sinks.written,
            });
        }
        Ok(())
    };
    let arrow_failed = |e: ArrowError| GenError::from(e);

    let (products_rows, pstats) = if cfg.threads <= 1 {
        let products_rows = write_dimensions()?;
        let mut producer = Producer::new(&world, &schemas, batch_rows);
        let mut failed: Option<GenError> = None;
        for d in 0..days {
            let r = producer.day(d, &mut |m| {
                on_msg(&mut sinks, m).map_err(|e| {
                    failed = Some(e);
                    Stopped
                })
            });
            match r {
                Ok(()) => {}
                Err(Some(e)) => return Err(arrow_failed(e)),
                Err(None) => {
                    return Err(
                        failed.unwrap_or_else(|| GenError::Internal("the writer stopped".into()))
                    )
                }
            }
        }
        (products_rows, producer.finish())
    } else {
        std::thread::scope(|s| -> Result<(u64, ProducerStats), GenError> {
            // A few batches in flight: enough to keep both threads busy, little memory.
            let (send, recv) = std::sync::mpsc::sync_channel::<Result<Msg, ArrowError>>(4);
            let producer = Producer::new(&world, &schemas, batch_rows);
            let handle = s.spawn(move || {
                let mut producer = producer;
                for d in 0..days {
                    match producer.day(d, &mut |m| send.send(Ok(m)).map_err(|_| Stopped)) {
                        Ok(()) => {}
                        Err(Some(e)) => {
                            let _ = send.send(Err(e));
                            break;
                        }
                        Err(None) => break,
                    }
                }
                producer.finish()
            });
            let products_rows = write_dimensions()?;
            for m in recv {
                on_msg(&mut sinks, m.map_err(arrow_failed)?)?;
            }
            let stats = handle
                .join()
                .map_err(|_| GenError::Internal("the generator thread panicked".into()))?;
            Ok((products_rows, stats))
        })?
    };

    let Sinks {
        tx,
        labels,
        loans,
        volumes,
        ..
    } = sinks;
    let transactions = finish(tx, schemas.get("transactions"))?;
    let label_rows = finish(labels, schemas.get("labels"))?;
    let loan_rows = finish(loans, schemas.get("loans"))?;
    let volume_rows = finish(volumes, schemas.get("volumes"))?;
    for f in schemas::FILES {
        files.push(path_of(f));
    }
    let complaint_rows = if cfg.complaints {
        let rows = complaints::complaints(cfg);
        let schema = complaint_schema(cfg.pii)?;
        let path = out_dir.join("complaints.schema.toml");
        let text = schemas::schema_text("complaints")
            .ok_or_else(|| GenError::Internal("no schema for `complaints`".into()))?;
        write_file(&path, text.as_bytes())?;
        files.push(path);
        let n = write_table(
            &path_of("complaints"),
            ff,
            schema.clone(),
            rows.len(),
            batch_rows,
            |r| Ok(complaints::batch(&schema, &rows[r])?),
        )?;
        files.push(path_of("complaints"));
        n
    } else {
        0
    };

    let st = &pstats.tx;
    let frauds: u64 = st.emitted[1..].iter().sum();
    let mut patterns = BTreeMap::new();
    let mut episodes = BTreeMap::new();
    let period_days = i64::from(days);
    for (k, name) in params::PATTERNS.iter().enumerate().skip(1) {
        patterns.insert(name.to_string(), st.emitted[k]);
        let n = if k == tx::COMPROMISED as usize {
            world
                .windows
                .iter()
                .filter(|w| w.start_day < period_days && w.end_day > 0)
                .count() as u64
        } else {
            st.episodes[k]
        };
        episodes.insert(name.to_string(), n);
    }
    let manifest_path = out_dir.join("manifest.json");
    files.push(manifest_path.clone());
    let mut report = GenReport {
        transactions,
        frauds,
        fraud_share: if transactions > 0 {
            frauds as f64 / transactions as f64
        } else {
            0.0
        },
        patterns,
        episodes,
        labels: label_rows,
        labels_after_end: pstats.labels_after_end,
        loans: loan_rows,
        products: products_rows,
        volumes: volume_rows,
        complaints: complaint_rows,
        customers: world.customers.len() as u64,
        cards: world.n_cards,
        terminals: world.terminals.len() as u64,
        merchants: world.merchants(),
        trips: world.trips,
        activity_scale: world.scale,
        dropped_after_end: st.dropped_after_end,
        files,
        elapsed_secs: 0.0,
    };
    debug_assert_eq!(label_rows, pstats.labels);
    debug_assert_eq!(loan_rows, pstats.loans);
    debug_assert_eq!(volume_rows, pstats.volumes);
    report.elapsed_secs = t0.elapsed().as_secs_f64();
    write_manifest(&manifest_path, cfg, format, gzip, &report, &world)?;
    Ok(report)
}

fn write_manifest(
    path: &Path,
    cfg: &GenConfig,
    format: Format,
    gzip: bool,
    report: &GenReport,
    world: &World,
) -> Result<(), GenError> {
    let mut rep = serde_json::to_value(report)
        .map_err(|e| GenError::Internal(format!("serialising the report: {e}")))?;
    // File names relative to the output directory, so the manifest can move with it.
    if let Some(files) = rep.get_mut("files") {
        *files = serde_json::Value::Array(
            report
                .files
                .iter()
                .map(|p| {
                    serde_json::Value::String(
                        p.file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default(),
                    )
                })
                .collect(),
        );
    }
    let manifest = serde_json::json!({
        "generator": concat!("riskstream-gen ", env!("CARGO_PKG_VERSION")),
        "config": cfg,
        "start_date": format_micros(cfg.start).get(..10).unwrap_or_default(),
        "format": format.name(),
        "gzip": gzip && format != Format::Parquet,
        "report": rep,
        "rates": params::rates(),
        "product_affinity": products::AFFINITY,
        "compromised_terminals": world.windows.iter().filter(|w| w.end_day > 0).collect::<Vec<_>>(),
        "schemas": schemas::FILES.iter().chain(schemas::OPTIONAL_FILES.iter().filter(|_| cfg.complaints)).map(|f| (f.to_string(), serde_json::Value::String(format!("{f}.schema.toml")))).collect::<serde_json::Map<_, _>>(),
    });
    let mut text = serde_json::to_string_pretty(&manifest)
        .map_err(|e| GenError::Internal(format!("serialising the manifest: {e}")))?;
    text.push('\n');
    write_file(path, text.as_bytes())
}
