//! Fraud patterns, labels and the transactions file, checked on one shared run of about a
//! million transactions against the rates documented in `riskstream_gen::params`.

// Helpers outside #[test] functions panic on failure by design.
#![allow(clippy::unwrap_used)]

mod common;

use common::{km, poisson_ok, read, Table};
use riskstream_gen::params::*;
use riskstream_gen::{GenConfig, GenReport};
use riskstream_io::Format;
use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

const DAY_US: i64 = 86_400_000_000;

struct Data {
    _dir: tempfile::TempDir,
    cfg: GenConfig,
    report: GenReport,
    tx: Table,
    labels: Table,
    customers: Table,
    terminals: Table,
    manifest: serde_json::Value,
}

fn data() -> &'static Data {
    static DATA: OnceLock<Data> = OnceLock::new();
    DATA.get_or_init(|| {
        let cfg = GenConfig {
            seed: 7,
            customers: 15_000,
            terminals: 2_000,
            days: 30,
            threads: 2,
            ..GenConfig::default()
        };
        let (dir, report) = common::run(&cfg, Format::Parquet, false);
        let tx = read(&dir.path().join("transactions.parquet"), "transactions");
        let labels = read(&dir.path().join("labels.parquet"), "labels");
        let customers = read(&dir.path().join("customers.parquet"), "customers");
        let terminals = read(&dir.path().join("terminals.parquet"), "terminals");
        let manifest =
            serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap())
                .unwrap();
        Data {
            _dir: dir,
            cfg,
            report,
            tx,
            labels,
            customers,
            terminals,
            manifest,
        }
    })
}

/// Row indices of each episode of `pattern`: fraud rows grouped by `key` column, split
/// where the gap exceeds `max_gap_s`.
fn episodes(t: &Table, pattern: &str, key: &str, max_gap_s: i64) -> Vec<Vec<usize>> {
    let pid = t.cat_id("fraud_pattern", pattern);
    let (pat, _) = t.cats("fraud_pattern");
    let keys = t.ints(key);
    let time = t.ints("event_time");
    let mut by_key: HashMap<i64, Vec<usize>> = HashMap::new();
    for r in 0..t.rows {
        if pat[r] == pid {
            by_key.entry(keys[r]).or_default().push(r);
        }
    }
    let mut out = Vec::new();
    for rows in by_key.into_values() {
        let mut cur: Vec<usize> = Vec::new();
        for r in rows {
            if let Some(&last) = cur.last() {
                if time[r] - time[last] > max_gap_s * 1_000_000 {
                    out.push(std::mem::take(&mut cur));
                }
            }
            cur.push(r);
        }
        if !cur.is_empty() {
            out.push(cur);
        }
    }
    out
}

#[test]
fn transactions_validate_and_are_in_event_time_order() {
    let d = data();
    let t = &d.tx;
    assert_eq!(t.stats.rejected, 0);
    assert_eq!(t.rows as u64, d.report.transactions);
    assert!(t.rows > 800_000, "{} rows", t.rows);
    let ids = t.ints("tx_id");
    let time = t.ints("event_time");
    assert!(
        ids.iter().enumerate().all(|(i, &id)| id == i as i64),
        "tx_id must count up from 0"
    );
    assert!(
        time.windows(2).all(|w| w[0] <= w[1]),
        "event_time must be non-decreasing"
    );
    let start = d.cfg.start;
    let end = start + i64::from(d.cfg.days) * DAY_US;
    assert!(time[0] >= start && time[t.rows - 1] < end);
    // The column layout is exactly the shipped schema.
    let schema = riskstream_core::schema::builtin("riskstream-bank-transactions").unwrap();
    assert_eq!(
        t.names,
        schema
            .fields
            .iter()
            .map(|f| f.name.clone())
            .collect::<Vec<_>>()
    );
}

