//! Training: checked hyper-parameters → [`fit`] → a [`TextModel`] and a [`FitReport`].
//!
//! ```text
//!  (text, label) rows ─▶ drop blank labels and texts without tokens (counted)
//!     ─▶ tokenize + hashed n-gram counts (once) ─▶ Vocab + weighted vectors (once)
//!     ─▶ sgd: epochs 1 ..= E − J on the first (1 − calibration_share) of the rows
//!        ─▶ scores of the held-out rest ─▶ temperature T minimising their log loss
//!           (golden-section search on ln T)
//!        ─▶ epochs E − J + 1 ..= E on all rows ─▶ TextModel { …, temperature: T }
//! ```
//!
//! The optimiser (`sgd`) is plain stochastic gradient descent with L2 regularisation and
//! Bottou's learning rate; see that module for why it renumbers features, skips classes
//! without a gradient and calibrates inside one fit. Sums run in a fixed order and the
//! example order comes from a seeded splitmix64 generator of our own (its stream never
//! changes with a dependency's version): the same rows, parameters and seed give the same
//! bits.
//!
//! The held-out slice for calibration is the *last* rows as given: pass rows in time order
//! and calibration is measured on the most recent ones, as it will be used.

use crate::error::{Result, TextError};
use crate::features::{count_text, Counted, Counter, FeatureParams, SparseVec, Vocab};
use crate::model::{softmax, Loss, TextModel};
pub(crate) use crate::sgd::sgd;
use crate::sgd::{sgd_held, Held};
use crate::token::{Tokenizer, TokenizerParams, Tokens};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How examples of rare classes are weighted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassWeight {
    /// Every example counts once.
    None,
    /// `n / (k · n_c)`, as scikit-learn's `class_weight="balanced"`.
    Balanced,
    /// The square root of the balanced weight: a middle way.
    Sqrt,
}

/// Hyper-parameters of the classifier; every value is checked by [`ClassifierParams::check`]
/// before any text is read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClassifierParams {
    /// Tokenizer settings (`[tokenizer]`).
    pub tokenizer: TokenizerParams,
    /// Feature settings (`[features]`).
    pub features: FeatureParams,
    /// `hinge` (one-vs-rest linear SVMs) or `softmax` (multinomial logistic regression).
    pub loss: Loss,
    /// Passes over the training rows (1..=1000).
    pub epochs: usize,
    /// L2 regularisation λ (0 < λ < 1).
    pub l2: f64,
    /// Weighting of rare classes: `none`, `balanced` or `sqrt`.
    pub class_weight: ClassWeight,
    /// Share of the rows (the last ones) held out to fit the calibration temperature
    /// (0 ..= 0.5; 0 leaves scores uncalibrated, T = 1). They are left out of the first
    /// `epochs − joint_epochs` epochs, scored by that model, then learnt in the last
    /// `joint_epochs`: one fit, and the model has learnt every row.
    pub calibration_share: f64,
    /// Epochs at the end that also learn the calibration rows (≥ 1; at most epochs − 1 are
    /// used, so the rows are scored before they are learnt; ignored without calibration).
    pub joint_epochs: usize,
    /// Seed of the example order.
    pub seed: u64,
}

impl Default for ClassifierParams {
    fn default() -> Self {
        ClassifierParams {
            tokenizer: TokenizerParams::default(),
            features: FeatureParams::default(),
            loss: Loss::Hinge,
            epochs: 10,
            l2: 1e-4,
            class_weight: ClassWeight::Sqrt,
            calibration_share: 0.1,
            joint_epochs: 2,
            seed: 42,
        }
    }
}

