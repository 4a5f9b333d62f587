//! Topics: what customers complain about, and how that moves week over week.
//!
//! ```text
//!  texts ─▶ tokens (redaction-aware) ─▶ words (no markers, numbers or stop words),
//!        min_df ≤ df ≤ max_df · n ─▶ sublinear tf · idf, rows L2-normalised ─▶ X (n × m)
//!  NMF  X ≈ W H (W: n × k text weights, H: k × m word weights), Frobenius loss,
//!       Lee–Seung multiplicative updates from a seeded uniform start
//!  topic t ─▶ its top words by H[t, ·]; a text ─▶ argmax W[i, ·] (none without words)
//!  periods (week, day, month) ─▶ texts per topic per period, share, change on the
//!       previous period; a topic is *emerging* when its share at least doubles and it has
//!       at least `emerging_min` texts in the period
//! ```
//!
//! Why NMF on TF-IDF (and not LDA or embedding clusters): it is deterministic from a seed,
//! fast on sparse data (each update costs the non-zeros × k), its topics are read directly
//! as weighted word lists, and on short complaint texts it gives topics as coherent as LDA's.
//! The vocabulary is built from real words here (not hashed) because topics are read by
//! people.

use crate::error::{Result, TextError};
use crate::token::{TokenKind, Tokenizer, Tokens};
use crate::train::SplitMix;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Topic settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopicParams {
    /// Number of topics (2..=200).
    pub k: usize,
    /// Multiplicative-update iterations (1..=5000).
    pub iterations: usize,
    /// A word must occur in at least this many texts.
    pub min_df: usize,
    /// A word in more than this share of texts is too common to name a topic (0 < x ≤ 1).
    pub max_df: f64,
    /// Words listed per topic.
    pub top_words: usize,
    /// Leave out common English function words.
    pub stop_words: bool,
    /// Seed of the starting point.
    pub seed: u64,
}

impl Default for TopicParams {
    fn default() -> Self {
        TopicParams {
            k: 10,
            iterations: 200,
            min_df: 5,
            max_df: 0.5,
            top_words: 10,
            stop_words: true,
            seed: 42,
        }
    }
}

impl TopicParams {
    /// Checks every value.
    pub fn check(&self) -> Result<()> {
        if !(2..=200).contains(&self.k) {
            return Err(TextError::param("k", self.k, "must be in 2..=200"));
        }
        if !(1..=5000).contains(&self.iterations) {
            return Err(TextError::param(
                "iterations",
                self.iterations,
                "must be in 1..=5000",
            ));
        }
        if self.min_df == 0 {
            return Err(TextError::param("min_df", 0, "must be ≥ 1"));
        }
        if !(self.max_df > 0.0 && self.max_df <= 1.0) {
            return Err(TextError::param("max_df", self.max_df, "must be in (0, 1]"));
        }
        if self.top_words == 0 {
            return Err(TextError::param("top_words", 0, "must be ≥ 1"));
        }
        Ok(())
    }
}

/// Fitted topics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Topics {
    /// Per topic, its top words with their weights, largest first.
    pub words: Vec<Vec<(String, f64)>>,
    /// Per text, its dominant topic and that topic's weight (none for a text without
    /// vocabulary words).
    pub assignment: Vec<Option<(usize, f64)>>,
    /// Words in the vocabulary.
    pub vocabulary: usize,
    /// Relative reconstruction error ‖X − WH‖ / ‖X‖ at the end.
    pub relative_error: f64,
}

/// English function words (scikit-learn's list is longer; these are the ones that would
/// otherwise top complaint topics).
const STOP: &[&str] = &[
    "a", "about", "after", "again", "all", "also", "am", "an", "and", "any", "are", "as", "at",
    "be", "because", "been", "before", "being", "but", "by", "can", "could", "did", "do", "does",
    "doing", "dont", "for", "from", "had", "has", "have", "having", "he", "her", "here", "him",
    "his", "how", "i", "if", "in", "into", "is", "it", "its", "just", "me", "more", "my", "no",
    "not", "now", "of", "on", "once", "only", "or", "other", "our", "out", "over", "own", "said",
    "same", "she", "so", "some", "still", "such", "than", "that", "the", "their", "them", "then",
    "there", "these", "they", "this", "those", "through", "to", "too", "under", "until", "up",
    "very", "was", "we", "were", "what", "when", "where", "which", "while", "who", "why", "will",
    "with", "would", "you", "your", "im", "ive", "get", "got", "also", "us", "told", "even", "one",
    "back", "since",
];

