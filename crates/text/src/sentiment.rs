//! Lexicon sentiment of a complaint: VADER's score plus banking terms VADER does not know.
//!
//! Why a lexicon and not a trained model: CFPB narratives carry no sentiment label to
//! learn from, and a lexicon score is the same for every deployment, explains itself term by
//! term and costs microseconds. Why VADER through `vader-sentimental` (a maintained Rust
//! port of Hutto & Gilbert's VADER, 2014, with its 7,500-entry lexicon embedded; released
//! 2026-05): it handles negation ("not helpful"), boosters ("very"), "but" and capitals, which
//! a bare word list does not. Its lexicon is private to the crate, so banking terms it lacks
//! (`unauthorized`, `overcharged`, `garnished`, `inaccurate`, `refunded`, `waived`…) are
//! scored here, on our own tokens, on VADER's −4..+4 valence scale, with VADER's negation
//! rule (a negator in the three tokens before flips and damps the valence by −0.74).
//!
//! ```text
//!  text ─▶ redaction runs (XXXX) blanked, first MAX_VADER_BYTES bytes ─▶ VADER compound c
//!       ─▶ its valence sum v = c·√15 / √(1 − c²)   (VADER's normalisation, inverted)
//!  text ─▶ Tokenizer ─▶ banking terms, negation-aware ─▶ domain sum d
//!  compound = (v + d) / √((v + d)² + 15)    ∈ (−1, 1); < −0.05 negative, > 0.05 positive
//! ```
//!
//! Bad input never fails: an empty text scores 0 with no terms; a text longer than
//! [`MAX_VADER_BYTES`] is scored on its first that many bytes by VADER (on its first
//! `max_tokens` tokens for the banking terms) and `truncated` says so.

use crate::token::{TokenKind, Tokenizer, Tokens};
use serde::{Deserialize, Serialize};
use vader_sentimental::SentimentIntensityAnalyzer;

/// VADER reads at most this many bytes of a text (its cost is linear; a 1 MB letter is
/// scored on its first 64 KB, about ten thousand words).
pub const MAX_VADER_BYTES: usize = 64 * 1024;

/// VADER's normalisation constant (`compound = x / √(x² + α)`).
const ALPHA: f64 = 15.0;

/// VADER's damping of a negated valence.
const NEGATION: f64 = -0.74;

/// Banking terms missing from VADER's lexicon, with valences on its −4..+4 scale.
/// Chosen by reading CFPB narratives: words that say money was taken or withheld, a record
/// is wrong, or a debt is enforced are negative; words that say it was put right, positive.
pub const BANKING_TERMS: &[(&str, f64)] = &[
    ("unauthorized", -2.0),
    ("scammed", -2.5),
    ("theft", -2.2),
    ("overcharged", -2.0),
    ("overdraft", -1.0),
    ("incorrect", -1.5),
    ("inaccurate", -1.5),
    ("garnished", -1.8),
    ("garnishment", -1.8),
    ("repossessed", -1.8),
    ("repossession", -1.8),
    ("delinquent", -1.3),
    ("deceptive", -2.2),
    ("predatory", -2.5),
    ("negligence", -2.0),
    ("negligent", -2.0),
    ("unresolved", -1.5),
    ("frozen", -1.2),
    ("fees", -0.8),
    ("collections", -1.0),
    ("refunded", 1.5),
    ("reimbursed", 1.5),
    ("waived", 1.5),
    ("reversed", 1.0),
    ("corrected", 1.2),
    ("promptly", 1.0),
];

/// Tokens that negate the valence of a term within the next three tokens.
const NEGATORS: &[&str] = &[
    "not", "no", "never", "nor", "none", "without", "dont", "didnt", "doesnt", "wont", "wasnt",
    "werent", "isnt", "arent", "havent", "hasnt", "hadnt", "cant", "cannot", "couldnt", "wouldnt",
    "shouldnt", "neither",
];

/// Sentiment settings kept in a model file (so a model always scores the same way).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentimentParams {
    /// Which lexicon: always `vader+banking-1` in this version.
    pub lexicon: String,
}

impl Default for SentimentParams {
    fn default() -> Self {
        SentimentParams {
            lexicon: LEXICON.into(),
        }
    }
}

/// The lexicon name written in model files.
pub const LEXICON: &str = "vader+banking-1";

/// One banking term found and the valence it added (negative when negated).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Term {
    /// The term.
    pub text: String,
    /// Its valence as counted.
    pub valence: f64,
}

/// The sentiment of one text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sentiment {
    /// Combined score in (−1, 1): below −0.05 negative, above 0.05 positive.
    pub compound: f64,
    /// VADER's own compound score.
    pub vader: f64,
    /// Sum of the banking terms' valences.
    pub domain: f64,
    /// The banking terms found, in text order (at most 20).
    pub terms: Vec<Term>,
    /// The text was longer than VADER's or the tokenizer's limit.
    pub truncated: bool,
}

/// Scores texts; holds VADER's analyser and a tokenizer.
#[derive(Debug, Clone)]
pub struct SentimentScorer {
    vader: SentimentIntensityAnalyzer<'static>,
    tokenizer: Tokenizer,
}

impl Default for SentimentScorer {
    fn default() -> Self {
        Self::new(Tokenizer::default())
    }
}

