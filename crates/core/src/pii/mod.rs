//! Personal data: what a schema field's `pii` treatment does to a value, with which key.
//!
//! A card number (PAN), a name or an e-mail address must not reach anything riskstream
//! writes — features, checkpoints, dead letters, decisions, the audit log. A schema field
//! says how its values are treated (`pii = "tokenize" | "fpe" | "mask" | "drop"`), and the
//! ingest path (`riskstream-io`'s row assembly, the decision service's JSON decoder) applies
//! it to each value before the row exists anywhere else:
//!
//! ```text
//!  "4539 1488 0343 6467" ─▶ tokenize ─▶ "tok:k2:" + 22 base64url chars (keyed, stable)
//!                        ─▶ mask     ─▶ "**** **** **** 6467"            (last four kept)
//!                        ─▶ drop     ─▶ null                             (the value is gone)
//!                        ─▶ fpe      ─▶ "4539 14x1 2x53 6467"            (FF1: BIN and last four
//!                                                                      kept, never Luhn-valid)
//! ```
//!
//! * **tokenize** is HMAC-SHA-256 under a secret key (RustCrypto `hmac` + `sha2`),
//!   truncated to 128 bits and written base64url after the key id: `tok:<key id>:<mac>`.
//!   The same value under the same key always gives the same token, so a token is a usable
//!   entity key (velocity per card works on tokens exactly as on numbers) and joins across
//!   runs and files; without the key a token cannot be reversed or even confirmed by
//!   hashing guessed card numbers (a plain hash of a 16-digit PAN can be brute-forced).
//!   Digits written with spaces or dashes are tokenized as the digits alone, so
//!   `4539-1488-…` and `45391488…` give one token.
//! * **mask** keeps the last four letters or digits and stars the others (separators
//!   stay); a value with fewer than eight letters or digits is starred whole, since its last
//!   four would be most of it. Not a key: different cards share a mask.
//! * **drop** empties the field at ingest: it stays in the schema (every consumer addresses
//!   columns by the schema's order) but never holds a value.
//! * **fpe** encrypts a card number's middle digits with FF1 (format-preserving, AES-256)
//!   under a key derived from the PII key: same length and separators, the BIN and last
//!   four in clear, stable under one key, reversible with it ([`Protector::fpe_decrypt`]),
//!   and never Luhn-valid, so an output cannot pass for a card number. Card numbers only;
//!   why, and what rotation means for values that cannot name their key: [`fpe`].
//!
//! Keys ([`Keys`]) come from a file or the environment, each with an id; one is active
//! (new tokens), the others stay usable ([`Protector::token_with`]) so that data tokenized
//! before a rotation can still be joined: tokenize a clear value under the old key id to find
//! its old rows. [`scan`] finds Luhn-valid card numbers in text (the dead-letter scrubber and
//! the tests that prove no PAN is written use it).

pub mod fpe;
mod keys;
pub mod scan;

pub use fpe::FpeError;
pub use keys::{Keys, KEYS_ENV, KEYS_FILE_ENV};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;

/// How a field holding personal data is treated at ingest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Treatment {
    /// Replaced by a keyed token `tok:<key id>:<HMAC-SHA-256, 128 bits, base64url>`.
    Tokenize,
    /// Format-preserving encryption of a card number (FF1 over its middle digits, the BIN
    /// and last four kept, the output never Luhn-valid; see [`fpe`]).
    Fpe,
    /// All but the last four letters or digits replaced by `*`.
    Mask,
    /// Emptied (null) at ingest.
    Drop,
}

impl Treatment {
    /// Names accepted in schema files.
    pub const NAMES: [&'static str; 4] = ["tokenize", "fpe", "mask", "drop"];

    /// Parses a treatment name.
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "tokenize" => Self::Tokenize,
            "fpe" => Self::Fpe,
            "mask" => Self::Mask,
            "drop" => Self::Drop,
            _ => return None,
        })
    }

    /// The name used in schema files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Tokenize => "tokenize",
            Self::Fpe => "fpe",
            Self::Mask => "mask",
            Self::Drop => "drop",
        }
    }

    /// True when the treatment needs a secret key.
    pub fn needs_key(self) -> bool {
        matches!(self, Self::Tokenize | Self::Fpe)
    }

    /// True when equal inputs give equal outputs that differ for different inputs, so the
    /// treated value can still key features (an entity) or identify a row (an id).
    pub fn keeps_identity(self) -> bool {
        matches!(self, Self::Tokenize | Self::Fpe)
    }
}

