//! `riskstream recommend evaluate`: train and measure by a published protocol.
//!
//! * `--protocol folds --fold-col u_fold`: MovieLens's official u1–u5 folds (each fold's
//!   rows are its test set, the other folds train), RMSE / MAE averaged over folds.
//! * `--protocol split --test-share 0.25 --seed 42`: each user's rows shuffled and split
//!   75 / 25, as the Microsoft Recommenders benchmark does; precision / recall / nDCG / MAP
//!   at k without the user's training items, and coverage.
//! * `--test FILE`: train on `--input`, measure on FILE (a peer's split, for the same data
//!   on both sides).

use super::recommend::{column, fit, ids, params, rows, set_threads, EvalArgs, ProtocolArg};
use super::UsageError;
use crate::Outcome;
use riskstream_recommend::protocol::{evaluate_ranking, evaluate_ratings, stratified_split, Row};
use riskstream_recommend::Params;

/// One split's figures.
#[derive(Debug, Default, Clone, serde::Serialize)]
struct SplitResult {
    name: String,
    train_rows: usize,
    test_rows: usize,
    train_seconds: f64,
    seconds_per_iteration: Option<f64>,
    rmse: Option<f64>,
    mae: Option<f64>,
    unknown_test_users: usize,
    unknown_test_items: usize,
    precision: f64,
    recall: f64,
    ndcg: f64,
    map: f64,
    coverage: f64,
    ranked_users: usize,
}

