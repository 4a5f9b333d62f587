//! Variable selection: keep characteristics that predict (IV high enough), distrust those
//! that predict too well (IV suspiciously high: often leakage), and drop the weaker of
//! two characteristics whose WoE columns move together.
//!
//! Greedy by IV: characteristics are visited from the highest IV down; one is kept when
//! its IV is within `[min_iv, max_iv]` and its WoE column's |Pearson correlation| with
//! every kept one is at most `max_corr`. A constant WoE column (one bin) is always dropped. The result says why each dropped one went.

use crate::error::{CreditError, Result};

/// Selection thresholds.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SelectParams {
    /// Least IV to keep (0.02 = "weak" in the usual reading).
    pub min_iv: f64,
    /// Most IV to keep (above 0.5 is "suspicious").
    pub max_iv: f64,
    /// Largest |correlation| allowed between kept WoE columns, in (0, 1].
    pub max_corr: f64,
}

impl Default for SelectParams {
    fn default() -> Self {
        SelectParams {
            min_iv: 0.02,
            max_iv: f64::INFINITY,
            max_corr: 0.7,
        }
    }
}

/// Why a characteristic was dropped.
#[derive(Debug, Clone, PartialEq)]
pub enum Dropped {
    /// The WoE column is constant (a single bin): nothing to learn from.
    Constant,
    /// IV below `min_iv`.
    LowIv(f64),
    /// IV above `max_iv`.
    HighIv(f64),
    /// Too correlated with a kept characteristic (name, correlation).
    Correlated(String, f64),
}

/// The outcome: kept indices (in IV order) and the dropped ones with reasons.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    /// Indices of kept characteristics, highest IV first.
    pub kept: Vec<usize>,
    /// Dropped indices with the reason.
    pub dropped: Vec<(usize, Dropped)>,
}

impl SelectParams {
    /// Refuses out-of-range values.
    pub fn check(&self) -> Result<()> {
        if !(self.min_iv >= 0.0 && self.min_iv <= self.max_iv) {
            return Err(CreditError::param(
                "min_iv",
                self.min_iv,
                "must be ≥ 0 and ≤ max_iv",
            ));
        }
        if !(self.max_corr > 0.0 && self.max_corr <= 1.0) {
            return Err(CreditError::param(
                "max_corr",
                self.max_corr,
                "must be in (0, 1]; 0.7 is usual",
            ));
        }
        Ok(())
    }

    /// Selects among characteristics with IVs `ivs` and WoE columns `woe` (parallel).
    pub fn select(&self, names: &[String], ivs: &[f64], woe: &[Vec<f64>]) -> Result<Selection> {
        self.check()?;
        if ivs.len() != woe.len() || names.len() != woe.len() {
            return Err(CreditError::LengthMismatch {
                what: "IVs, names and WoE columns".into(),
                expected: woe.len(),
                got: ivs.len().min(names.len()),
            });
        }
        let mut order: Vec<usize> = (0..ivs.len()).collect();
        order.sort_by(|&a, &b| ivs[b].total_cmp(&ivs[a]));
        let mut sel = Selection {
            kept: Vec::new(),
            dropped: Vec::new(),
        };
        for k in order {
            if woe[k].iter().all(|&w| w == woe[k][0]) {
                sel.dropped.push((k, Dropped::Constant));
                continue;
            }
            if ivs[k] < self.min_iv {
                sel.dropped.push((k, Dropped::LowIv(ivs[k])));
                continue;
            }
            if ivs[k] > self.max_iv {
                sel.dropped.push((k, Dropped::HighIv(ivs[k])));
                continue;
            }
            let clash = sel
                .kept
                .iter()
                .map(|&j| (j, pearson(&woe[k], &woe[j])))
                .find(|&(_, r)| r.abs() > self.max_corr);
            match clash {
                Some((j, r)) => sel
                    .dropped
                    .push((k, Dropped::Correlated(names[j].clone(), r))),
                None => sel.kept.push(k),
            }
        }
        Ok(sel)
    }
}

/// Pearson correlation; 0 when either column is constant.
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len()) as f64;
    if n == 0.0 {
        return 0.0;
    }
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    if saa == 0.0 || sbb == 0.0 {
        0.0
    } else {
        sab / (saa * sbb).sqrt()
    }
}
