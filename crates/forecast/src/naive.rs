//! Seasonal naive: every future day repeats the same day one period earlier. The
//! benchmark every other model must beat, and the scale of MASE.
//!
//! Intervals: ŷ ± z·σ·√(⌊(h − 1)/m⌋ + 1), where σ² is the mean squared seasonal
//! difference (a random walk over periods, as in Hyndman & Athanasopoulos, FPP3 §5.5).

use crate::model::Forecast;

/// A fitted seasonal naive model.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SeasonalNaive {
    /// The last period of observations.
    pub last: Vec<f64>,
    /// σ of the seasonal differences.
    pub sigma: f64,
}

impl SeasonalNaive {
    /// Fits on `y` with period `m` (a series shorter than one period repeats its last
    /// value).
    pub fn fit(y: &[f64], m: usize) -> SeasonalNaive {
        let m = m.max(1).min(y.len().max(1));
        let n = y.len();
        let last = if n == 0 {
            vec![0.0]
        } else {
            y[n - m..].to_vec()
        };
        let diffs: Vec<f64> = (m..n).map(|t| y[t] - y[t - m]).collect();
        let sigma = if diffs.is_empty() {
            0.0
        } else {
            (diffs.iter().map(|d| d * d).sum::<f64>() / diffs.len() as f64).sqrt()
        };
        SeasonalNaive { last, sigma }
    }

    /// Forecasts with intervals.
    pub fn forecast(&self, h: usize) -> Forecast {
        let m = self.last.len();
        let mean: Vec<f64> = (0..h).map(|i| self.last[i % m]).collect();
        let sd: Vec<f64> = (0..h)
            .map(|i| self.sigma * (((i / m) + 1) as f64).sqrt())
            .collect();
        Forecast::normal(mean, &sd)
    }
}
