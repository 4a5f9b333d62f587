//! One module per subcommand, plus what they share.

pub mod admin;
pub mod backtest;
pub mod bench;
pub mod bench_http;
pub mod bench_models;
pub mod bench_pipeline;
pub mod demo;
pub mod evaluate;
pub mod features;
pub mod generate;
pub mod inspect;
pub mod online_eval;
pub mod pipeline;
pub mod score;
pub mod serve;
pub mod table;
pub mod train;
pub mod validate;

use anyhow::Context;
use riskstream_core::{Classify, ErrorClass, Schema};
use riskstream_io::{FileFormat, Format};
use std::path::{Path, PathBuf};

/// A mistake in the command line itself.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

impl Classify for UsageError {
    fn class(&self) -> ErrorClass {
        ErrorClass::User
    }
}

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

/// The file format: `--format` if given, else told from the file name.
pub fn file_format(
    path: &Path,
    format: Option<Format>,
    delimiter: Option<u8>,
) -> anyhow::Result<FileFormat> {
    let mut ff = match format {
        Some(f) => {
            let gz = path.extension().is_some_and(|e| e == "gz");
            FileFormat {
                format: f,
                gzip: gz,
                delimiter: b',',
            }
        }
        None => FileFormat::from_path(path)?,
    };
    match delimiter {
        Some(d) => ff.delimiter = d,
        None if ff.format == Format::Csv => {
            if let Some(d) = riskstream_io::reader::sniff_delimiter(path) {
                if d != ff.delimiter {
                    eprintln!("note: {} looks {}-separated (from its header); pass --delimiter to override", path.display(), if d == b'\t' { "tab".to_string() } else { format!("`{}`", d as char) });
                    ff.delimiter = d;
                }
            }
        }
        None => {}
    }
    Ok(ff)
}

/// Loads `--schema` (a file path or a shipped schema name), or finds the shipped schema
/// whose columns match the file's header, or infers one.
pub fn resolve_schema(
    schema: Option<&str>,
    data: &Path,
    ff: FileFormat,
) -> anyhow::Result<(Schema, String)> {
    if let Some(s) = schema {
        if let Some(b) = riskstream_core::schema::builtin(s) {
            return Ok((b, format!("built-in `{s}`")));
        }
        let p = PathBuf::from(s);
        if !p.exists() {
            let names: Vec<&str> = riskstream_core::schema::BUILTIN
                .iter()
                .map(|(n, _)| *n)
                .collect();
            return Err(UsageError(format!(
                "--schema `{s}` is neither a file nor a shipped schema (shipped: {})",
                names.join(", ")
            ))
            .into());
        }
        let text = std::fs::read_to_string(&p)
            .with_context(|| format!("reading schema {}", p.display()))?;
        let sch = Schema::from_toml_str(&text, &p.display().to_string())?;
        return Ok((sch, p.display().to_string()));
    }
    let inferred = riskstream_io::infer::infer_schema(data, ff, Some(ff.delimiter), 10_000)?;
    let names: Vec<&str> = inferred.fields.iter().map(|f| f.name.as_str()).collect();
    if let Some(b) = riskstream_core::schema::builtin_for_header(&names) {
        let n = b.name.clone();
        return Ok((b, format!("built-in `{n}` (matched the header)")));
    }
    Ok((
        inferred,
        "inferred from the first 10,000 rows (pass --schema to declare types and roles)".into(),
    ))
}

/// Default dead-letter path for an input: `<file name>.rejected.ndjson` in the current directory.
pub fn default_dead_letter(input: &Path) -> PathBuf {
    let name = input
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "input".into());
    PathBuf::from(format!("{name}.rejected.ndjson"))
}

/// Formats an integer with thousands separators.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
