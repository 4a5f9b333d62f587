//! Weight of evidence, information value, Jensen–Shannon divergence and Gini, with
//! optbinning's conventions so our binning tables can be compared with theirs number by
//! number.
//!
//! ```text
//!   per bin i:  pₑ = eventᵢ / Σ event        (event share, "bad")
//!               qₙ = non-eventᵢ / Σ non-event (non-event share, "good")
//!   WoEᵢ = ln(qₙ / pₑ)                       positive = safer than average
//!   IVᵢ  = (pₑ − qₙ) · ln(pₑ / qₙ)           ≥ 0   (Jeffrey's divergence term)
//!   JSᵢ  = ½ [pₑ ln(pₑ/m) + qₙ ln(qₙ/m)],  m = (pₑ + qₙ) / 2
//! ```
//!
//! The sign: optbinning 1.0 computes `WoE = ln(1/event_rate − 1) + ln(Σevent/Σnon-event)`
//! (`binning_statistics.py`, `BinningTable.build`; the same line in the GitHub repository
//! `guillermo-navas-palencia/optbinning` at `cfe5e08`) which is `ln(non-event share /
//! event share)`: the non-event share on top, as above. Some wrappers around optbinning
//! document the opposite sign; the parity example compares signed WoE bin by bin with
//! optbinning's own table (difference ≤ 4e-16). A logistic model of the *event* on WoE
//! therefore has negative coefficients.
//!
//! Zero counts: optbinning does not smooth. A bin with no events or no non-events gets
//! WoE 0, IV 0 and JS 0 (its mask `(n_event > 0) & (n_nonevent > 0)`); an empty bin (the
//! special or missing bin when there are none) is the same. We do exactly that, which
//! also makes such bins neutral when scoring. The optimiser never creates pure bins: the
//! pre-binning merges pure pre-bins first, as optbinning's refinement does.

/// Counts of one bin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    /// Non-events ("good").
    pub nonevent: u64,
    /// Events ("bad").
    pub event: u64,
}

impl Counts {
    /// Records in the bin.
    pub fn total(&self) -> u64 {
        self.nonevent + self.event
    }

    /// Event rate (0 for an empty bin).
    pub fn event_rate(&self) -> f64 {
        if self.total() == 0 {
            0.0
        } else {
            self.event as f64 / self.total() as f64
        }
    }

    fn add(self, o: Counts) -> Counts {
        Counts {
            nonevent: self.nonevent + o.nonevent,
            event: self.event + o.event,
        }
    }
}

/// Sums counts.
pub fn sum(counts: &[Counts]) -> Counts {
    counts.iter().fold(Counts::default(), |a, &c| a.add(c))
}

/// WoE of a bin given the totals; 0 when the bin lacks events or non-events.
pub fn woe(c: Counts, total: Counts) -> f64 {
    if c.event == 0 || c.nonevent == 0 {
        return 0.0;
    }
    let p = c.event as f64 / total.event as f64;
    let q = c.nonevent as f64 / total.nonevent as f64;
    (q / p).ln()
}

/// IV term of a bin; 0 when the bin lacks events or non-events.
pub fn iv(c: Counts, total: Counts) -> f64 {
    if c.event == 0 || c.nonevent == 0 {
        return 0.0;
    }
    let p = c.event as f64 / total.event as f64;
    let q = c.nonevent as f64 / total.nonevent as f64;
    (p - q) * (p / q).ln()
}

/// Jensen–Shannon term of a bin; 0 when the bin lacks events or non-events.
pub fn js(c: Counts, total: Counts) -> f64 {
    if c.event == 0 || c.nonevent == 0 {
        return 0.0;
    }
    let p = c.event as f64 / total.event as f64;
    let q = c.nonevent as f64 / total.nonevent as f64;
    let m = 0.5 * (p + q);
    0.5 * (p * (p / m).ln() + q * (q / m).ln())
}

/// Gini of a binning as optbinning's `metrics.gini`: bins sorted by non-event rate,
/// `1 − Σ eᵢ (nᵢ + 2 Σ_{k<i} nₖ) / (E · N)`. Empty bins are ignored.
pub fn gini(counts: &[Counts]) -> f64 {
    let mut bins: Vec<Counts> = counts.iter().copied().filter(|c| c.total() > 0).collect();
    if bins.len() <= 1 {
        return 0.0;
    }
    let t = sum(&bins);
    // optbinning sorts by non-event rate with numpy's default (quicksort, not stable);
    // ties do not change the sum, which depends only on the order of distinct rates.
    bins.sort_by(|a, b| {
        let ra = a.nonevent as f64 / a.total() as f64;
        let rb = b.nonevent as f64 / b.total() as f64;
        ra.total_cmp(&rb)
    });
    let mut cum_ne = 0.0;
    let mut s = 0.0;
    for c in &bins {
        s += c.event as f64 * (c.nonevent as f64 + 2.0 * cum_ne);
        cum_ne += c.nonevent as f64;
    }
    1.0 - s / (t.event as f64 * t.nonevent as f64)
}

/// Per-bin and per-variable statistics of one binning.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BinStats {
    /// WoE per bin.
    pub woe: Vec<f64>,
    /// IV term per bin.
    pub iv: Vec<f64>,
    /// JS term per bin.
    pub js: Vec<f64>,
    /// Total IV.
    pub iv_total: f64,
    /// Total JS.
    pub js_total: f64,
    /// Gini of the binning.
    pub gini: f64,
}

impl BinStats {
    /// Statistics of `counts` (all bins, including special, missing and other bins).
    pub fn new(counts: &[Counts]) -> BinStats {
        let t = sum(counts);
        let woe: Vec<f64> = counts.iter().map(|&c| woe(c, t)).collect();
        let iv: Vec<f64> = counts.iter().map(|&c| iv(c, t)).collect();
        let js: Vec<f64> = counts.iter().map(|&c| js(c, t)).collect();
        BinStats {
            iv_total: iv.iter().sum(),
            js_total: js.iter().sum(),
            gini: gini(counts),
            woe,
            iv,
            js,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_zero_counts_follow_optbinning() {
        let bins = [
            Counts {
                nonevent: 90,
                event: 10,
            },
            Counts {
                nonevent: 50,
                event: 50,
            },
            Counts {
                nonevent: 0,
                event: 5,
            },
        ];
        let s = BinStats::new(&bins);
        assert!(s.woe[0] > 0.0, "a bin safer than average has positive WoE");
        assert!(s.woe[1] < 0.0);
        assert_eq!((s.woe[2], s.iv[2], s.js[2]), (0.0, 0.0, 0.0));
        assert!(s.iv.iter().all(|&v| v >= 0.0));
    }
}