pub fn run(a: EvalArgs) -> anyhow::Result<Outcome> {
    set_threads(a.learner.threads)?;
    if a.k == 0 {
        return Err(UsageError("--k must be at least 1".into()).into());
    }
    if !(a.test_share > 0.0 && a.test_share < 1.0) {
        return Err(UsageError(format!(
            "--test-share {} must be between 0 and 1 (exclusive)",
            a.test_share
        ))
        .into());
    }
    let p = params(&a.learner, a.input.implicit)?;
    let (all, table) = rows(&a.input, &a.input.input)?;
    let test_rows;
    let mut splits: Vec<(String, Vec<&Row>, Vec<&Row>)> = Vec::new();
    let protocol: String;
    if let Some(t) = &a.test {
        test_rows = rows(&a.input, t)?.0;
        splits.push((
            t.display().to_string(),
            all.iter().collect(),
            test_rows.iter().collect(),
        ));
        protocol = format!("train {}, test {}", a.input.input.display(), t.display());
    } else {
        match a.protocol {
            ProtocolArg::Folds => {
                let folds = ids(column(&table, &a.fold_col)?);
                let mut names: Vec<&String> = folds.iter().collect();
                names.sort_by(|x, y| {
                    x.parse::<f64>()
                        .ok()
                        .partial_cmp(&y.parse::<f64>().ok())
                        .unwrap_or(std::cmp::Ordering::Equal)
                        .then(x.cmp(y))
                });
                names.dedup();
                if names.len() < 2 {
                    return Err(UsageError(format!(
                        "--fold-col {} has {} distinct value(s); folds need at least 2",
                        a.fold_col,
                        names.len()
                    ))
                    .into());
                }
                for f in names {
                    let (mut tr, mut te) = (Vec::new(), Vec::new());
                    for (r, g) in all.iter().zip(&folds) {
                        if g == f {
                            te.push(r);
                        } else {
                            tr.push(r);
                        }
                    }
                    splits.push((format!("{}={f}", a.fold_col), tr, te));
                }
                protocol = format!("fixed folds by `{}`", a.fold_col);
            }
            ProtocolArg::Split => {
                let mask = stratified_split(&all, a.test_share, a.seed);
                let (mut tr, mut te) = (Vec::new(), Vec::new());
                for (r, &t) in all.iter().zip(&mask) {
                    if t {
                        te.push(r);
                    } else {
                        tr.push(r);
                    }
                }
                splits.push((format!("split seed {}", a.seed), tr, te));
                protocol = format!(
                    "stratified split by user, {:.0} % test, seed {}",
                    100.0 * a.test_share,
                    a.seed
                );
            }
        }
    }
    let iterations = match &p {
        Params::ExplicitAls(q) => Some(q.iterations),
        Params::ImplicitAls(q) => Some(q.iterations),
        _ => None,
    };
    let explicit = !a.input.implicit && a.input.rating_col.is_some();
    let mut results = Vec::new();
    for (name, tr, te) in &splits {
        let (model, secs, _) = fit(&p, tr, a.input.build_options(), None, name)?;
        let mut r = SplitResult {
            name: name.clone(),
            train_rows: tr.len(),
            test_rows: te.len(),
            train_seconds: secs,
            seconds_per_iteration: iterations.map(|i| secs / i as f64),
            ..Default::default()
        };
        let rating = evaluate_ratings(&model, te);
        if explicit {
            r.rmse = Some(rating.rmse);
            r.mae = Some(rating.mae);
        }
        r.unknown_test_users = rating.unknown_users;
        r.unknown_test_items = rating.unknown_items;
        let (rk, _) = evaluate_ranking(&model, te, a.k);
        r.precision = rk.precision;
        r.recall = rk.recall;
        r.ndcg = rk.ndcg;
        r.map = rk.map;
        r.coverage = rk.coverage;
        r.ranked_users = rk.users;
        results.push(r);
    }
    let n = results.len() as f64;
    let mean = |f: &dyn Fn(&SplitResult) -> f64| results.iter().map(f).sum::<f64>() / n;
    let mut m = SplitResult {
        name: "mean".into(),
        train_rows: results.iter().map(|r| r.train_rows).sum::<usize>() / results.len(),
        test_rows: results.iter().map(|r| r.test_rows).sum::<usize>() / results.len(),
        train_seconds: mean(&|r| r.train_seconds),
        seconds_per_iteration: iterations
            .map(|_| mean(&|r| r.seconds_per_iteration.unwrap_or(0.0))),
        rmse: explicit.then(|| mean(&|r| r.rmse.unwrap_or(0.0))),
        mae: explicit.then(|| mean(&|r| r.mae.unwrap_or(0.0))),
        precision: mean(&|r| r.precision),
        recall: mean(&|r| r.recall),
        ndcg: mean(&|r| r.ndcg),
        map: mean(&|r| r.map),
        coverage: mean(&|r| r.coverage),
        ..Default::default()
    };
    m.unknown_test_users = results.iter().map(|r| r.unknown_test_users).sum();
    m.unknown_test_items = results.iter().map(|r| r.unknown_test_items).sum();
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "protocol": protocol,
                "k": a.k,
                "params": p,
                "threads": rayon::current_num_threads(),
                "splits": results,
                "mean": m,
            }))?
        );
        return Ok(Outcome::Clean);
    }
    println!("{} — {protocol}, k = {}", p.kind(), a.k);
    println!(
        "| split | train | test | train s | s/iter | RMSE | MAE | P@{k} | R@{k} | nDCG@{k} | MAP@{k} | coverage |",
        k = a.k
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let opt = |v: Option<f64>, d: usize| v.map_or("–".to_string(), |x| format!("{x:.d$}"));
    for r in results.iter().chain(std::iter::once(&m)) {
        println!(
            "| {} | {} | {} | {:.3} | {} | {} | {} | {:.4} | {:.4} | {:.4} | {:.4} | {:.3} |",
            r.name,
            r.train_rows,
            r.test_rows,
            r.train_seconds,
            opt(r.seconds_per_iteration, 4),
            opt(r.rmse, 4),
            opt(r.mae, 4),
            r.precision,
            r.recall,
            r.ndcg,
            r.map,
            r.coverage
        );
    }
    if m.unknown_test_users + m.unknown_test_items > 0 {
        println!(
            "test pairs with a user / item training never saw: {} / {} (predicted from the known biases, not dropped)",
            m.unknown_test_users, m.unknown_test_items
        );
    }
    Ok(Outcome::Clean)
}
