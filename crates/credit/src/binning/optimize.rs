//! The exact optimiser: merge consecutive pre-bins into bins that maximise IV under the
//! constraints, by dynamic programming.
//!
//! optbinning states the problem as a CP-SAT / MIP model over assignment variables
//! xᵢⱼ ("pre-bin j ends up in the bin that ends at i"). With n pre-bins (20 by default)
//! the same optimum is reached by a dynamic programme, because every constraint we
//! support is either about one bin (size, no fixed split inside) or about two
//! *consecutive* bins (monotone event rate, the p-value between neighbours):
//!
//! ```text
//!   F[c][j][i][φ] = best Σ IV over pre-bins 0..=j cut into c bins, the last one i..=j,
//!                   φ = phase (peak/valley: before or after the turn)
//!   F[c][j][i][φ] = IV(i..=j) + max_{k ≤ i−1} F[c−1][i−1][k][φ']
//!                   over (k..=i−1, i..=j) allowed as neighbours (trend, p-value)
//!   answer        = max_{c ≤ max_n_bins, i, φ} F[c][n−1][i][φ]
//! ```
//!
//! That is O(K · n³) cheap steps (K = max bins; without a bound on the number of bins
//! the count is not tracked and it is O(n³)): microseconds for 20 pre-bins, and it is
//! exact, with no solver, no time limit and no integer scaling (optbinning rounds IV
//! and event rates to multiples of 1e-6 inside its model, and its monotone pre-solve
//! forbids some cuts, so its IV can be lower than ours; never higher on the same
//! pre-bins). Monotone trends are not strict (equal neighbouring rates are allowed), as
//! in optbinning.

use crate::woe::Counts;

/// Event-rate trend across the bins, in order of the variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trend {
    /// The better IV of ascending and descending (optbinning's `auto_asc_desc`).
    #[default]
    Auto,
    /// Event rate never decreases.
    Ascending,
    /// Event rate never increases.
    Descending,
    /// Rises, then falls.
    Peak,
    /// Falls, then rises.
    Valley,
    /// No trend constraint.
    None,
}

/// Constraints of one optimisation, in counts.
#[derive(Debug, Clone)]
pub(crate) struct Problem<'a> {
    /// Pre-bin counts, in order.
    pub prebins: &'a [Counts],
    /// Smallest bin (records).
    pub min_bin_size: u64,
    /// Most bins.
    pub max_n_bins: usize,
    /// Fewest bins.
    pub min_n_bins: usize,
    /// Resolved trend (not `Auto`).
    pub trend: Trend,
    /// Neighbours must differ with p-value ≤ this (two-proportion z-test).
    pub max_pvalue: Option<f64>,
    /// `fixed[b]`: the boundary after pre-bin b must stay a split.
    pub fixed: &'a [bool],
}

