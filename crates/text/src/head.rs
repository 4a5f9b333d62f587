//! The linear head on sentence embeddings: multinomial logistic regression over the
//! standardised embedding of a text, blended with the n-gram model's probabilities.
//!
//! ```text
//!  text ─▶ embed::Embedder (384 floats, L2-normalised) ─▶ (e − mean) / std
//!       ─▶ softmax(W · z + b) = p_emb
//!  text ─▶ the n-gram model (TextModel) ───────────────▶ p_ngram (calibrated), reasons
//!  p = (1 − blend) · p_emb + blend · p_ngram ─▶ label, score; reasons from the n-gram model
//! ```
//!
//! Why a blend and not the embedding alone: the embedding carries the gist of a complaint,
//! the n-gram model the product names and jargon that route it ("escrow", "FCRA 1681"); on
//! the CFPB time split each alone is weaker than the two together (BENCHMARKS.md). The blend
//! weight (0.75) and the fit settings are hyper-parameters chosen on an inner time split of
//! the training rows (`examples/embed_tune.rs`), never on the test rows.
//! Why the n-gram model still gives the reasons: an embedding has no words to show.
//!
//! Fit: mini-batch Adam on the class-weighted cross-entropy with L2, a seeded order, a fixed
//! number of epochs; the same rows, parameters and seed give the same bits. Features are
//! standardised with the training rows' mean and deviation (stored), since normalised
//! embeddings have coordinates near ±0.05 that plain SGD would crawl over.
//!
//! The head records the identity of the embedding model (SHA-256 of its
//! `model.safetensors`); [`EmbeddingHead::check`] refuses any other directory.

use crate::embed::Embedder;
use crate::error::{Result, TextError};
use crate::model::softmax;
use crate::train::{ClassWeight, SplitMix};
use serde::{Deserialize, Serialize};

/// Hyper-parameters of the head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeadParams {
    /// Passes over the training rows (1 to 1000; default 40).
    pub epochs: usize,
    /// Rows per Adam step (1 to 4096; default 32).
    pub batch: usize,
    /// Adam step size (> 0 and ≤ 1; default 0.003).
    pub learning_rate: f64,
    /// L2 penalty on the weights (≥ 0, < 1; default 1e-4).
    pub l2: f64,
    /// Class weights (default square root of balanced, as the n-gram model's).
    pub class_weight: ClassWeight,
    /// Weight of the n-gram model's probabilities in the blend, 0 to 1 (default 0.75; 0 is
    /// the embedding head alone). Chosen with the other defaults on the inner time split of
    /// the CFPB training rows (`examples/embed_tune.rs`: the highest sum of accuracy and
    /// macro-F1 over `product` and `issue` among blends below 1; BENCHMARKS.md).
    pub blend: f64,
    /// Seed of the row order.
    pub seed: u64,
}

impl Default for HeadParams {
    fn default() -> Self {
        HeadParams {
            epochs: 40,
            batch: 32,
            learning_rate: 0.003,
            l2: 1e-4,
            class_weight: ClassWeight::Sqrt,
            blend: 0.75,
            seed: 42,
        }
    }
}

impl HeadParams {
    /// Checks every range before anything is fitted.
    pub fn check(&self) -> Result<()> {
        if !(1..=1000).contains(&self.epochs) {
            return Err(TextError::param(
                "head.epochs",
                self.epochs,
                "give 1 to 1000",
            ));
        }
        if !(1..=4096).contains(&self.batch) {
            return Err(TextError::param("head.batch", self.batch, "give 1 to 4096"));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate <= 1.0) {
            return Err(TextError::param(
                "head.learning_rate",
                self.learning_rate,
                "give a value in (0, 1]",
            ));
        }
        if !(0.0..1.0).contains(&self.l2) {
            return Err(TextError::param(
                "head.l2",
                self.l2,
                "give a value in [0, 1)",
            ));
        }
        if !(0.0..=1.0).contains(&self.blend) {
            return Err(TextError::param(
                "head.blend",
                self.blend,
                "give a value in [0, 1]",
            ));
        }
        Ok(())
    }
}

/// A fitted head (part of a model file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingHead {
    /// `sha256:<hex>` of the embedding model's `model.safetensors`.
    pub embedding_model: String,
    /// The directory it was trained with (a default for scoring; the identity decides).
    pub embedding_dir: String,
    /// Floats per embedding.
    pub dim: usize,
    /// Weight of the n-gram model's probabilities.
    pub blend: f64,
    /// Training mean per coordinate.
    #[serde(with = "crate::b64::f32s")]
    pub mean: Vec<f32>,
    /// Training standard deviation per coordinate (floored at 1e-6).
    #[serde(with = "crate::b64::f32s")]
    pub scale: Vec<f32>,
    /// Weights, class-major: `weights[c * dim + j]`.
    #[serde(with = "crate::b64::f32s")]
    pub weights: Vec<f32>,
    /// Intercept per class.
    pub bias: Vec<f64>,
}

