//! `pii = "fpe"`: card numbers encrypted in their own format (FF1, NIST SP 800-38G).
//!
//! Some consumers need a card number's shape: a 16-digit column, the issuer's BIN for
//! routing or BIN-level features, the last four for a customer to recognise the card. FF1
//! (format-preserving encryption) gives that without the number itself:
//!
//! ```text
//!  "4539 1488 0343 6467"   Luhn-valid: a card number in clear
//!   ├ front  453914         kept: the first six digits (BIN); fewer for 13–15 digits
//!   ├ middle 880343         FF1 (AES-256, radix 10, tweak = front ‖ last four), walked
//!   │                       until front ‖ middle ‖ last four is Luhn-valid again (below)
//!   ├ last   6467           kept
//!   └ mark: the middle's last digit is set so the Luhn sum is ≡ 5 (mod 10), never 0
//!  "4539 14x1 2x53 6467"   same length, separators in place, not Luhn-valid
//! ```
//!
//! * **Only card numbers.** A value must be 13 to 19 digits (with spaces or dashes between
//!   them) that pass the Luhn check, or an fpe output (the same, with the Luhn sum ≡ 5),
//!   which passes as it is: treatments are idempotent, so a write-ahead log or a file of
//!   treated rows read again keeps its values. Anything else is refused with an error
//!   saying why (never the value): a general digit string has no room for the mark, so a
//!   treated value could not be told from a clear one, and treating it twice would
//!   encrypt it twice.
//! * **Why the output is not Luhn-valid.** A Luhn-valid output would look exactly like a
//!   card number in clear: the scanner ([`super::scan`]) would flag it and nobody could
//!   tell. A Luhn-valid input has one redundant digit (its check digit fixes the Luhn sum),
//!   so the encryption can spend it on a mark instead: FF1 is applied to the middle by
//!   cycle-walking inside the Luhn-valid middles (encrypt again until front ‖ middle ‖ last
//!   is Luhn-valid; FF1 is a permutation, so this is a permutation of the valid middles,
//!   about ten FF1 calls on average), then the middle's last digit is changed so the sum
//!   is 5. That digit carried no information (the Luhn check fixed it), so decryption sets
//!   it back to make the sum 0 and walks backwards. The price: a 13–19 digit value that
//!   fails the Luhn check with a sum of exactly 5 (one mistyped card number in nine) is
//!   taken for an output and kept as it is; it is not a card number, but it is close to
//!   one. Use `tokenize` where that matters.
//! * **What stays in clear.** The last four and up to six leading digits: as many as leave
//!   at least six digits to encrypt, since SP 800-38G rev. 1 requires a domain of at least
//!   10^6 (the `fpe` crate refuses less). 16 to 19 digits keep the first six, 15 keep five
//!   (Amex), 14 four, 13 three. With ten digits of a 16-digit card in clear and one fixed by
//!   the Luhn check, 10^5 card numbers share each (BIN, last four): this is the PCI "first
//!   six, last four" display rule's exposure, not a property of the cipher. A consumer that
//!   must not narrow a card down that far uses `tokenize`.
//! * **Tweak: the clear digits** (front ‖ last four, ASCII). Two cards with the same middle
//!   but another BIN or last four get unrelated middles, as SP 800-38G's own example
//!   suggests. Not the field or schema name: the same card must encrypt the same in every
//!   field and schema so that fpe values join across them (as tokens do). Not the key id:
//!   each key id has its own AES key already.
//! * **Key: one AES-256 key per PII key id**, derived by HKDF-SHA-256 (RFC 5869) with a
//!   fixed salt and the key id as info. The PII secret is never used as an AES key, and
//!   not as the key of an HMAC over a fixed label either: `tokenize` publishes 128 bits of
//!   HMAC(secret, value) for any value a sender chooses, so a sender could ask for the
//!   label's MAC. HKDF's extract step keys the HMAC with the salt and reads the secret as
//!   the message, a different function from every token.
//! * **Rotation.** An fpe value does not say which key made it (the format has no room).
//!   New values use the active key; decryption uses the active key unless a key id is
//!   given, and any key "decrypts" any output to some card number, so a wrong key gives a
//!   wrong answer, not an error. Rotating the key therefore renames every card: fpe values
//!   made before and after do not join, and an fpe value passing through again keeps the
//!   key it was made with. To follow a card across a rotation, encrypt the clear number
//!   under the old key id ([`super::Protector::fpe_with`]) or decrypt with it
//!   (`riskstream keys fpe-decrypt --key-id`); rotate fpe keys when the data made with the
//!   old one is re-encrypted or no longer needed.

