//! Hashed n-gram features, fastText-style, weighted like TF-IDF.
//!
//! ```text
//!  Tokens ─▶ word n-grams (1..=word_ngrams)      ─┐ hash → bucket (2^buckets_log2)
//!        └▶ character n-grams of each word,       ├▶ counts per (bucket, group), in order
//!           with `<` `>` boundary marks          ─┘   of first occurrence (Counter)
//!  fit: document frequency per bucket ─▶ Vocab (buckets with df ≥ min_df, idf)
//!  vector: (1 + ln tf) · idf per bucket, word and character parts L2-normalised apart,
//!          the character part scaled by char_weight ─▶ SparseVec
//! ```
//!
//! Why hashing: no vocabulary to build or ship, any n-gram maps to a feature in O(1), and
//! unseen words still share character n-grams with seen ones (misspellings, inflections).
//! Why the TF-IDF weighting on top (fastText averages embeddings instead): on a few thousand
//! documents a linear model over sublinear-tf, idf-weighted, L2-normalised vectors is what
//! the strong baseline uses, and `min_df` both removes one-off noise and keeps the model
//! file small (only buckets that survive are stored). Word and character parts are
//! normalised apart so the many character n-grams do not drown the words.
//!
//! Speed: word tokens are hashed with xxh3; character n-grams with FNV-1a extended one
//! character at a time from each start (a 5-gram costs one step more than its 4-gram) and
//! finished with a 64-bit mixer; counting uses a small hash table per text instead of a
//! sort, so a text costs time linear in its features.

use crate::token::{TokenKind, Tokens};
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64_with_seed;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Feature settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeatureParams {
    /// Hash space: 2^buckets_log2 buckets (10..=24).
    pub buckets_log2: u32,
    /// Word n-grams up to this length: 1 unigrams, 2 also bigrams, 3 also trigrams.
    pub word_ngrams: usize,
    /// Shortest character n-gram of a word (with `<` `>` boundary marks); 0 (the default)
    /// turns character n-grams off, 3 with `char_max` 5 is fastText's choice.
    pub char_min: usize,
    /// Longest character n-gram (≤ 8).
    pub char_max: usize,
    /// Weight of the character part of a text's vector against the word part (each part
    /// is L2-normalised, then the character part is scaled by this).
    pub char_weight: f64,
    /// A bucket must occur in at least this many training texts to be used (like
    /// scikit-learn's `min_df`).
    pub min_df: u32,
}

impl Default for FeatureParams {
    fn default() -> Self {
        FeatureParams {
            buckets_log2: 20,
            word_ngrams: 2,
            // Off by default: on the inner time split of the CFPB training rows words alone
            // score as well, at a quarter of the time (BENCHMARKS.md, issue 33).
            char_min: 0,
            char_max: 5,
            char_weight: 0.5,
            min_df: 2,
        }
    }
}

/// Longest word (in characters) whose character n-grams are taken; longer words use
/// their first this many characters.
const MAX_CHAR_WORD: usize = 64;
const SEED_WORD: u64 = 0x5157_4f52_445f_3031;

/// Word features (n-grams) and character features are normalised apart.
pub const GROUP_WORD: u8 = 0;
/// The character n-gram group.
pub const GROUP_CHAR: u8 = 1;

/// One feature occurrence: its bucket, and where it came from (for reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feat {
    /// Hash bucket.
    pub bucket: u32,
    /// Index of the last token of the n-gram (the word, for character n-grams).
    pub origin: u32,
    /// Tokens in the n-gram; 0 for a character n-gram.
    pub span: u8,
}

/// A bucket's count in one text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    /// Hash bucket.
    pub bucket: u32,
    /// [`GROUP_WORD`] or [`GROUP_CHAR`].
    pub group: u8,
    /// Occurrences.
    pub tf: u32,
}

