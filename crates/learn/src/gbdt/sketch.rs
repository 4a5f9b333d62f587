//! XGBoost `hist`'s cut placement, reproduced step by step (`BinPlacement::Sketch`).
//!
//! XGBoost 3.x does not cut at exact quantiles: each feature's values, read as `f32`
//! and pushed in row order, go through its weighted quantile sketch (`WQuantileSketch`
//! with `WQSummary`, `src/common/quantile.{h,cc}`), and the 255 cuts are read off the
//! pruned summary. The sketch is approximate (here its cuts sit about ±70 rows of
//! 500,000 from the exact ranks), so exact ranks move every cut a little, and a shift
//! of bins moves test metrics about as much as our remaining gap to XGBoost. This
//! module follows the C++ operation for operation, ranks in `f32` as XGBoost keeps them,
//! so the cuts are XGBoost's own; `tests` compares them on a fixture.
//!
//! The steps: values fill a queue of `2·limit` entries (equal neighbours merged); a
//! full queue is sorted into a summary and carried up a ladder of levels, each pruned
//! to `limit` entries, merging with the level above while the merge is too big (the
//! classic merge/prune scheme). At the end all levels are merged into one summary,
//! pruned to `min(n, 8·max_bins)` entries, then to `max_bins + 1`, and entries 1 to
//! `max_bins − 1` of that are the cuts. A row goes left of cut `c` when `f32(x) < c`.

/// Oversampling of the sketch against the bins (XGBoost's `WQSketch::kFactor`).
const K_FACTOR: f32 = 8.0;

/// One summary entry: the rank bounds of `value` (`WQSummary::Entry`).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Entry {
    rmin: f32,
    rmax: f32,
    wmin: f32,
    value: f32,
}

impl Entry {
    #[inline]
    fn rmin_next(&self) -> f32 {
        self.rmin + self.wmin
    }

    #[inline]
    fn rmax_prev(&self) -> f32 {
        self.rmax - self.wmin
    }
}

/// `WQSummary::SetPrune`: at most `maxsize` entries of `src` into `out`.
fn prune(src: &[Entry], maxsize: usize, out: &mut Vec<Entry>) {
    out.clear();
    if src.len() <= maxsize {
        out.extend_from_slice(src);
        return;
    }
    let last = src.len() - 1;
    let begin = src[0].rmax;
    let range = src[last].rmin - src[0].rmax;
    let n = maxsize - 1;
    out.push(src[0]);
    let (mut i, mut lastidx) = (1usize, 0usize);
    for k in 1..n {
        // The C++ computes this in `f32`: size_t operands converted to float.
        let dx2 = 2.0f32 * ((k as f32 * range) / n as f32 + begin);
        while i < last && dx2 >= src[i + 1].rmax + src[i + 1].rmin {
            i += 1;
        }
        if i == last {
            break;
        }
        if dx2 < src[i].rmin_next() + src[i + 1].rmax_prev() {
            if i != lastidx {
                out.push(src[i]);
                lastidx = i;
            }
        } else if i + 1 != lastidx {
            out.push(src[i + 1]);
            lastidx = i + 1;
        }
    }
    if lastidx != last {
        out.push(src[last]);
    }
}

/// `WQSummary::SetCombine`: the merged summary of `a` and `b` into `out`.
fn combine(a: &[Entry], b: &[Entry], out: &mut Vec<Entry>) {
    out.clear();
    if a.is_empty() {
        out.extend_from_slice(b);
        return;
    }
    if b.is_empty() {
        out.extend_from_slice(a);
        return;
    }
    let (mut i, mut j) = (0usize, 0usize);
    let (mut aprev_rmin, mut bprev_rmin) = (0.0f32, 0.0f32);
    while i < a.len() && j < b.len() {
        let (x, y) = (a[i], b[j]);
        if x.value == y.value {
            out.push(Entry {
                rmin: x.rmin + y.rmin,
                rmax: x.rmax + y.rmax,
                wmin: x.wmin + y.wmin,
                value: x.value,
            });
            aprev_rmin = x.rmin_next();
            bprev_rmin = y.rmin_next();
            i += 1;
            j += 1;
        } else if x.value < y.value {
            out.push(Entry {
                rmin: x.rmin + bprev_rmin,
                rmax: x.rmax + y.rmax_prev(),
                wmin: x.wmin,
                value: x.value,
            });
            aprev_rmin = x.rmin_next();
            i += 1;
        } else {
            out.push(Entry {
                rmin: y.rmin + aprev_rmin,
                rmax: y.rmax + x.rmax_prev(),
                wmin: y.wmin,
                value: y.value,
            });
            bprev_rmin = y.rmin_next();
            j += 1;
        }
    }
    if i < a.len() {
        let brmax = b[b.len() - 1].rmax;
        out.extend(a[i..].iter().map(|x| Entry {
            rmin: x.rmin + bprev_rmin,
            rmax: x.rmax + brmax,
            ..*x
        }));
    }
    if j < b.len() {
        let armax = a[a.len() - 1].rmax;
        out.extend(b[j..].iter().map(|y| Entry {
            rmin: y.rmin + aprev_rmin,
            rmax: y.rmax + armax,
            ..*y
        }));
    }
    // `FixError`: re-establish the rank invariants after rounding.
    let (mut prev_rmin, mut prev_rmax) = (0.0f32, 0.0f32);
    for e in out.iter_mut() {
        if e.rmin < prev_rmin {
            e.rmin = prev_rmin;
        } else {
            prev_rmin = e.rmin;
        }
        if e.rmax < prev_rmax {
            e.rmax = prev_rmax;
        }
        let rmin_next = e.rmin_next();
        if e.rmax < rmin_next {
            e.rmax = rmin_next;
        }
        prev_rmax = e.rmax;
    }
}

