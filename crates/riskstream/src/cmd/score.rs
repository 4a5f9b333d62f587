//! `riskstream score`: batch-score a table with a model file, with top reasons per row.

use super::train::DataArgs;
use super::UsageError;
use crate::Outcome;
use anyhow::Context;
use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use riskstream_io::{BatchWriter, WriteOptions};
use riskstream_learn::model::ModelFile;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// Arguments of `riskstream score`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub data: DataArgs,
    /// Model file written by `riskstream train`.
    #[arg(long)]
    pub model: PathBuf,
    /// Column copied to the output as the row id (e.g. TRANSACTION_ID).
    #[arg(long)]
    pub id_col: Option<String>,
    /// Reason codes per row (0 = none).
    #[arg(long, default_value_t = 3)]
    pub reasons: usize,
    /// Output file: .csv(.gz), .parquet or .ndjson.
    #[arg(long)]
    pub output: PathBuf,
}

/// Rows written per output batch.
const CHUNK: usize = 65_536;

/// Runs `score`.
pub fn run(mut a: Args) -> anyhow::Result<Outcome> {
    let file = ModelFile::load(&a.model)?;
    if a.data.features.is_empty() && a.data.spec.is_none() {
        a.data.features = file.card.feature_names.clone();
    }
    let input = a.data.load(true)?;
    file.check_feature_spec(input.spec_hash.as_deref())?;
    // Score in the model's feature order, whatever order the flags gave.
    let mut input = input;
    file.column_positions(&input.features)?;
    input.features = file.card.feature_names.clone();
    let id_col = a
        .id_col
        .as_deref()
        .map(|c| input.table.index(c, "--id-col"))
        .transpose()?;
    let schema = Arc::new(Schema::new(
        [
            Field::new("id", DataType::Utf8, false),
            Field::new("score", DataType::Float64, false),
        ]
        .into_iter()
        .chain((1..=a.reasons).map(|k| Field::new(format!("reason_{k}"), DataType::Utf8, true)))
        .collect::<Vec<_>>(),
    ));
    let mut w = BatchWriter::create(&a.output, schema.clone(), &WriteOptions::default())
        .with_context(|| format!("creating {}", a.output.display()))?;
    let t0 = Instant::now();
    let names = &file.card.feature_names;
    let mut scored = 0usize;
    for chunk in input.rows.chunks(CHUNK) {
        let ds = input.dataset(chunk, None)?;
        let scores = file.model.predict_proba(&ds.x)?;
        let ids: Vec<String> = chunk
            .iter()
            .map(|&i| match id_col {
                Some(c) => input.table.text_value(c, i),
                None => i.to_string(),
            })
            .collect();
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(ids)),
            Arc::new(Float64Array::from(scores)),
        ];
        if a.reasons > 0 {
            // Explained as a batch: tree models go through each tree block by block.
            use rayon::prelude::*;
            let explained = file.model.explain_rows(&ds.x)?;
            let per_row: Vec<Vec<String>> = explained
                .par_iter()
                .enumerate()
                .map(|(r, e)| {
                    let row = ds.x.row(r);
                    e.top_k(a.reasons, names, row)
                        .into_iter()
                        .map(|x| format!("{}={} ({:+.4})", x.feature, x.value, x.contribution))
                        .collect()
                })
                .collect();
            for k in 0..a.reasons {
                let col: StringArray = per_row
                    .iter()
                    .map(|r| r.get(k).map(String::as_str))
                    .collect();
                cols.push(Arc::new(col));
            }
        }
        w.write(&RecordBatch::try_new(schema.clone(), cols)?)?;
        scored += chunk.len();
    }
    let written = w.finish()?;
    if written as usize != scored {
        return Err(UsageError(format!("wrote {written} rows of {scored}")).into());
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "scored {} rows with {} ({}) in {:.2} s ({:.0} rows/s) -> {}",
        super::thousands(scored as u64),
        file.card.algorithm,
        file.card.model_id,
        secs,
        scored as f64 / secs.max(1e-9),
        a.output.display()
    );
    Ok(if input.table.stats.rejected > 0 {
        Outcome::Problems
    } else {
        Outcome::Clean
    })
}