use aes::Aes256;
use fpe::ff1::{FlexibleNumeralString, FF1};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

/// The Luhn sum (mod 10) of every fpe output; a card number's is 0.
pub const MARK: u8 = 5;

/// HKDF salt: fixes what the derived key is for (and its version).
const SALT: &[u8] = b"riskstream pii fpe: FF1 AES-256 key, v1";

/// Why a value could not be encrypted or decrypted. Messages never hold the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FpeError {
    /// The value holds something besides digits, spaces and dashes.
    NotDigits,
    /// The value has too few or too many digits for a card number.
    Digits(usize),
    /// The value has card-number length but fails the Luhn check (and is no fpe output).
    Luhn,
    /// Decryption was asked for a value that is not an fpe output.
    NotEncrypted,
}

impl std::fmt::Display for FpeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FpeError::NotDigits => f.write_str(
                "pii = \"fpe\" takes card numbers: digits, with spaces or dashes between them; \
                 the value holds other characters",
            ),
            FpeError::Digits(n) => write!(
                f,
                "pii = \"fpe\" takes card numbers of 13 to 19 digits; the value has {n} (FF1 \
                 keeps the first six and last four and must encrypt at least six digits: NIST \
                 SP 800-38G rev. 1's smallest domain is 10^6)"
            ),
            FpeError::Luhn => f.write_str(
                "pii = \"fpe\" takes card numbers; the value fails the Luhn check (a mistyped \
                 number?)",
            ),
            FpeError::NotEncrypted => write!(
                f,
                "not an fpe output: those are 13 to 19 digits whose Luhn sum is {MARK} (mod 10)"
            ),
        }
    }
}

/// Checks that `value` can be treated: a card number in clear or an fpe output.
pub(super) fn check(value: &str) -> Result<(), FpeError> {
    let d = Digits::parse(value)?;
    match luhn_sum(&d.digits) {
        0 | MARK => Ok(()),
        _ => Err(FpeError::Luhn),
    }
}

/// One key's FF1 (radix 10, AES-256).
pub(super) struct Ff1(FF1<Aes256>);

impl Ff1 {
    /// The FF1 of PII key `key_id` with secret `secret` (see the module docs).
    pub(super) fn derive(secret: &[u8], key_id: &str) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        Hkdf::<Sha256>::new(Some(SALT), secret)
            .expand(key_id.as_bytes(), key.as_mut())
            .unwrap_or_else(|_| unreachable!("32 bytes is within HKDF-SHA-256's 8160"));
        Self::from_aes_key(&key)
    }

    fn from_aes_key(key: &[u8; 32]) -> Self {
        // Radix 10 is inside FF1's 2..=65536; the key has AES-256's length by type.
        Ff1(FF1::<Aes256>::new(key, 10).unwrap_or_else(|_| unreachable!("radix 10 is valid")))
    }

    /// Encrypts the card number `value` (or passes an fpe output through), appending to
    /// `out`.
    pub(super) fn encrypt(&self, value: &str, out: &mut String) -> Result<(), FpeError> {
        let mut d = Digits::parse(value)?;
        match luhn_sum(&d.digits) {
            0 => {
                let (front, middle, last) = d.split();
                let tweak = tweak(front, last);
                let mut m = middle.to_vec();
                // A cycle walk: FF1 is a permutation of the middles, so repeating it from a
                // valid middle reaches a valid one again (the start, at the latest).
                loop {
                    m = self.step(&tweak, &m, true)?;
                    d.set_middle(&m);
                    if luhn_sum(&d.digits) == 0 {
                        break;
                    }
                }
                d.set_mark(MARK);
            }
            MARK => {}
            _ => return Err(FpeError::Luhn),
        }
        d.write(value, out);
        Ok(())
    }

    /// Decrypts an fpe output back to the card number, appending to `out`.
    pub(super) fn decrypt(&self, value: &str, out: &mut String) -> Result<(), FpeError> {
        let mut d = match Digits::parse(value) {
            Ok(d) if luhn_sum(&d.digits) == MARK => d,
            _ => return Err(FpeError::NotEncrypted),
        };
        d.set_mark(0);
        let (front, middle, last) = d.split();
        let tweak = tweak(front, last);
        let mut m = middle.to_vec();
        loop {
            m = self.step(&tweak, &m, false)?;
            d.set_middle(&m);
            if luhn_sum(&d.digits) == 0 {
                break;
            }
        }
        d.write(value, out);
        Ok(())
    }

    /// One FF1 encryption or decryption of `m` (digit values 0–9).
    fn step(&self, tweak: &[u8], m: &[u8], encrypt: bool) -> Result<Vec<u8>, FpeError> {
        let ns = FlexibleNumeralString::from(m.iter().map(|&x| u16::from(x)).collect::<Vec<_>>());
        let r = if encrypt {
            self.0.encrypt(tweak, &ns)
        } else {
            self.0.decrypt(tweak, &ns)
        };
        // The middle has 6 to 9 digits of 0–9 by construction; a refusal would be our bug,
        // reported as a value that cannot be treated rather than a panic.
        let r = r.map_err(|_| FpeError::Digits(m.len()))?;
        Ok(Vec::<u16>::from(r).into_iter().map(|x| x as u8).collect())
    }
}

