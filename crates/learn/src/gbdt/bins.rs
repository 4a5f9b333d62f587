//! Quantile bins: per feature a sorted list of upper bounds, and the training rows binned
//! to one byte each, stored column by column. Random forests reuse them (`forest.rs`).
//!
//! Bin `b` holds the values `v` with `upper[b-1] < v <= upper[b]` (the last bin is open
//! above). `BinSearch` finds it with the comparison `upper < v`, so "bin ≤ b" is exactly
//! `v <= upper[b]`: the tree stores `upper[b]` as a `LessEqual` threshold and a raw row
//! always takes the branch its bin took in training. Upper bounds sit at the midpoint of
//! the two neighbouring distinct values, as LightGBM's, so unseen values between them are
//! split evenly; or, with [`BinPlacement::Quantile`], just below data values at evenly
//! spaced ranks of every row; or, with [`BinPlacement::Sketch`], at XGBoost `hist`'s own
//! cuts (its quantile sketch, reproduced in `sketch.rs`), just below what reads as each
//! cut in `f32`.

use super::BinPlacement;
use crate::data::Matrix;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;

/// Rows sampled to place bin edges (LightGBM's `bin_construct_sample_cnt`).
pub(super) const BIN_SAMPLE_ROWS: usize = 200_000;

/// A threshold `m` with `a <= m < b` for `a < b`: `x <= m` separates them. Near the
/// midpoint; falls back to `a` where rounding would put it on `b`.
#[inline]
pub(super) fn midpoint_le(a: f64, b: f64) -> f64 {
    let m = a / 2.0 + b / 2.0;
    if m >= a && m < b {
        m
    } else {
        a
    }
}

/// Finds the bin of a value: the number of upper bounds strictly below it. The bounds
/// are padded to 256 with +∞ and searched in eight fixed halvings without branches, so
/// binning millions of values does not pay a mispredicted branch per step.
struct BinSearch([f64; 256]);

impl BinSearch {
    fn new(upper: &[f64]) -> Self {
        let mut a = [f64::INFINITY; 256];
        a[..upper.len()].copy_from_slice(upper);
        BinSearch(a)
    }

    #[inline]
    fn bin(&self, v: f64) -> u8 {
        let mut i = 0usize;
        for step in [128, 64, 32, 16, 8, 4, 2, 1] {
            // The number of bounds below v is at least i + step when this one is.
            i += usize::from(self.0[i + step - 1] < v) * step;
        }
        i as u8
    }
}

/// Training rows binned per feature.
#[derive(Debug)]
pub(crate) struct Binned {
    /// Upper bounds per feature (`n_bins - 1` of them, strictly increasing).
    pub upper: Vec<Vec<f64>>,
    /// Bin of every row, one column per feature.
    pub cols: Vec<Vec<u8>>,
}

impl Binned {
    /// Places at most `max_bins` bins per feature from (a seeded sample of) the rows of
    /// `x` as `placement` says, then bins every row.
    pub fn build(x: &Matrix, max_bins: usize, seed: u64, placement: BinPlacement) -> Binned {
        let n = x.n_rows();
        let f = x.n_cols();
        let sample: Vec<usize> = if n > BIN_SAMPLE_ROWS && placement == BinPlacement::Greedy {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x5EED_B105);
            let mut s = rand::seq::index::sample(&mut rng, n, BIN_SAMPLE_ROWS).into_vec();
            s.sort_unstable();
            s
        } else {
            (0..n).collect()
        };
        let mut values: Vec<Vec<f64>> = vec![Vec::with_capacity(sample.len()); f];
        for &i in &sample {
            for (j, &v) in x.row(i).iter().enumerate() {
                values[j].push(v);
            }
        }
        let upper: Vec<Vec<f64>> = values
            .into_par_iter()
            .map(|mut v| match placement {
                // The sketch reads the values in row order, as XGBoost pushes them.
                BinPlacement::Sketch => super::sketch::cuts(&v, max_bins)
                    .into_iter()
                    .map(super::sketch::below)
                    .collect(),
                BinPlacement::Greedy => {
                    v.sort_unstable_by(f64::total_cmp);
                    bounds(&v, max_bins)
                }
                BinPlacement::Quantile => {
                    v.sort_unstable_by(f64::total_cmp);
                    quantile_bounds(&v, max_bins)
                }
            })
            .collect();

