//! `riskstream validate FILE...`: check schema/config files (every problem at once), or data
//! files against a schema (rows checked; rejected rows counted and the first few shown, and
//! written out only with `--dead-letter-dir DIR`).

use super::{
    default_dead_letter, file_format, first_rejections, parse_delimiter, print_first_rejections,
    resolve_schema, thousands, UsageError,
};
use crate::Outcome;
use anyhow::Context;
use riskstream_core::Schema;
use riskstream_io::{EventReader, ReadOptions};
use std::path::{Path, PathBuf};

/// Arguments of `riskstream validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files to check: `*.toml` schema/config files, or data files (checked against --schema).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Schema for data files (a file or a shipped schema name).
    #[arg(long)]
    pub schema: Option<String>,
    /// CSV delimiter for data files.
    #[arg(long, value_parser = parse_delimiter)]
    pub delimiter: Option<u8>,
    /// Write each data file's rejected rows to `DIR/<file name>.rejected.ndjson` (created only
    /// if a row is rejected). Without it nothing is written: rejected rows are counted and
    /// the first few shown.
    #[arg(long, value_name = "DIR")]
    pub dead_letter_dir: Option<PathBuf>,
    /// The feature spec a policy file is checked against (the features and scores its rules
    /// name must exist there).
    #[arg(long, value_name = "FEATURES_TOML")]
    pub spec: Option<PathBuf>,
}

/// The kinds of TOML file riskstream validates, told by their keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Schema,
    FeatureSpec,
    Pipeline,
    Policy,
    Quality,
    Unknown,
}

fn kind_of(text: &str) -> Kind {
    match toml::from_str::<toml::Table>(text) {
        Ok(t) if t.contains_key("field") => Kind::Schema,
        Ok(t) if t.contains_key("feature") || t.contains_key("calendar") => Kind::FeatureSpec,
        Ok(t) if t.contains_key("source") && t.contains_key("sink") => Kind::Pipeline,
        Ok(t) if t.contains_key("rule") || t.contains_key("score") => Kind::Policy,
        Ok(t) if t.contains_key("check") => Kind::Quality,
        Ok(_) => Kind::Unknown,
        // Not TOML at all: the schema checker reports the syntax error with line and column.
        Err(_) => Kind::Schema,
    }
}

fn validate_toml(path: &Path, spec: Option<&Path>, schema: Option<&str>) -> anyhow::Result<bool> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    match kind_of(&text) {
        Kind::Schema => match Schema::from_toml_str(&text, &path.display().to_string()) {
            Ok(s) => {
                println!("{}: ok (schema `{}`, {} fields)", path.display(), s.name, s.fields.len());
                Ok(true)
            }
            Err(d) => {
                eprint!("{d}");
                Ok(false)
            }
        },
        Kind::FeatureSpec => match riskstream_features::FeatureSpec::from_toml_str(&text, &path.display().to_string(), path.parent()) {
            Ok(s) => {
                println!("{}: ok (feature spec `{}`, {} features over schema `{}`)", path.display(), s.name, s.features.len(), s.schema.name);
                Ok(true)
            }
            Err(d) => {
                eprint!("{d}");
                Ok(false)
            }
        },
        Kind::Pipeline => validate_pipeline(path),
        Kind::Policy => validate_policy(path, &text, spec),
        Kind::Quality => validate_quality(path, schema),
        Kind::Unknown => Err(UsageError(format!(
            "{}: not a file riskstream knows how to validate (a schema declares `[[field]]` tables, a feature spec `[[feature]]` tables, a pipeline `[source]` and `[sink]`, a policy `[[rule]]` or `[score]`, data-quality checks `[[check]]`)",
            path.display()
        ))
        .into()),
    }
}

/// A data-quality checks file against the schema of the records it judges (`--schema`).
fn validate_quality(path: &Path, schema: Option<&str>) -> anyhow::Result<bool> {
    let Some(name) = schema else {
        return Err(UsageError(format!(
            "{}: a data-quality checks file is checked against the schema of the records it judges: give --schema (a file or a shipped schema name)",
            path.display()
        ))
        .into());
    };
    let sch = match riskstream_core::schema::builtin(name) {
        Some(b) => b,
        None => {
            let text = std::fs::read_to_string(name)
                .with_context(|| format!("reading --schema {name}"))?;
            Schema::from_toml_str(&text, name)?
        }
    };
    match riskstream_io::quality::QualitySpec::load(path, &sch) {
        Ok(q) => {
            println!(
                "{}: ok (data-quality checks: {} over schema `{}`)",
                path.display(),
                q.checks
                    .iter()
                    .map(|c| format!("{} ({})", c.name, c.kind.name()))
                    .collect::<Vec<_>>()
                    .join(", "),
                sch.name
            );
            Ok(true)
        }
        Err(d) => {
            eprint!("{d}");
            Ok(false)
        }
    }
}