#[test]
fn overall_fraud_share_is_in_documented_range() {
    let d = data();
    let (pat, values) = d.tx.cats("fraud_pattern");
    let none = d.tx.cat_id("fraud_pattern", "none");
    let is_fraud = d.tx.ints("is_fraud");
    let frauds = pat.iter().filter(|&&p| p != none).count();
    assert_eq!(frauds, is_fraud.iter().filter(|&&f| f == 1).count());
    assert!(pat
        .iter()
        .zip(is_fraud)
        .all(|(&p, &f)| (p != none) == (f == 1)));
    assert_eq!(frauds as u64, d.report.frauds);
    let share = frauds as f64 / d.tx.rows as f64;
    assert!((0.003..=0.01).contains(&share), "fraud share {share}");
    // Every pattern shows up, and the report agrees with the file.
    for p in &PATTERNS[1..] {
        let id = d.tx.cat_id("fraud_pattern", p);
        let n = pat.iter().filter(|&&x| x == id).count() as u64;
        assert!(n > 0, "{p} missing ({values:?})");
        assert_eq!(n, d.report.patterns[*p], "{p}");
    }
}

fn check_rate(name: &str, observed: usize, report: u64, mu: f64) {
    eprintln!("{name}: {observed} episodes, expected {mu:.1}");
    assert_eq!(
        observed as u64, report,
        "{name}: episodes in the file vs the report"
    );
    assert!(
        poisson_ok(observed as f64, mu, 4.0),
        "{name}: {observed} episodes, expected {mu:.1} ± {:.1}",
        4.0 * mu.sqrt()
    );
}

#[test]
fn card_and_customer_pattern_rates_match_documentation() {
    let d = data();
    let card_days = d.report.cards as f64 * f64::from(d.cfg.days) * d.report.activity_scale;
    let customer_days = d.report.customers as f64 * f64::from(d.cfg.days) * d.report.activity_scale;
    let cnp = episodes(&d.tx, "cnp_burst", "card_id", 6 * 3600);
    check_rate(
        "cnp_burst",
        cnp.len(),
        d.report.episodes["cnp_burst"],
        CNP_BURST_PER_CARD_DAY * card_days,
    );
    let ct = episodes(&d.tx, "card_testing", "card_id", 2 * 3600);
    check_rate(
        "card_testing",
        ct.len(),
        d.report.episodes["card_testing"],
        CARD_TESTING_PER_CARD_DAY * card_days,
    );
    let it = episodes(&d.tx, "impossible_travel", "card_id", 3600);
    check_rate(
        "impossible_travel",
        it.len(),
        d.report.episodes["impossible_travel"],
        IMPOSSIBLE_TRAVEL_PER_CARD_DAY * card_days,
    );
    let ato = episodes(&d.tx, "account_takeover", "customer_id", 3 * 3600);
    check_rate(
        "account_takeover",
        ato.len(),
        d.report.episodes["account_takeover"],
        ACCOUNT_TAKEOVER_PER_CUSTOMER_DAY * customer_days,
    );
}

#[test]
fn episode_shapes_match_documentation() {
    let d = data();
    let t = &d.tx;
    let time = t.ints("event_time");
    let amount = t.floats("amount");
    let (channel, _) = t.cats("channel");
    let ecom = t.cat_id("channel", "ecom");
    let (device, _) = t.cats("device_id");
    let end = d.cfg.start + i64::from(d.cfg.days) * DAY_US;
    let near_end = |rows: &[usize]| end - time[*rows.last().unwrap()] < 6 * 3600 * 1_000_000;

    for ep in episodes(t, "cnp_burst", "card_id", 6 * 3600) {
        assert!(
            ep.len() as u32 <= CNP_BURST_TX.1
                && (ep.len() as u32 >= CNP_BURST_TX.0 || near_end(&ep)),
            "burst of {}",
            ep.len()
        );
        assert!(ep
            .iter()
            .all(|&r| channel[r] == ecom && device[r] != u32::MAX));
        assert!(
            ep.iter().all(|&r| device[r] == device[ep[0]]),
            "one fraudster device per burst"
        );
        for w in ep.windows(2) {
            let gap = time[w[1]] - time[w[0]];
            assert!(
                gap >= 60_000_000
                    && gap <= (CNP_BURST_GAP_MIN.1 * 60.0) as i64 * 1_000_000 + 1_000_000,
                "gap {gap}"
            );
        }
    }
    for ep in episodes(t, "card_testing", "card_id", 2 * 3600) {
        let small: Vec<usize> = ep
            .iter()
            .copied()
            .filter(|&r| amount[r] <= CARD_TESTING_AMOUNT.1)
            .collect();
        assert!(small.iter().all(|&r| amount[r] >= CARD_TESTING_AMOUNT.0));
        assert!(ep.len() - small.len() <= 1, "at most one cash-out purchase");
        assert!(
            small.len() as u32 <= CARD_TESTING_TESTS.1
                && (small.len() as u32 >= CARD_TESTING_TESTS.0 || near_end(&ep))
        );
        assert!(ep.iter().all(|&r| channel[r] == ecom));
    }
    // Account takeover: 5–20x the customer's typical amount, ecom, a device the customer
    // never used before.
    let typical = d.customers.floats("typical_amount");
    let customer = t.ints("customer_id");
    let mut first_use: HashMap<(i64, u32), usize> = HashMap::new();
    for r in 0..t.rows {
        if device[r] != u32::MAX {
            first_use.entry((customer[r], device[r])).or_insert(r);
        }
    }
    let ato = episodes(t, "account_takeover", "customer_id", 3 * 3600);
    for ep in &ato {
        assert!(ep.len() as u32 <= ACCOUNT_TAKEOVER_TX.1);
        for &r in ep {
            let ratio = amount[r] / typical[customer[r] as usize];
            assert!(
                (ACCOUNT_TAKEOVER_FACTOR.0 - 0.01..=ACCOUNT_TAKEOVER_FACTOR.1 + 0.01)
                    .contains(&ratio),
                "ratio {ratio}"
            );
            assert_eq!(channel[r], ecom);
            assert_eq!(
                first_use[&(customer[r], device[r])],
                ep[0],
                "the takeover device is new"
            );
        }
    }
}