        // Bin row-major blocks in parallel, then transpose: reads the matrix once.
        const BLOCK: usize = 8192;
        let search: Vec<BinSearch> = upper.iter().map(|u| BinSearch::new(u)).collect();
        let mut row_major = vec![0u8; n * f];
        if f > 0 {
            row_major
                .par_chunks_mut(BLOCK * f)
                .enumerate()
                .for_each(|(c, out)| {
                    let start = c * BLOCK;
                    for (k, o) in out.chunks_exact_mut(f).enumerate() {
                        for ((b, &v), u) in o.iter_mut().zip(x.row(start + k)).zip(&search) {
                            *b = u.bin(v);
                        }
                    }
                });
        }
        let cols: Vec<Vec<u8>> = (0..f)
            .into_par_iter()
            .map(|j| row_major.iter().skip(j).step_by(f).copied().collect())
            .collect();
        Binned { upper, cols }
    }

    /// Number of bins of feature `j`.
    pub fn n_bins(&self, j: usize) -> usize {
        self.upper[j].len() + 1
    }
}

/// Upper bounds for the sorted `values`: one bin per distinct value when they are few;
/// otherwise greedy quantiles where a value holding at least a bin's share of the rows
/// gets a bin of its own (LightGBM's `GreedyFindBin`, simplified).
fn bounds(values: &[f64], max_bins: usize) -> Vec<f64> {
    let mut distinct: Vec<f64> = Vec::new();
    let mut counts: Vec<usize> = Vec::new();
    for &v in values {
        match distinct.last() {
            Some(&last) if last == v => {
                if let Some(c) = counts.last_mut() {
                    *c += 1;
                }
            }
            _ => {
                distinct.push(v);
                counts.push(1);
            }
        }
    }
    let d = distinct.len();
    if d <= 1 {
        return Vec::new();
    }
    if d <= max_bins {
        return distinct
            .windows(2)
            .map(|w| midpoint_le(w[0], w[1]))
            .collect();
    }
    let mut out = Vec::with_capacity(max_bins - 1);
    let mut remaining_rows = values.len() as f64;
    let mut remaining_bins = max_bins as f64;
    let mut acc = 0usize;
    for i in 0..d - 1 {
        acc += counts[i];
        let target = remaining_rows / remaining_bins;
        if acc as f64 >= target || counts[i + 1] as f64 >= target {
            out.push(midpoint_le(distinct[i], distinct[i + 1]));
            remaining_rows -= acc as f64;
            remaining_bins -= 1.0;
            acc = 0;
            if out.len() + 1 >= max_bins {
                break;
            }
        }
    }
    out
}

