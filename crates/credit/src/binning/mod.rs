//! Optimal binning of one characteristic against a binary target, with optbinning's
//! problem statement and an exact solver.
//!
//! ```text
//!  numeric:     values ─┬─ NaN ──────────────▶ missing bin
//!                       ├─ special codes ────▶ special bin
//!                       └─ clean ─▶ quantile pre-bins (20) ─▶ merge pure pre-bins
//!                                   ─▶ optimiser (max IV s.t. constraints) ─▶ splits
//!  categorical: levels ─┬─ missing ──────────▶ missing bin
//!                       ├─ share < cat_cutoff ▶ other bin (also: unseen levels later)
//!                       └─ one pre-bin per level, ordered by event rate
//!                                   ─▶ merge pure pre-bins ─▶ optimiser (ascending)
//! ```
//!
//! The optimiser ([`optimize`]) is a dynamic programme over the pre-bins rather than
//! optbinning's CP-SAT model: every constraint here (min bin size, max bins, monotone /
//! peak / valley trend, min p-value between neighbours, user-fixed splits) concerns one
//! bin or two neighbouring bins, so the programme finds the *exact* maximum-IV binning
//! in O(K·n³) steps on n pre-bins, without a solver or a time limit. See
//! [`optimize`] for the recurrence.
//!
//! Why quantile pre-bins by default and not optbinning's CART pre-bins: they do not
//! depend on the target, so a binning refitted on a new sample moves only where the data
//! moved, and the optimiser (exact) does the supervised part. CART pre-bins
//! ([`Prebinning::Cart`]) are there for parity with optbinning and because their
//! label-chosen cut points can reach a higher IV on skewed variables.

mod fitted;
pub mod optimize;
mod prebin;

pub(crate) use fitted::fmt_num as fmt_sql_num;
pub use fitted::{Assigned, Bin, BinKind, Binning, Rule};
pub use optimize::{pvalue, Trend};

use crate::data::Column;
use crate::error::{CreditError, Result};
use crate::woe::Counts;

/// Pre-bin index ranges, one per bin.
type Bins = Vec<(usize, usize)>;

/// How numeric pre-bins are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prebinning {
    /// Quantiles of the values, blind to the target.
    #[default]
    Quantile,
    /// A one-variable classification tree (optbinning's default): cut points chosen
    /// with the labels.
    Cart,
}

/// Hyper-parameters of the binning; checked by [`BinningParams::check`] before any data
/// is read.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BinningParams {
    /// Pre-bins of a numeric variable (≥ 2).
    pub max_n_prebins: usize,
    /// How numeric pre-bins are cut.
    pub prebinning: Prebinning,
    /// Smallest CART pre-bin as a fraction of all rows, in (0, 0.5].
    pub min_prebin_size: f64,
    /// Smallest regular bin as a fraction of all rows, in (0, 0.5]; `None` = no limit.
    /// When the regular (not special, not missing) values are fewer than that, they make
    /// one bin.
    pub min_bin_size: Option<f64>,
    /// Most regular bins (≥ 1); `None` = as many as pre-bins.
    pub max_n_bins: Option<usize>,
    /// Fewest regular bins (≥ 1).
    pub min_n_bins: Option<usize>,
    /// Event-rate trend of a numeric variable. Categorical variables are ordered by event
    /// rate, so any trend other than `None` means ascending for them.
    pub monotonic_trend: Trend,
    /// Neighbouring bins must differ with a p-value at most this (two-proportion
    /// z-test, ≡ χ² without continuity correction), in (0, 1].
    pub max_pvalue: Option<f64>,
    /// Numeric values with a meaning of their own, binned apart (e.g. −1, 999).
    pub special_codes: Vec<f64>,
    /// Split points to use instead of quantile pre-bins (numeric).
    pub user_splits: Option<Vec<f64>>,
    /// Split points the result must keep (numeric); added to the pre-bins.
    pub fixed_splits: Vec<f64>,
    /// Categories with a smaller share of the non-missing rows go to the other bin, in
    /// (0, 1]; `None` = none.
    pub cat_cutoff: Option<f64>,
}

impl Default for BinningParams {
    fn default() -> Self {
        BinningParams {
            max_n_prebins: 20,
            prebinning: Prebinning::Quantile,
            min_prebin_size: 0.05,
            min_bin_size: Some(0.05),
            max_n_bins: None,
            min_n_bins: None,
            monotonic_trend: Trend::Auto,
            max_pvalue: None,
            special_codes: Vec::new(),
            user_splits: None,
            fixed_splits: Vec::new(),
            cat_cutoff: None,
        }
    }
}

