//! `riskstream sql`: SQL over riskstream's files, on Apache DataFusion, with the model
//! files as SQL functions.
//!
//! ```text
//!  --table tx=tx.csv.gz ──▶ riskstream-io EventReader (schema, dead letters) ──▶ MemTable ─┐
//!  --table labels=l.ndjson ─▶ (same, into memory; counted against the memory limit) ─────────┤
//!  --table hist=folder/ ──▶ DataFusion listing table over *.parquet (streamed) ─────────────┤
//!                                                                                          ▼
//!  "SELECT …" ──▶ DataFusion (parse, plan, optimise, execute under the memory pool) ──▶ batches
//!                   │ riskstream_score('m.json', cols…) / riskstream_reasons(…)            │
//!                   └─▶ ModelCache (one load per query) ─▶ learn::AnyModel               ▼
//!                                                         output: table | CSV | NDJSON | Parquet
//! ```
//!
//! Why DataFusion: analysts ask questions of the same files the pipelines and the learners
//! read (fraud rate by day and terminal, the top customers last month, labels joined to
//! transactions), and a vectorised SQL engine on Arrow answers them without a database to
//! load first. riskstream already speaks Arrow (riskstream-io's readers give Arrow
//! batches), so DataFusion takes them as they are.
//!
//! Why riskstream-io's readers for CSV and NDJSON (see `load.rs`): a schema's types and
//! rules apply, and bad rows go to the dead-letter file rather than failing the query.
//! Parquet already carries its types, so DataFusion reads it itself, streamed.
//!
//! Why the crate is optional in the binary: DataFusion takes about 17 minutes of a clean
//! release build on two cores, so `riskstream` builds it only with `--features sql`.
//!
//! What this crate does not do (yet): stream a text table instead of loading it, write
//! results while the query runs (they are collected first), or read Parquet files that
//! riskstream encrypted with master keys.

pub mod engine;
pub mod error;
pub mod functions;
mod load;
pub mod output;

pub use engine::{
    parse_size, EngineOptions, QueryResult, SqlEngine, Storage, TableInfo, DEFAULT_MEMORY_LIMIT,
};
pub use error::SqlError;
pub use output::{write_result, OutputFormat};