fn mix(a: u64, b: u64, n: u64) -> u64 {
    // splitmix64 finaliser over an order-sensitive combination.
    let mut z = a.rotate_left(23) ^ b ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Every feature occurrence of a tokenized text, in token order.
pub fn extract(p: &FeatureParams, toks: &Tokens, out: &mut Vec<Feat>) {
    out.clear();
    let mask = (1u64 << p.buckets_log2) - 1;
    let hashes: Vec<u64> = (0..toks.len())
        .map(|i| xxh3_64_with_seed(toks.text(i).as_bytes(), SEED_WORD))
        .collect();
    let mut word = String::new();
    let mut bounds: Vec<usize> = Vec::new();
    for i in 0..toks.len() {
        out.push(Feat {
            bucket: (hashes[i] & mask) as u32,
            origin: i as u32,
            span: 1,
        });
        for n in 2..=p.word_ngrams.min(i + 1) {
            let mut g = hashes[i + 1 - n];
            for h in &hashes[i + 2 - n..=i] {
                g = mix(g, *h, n as u64);
            }
            out.push(Feat {
                bucket: (g & mask) as u32,
                origin: i as u32,
                span: n as u8,
            });
        }
        if p.char_min == 0 || toks.kind(i) != TokenKind::Word {
            continue;
        }
        char_grams(p, toks.text(i), &mut word, &mut bounds, &mut |bucket| {
            out.push(Feat {
                bucket,
                origin: i as u32,
                span: 0,
            })
        });
    }
}

/// Calls `emit` with the bucket of every character n-gram of `text` (with `<` `>` marks);
/// `word` and `bounds` are scratch buffers.
fn char_grams(
    p: &FeatureParams,
    text: &str,
    word: &mut String,
    bounds: &mut Vec<usize>,
    emit: &mut dyn FnMut(u32),
) {
    let mask = (1u64 << p.buckets_log2) - 1;
    word.clear();
    word.push('<');
    word.extend(text.chars().take(MAX_CHAR_WORD));
    word.push('>');
    bounds.clear();
    bounds.extend(word.char_indices().map(|(k, _)| k));
    bounds.push(word.len());
    let chars = bounds.len() - 1;
    let bytes = word.as_bytes();
    for s in 0..chars {
        let mut h = FNV_OFFSET;
        for e in s + 1..=(s + p.char_max).min(chars) {
            for &b in &bytes[bounds[e - 1]..bounds[e]] {
                h = (h ^ u64::from(b)).wrapping_mul(FNV_PRIME);
            }
            if e - s >= p.char_min {
                emit((mix(h, 0, 1) & mask) as u32);
            }
        }
    }
}

/// Counts a text's features straight into `out`: the same (bucket, group, tf) as [`extract`]
/// then [`Counter::count`] (in another order), but a word's character n-grams are made once
/// per distinct word and counted with the word's count, so a word said ten times costs its
/// n-grams once. Training and scoring use this; [`extract`] is kept for reasons, which need
/// each occurrence's origin.
pub fn count_text(p: &FeatureParams, toks: &Tokens, c: &mut Counter, out: &mut Vec<Counted>) {
    out.clear();
    let mask = (1u64 << p.buckets_log2) - 1;
    c.hashes.clear();
    c.hashes
        .extend((0..toks.len()).map(|i| xxh3_64_with_seed(toks.text(i).as_bytes(), SEED_WORD)));
    c.reset(toks.len() * p.word_ngrams);
    // Distinct words (by their 64-bit hash) with their count, for the character n-grams.
    let chars = p.char_min > 0;
    c.words.clear();
    if chars {
        let cap = (toks.len() * 2).next_power_of_two().max(64);
        c.word_keys.clear();
        c.word_keys.resize(cap, u32::MAX);
    }
    for i in 0..toks.len() {
        c.add((c.hashes[i] & mask) as u32, GROUP_WORD, 1, out);
        for n in 2..=p.word_ngrams.min(i + 1) {
            let mut g = c.hashes[i + 1 - n];
            for h in &c.hashes[i + 2 - n..=i] {
                g = mix(g, *h, n as u64);
            }
            c.add((g & mask) as u32, GROUP_WORD, 1, out);
        }
        if chars && toks.kind(i) == TokenKind::Word {
            c.count_word(i);
        }
    }
    let mut word = String::new();
    let mut bounds = Vec::new();
    let words = std::mem::take(&mut c.words);
    for &(i, n) in &words {
        char_grams(p, toks.text(i as usize), &mut word, &mut bounds, &mut |b| {
            c.add(b, GROUP_CHAR, n, out)
        });
    }
    c.words = words;
}

/// Counts features per (bucket, group) without sorting: a small open-addressing table per
/// text (twice the text's features, so it stays in cache) maps a (bucket, group) to its
/// count's place.
#[derive(Debug, Default)]
pub struct Counter {
    keys: Vec<u32>,
    slots: Vec<u32>,
    /// Entries in `keys`, to grow the table before it fills.
    fill: usize,
    hashes: Vec<u64>,
    /// Distinct words of the text: (first token index, count).
    words: Vec<(u32, u32)>,
    /// Open-addressing table over `words`, keyed by the word's hash.
    word_keys: Vec<u32>,
}

impl Counter {
    /// Empties the table, sized for about `expected` distinct keys.
    fn reset(&mut self, expected: usize) {
        let cap = (expected * 2).next_power_of_two().max(64);
        self.keys.clear();
        self.keys.resize(cap, u32::MAX);
        self.slots.resize(cap, 0);
        self.fill = 0;
    }

    /// Adds `tf` to (bucket, group), appending it to `out` when new.
    fn add(&mut self, bucket: u32, group: u8, tf: u32, out: &mut Vec<Counted>) {
        if (self.fill + 1) * 2 > self.keys.len() {
            // Grow and re-insert what is counted so far (`out` holds every key once).
            self.reset(self.keys.len());
            for (k, e) in out.iter().enumerate() {
                let key = (e.bucket << 1) | u32::from(e.group);
                let h = self.find(key);
                self.keys[h] = key;
                self.slots[h] = k as u32;
            }
            self.fill = out.len();
        }
        // Buckets are below 2^24 (checked), so the key fits 25 bits and never equals MAX.
        let key = (bucket << 1) | u32::from(group);
        let h = self.find(key);
        if self.keys[h] == key {
            out[self.slots[h] as usize].tf += tf;
        } else {
            self.keys[h] = key;
            self.slots[h] = out.len() as u32;
            self.fill += 1;
            out.push(Counted { bucket, group, tf });
        }
    }

    /// The slot holding `key`, or the empty slot where it goes.
    fn find(&self, key: u32) -> usize {
        let mask = self.keys.len() - 1;
        let shift = 64 - self.keys.len().trailing_zeros();
        let mut h = (u64::from(key).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) as usize;
        loop {
            let k = self.keys[h];
            if k == key || k == u32::MAX {
                return h;
            }
            h = (h + 1) & mask;
        }
    }

    /// Counts token `i` (a word) among the text's distinct words.
    fn count_word(&mut self, i: usize) {
        let mask = self.word_keys.len() - 1;
        let hash = self.hashes[i];
        let shift = 64 - self.word_keys.len().trailing_zeros();
        let mut h = (hash.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) as usize;
        loop {
            let k = self.word_keys[h];
            if k == u32::MAX {
                self.word_keys[h] = self.words.len() as u32;
                self.words.push((i as u32, 1));
                return;
            }
            let w = &mut self.words[k as usize];
            if self.hashes[w.0 as usize] == hash {
                w.1 += 1;
                return;
            }
            h = (h + 1) & mask;
        }
    }

    /// Counts `feats` into `out`, in order of first occurrence.
    pub fn count(&mut self, feats: &[Feat], out: &mut Vec<Counted>) {
        out.clear();
        let cap = (feats.len() * 2).next_power_of_two().max(64);
        let shift = 64 - cap.trailing_zeros();
        self.keys.clear();
        self.keys.resize(cap, u32::MAX);
        self.slots.resize(cap, 0);
        let mask = cap - 1;
        for f in feats {
            let group = u8::from(f.span == 0);
            // Buckets are below 2^24 (checked), so the key fits 25 bits and never equals MAX.
            let key = (f.bucket << 1) | u32::from(group);
            let mut h = (u64::from(key).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) as usize;
            loop {
                let k = self.keys[h];
                if k == key {
                    out[self.slots[h] as usize].tf += 1;
                    break;
                }
                if k == u32::MAX {
                    self.keys[h] = key;
                    self.slots[h] = out.len() as u32;
                    out.push(Counted {
                        bucket: f.bucket,
                        group,
                        tf: 1,
                    });
                    break;
                }
                h = (h + 1) & mask;
            }
        }
    }
}

/// A sparse vector: (feature index, value); an index may occur twice (once per group).
pub type SparseVec = Vec<(u32, f32)>;

/// The buckets a model uses and their inverse document frequencies.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Vocab {
    /// Used buckets, ascending.
    pub active: Vec<u32>,
    /// Smoothed idf of each used bucket: ln((1 + n) / (1 + df)) + 1.
    pub idf: Vec<f32>,
    /// Open-addressing table (bucket, feature index), `u32::MAX` for an empty slot, at most
    /// half full: a few hundred kilobytes that stay in cache, where a table over the whole
    /// hash space (4 MB at 2^20) would miss on most lookups.
    lookup: Vec<(u32, u32)>,
    shift: u32,
}

