//! The backtest loop: each learner fitted on every fold's training rows and scored on its
//! test rows, with AUC, average precision and card precision@k per fold and as mean ± std
//! over the folds — the numbers the handbook publishes per protocol.
//!
//! ```text
//!  days, cards, labels ─▶ Backtest::new: one delayed_split per FoldSpec ─▶ folds
//!  (algorithm, params) + rows → Dataset ─▶ Backtest::evaluate: per fold fit (timed),
//!                                           predict_proba, metrics ─▶ BacktestResult
//! ```
//!
//! The rows become a [`Dataset`] through the caller's function (the command line builds it
//! from a loaded table), so this loop knows nothing of files, and the caller can print each
//! learner's line as soon as it is done.

use super::{delayed_split, mean_std, Fold, FoldSpec};
use crate::metrics::{average_precision, card_precision_at_k, roc_auc};
use crate::model::Algorithm;
use crate::{Dataset, LearnError};
use std::time::Instant;

/// Folds built once over a dataset's rows, ready to evaluate learners on.
#[derive(Debug)]
pub struct Backtest<'a> {
    days: &'a [i64],
    cards: &'a [u64],
    folds: Vec<Fold>,
    k: usize,
}

/// One learner's result on one fold.
#[derive(Debug, Clone, PartialEq)]
pub struct FoldScore {
    /// The fold's first training day (days since the Unix epoch).
    pub train_start: i64,
    /// ROC AUC on the test rows.
    pub auc: f64,
    /// Average precision on the test rows.
    pub average_precision: f64,
    /// Card precision@k, the mean over the test days.
    pub card_precision: f64,
    /// Seconds the fit took.
    pub train_seconds: f64,
}

/// One learner's result over every fold.
#[derive(Debug, Clone, PartialEq)]
pub struct BacktestResult {
    /// Per fold, in the order of the folds.
    pub folds: Vec<FoldScore>,
    /// ROC AUC: mean and population standard deviation over the folds.
    pub auc: (f64, f64),
    /// Average precision: mean and standard deviation.
    pub average_precision: (f64, f64),
    /// Card precision@k: mean and standard deviation.
    pub card_precision: (f64, f64),
    /// Mean seconds per fit.
    pub train_seconds: f64,
}

impl<'a> Backtest<'a> {
    /// Splits the rows once per spec (see [`delayed_split`]). `days[i]` is row i's day
    /// index, `cards[i]` its card, `labels[i]` 1.0 for fraud; `k` is the cards an
    /// investigator checks per day.
    pub fn new(
        days: &'a [i64],
        cards: &'a [u64],
        labels: &[f64],
        specs: &[FoldSpec],
        k: usize,
    ) -> Self {
        let folds = specs
            .iter()
            .map(|s| delayed_split(days, cards, labels, s))
            .collect();
        Backtest {
            days,
            cards,
            folds,
            k,
        }
    }

    /// The folds, in the order of the specs.
    pub fn folds(&self) -> &[Fold] {
        &self.folds
    }

    /// Fits `algorithm` with `params` on each fold's training rows and scores its test rows.
    /// `dataset(rows)` gives the model matrix and labels of those rows.
    pub fn evaluate<E: From<LearnError>>(
        &self,
        algorithm: Algorithm,
        params: &serde_json::Value,
        mut dataset: impl FnMut(&[usize]) -> Result<Dataset, E>,
    ) -> Result<BacktestResult, E> {
        let mut folds = Vec::new();
        for f in &self.folds {
            let train = dataset(&f.train)?;
            let test = dataset(&f.test)?;
            let t0 = Instant::now();
            let (model, _) = algorithm.fit_with_validation(params, &train, None)?;
            let secs = t0.elapsed().as_secs_f64();
            let p = model.predict_proba(&test.x)?;
            let d: Vec<i64> = f.test.iter().map(|&i| self.days[i]).collect();
            let c: Vec<u64> = f.test.iter().map(|&i| self.cards[i]).collect();
            folds.push(FoldScore {
                train_start: f.spec.train_start,
                auc: roc_auc(&p, &test.y)?,
                average_precision: average_precision(&p, &test.y)?,
                card_precision: card_precision_at_k(&d, &c, &p, &test.y, self.k)?.mean,
                train_seconds: secs,
            });
        }
        let col = |g: fn(&FoldScore) -> f64| mean_std(&folds.iter().map(g).collect::<Vec<_>>());
        Ok(BacktestResult {
            auc: col(|r| r.auc),
            average_precision: col(|r| r.average_precision),
            card_precision: col(|r| r.card_precision),
            train_seconds: col(|r| r.train_seconds).0,
            folds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Matrix;

    #[test]
    fn every_fold_is_scored_and_summarised() {
        // Two cards a day over 40 days; card 1's rows are frauds with a high feature value.
        let (mut days, mut cards, mut labels, mut x) = (vec![], vec![], vec![], vec![]);
        for d in 0..40 {
            for c in 0..6u64 {
                days.push(d);
                cards.push(c + 10 * d as u64);
                let fraud = c == 1;
                labels.push(if fraud { 1.0 } else { 0.0 });
                x.push(if fraud { 5.0 } else { c as f64 * 0.1 });
            }
        }
        let first = FoldSpec {
            train_start: 20,
            train_days: 7,
            delay_days: 3,
            test_days: 5,
        };
        let specs = super::super::prequential_specs(first, 3);
        let bt = Backtest::new(&days, &cards, &labels, &specs, 2);
        assert_eq!(bt.folds().len(), 3);
        let r = bt
            .evaluate(
                Algorithm::LogisticRegression,
                &serde_json::json!({}),
                |rows: &[usize]| -> Result<Dataset, LearnError> {
                    let m = Matrix::new(rows.len(), 1, rows.iter().map(|&i| x[i]).collect())?;
                    Dataset::new(
                        m,
                        rows.iter().map(|&i| labels[i]).collect(),
                        vec!["x".into()],
                    )
                },
            )
            .unwrap();
        assert_eq!(
            r.folds.iter().map(|f| f.train_start).collect::<Vec<_>>(),
            vec![20, 15, 10]
        );
        assert_eq!(r.auc, (1.0, 0.0));
        assert!(r.card_precision.0 > 0.0);
    }
}