impl fmt::Display for Treatment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a value could not be treated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PiiError {
    /// The treatment needs a key and none is configured.
    NoKey,
    /// No key with this id is loaded.
    UnknownKey(String),
    /// The value cannot be format-preserving encrypted (or decrypted): not a card number.
    Fpe(FpeError),
}

impl fmt::Display for PiiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PiiError::NoKey => write!(
                f,
                "no PII key is configured (set {KEYS_FILE_ENV} to a key file, or {KEYS_ENV})"
            ),
            PiiError::UnknownKey(id) => write!(f, "no PII key with id `{id}` is loaded"),
            PiiError::Fpe(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for PiiError {}

/// Applies treatments with a set of keys (or none: then only `mask` and `drop` work).
#[derive(Clone)]
pub struct Protector {
    keys: Option<Keys>,
    /// One keyed MAC per key, in [`Keys`] order, cloned per value (cheaper than re-keying).
    macs: Vec<Hmac<Sha256>>,
    /// One FF1 per key, in [`Keys`] order (AES key schedules, derived once).
    ff1: std::sync::Arc<Vec<fpe::Ff1>>,
}

impl fmt::Debug for Protector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secrets.
        f.debug_struct("Protector")
            .field("keys", &self.keys.as_ref().map(Keys::ids))
            .field("active", &self.active_key_id())
            .finish()
    }
}

impl Protector {
    /// A protector tokenizing with `keys`.
    pub fn new(keys: Keys) -> Self {
        let macs = keys
            .secrets()
            .map(|s| {
                // HMAC accepts keys of any length; the error type exists for other MACs.
                <Hmac<Sha256> as Mac>::new_from_slice(s)
                    .unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
            })
            .collect();
        let ff1 = keys
            .secrets()
            .zip(keys.ids())
            .map(|(s, id)| fpe::Ff1::derive(s, id))
            .collect();
        Self {
            keys: Some(keys),
            macs,
            ff1: std::sync::Arc::new(ff1),
        }
    }

    /// A protector without keys: `mask` and `drop` work, `tokenize` reports [`PiiError::NoKey`].
    pub fn without_keys() -> Self {
        Self {
            keys: None,
            macs: Vec::new(),
            ff1: std::sync::Arc::new(Vec::new()),
        }
    }

    /// The keys named by the environment ([`KEYS_FILE_ENV`] or [`KEYS_ENV`]), or a
    /// protector without keys when neither is set. A set but invalid variable or key file is
    /// an error naming it.
    pub fn from_env() -> Result<Self, crate::Diagnostics> {
        Ok(match Keys::from_env()? {
            Some(k) => Self::new(k),
            None => Self::without_keys(),
        })
    }

    /// True when tokens can be made.
    pub fn has_keys(&self) -> bool {
        self.keys.is_some()
    }

    /// The id of the key new tokens are made with.
    pub fn active_key_id(&self) -> Option<&str> {
        self.keys.as_ref().map(Keys::active_id)
    }

    /// Treats `value` into `out` (appended). `Drop` appends nothing: the caller writes null.
    pub fn apply(&self, t: Treatment, value: &str, out: &mut String) -> Result<(), PiiError> {
        match t {
            Treatment::Tokenize => {
                // Idempotent: a token made under a loaded key passes (a write-ahead log or
                // a file of treated rows read again must give the same entity key).
                if let (Some(id), Some(keys)) = (token_key_id(value), &self.keys) {
                    if keys.index_of(id).is_some() {
                        out.push_str(value);
                        return Ok(());
                    }
                }
                self.token_into(None, value, out)
            }
            Treatment::Mask => {
                mask(value, out);
                Ok(())
            }
            Treatment::Drop => Ok(()),
            // Idempotent too: an fpe output passes as it is (see `fpe`).
            Treatment::Fpe => self.fpe_into(None, value, out),
        }
    }