impl ClassifierParams {
    /// Checks every value; the first one out of range is the error.
    pub fn check(&self) -> Result<()> {
        let f = &self.features;
        if self.tokenizer.max_tokens == 0 {
            return Err(TextError::param("tokenizer.max_tokens", 0, "must be ≥ 1"));
        }
        if self.tokenizer.long_number == 0 {
            return Err(TextError::param("tokenizer.long_number", 0, "must be ≥ 1"));
        }
        if !(10..=24).contains(&f.buckets_log2) {
            return Err(TextError::param(
                "features.buckets_log2",
                f.buckets_log2,
                "must be in 10..=24 (1 Ki to 16 Mi buckets)",
            ));
        }
        if !(1..=3).contains(&f.word_ngrams) {
            return Err(TextError::param(
                "features.word_ngrams",
                f.word_ngrams,
                "must be 1, 2 or 3",
            ));
        }
        if f.char_min != 0 && !(f.char_min <= f.char_max && f.char_max <= 8) {
            return Err(TextError::param(
                "features.char_min",
                format!("{}..{}", f.char_min, f.char_max),
                "need 1 ≤ char_min ≤ char_max ≤ 8, or char_min = 0 to turn character n-grams off",
            ));
        }
        if !(f.char_weight.is_finite() && f.char_weight >= 0.0) {
            return Err(TextError::param(
                "features.char_weight",
                f.char_weight,
                "must be a finite number ≥ 0",
            ));
        }
        if f.min_df == 0 {
            return Err(TextError::param("features.min_df", 0, "must be ≥ 1"));
        }
        if !(1..=1000).contains(&self.epochs) {
            return Err(TextError::param(
                "epochs",
                self.epochs,
                "must be in 1..=1000",
            ));
        }
        if !(self.l2 > 0.0 && self.l2 < 1.0) {
            return Err(TextError::param("l2", self.l2, "must be in (0, 1)"));
        }
        if !(0.0..=0.5).contains(&self.calibration_share) {
            return Err(TextError::param(
                "calibration_share",
                self.calibration_share,
                "must be in 0..=0.5",
            ));
        }
        if self.joint_epochs == 0 {
            return Err(TextError::param(
                "joint_epochs",
                0,
                "must be ≥ 1 (the calibration rows must be learnt too)",
            ));
        }
        Ok(())
    }
}

/// What happened while fitting.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FitReport {
    /// Rows given.
    pub rows: usize,
    /// Rows trained on.
    pub used: usize,
    /// Rows skipped: blank label.
    pub skipped_no_label: usize,
    /// Rows skipped: the text has no tokens (empty, blank, punctuation only).
    pub skipped_empty_text: usize,
    /// Texts cut at `max_tokens`.
    pub truncated: usize,
    /// Rows per label.
    pub class_counts: BTreeMap<String, usize>,
    /// Features (buckets) used.
    pub features: usize,
    /// The calibration temperature (1 when not calibrated).
    pub temperature: f64,
    /// Rows of the held-out slice (0 when not calibrated).
    pub calibration_rows: usize,
    /// Log loss on the held-out slice before calibration (T = 1).
    pub holdout_log_loss_raw: Option<f64>,
    /// Log loss on the held-out slice with T.
    pub holdout_log_loss: Option<f64>,
    /// Accuracy on the held-out slice (of the model fitted without it).
    pub holdout_accuracy: Option<f64>,
    /// Why calibration was skipped, if it was.
    pub calibration_note: Option<String>,
}

/// Fewest held-out rows worth fitting a temperature on.
const MIN_CALIBRATION_ROWS: usize = 20;

