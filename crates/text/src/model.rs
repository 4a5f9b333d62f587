//! A fitted text classifier: tokenizer and feature settings, the vocabulary, one weight
//! vector per class, the calibration temperature. Predicts a label with a calibrated
//! probability and the words that drove it.
//!
//! Scores are `s_c = b_c + Σ_j x_j · w_jc`; probabilities are `softmax(s / T)` with the
//! temperature `T` fitted on a held-out slice at training time (see `train`). Reasons are
//! the tokens (and token pairs) whose features add most to the chosen class's score: each
//! bucket's contribution `x_j · w_jc` is shared among the occurrences that produced it, and
//! a character n-gram counts for its word.

use crate::features::{count_text, extract, Counter, Feat, FeatureParams, Vocab};
use crate::token::{Tokenizer, TokenizerParams, Tokens};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The loss the weights were trained with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// One-vs-rest hinge (a linear SVM per class, as scikit-learn's LinearSVC).
    Hinge,
    /// Multinomial logistic regression.
    Softmax,
}

/// One reason: a token or token pair and how much it added to the chosen class's score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reason {
    /// The normalised token text (`late fee` for a pair).
    pub text: String,
    /// Its contribution to the score.
    pub weight: f64,
}

/// A prediction for one text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    /// Index of the label in [`TextModel::labels`].
    pub label: usize,
    /// Calibrated probability of that label.
    pub score: f64,
    /// Calibrated probability of every label, in [`TextModel::labels`] order.
    pub probabilities: Vec<f64>,
    /// Top reasons, largest first (only positive contributions).
    pub reasons: Vec<Reason>,
    /// Tokens read.
    pub tokens: usize,
    /// The text had more tokens than `max_tokens`; the rest was not read.
    pub truncated: bool,
    /// Invalid UTF-8 sequences met (read as spaces).
    pub invalid_utf8: usize,
    /// No known feature: the prediction is the class priors' (bias only).
    pub no_features: bool,
}

/// A fitted classifier (the body of a model file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextModel {
    /// Tokenizer settings.
    pub tokenizer: TokenizerParams,
    /// Feature settings.
    pub features: FeatureParams,
    /// The loss used in training.
    pub loss: Loss,
    /// Class labels, sorted.
    pub labels: Vec<String>,
    /// Calibration temperature (1 when not calibrated).
    pub temperature: f64,
    /// Used buckets, ascending.
    #[serde(with = "crate::b64::u32s")]
    pub active: Vec<u32>,
    /// Their idf.
    #[serde(with = "crate::b64::f32s")]
    pub idf: Vec<f32>,
    /// Weights, feature-major: `weights[j * labels.len() + c]`.
    #[serde(with = "crate::b64::f32s")]
    pub weights: Vec<f32>,
    /// Intercept per class.
    pub bias: Vec<f64>,
    /// The escalation-risk model carried with this classifier (labels `no_relief`,
    /// `relief`; see [`crate::escalation`]), if it was trained with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation: Option<Box<TextModel>>,
    /// The sentiment lexicon the model scores with, if it carries sentiment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentiment: Option<crate::sentiment::SentimentParams>,
    /// One-vs-rest decision thresholds per label when this is a multi-label model (a label
    /// is predicted when its raw score is at least its threshold; see [`crate::multilabel`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<Vec<f64>>,
    /// The linear head on sentence embeddings blended into the label, if the model was
    /// trained with an embedding model (see [`crate::head`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<crate::head::EmbeddingHead>,
    #[serde(skip)]
    vocab: Vocab,
}

/// Reusable buffers for predicting many texts.
#[derive(Debug, Default)]
pub struct Scratch {
    tokens: Tokens,
    feats: Vec<Feat>,
    counts: Vec<crate::features::Counted>,
    counter: Counter,
}

