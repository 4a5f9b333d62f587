//! `riskstream text classify`: label, calibrated score and reasons per text.

use super::*;

/// Arguments of `text classify`.
#[derive(Debug, clap::Args)]
pub(super) struct ClassifyArgs {
    /// Model written by `text train`.
    #[arg(long)]
    model: PathBuf,
    /// Texts to classify.
    #[arg(long)]
    input: PathBuf,
    /// The text column (default: the training file's).
    #[arg(long)]
    text_col: Option<String>,
    /// An id column copied to the output (default: the 1-based row number).
    #[arg(long)]
    id_col: Option<String>,
    /// Reasons per text; 0 for none.
    #[arg(long, default_value_t = 3)]
    reasons: usize,
    /// CSV delimiter, when the file name does not tell it.
    #[arg(long, value_parser = crate::cmd::parse_delimiter)]
    delimiter: Option<u8>,
    /// Output: .csv(.gz), .parquet or .ndjson; columns id, label, score, reasons, note, and
    /// when the model carries them `labels` (multi-label, `|`-separated), `sentiment`
    /// (−1..1), `escalation` (probability of relief) and `escalation_reasons`.
    #[arg(long)]
    output: PathBuf,
    /// The sentence-embedding model directory of a model trained with
    /// `--embedding-model` (default: the directory recorded at training); its weights must
    /// be the ones the model was trained on (checked by SHA-256).
    #[arg(long)]
    embedding_model: Option<PathBuf>,
}

/// The embeddings of `x` when the model has an embedding head, checked against it.
fn embeddings(
    f: &ModelFile,
    a: &ClassifyArgs,
    x: &[String],
) -> anyhow::Result<Option<Vec<Vec<f32>>>> {
    let Some(h) = &f.model.embedding else {
        if a.embedding_model.is_some() {
            return Err(UsageError(
                "the model has no embedding head (it was trained without --embedding-model); drop --embedding-model".into(),
            )
            .into());
        }
        return Ok(None);
    };
    let dir = a
        .embedding_model
        .clone()
        .unwrap_or_else(|| PathBuf::from(&h.embedding_dir));
    let embedder = riskstream_text::embed::Embedder::load(&dir)?;
    let paired =
        riskstream_text::head::Embedded::new(&f.model, &embedder, &a.model.display().to_string())?;
    Ok(Some(paired.embed(&strs(x))?))
}

pub(super) fn classify(a: ClassifyArgs) -> anyhow::Result<Outcome> {
    let f = ModelFile::load(&a.model)?;
    let text_col = match &a.text_col {
        Some(c) => c.clone(),
        None => f
            .card
            .training
            .get("text_col")
            .and_then(|v| v.as_str())
            .map(String::from)
            .ok_or_else(|| {
                UsageError("the model does not record its text column; pass --text-col".into())
            })?,
    };
    let t = load(&a.input, a.delimiter)?;
    let x = t.column(&text_col, "--text-col")?;
    let ids = ids_or_rows(&t, a.id_col.as_deref())?;
    let emb = embeddings(&f, &a, x)?;
    let mut reader = riskstream_text::Reader::new(&f.model);
    let (mut labels, mut scores, mut reasons, mut notes) = (vec![], vec![], vec![], vec![]);
    let (mut all_labels, mut sentiment, mut risk, mut risk_reasons) =
        (vec![], vec![], vec![], vec![]);
    let (mut empty, mut cut) = (0usize, 0usize);
    let show = |rs: &[riskstream_text::Reason]| {
        rs.iter()
            .map(|r| format!("{} ({:+.3})", r.text, r.weight))
            .collect::<Vec<_>>()
            .join("; ")
    };
    for (i, text) in x.iter().enumerate() {
        let e = emb.as_ref().map(|e| e[i].as_slice());
        let p = reader.read_embedded(text, e, a.reasons);
        labels.push(p.label.clone());
        scores.push(p.score);
        reasons.push(show(&p.reasons));
        if let Some(ls) = &p.labels {
            all_labels.push(
                ls.iter()
                    .map(|l| l.label.as_str())
                    .collect::<Vec<_>>()
                    .join("|"),
            );
        }
        if let Some(se) = &p.sentiment {
            sentiment.push(se.compound);
        }
        if let Some(e) = &p.escalation {
            risk.push(e.risk);
            risk_reasons.push(show(&e.reasons));
        }
        let mut note = Vec::new();
        if p.no_features {
            empty += 1;
            note.push("no_features");
        }
        if p.truncated {
            cut += 1;
            note.push("truncated");
        }
        notes.push(note.join(" "));
    }
    let n = labels.len();
    let mut fields = vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("label", DataType::Utf8, false),
        Field::new("score", DataType::Float64, false),
        Field::new("reasons", DataType::Utf8, false),
        Field::new("note", DataType::Utf8, false),
    ];
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(ids)),
        Arc::new(StringArray::from(labels)),
        Arc::new(Float64Array::from(scores)),
        Arc::new(StringArray::from(reasons)),
        Arc::new(StringArray::from(notes)),
    ];
    // Extra columns only when the model carries them (every row then has a value).
    if all_labels.len() == n && f.model.thresholds.is_some() {
        fields.push(Field::new("labels", DataType::Utf8, false));
        cols.push(Arc::new(StringArray::from(all_labels)));
    }
    if sentiment.len() == n && f.model.sentiment.is_some() {
        fields.push(Field::new("sentiment", DataType::Float64, false));
        cols.push(Arc::new(Float64Array::from(sentiment)));
    }
    if risk.len() == n && f.model.escalation.is_some() {
        fields.push(Field::new("escalation", DataType::Float64, false));
        fields.push(Field::new("escalation_reasons", DataType::Utf8, false));
        cols.push(Arc::new(Float64Array::from(risk)));
        cols.push(Arc::new(StringArray::from(risk_reasons)));
    }
    write(&a.output, Arc::new(Schema::new(fields)), cols)?;
    println!(
        "{} texts classified -> {}{}{}",
        crate::cmd::thousands(n as u64),
        a.output.display(),
        if empty > 0 {
            format!("; {empty} without known words got the class priors (note no_features)")
        } else {
            String::new()
        },
        if cut > 0 {
            format!("; {cut} read up to max_tokens (note truncated)")
        } else {
            String::new()
        }
    );
    Ok(outcome(&t))
}