#[test]
fn impossible_travel_is_far_and_fast() {
    let d = data();
    let t = &d.tx;
    let time = t.ints("event_time");
    let card = t.ints("card_id");
    let (lat, lon) = (t.floats("lat"), t.floats("lon"));
    let (channel, _) = t.cats("channel");
    let (country, _) = t.cats("country");
    let ecom = t.cat_id("channel", "ecom");
    let fraud = t.ints("is_fraud");
    // Previous genuine card-present transaction per card, scanning in time order.
    let mut last_cp: HashMap<i64, usize> = HashMap::new();
    let it = t.cat_id("fraud_pattern", "impossible_travel");
    let (pat, _) = t.cats("fraud_pattern");
    let mut checked = 0;
    for r in 0..t.rows {
        if pat[r] == it {
            let prev = last_cp[&card[r]];
            let minutes = (time[r] - time[prev]) as f64 / 60e6;
            assert!(
                minutes <= IMPOSSIBLE_TRAVEL_DELAY_MIN.1 + IMPOSSIBLE_TRAVEL_SECOND_GAP_MIN.1 + 1.0,
                "{minutes} min"
            );
            let dist = km(lat[prev], lon[prev], lat[r], lon[r]);
            assert!(dist >= IMPOSSIBLE_TRAVEL_MIN_KM - 50.0, "{dist} km");
            assert_ne!(country[prev], country[r]);
            assert_ne!(channel[r], ecom);
            checked += 1;
        } else if fraud[r] == 0 && channel[r] != ecom {
            last_cp.insert(card[r], r);
        }
    }
    assert!(checked > 50);
}

