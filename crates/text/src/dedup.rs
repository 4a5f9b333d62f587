//! Near-duplicate detection for templated letters: MinHash signatures of word shingles,
//! banded locality-sensitive hashing for candidates, the estimated Jaccard similarity to
//! confirm them, and union-find for groups.
//!
//! ```text
//!  text ─▶ tokens (redaction-aware, so "XXXX" names and dates do not tell letters apart)
//!       ─▶ shingles of `shingle` words ─▶ bands × rows min-hashes
//!  band b of every text ─▶ bucket ─▶ neighbours in a bucket whose signatures agree on
//!       ≥ threshold of positions ─▶ union ─▶ group id (the smallest row index in the group)
//! ```
//!
//! Why MinHash over simhash: the credit-repair templates differ by inserted paragraphs and
//! names, which is a set-overlap question (Jaccard), and MinHash estimates exactly that.
//! With 16 bands of 8 rows, pairs at Jaccard 0.8 become candidates with probability
//! 0.9996 and pairs at 0.5 with 0.06. Within a bucket a text is compared with the bucket's
//! first text and its predecessor (not with every member), so a bucket of five hundred
//! copies costs a thousand comparisons, not a hundred thousand; groups are therefore
//! approximate at the margin, never wrong about a pair they join.
//!
//! A text without tokens (empty, blank) has no signature and is a group of its own.

use crate::error::{Result, TextError};
use crate::token::{Tokenizer, Tokens};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use xxhash_rust::xxh3::xxh3_64;

/// Near-duplicate settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DuplicateParams {
    /// Words per shingle (a text shorter than this is one shingle).
    pub shingle: usize,
    /// LSH bands.
    pub bands: usize,
    /// Min-hashes per band (signature length = bands × rows).
    pub rows: usize,
    /// Estimated Jaccard similarity at or above which two texts are near-duplicates.
    pub threshold: f64,
    /// Seed of the hash functions.
    pub seed: u64,
}

impl Default for DuplicateParams {
    fn default() -> Self {
        DuplicateParams {
            shingle: 5,
            bands: 16,
            rows: 8,
            threshold: 0.8,
            seed: 7,
        }
    }
}

impl DuplicateParams {
    /// Checks every value.
    pub fn check(&self) -> Result<()> {
        if !(1..=64).contains(&self.shingle) {
            return Err(TextError::param(
                "shingle",
                self.shingle,
                "must be in 1..=64",
            ));
        }
        if !(1..=256).contains(&self.bands) || !(1..=64).contains(&self.rows) {
            return Err(TextError::param(
                "bands × rows",
                format!("{} × {}", self.bands, self.rows),
                "bands must be in 1..=256 and rows in 1..=64",
            ));
        }
        if !(self.threshold > 0.0 && self.threshold <= 1.0) {
            return Err(TextError::param(
                "threshold",
                self.threshold,
                "must be in (0, 1]",
            ));
        }
        Ok(())
    }
}

fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The MinHash signature of a tokenized text; `None` without tokens.
pub fn signature(p: &DuplicateParams, toks: &Tokens) -> Option<Vec<u64>> {
    if toks.is_empty() {
        return None;
    }
    let h: Vec<u64> = toks.iter().map(|(_, t)| xxh3_64(t.as_bytes())).collect();
    let w = p.shingle.min(h.len());
    let shingles: Vec<u64> = h
        .windows(w)
        .map(|win| {
            win.iter()
                .fold(0u64, |acc, &x| mix64(acc.rotate_left(21) ^ x))
        })
        .collect();
    let m = p.bands * p.rows;
    let seeds: Vec<u64> = (0..m as u64)
        .map(|i| mix64(p.seed.wrapping_add(i.wrapping_mul(0x9E37_79B9_7F4A_7C15))))
        .collect();
    Some(
        seeds
            .iter()
            .map(|&s| {
                shingles
                    .iter()
                    .map(|&x| mix64(x ^ s))
                    .min()
                    .unwrap_or(u64::MAX)
            })
            .collect(),
    )
}

/// Estimated Jaccard similarity: the share of equal signature positions.
pub fn similarity(a: &[u64], b: &[u64]) -> f64 {
    if a.is_empty() || a.len() != b.len() {
        return 0.0;
    }
    a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / a.len() as f64
}

fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

/// The near-duplicate group of every text: the smallest index of a text in its group
/// (a text alone is its own group).
pub fn near_duplicates(
    p: &DuplicateParams,
    tokenizer: &Tokenizer,
    texts: &[&str],
) -> Result<Vec<usize>> {
    p.check()?;
    let mut toks = Tokens::default();
    let sigs: Vec<Option<Vec<u64>>> = texts
        .iter()
        .map(|t| {
            tokenizer.tokenize_into(t, &mut toks);
            signature(p, &toks)
        })
        .collect();
    let mut parent: Vec<usize> = (0..texts.len()).collect();
    for b in 0..p.bands {
        let mut buckets: HashMap<u64, Vec<usize>> = HashMap::new();
        for (i, s) in sigs.iter().enumerate() {
            if let Some(s) = s {
                let key = xxh3_64(
                    &s[b * p.rows..(b + 1) * p.rows]
                        .iter()
                        .flat_map(|x| x.to_le_bytes())
                        .collect::<Vec<u8>>(),
                );
                buckets.entry(key).or_default().push(i);
            }
        }
        let mut keys: Vec<u64> = buckets.keys().copied().collect();
        keys.sort_unstable();
        for key in keys {
            let members = &buckets[&key];
            for w in 1..members.len() {
                for other in [members[0], members[w - 1]] {
                    let i = members[w];
                    if let (Some(a), Some(c)) = (&sigs[i], &sigs[other]) {
                        if similarity(a, c) >= p.threshold {
                            let (ra, rc) = (find(&mut parent, i), find(&mut parent, other));
                            if ra != rc {
                                let (lo, hi) = (ra.min(rc), ra.max(rc));
                                parent[hi] = lo;
                            }
                        }
                    }
                }
            }
        }
    }
    Ok((0..texts.len()).map(|i| find(&mut parent, i)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templated_letters_group_and_different_texts_do_not() {
        let letter = "I am writing to dispute the following information in my file. The items I need \
                      reinvestigated are listed below. Under the Fair Credit Reporting Act section 609 \
                      you must verify or delete these accounts within thirty days of this letter";
        let a = format!("My name is XXXX XXXX. {letter}");
        let b = format!("My name is XXXX. {letter} Thank you.");
        let c = "The bank charged me an overdraft fee twice for one purchase at the grocery store \
                 and refused to refund it when I called the branch manager about the problem";
        let texts = [a.as_str(), c, b.as_str(), "", c];
        let g =
            near_duplicates(&DuplicateParams::default(), &Tokenizer::default(), &texts).unwrap();
        assert_eq!(g, [0, 1, 0, 3, 1]);
    }

    #[test]
    fn bad_settings_are_refused() {
        let p = DuplicateParams {
            threshold: 0.0,
            ..Default::default()
        };
        assert!(near_duplicates(&p, &Tokenizer::default(), &["x"]).is_err());
    }
}
