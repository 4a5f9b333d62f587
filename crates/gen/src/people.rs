//! Personal data of the simulated bank (only with `GenConfig::pii`): card numbers, and
//! customers' names, e-mail addresses and phone numbers.
//!
//! Why: data protection (tokenizing, masking, dropping at ingest) cannot be tested on data
//! without any. Every value is a pure function of (seed, card or customer), like the rest
//! of the generator, so the same seed gives the same card numbers on every run, which is
//! what lets a test check that a token is stable across runs.
//!
//! Card numbers (PANs) are Luhn-valid and spread over the issuer ranges a European card
//! portfolio shows (ISO/IEC 7812 prefixes as the networks publish them):
//!
//! | share | network | prefix | length |
//! |---|---|---|---|
//! | 45 % | Visa | 4 | 16 (3 % of them 19) |
//! | 15 % | Mastercard | 51–55 | 16 |
//! | 12 % | Mastercard | 2221–2720 | 16 |
//! | 10 % | American Express | 34, 37 | 15 |
//! | 6 % | Discover | 6011, 644–649, 65 | 16 |
//! | 6 % | JCB | 3528–3589 | 16 |
//! | 6 % | UnionPay | 62 | 16–19 |
//!
//! E-mail domains are the reserved `example.*` names (RFC 2606), so no generated address
//! can reach a real mailbox; phone numbers carry the home country's calling code.

use crate::rng::{self, tag, Rng};
use riskstream_core::pii::scan::luhn_check_digit;

/// The card number of card `card` in the run seeded with `seed`.
pub(crate) fn pan(seed: u64, card: u64) -> String {
    let mut r = rng::stream(seed, tag::PAN, card, 0);
    let u = rng::unif(&mut r);
    let pick = |r: &mut Rng, lo: u32, hi: u32| rng::int_in(r, lo, hi).to_string();
    let (prefix, len) = if u < 0.45 {
        let len = if rng::chance(&mut r, 0.03) { 19 } else { 16 };
        ("4".to_string(), len)
    } else if u < 0.60 {
        (pick(&mut r, 51, 55), 16)
    } else if u < 0.72 {
        (pick(&mut r, 2221, 2720), 16)
    } else if u < 0.82 {
        (
            (if rng::chance(&mut r, 0.5) { "34" } else { "37" }).to_string(),
            15,
        )
    } else if u < 0.88 {
        let p = match rng::below(&mut r, 3) {
            0 => "6011".to_string(),
            1 => pick(&mut r, 644, 649),
            _ => "65".to_string(),
        };
        (p, 16)
    } else if u < 0.94 {
        (pick(&mut r, 3528, 3589), 16)
    } else {
        ("62".to_string(), rng::int_in(&mut r, 16, 19) as usize)
    };
    let mut digits = prefix.into_bytes();
    while digits.len() < len - 1 {
        digits.push(b'0' + rng::below(&mut r, 10) as u8);
    }
    let check = luhn_check_digit(&digits);
    digits.push(check);
    String::from_utf8(digits).unwrap_or_default()
}

const FIRST: [&str; 32] = [
    "Anna", "Lukas", "Sophie", "Jonas", "Emma", "Louis", "Chloé", "Hugo", "Daan", "Julia", "Lucía",
    "Mateo", "Giulia", "Marco", "Olivia", "Harry", "James", "Ava", "Wei Ling", "Arjun", "Ana",
    "Gabriel", "Chinedu", "Ngozi", "Somchai", "Ploy", "Fatima", "Omar", "Noah", "Mia", "Elena",
    "Ravi",
];
const LAST: [&str; 32] = [
    "Müller",
    "Schmidt",
    "Martin",
    "Bernard",
    "de Jong",
    "Jansen",
    "García",
    "Fernández",
    "Rossi",
    "Bianchi",
    "Smith",
    "Jones",
    "Brown",
    "Johnson",
    "Tan",
    "Lim",
    "Silva",
    "Santos",
    "Okafor",
    "Adeyemi",
    "Wongsakul",
    "Saetang",
    "Al Mansouri",
    "Haddad",
    "Novak",
    "Kowalski",
    "Dubois",
    "Moreau",
    "Visser",
    "Romano",
    "Taylor",
    "Chen",
];
const DOMAINS: [&str; 3] = ["example.com", "example.net", "example.org"];