impl EmbeddingHead {
    /// Refuses an embedder other than the one the head was trained on.
    pub fn check(&self, e: &Embedder, model: &str) -> Result<()> {
        if e.identity() != self.embedding_model || e.dim() != self.dim {
            return Err(TextError::EmbeddingMismatch {
                model: model.into(),
                expected: self.embedding_model.clone(),
                dir: e.dir().display().to_string(),
                found: e.identity().into(),
            });
        }
        Ok(())
    }

    /// Checks shapes after loading: `k` classes.
    pub(crate) fn check_shapes(&self, k: usize) -> Result<(), String> {
        let d = self.dim;
        if d == 0 || self.mean.len() != d || self.scale.len() != d {
            return Err(format!(
                "embedding head: mean/scale must hold dim = {d} values"
            ));
        }
        if self.weights.len() != k * d || self.bias.len() != k {
            return Err(format!(
                "embedding head: weights must be {k} × {d} and bias {k}"
            ));
        }
        if !(0.0..=1.0).contains(&self.blend) {
            return Err(format!(
                "embedding head: blend {} is outside [0, 1]",
                self.blend
            ));
        }
        let finite = |v: &[f32]| v.iter().all(|x| x.is_finite());
        if !finite(&self.mean)
            || !finite(&self.scale)
            || !finite(&self.weights)
            || self.bias.iter().any(|b| !b.is_finite())
        {
            return Err("embedding head: a weight is not finite".into());
        }
        Ok(())
    }

    /// Probabilities of every class from the head alone.
    pub fn probabilities(&self, embedding: &[f32]) -> Vec<f64> {
        let z = standardise(embedding, &self.mean, &self.scale);
        softmax(&logits(&self.weights, &self.bias, &z), 1.0)
    }

    /// The blend of the head's and the n-gram model's probabilities.
    pub fn blend(&self, embedding: &[f32], ngram: &[f64]) -> Vec<f64> {
        let pe = self.probabilities(embedding);
        pe.iter()
            .zip(ngram)
            .map(|(a, b)| (1.0 - self.blend) * a + self.blend * b)
            .collect()
    }
}

fn standardise(e: &[f32], mean: &[f32], scale: &[f32]) -> Vec<f64> {
    e.iter()
        .zip(mean.iter().zip(scale))
        .map(|(x, (m, s))| f64::from((x - m) / s))
        .collect()
}

fn logits(w: &[f32], b: &[f64], z: &[f64]) -> Vec<f64> {
    let d = z.len();
    b.iter()
        .enumerate()
        .map(|(c, bc)| {
            bc + w[c * d..(c + 1) * d]
                .iter()
                .zip(z)
                .map(|(wi, zi)| f64::from(*wi) * zi)
                .sum::<f64>()
        })
        .collect()
}

