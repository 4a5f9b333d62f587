//! Monitoring a scorecard: does it still rank (KS, Gini, AUC), is it still calibrated
//! (observed bad rate against mean PD per score band), and has the population moved
//! (PSI on the score, CSI per characteristic)?
//!
//! AUC and KS come from `riskstream_core::metrics::Curve`, the one exact implementation
//! the workspace shares; Gini = 2·AUC − 1. PSI and CSI are
//! `Σ (aₖ − eₖ) · ln(aₖ / eₖ)` over bins k of the expected (development) and actual
//! shares; a bin empty on one side would make it infinite, so shares are floored at
//! 0.0001 (a common convention; it is the only smoothing here).

use crate::data::Table;
use crate::error::Result;
use crate::scorecard::Scorecard;
use riskstream_core::metrics::Curve;

/// Ranking power of PDs against outcomes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Discrimination {
    /// ROC AUC.
    pub auc: f64,
    /// 2·AUC − 1 (accuracy ratio).
    pub gini: f64,
    /// Kolmogorov–Smirnov statistic.
    pub ks: f64,
}

/// AUC, Gini and KS of `pd` (higher = riskier) against `bad`.
pub fn discrimination(pd: &[f64], bad: &[bool]) -> Discrimination {
    let curve = Curve::new(pd, bad);
    let auc = curve.auc();
    Discrimination {
        auc,
        gini: 2.0 * auc - 1.0,
        ks: curve.ks(),
    }
}

/// One score band of a calibration table.
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    /// Lowest score in the band (inclusive).
    pub lo: f64,
    /// Upper edge (exclusive; +∞ for the last band).
    pub hi: f64,
    /// Applicants in the band.
    pub n: usize,
    /// Mean predicted PD.
    pub mean_pd: f64,
    /// Observed bad rate.
    pub bad_rate: f64,
}

/// Quantile edges cutting `scores` into `k` bands of about equal size (distinct values).
pub fn quantile_edges(scores: &[f64], k: usize) -> Vec<f64> {
    let mut s: Vec<f64> = scores.iter().copied().filter(|x| x.is_finite()).collect();
    s.sort_by(f64::total_cmp);
    let mut edges: Vec<f64> = (1..k.max(1))
        .filter_map(|q| s.get(q * s.len() / k).copied())
        .collect();
    edges.dedup();
    edges
}

/// Calibration by score band: bands are `[−∞, e₀), [e₀, e₁), …, [e_last, ∞)`.
pub fn calibration(scores: &[f64], pd: &[f64], bad: &[bool], edges: &[f64]) -> Vec<Band> {
    let mut acc = vec![(0usize, 0.0f64, 0usize); edges.len() + 1];
    for ((&s, &p), &b) in scores.iter().zip(pd).zip(bad) {
        let k = edges.partition_point(|&e| e <= s);
        acc[k].0 += 1;
        acc[k].1 += p;
        acc[k].2 += usize::from(b);
    }
    acc.iter()
        .enumerate()
        .map(|(k, &(n, sp, nb))| Band {
            lo: if k == 0 {
                f64::NEG_INFINITY
            } else {
                edges[k - 1]
            },
            hi: edges.get(k).copied().unwrap_or(f64::INFINITY),
            n,
            mean_pd: if n == 0 { 0.0 } else { sp / n as f64 },
            bad_rate: if n == 0 { 0.0 } else { nb as f64 / n as f64 },
        })
        .collect()
}

/// Population stability index between two count vectors over the same bins.
pub fn psi_counts(expected: &[u64], actual: &[u64]) -> f64 {
    let (te, ta) = (
        expected.iter().sum::<u64>() as f64,
        actual.iter().sum::<u64>() as f64,
    );
    if te == 0.0 || ta == 0.0 {
        return 0.0;
    }
    expected
        .iter()
        .zip(actual)
        .map(|(&e, &a)| {
            let e = (e as f64 / te).max(1e-4);
            let a = (a as f64 / ta).max(1e-4);
            (a - e) * (a / e).ln()
        })
        .sum()
}

/// PSI of a score between a development sample and a recent one, over `bands` quantile
/// bands of the development scores.
pub fn psi(expected: &[f64], actual: &[f64], bands: usize) -> f64 {
    let edges = quantile_edges(expected, bands);
    let count = |xs: &[f64]| {
        let mut c = vec![0u64; edges.len() + 1];
        for &x in xs {
            c[edges.partition_point(|&e| e <= x)] += 1;
        }
        c
    };
    psi_counts(&count(expected), &count(actual))
}

/// CSI per characteristic of `card`: PSI of the attribute distribution between two tables.
pub fn csi(card: &Scorecard, expected: &Table, actual: &Table) -> Result<Vec<(String, f64)>> {
    let count = |t: &Table| -> Result<Vec<Vec<u64>>> {
        let cols = card.bind(t)?;
        Ok(card
            .characteristics
            .iter()
            .zip(cols)
            .map(|(c, k)| {
                let mut n = vec![0u64; c.binning.bins.len()];
                for i in 0..t.n_rows() {
                    n[c.binning.assign(t.columns[k].value(i)).bin] += 1;
                }
                n
            })
            .collect())
    };
    let (e, a) = (count(expected)?, count(actual)?);
    Ok(card
        .characteristics
        .iter()
        .zip(e.iter().zip(&a))
        .map(|(c, (e, a))| (c.name().to_string(), psi_counts(e, a)))
        .collect())
}
