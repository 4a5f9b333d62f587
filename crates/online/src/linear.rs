//! Online linear models: logistic and linear regression by SGD (river's
//! `LogisticRegression` and `LinearRegression`), and FTRL-Proximal logistic regression.
//!
//! The SGD models follow river's `linear_model.base.GLM` step for step — loss gradient,
//! clip, intercept step with its own learning rate, then `w -= lr · (g·x + l2·w)`, and
//! river's cumulative L1 penalty (Tsuruoka et al. 2009) when `l1 > 0` — so with the same
//! scaled inputs they produce the same weights as river up to summation order.
//!
//! FTRL-Proximal is McMahan et al. (2013), Algorithm 1, with the intercept as one more
//! coordinate whose input is always 1. River offers FTRL only as an optimiser plugged into
//! its GLM (where the intercept still takes plain SGD steps, and a weight whose `|z| ≤ l1`
//! keeps its previous value rather than becoming 0); we implement the paper's version,
//! whose weights are exactly sparse under L1. The per-coordinate weights are recomputed
//! after each update, so predicting is one dot product.
//!
//! Unlike river, a step that would overflow a weight (inputs near the limits of `f64`) is
//! skipped and counted, and a logit that is NaN (`inf − inf`) scores 0.5: one absurd row
//! cannot leave the model NaN forever.

use crate::error::{check_above, invalid, Result};
use crate::traits::{OnlineClassifier, OnlineRegressor};
use serde::{Deserialize, Serialize};

/// river's `utils.math.sigmoid`: exactly 0 below −30 and 1 above 30.
#[inline]
pub fn sigmoid(x: f64) -> f64 {
    if x < -30.0 {
        0.0
    } else if x > 30.0 {
        1.0
    } else {
        1.0 / (1.0 + (-x).exp())
    }
}

/// Gradient of the log loss with respect to the logit (river's `optim.losses.Log`).
#[inline]
fn log_loss_gradient(y: bool, raw: f64) -> f64 {
    let s = if y { 1.0 } else { -1.0 };
    let z = raw * s;
    if z > 18.0 {
        (-z).exp() * -s
    } else if z < -18.0 {
        -s
    } else {
        -s / (z.exp() + 1.0)
    }
}

/// Hyper-parameters shared by the SGD linear models; the defaults are river's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SgdParams {
    /// Constant learning rate of the weights.
    pub lr: f64,
    /// L2 penalty.
    pub l2: f64,
    /// L1 penalty (cumulative, Tsuruoka et al.); river refuses L1 and L2 together.
    pub l1: f64,
    /// Initial intercept.
    pub intercept_init: f64,
    /// Learning rate of the intercept (0 freezes it).
    pub intercept_lr: f64,
    /// Clip the loss gradient to `[-clip_gradient, clip_gradient]`.
    pub clip_gradient: f64,
}

impl Default for SgdParams {
    fn default() -> Self {
        SgdParams {
            lr: 0.01,
            l2: 0.0,
            l1: 0.0,
            intercept_init: 0.0,
            intercept_lr: 0.01,
            clip_gradient: 1e12,
        }
    }
}

/// Parameters of [`LogisticRegression`].
pub type LogisticRegressionParams = SgdParams;
/// Parameters of [`LinearRegression`].
pub type LinearRegressionParams = SgdParams;

impl SgdParams {
    fn check(&self, model: &'static str) -> Result<()> {
        check_above(model, "lr", self.lr, 0.0, false)?;
        check_above(model, "l2", self.l2, 0.0, true)?;
        check_above(model, "l1", self.l1, 0.0, true)?;
        check_above(model, "intercept_lr", self.intercept_lr, 0.0, true)?;
        check_above(model, "clip_gradient", self.clip_gradient, 0.0, false)?;
        if !self.intercept_init.is_finite() {
            return Err(invalid(
                model,
                "intercept_init",
                self.intercept_init,
                "must be finite",
            ));
        }
        if self.l1 > 0.0 && self.l2 > 0.0 {
            return Err(invalid(
                model,
                "l1",
                self.l1,
                "L1 and L2 together are not supported (as in river); set one of them to 0",
            ));
        }
        Ok(())
    }

