//! One module per subcommand, plus what they share.

pub mod admin;
pub mod backtest;
pub mod bench;
pub mod credit;
pub mod credit_admin;
pub mod defaults;
pub mod demo;
pub mod evaluate;
pub mod features;
pub mod forecast;
pub mod forecast_admin;
pub mod forecast_volumes;
pub mod forecast_watch;
pub mod fpe_decrypt;
pub mod generate;
pub mod inspect;
pub mod lineage;
pub mod monitor;
pub mod online_eval;
pub mod pipeline;
pub mod quality;
pub mod recommend;
pub mod recommend_admin;
pub mod recommend_eval;
pub mod rewrap;
pub mod score;
pub mod serve;
pub mod staged_admin;
pub mod table;
pub mod text;
pub mod train;
pub mod validate;

use riskstream_core::Schema;
use riskstream_io::{
    DeadLetterSink, FileFormat, FirstRejections, Format, LazyDeadLetterWriter, Rejection,
};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// A mistake in the command line itself: the user's to fix (exit code 2). The same type
/// as the bench commands', so one classifier knows both.
pub use riskstream_bench::UsageError;

/// Parses a one-character delimiter (`,`, `;`, `\t` or `tab`).
pub fn parse_delimiter(s: &str) -> Result<u8, String> {
    match s {
        "\\t" | "tab" | "\t" => Ok(b'\t'),
        _ if s.len() == 1 && s.is_ascii() => Ok(s.as_bytes()[0]),
        _ => Err(format!(
            "`{s}` is not a single ASCII character (use e.g. ',' ';' '|' or 'tab')"
        )),
    }
}

/// Parses a format name.
pub fn parse_format(s: &str) -> Result<Format, String> {
    Format::from_name(s).ok_or_else(|| format!("unknown format `{s}` (use csv, parquet or ndjson)"))
}

/// The file format: `--format` if given, else told from the file name; a delimiter told
/// from a CSV header is said on standard error.
pub fn file_format(
    path: &Path,
    format: Option<Format>,
    delimiter: Option<u8>,
) -> anyhow::Result<FileFormat> {
    Ok(riskstream_io::table::file_format(
        path,
        format,
        delimiter,
        &mut print_note,
    )?)
}

/// Loads `--schema` (a file path or a shipped schema name), or finds the shipped schema
/// whose columns match the file's header, or infers one.
pub fn resolve_schema(
    schema: Option<&str>,
    data: &Path,
    ff: FileFormat,
) -> anyhow::Result<(Schema, String)> {
    Ok(riskstream_io::table::resolve_schema(schema, data, ff)?)
}

/// Says a reader's note (a sniffed delimiter, rejected rows) on standard error.
pub fn print_note(n: riskstream_io::table::Note) {
    eprintln!("{n}");
}

pub use riskstream_io::table::{default_dead_letter, thousands};

/// Rejected rows a read-only command shows when it writes none.
const SHOWN_REJECTIONS: usize = 5;

/// The dead-letter sink of a read-only command: the first few rejections kept to show, and
/// all of them written to `file` only if one was asked for.
pub fn first_rejections(file: Option<&Path>) -> (FirstRejections, Arc<Mutex<Vec<Rejection>>>) {
    let then = file.map(|p| Box::new(LazyDeadLetterWriter::new(p)) as Box<dyn DeadLetterSink>);
    let sink = FirstRejections::new(SHOWN_REJECTIONS, then);
    let kept = sink.kept();
    (sink, kept)
}

/// Prints the first rejected rows (line, field, reason, detail), and how to keep them all.
pub fn print_first_rejections(
    first: &Mutex<Vec<Rejection>>,
    rejected: u64,
    indent: &str,
    keep_flag: &str,
) {
    let first = first.lock().map(|v| v.clone()).unwrap_or_default();
    if first.is_empty() {
        return;
    }
    println!(
        "{indent}first rejected rows (of {}; {keep_flag} writes them all):",
        thousands(rejected)
    );
    for r in &first {
        let field = r
            .field
            .as_deref()
            .map(|f| format!(" {f}:"))
            .unwrap_or_default();
        println!(
            "{indent}  line {}:{field} {}: {}",
            r.line, r.reason, r.detail
        );
    }
}

/// The first rejected rows as JSON (`line`, `field`, `reason`, `detail`).
pub fn rejections_json(first: &Mutex<Vec<Rejection>>) -> serde_json::Value {
    let first = first.lock().map(|v| v.clone()).unwrap_or_default();
    first
        .iter()
        .map(|r| {
            serde_json::json!({
                "line": r.line, "field": r.field, "reason": r.reason.as_str(), "detail": r.detail,
            })
        })
        .collect()
}
