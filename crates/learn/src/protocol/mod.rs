//! Time-respecting evaluation protocols for fraud models: train / delay / test splits with
//! removal of cards already known to be compromised, and prequential folds.
//!
//! Why: a random split leaks the future into training and makes every fraud model look
//! good. Banks evaluate like production instead: train on a period, skip a delay period
//! (labels arrive late, so the freshest days cannot be trained on), test on the period
//! after. A card already known to be compromised is blocked in production, so its
//! transactions are removed from the test days; a card becomes known when a fraud on it is
//! revealed, which for the delay days happens one day at a time. This is the protocol of
//! the fraud-detection handbook (Le Borgne et al. 2022), chapters 3 and 5; the prequential
//! variant repeats the split shifted back by one test period per fold.
//!
//! Everything here works on per-row arrays (day index, card id, label) so it serves any
//! dataset: the CLI computes the day index from the event time and takes the card from
//! the entity column. [`Backtest`] runs learners over the folds (`riskstream backtest`).

mod backtest;

pub use backtest::{Backtest, BacktestResult, FoldScore};

use std::collections::HashSet;

/// Days of a train / delay / test split, as day indices (days since the Unix epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FoldSpec {
    /// First training day.
    pub train_start: i64,
    /// Training days.
    pub train_days: i64,
    /// Delay days between training and test (not trained on; frauds revealed daily).
    pub delay_days: i64,
    /// Test days.
    pub test_days: i64,
}

impl FoldSpec {
    /// First test day.
    pub fn test_start(&self) -> i64 {
        self.train_start + self.train_days + self.delay_days
    }
}

/// The rows of one fold.
#[derive(Debug, Clone, PartialEq)]
pub struct Fold {
    /// The days.
    pub spec: FoldSpec,
    /// Training rows, in input order.
    pub train: Vec<usize>,
    /// Test rows left after removing known-compromised cards, in input order.
    pub test: Vec<usize>,
    /// Test-period rows removed because their card was already known to be compromised.
    pub removed_known: usize,
}

/// Builds one fold. `days[i]` is row i's day index, `cards[i]` its card (customer) id,
/// `labels[i]` 1.0 for fraud.
///
/// A card is known on test day `T = test_start + d` when it had a fraud in the training
/// period or on any day up to `train_start + train_days + d − 1` — the delay days are
/// revealed one per test day, exactly as the handbook's `get_train_test_set`.
pub fn delayed_split(days: &[i64], cards: &[u64], labels: &[f64], spec: &FoldSpec) -> Fold {
    let train_end = spec.train_start + spec.train_days;
    let test_start = spec.test_start();
    let test_end = test_start + spec.test_days;
    let mut train = Vec::new();
    let mut known: HashSet<u64> = HashSet::new();
    // Frauds per day of the delay period (and the last training day), revealed one day at
    // a time as the test days advance.
    let mut revealed_by_day: std::collections::BTreeMap<i64, Vec<u64>> = Default::default();
    for (i, &d) in days.iter().enumerate() {
        if d >= spec.train_start && d < train_end {
            train.push(i);
            if labels[i] == 1.0 {
                known.insert(cards[i]);
            }
        }
        if labels[i] == 1.0 && d >= train_end && d < test_start + spec.test_days {
            revealed_by_day.entry(d).or_default().push(cards[i]);
        }
    }
    let mut test_by_day: Vec<Vec<usize>> = vec![Vec::new(); spec.test_days.max(0) as usize];
    for (i, &d) in days.iter().enumerate() {
        if d >= test_start && d < test_end {
            test_by_day[(d - test_start) as usize].push(i);
        }
    }
    let mut test = Vec::new();
    let mut removed_known = 0;
    for (k, rows) in test_by_day.into_iter().enumerate() {
        let reveal_day = train_end + k as i64 - 1;
        if reveal_day >= train_end {
            if let Some(cs) = revealed_by_day.get(&reveal_day) {
                known.extend(cs.iter().copied());
            }
        }
        for i in rows {
            if known.contains(&cards[i]) {
                removed_known += 1;
            } else {
                test.push(i);
            }
        }
    }
    test.sort_unstable();
    Fold {
        spec: *spec,
        train,
        test,
        removed_known,
    }
}

/// The prequential folds: fold `k` is `first` shifted back by `k × test_days` days
/// (fold 0 is the most recent), as the handbook's `prequential_split`.
pub fn prequential_specs(first: FoldSpec, n_folds: usize) -> Vec<FoldSpec> {
    (0..n_folds as i64)
        .map(|k| FoldSpec {
            train_start: first.train_start - k * first.test_days,
            ..first
        })
        .collect()
}

/// Mean and population standard deviation (ddof = 0, as numpy's default).
pub fn mean_std(v: &[f64]) -> (f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n;
    (m, var.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_cards_are_revealed_one_delay_day_per_test_day() {
        // Card 1 defrauded in training, card 2 on the first delay day (day 7), card 3 on the
        // last delay day (day 13). Test days 14..16.
        let spec = FoldSpec {
            train_start: 0,
            train_days: 7,
            delay_days: 7,
            test_days: 3,
        };
        let mut days = vec![3, 7, 13];
        let mut cards = vec![1, 2, 3];
        let mut labels = vec![1.0, 1.0, 1.0];
        for d in 14..17 {
            for c in 1..=4 {
                days.push(d);
                cards.push(c);
                labels.push(0.0);
            }
        }
        let f = delayed_split(&days, &cards, &labels, &spec);
        assert_eq!(f.train, vec![0]);
        let kept: Vec<(i64, u64)> = f.test.iter().map(|&i| (days[i], cards[i])).collect();
        // Day 14: card 1 known (training); card 2's fraud (day 7) becomes known on day 15.
        assert_eq!(
            kept,
            vec![
                (14, 2),
                (14, 3),
                (14, 4),
                (15, 3),
                (15, 4),
                (16, 3),
                (16, 4)
            ]
        );
        assert_eq!(f.removed_known, 5);
    }

    #[test]
    fn prequential_folds_step_back_by_the_test_period() {
        let first = FoldSpec {
            train_start: 100,
            train_days: 7,
            delay_days: 7,
            test_days: 7,
        };
        let s = prequential_specs(first, 4);
        assert_eq!(
            s.iter().map(|f| f.train_start).collect::<Vec<_>>(),
            vec![100, 93, 86, 79]
        );
        assert_eq!(mean_std(&[1.0, 3.0]), (2.0, 1.0));
    }
}
