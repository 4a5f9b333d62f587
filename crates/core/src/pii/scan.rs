//! Finding card numbers in text: runs of 13 to 19 digits that pass the Luhn check.
//!
//! Two users: the dead-letter writer, which must not keep a card number that it could not
//! attribute to a field (a line too broken to split), and the tests that scan everything
//! riskstream wrote. A run is the longest stretch of ASCII digits, optionally grouped by
//! single spaces or dashes (`4539 1488 0343 6467`); each plain digit run inside a grouped
//! one is checked too, so `2024-01-01 4539148803436467` still finds the card. A run that
//! touches a letter, `_` or `.` is part of a word, a hex hash or a decimal number
//! (`0.8571428571428571`), not a card number, and is skipped. About one random 16-digit
//! number in ten passes Luhn, so a long integer id can be caught as well: redaction errs on
//! the side of hiding.

use std::ops::Range;

/// True when `digits` (ASCII digits) pass the Luhn check.
pub fn luhn_valid(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &c) in digits.iter().rev().enumerate() {
        let mut d = u32::from(c.wrapping_sub(b'0'));
        if d > 9 {
            return false;
        }
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    !digits.is_empty() && sum % 10 == 0
}

/// The digit check digit that makes `body` + it Luhn-valid.
pub fn luhn_check_digit(body: &[u8]) -> u8 {
    (0..10u8)
        .map(|d| b'0' + d)
        .find(|&d| {
            let mut v = body.to_vec();
            v.push(d);
            luhn_valid(&v)
        })
        .unwrap_or(b'0')
}

fn is_card(digits: &[u8]) -> bool {
    (13..=19).contains(&digits.len()) && luhn_valid(digits)
}

/// True when `text[r]` stands alone: no letter, `_` or `.` right before or after it.
fn stands_alone(text: &[u8], r: &Range<usize>) -> bool {
    let joins =
        |b: Option<&u8>| b.is_some_and(|&b| b.is_ascii_alphabetic() || b == b'_' || b == b'.');
    !joins(r.start.checked_sub(1).and_then(|i| text.get(i))) && !joins(text.get(r.end))
}

/// Byte ranges of the card numbers in `text`, in order, not overlapping.
pub fn find_pans(text: &[u8]) -> Vec<Range<usize>> {
    let mut found = Vec::new();
    let mut i = 0;
    while i < text.len() {
        if !text[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        // A grouped run: digits, with single separators between digits.
        let start = i;
        let mut end = i;
        let mut j = i;
        while j < text.len() {
            if text[j].is_ascii_digit() {
                j += 1;
                end = j;
            } else if (text[j] == b' ' || text[j] == b'-')
                && j + 1 < text.len()
                && text[j + 1].is_ascii_digit()
            {
                j += 1;
            } else {
                break;
            }
        }
        let digits: Vec<u8> = text[start..end]
            .iter()
            .copied()
            .filter(u8::is_ascii_digit)
            .collect();
        if digits.len() != end - start && is_card(&digits) && stands_alone(text, &(start..end)) {
            found.push(start..end);
        } else {
            // Each plain run inside it.
            let mut k = start;
            while k < end {
                if !text[k].is_ascii_digit() {
                    k += 1;
                    continue;
                }
                let s = k;
                while k < end && text[k].is_ascii_digit() {
                    k += 1;
                }
                if is_card(&text[s..k]) && stands_alone(text, &(s..k)) {
                    found.push(s..k);
                }
            }
        }
        i = end.max(start + 1);
    }
    found
}

/// Stars every digit of each card number in `text` but its last four, in place (the
/// length and every other byte stay). Returns how many were found.
pub fn redact_pans(text: &mut [u8]) -> usize {
    let found = find_pans(text);
    for r in &found {
        let n_digits = text[r.clone()]
            .iter()
            .filter(|b| b.is_ascii_digit())
            .count();
        let mut seen = 0;
        for b in &mut text[r.clone()] {
            if b.is_ascii_digit() {
                seen += 1;
                if seen <= n_digits - 4 {
                    *b = b'*';
                }
            }
        }
    }
    found.len()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn luhn_matches_known_numbers() {
        // Test card numbers the networks publish.
        for pan in [
            "4111111111111111",
            "5555555555554444",
            "378282246310005",
            "6011111111111117",
        ] {
            assert!(luhn_valid(pan.as_bytes()), "{pan}");
            let body = &pan.as_bytes()[..pan.len() - 1];
            assert_eq!(luhn_check_digit(body), *pan.as_bytes().last().unwrap());
        }
        assert!(!luhn_valid(b"4111111111111112"));
        assert!(!luhn_valid(b""));
        assert!(!luhn_valid(b"41x1"));
    }

    #[test]
    fn finds_plain_grouped_and_embedded_numbers() {
        let t = b"a,4111111111111111,b 5555 5555 5555 4444 x 2024-01-01 378282246310005;4111111111111112,12345";
        let got: Vec<&[u8]> = find_pans(t).into_iter().map(|r| &t[r]).collect();
        assert_eq!(
            got,
            [
                &b"4111111111111111"[..],
                b"5555 5555 5555 4444",
                b"378282246310005"
            ]
        );
        let mut m = t.to_vec();
        assert_eq!(redact_pans(&mut m), 3);
        let s = String::from_utf8(m).unwrap();
        assert!(s.starts_with("a,************1111,b **** **** **** 4444 x 2024-01-01 ***********0005;4111111111111112"), "{s}");
        assert!(find_pans(s.as_bytes()).is_empty());
        // Too long or too short runs are not card numbers, nor parts of words and decimals.
        assert!(find_pans(b"41111111111111110000 411111111111").is_empty());
        assert!(find_pans(
            b"0.4111111111111111 4111111111111111.5 x4111111111111111 4111111111111111_"
        )
        .is_empty());
        assert_eq!(find_pans(b"\"4111111111111111\"").len(), 1);
    }
}
