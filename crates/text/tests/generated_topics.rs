//! Topics on the generator's complaints (`riskstream_gen::complaints`): texts written from
//! templates with four planted themes, one of which starts only in the fourth week. The
//! topics must recover the themes (each topic's top words are one theme's words, the texts
//! land on their theme's topic) and flag the late theme as emerging in the week it starts —
//! the same checks as `tests/topics.rs`, on data nobody wrote for this test.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use riskstream_gen::complaints::{complaints, EMERGING_FROM_DAY, THEMES};
use riskstream_gen::GenConfig;
use riskstream_text::{topics, trend, Tokenizer, TopicParams};

/// The week of a generated day (days 7w ..= 7w + 6 are week w); one digit for five weeks,
/// so the labels sort in time order.
fn week(day: u32) -> String {
    format!("week {}", day / 7)
}

#[test]
fn generated_complaints_give_back_their_planted_themes() {
    let cfg = GenConfig {
        customers: 6_000,
        days: 35,
        seed: 3,
        ..GenConfig::default()
    };
    let rows = complaints(&cfg);
    assert!(rows.len() >= 300, "{} complaints", rows.len());
    let texts: Vec<&str> = rows.iter().map(|c| c.narrative.as_str()).collect();
    let p = TopicParams {
        k: THEMES.len(),
        ..Default::default()
    };
    let t = topics(&p, &Tokenizer::default(), &texts).unwrap();

    // Each topic's top five words come from one theme, and the topics name every theme.
    let mut theme_of_topic = Vec::new();
    for words in &t.words {
        let top: Vec<&str> = words.iter().take(5).map(|w| w.0.as_str()).collect();
        let theme = (0..THEMES.len())
            .find(|&th| top.iter().all(|w| THEMES[th].words.contains(w)))
            .unwrap_or_else(|| panic!("topic {top:?} is not one planted theme"));
        theme_of_topic.push(theme);
    }
    let mut seen = theme_of_topic.clone();
    seen.sort_unstable();
    assert_eq!(seen, [0, 1, 2, 3], "{:?}", t.words);

    // Texts land on their theme's topic (at least 98 %).
    let right = t
        .assignment
        .iter()
        .zip(&rows)
        .filter(|(a, c)| a.is_some_and(|(topic, _)| theme_of_topic[topic] == c.theme))
        .count();
    assert!(
        right * 100 >= rows.len() * 98,
        "{right} of {} texts on their theme's topic",
        rows.len()
    );

    // The late theme is flagged as emerging in the week it starts, and no other theme in
    // any week.
    let weeks: Vec<String> = rows.iter().map(|c| week(c.day)).collect();
    let emerging_theme = THEMES.len() - 1;
    let start = week(EMERGING_FROM_DAY);
    let tr = trend(&t, &weeks, THEMES.len(), 5);
    assert_eq!(tr.len(), 5 * THEMES.len(), "five weeks × four topics");
    for r in &tr {
        let late = theme_of_topic[r.topic] == emerging_theme;
        assert_eq!(r.emerging, late && r.period == start, "{r:?}");
        if late && r.period < start {
            assert_eq!(r.count, 0, "{r:?}");
        }
    }

    // Deterministic: the same configuration gives the same texts and topics.
    let again: Vec<String> = complaints(&cfg).into_iter().map(|c| c.narrative).collect();
    assert!(again.iter().map(String::as_str).eq(texts.iter().copied()));
    assert_eq!(topics(&p, &Tokenizer::default(), &texts).unwrap(), t);
}