/// The digits of a value (values 0–9), where they sit in it.
struct Digits {
    digits: Vec<u8>,
}

impl Digits {
    fn parse(value: &str) -> Result<Self, FpeError> {
        let b = value.as_bytes();
        if !b
            .iter()
            .all(|&c| c.is_ascii_digit() || c == b' ' || c == b'-')
        {
            return Err(FpeError::NotDigits);
        }
        let digits: Vec<u8> = b
            .iter()
            .filter(|c| c.is_ascii_digit())
            .map(|c| c - b'0')
            .collect();
        if !(13..=19).contains(&digits.len()) {
            return Err(FpeError::Digits(digits.len()));
        }
        Ok(Self { digits })
    }

    /// How many leading digits stay in clear: six, or fewer so that six remain to encrypt.
    fn front_len(&self) -> usize {
        (self.digits.len() - 10).min(6)
    }

    fn split(&self) -> (&[u8], &[u8], &[u8]) {
        let (f, n) = (self.front_len(), self.digits.len());
        (
            &self.digits[..f],
            &self.digits[f..n - 4],
            &self.digits[n - 4..],
        )
    }

    fn set_middle(&mut self, m: &[u8]) {
        let f = self.front_len();
        self.digits[f..f + m.len()].copy_from_slice(m);
    }

    /// Sets the middle's last digit so that the Luhn sum is `sum`. Each position's Luhn
    /// contribution is a permutation of 0–9, so exactly one digit does it.
    fn set_mark(&mut self, sum: u8) {
        let i = self.digits.len() - 5;
        for x in 0..10 {
            self.digits[i] = x;
            if luhn_sum(&self.digits) == sum {
                return;
            }
        }
    }

    /// `value` with its digits replaced by these, separators where they were.
    fn write(&self, value: &str, out: &mut String) {
        let mut next = self.digits.iter();
        for c in value.chars() {
            if c.is_ascii_digit() {
                out.push(char::from(b'0' + next.next().copied().unwrap_or(0)));
            } else {
                out.push(c);
            }
        }
    }
}

