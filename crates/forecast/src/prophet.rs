//! A Prophet-style additive model (Taylor & Letham 2018): piecewise-linear trend with
//! changepoints, Fourier terms for the weekly and yearly cycles, and holiday windows
//! (England and Wales bank holidays, Easter's moving feasts included).
//!
//! ```text
//!  y/scale = k + m·t + Σ δ_j (t − c_j)₊          trend, 25 changepoints in the first 80 %
//!          + Σ_k a_k sin(2πk d/7) + b_k cos(…)    weekly, order 3
//!          + Σ_k a_k sin(2πk d/365.25) + …        yearly, order 10
//!          + Σ_{holiday, offset} β · [d − offset is that holiday]   window −2 … +2 days
//!          + ε
//! ```
//!
//! Fitted as a maximum a-posteriori estimate with Gaussian priors, i.e. ridge regression
//! solved exactly (Cholesky of a ~90 × 90 system): Prophet's Laplace prior on the
//! changepoint slopes is replaced by a Gaussian of the same variance, and its Stan L-BFGS
//! by the closed form. The noise scale that sets the ridge weights is estimated in a first
//! pass and the fit repeated. Intervals are ŷ ± z·σ from the residuals (no simulated trend
//! changes, so narrower than Prophet's far out).
//!
//! Holidays of one's own (`--holidays FILE`: name, date, days before and after) get one
//! coefficient per name and day of their window, like the built-in ones. External
//! regressors (promotions, pay days, marketing spend) enter as columns standardised on the
//! history (Prophet's `add_regressor`, additive, prior scale `seasonality_prior`); their
//! values must be known for the forecast days too. [`Prophet::regressor_effects`] gives
//! each one's effect per unit on the original scale.

use crate::calendar;
use crate::error::{ForecastError, Result};
use crate::model::Forecast;
use std::collections::HashMap;

/// Hyper-parameters of the Prophet-style model.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProphetParams {
    /// Trend changepoints.
    pub changepoints: usize,
    /// Share of the history in which changepoints are placed.
    pub changepoint_range: f64,
    /// Scale of the changepoints' slope changes (Prophet's `changepoint_prior_scale`).
    pub changepoint_prior: f64,
    /// Prior scale of seasonal and holiday coefficients.
    pub seasonality_prior: f64,
    /// Fourier order of the weekly cycle (0 = none).
    pub weekly_order: usize,
    /// Fourier order of the yearly cycle (0 = none; needs two years of history).
    pub yearly_order: usize,
    /// Model the England and Wales bank holidays.
    pub holidays: bool,
    /// Days before a holiday with their own effect.
    pub window_before: i64,
    /// Days after a holiday with their own effect.
    pub window_after: i64,
    /// Holidays of one's own, beside (or instead of) the built-in ones.
    pub extra_holidays: Vec<HolidayDef>,
    /// Names of the external regressors, in the order their values are given.
    pub regressors: Vec<String>,
}

/// One occurrence of a holiday of one's own: Prophet's `holidays` frame row.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HolidayDef {
    /// The holiday's name (occurrences with one name share coefficients).
    pub name: String,
    /// Its day (days since 1970-01-01).
    pub day: i64,
    /// First day of its window relative to `day` (≤ 0; Prophet's `lower_window`).
    pub lower: i64,
    /// Last day of its window relative to `day` (≥ 0; Prophet's `upper_window`).
    pub upper: i64,
}

impl Default for ProphetParams {
    fn default() -> Self {
        ProphetParams {
            changepoints: 25,
            changepoint_range: 0.8,
            changepoint_prior: 0.05,
            seasonality_prior: 10.0,
            weekly_order: 3,
            yearly_order: 10,
            holidays: true,
            window_before: 2,
            window_after: 2,
            extra_holidays: Vec::new(),
            regressors: Vec::new(),
        }
    }
}