    /// Checks, without a key and without encrypting, that [`Protector::apply`] can treat
    /// `value` (an ingest path rejects the row, naming the field, when it cannot).
    pub fn check(t: Treatment, value: &str) -> Result<(), PiiError> {
        match t {
            Treatment::Fpe => fpe::check(value).map_err(PiiError::Fpe),
            _ => Ok(()),
        }
    }

    /// The fpe value of the card number `value` under key `key_id` (an older key after a
    /// rotation), to find rows encrypted before it.
    pub fn fpe_with(&self, key_id: &str, value: &str) -> Result<String, PiiError> {
        let mut out = String::with_capacity(value.len());
        self.fpe_into(Some(key_id), value, &mut out)?;
        Ok(out)
    }

    /// The card number an fpe value was made from, under key `key_id` or the active key.
    /// The value does not say which key made it: any key gives some card number back, so
    /// the right key id is the caller's to know (see [`fpe`] on rotation).
    pub fn fpe_decrypt(&self, key_id: Option<&str>, value: &str) -> Result<String, PiiError> {
        let k = self.key_index(key_id)?;
        let mut out = String::with_capacity(value.len());
        self.ff1[k]
            .decrypt(value, &mut out)
            .map_err(PiiError::Fpe)?;
        Ok(out)
    }

    fn fpe_into(
        &self,
        key_id: Option<&str>,
        value: &str,
        out: &mut String,
    ) -> Result<(), PiiError> {
        let k = self.key_index(key_id)?;
        self.ff1[k].encrypt(value, out).map_err(PiiError::Fpe)
    }

    fn key_index(&self, key_id: Option<&str>) -> Result<usize, PiiError> {
        let keys = self.keys.as_ref().ok_or(PiiError::NoKey)?;
        match key_id {
            None => Ok(keys.active_index()),
            Some(id) => keys
                .index_of(id)
                .ok_or_else(|| PiiError::UnknownKey(id.to_string())),
        }
    }

    /// The token of `value` under the active key.
    pub fn token(&self, value: &str) -> Result<String, PiiError> {
        let mut out = String::with_capacity(32);
        self.token_into(None, value, &mut out)?;
        Ok(out)
    }

    /// The token `value` had under key `key_id` (an older key after a rotation), to find
    /// rows tokenized before it; `None` when no such key is loaded.
    pub fn token_with(&self, key_id: &str, value: &str) -> Option<String> {
        let mut out = String::with_capacity(32);
        self.token_into(Some(key_id), value, &mut out).ok()?;
        Some(out)
    }

    fn token_into(
        &self,
        key_id: Option<&str>,
        value: &str,
        out: &mut String,
    ) -> Result<(), PiiError> {
        let keys = self.keys.as_ref().ok_or(PiiError::NoKey)?;
        let k = match key_id {
            None => keys.active_index(),
            Some(id) => keys.index_of(id).ok_or(PiiError::NoKey)?,
        };
        let mut mac = self.macs[k].clone();
        let v = value.trim();
        let digits_only = !v.is_empty()
            && v.bytes()
                .all(|b| b.is_ascii_digit() || b == b' ' || b == b'-')
            && v.bytes().any(|b| b.is_ascii_digit());
        if digits_only {
            let d: Vec<u8> = v.bytes().filter(u8::is_ascii_digit).collect();
            mac.update(&d);
        } else {
            mac.update(v.as_bytes());
        }
        let tag = mac.finalize().into_bytes();
        out.push_str("tok:");
        out.push_str(keys.id(k));
        out.push(':');
        base64url(&tag[..16], out);
        Ok(())
    }
}

/// The key id a token was made with (`tok:<id>:…`), or `None` when `s` is not a token.
pub fn token_key_id(s: &str) -> Option<&str> {
    let rest = s.strip_prefix("tok:")?;
    let (id, mac) = rest.split_once(':')?;
    let b64 = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    (mac.len() == 22 && !id.is_empty() && mac.bytes().all(b64)).then_some(id)
}

