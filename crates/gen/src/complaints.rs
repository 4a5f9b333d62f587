//! Complaint texts from the bank's customers, written from templates with planted themes
//! (optional output `complaints.*`, [`crate::GenConfig::complaints`]).
//!
//! # Why
//!
//! Topic models and complaint classifiers are judged by whether they find what is there.
//! Real narratives (CFPB) have no ground truth for themes; these texts do: every complaint
//! is about exactly one planted theme (column `issue`), and one theme starts only in a
//! later week, so a trend detector has something to flag.
//!
//! ```text
//!  day d ─▶ Poisson(customers · COMPLAINTS_PER_CUSTOMER_DAY) complaints, stream (seed, d)
//!     each: customer (uniform), theme (equal shares; `app_lockout` only from
//!           EMERGING_FROM_DAY, then EMERGING_SHARE of the day's complaints)
//!     ─▶ narrative: 3–5 sentences from TEMPLATES, each slot `{}` filled with one of the
//!        theme's words, runs of 3–6 FILLER words (no theme words) in 40 % of the gaps,
//!        CFPB-style redactions (`XXXX`, `XX/XX/2024`, `{$120.00}`)
//!  ─▶ rows (complaint_id, customer_id, date_received, product, issue, narrative),
//!     ids in date order
//! ```
//!
//! The layout follows the CFPB file's column names (`date_received`, `product`, `issue`,
//! `narrative`), so `riskstream text topics --input complaints.csv --text-col narrative
//! --date-col date_received` reads the CSV as it is. Every
//! draw comes from a stream seeded by (seed, day): the same configuration gives the same
//! texts, whatever else is generated.

use crate::rng::{self, tag, Rng};
use crate::tables::{ints, Dict};
use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_schema::{ArrowError, SchemaRef};
use riskstream_core::time::civil_from_days;
use std::sync::Arc;

/// Expected complaints per customer per day (about one a year per 1.4 customers' worth of
/// days: 1,000 customers write 60 complaints in 30 days).
pub const COMPLAINTS_PER_CUSTOMER_DAY: f64 = 0.002;

/// The theme that emerges: it has no complaints before this day (0-based) of the period.
pub const EMERGING_FROM_DAY: u32 = 21;

/// The emerging theme's share of a day's complaints once it has started (the other themes
/// share the rest equally).
pub const EMERGING_SHARE: f64 = 0.3;

/// One planted theme: its name (the `issue` column), the product complained about, and the
/// words that only it uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    /// Written as `issue`.
    pub name: &'static str,
    /// Written as `product`.
    pub product: &'static str,
    /// Words of the theme; each narrative uses several of them.
    pub words: [&'static str; 10],
}

/// The planted themes; the last one is the emerging one.
pub const THEMES: [Theme; 4] = [
    Theme {
        name: "overdraft_fees",
        product: "current_account",
        words: [
            "overdraft",
            "fee",
            "fees",
            "refund",
            "deposit",
            "balance",
            "checking",
            "reversed",
            "posted",
            "insufficient",
        ],
    },
    Theme {
        name: "card_dispute",
        product: "credit_card",
        words: [
            "dispute",
            "merchant",
            "chargeback",
            "unauthorized",
            "purchase",
            "statement",
            "provisional",
            "investigation",
            "vendor",
            "receipt",
        ],
    },
    Theme {
        name: "loan_servicing",
        product: "mortgage",
        words: [
            "escrow",
            "servicer",
            "mortgage",
            "payoff",
            "modification",
            "forbearance",
            "principal",
            "interest",
            "appraisal",
            "lien",
        ],
    },
    Theme {
        name: "app_lockout",
        product: "current_account",
        words: [
            "app",
            "login",
            "locked",
            "password",
            "verification",
            "outage",
            "update",
            "biometric",
            "code",
            "error",
        ],
    },
];

/// Sentences with slots (`{}`) for theme words, `{$}` for an amount. Besides the slots
/// they hold only function words and redactions (all on the topic model's stop list), so no
/// block of words repeats across themes and forms a topic of its own.
const TEMPLATES: [&str; 8] = [
    "On XX/XX/2024 the {} and the {} were there.",
    "I was at XXXX about the {} and they said the {} was not there.",
    "They had {$} from me because of the {}.",
    "The {} was not what they said and the {} is still there.",
    "Why was the {} not there after the {}?",
    "Then the {} was {} again.",
    "I have the {} from them but no {}.",
    "My {} was {} and it was them.",
];

/// Filler words for the sentences between: drawn one by one, so no two of them travel
/// together the way a fixed sentence's words would.
const FILLER: [&str; 24] = [
    "customer",
    "service",
    "manager",
    "week",
    "month",
    "letter",
    "email",
    "phone",
    "website",
    "company",
    "representative",
    "request",
    "response",
    "time",
    "days",
    "help",
    "information",
    "complaint",
    "support",
    "office",
    "today",
    "yesterday",
    "family",
    "work",
];

/// One generated complaint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Complaint {
    /// Sequential, in date order from 0.
    pub complaint_id: u64,
    /// A customer of the generated bank.
    pub customer_id: u32,
    /// Day of the period (0-based).
    pub day: u32,
    /// `YYYY-MM-DD`.
    pub date_received: String,
    /// Index into [`THEMES`].
    pub theme: usize,
    /// The text.
    pub narrative: String,
}