#[test]
fn compromised_terminals_match_documentation() {
    let d = data();
    let windows = d.manifest["compromised_terminals"].as_array().unwrap();
    let days = i64::from(d.cfg.days);
    // Starts per physical terminal-day not already compromised, within the period.
    let (chan, _) = d.terminals.cats("channel");
    let ecom = d.terminals.cat_id("channel", "ecom");
    let mut covered: HashMap<i64, HashSet<i64>> = HashMap::new();
    let mut starts = 0usize;
    for w in windows {
        let (t, s, e) = (
            w["terminal_id"].as_i64().unwrap(),
            w["start_day"].as_i64().unwrap(),
            w["end_day"].as_i64().unwrap(),
        );
        assert_ne!(
            chan[t as usize], ecom,
            "only physical terminals are compromised"
        );
        assert!((i64::from(COMPROMISE_DAYS.0)..=i64::from(COMPROMISE_DAYS.1)).contains(&(e - s)));
        if (0..days).contains(&s) {
            starts += 1;
        }
        covered
            .entry(t)
            .or_default()
            .extend((s.max(0)..e.min(days)).filter(|&x| x != s || s < 0));
    }
    let physical = chan.iter().filter(|&&c| c != ecom).count() as i64;
    // Exposure: physical terminal-days in the period on which a start was possible.
    let blocked: i64 = covered.values().map(|v| v.len() as i64).sum();
    let exposure = (physical * days - blocked) as f64;
    let mu = COMPROMISE_START_PER_TERMINAL_DAY * exposure;
    eprintln!("compromised_terminal: {starts} compromises started, expected {mu:.1}");
    assert!(
        poisson_ok(starts as f64, mu, 4.0),
        "{starts} compromises started, expected {mu:.1}"
    );

    // During a compromise, a fixed share of the terminal's transactions are fraud.
    let mut active: HashMap<i64, Vec<(i64, i64)>> = HashMap::new();
    for w in windows {
        active
            .entry(w["terminal_id"].as_i64().unwrap())
            .or_default()
            .push((
                w["start_day"].as_i64().unwrap(),
                w["end_day"].as_i64().unwrap(),
            ));
    }
    let t = &d.tx;
    let (term, time) = (t.ints("terminal_id"), t.ints("event_time"));
    let (pat, _) = t.cats("fraud_pattern");
    let comp = t.cat_id("fraud_pattern", "compromised_terminal");
    let none = t.cat_id("fraud_pattern", "none");
    let (mut n, mut k) = (0u64, 0u64);
    for r in 0..t.rows {
        let day = (time[r] - d.cfg.start).div_euclid(DAY_US);
        let inside = active
            .get(&term[r])
            .is_some_and(|ws| ws.iter().any(|&(s, e)| (s..e).contains(&day)));
        if pat[r] == comp {
            assert!(
                inside,
                "compromised_terminal fraud outside a compromise window"
            );
        }
        if inside && (pat[r] == comp || pat[r] == none) {
            n += 1;
            k += u64::from(pat[r] == comp);
        }
    }
    let p = COMPROMISE_FRAUD_SHARE;
    eprintln!(
        "compromised_terminal: {k} of {n} transactions in windows are fraud (documented share {p})"
    );
    let sd = (n as f64 * p * (1.0 - p)).sqrt();
    // Genuine anchors of impossible travel are never converted, hence the slight slack.
    assert!(
        (k as f64 - n as f64 * p).abs() <= 4.0 * sd + 0.002 * n as f64,
        "{k} of {n} at compromised terminals were fraud"
    );
}

#[test]
fn every_fraud_has_exactly_one_label_with_documented_delay() {
    let d = data();
    let (t, l) = (&d.tx, &d.labels);
    assert_eq!(l.rows as u64, d.report.labels);
    let time = t.ints("event_time");
    let fraud = t.ints("is_fraud");
    let (pat, pat_values) = t.cats("fraud_pattern");
    let (lid, ltx, ltime, label, ltx_time) = (
        l.ints("label_id"),
        l.ints("tx_id"),
        l.ints("event_time"),
        l.ints("label"),
        l.ints("tx_time"),
    );
    let (source, sources) = l.cats("source");
    assert!(
        ltime.windows(2).all(|w| w[0] <= w[1]),
        "labels sorted by arrival"
    );
    assert!(lid.iter().enumerate().all(|(i, &x)| x == i as i64));
    let mut seen = vec![0u8; t.rows];
    let end = d.cfg.start + i64::from(d.cfg.days) * DAY_US;
    let mut after_end = 0;
    let span: HashMap<&str, i64> = MAX_EPISODE_SPAN_S.iter().copied().collect();
    for i in 0..l.rows {
        let r = ltx[i] as usize;
        seen[r] += 1;
        assert_eq!(ltx_time[i], time[r]);
        assert_eq!(label[i], fraud[r], "label value = ground truth");
        let delay_s = (ltime[i] - time[r]) / 1_000_000;
        let src = sources[source[i] as usize].as_str();
        if label[i] == 1 {
            let (_, _, (lo, hi)) = FRAUD_LABEL_SOURCES.iter().find(|s| s.0 == src).unwrap();
            let max_span = span[pat_values[pat[r] as usize].as_str()];
            assert!(
                delay_s >= *lo && delay_s <= hi + max_span,
                "{src} delay {delay_s} s"
            );
        } else {
            assert_eq!(src, "analyst_review");
            assert!((GENUINE_REVIEW_DELAY_S.0..=GENUINE_REVIEW_DELAY_S.1).contains(&delay_s));
        }
        after_end += usize::from(ltime[i] >= end);
    }
    assert_eq!(after_end as u64, d.report.labels_after_end);
    assert!(after_end > 0, "labels after the period are written too");
    for r in 0..t.rows {
        if fraud[r] == 1 {
            assert_eq!(seen[r], 1, "fraud tx {r} must have exactly one label");
        } else {
            assert!(seen[r] <= 1);
        }
    }
    // Source mix of fraud labels and the share of genuine reviews.
    let frauds = fraud.iter().filter(|&&f| f == 1).count() as f64;
    let genuine = t.rows as f64 - frauds;
    let reviews = (0..l.rows).filter(|&i| label[i] == 0).count() as f64;
    let p = GENUINE_REVIEW_SHARE;
    assert!(
        (reviews - genuine * p).abs() <= 4.0 * (genuine * p * (1.0 - p)).sqrt(),
        "{reviews} genuine reviews"
    );
    for (name, share, _) in FRAUD_LABEL_SOURCES {
        let id = sources.iter().position(|s| s == name).unwrap() as u32;
        let n = (0..l.rows)
            .filter(|&i| label[i] == 1 && source[i] == id)
            .count() as f64;
        // Sources are drawn per episode, so allow for the clustering: a loose 6-sd bound on
        // the transaction share.
        assert!(
            (n / frauds - share).abs() < 0.08,
            "{name}: {:.3} of fraud labels",
            n / frauds
        );
    }
}

