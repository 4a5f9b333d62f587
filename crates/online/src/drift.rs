//! Drift detectors: ADWIN and Page-Hinkley, with river's parameters and semantics.
//!
//! Both follow river 0.26's behaviour exactly, including the part that surprises people:
//! after a detection, the *next* `update` starts the detector afresh (river's detectors
//! "reset their inner states automatically after a concept drift detection"). The golden
//! test in `tests/drift.rs` runs the same input through river and pins the indices where
//! river detects, so a change here that moves a detection by one row fails.
//!
//! ADWIN (Bifet & Gavaldà 2007) keeps the window as rows of buckets: row `i` holds up to
//! `max_buckets + 1` summaries of `2^i` values each (total and variance), oldest first;
//! when a row overflows, its two oldest summaries merge into one of the next row. Every
//! `clock` updates, each cut between buckets is tested (older part W0, newer part W1) with
//!
//! ```text
//!   |mean(W0) − mean(W1)| > sqrt(2 m σ² δ') + 2/3 δ' m,
//!   m = 1/(n0 − L + 1) + 1/(n1 − L + 1),  δ' = ln(2 ln(n) / δ),  L = min_window_length
//! ```
//!
//! and while a cut holds, the oldest bucket is dropped.

use crate::error::{check_above, invalid, Result};
use serde::{Deserialize, Serialize};

/// A detector of change in the mean of a stream of numbers.
pub trait DriftDetector {
    /// Adds one value; returns whether drift was detected at this value.
    fn update(&mut self, x: f64) -> bool;
    /// Whether the last update detected drift.
    fn drift_detected(&self) -> bool;
}

/// ADWIN's parameters; the defaults are river's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdwinParams {
    /// Significance of the cut test; smaller means fewer false alarms and later detection.
    pub delta: f64,
    /// Test for change every `clock` values.
    pub clock: u32,
    /// Summaries of each size kept before two are merged.
    pub max_buckets: u32,
    /// Neither sub-window of a cut may be shorter than this.
    pub min_window_length: u32,
    /// No test until the window holds more than this many values.
    pub grace_period: u32,
}

impl Default for AdwinParams {
    fn default() -> Self {
        AdwinParams {
            delta: 0.002,
            clock: 32,
            max_buckets: 5,
            min_window_length: 5,
            grace_period: 10,
        }
    }
}

impl AdwinParams {
    /// Checks the parameters and builds the detector.
    pub fn build(self) -> Result<Adwin> {
        if !(self.delta > 0.0 && self.delta < 1.0) {
            return Err(invalid("ADWIN", "delta", self.delta, "must be in (0, 1)"));
        }
        if self.clock == 0 {
            return Err(invalid("ADWIN", "clock", 0, "must be at least 1"));
        }
        if self.max_buckets < 2 {
            return Err(invalid(
                "ADWIN",
                "max_buckets",
                self.max_buckets,
                "must be at least 2",
            ));
        }
        if self.min_window_length == 0 {
            return Err(invalid(
                "ADWIN",
                "min_window_length",
                0,
                "must be at least 1",
            ));
        }
        Ok(Adwin::with_params(self))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct BucketRow {
    totals: Vec<f64>,
    variances: Vec<f64>,
}

impl BucketRow {
    fn push(&mut self, total: f64, variance: f64) {
        self.totals.push(total);
        self.variances.push(variance);
    }
    fn drop_oldest(&mut self, n: usize) {
        self.totals.drain(..n);
        self.variances.drain(..n);
    }
}

/// The ADaptive WINdowing detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Adwin {
    params: AdwinParams,
    rows: Vec<BucketRow>,
    total: f64,
    variance: f64,
    width: f64,
    tick: u64,
    n_detections: u64,
    detected: bool,
}

impl Default for Adwin {
    fn default() -> Self {
        Adwin::with_params(AdwinParams::default())
    }
}

impl Adwin {
    pub(crate) fn with_params(params: AdwinParams) -> Self {
        Adwin {
            params,
            rows: vec![BucketRow::default()],
            total: 0.0,
            variance: 0.0,
            width: 0.0,
            tick: 0,
            n_detections: 0,
            detected: false,
        }
    }
    /// Number of values in the window.
    pub fn width(&self) -> f64 {
        self.width
    }
    /// Mean of the window (0 when empty).
    pub fn estimation(&self) -> f64 {
        if self.width == 0.0 {
            0.0
        } else {
            self.total / self.width
        }
    }
    /// Detections since the last reset.
    pub fn n_detections(&self) -> u64 {
        self.n_detections
    }