    /// Checks the parameters and builds a logistic regression over `n_features` features.
    pub fn build(self, n_features: usize) -> Result<LogisticRegression> {
        self.check("LogisticRegression")?;
        Ok(LogisticRegression {
            glm: Glm::new(self, n_features),
        })
    }

    /// Checks the parameters and builds a linear regression over `n_features` features.
    pub fn build_regressor(self, n_features: usize) -> Result<LinearRegression> {
        self.check("LinearRegression")?;
        Ok(LinearRegression {
            glm: Glm::new(self, n_features),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Glm {
    p: SgdParams,
    weights: Vec<f64>,
    intercept: f64,
    n_iterations: u64,
    max_cum_l1: f64,
    cum_l1: Vec<f64>,
    skipped_steps: u64,
}

impl Glm {
    fn new(p: SgdParams, n: usize) -> Self {
        Glm {
            intercept: p.intercept_init,
            cum_l1: if p.l1 > 0.0 { vec![0.0; n] } else { Vec::new() },
            p,
            weights: vec![0.0; n],
            n_iterations: 0,
            max_cum_l1: 0.0,
            skipped_steps: 0,
        }
    }

    #[inline]
    fn raw(&self, x: &[f64]) -> f64 {
        let mut s = 0.0;
        for (w, xi) in self.weights.iter().zip(x) {
            s += w * xi;
        }
        s + self.intercept
    }

    /// Whether the step would keep every weight finite. Values near the limits of `f64`
    /// (|x| around 1e300) can overflow a product; such a step is skipped rather than
    /// turning the model into NaNs for good.
    fn step_is_finite(&self, x: &[f64], g: f64) -> bool {
        let (lr, l2) = (self.p.lr, self.p.l2);
        g.is_finite()
            && (self.intercept - self.p.intercept_lr * g).is_finite()
            && self
                .weights
                .iter()
                .zip(x)
                .all(|(w, xi)| (w - lr * (xi * g + l2 * w)).is_finite())
    }

    /// One SGD step given the loss gradient at the current prediction.
    #[inline]
    fn step(&mut self, x: &[f64], loss_gradient: f64) {
        let g = loss_gradient.clamp(-self.p.clip_gradient, self.p.clip_gradient);
        if !self.step_is_finite(x, g) {
            self.skipped_steps += 1;
            return;
        }
        self.intercept -= self.p.intercept_lr * g;
        let lr = self.p.lr;
        if self.p.l2 != 0.0 {
            let l2 = self.p.l2;
            for (w, xi) in self.weights.iter_mut().zip(x) {
                *w -= lr * (xi * g + l2 * *w);
            }
        } else {
            for (w, xi) in self.weights.iter_mut().zip(x) {
                *w -= lr * (xi * g);
            }
        }
        self.n_iterations += 1;
        if self.p.l1 != 0.0 {
            self.max_cum_l1 += self.p.l1 * lr;
            for (w, q) in self.weights.iter_mut().zip(self.cum_l1.iter_mut()) {
                let before = *w;
                if before > 0.0 {
                    *w = (before - (self.max_cum_l1 + *q)).max(0.0);
                } else if before < 0.0 {
                    *w = (before + (self.max_cum_l1 - *q)).min(0.0);
                }
                *q += *w - before;
            }
        }
    }
}

impl Glm {
    fn check_state(&self) -> std::result::Result<(), String> {
        if self.p.l1 > 0.0 && self.cum_l1.len() != self.weights.len() {
            return Err("L1 penalty state does not match the weights".into());
        }
        Ok(())
    }
}

impl LogisticRegression {
    pub(crate) fn check_state(&self) -> std::result::Result<(), String> {
        self.glm.check_state()
    }
}

impl LinearRegression {
    pub(crate) fn check_state(&self) -> std::result::Result<(), String> {
        self.glm.check_state()
    }
}

impl FtrlProximal {
    pub(crate) fn check_state(&self) -> std::result::Result<(), String> {
        if self.w.is_empty() || self.z.len() != self.w.len() || self.n.len() != self.w.len() {
            return Err("FTRL state vectors differ in length".into());
        }
        Ok(())
    }
}

/// Logistic regression trained by SGD on the log loss. Build it with
/// [`SgdParams::build`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticRegression {
    glm: Glm,
}

impl LogisticRegression {
    /// The weights, in feature order.
    pub fn weights(&self) -> &[f64] {
        &self.glm.weights
    }
    /// The intercept.
    pub fn intercept(&self) -> f64 {
        self.glm.intercept
    }
    /// The hyper-parameters.
    pub fn params(&self) -> &SgdParams {
        &self.glm.p
    }
    /// Steps skipped because they would have overflowed a weight.
    pub fn skipped_steps(&self) -> u64 {
        self.glm.skipped_steps
    }
}

impl OnlineClassifier for LogisticRegression {
    #[inline]
    fn learn_one(&mut self, x: &[f64], y: bool) {
        let g = log_loss_gradient(y, self.glm.raw(x));
        self.glm.step(x, g);
    }
    #[inline]
    fn predict_proba_one(&self, x: &[f64]) -> f64 {
        let r = self.glm.raw(x);
        // inf − inf from overflowing products: no information either way
        if r.is_nan() {
            0.5
        } else {
            sigmoid(r)
        }
    }
}

/// Linear regression trained by SGD on the squared loss. Build it with
/// [`SgdParams::build_regressor`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearRegression {
    glm: Glm,
}

impl LinearRegression {
    /// The weights, in feature order.
    pub fn weights(&self) -> &[f64] {
        &self.glm.weights
    }
    /// The intercept.
    pub fn intercept(&self) -> f64 {
        self.glm.intercept
    }
}

impl OnlineRegressor for LinearRegression {
    #[inline]
    fn learn_one(&mut self, x: &[f64], y: f64) {
        let g = 2.0 * (self.glm.raw(x) - y);
        self.glm.step(x, g);
    }
    #[inline]
    fn predict_one(&self, x: &[f64]) -> f64 {
        self.glm.raw(x)
    }
}

/// Hyper-parameters of [`FtrlProximal`]; the defaults are river's `optim.FTRLProximal`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FtrlParams {
    /// Learning-rate scale.
    pub alpha: f64,
    /// Learning-rate smoothing.
    pub beta: f64,
    /// L1 penalty (weights with `|z| <= l1` are exactly 0).
    pub l1: f64,
    /// L2 penalty.
    pub l2: f64,
}

impl Default for FtrlParams {
    fn default() -> Self {
        FtrlParams {
            alpha: 0.05,
            beta: 1.0,
            l1: 0.0,
            l2: 1.0,
        }
    }
}

impl FtrlParams {
    /// Checks the parameters and builds the model over `n_features` features.
    pub fn build(self, n_features: usize) -> Result<FtrlProximal> {
        check_above("FtrlProximal", "alpha", self.alpha, 0.0, false)?;
        check_above("FtrlProximal", "beta", self.beta, 0.0, true)?;
        check_above("FtrlProximal", "l1", self.l1, 0.0, true)?;
        check_above("FtrlProximal", "l2", self.l2, 0.0, true)?;
        Ok(FtrlProximal {
            p: self,
            z: vec![0.0; n_features + 1],
            n: vec![0.0; n_features + 1],
            w: vec![0.0; n_features + 1],
        })
    }
}

/// Logistic regression trained by FTRL-Proximal. The last coordinate is the intercept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FtrlProximal {
    p: FtrlParams,
    z: Vec<f64>,
    n: Vec<f64>,
    w: Vec<f64>,
}

