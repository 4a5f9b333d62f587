//! The tokenizer: complaint text → normalised, typed tokens.
//!
//! CFPB narratives are redacted before they are published: names, account numbers and
//! places become `XXXX`, dates `XX/XX/XXXX` or `XX/XX/2023`, money amounts `{$1500.00}`.
//! A general tokenizer turns these into noise (`xxxx` as the most frequent "word", `1500`
//! and `00` as numbers, `xx` everywhere). Here they become typed tokens with one marker
//! text each, so a model sees "an amount was mentioned" or "a date was mentioned":
//!
//! | input | token | kind |
//! |---|---|---|
//! | `XXXX`, `XXXX XXXX` (a run) | `<redacted>` (once per run) | [`TokenKind::Redacted`] |
//! | `XX/XX/XXXX`, `XX/XX/2023`, `06/05/2023` | `<date>` | [`TokenKind::Date`] |
//! | `{$1500.00}` | `<amount>` | [`TokenKind::Amount`] |
//! | a digit run of `long_number` digits or more | `<num>` | [`TokenKind::Number`] |
//! | shorter digit runs (`609`, `2023`) | the digits | [`TokenKind::Number`] |
//! | anything else alphanumeric | lower-cased, apostrophes dropped (`don't` → `dont`) | [`TokenKind::Word`] |
//!
//! Punctuation separates tokens and is dropped; `/` inside a run splits it (`and/or`) unless
//! the run is a date. Braces are not stripped naively: only `{$…}` within 40 bytes is an
//! amount; any other brace is punctuation.
//!
//! Bad input has a defined result and never panics: an empty or punctuation-only text gives
//! no tokens; bytes that are not UTF-8 ([`Tokenizer::tokenize_bytes`]) act as a space and are
//! counted in [`Tokens::invalid_utf8`]; a text longer than `max_tokens` tokens is read up to
//! that many and [`Tokens::truncated`] says so (a 1 MB text costs what its first
//! `max_tokens` tokens cost, plus one scan).

use serde::{Deserialize, Serialize};

/// What a token stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// An ordinary word, lower-cased.
    Word,
    /// Digits (a long run is the `<num>` marker).
    Number,
    /// A redaction mark (`XXXX`).
    Redacted,
    /// A masked or literal date.
    Date,
    /// A money amount in CFPB's `{$…}` wrapping.
    Amount,
}

/// Tokenizer settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenizerParams {
    /// At most this many tokens are read from one text; the rest is ignored and the result
    /// says it was truncated. Bounds the time and memory a single huge text can take.
    pub max_tokens: usize,
    /// Digit runs at least this long become the `<num>` marker (account and phone numbers);
    /// shorter ones (years, `609`, `1681`) stay as they are, because statute numbers tell
    /// credit-repair letters apart.
    pub long_number: usize,
}

impl Default for TokenizerParams {
    fn default() -> Self {
        TokenizerParams {
            max_tokens: 20_000,
            long_number: 5,
        }
    }
}

/// One token: its kind and where its normalised text lies in its [`Tokens`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// What it stands for.
    pub kind: TokenKind,
    start: u32,
    end: u32,
}

/// A tokenized text. Reusable: [`Tokenizer::tokenize_into`] clears it first.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    buf: String,
    tokens: Vec<Token>,
    /// The text had more than `max_tokens` tokens; only the first were read.
    pub truncated: bool,
    /// Invalid UTF-8 sequences met (each read as a space).
    pub invalid_utf8: usize,
}

impl Tokens {
    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// No tokens (empty, blank or punctuation-only text).
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The normalised text of token `i`.
    pub fn text(&self, i: usize) -> &str {
        let t = self.tokens[i];
        &self.buf[t.start as usize..t.end as usize]
    }

    /// The kind of token `i`.
    pub fn kind(&self, i: usize) -> TokenKind {
        self.tokens[i].kind
    }