/// ITU calling code per country of `params::COUNTRIES` (by ISO code).
fn calling_code(country: &str) -> &'static str {
    match country {
        "DE" => "49",
        "FR" => "33",
        "NL" => "31",
        "ES" => "34",
        "IT" => "39",
        "GB" => "44",
        "US" => "1",
        "SG" => "65",
        "BR" => "55",
        "NG" => "234",
        "TH" => "66",
        "AE" => "971",
        _ => "0",
    }
}

/// A customer's name, e-mail address and phone number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Contact {
    pub name: String,
    pub email: String,
    pub phone: String,
}

/// The contact details of customer `customer` living in `country` (ISO code).
pub(crate) fn contact(seed: u64, customer: u64, country: &str) -> Contact {
    let mut r = rng::stream(seed, tag::PEOPLE, customer, 0);
    let first = FIRST[rng::below(&mut r, FIRST.len() as u32) as usize];
    let last = LAST[rng::below(&mut r, LAST.len() as u32) as usize];
    let local = |s: &str| -> String {
        s.chars()
            .filter_map(|c| match c {
                'ü' => Some('u'),
                'é' => Some('e'),
                'í' => Some('i'),
                ' ' => Some('-'),
                c if c.is_ascii_alphabetic() => Some(c.to_ascii_lowercase()),
                _ => None,
            })
            .collect()
    };
    let email = format!(
        "{}.{}{}@{}",
        local(first),
        local(last),
        rng::below(&mut r, 100),
        DOMAINS[rng::below(&mut r, DOMAINS.len() as u32) as usize]
    );
    let mut phone = format!("+{} ", calling_code(country));
    for k in 0..10 {
        if k == 3 {
            phone.push(' ');
        }
        phone.push((b'0' + rng::below(&mut r, 10) as u8) as char);
    }
    Contact {
        name: format!("{first} {last}"),
        email,
        phone,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use riskstream_core::pii::scan::luhn_valid;

    #[test]
    fn pans_are_luhn_valid_stable_and_span_the_issuer_ranges() {
        let mut by_first = std::collections::BTreeMap::new();
        let mut lens = std::collections::BTreeSet::new();
        let mut distinct = std::collections::HashSet::new();
        for card in 0..20_000u64 {
            let p = pan(7, card);
            assert!(luhn_valid(p.as_bytes()), "{p}");
            assert_eq!(p, pan(7, card));
            lens.insert(p.len());
            *by_first.entry(p.as_bytes()[0]).or_insert(0u32) += 1;
            distinct.insert(p);
        }
        assert_eq!(distinct.len(), 20_000, "no two cards share a number here");
        assert_eq!(lens.into_iter().collect::<Vec<_>>(), [15, 16, 17, 18, 19]);
        // Visa (4) about 45 %, Mastercard (5 and 2) about 27 %, Amex/JCB (3) about 16 %.
        let share = |d: u8| f64::from(by_first[&d]) / 20_000.0;
        assert!((share(b'4') - 0.45).abs() < 0.02, "{by_first:?}");
        assert!(
            (share(b'5') + share(b'2') - 0.27).abs() < 0.02,
            "{by_first:?}"
        );
        assert!((share(b'3') - 0.16).abs() < 0.02, "{by_first:?}");
        assert_ne!(pan(7, 1), pan(8, 1), "another seed, other numbers");
    }

    #[test]
    fn contacts_are_deterministic_and_plausible() {
        let c = contact(3, 42, "GB");
        assert_eq!(c, contact(3, 42, "GB"));
        assert!(c.phone.starts_with("+44 "), "{c:?}");
        assert!(c.email.contains("@example."), "{c:?}");
        assert!(c.email.is_ascii() && c.name.contains(' '), "{c:?}");
    }
}