impl FtrlProximal {
    /// The weights, in feature order, followed by the intercept.
    pub fn weights(&self) -> &[f64] {
        &self.w
    }

    #[inline]
    fn weight(&self, i: usize) -> f64 {
        let z = self.z[i];
        if z.abs() <= self.p.l1 {
            0.0
        } else {
            -(z - z.signum() * self.p.l1)
                / ((self.p.beta + self.n[i].sqrt()) / self.p.alpha + self.p.l2)
        }
    }

    #[inline]
    fn raw(&self, x: &[f64]) -> f64 {
        let d = self.w.len() - 1;
        let mut s = self.w[d];
        for (w, xi) in self.w[..d].iter().zip(x) {
            s += w * xi;
        }
        s
    }

    #[inline]
    fn update(&mut self, i: usize, g: f64) {
        let n = self.n[i];
        let sigma = ((n + g * g).sqrt() - n.sqrt()) / self.p.alpha;
        let z = self.z[i] + (g - sigma * self.w[i]);
        if !(z.is_finite() && (n + g * g).is_finite()) {
            // an input near the limits of f64 would overflow this coordinate: skip it
            return;
        }
        self.z[i] = z;
        self.n[i] = n + g * g;
        self.w[i] = self.weight(i);
    }
}

impl OnlineClassifier for FtrlProximal {
    fn learn_one(&mut self, x: &[f64], y: bool) {
        let p = self.predict_proba_one(x);
        let g = p - if y { 1.0 } else { 0.0 };
        let d = self.w.len() - 1;
        for (i, &xi) in x.iter().enumerate().take(d) {
            if xi != 0.0 {
                self.update(i, g * xi);
            }
        }
        self.update(d, g);
    }
    #[inline]
    fn predict_proba_one(&self, x: &[f64]) -> f64 {
        let r = self.raw(x);
        if r.is_nan() {
            0.5
        } else {
            sigmoid(r)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::SplitMix64;

    fn stream(n: usize, seed: u64) -> Vec<([f64; 3], bool)> {
        let mut r = SplitMix64::new(seed);
        (0..n)
            .map(|_| {
                let x = [r.next_gaussian(), r.next_gaussian(), r.next_gaussian()];
                let logit = 2.0 * x[0] - 1.0 * x[1] + 0.5;
                (x, r.next_f64() < sigmoid(logit))
            })
            .collect()
    }

    #[test]
    fn sgd_logistic_recovers_the_signs() {
        let mut m = SgdParams::default().build(3).unwrap();
        assert_eq!(m.predict_proba_one(&[1.0, 2.0, 3.0]), 0.5);
        for (x, y) in stream(50_000, 1) {
            m.learn_one(&x, y);
        }
        let w = m.weights();
        assert!(w[0] > 1.0 && w[1] < -0.5 && w[2].abs() < 0.2, "{w:?}");
        assert!(m.intercept() > 0.2);
    }

    #[test]
    fn ftrl_recovers_the_signs_and_l1_zeroes_noise() {
        let mut m = FtrlParams {
            l1: 300.0,
            ..Default::default()
        }
        .build(3)
        .unwrap();
        for (x, y) in stream(50_000, 2) {
            m.learn_one(&x, y);
        }
        let w = m.weights();
        assert!(w[0] > 1.0 && w[1] < -0.5, "{w:?}");
        assert_eq!(w[2], 0.0, "L1 should zero the noise feature: {w:?}");
    }

    #[test]
    fn linear_regression_fits_a_line() {
        let mut m = SgdParams::default().build_regressor(2).unwrap();
        let mut r = SplitMix64::new(3);
        for _ in 0..50_000 {
            let x = [r.next_gaussian(), r.next_gaussian()];
            m.learn_one(&x, 3.0 * x[0] - 2.0 * x[1] + 1.0);
        }
        assert!((m.weights()[0] - 3.0).abs() < 0.01);
        assert!((m.weights()[1] + 2.0).abs() < 0.01);
        assert!((m.intercept() - 1.0).abs() < 0.01);
    }

    #[test]
    fn l1_sgd_truncates() {
        let mut m = SgdParams {
            l1: 0.01,
            ..Default::default()
        }
        .build(3)
        .unwrap();
        for (x, y) in stream(20_000, 4) {
            m.learn_one(&x, y);
        }
        assert_eq!(m.weights()[2], 0.0, "{:?}", m.weights());
        assert!(SgdParams {
            l1: 0.1,
            l2: 0.1,
            ..Default::default()
        }
        .build(3)
        .is_err());
    }

    #[test]
    fn gradient_matches_river_branches() {
        assert_eq!(log_loss_gradient(true, 20.0), -(-20.0f64).exp());
        assert_eq!(log_loss_gradient(false, 20.0), 1.0);
        assert!((log_loss_gradient(true, 0.0) + 0.5).abs() < 1e-15);
        assert_eq!(sigmoid(-31.0), 0.0);
        assert_eq!(sigmoid(31.0), 1.0);
    }
}