    /// Every token as (kind, normalised text).
    pub fn iter(&self) -> impl Iterator<Item = (TokenKind, &str)> + '_ {
        (0..self.len()).map(|i| (self.kind(i), self.text(i)))
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.tokens.clear();
        self.truncated = false;
        self.invalid_utf8 = 0;
    }

    fn push_text(&mut self, kind: TokenKind, text: &str) {
        let start = self.buf.len() as u32;
        self.buf.push_str(text);
        self.tokens.push(Token {
            kind,
            start,
            end: self.buf.len() as u32,
        });
    }
}

/// The redaction-aware tokenizer.
#[derive(Debug, Clone, Default)]
pub struct Tokenizer {
    params: TokenizerParams,
}

/// Marker texts of the typed tokens (they cannot collide with words: words have no `<`).
pub const REDACTED: &str = "<redacted>";
/// Marker of a masked or literal date.
pub const DATE: &str = "<date>";
/// Marker of a money amount.
pub const AMOUNT: &str = "<amount>";
/// Marker of a long digit run.
pub const NUM: &str = "<num>";

impl Tokenizer {
    /// A tokenizer with these settings (checked by the classifier's parameters).
    pub fn new(params: TokenizerParams) -> Self {
        Tokenizer { params }
    }

    /// Its settings.
    pub fn params(&self) -> &TokenizerParams {
        &self.params
    }

    /// Tokenizes `text` into a new [`Tokens`].
    pub fn tokenize(&self, text: &str) -> Tokens {
        let mut t = Tokens::default();
        self.tokenize_into(text, &mut t);
        t
    }

    /// Tokenizes raw bytes: invalid UTF-8 sequences are read as spaces and counted.
    pub fn tokenize_bytes(&self, bytes: &[u8], out: &mut Tokens) {
        let mut s = String::with_capacity(bytes.len());
        let mut invalid = 0;
        for chunk in bytes.utf8_chunks() {
            s.push_str(chunk.valid());
            if !chunk.invalid().is_empty() {
                invalid += 1;
                s.push(' ');
            }
        }
        self.tokenize_into(&s, out);
        out.invalid_utf8 = invalid;
    }

    /// Tokenizes `text` into `out` (cleared first). Walks bytes and decodes a `char` only
    /// at a non-ASCII byte (the same tokens as a `char` walk, at a fraction of the cost).
    pub fn tokenize_into(&self, text: &str, out: &mut Tokens) {
        out.clear();
        let max = self.params.max_tokens;
        let b = text.as_bytes();
        // The char at byte `k` (a char boundary) and its length.
        let at = |k: usize| -> (char, usize) {
            match b[k] {
                c if c < 0x80 => (char::from(c), 1),
                _ => text[k..]
                    .chars()
                    .next()
                    .map_or((' ', 1), |c| (c, c.len_utf8())),
            }
        };
        let mut i = 0;
        while i < b.len() {
            if out.tokens.len() >= max {
                out.truncated = true;
                break;
            }
            let (ch, len) = at(i);
            if ch == '{' && b.get(i + 1) == Some(&b'$') {
                let close = b[i + 2..].iter().take(40).position(|&c| c == b'}');
                if let Some(close) = close {
                    out.push_text(TokenKind::Amount, AMOUNT);
                    i += 2 + close + 1;
                    continue;
                }
            }
            if !ch.is_alphanumeric() {
                i += len;
                continue;
            }
            // A run: alphanumerics with internal `/` and apostrophes.
            let start = i;
            let mut end = i + len;
            let mut k = end;
            let mut slash = false;
            while k < b.len() {
                let (c, l) = at(k);
                if c.is_alphanumeric() {
                    k += l;
                    end = k;
                    continue;
                }
                if c == '/' || c == '\'' || c == '\u{2019}' {
                    let next = text[k + l..].chars().next();
                    if next.is_some_and(char::is_alphanumeric) {
                        slash |= c == '/';
                        k += l;
                        continue;
                    }
                }
                break;
            }
            i = k;
            let run = &text[start..end];
            if !slash {
                self.push_word(out, run);
                continue;
            }
            if is_date(run) {
                out.push_text(TokenKind::Date, DATE);
                continue;
            }
            for part in run.split('/') {
                if out.tokens.len() >= max {
                    out.truncated = true;
                    break;
                }
                if !part.is_empty() {
                    self.push_word(out, part);
                }
            }
        }
    }