/// Stars every letter or digit of `value` except the last four (separators stay); a value
/// with fewer than eight letters or digits is starred whole. Stars count as letters, so a
/// masked value masks to itself.
pub fn mask(value: &str, out: &mut String) {
    let counts = |c: char| c.is_alphanumeric() || c == '*';
    let n = value.chars().filter(|&c| counts(c)).count();
    let keep_from = if n >= 8 { n - 4 } else { n };
    let mut k = 0;
    for c in value.chars() {
        if counts(c) {
            out.push(if k < keep_from { '*' } else { c });
            k += 1;
        } else {
            out.push(c);
        }
    }
}

/// Unpadded base64url (RFC 4648 §5): no digit runs long enough to look like a card number
/// are likely (hex would give one in a few hundred tokens), and no characters that need
/// quoting in CSV, JSON or a URL.
fn base64url(bytes: &[u8], out: &mut String) {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn keys(text: &str) -> Keys {
        Keys::parse_inline(text, "test").unwrap()
    }

    const K1: &str = "k1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const K2: &str = "k2:ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn tokens_are_stable_keyed_and_carry_their_key_id() {
        let p = Protector::new(keys(K1));
        let a = p.token("4539148803436467").unwrap();
        assert_eq!(a, p.token("4539148803436467").unwrap(), "stable");
        assert_eq!(a, p.token(" 4539 1488-0343 6467 ").unwrap(), "separators");
        assert_ne!(a, p.token("4539148803436468").unwrap());
        assert!(a.starts_with("tok:k1:") && a.len() == 7 + 22, "{a}");
        assert_eq!(token_key_id(&a), Some("k1"));
        assert!(scan::find_pans(a.as_bytes()).is_empty());
        // Another key: another token; after rotation the old one is still reachable.
        let rotated = Protector::new(keys(&format!("{K2},{K1}")));
        let b = rotated.token("4539148803436467").unwrap();
        assert!(b.starts_with("tok:k2:"));
        assert_ne!(a[7..], b[7..]);
        assert_eq!(rotated.token_with("k1", "4539148803436467").unwrap(), a);
        assert_eq!(rotated.token_with("k9", "4539148803436467"), None);
        // Treating a token again keeps it (under a loaded key), so treated rows can be
        // read again; a token-looking text under an unknown key is tokenized like any text.
        let mut again = String::new();
        rotated.apply(Treatment::Tokenize, &a, &mut again).unwrap();
        assert_eq!(again, a);
        let mut other = String::new();
        p.apply(Treatment::Tokenize, &b, &mut other).unwrap();
        assert!(other.starts_with("tok:k1:") && other != b);
    }

    #[test]
    fn fpe_uses_the_active_key_and_older_ones_by_id() {
        let pan = "4539 1488 0343 6467";
        let p1 = Protector::new(keys(K1));
        let mut a = String::new();
        p1.apply(Treatment::Fpe, pan, &mut a).unwrap();
        assert!(
            a.starts_with("4539 14") && a.ends_with("6467") && a != pan,
            "{a}"
        );
        assert_eq!(p1.fpe_decrypt(None, &a).unwrap(), pan);
        // After a rotation new values differ; the old key is still reachable by its id.
        let rotated = Protector::new(keys(&format!("{K2},{K1}")));
        let b = rotated.fpe_with("k2", pan).unwrap();
        assert_ne!(a, b);
        assert_eq!(rotated.fpe_with("k1", pan).unwrap(), a);
        assert_eq!(rotated.fpe_decrypt(Some("k1"), &a).unwrap(), pan);
        assert_eq!(rotated.fpe_decrypt(None, &b).unwrap(), pan);
        assert_eq!(
            rotated.fpe_decrypt(Some("k9"), &a),
            Err(PiiError::UnknownKey("k9".into()))
        );
        // An output passes through whatever key made it; a non-card is refused.
        let mut again = String::new();
        rotated.apply(Treatment::Fpe, &a, &mut again).unwrap();
        assert_eq!(again, a);
        assert_eq!(
            Protector::check(Treatment::Fpe, "12-34"),
            Err(PiiError::Fpe(FpeError::Digits(4)))
        );
        assert_eq!(Protector::check(Treatment::Fpe, &a), Ok(()));
        assert_eq!(Protector::check(Treatment::Tokenize, "12-34"), Ok(()));
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        // The MAC itself, against the RFC's published value (key "Jefe").
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(b"Jefe").unwrap();
        m.update(b"what do ya want for nothing?");
        let hex: String = m
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let mut s = String::new();
        base64url(&[0xfb, 0xff, 0x00, 0x10], &mut s);
        assert_eq!(s, "-_8AEA");
    }

    #[test]
    fn masks_keep_the_last_four() {
        let m = |v: &str| {
            let mut s = String::new();
            mask(v, &mut s);
            s
        };
        assert_eq!(m("4539148803436467"), "************6467");
        assert_eq!(m("4539 1488 0343 6467"), "**** **** **** 6467");
        assert_eq!(m("+44 20 7946 0958"), "+** ** **** 0958");
        assert_eq!(m("1234567"), "*******", "short values are starred whole");
        assert_eq!(
            m("**** **** **** 6467"),
            "**** **** **** 6467",
            "idempotent"
        );
        assert_eq!(m(""), "");
    }

    #[test]
    fn without_keys_only_mask_and_drop_work() {
        let p = Protector::without_keys();
        let mut out = String::new();
        assert_eq!(
            p.apply(Treatment::Tokenize, "4539148803436467", &mut out),
            Err(PiiError::NoKey)
        );
        assert_eq!(
            p.apply(Treatment::Fpe, "4539148803436467", &mut out),
            Err(PiiError::NoKey)
        );
        p.apply(Treatment::Drop, "x", &mut out).unwrap();
        assert_eq!(out, "");
        assert!(!format!("{p:?}").contains("0001"));
    }

    #[test]
    fn schemas_check_every_pii_treatment_at_once() {
        let text = r#"
name = "x"
id = "id"
entities = ["pan", "name"]
[[field]]
name = "id"
type = "string"
pii = "mask"
[[field]]
name = "pan"
type = "string"
pii = "tokenize"
[[field]]
name = "name"
type = "string"
pii = "drop"
[[field]]
name = "phone"
type = "int"
pii = "tokenise"
[[field]]
name = "card"
type = "string"
pii = "fpe"
[[field]]
name = "email"
type = "string"
required = false
pii = "drop"
"#;
        let d = crate::Schema::from_toml_str(text, "s.toml").unwrap_err();
        let all = d.to_string();
        for want in [
            "field[0] (id).pii: `id` is the schema's id, and `mask` would make different values equal",
            "field[2] (name).pii: `name` is the schema's entity",
            "field[2] (name).pii: a dropped field reaches no consumer, so it cannot be required",
            "field[3] (phone).pii: unknown treatment `tokenise` (hint: did you mean `tokenize`?)",
        ] {
            assert!(all.contains(want), "missing `{want}` in\n{all}");
        }
        assert!(!all.contains("(pan)") && !all.contains("(email)"), "{all}");
        assert_eq!(d.items.len(), 4, "{all}");

        let ok = text.replace("pii = \"mask\"", "").replace(
            "pii = \"drop\"\n[[field]]\nname = \"phone\"\ntype = \"int\"\npii = \"tokenise\"",
            "pii = \"tokenize\"\n[[field]]\nname = \"phone\"\ntype = \"string\"\npii = \"mask\"",
        );
        let s = crate::Schema::from_toml_str(&ok, "s.toml").unwrap_or_else(|d| panic!("{d}"));
        let t: Vec<_> = s
            .pii_fields()
            .map(|(i, t)| (s.fields[i].name.as_str(), t))
            .collect();
        assert_eq!(
            t,
            [
                ("pan", Treatment::Tokenize),
                ("name", Treatment::Tokenize),
                ("phone", Treatment::Mask),
                ("card", Treatment::Fpe),
                ("email", Treatment::Drop)
            ]
        );
        assert_eq!(
            crate::Schema::from_toml_str(&s.to_toml(), "again").unwrap(),
            s
        );
    }
}
