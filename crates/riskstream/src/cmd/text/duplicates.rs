//! `riskstream text duplicates`: MinHash near-duplicate groups.

use super::*;

/// Arguments of `text duplicates`.
#[derive(Debug, clap::Args)]
pub(super) struct DupArgs {
    /// Texts.
    #[arg(long)]
    input: PathBuf,
    /// The text column.
    #[arg(long)]
    text_col: String,
    /// An id column copied to the output (default: the 1-based row number).
    #[arg(long)]
    id_col: Option<String>,
    /// Estimated Jaccard similarity of word 5-shingles at which texts are near-duplicates.
    #[arg(long, default_value_t = 0.8)]
    threshold: f64,
    /// CSV delimiter, when the file name does not tell it.
    #[arg(long, value_parser = crate::cmd::parse_delimiter)]
    delimiter: Option<u8>,
    /// Output: .csv(.gz), .parquet or .ndjson; columns id, group, group_size.
    #[arg(long)]
    output: PathBuf,
}

pub(super) fn duplicates(a: DupArgs) -> anyhow::Result<Outcome> {
    let p = DuplicateParams {
        threshold: a.threshold,
        ..Default::default()
    };
    let t = load(&a.input, a.delimiter)?;
    let xr = strs(t.column(&a.text_col, "--text-col")?);
    let ids = ids_or_rows(&t, a.id_col.as_deref())?;
    let groups = riskstream_text::near_duplicates(&p, &Tokenizer::default(), &xr)?;
    let mut size: BTreeMap<usize, i64> = BTreeMap::new();
    for g in &groups {
        *size.entry(*g).or_default() += 1;
    }
    let in_groups = groups.iter().filter(|g| size[g] > 1).count();
    let multi = size.values().filter(|&&n| n > 1).count();
    let group_ids: Vec<String> = groups.iter().map(|&g| ids[g].clone()).collect();
    let sizes: Vec<i64> = groups.iter().map(|g| size[g]).collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("group", DataType::Utf8, false),
        Field::new("group_size", DataType::Int64, false),
    ]));
    write(
        &a.output,
        schema,
        vec![
            Arc::new(StringArray::from(ids)),
            Arc::new(StringArray::from(group_ids)),
            Arc::new(Int64Array::from(sizes)),
        ],
    )?;
    println!(
        "{} texts: {} in {} near-duplicate groups (Jaccard ≥ {}) -> {}",
        crate::cmd::thousands(xr.len() as u64),
        crate::cmd::thousands(in_groups as u64),
        crate::cmd::thousands(multi as u64),
        a.threshold,
        a.output.display()
    );
    Ok(outcome(&t))
}