/// The chosen bins as pre-bin index ranges, and the objective (Σ IV over these bins with
/// shares of the pre-bins' totals), or `None` when no binning is feasible.
pub(crate) fn solve(p: &Problem<'_>) -> Option<(Vec<(usize, usize)>, f64)> {
    let n = p.prebins.len();
    if n == 0 {
        return Some((Vec::new(), 0.0));
    }
    let mut pre = vec![Counts::default(); n + 1];
    for (k, c) in p.prebins.iter().enumerate() {
        pre[k + 1] = Counts {
            nonevent: pre[k].nonevent + c.nonevent,
            event: pre[k].event + c.event,
        };
    }
    let total = pre[n];
    let range = |i: usize, j: usize| Counts {
        nonevent: pre[j + 1].nonevent - pre[i].nonevent,
        event: pre[j + 1].event - pre[i].event,
    };
    // Per-bin data, indexed [i][j] for i ≤ j.
    let idx = |i: usize, j: usize| i * n + j;
    let mut ok = vec![false; n * n];
    let mut ivs = vec![0.0; n * n];
    let mut rate = vec![0.0; n * n];
    for i in 0..n {
        let mut crosses_fixed = false;
        for j in i..n {
            if j > i && p.fixed.get(j - 1).copied().unwrap_or(false) {
                crosses_fixed = true;
            }
            let c = range(i, j);
            ok[idx(i, j)] = !crosses_fixed && c.total() >= p.min_bin_size && c.total() > 0;
            ivs[idx(i, j)] = crate::woe::iv(c, total);
            rate[idx(i, j)] = c.event_rate();
        }
    }
    // Without a bound on the number of bins the count need not be tracked: one layer,
    // fed from itself (O(n³) instead of O(K·n³)).
    let bounded = p.max_n_bins < n || p.min_n_bins > 1;
    let k_max = if bounded {
        p.max_n_bins.min(n).max(1)
    } else {
        1
    };
    let phases = match p.trend {
        Trend::Peak | Trend::Valley => 2,
        _ => 1,
    };
    // F and back-pointers: [c][j][i][φ], c in 1..=k_max.
    let sz = (k_max + 1) * n * n * phases;
    let at = |c: usize, j: usize, i: usize, ph: usize| ((c * n + j) * n + i) * phases + ph;
    let mut f = vec![f64::NEG_INFINITY; sz];
    let mut back: Vec<(u32, u8)> = vec![(u32::MAX, 0); sz];
    for j in 0..n {
        if ok[idx(0, j)] {
            f[at(1, j, 0, 0)] = ivs[idx(0, j)];
        }
    }
    let layers = if bounded { 2..=k_max } else { 1..=1 };
    for c in layers {
        let from = if bounded { c - 1 } else { c };
        for i in 1..n {
            for j in i..n {
                if !ok[idx(i, j)] {
                    continue;
                }
                let rb = rate[idx(i, j)];
                let cb = range(i, j);
                for k in 0..i {
                    for ph_prev in 0..phases {
                        let prev = f[at(from, i - 1, k, ph_prev)];
                        if prev == f64::NEG_INFINITY {
                            continue;
                        }
                        let ra = rate[idx(k, i - 1)];
                        if let Some(alpha) = p.max_pvalue {
                            if !significant(range(k, i - 1), cb, alpha) {
                                continue;
                            }
                        }
                        for ph in next_phases(p.trend, ph_prev, ra, rb) {
                            let v = prev + ivs[idx(i, j)];
                            let s = at(c, j, i, ph);
                            if v > f[s] {
                                f[s] = v;
                                back[s] = (k as u32, ph_prev as u8);
                            }
                        }
                    }
                }
            }
        }
    }
    let mut best: Option<(f64, usize, usize, usize)> = None;
    let lowest = if bounded { p.min_n_bins.max(1) } else { 1 };
    for c in lowest..=k_max {
        for i in 0..n {
            for ph in 0..phases {
                let v = f[at(c, n - 1, i, ph)];
                if v > f64::NEG_INFINITY && best.is_none_or(|b| v > b.0) {
                    best = Some((v, c, i, ph));
                }
            }
        }
    }
    let (value, mut c, mut i, mut ph) = best?;
    let mut j = n - 1;
    let mut bins = Vec::new();
    loop {
        bins.push((i, j));
        if i == 0 {
            break;
        }
        let (k, ph_prev) = back[at(c, j, i, ph)];
        j = i - 1;
        i = k as usize;
        ph = ph_prev as usize;
        if bounded {
            c -= 1;
        }
    }
    bins.reverse();
    Some((bins, value))
}

/// The phases the right bin may be in, given the left bin's phase and both rates.
fn next_phases(trend: Trend, ph_prev: usize, ra: f64, rb: f64) -> impl Iterator<Item = usize> {
    let (up, down) = (ra <= rb, ra >= rb);
    let allowed: [bool; 2] = match trend {
        Trend::Ascending => [up, false],
        Trend::Descending => [down, false],
        Trend::None | Trend::Auto => [true, false],
        // Peak: phase 0 rising, phase 1 falling; never back.
        Trend::Peak => {
            if ph_prev == 0 {
                [up, down]
            } else {
                [false, down]
            }
        }
        // Valley: phase 0 falling, phase 1 rising.
        Trend::Valley => {
            if ph_prev == 0 {
                [down, up]
            } else {
                [false, up]
            }
        }
    };
    (0..2).filter(move |&k| allowed[k])
}

/// Two-proportion z-test with pooled variance (the same statistic as Pearson's χ² on the
/// 2×2 table without continuity correction: z² = χ²). True when the p-value ≤ `alpha`,
/// i.e. the event rates of the two bins differ significantly. optbinning's
/// `test_proportions` rejects the pair when |z| < Φ⁻¹(1 − α/2): the same rule.
pub(crate) fn significant(a: Counts, b: Counts, alpha: f64) -> bool {
    pvalue(a, b) <= alpha
}