/// Fits `p.k` topics to `texts`.
pub fn topics(p: &TopicParams, tokenizer: &Tokenizer, texts: &[&str]) -> Result<Topics> {
    p.check()?;
    let stop: std::collections::HashSet<&str> = if p.stop_words {
        STOP.iter().copied().collect()
    } else {
        Default::default()
    };
    // Word counts per text.
    let mut toks = Tokens::default();
    let mut ids: HashMap<String, usize> = HashMap::new();
    let mut names: Vec<String> = Vec::new();
    let mut rows: Vec<Vec<(usize, u32)>> = Vec::with_capacity(texts.len());
    for t in texts {
        tokenizer.tokenize_into(t, &mut toks);
        let mut counts: BTreeMap<usize, u32> = BTreeMap::new();
        for (kind, w) in toks.iter() {
            if kind != TokenKind::Word || w.chars().count() < 2 || stop.contains(w) {
                continue;
            }
            let id = match ids.get(w) {
                Some(&id) => id,
                None => {
                    ids.insert(w.to_string(), names.len());
                    names.push(w.to_string());
                    names.len() - 1
                }
            };
            *counts.entry(id).or_default() += 1;
        }
        rows.push(counts.into_iter().collect());
    }
    let n = texts.len();
    let mut df = vec![0usize; names.len()];
    for r in &rows {
        for &(j, _) in r {
            df[j] += 1;
        }
    }
    let max_df = (p.max_df * n as f64).floor() as usize;
    // Vocabulary in a fixed order (by word), so results do not depend on hashing.
    let mut keep: Vec<usize> = (0..names.len())
        .filter(|&j| df[j] >= p.min_df && df[j] <= max_df.max(1))
        .collect();
    keep.sort_by(|&a, &b| names[a].cmp(&names[b]));
    if keep.len() < p.k {
        return Err(TextError::Data {
            what: "topics".into(),
            reason: format!(
                "{} words pass min_df = {} and max_df = {} over {n} texts, fewer than k = {}; lower min_df or k, or give more texts",
                keep.len(),
                p.min_df,
                p.max_df,
                p.k
            ),
        });
    }
    let mut col = vec![usize::MAX; names.len()];
    for (c, &j) in keep.iter().enumerate() {
        col[j] = c;
    }
    let m = keep.len();
    let x: Vec<Vec<(usize, f64)>> = rows
        .iter()
        .map(|r| {
            let mut v: Vec<(usize, f64)> = r
                .iter()
                .filter(|(j, _)| col[*j] != usize::MAX)
                .map(|&(j, tf)| {
                    let idf = ((1.0 + n as f64) / (1.0 + df[j] as f64)).ln() + 1.0;
                    (col[j], (1.0 + f64::from(tf).ln()) * idf)
                })
                .collect();
            let norm = v.iter().map(|e| e.1 * e.1).sum::<f64>().sqrt();
            if norm > 0.0 {
                for e in &mut v {
                    e.1 /= norm;
                }
            }
            v.sort_by_key(|e| e.0);
            v
        })
        .collect();
    let (w, h, err) = nmf(&x, m, p.k, p.iterations, p.seed);
    let k = p.k;
    let words = (0..k)
        .map(|t| {
            let mut ws: Vec<(usize, f64)> = (0..m).map(|c| (c, h[c * k + t])).collect();
            ws.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            ws.into_iter()
                .take(p.top_words)
                .filter(|e| e.1 > 0.0)
                .map(|(c, v)| (names[keep[c]].clone(), v))
                .collect()
        })
        .collect();
    let assignment = (0..n)
        .map(|i| {
            let row = &w[i * k..(i + 1) * k];
            let best = crate::model::argmax(row);
            (!x[i].is_empty() && row[best] > 0.0).then_some((best, row[best]))
        })
        .collect();
    Ok(Topics {
        words,
        assignment,
        vocabulary: m,
        relative_error: err,
    })
}