    /// Checks the bucket rows after a restore.
    pub(crate) fn check_state(&self) -> std::result::Result<(), String> {
        let cap = self.params.max_buckets as usize + 1;
        if self.rows.is_empty()
            || self.rows.len() > 64
            || self
                .rows
                .iter()
                .any(|r| r.totals.len() != r.variances.len() || r.totals.len() > cap)
        {
            return Err("ADWIN bucket rows are inconsistent".into());
        }
        Ok(())
    }

    fn reset(&mut self) {
        *self = Adwin::with_params(self.params);
    }

    fn insert(&mut self, value: f64) {
        self.rows[0].push(value, 0.0);
        self.width += 1.0;
        let w = self.width;
        if w > 1.0 {
            let d = value - self.total / (w - 1.0);
            self.variance += (w - 1.0) * d * d / w;
        }
        self.total += value;
        self.compress();
    }

    fn compress(&mut self) {
        let cap = self.params.max_buckets as usize + 1;
        let mut i = 0usize;
        while self.rows[i].totals.len() == cap {
            let n = (1u64 << i) as f64;
            let (t0, t1) = (self.rows[i].totals[0], self.rows[i].totals[1]);
            let (v0, v1) = (self.rows[i].variances[0], self.rows[i].variances[1]);
            let (m0, m1) = (t0 / n, t1 / n);
            let merged_var = v0 + v1 + n * n * (m0 - m1) * (m0 - m1) / (n + n);
            if i + 1 == self.rows.len() {
                self.rows.push(BucketRow::default());
            }
            self.rows[i + 1].push(t0 + t1, merged_var);
            self.rows[i].drop_oldest(2);
            if self.rows[i + 1].totals.len() < cap {
                break;
            }
            i += 1;
        }
    }

    fn delete_oldest(&mut self) {
        let last = self.rows.len() - 1;
        let n = (1u64 << last) as f64;
        let u = self.rows[last].totals[0];
        let v = self.rows[last].variances[0];
        let mu = u / n;
        self.width -= n;
        self.total -= u;
        let mu_w = self.total / self.width;
        self.variance -= v + n * self.width * (mu - mu_w) * (mu - mu_w) / (n + self.width);
        self.rows[last].drop_oldest(1);
        if self.rows[last].totals.is_empty() && last > 0 {
            self.rows.pop();
        }
    }

    fn cut_holds(&self, n0: f64, n1: f64, delta_mean: f64) -> bool {
        let l = f64::from(self.params.min_window_length);
        let delta_prime = (2.0 * self.width.ln() / self.params.delta).ln();
        let m = 1.0 / (n0 - l + 1.0) + 1.0 / (n1 - l + 1.0);
        let eps = (2.0 * m * (self.variance / self.width) * delta_prime).sqrt()
            + 2.0 / 3.0 * delta_prime * m;
        delta_mean.abs() > eps
    }

    fn detect(&mut self) -> bool {
        self.tick += 1;
        let mut change = false;
        if self.tick % u64::from(self.params.clock) != 0
            || self.width <= f64::from(self.params.grace_period)
        {
            return false;
        }
        let l = f64::from(self.params.min_window_length);
        let mut reduce = true;
        while reduce {
            reduce = false;
            let (mut n0, mut n1, mut u0, mut u1) = (0.0, self.width, 0.0, self.total);
            'scan: for i in (0..self.rows.len()).rev() {
                let size = (1u64 << i) as f64;
                let len = self.rows[i].totals.len();
                for k in 0..len {
                    let t = self.rows[i].totals[k];
                    n0 += size;
                    n1 -= size;
                    u0 += t;
                    u1 -= t;
                    if i == 0 && k == len - 1 {
                        break 'scan;
                    }
                    if n1 >= l && n0 >= l && self.cut_holds(n0, n1, u0 / n0 - u1 / n1) {
                        reduce = true;
                        change = true;
                        if self.width > 0.0 {
                            self.delete_oldest();
                            break 'scan;
                        }
                    }
                }
            }
        }
        change
    }
}