impl SentimentScorer {
    /// A scorer reading banking terms with `tokenizer`.
    pub fn new(tokenizer: Tokenizer) -> Self {
        SentimentScorer {
            vader: SentimentIntensityAnalyzer::new(),
            tokenizer,
        }
    }

    /// The sentiment of a text.
    pub fn score(&self, text: &str) -> Sentiment {
        let mut tokens = Tokens::default();
        self.score_with(text, &mut tokens)
    }

    /// The sentiment of a text, reusing a token buffer.
    pub fn score_with(&self, text: &str, tokens: &mut Tokens) -> Sentiment {
        let cut = floor_char_boundary(text, MAX_VADER_BYTES);
        let vader = self
            .vader
            .polarity_scores(&blank_redactions(&text[..cut]))
            .compound;
        self.tokenizer.tokenize_into(text, tokens);
        let (domain, terms) = banking(tokens);
        let v = unnormalise(vader);
        let x = v + domain;
        let compound = if x == 0.0 {
            0.0
        } else {
            x / (x * x + ALPHA).sqrt()
        };
        Sentiment {
            compound,
            vader,
            domain,
            terms,
            truncated: cut < text.len() || tokens.truncated,
        }
    }
}

/// VADER's valence sum from its compound score (the inverse of `x / √(x² + 15)`), clamped so
/// a compound of ±1 (a saturated long text) stays finite.
fn unnormalise(c: f64) -> f64 {
    let c = c.clamp(-0.9999, 0.9999);
    c * ALPHA.sqrt() / (1.0 - c * c).sqrt()
}

/// The banking terms of a token sequence: their summed valence and the terms.
fn banking(tokens: &Tokens) -> (f64, Vec<Term>) {
    let mut sum = 0.0;
    let mut terms = Vec::new();
    for i in 0..tokens.len() {
        if tokens.kind(i) != TokenKind::Word {
            continue;
        }
        let w = tokens.text(i);
        let Some(&(_, valence)) = BANKING_TERMS.iter().find(|(t, _)| *t == w) else {
            continue;
        };
        let negated = (i.saturating_sub(3)..i).any(|j| NEGATORS.contains(&tokens.text(j)));
        let v = if negated { valence * NEGATION } else { valence };
        sum += v;
        if terms.len() < 20 {
            terms.push(Term {
                text: if negated {
                    format!("not {w}")
                } else {
                    w.to_string()
                },
                valence: v,
            });
        }
    }
    (sum, terms)
}

/// Runs of `X` (CFPB's redaction marks, 2 or more) become spaces: VADER would read them as
/// capitalised words and let them change its emphasis rule.
fn blank_redactions(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'X' {
            let mut j = i;
            while j < b.len() && b[j] == b'X' {
                j += 1;
            }
            if j - i >= 2 {
                out.push(' ');
            } else {
                out.push('X');
            }
            i = j;
        } else {
            // Copy the next character (UTF-8 safe: find its end).
            let mut j = i + 1;
            while j < b.len() && !text.is_char_boundary(j) {
                j += 1;
            }
            out.push_str(&text[i..j]);
            i = j;
        }
    }
    out
}

/// The largest char boundary ≤ `max`.
fn floor_char_boundary(s: &str, max: usize) -> usize {
    if max >= s.len() {
        return s.len();
    }
    let mut i = max;
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banking_terms_move_the_score_and_negation_flips_them() {
        let s = SentimentScorer::default();
        let plain = s.score("The bank sent a statement on XX/XX/2023.");
        let bad = s.score("The bank made unauthorized withdrawals and I was overcharged.");
        let good = s.score("The bank promptly refunded the charge and waived the fee.");
        let not_bad = s.score("The charge was not unauthorized.");
        assert!(bad.compound < plain.compound - 0.3, "{bad:?} {plain:?}");
        assert!(good.compound > plain.compound + 0.3, "{good:?} {plain:?}");
        assert_eq!(bad.terms.len(), 2);
        assert!(not_bad.domain > 0.0, "{not_bad:?}");
        assert_eq!(not_bad.terms[0].text, "not unauthorized");
    }

    #[test]
    fn vader_reads_negation_and_redactions_are_blanked() {
        let s = SentimentScorer::default();
        assert!(s.score("They were very helpful.").compound > 0.3);
        assert!(s.score("They were not helpful at all.").compound < 0.0);
        assert_eq!(
            s.score("XXXX XXXX XX/XX/XXXX").compound,
            0.0,
            "redaction marks carry no sentiment"
        );
    }

    #[test]
    fn bad_input_has_a_defined_result() {
        let s = SentimentScorer::default();
        let e = s.score("");
        assert_eq!((e.compound, e.terms.len(), e.truncated), (0.0, 0, false));
        let long = "I was overcharged again é. ".repeat(40_000);
        let l = s.score(&long);
        assert!(
            l.truncated && l.compound.is_finite() && l.compound < 0.0,
            "{:?}",
            l.compound
        );
        assert_eq!(l.terms.len(), 20);
        for t in ["\u{0}", "!!!", "XXXX", "X", "ééé", "not", "no no no"] {
            assert!(s.score(t).compound.is_finite());
        }
    }
}