#[test]
fn genuine_travel_is_physically_possible() {
    // Customers travel (trips to other cities, some outside Europe), but only impossible
    // travel fraud moves a card faster than a plane.
    let d = data();
    let t = &d.tx;
    let time = t.ints("event_time");
    let customer = t.ints("customer_id");
    let (lat, lon) = (t.floats("lat"), t.floats("lon"));
    let (channel, _) = t.cats("channel");
    let ecom = t.cat_id("channel", "ecom");
    let (pat, _) = t.cats("fraud_pattern");
    let it = t.cat_id("fraud_pattern", "impossible_travel");
    let mut last: HashMap<i64, usize> = HashMap::new();
    let (mut far_moves, mut checked) = (0, 0);
    for r in 0..t.rows {
        if channel[r] == ecom || pat[r] == it {
            continue;
        }
        if let Some(&p) = last.get(&customer[r]) {
            let dist = km(lat[p], lon[p], lat[r], lon[r]);
            if dist > 300.0 {
                let hours = (time[r] - time[p]) as f64 / 3.6e9;
                assert!(
                    dist / hours <= 800.0,
                    "customer {} moved {dist:.0} km in {hours:.2} h",
                    customer[r]
                );
                far_moves += 1;
            }
            checked += 1;
        }
        last.insert(customer[r], r);
    }
    assert!(
        far_moves > 100,
        "{far_moves} long-distance moves in {checked} consecutive pairs"
    );
    assert!(d.report.trips > 100);
}

#[test]
fn transactions_follow_daily_and_weekly_seasonality() {
    let d = data();
    let time = d.tx.ints("event_time");
    let mut by_hour = [0u64; 24];
    let mut by_weekday: [(u64, std::collections::BTreeSet<i64>); 7] = Default::default();
    for &t in time {
        let day = t.div_euclid(DAY_US);
        by_hour[(t.rem_euclid(DAY_US) / 3_600_000_000) as usize] += 1;
        let wd = riskstream_gen::calendar::weekday(day);
        if !riskstream_gen::calendar::is_holiday(day) {
            by_weekday[wd].0 += 1;
            by_weekday[wd].1.insert(day);
        }
    }
    // Night is quiet, lunch and evening are busy (HOURLY_WEEKDAY/HOURLY_WEEKEND).
    assert!(
        by_hour[3] * 10 < by_hour[12],
        "03h {} vs 12h {}",
        by_hour[3],
        by_hour[12]
    );
    assert!(by_hour[18] > by_hour[15]);
    let per_day: Vec<f64> = by_weekday
        .iter()
        .map(|(n, days)| *n as f64 / days.len() as f64)
        .collect();
    let expected = WEEKDAY_FACTOR[4] / WEEKDAY_FACTOR[6];
    let got = per_day[4] / per_day[6];
    assert!(
        (got / expected - 1.0).abs() < 0.05,
        "Friday/Sunday {got:.3}, documented {expected:.3}"
    );
}