    fn push_word(&self, out: &mut Tokens, part: &str) {
        if part.is_ascii() {
            return self.push_ascii_word(out, part);
        }
        let bare = || part.chars().filter(|&c| c != '\'' && c != '\u{2019}');
        if part.len() >= 2 && bare().all(|c| c == 'X' || c == 'x') && bare().count() >= 2 {
            // A run of redactions ("XXXX XXXX", a masked name) is one mark.
            if out.tokens.last().map(|t| t.kind) != Some(TokenKind::Redacted) {
                out.push_text(TokenKind::Redacted, REDACTED);
            }
            return;
        }
        if part.bytes().all(|b| b.is_ascii_digit()) {
            if part.len() >= self.params.long_number {
                out.push_text(TokenKind::Number, NUM);
            } else {
                out.push_text(TokenKind::Number, part);
            }
            return;
        }
        let start = out.buf.len() as u32;
        for c in bare() {
            out.buf.extend(c.to_lowercase());
        }
        out.tokens.push(Token {
            kind: TokenKind::Word,
            start,
            end: out.buf.len() as u32,
        });
    }
}

impl Tokenizer {
    /// [`Tokenizer::push_word`] for an ASCII run (nearly every word): the same result, on
    /// bytes instead of `char`s.
    fn push_ascii_word(&self, out: &mut Tokens, part: &str) {
        let bytes = part.as_bytes();
        let bare = || bytes.iter().copied().filter(|&c| c != b'\'');
        if bytes.len() >= 2 && bare().all(|c| c == b'X' || c == b'x') && bare().count() >= 2 {
            if out.tokens.last().map(|t| t.kind) != Some(TokenKind::Redacted) {
                out.push_text(TokenKind::Redacted, REDACTED);
            }
            return;
        }
        if bytes.iter().all(u8::is_ascii_digit) {
            if bytes.len() >= self.params.long_number {
                out.push_text(TokenKind::Number, NUM);
            } else {
                out.push_text(TokenKind::Number, part);
            }
            return;
        }
        let start = out.buf.len() as u32;
        out.buf
            .extend(bare().map(|c| char::from(c.to_ascii_lowercase())));
        out.tokens.push(Token {
            kind: TokenKind::Word,
            start,
            end: out.buf.len() as u32,
        });
    }
}

