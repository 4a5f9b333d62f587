//! `riskstream text topics`: NMF topics, their trend over periods, per-text topics.

use super::*;

/// The period of a topic trend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum Period {
    /// Calendar day.
    Day,
    /// ISO week (labelled by its Monday).
    Week,
    /// Calendar month.
    Month,
}

/// Arguments of `text topics`.
#[derive(Debug, clap::Args)]
pub(super) struct TopicArgs {
    /// Texts.
    #[arg(long)]
    input: PathBuf,
    /// The text column.
    #[arg(long)]
    text_col: String,
    /// A date column (`YYYY-MM-DD…`) for the trend over periods.
    #[arg(long)]
    date_col: Option<String>,
    /// The trend's period.
    #[arg(long, value_enum, default_value_t = Period::Week)]
    by: Period,
    /// Number of topics.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// NMF iterations.
    #[arg(long, default_value_t = 200)]
    iterations: usize,
    /// A word must occur in at least this many texts.
    #[arg(long, default_value_t = 5)]
    min_df: usize,
    /// Seed of the starting point.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// An id column copied to --output (default: the 1-based row number).
    #[arg(long)]
    id_col: Option<String>,
    /// CSV delimiter, when the file name does not tell it.
    #[arg(long, value_parser = crate::cmd::parse_delimiter)]
    delimiter: Option<u8>,
    /// Per-text topics: .csv(.gz), .parquet or .ndjson; columns id, topic, weight (topic
    /// -1 for a text without vocabulary words).
    #[arg(long)]
    output: Option<PathBuf>,
    /// A JSON summary for the console's complaints page (`[complaints] topics`): each
    /// topic's words, size and three example texts (the most typical, first 300
    /// characters), and with --date-col the trend rows.
    #[arg(long)]
    summary: Option<PathBuf>,
}

/// The summary file `--summary` writes (read by the console).
fn summary(
    a: &TopicArgs,
    t: &Input,
    xr: &[&str],
    tp: &riskstream_text::Topics,
    sizes: &[usize],
    trend: &[riskstream_text::TrendRow],
) -> anyhow::Result<serde_json::Value> {
    let ids = ids_or_rows(t, a.id_col.as_deref())?;
    let mut topics = Vec::new();
    for (i, ws) in tp.words.iter().enumerate() {
        let mut members: Vec<(usize, f64)> = tp
            .assignment
            .iter()
            .enumerate()
            .filter_map(|(j, x)| x.filter(|(k, _)| *k == i).map(|(_, w)| (j, w)))
            .collect();
        members.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
        let examples: Vec<serde_json::Value> = members
            .iter()
            .take(3)
            .map(|&(j, w)| {
                let text: String = xr[j].chars().take(300).collect();
                serde_json::json!({ "id": ids[j], "weight": w, "text": text })
            })
            .collect();
        topics.push(serde_json::json!({
            "topic": i,
            "words": ws.iter().map(|w| w.0.as_str()).collect::<Vec<_>>(),
            "texts": sizes[i],
            "examples": examples,
        }));
    }
    Ok(serde_json::json!({
        "format": "riskstream-text-topics",
        "version": 1,
        "input": a.input.display().to_string(),
        "texts": xr.len(),
        "k": a.k,
        "period": a.date_col.as_ref().map(|_| format!("{:?}", a.by).to_lowercase()),
        "written_at": riskstream_core::time::format_micros(now_micros()),
        "topics": topics,
        "trend": trend,
    }))
}

pub(super) fn topics(a: TopicArgs) -> anyhow::Result<Outcome> {
    let p = riskstream_text::TopicParams {
        k: a.k,
        iterations: a.iterations,
        min_df: a.min_df,
        seed: a.seed,
        ..Default::default()
    };
    p.check()?;
    let t = load(&a.input, a.delimiter)?;
    let xr = strs(t.column(&a.text_col, "--text-col")?);
    let t0 = std::time::Instant::now();
    let tp = riskstream_text::topics(&p, &Tokenizer::default(), &xr)?;
    println!(
        "{} topics over {} texts ({} words), relative error {:.3}, in {:.3} s",
        a.k,
        crate::cmd::thousands(xr.len() as u64),
        crate::cmd::thousands(tp.vocabulary as u64),
        tp.relative_error,
        t0.elapsed().as_secs_f64()
    );
    let mut sizes = vec![0usize; a.k];
    for (topic, _) in tp.assignment.iter().flatten() {
        sizes[*topic] += 1;
    }
    for (i, ws) in tp.words.iter().enumerate() {
        let words: Vec<&str> = ws.iter().map(|w| w.0.as_str()).collect();
        println!(
            "  topic {i:>2} ({:>5} texts): {}",
            sizes[i],
            words.join(", ")
        );
    }
    let mut trend_rows = Vec::new();
    if let Some(dc) = &a.date_col {
        let dates = t.column(dc, "--date-col")?;
        let mut bad = 0usize;
        let periods: Vec<String> = dates
            .iter()
            .map(|d| {
                let p = match a.by {
                    Period::Day => {
                        riskstream_text::topics::week_of(d).map(|_| d.chars().take(10).collect())
                    }
                    Period::Week => riskstream_text::topics::week_of(d),
                    Period::Month => {
                        riskstream_text::topics::week_of(d).map(|_| d.chars().take(7).collect())
                    }
                };
                p.unwrap_or_else(|| {
                    bad += 1;
                    "(no date)".to_string()
                })
            })
            .collect();
        if bad > 0 {
            eprintln!("note: {bad} rows have no YYYY-MM-DD date in `{dc}`; they form the period \"(no date)\"");
        }
        let rows = riskstream_text::trend(&tp, &periods, a.k, 5);
        trend_rows = rows.clone();
        println!(
            "  {:<12} {:>5} {:>6} {:>7} {:>8}",
            "period", "topic", "texts", "share", "change"
        );
        for r in &rows {
            println!(
                "  {:<12} {:>5} {:>6} {:>6.1}% {:>8}{}",
                r.period,
                r.topic,
                r.count,
                100.0 * r.share,
                r.change
                    .map(|c| format!("{:+.1}", 100.0 * c))
                    .unwrap_or_default(),
                if r.emerging { "  emerging" } else { "" }
            );
        }
    }
    if let Some(path) = &a.summary {
        let v = summary(&a, &t, &xr, &tp, &sizes, &trend_rows)?;
        // Its examples quote narratives: encrypted when master keys are configured.
        riskstream_core::crypt::write_file(path, serde_json::to_string_pretty(&v)?.as_bytes())?;
        println!("topic summary -> {}", path.display());
    }
    if let Some(out) = &a.output {
        let ids = ids_or_rows(&t, a.id_col.as_deref())?;
        let topic: Vec<i64> = tp
            .assignment
            .iter()
            .map(|x| x.map_or(-1, |(t, _)| t as i64))
            .collect();
        let weight: Vec<f64> = tp
            .assignment
            .iter()
            .map(|x| x.map_or(0.0, |(_, w)| w))
            .collect();
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("topic", DataType::Int64, false),
            Field::new("weight", DataType::Float64, false),
        ]));
        write(
            out,
            schema,
            vec![
                Arc::new(StringArray::from(ids)),
                Arc::new(Int64Array::from(topic)),
                Arc::new(Float64Array::from(weight)),
            ],
        )?;
        println!("per-text topics -> {}", out.display());
    }
    Ok(outcome(&t))
}