impl Vocab {
    /// Fits on training texts' counts: buckets in at least `min_df` texts.
    pub fn fit(p: &FeatureParams, docs: &[Vec<Counted>]) -> Vocab {
        let size = 1usize << p.buckets_log2;
        let mut df = vec![0u32; size];
        if p.char_min == 0 {
            // One group: each bucket occurs once per text's counts.
            for c in docs.iter().flatten() {
                df[c.bucket as usize] += 1;
            }
        } else {
            // The text that last counted a bucket (a bucket may come in both groups).
            let mut seen = vec![u32::MAX; size];
            for (t, d) in docs.iter().enumerate() {
                for c in d {
                    let b = c.bucket as usize;
                    if seen[b] != t as u32 {
                        seen[b] = t as u32;
                        df[b] += 1;
                    }
                }
            }
        }
        let n = docs.len() as f64;
        let mut active = Vec::new();
        let mut idf = Vec::new();
        for (b, &f) in df.iter().enumerate() {
            if f >= p.min_df.max(1) {
                active.push(b as u32);
                idf.push((((1.0 + n) / (1.0 + f64::from(f))).ln() + 1.0) as f32);
            }
        }
        Vocab::from_parts(active, idf, p.buckets_log2)
    }

    /// Rebuilds the lookup table of a stored vocabulary. The table is sized by the
    /// vocabulary, not by `buckets_log2` (kept for callers); buckets are below 2^24, so
    /// `u32::MAX` never is one.
    pub fn from_parts(active: Vec<u32>, idf: Vec<f32>, buckets_log2: u32) -> Vocab {
        let _ = buckets_log2;
        let cap = (active.len() * 2).next_power_of_two().max(16);
        let mut v = Vocab {
            active,
            idf,
            lookup: vec![(u32::MAX, 0); cap],
            shift: 64 - cap.trailing_zeros(),
        };
        for k in 0..v.active.len() {
            let b = v.active[k];
            let h = v.slot(b);
            v.lookup[h] = (b, k as u32);
        }
        v
    }