impl TextModel {
    /// Assembles a model (used by training and loading); builds the lookup table.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        tokenizer: TokenizerParams,
        features: FeatureParams,
        loss: Loss,
        labels: Vec<String>,
        temperature: f64,
        vocab: Vocab,
        weights: Vec<f32>,
        bias: Vec<f64>,
    ) -> Self {
        TextModel {
            tokenizer,
            features,
            loss,
            labels,
            temperature,
            active: vocab.active.clone(),
            idf: vocab.idf.clone(),
            weights,
            bias,
            escalation: None,
            sentiment: None,
            thresholds: None,
            embedding: None,
            vocab,
        }
    }

    /// Checks a deserialised model's shapes and values and rebuilds its lookup table.
    pub fn prepare(&mut self) -> Result<(), String> {
        let k = self.labels.len();
        if k < 2 {
            return Err(format!("{k} labels; a classifier needs at least 2"));
        }
        let mut sorted = self.labels.clone();
        sorted.sort();
        sorted.dedup();
        if sorted != self.labels {
            return Err("labels are not sorted and unique".into());
        }
        if !(10..=24).contains(&self.features.buckets_log2) {
            return Err(format!(
                "buckets_log2 = {} is outside 10..=24",
                self.features.buckets_log2
            ));
        }
        if let Some(h) = &self.embedding {
            h.check_shapes(k)?;
        }
        let n = self.active.len();
        if self.idf.len() != n || self.weights.len() != n * k || self.bias.len() != k {
            return Err(format!(
                "array sizes disagree: {n} buckets, {} idf, {} weights (expected {}), {} biases (expected {k})",
                self.idf.len(),
                self.weights.len(),
                n * k,
                self.bias.len()
            ));
        }
        let limit = 1u64 << self.features.buckets_log2;
        if self.active.windows(2).any(|w| w[0] >= w[1])
            || self.active.last().is_some_and(|&b| u64::from(b) >= limit)
        {
            return Err("bucket list is not ascending within the hash space".into());
        }
        let finite = self.idf.iter().chain(&self.weights).all(|x| x.is_finite())
            && self.bias.iter().all(|x| x.is_finite());
        if !(finite && self.temperature.is_finite() && self.temperature > 0.0) {
            return Err("a weight, idf, bias or the temperature is not a finite number".into());
        }
        if let Some(t) = &self.thresholds {
            if t.len() != k || !t.iter().all(|x| x.is_finite()) {
                return Err(format!(
                    "{} thresholds for {k} labels, or one is not a finite number",
                    t.len()
                ));
            }
        }
        if let Some(s) = &self.sentiment {
            if s.lexicon != crate::sentiment::LEXICON {
                return Err(format!(
                    "sentiment lexicon `{}` is unknown to this build (it has `{}`)",
                    s.lexicon,
                    crate::sentiment::LEXICON
                ));
            }
        }
        if let Some(e) = &mut self.escalation {
            if e.labels != [crate::escalation::NO_RELIEF, crate::escalation::RELIEF] {
                return Err(format!(
                    "the escalation model's labels are {:?}, expected [\"{}\", \"{}\"]",
                    e.labels,
                    crate::escalation::NO_RELIEF,
                    crate::escalation::RELIEF
                ));
            }
            if e.escalation.is_some() || e.thresholds.is_some() {
                return Err("the escalation model carries a model of its own".into());
            }
            e.prepare().map_err(|m| format!("escalation model: {m}"))?;
        }
        self.vocab = Vocab::from_parts(
            self.active.clone(),
            self.idf.clone(),
            self.features.buckets_log2,
        );
        Ok(())
    }

    /// The class labels, sorted.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// The index of a label, if the model knows it.
    pub fn label_index(&self, label: &str) -> Option<usize> {
        self.labels.binary_search_by(|l| l.as_str().cmp(label)).ok()
    }

    fn featurise(&self, text: Text<'_>, s: &mut Scratch) {
        let t = Tokenizer::new(self.tokenizer.clone());
        match text {
            Text::Str(x) => t.tokenize_into(x, &mut s.tokens),
            Text::Bytes(b) => t.tokenize_bytes(b, &mut s.tokens),
        }
        count_text(&self.features, &s.tokens, &mut s.counter, &mut s.counts);
    }

    fn raw_scores(&self, v: &[(u32, f32)]) -> Vec<f64> {
        let k = self.labels.len();
        let mut s = self.bias.clone();
        for &(j, x) in v {
            let row = &self.weights[j as usize * k..(j as usize + 1) * k];
            for (sc, w) in s.iter_mut().zip(row) {
                *sc += f64::from(x) * f64::from(*w);
            }
        }
        s
    }

    /// Raw (uncalibrated) class scores of a text.
    pub fn scores(&self, text: &str, s: &mut Scratch) -> Vec<f64> {
        self.featurise(Text::Str(text), s);
        let v = self.vocab.vector(&self.features, &s.counts);
        self.raw_scores(&v)
    }

    /// The most likely label of a text (no reasons, no probabilities).
    pub fn predict_label(&self, text: &str, s: &mut Scratch) -> usize {
        argmax(&self.scores(text, s))
    }

    /// Predicts a text with up to `reasons` reasons.
    pub fn predict(&self, text: &str, reasons: usize, s: &mut Scratch) -> Prediction {
        self.predict_text(Text::Str(text), reasons, s)
    }

    /// Predicts raw bytes (invalid UTF-8 is read as spaces and counted).
    pub fn predict_bytes(&self, bytes: &[u8], reasons: usize, s: &mut Scratch) -> Prediction {
        self.predict_text(Text::Bytes(bytes), reasons, s)
    }

    /// Predicts a text, with the reasons for class `class` (whatever the predicted label):
    /// the words that pushed the score of `class` up.
    pub fn predict_for(
        &self,
        text: &str,
        class: usize,
        reasons: usize,
        s: &mut Scratch,
    ) -> Prediction {
        self.predict_inner(Text::Str(text), Some(class), reasons, s)
    }

    /// Raw scores and the reasons of every label at least at its threshold (multi-label
    /// models); `None` for a single-label model.
    pub fn predict_labels(
        &self,
        text: &str,
        reasons: usize,
        s: &mut Scratch,
    ) -> Option<Vec<(usize, f64, Vec<Reason>)>> {
        let th = self.thresholds.as_ref()?;
        self.featurise(Text::Str(text), s);
        let v = self.vocab.vector(&self.features, &s.counts);
        let scores = self.raw_scores(&v);
        let mut out = Vec::new();
        for (c, (sc, t)) in scores.iter().zip(th).enumerate() {
            if *sc >= *t {
                let r = if reasons > 0 && !v.is_empty() {
                    self.reasons(&v, c, reasons, s)
                } else {
                    Vec::new()
                };
                out.push((c, *sc, r));
            }
        }
        Some(out)
    }

    fn predict_text(&self, text: Text<'_>, reasons: usize, s: &mut Scratch) -> Prediction {
        self.predict_inner(text, None, reasons, s)
    }

    fn predict_inner(
        &self,
        text: Text<'_>,
        class: Option<usize>,
        reasons: usize,
        s: &mut Scratch,
    ) -> Prediction {
        self.featurise(text, s);
        let v = self.vocab.vector(&self.features, &s.counts);
        let scores = self.raw_scores(&v);
        let probabilities = softmax(&scores, self.temperature);
        let label = argmax(&scores);
        let why = class.filter(|&c| c < self.labels.len()).unwrap_or(label);
        let reasons = if reasons > 0 && !v.is_empty() {
            self.reasons(&v, why, reasons, s)
        } else {
            Vec::new()
        };
        Prediction {
            label,
            score: probabilities[label],
            probabilities,
            reasons,
            tokens: s.tokens.len(),
            truncated: s.tokens.truncated,
            invalid_utf8: s.tokens.invalid_utf8,
            no_features: v.is_empty(),
        }
    }

    fn reasons(&self, v: &[(u32, f32)], c: usize, top: usize, s: &mut Scratch) -> Vec<Reason> {
        let k = self.labels.len();
        // Occurrences with their origins (scoring counted them without).
        extract(&self.features, &s.tokens, &mut s.feats);
        let mut value: HashMap<u32, f64> = HashMap::new();
        for &(j, x) in v {
            *value.entry(j).or_default() += f64::from(x);
        }
        let mut occurrences: HashMap<u32, u32> = HashMap::new();
        for f in &s.feats {
            if let Some(j) = self.vocab.index(f.bucket) {
                *occurrences.entry(j).or_default() += 1;
            }
        }
        let mut by_text: HashMap<String, f64> = HashMap::new();
        for f in &s.feats {
            let Some(j) = self.vocab.index(f.bucket) else {
                continue;
            };
            let x = value.get(&j).copied().unwrap_or(0.0);
            let w = f64::from(self.weights[j as usize * k + c]);
            let share = x * w / f64::from(occurrences[&j]);
            let last = f.origin as usize;
            let first = last + 1 - usize::from(f.span.max(1));
            let text = (first..=last)
                .map(|i| s.tokens.text(i))
                .collect::<Vec<_>>()
                .join(" ");
            *by_text.entry(text).or_default() += share;
        }
        let mut r: Vec<Reason> = by_text
            .into_iter()
            .filter(|(_, w)| *w > 0.0)
            .map(|(text, weight)| Reason { text, weight })
            .collect();
        r.sort_by(|a, b| b.weight.total_cmp(&a.weight).then(a.text.cmp(&b.text)));
        r.truncate(top);
        r
    }
}

enum Text<'a> {
    Str(&'a str),
    Bytes(&'a [u8]),
}

/// Index of the largest score (the first on ties).
pub fn argmax(s: &[f64]) -> usize {
    let mut best = 0;
    for (i, x) in s.iter().enumerate() {
        if *x > s[best] {
            best = i;
        }
    }
    best
}

/// `softmax(s / t)`.
pub fn softmax(s: &[f64], t: f64) -> Vec<f64> {
    let m = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = s.iter().map(|x| ((x - m) / t).exp()).collect();
    let z: f64 = e.iter().sum();
    e.into_iter().map(|x| x / z).collect()
}