/// Lee–Seung multiplicative updates for ‖X − WH‖². W is n × k (row-major), H is stored
/// word-major (m × k) so a text's words read contiguous rows. Returns (W, H, relative error).
fn nmf(
    x: &[Vec<(usize, f64)>],
    m: usize,
    k: usize,
    iters: usize,
    seed: u64,
) -> (Vec<f64>, Vec<f64>, f64) {
    let n = x.len();
    let total: f64 = x.iter().flatten().map(|e| e.1).sum();
    // scikit-learn's "random" init scale: sqrt(mean(X) / k).
    let scale = (total / (n as f64 * m as f64).max(1.0) / k as f64)
        .sqrt()
        .max(1e-6);
    let mut rng = SplitMix(seed ^ 0x006e_6d66);
    let mut unit = || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let mut w: Vec<f64> = (0..n * k).map(|_| scale * unit()).collect();
    let mut h: Vec<f64> = (0..m * k).map(|_| scale * unit()).collect();
    let eps = 1e-12;
    let mut wtx = vec![0f64; m * k];
    let mut xht = vec![0f64; n * k];
    for _ in 0..iters {
        // H ← H ∘ (WᵀX) / (WᵀW H)
        wtx.iter_mut().for_each(|v| *v = 0.0);
        for (i, row) in x.iter().enumerate() {
            let wi = &w[i * k..(i + 1) * k];
            for &(j, v) in row {
                for (a, b) in wtx[j * k..(j + 1) * k].iter_mut().zip(wi) {
                    *a += v * b;
                }
            }
        }
        let wtw = gram(&w, k);
        for (hj, num) in h.chunks_exact_mut(k).zip(wtx.chunks_exact(k)) {
            let denom: Vec<f64> = wtw
                .chunks_exact(k)
                .map(|g| g.iter().zip(hj.iter()).map(|(a, b)| a * b).sum::<f64>())
                .collect();
            for ((v, a), d) in hj.iter_mut().zip(num).zip(&denom) {
                *v *= a / (d + eps);
            }
        }
        // W ← W ∘ (X Hᵀ) / (W H Hᵀ)
        xht.iter_mut().for_each(|v| *v = 0.0);
        for (i, row) in x.iter().enumerate() {
            let out = &mut xht[i * k..(i + 1) * k];
            for &(j, v) in row {
                for (a, b) in out.iter_mut().zip(&h[j * k..(j + 1) * k]) {
                    *a += v * b;
                }
            }
        }
        let hht = gram(&h, k);
        for (wi, num) in w.chunks_exact_mut(k).zip(xht.chunks_exact(k)) {
            // HHᵀ is symmetric: (W HHᵀ)_t = Σ_s w_s · hht[t, s].
            let denom: Vec<f64> = hht
                .chunks_exact(k)
                .map(|g| g.iter().zip(wi.iter()).map(|(a, b)| a * b).sum::<f64>())
                .collect();
            for ((v, a), d) in wi.iter_mut().zip(num).zip(&denom) {
                *v *= a / (d + eps);
            }
        }
    }
    // ‖X − WH‖² = ‖X‖² − 2 Σ_ij X_ij (WH)_ij + tr((WᵀW)(HHᵀ)).
    let x2: f64 = x.iter().flatten().map(|e| e.1 * e.1).sum();
    let mut cross = 0.0;
    for (i, row) in x.iter().enumerate() {
        for &(j, v) in row {
            let wh: f64 = (0..k).map(|t| w[i * k + t] * h[j * k + t]).sum();
            cross += v * wh;
        }
    }
    let (wtw, hht) = (gram(&w, k), gram(&h, k));
    let tr: f64 = (0..k * k).map(|q| wtw[q] * hht[q]).sum();
    let err = ((x2 - 2.0 * cross + tr).max(0.0) / x2.max(eps)).sqrt();
    (w, h, err)
}

/// AᵀA (k × k) of a row-major matrix with k columns.
fn gram(a: &[f64], k: usize) -> Vec<f64> {
    let mut g = vec![0f64; k * k];
    for row in a.chunks_exact(k) {
        for (gs, &rs) in g.chunks_exact_mut(k).zip(row) {
            for (v, &rt) in gs.iter_mut().zip(row) {
                *v += rs * rt;
            }
        }
    }
    g
}

/// One topic in one period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrendRow {
    /// The period's label (e.g. the Monday of the week).
    pub period: String,
    /// Topic index.
    pub topic: usize,
    /// Texts of the topic in the period.
    pub count: usize,
    /// Their share of the period's texts with a topic.
    pub share: f64,
    /// Share minus the previous period's share (none for the first period).
    pub change: Option<f64>,
    /// The share at least doubled on the previous period, with at least `min_count` texts.
    pub emerging: bool,
}

/// Texts per topic per period, in period order; `periods[i]` labels text `i`.
pub fn trend(t: &Topics, periods: &[String], k: usize, min_count: usize) -> Vec<TrendRow> {
    let mut by: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (a, p) in t.assignment.iter().zip(periods) {
        if let Some((topic, _)) = a {
            by.entry(p.as_str()).or_insert_with(|| vec![0; k])[*topic] += 1;
        }
    }
    let mut out = Vec::new();
    let mut prev: Option<Vec<f64>> = None;
    for (period, counts) in by {
        let total = counts.iter().sum::<usize>().max(1) as f64;
        let shares: Vec<f64> = counts.iter().map(|&c| c as f64 / total).collect();
        for (topic, (&count, &share)) in counts.iter().zip(&shares).enumerate() {
            let change = prev.as_ref().map(|p| share - p[topic]);
            let emerging = prev
                .as_ref()
                .is_some_and(|p| count >= min_count && share >= 2.0 * p[topic]);
            out.push(TrendRow {
                period: period.to_string(),
                topic,
                count,
                share,
                change,
                emerging,
            });
        }
        prev = Some(shares);
    }
    out
}

/// The Monday (`YYYY-MM-DD`) of the week of a `YYYY-MM-DD…` date, or `None` if it is not one.
pub fn week_of(date: &str) -> Option<String> {
    let micros = riskstream_core::time::parse_iso8601(date).ok()?;
    let days = micros.div_euclid(86_400_000_000);
    // 1970-01-01 was a Thursday: Monday-based weekday = (days + 3) mod 7.
    let monday = days - (days + 3).rem_euclid(7);
    let s = riskstream_core::time::format_micros(monday * 86_400_000_000);
    Some(s.chars().take(10).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_start_on_monday() {
        assert_eq!(week_of("2023-06-01").as_deref(), Some("2023-05-29"));
        assert_eq!(week_of("2023-06-05").as_deref(), Some("2023-06-05"));
        assert_eq!(week_of("2023-06-11").as_deref(), Some("2023-06-05"));
        assert_eq!(week_of("June"), None);
    }
}