/// Two-sided p-value of the two-proportion z-test.
pub fn pvalue(a: Counts, b: Counts) -> f64 {
    let (n1, n2) = (a.total() as f64, b.total() as f64);
    let (p1, p2) = (a.event as f64 / n1, b.event as f64 / n2);
    let p = (a.event + b.event) as f64 / (n1 + n2);
    let var = p * (1.0 - p) * (1.0 / n1 + 1.0 / n2);
    if var <= 0.0 {
        return 1.0;
    }
    let z = (p1 - p2) / var.sqrt();
    libm::erfc(z.abs() / std::f64::consts::SQRT_2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(nonevent: u64, event: u64) -> Counts {
        Counts { nonevent, event }
    }

    /// Brute force over all 2^(n−1) cut sets, for checking the programme.
    fn brute(p: &Problem<'_>) -> Option<f64> {
        let n = p.prebins.len();
        let total = crate::woe::sum(p.prebins);
        let mut best: Option<f64> = None;
        for mask in 0u32..(1 << (n - 1)) {
            let mut bins = Vec::new();
            let mut start = 0;
            for b in 0..n {
                if b == n - 1 || mask & (1 << b) != 0 {
                    bins.push(crate::woe::sum(&p.prebins[start..=b]));
                    start = b + 1;
                }
            }
            let cuts: Vec<usize> = (0..n - 1).filter(|b| mask & (1 << b) != 0).collect();
            if p.fixed
                .iter()
                .enumerate()
                .any(|(b, &f)| f && !cuts.contains(&b))
            {
                continue;
            }
            if bins.len() > p.max_n_bins || bins.iter().any(|b| b.total() < p.min_bin_size) {
                continue;
            }
            let rates: Vec<f64> = bins.iter().map(|b| b.event_rate()).collect();
            let okt = match p.trend {
                Trend::Ascending => rates.windows(2).all(|w| w[0] <= w[1]),
                Trend::Descending => rates.windows(2).all(|w| w[0] >= w[1]),
                Trend::Peak => (0..rates.len()).any(|t| {
                    rates[..=t].windows(2).all(|w| w[0] <= w[1])
                        && rates[t..].windows(2).all(|w| w[0] >= w[1])
                }),
                Trend::Valley => (0..rates.len()).any(|t| {
                    rates[..=t].windows(2).all(|w| w[0] >= w[1])
                        && rates[t..].windows(2).all(|w| w[0] <= w[1])
                }),
                _ => true,
            };
            let okp = p
                .max_pvalue
                .is_none_or(|a| bins.windows(2).all(|w| significant(w[0], w[1], a)));
            if okt && okp {
                let v: f64 = bins.iter().map(|&b| crate::woe::iv(b, total)).sum();
                if best.is_none_or(|x| v > x) {
                    best = Some(v);
                }
            }
        }
        best
    }

    #[test]
    fn programme_matches_brute_force() {
        // A deterministic pseudo-random set of pre-bins.
        let mut s = 12345u64;
        let mut next = |m: u64| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 33) % m
        };
        for case in 0..60 {
            let n = 3 + (case % 8);
            let pre: Vec<Counts> = (0..n).map(|_| c(5 + next(60), 1 + next(30))).collect();
            let fixed: Vec<bool> = (0..n - 1).map(|_| next(9) == 0).collect();
            for trend in [
                Trend::Ascending,
                Trend::Descending,
                Trend::Peak,
                Trend::Valley,
                Trend::None,
            ] {
                let p = Problem {
                    prebins: &pre,
                    min_bin_size: 30 + next(40),
                    max_n_bins: if case % 4 == 0 {
                        usize::MAX
                    } else {
                        2 + (case % 5)
                    },
                    min_n_bins: 1,
                    trend,
                    max_pvalue: (case % 3 == 0).then_some(0.1),
                    fixed: &fixed,
                };
                let dp = solve(&p).map(|r| r.1);
                let bf = brute(&p);
                match (dp, bf) {
                    (Some(a), Some(b)) => {
                        assert!((a - b).abs() < 1e-12, "case {case} {trend:?}: {a} vs {b}")
                    }
                    (None, None) => {}
                    other => panic!("case {case} {trend:?}: {other:?}"),
                }
            }
        }
    }
}