/// `WQSummary::Queue::MakeSummary`: the queue sorted, equal values merged.
fn summarize(queue: &mut [(f32, f32)], out: &mut Vec<Entry>) {
    queue.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    out.clear();
    let mut wsum = 0.0f32;
    let mut i = 0;
    while i < queue.len() {
        let mut j = i + 1;
        let mut w = queue[i].1;
        while j < queue.len() && queue[j].0 == queue[i].0 {
            w += queue[j].1;
            j += 1;
        }
        out.push(Entry {
            rmin: wsum,
            rmax: wsum + w,
            wmin: w,
            value: queue[i].0,
        });
        wsum += w;
        i = j;
    }
}

/// `QuantileSketchTemplate::LimitSizeLevel`: entries per level for `maxn` values.
fn limit_size(maxn: usize, eps: f64) -> usize {
    let mut nlevel = 1usize;
    loop {
        let limit = ((nlevel as f64 / eps).ceil() as usize + 1).min(maxn);
        if (1usize << nlevel).saturating_mul(limit) >= maxn {
            return limit;
        }
        nlevel += 1;
    }
}

/// One feature's sketch (`WQuantileSketch<float, float>`), unit weights.
struct Sketch {
    limit: usize,
    queue: Vec<(f32, f32)>,
    /// `level[0]` is scratch space, as in the C++.
    level: Vec<Vec<Entry>>,
    temp: Vec<Entry>,
    work: Vec<Entry>,
}

impl Sketch {
    fn new(maxn: usize, eps: f64) -> Sketch {
        let limit = limit_size(maxn, eps);
        Sketch {
            limit,
            queue: Vec::with_capacity(2 * limit),
            level: Vec::new(),
            temp: Vec::new(),
            work: Vec::new(),
        }
    }

    fn push(&mut self, x: f32) {
        if self.queue.len() == 2 * self.limit {
            summarize(&mut self.queue, &mut self.temp);
            self.queue.clear();
            self.push_temp();
        }
        match self.queue.last_mut() {
            Some(last) if last.0 == x => last.1 += 1.0,
            _ => self.queue.push((x, 1.0)),
        }
    }

    /// `PushTemp`: carries the summary in `temp` up the levels.
    fn push_temp(&mut self) {
        let mut l = 1;
        loop {
            while self.level.len() < l + 1 {
                self.level.push(Vec::new());
            }
            if self.level[l].is_empty() {
                prune(&self.temp, self.limit, &mut self.level[l]);
                break;
            }
            let (l0, rest) = self.level.split_at_mut(1);
            prune(&self.temp, self.limit, &mut l0[0]);
            combine(&l0[0], &rest[l - 1], &mut self.temp);
            if self.temp.len() > self.limit {
                rest[l - 1].clear();
            } else {
                rest[l - 1].clone_from(&self.temp);
                break;
            }
            l += 1;
        }
    }

    /// `GetSummary`: every level merged into one summary of at most `limit` entries.
    fn summary(mut self) -> Vec<Entry> {
        let mut out = Vec::new();
        summarize(&mut self.queue, &mut out);
        if self.level.is_empty() {
            if out.len() > self.limit {
                prune(&out, self.limit, &mut self.temp);
                return self.temp;
            }
            return out;
        }
        let (l0, rest) = self.level.split_at_mut(1);
        let l0 = &mut l0[0];
        prune(&out, self.limit, l0);
        for lvl in rest.iter() {
            if lvl.is_empty() {
                continue;
            }
            if l0.is_empty() {
                l0.clone_from(lvl);
            } else {
                combine(l0, lvl, &mut self.work);
                prune(&self.work, self.limit, l0);
            }
        }
        std::mem::take(l0)
    }
}