/// `XX/XX/XXXX`, `XX/XX/2023`, `06/05/2023`, `XX/2023`: two or three parts of at most four
/// characters, each all `X` or all digits, and a mask or three parts.
fn is_date(run: &str) -> bool {
    let parts: Vec<&str> = run.split('/').collect();
    if !(2..=3).contains(&parts.len()) {
        return false;
    }
    let mut masked = false;
    for p in &parts {
        if p.is_empty() || p.len() > 4 {
            return false;
        }
        if p.bytes().all(|b| b == b'X' || b == b'x') {
            masked = true;
        } else if !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    masked || parts.len() == 3
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The `char`-by-`char` tokenizer the byte walk replaced: the reference it must equal.
    fn reference(t: &Tokenizer, text: &str, out: &mut Tokens) {
        out.clear();
        let max = t.params.max_tokens;
        let mut it = text.char_indices().peekable();
        while let Some((i, ch)) = it.next() {
            if out.tokens.len() >= max {
                out.truncated = true;
                break;
            }
            if ch == '{' && text[i + 1..].starts_with('$') {
                let close = text.as_bytes()[i + 2..]
                    .iter()
                    .take(40)
                    .position(|&b| b == b'}');
                if let Some(close) = close {
                    out.push_text(TokenKind::Amount, AMOUNT);
                    let end = i + 2 + close + 1;
                    while it.peek().is_some_and(|&(k, _)| k < end) {
                        it.next();
                    }
                    continue;
                }
            }
            if !ch.is_alphanumeric() {
                continue;
            }
            // A run: alphanumerics with internal `/` and apostrophes.
            let start = i;
            let mut end = i + ch.len_utf8();
            let mut slash = false;
            while let Some(&(k, c)) = it.peek() {
                if c.is_alphanumeric() {
                    it.next();
                    end = k + c.len_utf8();
                    continue;
                }
                if c == '/' || c == '\'' || c == '\u{2019}' {
                    let next = text[k + c.len_utf8()..].chars().next();
                    if next.is_some_and(char::is_alphanumeric) {
                        slash |= c == '/';
                        it.next();
                        continue;
                    }
                }
                break;
            }
            let run = &text[start..end];
            if slash && is_date(run) {
                out.push_text(TokenKind::Date, DATE);
                continue;
            }
            for part in run.split('/') {
                if out.tokens.len() >= max {
                    out.truncated = true;
                    break;
                }
                if !part.is_empty() {
                    t.push_word(out, part);
                }
            }
        }
    }

    proptest! {
        #[test]
        fn the_byte_walk_equals_the_char_walk(
            text in "([a-zA-Z0-9 ,./'{}$X\u{2019}éÜ\n-]|XX/XX/20[0-9][0-9]|\\{\\$[0-9.]{1,6}\\}){0,60}",
            max in 1usize..50,
        ) {
            let t = Tokenizer::new(TokenizerParams { max_tokens: max, ..Default::default() });
            let (mut a, mut b) = (Tokens::default(), Tokens::default());
            t.tokenize_into(&text, &mut a);
            reference(&t, &text, &mut b);
            prop_assert_eq!(a.iter().collect::<Vec<_>>(), b.iter().collect::<Vec<_>>());
            prop_assert_eq!(a.truncated, b.truncated);
        }
    }

    fn toks(s: &str) -> Vec<(TokenKind, String)> {
        Tokenizer::default()
            .tokenize(s)
            .iter()
            .map(|(k, t)| (k, t.to_string()))
            .collect()
    }

    fn texts(s: &str) -> Vec<String> {
        toks(s).into_iter().map(|(_, t)| t).collect()
    }

    #[test]
    fn redaction_marks_are_typed_tokens() {
        assert_eq!(
            texts("On XX/XX/2023 XXXX XXXX charged me {$1500.00} for acct 123456789."),
            ["on", DATE, REDACTED, "charged", "me", AMOUNT, "for", "acct", NUM]
        );
        assert_eq!(
            texts("XX/XX/XXXX and/or 24/7"),
            [DATE, "and", "or", "24", "7"]
        );
        assert_eq!(toks("609")[0], (TokenKind::Number, "609".into()));
    }

    #[test]
    fn words_are_lowercased_without_apostrophes() {
        assert_eq!(
            texts("I DON'T owe the company’s debt!!"),
            ["i", "dont", "owe", "the", "companys", "debt"]
        );
        assert_eq!(texts("Éric ÜBER"), ["éric", "über"]);
    }

    #[test]
    fn braces_that_are_not_amounts_are_punctuation() {
        assert_eq!(texts("{note} {$ never closed"), ["note", "never", "closed"]);
        assert_eq!(texts("{$"), Vec::<String>::new());
    }

    #[test]
    fn bad_input_has_a_defined_result() {
        let t = Tokenizer::default();
        assert!(t.tokenize("").is_empty());
        assert!(t.tokenize("  ,.;!? \n").is_empty());
        let mut out = Tokens::default();
        t.tokenize_bytes(b"bad\xff\xfebytes ok", &mut out);
        assert_eq!(out.invalid_utf8, 2); // \xff and \xfe
        assert_eq!(
            out.iter().map(|x| x.1).collect::<Vec<_>>(),
            ["bad", "bytes", "ok"]
        );
        let small = Tokenizer::new(TokenizerParams {
            max_tokens: 3,
            ..Default::default()
        });
        let r = small.tokenize("a b c d e");
        assert_eq!(r.len(), 3);
        assert!(r.truncated);
        assert!(!small.tokenize("a b c").truncated);
    }
}