/// Every complaint of the period, in date order. Depends on `seed`, `customers`, `start`
/// and `days` of the configuration only.
pub fn complaints(cfg: &crate::GenConfig) -> Vec<Complaint> {
    let start_day = cfg.start.div_euclid(riskstream_core::time::MICROS_PER_DAY);
    let mut out = Vec::new();
    for d in 0..cfg.days {
        let mut r = rng::stream(cfg.seed, tag::COMPLAINTS, u64::from(d), 0);
        let n = rng::poisson(
            &mut r,
            f64::from(cfg.customers) * COMPLAINTS_PER_CUSTOMER_DAY,
        );
        let (y, m, dd) = civil_from_days(start_day + i64::from(d));
        let date = format!("{y:04}-{m:02}-{dd:02}");
        for _ in 0..n {
            let customer_id = rng::below(&mut r, cfg.customers);
            let theme = pick_theme(&mut r, d);
            out.push(Complaint {
                complaint_id: out.len() as u64,
                customer_id,
                day: d,
                date_received: date.clone(),
                theme,
                narrative: narrative(&mut r, &THEMES[theme]),
            });
        }
    }
    out
}

fn pick_theme(r: &mut Rng, day: u32) -> usize {
    let base = THEMES.len() - 1;
    if day >= EMERGING_FROM_DAY && rng::chance(r, EMERGING_SHARE) {
        return base;
    }
    rng::below(r, base as u32) as usize
}

fn narrative(r: &mut Rng, theme: &Theme) -> String {
    let sentences = rng::int_in(r, 3, 5);
    let mut parts: Vec<String> = Vec::new();
    for s in 0..sentences {
        let t = TEMPLATES[rng::below(r, TEMPLATES.len() as u32) as usize];
        let mut text = String::new();
        let mut rest = t;
        while let Some(at) = rest.find('{') {
            text.push_str(&rest[..at]);
            if rest[at..].starts_with("{$}") {
                let amount = rng::int_in(r, 5, 900);
                text.push_str(&format!("{{${amount}.00}}"));
                rest = &rest[at + 3..];
            } else {
                text.push_str(theme.words[rng::below(r, theme.words.len() as u32) as usize]);
                rest = &rest[at + 2..];
            }
        }
        text.push_str(rest);
        parts.push(text);
        if s + 1 < sentences && rng::chance(r, 0.4) {
            let n = rng::int_in(r, 3, 6);
            let words: Vec<&str> = (0..n)
                .map(|_| FILLER[rng::below(r, FILLER.len() as u32) as usize])
                .collect();
            parts.push(format!("{}.", words.join(" ")));
        }
    }
    parts.join(" ")
}

/// Complaints as a batch in the `complaints` schema's field order.
pub(crate) fn batch(schema: &SchemaRef, rows: &[Complaint]) -> Result<RecordBatch, ArrowError> {
    // The schema's category values, in its order.
    let products = ["current_account", "credit_card", "mortgage"];
    let product_key = |t: usize| {
        products
            .iter()
            .position(|p| *p == THEMES[t].product)
            .unwrap_or(0) as i32
    };
    let cols: Vec<ArrayRef> = vec![
        ints(rows.iter().map(|c| c.complaint_id as i64).collect()),
        ints(rows.iter().map(|c| i64::from(c.customer_id)).collect()),
        strings(rows.iter().map(|c| c.date_received.as_str())),
        Dict::new(products).column(rows.iter().map(|c| product_key(c.theme)).collect())?,
        Dict::new(THEMES.iter().map(|t| t.name))
            .column(rows.iter().map(|c| c.theme as i32).collect())?,
        strings(rows.iter().map(|c| c.narrative.as_str())),
    ];
    RecordBatch::try_new(schema.clone(), cols)
}

fn strings<'a>(v: impl Iterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complaints_are_deterministic_dated_and_planted() {
        let cfg = crate::GenConfig {
            customers: 2_000,
            days: 35,
            ..crate::GenConfig::default()
        };
        let a = complaints(&cfg);
        assert_eq!(a, complaints(&cfg));
        // 2,000 × 35 × 0.002 = 140 expected.
        assert!((90..200).contains(&a.len()), "{}", a.len());
        assert!(a.windows(2).all(|w| w[0].day <= w[1].day));
        assert!(a
            .iter()
            .enumerate()
            .all(|(i, c)| c.complaint_id == i as u64));
        // 2024-01-01 + 34 days = 2024-02-04.
        assert!(a
            .iter()
            .all(|c| ("2024-01-01"..="2024-02-04").contains(&c.date_received.as_str())));
        assert!(a
            .windows(2)
            .all(|w| w[0].date_received <= w[1].date_received));
        let emerging = THEMES.len() - 1;
        assert!(a
            .iter()
            .all(|c| c.theme != emerging || c.day >= EMERGING_FROM_DAY));
        assert!(a.iter().any(|c| c.theme == emerging));
        for c in &a {
            let own = THEMES[c.theme].words;
            let words: Vec<String> = c
                .narrative
                .split(|ch: char| !ch.is_alphanumeric())
                .map(str::to_lowercase)
                .collect();
            assert!(words.iter().any(|w| own.contains(&w.as_str())), "{c:?}");
            for (t, th) in THEMES.iter().enumerate() {
                if t != c.theme {
                    assert!(
                        !words.iter().any(|w| th.words.contains(&w.as_str())),
                        "{} in {c:?}",
                        th.name
                    );
                }
            }
        }
        // Another seed, other texts.
        let b = complaints(&crate::GenConfig { seed: 7, ..cfg });
        assert_ne!(a, b);
    }
}