impl BinningParams {
    /// Refuses out-of-range values, naming the parameter.
    pub fn check(&self) -> Result<()> {
        if self.max_n_prebins < 2 {
            return Err(CreditError::param(
                "max_n_prebins",
                self.max_n_prebins,
                "must be at least 2 (20 is usual)",
            ));
        }
        if !(self.min_prebin_size > 0.0 && self.min_prebin_size <= 0.5) {
            return Err(CreditError::param(
                "min_prebin_size",
                self.min_prebin_size,
                "must be in (0, 0.5]; 0.05 is usual",
            ));
        }
        if let Some(s) = self.min_bin_size {
            if !(s > 0.0 && s <= 0.5) {
                return Err(CreditError::param(
                    "min_bin_size",
                    s,
                    "must be in (0, 0.5]; 0.05 is usual",
                ));
            }
        }
        if self.max_n_bins == Some(0) {
            return Err(CreditError::param("max_n_bins", 0, "must be at least 1"));
        }
        if let (Some(lo), Some(hi)) = (self.min_n_bins, self.max_n_bins) {
            if lo > hi {
                return Err(CreditError::param(
                    "min_n_bins",
                    lo,
                    format!("must not exceed max_n_bins = {hi}"),
                ));
            }
        }
        if let Some(p) = self.max_pvalue {
            if !(p > 0.0 && p <= 1.0) {
                return Err(CreditError::param(
                    "max_pvalue",
                    p,
                    "must be in (0, 1]; 0.05 is usual",
                ));
            }
        }
        if let Some(c) = self.cat_cutoff {
            if !(c > 0.0 && c <= 1.0) {
                return Err(CreditError::param(
                    "cat_cutoff",
                    c,
                    "must be in (0, 1]; 0.01–0.05 is usual",
                ));
            }
        }
        let all_splits = self.user_splits.iter().flatten().chain(&self.fixed_splits);
        if let Some(bad) = all_splits
            .chain(&self.special_codes)
            .find(|x| !x.is_finite())
        {
            return Err(CreditError::param(
                "user_splits / fixed_splits / special_codes",
                bad,
                "must be finite numbers",
            ));
        }
        Ok(())
    }

    /// Fits the binning of column `name` against `y` (true = event).
    pub fn fit(&self, name: &str, x: &Column, y: &[bool]) -> Result<Binning> {
        self.check()?;
        check_xy(name, x, y)?;
        match x {
            Column::Numeric(v) => self.fit_numeric(name, v, y),
            Column::Categorical(v) => self.fit_categorical(name, v, y),
        }
    }

    fn min_size(&self, n: usize) -> u64 {
        self.min_bin_size
            .map_or(0, |s| (s * n as f64).ceil() as u64)
    }

    fn fit_numeric(&self, name: &str, x: &[f64], y: &[bool]) -> Result<Binning> {
        let (mut special, mut missing) = (Counts::default(), Counts::default());
        let mut clean: Vec<(f64, bool)> = Vec::with_capacity(x.len());
        for (&v, &e) in x.iter().zip(y) {
            let slot = if v.is_nan() {
                &mut missing
            } else if self.special_codes.contains(&v) {
                &mut special
            } else {
                clean.push((v, e));
                continue;
            };
            if e {
                slot.event += 1;
            } else {
                slot.nonevent += 1;
            }
        }
        clean.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        if clean.first().map(|c| c.0) == clean.last().map(|c| c.0) {
            let detail = match clean.first() {
                Some(c) => format!("every non-missing value is {}", c.0),
                None => "no value is present".into(),
            };
            return Err(CreditError::ConstantColumn {
                column: name.into(),
                detail,
            });
        }
        let splits = self.prebin_splits_sorted(&clean, x.len());
        let mut counts = prebin::count(&clean, &splits);
        let removed = prebin::refine(&mut counts);
        if let Some(&b) = removed
            .iter()
            .find(|&&b| self.fixed_splits.contains(&splits[b]))
        {
            return Err(CreditError::Infeasible {
                column: name.into(),
                reason: format!("fixed split {} leaves a bin with only one class", splits[b]),
            });
        }
        let splits: Vec<f64> = splits
            .iter()
            .enumerate()
            .filter(|(b, _)| !removed.contains(b))
            .map(|(_, &s)| s)
            .collect();
        let fixed: Vec<bool> = splits
            .iter()
            .map(|s| self.fixed_splits.contains(s))
            .collect();
        let trends: &[Trend] = match self.monotonic_trend {
            Trend::Auto => &[Trend::Ascending, Trend::Descending],
            ref t => std::slice::from_ref(t),
        };
        let (bins, trend) = self.best_of(name, &counts, &fixed, x.len(), trends)?;
        let kept: Vec<f64> = bins.iter().skip(1).map(|&(i, _)| splits[i - 1]).collect();
        let mut all: Vec<Counts> = bins
            .iter()
            .map(|&(i, j)| crate::woe::sum(&counts[i..=j]))
            .collect();
        all.push(special);
        all.push(missing);
        Ok(Binning::from_counts(
            name,
            Rule::Numeric { splits: kept },
            self.special_codes.clone(),
            &all,
            trend,
        ))
    }