/// XGBoost `hist`'s cuts for the sorted `values`: the values at ranks k·n/`max_bins`,
/// k = 1..`max_bins` − 1, each kept when above the smallest value and the previous cut (a
/// cut at the minimum would leave its lower bin empty). A row goes left of cut c when
/// x < c, which for every non-NaN x is x <= next_down(c): those are the upper bounds.
/// NaNs are not ranked.
fn quantile_bounds(values: &[f64], max_bins: usize) -> Vec<f64> {
    let finite: &[f64] = {
        // Sorted by total order: −NaN first, +NaN last.
        let lo = values.partition_point(|v| v.is_nan() && v.is_sign_negative());
        let hi = values.partition_point(|v| !(v.is_nan() && v.is_sign_positive()));
        &values[lo..hi.max(lo)]
    };
    let n = finite.len();
    let mut out = Vec::with_capacity(max_bins.saturating_sub(1));
    let Some(&min) = finite.first() else {
        return out;
    };
    let mut last = min;
    for k in 1..max_bins {
        let c = finite[(k * n / max_bins).min(n - 1)];
        if c > last {
            out.push(crate::compiled::next_down(c));
            last = c;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference definition: the number of bounds strictly below `v`.
    fn bin_of(upper: &[f64], v: f64) -> u8 {
        upper.partition_point(|&u| u < v) as u8
    }

    #[test]
    fn few_distinct_values_get_one_bin_each() {
        let v = [1.0, 1.0, 2.0, 3.0, 3.0, 3.0];
        let u = bounds(&v, 256);
        assert_eq!(u, vec![1.5, 2.5]);
        assert_eq!(bin_of(&u, 1.0), 0);
        assert_eq!(bin_of(&u, 1.5), 0);
        assert_eq!(bin_of(&u, 2.0), 1);
        assert_eq!(bin_of(&u, 3.0), 2);
        assert_eq!(bin_of(&u, 99.0), 2);
    }

    #[test]
    fn many_values_respect_max_bins_and_increase() {
        let v: Vec<f64> = (0..10_000).map(|i| ((i * 7919) % 10_007) as f64).collect();
        let mut s = v.clone();
        s.sort_unstable_by(f64::total_cmp);
        for mb in [2, 3, 16, 255, 256] {
            let u = bounds(&s, mb);
            assert!(u.len() < mb, "{} bounds for max_bins {mb}", u.len());
            assert!(u.len() + 1 >= mb / 2, "too few bins: {}", u.len());
            assert!(u.windows(2).all(|w| w[0] < w[1]));
        }
    }

    #[test]
    fn branchless_search_equals_bin_of() {
        let mut values: Vec<f64> = (0..3000)
            .map(|i| ((i * 7919) % 4001) as f64 / 7.0)
            .collect();
        values.sort_unstable_by(f64::total_cmp);
        for mb in [2, 3, 100, 256] {
            let u = bounds(&values, mb);
            let s = BinSearch::new(&u);
            let mut probes: Vec<f64> = u.clone();
            probes.extend(u.iter().map(|&b| f64::from_bits(b.to_bits() + 1)));
            probes.extend(u.iter().map(|&b| f64::from_bits(b.to_bits() - 1)));
            probes.extend([f64::MIN, -1.0, 0.0, 1e9, f64::MAX, f64::INFINITY]);
            for v in probes {
                assert_eq!(s.bin(v), bin_of(&u, v), "v={v} max_bins={mb}");
            }
        }
    }

    #[test]
    fn quantile_cuts_sit_at_data_values_and_bin_like_xgboost() {
        // 1..=1000: cuts at ranks k·1000/8 are the values 126, 251, ..., 876.
        let v: Vec<f64> = (1..=1000).map(f64::from).collect();
        let u = quantile_bounds(&v, 8);
        let cuts: Vec<f64> = (1..8).map(|k| f64::from(k * 125 + 1)).collect();
        assert_eq!(
            u,
            cuts.iter()
                .map(|&c| crate::compiled::next_down(c))
                .collect::<Vec<_>>()
        );
        // A value equal to a cut goes right of it (x < c is false), as in XGBoost.
        for (b, &c) in cuts.iter().enumerate() {
            assert_eq!(bin_of(&u, c), b as u8 + 1);
            assert_eq!(bin_of(&u, crate::compiled::next_down(c)), b as u8);
        }
        // Each bin holds n / max_bins rows.
        let mut counts = [0usize; 8];
        for &x in &v {
            counts[bin_of(&u, x) as usize] += 1;
        }
        assert_eq!(counts, [125; 8]);
    }

    #[test]
    fn quantile_cuts_merge_repeats_and_skip_the_minimum_and_nan() {
        // Half the rows are 0 (the minimum): no cut at 0; then 1..=100 twice each.
        let mut v = vec![0.0; 200];
        v.extend((1..=100).flat_map(|i| [f64::from(i); 2]));
        v.push(f64::NAN);
        v.sort_unstable_by(f64::total_cmp);
        let u = quantile_bounds(&v, 16);
        assert!(u.len() < 16);
        assert!(u.windows(2).all(|w| w[0] < w[1]));
        assert!(u.iter().all(|&b| b > 0.0 && b.is_finite()));
        assert_eq!(bin_of(&u, 0.0), 0);
        assert!(quantile_bounds(&[f64::NAN], 16).is_empty());
        assert!(quantile_bounds(&[3.0; 10], 16).is_empty());
    }

    #[test]
    fn heavy_value_gets_its_own_bin() {
        let mut v = vec![0.0; 5000];
        v.extend((1..=5000).map(|i| i as f64));
        let u = bounds(&v, 16);
        assert_eq!(u[0], 0.5);
    }

    #[test]
    fn midpoint_separates_adjacent_floats() {
        let a = 1.0f64;
        let b = f64::from_bits(a.to_bits() + 1);
        let m = midpoint_le(a, b);
        assert!((a..b).contains(&m));
        let m = midpoint_le(-f64::MAX, f64::MAX);
        assert!((-f64::MAX..f64::MAX).contains(&m));
    }
}