impl DriftDetector for Adwin {
    fn update(&mut self, x: f64) -> bool {
        if self.detected {
            self.reset();
        }
        self.insert(x);
        self.detected = self.detect();
        if self.detected {
            self.n_detections += 1;
        }
        self.detected
    }
    fn drift_detected(&self) -> bool {
        self.detected
    }
}

/// Which changes Page-Hinkley reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PhMode {
    /// Increases of the mean.
    Up,
    /// Decreases of the mean.
    Down,
    /// Both.
    #[default]
    Both,
}

/// Page-Hinkley's parameters; the defaults are river's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PageHinkleyParams {
    /// Values seen before any detection.
    pub min_instances: u32,
    /// Magnitude of change tolerated.
    pub delta: f64,
    /// Detection threshold (lambda).
    pub threshold: f64,
    /// Forgetting factor of the cumulative sums.
    pub alpha: f64,
    /// Direction(s) of change reported.
    pub mode: PhMode,
}

impl Default for PageHinkleyParams {
    fn default() -> Self {
        PageHinkleyParams {
            min_instances: 30,
            delta: 0.005,
            threshold: 50.0,
            alpha: 1.0 - 0.0001,
            mode: PhMode::Both,
        }
    }
}

impl PageHinkleyParams {
    /// Checks the parameters and builds the detector.
    pub fn build(self) -> Result<PageHinkley> {
        check_above("PageHinkley", "delta", self.delta, 0.0, true)?;
        check_above("PageHinkley", "threshold", self.threshold, 0.0, false)?;
        if !(self.alpha > 0.0 && self.alpha <= 1.0) {
            return Err(invalid(
                "PageHinkley",
                "alpha",
                self.alpha,
                "must be in (0, 1]",
            ));
        }
        Ok(PageHinkley::with_params(self))
    }
}

/// The Page-Hinkley test (a CUSUM on deviations from the running mean).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageHinkley {
    params: PageHinkleyParams,
    n: f64,
    mean: f64,
    sum_increase: f64,
    sum_decrease: f64,
    min_increase: f64,
    max_decrease: f64,
    detected: bool,
}

impl Default for PageHinkley {
    fn default() -> Self {
        PageHinkley::with_params(PageHinkleyParams::default())
    }
}

impl PageHinkley {
    fn with_params(params: PageHinkleyParams) -> Self {
        PageHinkley {
            params,
            n: 0.0,
            mean: 0.0,
            sum_increase: 0.0,
            sum_decrease: 0.0,
            min_increase: f64::INFINITY,
            max_decrease: -1.0,
            detected: false,
        }
    }
}

impl DriftDetector for PageHinkley {
    fn update(&mut self, x: f64) -> bool {
        if self.detected {
            *self = PageHinkley::with_params(self.params);
        }
        let p = self.params;
        self.n += 1.0;
        self.mean += (1.0 / self.n) * (x - self.mean);
        let dev = x - self.mean;
        self.sum_increase = p.alpha * self.sum_increase + dev - p.delta;
        self.sum_decrease = p.alpha * self.sum_decrease + dev + p.delta;
        if self.sum_increase < self.min_increase {
            self.min_increase = self.sum_increase;
        }
        if self.sum_decrease > self.max_decrease {
            self.max_decrease = self.sum_decrease;
        }
        if self.n >= f64::from(p.min_instances) {
            let up = self.sum_increase - self.min_increase > p.threshold;
            let down = self.max_decrease - self.sum_decrease > p.threshold;
            self.detected = match p.mode {
                PhMode::Up => up,
                PhMode::Down => down,
                PhMode::Both => up || down,
            };
        }
        self.detected
    }
    fn drift_detected(&self) -> bool {
        self.detected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adwin_window_statistics() {
        let mut a = Adwin::default();
        for v in [1.0, 2.0, 3.0, 4.0, 5.0] {
            assert!(!a.update(v));
        }
        assert_eq!(a.width(), 5.0);
        assert_eq!(a.estimation(), 3.0);
        assert!((a.variance - 10.0).abs() < 1e-12);
        for _ in 0..10_000 {
            assert!(!a.update(1.0));
        }
        assert_eq!(a.n_detections(), 0);
    }

    #[test]
    fn params_are_checked() {
        assert!(AdwinParams {
            delta: 0.0,
            ..Default::default()
        }
        .build()
        .is_err());
        assert!(PageHinkleyParams {
            alpha: 0.0,
            ..Default::default()
        }
        .build()
        .is_err());
    }
}