    /// The pre-bin split points of a numeric column (before pure pre-bins are merged):
    /// quantiles or CART cuts of the non-missing, non-special values, or `user_splits`,
    /// plus `fixed_splits`. Exposed so a peer optimiser can start from the same pre-bins.
    pub fn prebin_splits(&self, x: &[f64], y: &[bool]) -> Vec<f64> {
        let mut clean: Vec<(f64, bool)> = x
            .iter()
            .zip(y)
            .filter(|(v, _)| !v.is_nan() && !self.special_codes.contains(v))
            .map(|(&v, &e)| (v, e))
            .collect();
        clean.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        self.prebin_splits_sorted(&clean, x.len())
    }

    fn prebin_splits_sorted(&self, sorted: &[(f64, bool)], n_rows: usize) -> Vec<f64> {
        let mut splits = match (&self.user_splits, self.prebinning) {
            (Some(u), _) => u.clone(),
            (None, Prebinning::Quantile) => {
                let xs: Vec<f64> = sorted.iter().map(|c| c.0).collect();
                prebin::quantile_splits(&xs, self.max_n_prebins)
            }
            (None, Prebinning::Cart) => {
                let min_leaf = (self.min_prebin_size * n_rows as f64).ceil() as usize;
                prebin::cart_splits(sorted, self.max_n_prebins, min_leaf)
            }
        };
        splits.extend(&self.fixed_splits);
        splits.sort_by(f64::total_cmp);
        splits.dedup();
        splits
    }

    fn fit_categorical(&self, name: &str, x: &[Option<String>], y: &[bool]) -> Result<Binning> {
        let mut missing = Counts::default();
        let mut levels: std::collections::BTreeMap<&str, Counts> = Default::default();
        for (v, &e) in x.iter().zip(y) {
            let slot = match v {
                None => &mut missing,
                Some(s) => levels.entry(s.as_str()).or_default(),
            };
            if e {
                slot.event += 1;
            } else {
                slot.nonevent += 1;
            }
        }
        if levels.len() < 2 {
            let detail = match levels.keys().next() {
                Some(l) => format!("every non-missing value is `{l}`"),
                None => "no value is present".into(),
            };
            return Err(CreditError::ConstantColumn {
                column: name.into(),
                detail,
            });
        }
        let n_clean: u64 = levels.values().map(Counts::total).sum();
        let cutoff = self
            .cat_cutoff
            .map_or(0, |c| (c * n_clean as f64).ceil() as u64);
        let (mut other_counts, mut other) = (Counts::default(), Vec::new());
        let mut kept: Vec<(&str, Counts)> = Vec::new();
        for (l, c) in levels {
            if c.total() < cutoff {
                other.push(l.to_string());
                other_counts = crate::woe::sum(&[other_counts, c]);
            } else {
                kept.push((l, c));
            }
        }
        if kept.is_empty() {
            return Err(CreditError::Infeasible {
                column: name.into(),
                reason: "cat_cutoff moves every category to the other bin".into(),
            });
        }
        // Ascending event rate; ties by name (the sort is stable, levels came sorted).
        kept.sort_by(|a, b| a.1.event_rate().total_cmp(&b.1.event_rate()));
        let mut groups: Vec<Vec<String>> = kept.iter().map(|(l, _)| vec![l.to_string()]).collect();
        let mut counts: Vec<Counts> = kept.iter().map(|k| k.1).collect();
        for b in prebin::refine(&mut counts.clone()).into_iter().rev() {
            let right = groups.remove(b + 1);
            groups[b].extend(right);
        }
        prebin::refine(&mut counts);
        let trend = match self.monotonic_trend {
            Trend::None => Trend::None,
            _ => Trend::Ascending,
        };
        let fixed = vec![false; counts.len().saturating_sub(1)];
        let (bins, trend) = self.best_of(name, &counts, &fixed, x.len(), &[trend])?;
        let final_groups: Vec<Vec<String>> =
            bins.iter().map(|&(i, j)| groups[i..=j].concat()).collect();
        let mut all: Vec<Counts> = bins
            .iter()
            .map(|&(i, j)| crate::woe::sum(&counts[i..=j]))
            .collect();
        all.extend([other_counts, Counts::default(), missing]);
        let rule = Rule::Categorical {
            groups: final_groups,
            other,
        };
        Ok(Binning::from_counts(name, rule, Vec::new(), &all, trend))
    }