/// XGBoost's cuts for one feature's values in row order (NaN = missing, skipped):
/// strictly increasing `f32` values, at most `max_bins − 1` of them.
pub(super) fn cuts(values: &[f64], max_bins: usize) -> Vec<f32> {
    let n = values.iter().filter(|v| !v.is_nan()).count();
    if n == 0 || max_bins < 2 {
        return Vec::new();
    }
    let n_bins = max_bins.min(n).max(1);
    let eps = 1.0 / f64::from(n_bins as f32 * K_FACTOR);
    let mut s = Sketch::new(n, eps);
    for &v in values {
        if !v.is_nan() {
            s.push(v as f32);
        }
    }
    let summary = s.summary();
    let num_cuts = n.min((max_bins as f32 * K_FACTOR) as usize);
    let mut reduced = Vec::new();
    prune(&summary, num_cuts, &mut reduced);
    let max_num_bins = num_cuts.min(max_bins);
    let mut a = Vec::new();
    prune(&reduced, max_num_bins + 1, &mut a);
    let mut out: Vec<f32> = Vec::with_capacity(max_num_bins);
    for e in a.iter().take(a.len().min(max_num_bins)).skip(1) {
        if out.last().is_none_or(|&l| e.value > l) {
            out.push(e.value);
        }
    }
    out
}

/// The largest `f64` that reads as an `f32` below `c`: `x <= below(c)` is XGBoost's
/// `f32(x) < c` for every non-NaN `f64` x.
pub(super) fn below(c: f32) -> f64 {
    if c.is_nan() || c == f32::NEG_INFINITY {
        return f64::NEG_INFINITY;
    }
    if c == f32::INFINITY {
        // Everything that does not round to +∞ in `f32`: below f32::MAX + half its ulp
        // (2^103), where a tie goes to +∞ (f32::MAX's mantissa is odd).
        return crate::compiled::next_down(f64::from(f32::MAX) + 2f64.powi(103));
    }
    let prev = if c > 0.0 {
        f32::from_bits(c.to_bits() - 1)
    } else if c == 0.0 {
        -f32::from_bits(1)
    } else {
        f32::from_bits(c.to_bits() + 1)
    };
    // The midpoint is exact in f64; it rounds to `prev` or to `c` (ties to even).
    let m = (f64::from(prev) + f64::from(c)) / 2.0;
    if (m as f32) < c {
        m
    } else {
        crate::compiled::next_down(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_is_the_f32_comparison() {
        for c in [
            1.0f32,
            0.8671,
            -1.62858,
            0.0,
            -0.0,
            1e-40,
            -3.5e20,
            f32::MAX,
        ] {
            let t = below(c);
            assert!((t as f32) < c, "c={c}");
            let up = f64::from_bits(if t >= 0.0 {
                t.to_bits() + 1
            } else {
                t.to_bits() - 1
            });
            let up = if t == 0.0 && t.is_sign_negative() {
                f64::from_bits(1)
            } else {
                up
            };
            assert!((up as f32) >= c, "c={c} t={t} up={up}");
        }
    }

    /// The columns of `tests/fixtures/make_sketch_cuts.py`, computed the same way.
    fn fixture_columns(n: u64) -> [Vec<f64>; 3] {
        let a = (0..n).map(|i| ((i * 2654435761) % 1000003) as f64 / 1000.0);
        let b = (0..n).map(|i| ((i * 7919) % 5003) as f64 / 7.0);
        let c = (0..n).map(|i| {
            if i % 3 == 0 {
                0.0
            } else {
                ((i * 40503) % 65521) as f64 / 3.0
            }
        });
        [a.collect(), b.collect(), c.collect()]
    }

    #[test]
    fn cuts_equal_xgboosts_own() {
        let fx: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/sketch_cuts.json"))
                .expect("fixture parses");
        let n = fx["n"].as_u64().expect("n");
        let cols = fixture_columns(n);
        for max_bins in [256usize, 32] {
            let want = &fx["cuts"][max_bins.to_string()];
            for (j, col) in cols.iter().enumerate() {
                let want: Vec<f32> = want[j]
                    .as_array()
                    .expect("cuts")
                    .iter()
                    .map(|v| v.as_f64().expect("number") as f32)
                    .collect();
                assert_eq!(cuts(col, max_bins), want, "column {j}, max_bins {max_bins}");
            }
        }
    }

    #[test]
    fn few_values_are_kept_exactly() {
        let v: Vec<f64> = (0..1000).map(|i| f64::from(i % 7)).collect();
        assert_eq!(cuts(&v, 256), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    }

    #[test]
    fn cuts_increase_and_spread_evenly() {
        // A permutation of 0..100_000: ranks and values coincide.
        let n = 100_000usize;
        let v: Vec<f64> = (0..n).map(|i| ((i * 7919) % n) as f64).collect();
        let c = cuts(&v, 256);
        assert_eq!(c.len(), 255);
        assert!(c.windows(2).all(|w| w[0] < w[1]));
        for (k, &x) in c.iter().enumerate() {
            let want = ((k + 1) * n / 256) as f32;
            // The sketch's rank error is at most eps·n = n / 2048.
            assert!(
                (x - want).abs() <= (n / 2048) as f32 + 1.0,
                "cut {k}: {x} vs {want}"
            );
        }
    }
}