/// Fits the head on embeddings `x` (rows of equal length) and class indices `y` < `k`.
pub fn fit_head(
    p: &HeadParams,
    x: &[Vec<f32>],
    y: &[u32],
    k: usize,
    embedder: &Embedder,
) -> Result<EmbeddingHead> {
    p.check()?;
    if x.len() != y.len() {
        return Err(TextError::LengthMismatch {
            what: "head labels",
            expected: x.len(),
            got: y.len(),
        });
    }
    let d = embedder.dim();
    if x.is_empty() || x.iter().any(|r| r.len() != d) || y.iter().any(|&c| c as usize >= k) || k < 2
    {
        return Err(TextError::Data {
            what: "embedding head".into(),
            reason: format!("needs rows of {d} floats and labels of at least two classes"),
        });
    }
    let n = x.len() as f64;
    let mut mean = vec![0f64; d];
    for r in x {
        for (m, v) in mean.iter_mut().zip(r) {
            *m += f64::from(*v) / n;
        }
    }
    let mut var = vec![0f64; d];
    for r in x {
        for ((s, v), m) in var.iter_mut().zip(r).zip(&mean) {
            *s += (f64::from(*v) - m).powi(2) / n;
        }
    }
    let mean: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
    let scale: Vec<f32> = var.iter().map(|&v| (v.sqrt() as f32).max(1e-6)).collect();
    let z: Vec<Vec<f64>> = x.iter().map(|r| standardise(r, &mean, &scale)).collect();
    let cw = class_weights(p.class_weight, y, k);

    // Adam over [W | b] flattened: weights first, then the k intercepts.
    let size = k * d + k;
    let mut theta = vec![0f64; size];
    let (mut m1, mut m2) = (vec![0f64; size], vec![0f64; size]);
    let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
    let mut grad = vec![0f64; size];
    let mut order: Vec<usize> = (0..x.len()).collect();
    let mut rng = SplitMix(p.seed);
    let mut t = 0i32;
    for _ in 0..p.epochs {
        for i in (1..order.len()).rev() {
            let j = rng.below(i + 1);
            order.swap(i, j);
        }
        for chunk in order.chunks(p.batch) {
            grad.fill(0.0);
            let (w, b) = theta.split_at(k * d);
            let wf: Vec<f32> = w.iter().map(|&v| v as f32).collect();
            for &i in chunk {
                let pr = softmax(&logits(&wf, b, &z[i]), 1.0);
                let wt = cw[y[i] as usize] / chunk.len() as f64;
                for (c, pc) in pr.iter().enumerate() {
                    let g = wt * (pc - if c == y[i] as usize { 1.0 } else { 0.0 });
                    for (gj, zj) in grad[c * d..(c + 1) * d].iter_mut().zip(&z[i]) {
                        *gj += g * zj;
                    }
                    grad[k * d + c] += g;
                }
            }
            for (g, th) in grad[..k * d].iter_mut().zip(&theta[..k * d]) {
                *g += p.l2 * th;
            }
            t += 1;
            let (c1, c2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
            for q in 0..size {
                m1[q] = b1 * m1[q] + (1.0 - b1) * grad[q];
                m2[q] = b2 * m2[q] + (1.0 - b2) * grad[q] * grad[q];
                theta[q] -= p.learning_rate * (m1[q] / c1) / ((m2[q] / c2).sqrt() + eps);
            }
        }
    }
    let weights: Vec<f32> = theta[..k * d].iter().map(|&v| v as f32).collect();
    Ok(EmbeddingHead {
        embedding_model: embedder.identity().to_string(),
        embedding_dir: embedder.dir().display().to_string(),
        dim: d,
        blend: p.blend,
        mean,
        scale,
        weights,
        bias: theta[k * d..].to_vec(),
    })
}

/// Per-class example weights: none, balanced `n / (k · n_c)`, or its square root (as the
/// n-gram model's).
fn class_weights(cw: ClassWeight, y: &[u32], k: usize) -> Vec<f64> {
    let mut per = vec![0usize; k];
    for &c in y {
        per[c as usize] += 1;
    }
    let present = per.iter().filter(|&&c| c > 0).count().max(1) as f64;
    per.iter()
        .map(|&c| {
            let bal = if c == 0 {
                1.0
            } else {
                y.len() as f64 / (present * c as f64)
            };
            match cw {
                ClassWeight::None => 1.0,
                ClassWeight::Balanced => bal,
                ClassWeight::Sqrt => bal.sqrt(),
            }
        })
        .collect()
}

impl crate::model::TextModel {
    /// Predicts a text; when the model has an embedding head and `embedding` is given, the
    /// label and score are the blend's and the reasons are the n-gram model's words for
    /// that label. Without a head (or an embedding) this is [`crate::TextModel::predict`].
    pub fn predict_embedded(
        &self,
        text: &str,
        embedding: Option<&[f32]>,
        reasons: usize,
        s: &mut crate::model::Scratch,
    ) -> crate::model::Prediction {
        let p = self.predict(text, 0, s);
        let (Some(h), Some(e)) = (&self.embedding, embedding) else {
            return self.predict(text, reasons, s);
        };
        let probs = h.blend(e, &p.probabilities);
        let label = crate::model::argmax(&probs);
        let mut out = self.predict_for(text, label, reasons, s);
        out.label = label;
        out.score = probs[label];
        out.probabilities = probs;
        out
    }
}

/// A model with an embedding head and the embedder it was trained on, checked to match.
#[derive(Debug, Clone, Copy)]
pub struct Embedded<'a> {
    model: &'a crate::model::TextModel,
    embedder: &'a Embedder,
}

impl<'a> Embedded<'a> {
    /// Pairs a model with an embedder: refused when the model has no embedding head or was
    /// trained on another embedding model. `origin` names the model file in errors.
    pub fn new(
        model: &'a crate::model::TextModel,
        embedder: &'a Embedder,
        origin: &str,
    ) -> Result<Self> {
        let h = model
            .embedding
            .as_ref()
            .ok_or_else(|| TextError::ModelFile {
                path: origin.into(),
                reason: "has no embedding head; train with `--embedding-model DIR`".into(),
            })?;
        h.check(embedder, origin)?;
        Ok(Embedded { model, embedder })
    }

    /// The embeddings of `texts` (batched).
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        self.embedder.embed(texts)
    }

    /// Predicted label index of every text.
    pub fn predict_labels(&self, texts: &[&str]) -> Result<Vec<usize>> {
        let emb = self.embed(texts)?;
        let mut s = crate::model::Scratch::default();
        Ok(texts
            .iter()
            .zip(&emb)
            .map(|(t, e)| self.model.predict_embedded(t, Some(e), 0, &mut s).label)
            .collect())
    }
}