    /// Solves for each trend and keeps the best IV (the first on a tie).
    fn best_of(
        &self,
        name: &str,
        counts: &[Counts],
        fixed: &[bool],
        n_rows: usize,
        trends: &[Trend],
    ) -> Result<(Bins, Trend)> {
        let mut best: Option<(Bins, f64, Trend)> = None;
        // When the regular values are fewer than one bin's minimum (a column that is
        // almost all special or missing values, e.g. `pdays = 999`), they make one bin
        // rather than no binning at all.
        let regular: u64 = counts.iter().map(Counts::total).sum();
        let min_bin_size = self.min_size(n_rows).min(regular);
        for &trend in trends {
            let problem = optimize::Problem {
                prebins: counts,
                min_bin_size,
                max_n_bins: self.max_n_bins.unwrap_or(usize::MAX),
                min_n_bins: self.min_n_bins.unwrap_or(1),
                trend,
                max_pvalue: self.max_pvalue,
                fixed,
            };
            if let Some((bins, v)) = optimize::solve(&problem) {
                if best.as_ref().is_none_or(|b| v > b.1) {
                    best = Some((bins, v, trend));
                }
            }
        }
        let (bins, _, trend) = best.ok_or_else(|| CreditError::Infeasible {
            column: name.into(),
            reason: format!(
                "min_bin_size {:?}, max_n_bins {:?}, min_n_bins {:?}, max_pvalue {:?}, trend {:?}",
                self.min_bin_size,
                self.max_n_bins,
                self.min_n_bins,
                self.max_pvalue,
                self.monotonic_trend
            ),
        })?;
        Ok((bins, trend))
    }
}

/// The binning of a numeric column at given splits, without optimising: counts, WoE and
/// IV for someone else's split points (used to compare with optbinning).
pub fn from_splits(
    name: &str,
    x: &[f64],
    y: &[bool],
    splits: &[f64],
    special_codes: &[f64],
) -> Result<Binning> {
    check_xy(name, &Column::Numeric(x.to_vec()), y)?;
    let rule = Rule::Numeric {
        splits: splits.to_vec(),
    };
    let mut counts = vec![Counts::default(); splits.len() + 3];
    let probe = Binning::from_counts(
        name,
        rule.clone(),
        special_codes.to_vec(),
        &counts,
        Trend::None,
    );
    for (&v, &e) in x.iter().zip(y) {
        let k = probe.assign(crate::data::Value::Num(v)).bin;
        if e {
            counts[k].event += 1;
        } else {
            counts[k].nonevent += 1;
        }
    }
    Ok(Binning::from_counts(
        name,
        rule,
        special_codes.to_vec(),
        &counts,
        Trend::None,
    ))
}

/// The binning of a categorical column with given groups (the rest go to the other bin).
pub fn from_groups(
    name: &str,
    x: &[Option<String>],
    y: &[bool],
    groups: &[Vec<String>],
) -> Result<Binning> {
    check_xy(name, &Column::Categorical(x.to_vec()), y)?;
    let rule = Rule::Categorical {
        groups: groups.to_vec(),
        other: Vec::new(),
    };
    let mut counts = vec![Counts::default(); groups.len() + 3];
    let probe = Binning::from_counts(name, rule.clone(), Vec::new(), &counts, Trend::None);
    for (v, &e) in x.iter().zip(y) {
        let k = probe.assign(crate::data::Value::Cat(v.as_deref())).bin;
        if e {
            counts[k].event += 1;
        } else {
            counts[k].nonevent += 1;
        }
    }
    Ok(Binning::from_counts(
        name,
        rule,
        Vec::new(),
        &counts,
        Trend::None,
    ))
}

fn check_xy(name: &str, x: &Column, y: &[bool]) -> Result<()> {
    if x.is_empty() {
        return Err(CreditError::Empty {
            what: format!("column `{name}`"),
        });
    }
    if x.len() != y.len() {
        return Err(CreditError::LengthMismatch {
            what: format!("column `{name}` against the label"),
            expected: y.len(),
            got: x.len(),
        });
    }
    let events = y.iter().filter(|&&e| e).count();
    if events == 0 || events == y.len() {
        return Err(CreditError::OneClass {
            column: "label".into(),
            class: if events == 0 { "non-events" } else { "events" },
        });
    }
    Ok(())
}