/// The Luhn sum mod 10 of digit values (0–9); 0 means Luhn-valid.
fn luhn_sum(digits: &[u8]) -> u8 {
    let mut sum = 0u32;
    for (i, &d) in digits.iter().rev().enumerate() {
        let mut d = u32::from(d);
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    (sum % 10) as u8
}

fn tweak(front: &[u8], last: &[u8]) -> Vec<u8> {
    front.iter().chain(last).map(|d| b'0' + d).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::pii::scan;
    use proptest::prelude::*;

    /// NIST's FF1 samples 7 and 8 (AES-256, radix 10), through the crate as we call it.
    #[test]
    fn ff1_matches_nist_sp_800_38g_samples_7_and_8() {
        let key: [u8; 32] = [
            0x2B, 0x7E, 0x15, 0x16, 0x28, 0xAE, 0xD2, 0xA6, 0xAB, 0xF7, 0x15, 0x88, 0x09, 0xCF,
            0x4F, 0x3C, 0xEF, 0x43, 0x59, 0xD8, 0xD5, 0x80, 0xAA, 0x4F, 0x7F, 0x03, 0x6D, 0x6F,
            0x04, 0xFC, 0x6A, 0x94,
        ];
        let f = Ff1::from_aes_key(&key);
        let pt = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
        for (tweak, ct) in [
            (&b""[..], [6, 6, 5, 7, 6, 6, 7, 0, 0, 9]),
            (&b"9876543210"[..], [1, 0, 0, 1, 6, 2, 3, 4, 6, 3]),
        ] {
            assert_eq!(f.step(tweak, &pt, true).unwrap(), ct);
            assert_eq!(f.step(tweak, &ct, false).unwrap(), pt);
        }
    }

    fn card(body: &str) -> String {
        let mut v = body.as_bytes().to_vec();
        v.push(scan::luhn_check_digit(body.as_bytes()));
        String::from_utf8(v).unwrap()
    }

    fn enc(f: &Ff1, v: &str) -> String {
        let mut s = String::new();
        f.encrypt(v, &mut s).unwrap();
        s
    }

    fn dec(f: &Ff1, v: &str) -> String {
        let mut s = String::new();
        f.decrypt(v, &mut s).unwrap();
        s
    }

    #[test]
    fn cards_keep_their_shape_bin_and_last_four() {
        let f = Ff1::derive(&[7; 32], "k1");
        let e = enc(&f, "4539 1488 0343 6467");
        assert_eq!(e.len(), 19);
        assert!(e.starts_with("4539 14") && e.ends_with(" 6467"), "{e}");
        assert_eq!(e.as_bytes()[4], b' ');
        assert_eq!(e.as_bytes()[14], b' ');
        assert_ne!(e, "4539 1488 0343 6467");
        assert!(scan::find_pans(e.as_bytes()).is_empty(), "{e}");
        assert_eq!(dec(&f, &e), "4539 1488 0343 6467");
        // Separators do not change the digits' encryption; an output passes as it is.
        let plain = enc(&f, "4539148803436467");
        assert_eq!(plain, e.replace(' ', ""));
        assert_eq!(enc(&f, &plain), plain, "idempotent");
        // Amex (15 digits): five kept in front, six encrypted.
        let amex = card("37828224631000");
        let e = enc(&f, &amex);
        assert_eq!((&e[..5], &e[11..]), (&amex[..5], &amex[11..]));
        assert_eq!(dec(&f, &e), amex);
    }

    #[test]
    fn keys_change_the_output_and_ids_change_the_key() {
        let pan = card("411111111111111");
        let a = enc(&Ff1::derive(&[7; 32], "k1"), &pan);
        assert_eq!(a, enc(&Ff1::derive(&[7; 32], "k1"), &pan), "stable");
        assert_ne!(a, enc(&Ff1::derive(&[8; 32], "k1"), &pan));
        assert_ne!(a, enc(&Ff1::derive(&[7; 32], "k2"), &pan));
    }

    #[test]
    fn what_is_not_a_card_number_is_refused_without_the_value() {
        let f = Ff1::derive(&[7; 32], "k1");
        let err = |v: &str| {
            let mut s = String::new();
            let e = f.encrypt(v, &mut s).unwrap_err();
            assert!(s.is_empty());
            e
        };
        assert_eq!(err("12345"), FpeError::Digits(5));
        assert_eq!(err(""), FpeError::Digits(0));
        assert_eq!(err("12345678901234567890"), FpeError::Digits(20));
        assert_eq!(err("4539 1488 0343 646x"), FpeError::NotDigits);
        assert_eq!(err("4539148803436468"), FpeError::Luhn);
        assert!(FpeError::Digits(5).to_string().contains("10^6"));
        let mut s = String::new();
        assert_eq!(
            f.decrypt("4539148803436467", &mut s),
            Err(FpeError::NotEncrypted)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn any_card_round_trips_and_never_looks_like_one(
            body in "[0-9]{12,18}",
            seps in proptest::collection::vec(0u8..3, 19),
            key in any::<[u8; 32]>(),
        ) {
            let pan = card(&body);
            // Separators at random places between digits.
            let mut v = String::new();
            for (i, c) in pan.chars().enumerate() {
                if i > 0 && seps[i] == 1 { v.push(' ') }
                if i > 0 && seps[i] == 2 { v.push('-') }
                v.push(c);
            }
            let f = Ff1::derive(&key, "k");
            let e = enc(&f, &v);
            prop_assert_eq!(e.len(), v.len());
            let ed: Vec<u8> = e.bytes().filter(u8::is_ascii_digit).collect();
            // The digits together are never a card number (the scanner would also check
            // plain runs between odd separators; those are the input's own runs too).
            prop_assert!(!scan::luhn_valid(&ed), "{} -> {}", v, e);
            prop_assert!(scan::find_pans(&ed).is_empty());
            let pd = pan.as_bytes();
            let front = (pd.len() - 10).min(6);
            prop_assert_eq!(&ed[..front], &pd[..front]);
            prop_assert_eq!(&ed[ed.len() - 4..], &pd[pd.len() - 4..]);
            prop_assert_eq!(enc(&f, &e), e.clone());
            prop_assert_eq!(dec(&f, &e), v);
        }
    }
}