/// A pipeline and every file it names, checked as `run` checks them before it starts.
fn validate_pipeline(path: &Path) -> anyhow::Result<bool> {
    let checked = riskstream_pipeline::PipelineConfig::load(path)
        .map_err(riskstream_core::Findings::from)
        .and_then(|c| c.check());
    match checked {
        Ok(t) => {
            let c = &t.config;
            println!(
                "{}: ok (pipeline `{}`, {} partition(s); spec `{}` with {} features; policy `{}`{}{}{})",
                path.display(),
                c.name,
                c.partitions(),
                t.spec.name,
                t.spec.features.len(),
                t.deployment.policy.name(),
                if t.deployment.champion.is_some() { " and a champion model" } else { "" },
                match &c.repartition {
                    Some(r) => format!(", repartitioned by {} to {} partition(s) of `{}`", r.by, r.partitions, r.topic),
                    None => String::new(),
                },
                if c.registry.is_some() { ", review queue and audit log in the registry" } else { "" }
            );
            if let Some(q) = &t.quality {
                println!("  data-quality checks: {}", q.checks.len());
            }
            Ok(true)
        }
        Err(f) => {
            eprint!("{f}");
            Ok(false)
        }
    }
}

/// A policy file against the feature spec its rules read (`--spec`).
fn validate_policy(path: &Path, text: &str, spec: Option<&Path>) -> anyhow::Result<bool> {
    let Some(spec_path) = spec else {
        return Err(UsageError(format!(
            "{}: a policy is checked against the feature spec its rules read; add --spec features.toml",
            path.display()
        ))
        .into());
    };
    let spec = match riskstream_features::FeatureSpec::from_file(spec_path) {
        Ok(s) => s,
        Err(d) => {
            eprint!("{d}");
            return Ok(false);
        }
    };
    match riskstream_decide::Policy::from_toml_str(text, &path.display().to_string(), &spec) {
        Ok(p) => {
            println!(
                "{}: ok (policy `{}`, {} rules, against feature spec `{}`)",
                path.display(),
                p.name(),
                p.rules().len(),
                spec.name
            );
            Ok(true)
        }
        Err(d) => {
            eprint!("{d}");
            Ok(false)
        }
    }
}

fn validate_data(path: &Path, a: &Args) -> anyhow::Result<bool> {
    let ff = file_format(path, None, a.delimiter)?;
    let (schema, origin) = resolve_schema(a.schema.as_deref(), path, ff)?;
    let dl = a
        .dead_letter_dir
        .as_ref()
        .map(|d| d.join(default_dead_letter(path)));
    let (sink, first) = first_rejections(dl.as_deref());
    let opts = ReadOptions {
        format: Some(ff),
        delimiter: a.delimiter,
        ..Default::default()
    };
    let mut r = EventReader::open(path, &schema, &opts, Box::new(sink))?;
    for b in &mut r {
        b?;
    }
    let s = r.finish()?;
    println!(
        "{}: {} rows, {} accepted, {} rejected against {} ({origin})",
        path.display(),
        thousands(s.rows_read),
        thousands(s.accepted),
        thousands(s.rejected),
        schema.name
    );
    for (reason, n) in &s.by_reason {
        println!("  {reason}: {}", thousands(*n));
    }
    match &dl {
        Some(dl) if s.rejected > 0 => println!("  dead letters: {}", dl.display()),
        _ => print_first_rejections(&first, s.rejected, "  ", "--dead-letter-dir DIR"),
    }
    if let Some(e) = &s.input_error {
        eprintln!("  warning: {e}");
    }
    Ok(s.rejected == 0 && s.input_error.is_none())
}

/// Runs `validate`.
pub fn run(a: Args) -> anyhow::Result<Outcome> {
    if let Some(d) = &a.dead_letter_dir {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let mut all_ok = true;
    for f in &a.files {
        let ok = if f.extension().is_some_and(|e| e == "toml") {
            validate_toml(f, a.spec.as_deref(), a.schema.as_deref())?
        } else {
            validate_data(f, &a)?
        };
        all_ok &= ok;
    }
    if all_ok {
        Ok(Outcome::Clean)
    } else {
        // Config problems are the user's to fix: exit 2, as for any other bad input.
        Err(UsageError("validation failed (see above)".into()).into())
    }
}