/// Fits a classifier on `texts` with `labels` (same length). Blank labels and texts
/// without tokens are skipped and counted; fewer than two classes is an error.
pub fn fit(
    p: &ClassifierParams,
    texts: &[&str],
    labels: &[&str],
) -> Result<(TextModel, FitReport)> {
    p.check()?;
    if texts.len() != labels.len() {
        return Err(TextError::LengthMismatch {
            what: "labels",
            expected: texts.len(),
            got: labels.len(),
        });
    }
    let tok = Tokenizer::new(p.tokenizer.clone());
    let mut tokens = Tokens::default();
    let mut counter = Counter::default();
    let mut docs: Vec<Vec<Counted>> = Vec::new();
    let mut y_text: Vec<&str> = Vec::new();
    let (mut no_label, mut empty, mut truncated) = (0, 0, 0);
    for (t, l) in texts.iter().zip(labels) {
        let l = l.trim();
        if l.is_empty() {
            no_label += 1;
            continue;
        }
        tok.tokenize_into(t, &mut tokens);
        if tokens.is_empty() {
            empty += 1;
            continue;
        }
        truncated += usize::from(tokens.truncated);
        let mut c = Vec::new();
        count_text(&p.features, &tokens, &mut counter, &mut c);
        docs.push(c);
        y_text.push(l);
    }
    let mut class_counts: BTreeMap<String, usize> = BTreeMap::new();
    for l in &y_text {
        *class_counts.entry((*l).to_string()).or_default() += 1;
    }
    if class_counts.len() < 2 {
        return Err(TextError::Data {
            what: "training rows".into(),
            reason: format!(
                "{} usable rows with {} distinct label(s) ({no_label} without a label, {empty} without text); a classifier needs at least two classes",
                docs.len(),
                class_counts.len()
            ),
        });
    }
    let labels: Vec<String> = class_counts.keys().cloned().collect();
    let y: Vec<u32> = y_text
        .iter()
        .map(|l| labels.binary_search_by(|x| x.as_str().cmp(l)).unwrap_or(0) as u32)
        .collect();
    let k = labels.len();
    let n = docs.len();
    let mut report = FitReport {
        rows: texts.len(),
        used: n,
        skipped_no_label: no_label,
        skipped_empty_text: empty,
        truncated,
        class_counts,
        features: 0,
        temperature: 1.0,
        calibration_rows: 0,
        holdout_log_loss_raw: None,
        holdout_log_loss: None,
        holdout_accuracy: None,
        calibration_note: None,
    };
    let held = (n as f64 * p.calibration_share).round() as usize;
    let mut calibrate = false;
    if p.calibration_share > 0.0 {
        if held < MIN_CALIBRATION_ROWS || n - held < 2 || p.epochs < 2 {
            report.calibration_note = Some(format!(
                "{held} held-out rows (fewer than {MIN_CALIBRATION_ROWS}?) over {} epoch(s) (fewer than 2?): scores left uncalibrated (T = 1)",
                p.epochs
            ));
        } else {
            calibrate = true;
        }
    }
    // One vocabulary over every text (the idf sees the held rows' words, never their labels).
    let vocab = Vocab::fit(&p.features, &docs);
    let xs: Vec<SparseVec> = docs.iter().map(|d| vocab.vector(&p.features, d)).collect();
    let fitted = sgd_held(
        p,
        &xs,
        &y,
        None,
        k,
        vocab.len(),
        calibrate.then_some(Held {
            from: n - held,
            joint_epochs: p.joint_epochs,
        }),
    );
    if calibrate {
        let held_scores = &fitted.held_scores;
        let yh = &y[n - held..];
        let t = fit_temperature(held_scores, yh);
        report.temperature = t;
        report.calibration_rows = held;
        report.holdout_log_loss_raw = Some(log_loss(held_scores, yh, 1.0));
        report.holdout_log_loss = Some(log_loss(held_scores, yh, t));
        let hits = held_scores
            .iter()
            .zip(yh)
            .filter(|(s, c)| crate::model::argmax(s) == **c as usize)
            .count();
        report.holdout_accuracy = Some(hits as f64 / held as f64);
    }
    let (w, b) = (fitted.w, fitted.b);
    report.features = vocab.len();
    let model = TextModel::new(
        p.tokenizer.clone(),
        p.features.clone(),
        p.loss,
        labels,
        report.temperature,
        vocab,
        w,
        b,
    );
    Ok((model, report))
}

pub(crate) fn scores(x: &[(u32, f32)], w: &[f32], b: &[f64]) -> Vec<f64> {
    let k = b.len();
    let mut s = b.to_vec();
    for &(j, v) in x {
        for (sc, wj) in s.iter_mut().zip(&w[j as usize * k..(j as usize + 1) * k]) {
            *sc += f64::from(v) * f64::from(*wj);
        }
    }
    s
}

/// splitmix64: a tiny, fixed generator for the example order.
#[derive(Debug)]
pub(crate) struct SplitMix(pub(crate) u64);

impl SplitMix {
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n ≥ 1), by rejection so it has no bias.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        let n = n as u64;
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let x = self.next_u64();
            if x < zone {
                return (x % n) as usize;
            }
        }
    }
}

/// Mean negative log-likelihood of `softmax(s / t)`.
pub fn log_loss(scores: &[Vec<f64>], y: &[u32], t: f64) -> f64 {
    let mut total = 0.0;
    for (s, &c) in scores.iter().zip(y) {
        let p = softmax(s, t)[c as usize];
        total -= p.max(1e-15).ln();
    }
    total / scores.len().max(1) as f64
}

/// The temperature minimising the log loss: golden-section search on ln T in [ln 0.01, ln 100].
pub fn fit_temperature(scores: &[Vec<f64>], y: &[u32]) -> f64 {
    let f = |u: f64| log_loss(scores, y, u.exp());
    let (mut a, mut b) = (0.01f64.ln(), 100f64.ln());
    let r = (5f64.sqrt() - 1.0) / 2.0;
    let mut c = b - r * (b - a);
    let mut d = a + r * (b - a);
    let (mut fc, mut fd) = (f(c), f(d));
    for _ in 0..60 {
        if fc < fd {
            b = d;
            d = c;
            fd = fc;
            c = b - r * (b - a);
            fc = f(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + r * (b - a);
            fd = f(d);
        }
    }
    ((a + b) / 2.0).exp()
}