    /// The slot of `bucket`, or the empty slot where it would go.
    #[inline]
    fn slot(&self, bucket: u32) -> usize {
        let mask = self.lookup.len() - 1;
        let mut h = (u64::from(bucket).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize;
        loop {
            let k = self.lookup[h].0;
            if k == bucket || k == u32::MAX {
                return h;
            }
            h = (h + 1) & mask;
        }
    }

    /// Number of used features.
    pub fn len(&self) -> usize {
        self.active.len()
    }

    /// No features.
    pub fn is_empty(&self) -> bool {
        self.active.is_empty()
    }

    /// The feature index of a bucket, if used.
    #[inline]
    pub fn index(&self, bucket: u32) -> Option<u32> {
        if self.lookup.is_empty() {
            return None;
        }
        let (k, i) = self.lookup[self.slot(bucket)];
        (k == bucket).then_some(i)
    }

    /// The weighted, normalised vector of one text's counts.
    pub fn vector(&self, p: &FeatureParams, counts: &[Counted]) -> SparseVec {
        let mut v: SparseVec = Vec::with_capacity(counts.len());
        let mut norm = [0f64; 2];
        // The group of each entry rides in the index's top bit until the scaling below
        // (indices are below 2^24).
        for c in counts {
            if let Some(k) = self.index(c.bucket) {
                // 1 + ln tf, without the logarithm for the usual tf = 1.
                let tf = if c.tf == 1 {
                    1.0
                } else {
                    1.0 + f64::from(c.tf).ln()
                };
                let x = tf * f64::from(self.idf[k as usize]);
                norm[c.group as usize] += x * x;
                v.push((k | (u32::from(c.group) << 31), x as f32));
            }
        }
        let scale = [
            if norm[0] > 0.0 {
                1.0 / norm[0].sqrt()
            } else {
                0.0
            },
            if norm[1] > 0.0 {
                p.char_weight / norm[1].sqrt()
            } else {
                0.0
            },
        ];
        for x in v.iter_mut() {
            let g = (x.0 >> 31) as usize;
            x.0 &= !(1 << 31);
            x.1 = (f64::from(x.1) * scale[g]) as f32;
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::Tokenizer;

    #[test]
    fn ngrams_and_character_grams_are_extracted_with_origins() {
        let p = FeatureParams {
            char_min: 3,
            char_max: 3,
            ..Default::default()
        };
        let toks = Tokenizer::default().tokenize("ab cd XXXX");
        let mut f = Vec::new();
        extract(&p, &toks, &mut f);
        // 3 unigrams, 2 bigrams, "<ab>" 2 trigrams, "<cd>" 2 trigrams; no grams of a marker.
        assert_eq!(f.len(), 3 + 2 + 2 + 2);
        assert_eq!(f.iter().filter(|x| x.span == 2).count(), 2);
        assert!(f.iter().all(|x| x.bucket < 1 << p.buckets_log2));
        let mut c = Vec::new();
        let mut counter = Counter::default();
        counter.count(&f, &mut c);
        assert_eq!(c.iter().map(|x| x.tf).sum::<u32>(), f.len() as u32);
        let mut keys: Vec<(u32, u8)> = c.iter().map(|x| (x.bucket, x.group)).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), c.len(), "each (bucket, group) once");
        // The same text again counts the same (the stamps moved on).
        let mut again = Vec::new();
        counter.count(&f, &mut again);
        assert_eq!(again, c);
    }

    #[test]
    fn counting_a_text_directly_equals_counting_its_occurrences() {
        let t = Tokenizer::default();
        // Repeated words, a redaction, a number, non-ASCII, a word longer than MAX_CHAR_WORD.
        let long = "x".repeat(100);
        let text = format!(
            "The fee, the FEE and the late fee: XXXX charged {{$35.00}} twice; café café 1681 {long} {long}"
        );
        let toks = t.tokenize(&text);
        for (cmin, cmax, words) in [(3, 5, 2), (4, 4, 1), (0, 0, 3), (1, 8, 2)] {
            let p = FeatureParams {
                char_min: cmin,
                char_max: cmax,
                word_ngrams: words,
                buckets_log2: 10, // collisions between groups and within a group
                ..Default::default()
            };
            let mut f = Vec::new();
            extract(&p, &toks, &mut f);
            let mut counter = Counter::default();
            let mut want = Vec::new();
            counter.count(&f, &mut want);
            let mut got = Vec::new();
            count_text(&p, &toks, &mut counter, &mut got);
            let key = |c: &Counted| (c.bucket, c.group, c.tf);
            let mut a: Vec<_> = want.iter().map(key).collect();
            let mut b: Vec<_> = got.iter().map(key).collect();
            a.sort_unstable();
            b.sort_unstable();
            assert_eq!(a, b, "chars {cmin}..{cmax}, words {words}");
        }
    }

    #[test]
    fn vectors_are_normalised_per_group() {
        let p = FeatureParams {
            min_df: 1,
            char_min: 3,
            ..Default::default()
        };
        let t = Tokenizer::default();
        let mut counter = Counter::default();
        let docs: Vec<Vec<Counted>> = ["late fee charged", "card closed late"]
            .iter()
            .map(|s| {
                let mut f = Vec::new();
                extract(&p, &t.tokenize(s), &mut f);
                let mut c = Vec::new();
                counter.count(&f, &mut c);
                c
            })
            .collect();
        let vocab = Vocab::fit(&p, &docs);
        let v = vocab.vector(&p, &docs[0]);
        let n2: f64 = v.iter().map(|x| f64::from(x.1).powi(2)).sum();
        // 1 (words) + 0.25 (characters), give or take a merged collision.
        assert!((n2 - 1.25).abs() < 0.05, "{n2}");
        assert!(vocab.vector(&p, &[]).is_empty());
    }
}