/// A fitted Prophet-style model.
#[derive(Debug, Clone)]
pub struct Prophet {
    params: ProphetParams,
    coef: Vec<f64>,
    cps: Vec<f64>,
    start: i64,
    span: f64,
    scale: f64,
    sigma: f64,
    yearly: bool,
    holidays: HashMap<i64, Vec<usize>>,
    /// Own holidays: day → (column offset within the block) for every window it is in.
    extra: HashMap<i64, Vec<usize>>,
    /// Columns of the own-holiday block.
    extra_width: usize,
    /// Regressor values from `start` on, standardised.
    x: Vec<Vec<f64>>,
    /// Per regressor: (mean, sd) of the history, to undo the standardisation.
    x_scale: Vec<(f64, f64)>,
}

impl ProphetParams {
    /// Checks the parameters.
    pub fn check(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.changepoint_range) {
            return Err(ForecastError::param(
                "changepoint_range",
                self.changepoint_range,
                "between 0 and 1",
            ));
        }
        if self.changepoint_prior <= 0.0 || self.seasonality_prior <= 0.0 {
            return Err(ForecastError::param(
                "prior",
                format!("{} / {}", self.changepoint_prior, self.seasonality_prior),
                "prior scales must be positive",
            ));
        }
        if self.window_before < 0 || self.window_after < 0 {
            return Err(ForecastError::param(
                "window",
                self.window_before.min(self.window_after),
                "holiday windows are ≥ 0 days",
            ));
        }
        for h in &self.extra_holidays {
            if h.name.is_empty() || h.lower > 0 || h.upper < 0 || h.upper - h.lower > 366 {
                return Err(ForecastError::param(
                    "holidays",
                    format!("{} ({}, window {} … {})", h.name, h.day, h.lower, h.upper),
                    "a holiday needs a name, a lower window ≤ 0 and an upper window ≥ 0 (at most a year apart)",
                ));
            }
        }
        let mut names = std::collections::HashSet::new();
        for r in &self.regressors {
            if r.is_empty() || !names.insert(r.as_str()) {
                return Err(ForecastError::param(
                    "regressors",
                    format!("{:?}", self.regressors),
                    "regressor names must be non-empty and distinct",
                ));
            }
        }
        Ok(())
    }

    /// Fits on `y` (no missing values), the first value on day `start` (days since
    /// 1970-01-01). Without regressors; see [`ProphetParams::fit_x`].
    pub fn fit(&self, y: &[f64], start: i64, series: &str) -> Result<Prophet> {
        self.fit_x(y, start, series, &[])
    }

    /// Fits with the values of the regressors named in `regressors`: `x[j][i]` is
    /// regressor `j` on day `start + i`, at least `y.len()` days of it (more days are the
    /// future values [`Prophet::forecast`] uses).
    pub fn fit_x(&self, y: &[f64], start: i64, series: &str, x: &[Vec<f64>]) -> Result<Prophet> {
        self.check()?;
        let n = y.len();
        if n < 14 {
            return Err(ForecastError::TooShort {
                series: series.into(),
                len: n,
                needed: 14,
                period: 7,
                model: "the Prophet-style model".into(),
            });
        }
        let scale = y.iter().fold(0.0f64, |a, v| a.max(v.abs())).max(1e-9);
        let span = (n - 1) as f64;
        let k = self.changepoints.min(n / 4);
        let cps: Vec<f64> = (1..=k)
            .map(|j| self.changepoint_range * j as f64 / (k + 1) as f64)
            .collect();
        let yearly = self.yearly_order > 0 && n >= 730;
        let mut holidays: HashMap<i64, Vec<usize>> = HashMap::new();
        if self.holidays {
            let (y0, _, _) = calendar::civil(start);
            for year in y0 - 1..=y0 + (n as i64) / 365 + 3 {
                for h in calendar::uk_holidays(year) {
                    holidays.entry(h.day).or_default().push(h.kind);
                }
            }
        }
        if x.len() != self.regressors.len() {
            return Err(ForecastError::Fit {
                series: series.into(),
                reason: format!(
                    "{} regressor(s) named ({}), values given for {}",
                    self.regressors.len(),
                    self.regressors.join(", "),
                    x.len()
                ),
            });
        }
        let mut x_std = Vec::with_capacity(x.len());
        let mut x_scale = Vec::with_capacity(x.len());
        for (name, col) in self.regressors.iter().zip(x) {
            if col.len() < n || col[..n].iter().any(|v| !v.is_finite()) {
                return Err(ForecastError::Fit {
                    series: series.into(),
                    reason: format!(
                        "regressor `{name}` needs a number on every one of the {n} history days"
                    ),
                });
            }
            let mean = col[..n].iter().sum::<f64>() / n as f64;
            let sd = (col[..n].iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
            if sd < 1e-12 {
                return Err(ForecastError::Fit {
                    series: series.into(),
                    reason: format!("regressor `{name}` is constant over the history: it cannot be told from the level"),
                });
            }
            x_std.push(col.iter().map(|v| (v - mean) / sd).collect::<Vec<f64>>());
            x_scale.push((mean, sd));
        }
        // Own holidays: a block per name, one column per day of its widest window.
        let mut names: Vec<&str> = self
            .extra_holidays
            .iter()
            .map(|h| h.name.as_str())
            .collect();
        names.sort_unstable();
        names.dedup();
        let mut offsets = Vec::with_capacity(names.len());
        let mut width = 0usize;
        for name in &names {
            let lo = self
                .extra_holidays
                .iter()
                .filter(|h| h.name == *name)
                .map(|h| h.lower)
                .min()
                .unwrap_or(0);
            let hi = self
                .extra_holidays
                .iter()
                .filter(|h| h.name == *name)
                .map(|h| h.upper)
                .max()
                .unwrap_or(0);
            offsets.push((width, lo));
            width += (hi - lo + 1) as usize;
        }
        let mut extra: HashMap<i64, Vec<usize>> = HashMap::new();
        for h in &self.extra_holidays {
            let k = names.binary_search(&h.name.as_str()).unwrap_or(0);
            let (base, lo) = offsets[k];
            for off in h.lower..=h.upper {
                extra
                    .entry(h.day + off)
                    .or_default()
                    .push(base + (off - lo) as usize);
            }
        }
        let mut m = Prophet {
            extra,
            extra_width: width,
            x: x_std,
            x_scale,
            params: self.clone(),
            coef: Vec::new(),
            cps,
            start,
            span,
            scale,
            sigma: 0.0,
            yearly,
            holidays,
        };
        let rows: Vec<Vec<f64>> = (0..n).map(|i| m.row(start + i as i64)).collect();
        let p = rows[0].len();
        let ys: Vec<f64> = y.iter().map(|v| v / scale).collect();
        // Normal equations, built once.
        let mut xtx = vec![0.0; p * p];
        let mut xty = vec![0.0; p];
        for (r, &yi) in rows.iter().zip(&ys) {
            for a in 0..p {
                if r[a] == 0.0 {
                    continue;
                }
                xty[a] += r[a] * yi;
                for b in a..p {
                    xtx[a * p + b] += r[a] * r[b];
                }
            }
        }
        for a in 0..p {
            for b in 0..a {
                xtx[a * p + b] = xtx[b * p + a];
            }
        }
        let n_trend = 2 + m.cps.len();
        let mut sigma = 0.1;
        for _ in 0..2 {
            let mut a = xtx.clone();
            for j in 0..p {
                let prior = if j < 2 {
                    5.0
                } else if j < n_trend {
                    self.changepoint_prior * std::f64::consts::SQRT_2
                } else {
                    self.seasonality_prior
                };
                a[j * p + j] += (sigma * sigma) / (prior * prior) + 1e-10;
            }
            let mut b = xty.clone();
            if !solve_spd(&mut a, p, &mut b) {
                return Err(ForecastError::Fit {
                    series: series.into(),
                    reason: "the Prophet-style model's normal equations are singular".into(),
                });
            }
            let sse: f64 = rows
                .iter()
                .zip(&ys)
                .map(|(r, yi)| (yi - dot(r, &b)).powi(2))
                .sum();
            sigma = (sse / (n as f64 - 1.0).max(1.0)).sqrt().max(1e-6);
            m.coef = b;
        }
        m.sigma = sigma * scale;
        Ok(m)
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Solves A x = b in place for a symmetric positive-definite A (row-major p × p) by
/// Cholesky; `false` if A is not positive definite.
fn solve_spd(a: &mut [f64], p: usize, b: &mut [f64]) -> bool {
    for j in 0..p {
        let mut d = a[j * p + j];
        for k in 0..j {
            d -= a[j * p + k] * a[j * p + k];
        }
        if d <= 0.0 || !d.is_finite() {
            return false;
        }
        let d = d.sqrt();
        a[j * p + j] = d;
        for i in j + 1..p {
            let mut s = a[i * p + j];
            for k in 0..j {
                s -= a[i * p + k] * a[j * p + k];
            }
            a[i * p + j] = s / d;
        }
    }
    for i in 0..p {
        let mut s = b[i];
        for k in 0..i {
            s -= a[i * p + k] * b[k];
        }
        b[i] = s / a[i * p + i];
    }
    for i in (0..p).rev() {
        let mut s = b[i];
        for k in i + 1..p {
            s -= a[k * p + i] * b[k];
        }
        b[i] = s / a[i * p + i];
    }
    true
}

impl Prophet {
    /// The design row of day `d`.
    fn row(&self, d: i64) -> Vec<f64> {
        let t = (d - self.start) as f64 / self.span;
        let mut r = vec![1.0, t];
        r.extend(self.cps.iter().map(|c| (t - c).max(0.0)));
        let tau = std::f64::consts::TAU;
        for k in 1..=self.params.weekly_order {
            let x = tau * k as f64 * d as f64 / 7.0;
            r.push(x.sin());
            r.push(x.cos());
        }
        if self.yearly {
            for k in 1..=self.params.yearly_order {
                let x = tau * k as f64 * d as f64 / 365.25;
                r.push(x.sin());
                r.push(x.cos());
            }
        }
        if self.params.holidays {
            let w = (self.params.window_before + self.params.window_after + 1) as usize;
            let base = r.len();
            r.extend(std::iter::repeat_n(0.0, calendar::UK_NAMES.len() * w));
            for off in -self.params.window_after..=self.params.window_before {
                // Day d is `o` days after a holiday when d − o is one.
                let o = -off;
                if let Some(kinds) = self.holidays.get(&(d - o)) {
                    let slot = (o + self.params.window_before) as usize;
                    for &k in kinds {
                        r[base + k * w + slot] = 1.0;
                    }
                }
            }
        }
        if self.extra_width > 0 {
            let base = r.len();
            r.extend(std::iter::repeat_n(0.0, self.extra_width));
            if let Some(cols) = self.extra.get(&d) {
                for &c in cols {
                    r[base + c] = 1.0;
                }
            }
        }
        let i = d - self.start;
        for col in &self.x {
            // A day without a value (past the given future) makes the forecast NaN, which
            // the caller reports; the batch layer checks coverage before fitting.
            r.push(
                usize::try_from(i)
                    .ok()
                    .and_then(|i| col.get(i))
                    .copied()
                    .unwrap_or(f64::NAN),
            );
        }
        r
    }

    /// Each regressor's fitted effect per unit of its original values (name, effect).
    pub fn regressor_effects(&self) -> Vec<(String, f64)> {
        let p = self.coef.len();
        let k = self.x.len();
        self.params
            .regressors
            .iter()
            .zip(&self.x_scale)
            .enumerate()
            .map(|(j, (name, (_, sd)))| (name.clone(), self.coef[p - k + j] * self.scale / sd))
            .collect()
    }

    /// Forecasts the `h` days after the history.
    pub fn forecast(&self, h: usize) -> Forecast {
        let first = self.start + self.span as i64 + 1;
        let mean: Vec<f64> = (0..h)
            .map(|i| dot(&self.row(first + i as i64), &self.coef) * self.scale)
            .collect();
        Forecast::normal(mean, &vec![self.sigma; h])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_weekly_cycle_and_an_easter_dip() {
        let start = calendar::day_number(1996, 1, 1);
        let easter: Vec<i64> = (1996..=1999).map(calendar::easter).collect();
        let y: Vec<f64> = (0..900)
            .map(|i| {
                let d = start + i;
                let mut v = 100.0
                    + 0.01 * i as f64
                    + [5.0, 0.0, 0.0, 2.0, 10.0, -7.0, -10.0][calendar::weekday(d) as usize];
                if easter.iter().any(|&e| d == e + 1) {
                    v -= 40.0;
                }
                v
            })
            .collect();
        let m = ProphetParams::default().fit(&y[..800], start, "p").unwrap();
        let f = m.forecast(100);
        for i in 0..100 {
            assert!(
                (f.mean[i] - y[800 + i]).abs() < 8.0,
                "{i}: {} vs {}",
                f.mean[i],
                y[800 + i]
            );
        }
    }

    #[test]
    fn recovers_a_planted_regressor_and_an_own_holiday() {
        let start = calendar::day_number(2023, 1, 2);
        let n = 400usize;
        let h = 28usize;
        // A promotion on a pseudo-random third of the days, worth +30; a "store fair" on
        // two days a year worth −50 the day itself and −20 the day after.
        let promo: Vec<f64> = (0..n + h)
            .map(|i| if (i * 7919 + 13) % 3 == 0 { 1.0 } else { 0.0 })
            .collect();
        let fairs = [start + 100, start + 290, start + 410];
        let y: Vec<f64> = (0..n + h)
            .map(|i| {
                let d = start + i as i64;
                let mut v = 200.0
                    + 0.02 * i as f64
                    + [10.0, 0.0, 0.0, 5.0, 20.0, -15.0, -20.0][calendar::weekday(d) as usize]
                    + 30.0 * promo[i]
                    + ((i * 37 % 11) as f64 - 5.0) * 0.6;
                if fairs.contains(&d) {
                    v -= 50.0;
                }
                if fairs.contains(&(d - 1)) {
                    v -= 20.0;
                }
                v
            })
            .collect();
        let p = ProphetParams {
            holidays: false,
            yearly_order: 0,
            extra_holidays: fairs
                .iter()
                .map(|&day| HolidayDef {
                    name: "fair".into(),
                    day,
                    lower: 0,
                    upper: 1,
                })
                .collect(),
            regressors: vec!["promo".into()],
            ..Default::default()
        };
        let m = p
            .fit_x(&y[..n], start, "shop", std::slice::from_ref(&promo))
            .expect("fits");
        let e = m.regressor_effects();
        assert_eq!(e[0].0, "promo");
        assert!((e[0].1 - 30.0).abs() < 1.5, "promo effect {}", e[0].1);
        let f = m.forecast(h);
        // Day 410 (a fair, in the forecast window) is forecast with its dip.
        for i in 0..h {
            assert!(
                (f.mean[i] - y[n + i]).abs() < 8.0,
                "day {}: {} vs {}",
                n + i,
                f.mean[i],
                y[n + i]
            );
        }
        // Without the regressor the promotion days are missed by about its size.
        let plain = ProphetParams {
            regressors: Vec::new(),
            ..p.clone()
        }
        .fit(&y[..n], start, "shop")
        .expect("fits");
        let g = plain.forecast(h);
        let miss: f64 = (0..h).map(|i| (g.mean[i] - y[n + i]).abs()).sum::<f64>() / h as f64;
        assert!(miss > 10.0, "mean miss without the regressor {miss}");
        // Bad regressor input is refused naming it.
        let e = p
            .fit_x(&y[..n], start, "shop", &[vec![1.0; n]])
            .unwrap_err();
        assert!(e.to_string().contains("constant"), "{e}");
        let e = p
            .fit_x(&y[..n], start, "shop", &[vec![1.0; 10]])
            .unwrap_err();
        assert!(e.to_string().contains("promo"), "{e}");
    }
}
