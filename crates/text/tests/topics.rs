//! Topics on generated complaints with planted themes: each theme is recovered as one topic
//! (its top words are the theme's words, its texts are the theme's texts), and a theme that
//! appears only in the second week is flagged as emerging.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use riskstream_text::{topics, trend, Tokenizer, TopicParams};

const THEMES: [&[&str]; 3] = [
    &[
        "overdraft",
        "fee",
        "checking",
        "refund",
        "branch",
        "deposit",
        "teller",
        "balance",
        "withdrawal",
        "charged",
    ],
    &[
        "mortgage",
        "escrow",
        "servicer",
        "foreclosure",
        "modification",
        "appraisal",
        "refinance",
        "lien",
        "closing",
        "property",
    ],
    &[
        "collector",
        "debt",
        "validation",
        "harass",
        "calls",
        "judgment",
        "garnish",
        "settlement",
        "owed",
        "agency",
    ],
];
const FILLER: [&str; 40] = [
    "customer",
    "service",
    "called",
    "manager",
    "week",
    "month",
    "letter",
    "email",
    "phone",
    "website",
    "online",
    "company",
    "representative",
    "problem",
    "issue",
    "request",
    "response",
    "answer",
    "time",
    "days",
    "help",
    "information",
    "complaint",
    "support",
    "account",
    "number",
    "name",
    "address",
    "family",
    "work",
    "money",
    "payment",
    "bank",
    "office",
    "online",
    "today",
    "yesterday",
    "morning",
    "evening",
    "weekend",
];

/// A deterministic generator (splitmix64) so the texts are the same on every run.
struct Gen(u64);
impl Gen {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % n as u64) as usize
    }
}

/// 300 texts: theme i for text j is j % 3, except that theme 2 only occurs in week 2.
fn corpus() -> (Vec<String>, Vec<usize>, Vec<String>) {
    let mut g = Gen(11);
    let (mut texts, mut themes, mut weeks) = (vec![], vec![], vec![]);
    for j in 0..300 {
        let week = if j < 150 { "2023-06-05" } else { "2023-06-12" };
        let theme = if week == "2023-06-05" { j % 2 } else { j % 3 };
        let mut words: Vec<&str> = Vec::new();
        for _ in 0..15 {
            words.push(THEMES[theme][g.next(10)]);
        }
        for _ in 0..10 {
            words.push(FILLER[g.next(40)]);
        }
        // Shuffle, and add redaction marks as real narratives have.
        for i in (1..words.len()).rev() {
            words.swap(i, g.next(i + 1));
        }
        texts.push(format!(
            "On XX/XX/2023 XXXX {} {{$100.00}}.",
            words.join(" ")
        ));
        themes.push(theme);
        weeks.push(week.to_string());
    }
    (texts, themes, weeks)
}

#[test]
fn planted_themes_are_recovered_and_the_new_one_emerges() {
    let (texts, themes, weeks) = corpus();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let p = TopicParams {
        k: 3,
        min_df: 2,
        ..Default::default()
    };
    let t = topics(&p, &Tokenizer::default(), &refs).unwrap();
    // Each topic's top five words come from one theme, and the three topics name three themes.
    let mut theme_of_topic = Vec::new();
    for words in &t.words {
        let top: Vec<&str> = words.iter().take(5).map(|w| w.0.as_str()).collect();
        let theme = (0..3)
            .find(|&th| top.iter().all(|w| THEMES[th].contains(w)))
            .unwrap_or_else(|| panic!("topic {top:?} is not one planted theme"));
        theme_of_topic.push(theme);
    }
    let mut seen = theme_of_topic.clone();
    seen.sort_unstable();
    assert_eq!(seen, [0, 1, 2], "{:?}", t.words);
    // Texts land on their theme's topic.
    let right = t
        .assignment
        .iter()
        .zip(&themes)
        .filter(|(a, th)| a.is_some_and(|(topic, _)| theme_of_topic[topic] == **th))
        .count();
    assert!(right >= 295, "{right} of 300 texts on their theme's topic");
    // The theme planted only in week two is flagged as emerging there, the others are not.
    let rows = trend(&t, &weeks, 3, 5);
    assert_eq!(rows.len(), 6);
    for r in rows.iter().filter(|r| r.period == "2023-06-12") {
        assert_eq!(r.emerging, theme_of_topic[r.topic] == 2, "{r:?}");
    }
    // Deterministic.
    assert_eq!(topics(&p, &Tokenizer::default(), &refs).unwrap(), t);
}

#[test]
fn too_few_words_for_k_is_a_clear_error() {
    let e = topics(&TopicParams::default(), &Tokenizer::default(), &["a b", ""]).unwrap_err();
    assert!(e.to_string().contains("fewer than k"), "{e}");
}
