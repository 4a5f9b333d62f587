//! Customers, terminals, products, loans and volumes: every file validates against its
//! shipped schema, and the documented structure (default model, seasonality) is there.

// Helpers outside #[test] functions panic on failure by design.
#![allow(clippy::unwrap_used)]

mod common;

use common::{read, Table};
use riskstream_core::Schema;
use riskstream_gen::params::*;
use riskstream_gen::{GenConfig, GenReport};
use riskstream_io::Format;
use std::sync::OnceLock;

struct Data {
    dir: tempfile::TempDir,
    cfg: GenConfig,
    report: GenReport,
}

/// Many customers but few transactions: what matters here are the side files.
fn data() -> &'static Data {
    static DATA: OnceLock<Data> = OnceLock::new();
    DATA.get_or_init(|| {
        let cfg = GenConfig {
            seed: 11,
            customers: 100_000,
            terminals: 3_000,
            days: 63,
            transactions: Some(200_000),
            ..GenConfig::default()
        };
        let (dir, report) = common::run(&cfg, Format::Parquet, false);
        Data { dir, cfg, report }
    })
}

fn table(file: &str) -> Table {
    read(&data().dir.path().join(format!("{file}.parquet")), file)
}

#[test]
fn schema_files_are_written_and_parse() {
    let d = data();
    for f in riskstream_gen::schemas::FILES {
        let path = d.dir.path().join(format!("{f}.schema.toml"));
        let text = std::fs::read_to_string(&path).unwrap();
        let s = Schema::from_toml_str(&text, &path.display().to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s, riskstream_gen::schemas::schema(f).unwrap());
        assert!(d.report.files.contains(&path));
        assert!(d
            .report
            .files
            .contains(&d.dir.path().join(format!("{f}.parquet"))));
    }
    assert!(d.report.files.contains(&d.dir.path().join("manifest.json")));
}

#[test]
fn dimension_tables_validate() {
    let d = data();
    let c = table("customers");
    assert_eq!(c.rows as u64, d.report.customers);
    let two = c
        .ints("card_id_2")
        .iter()
        .filter(|&&x| x != i64::MIN)
        .count() as u64;
    assert_eq!(c.rows as u64 + two, d.report.cards);
    let t = table("terminals");
    assert_eq!(t.rows as u64, d.report.terminals);
    // Every channel exists, and every MCC is one of the documented ISO 18245 codes.
    let (_, chans) = t.cats("channel");
    assert_eq!(chans.len(), 4);
    let (_, mccs) = t.cats("mcc");
    assert!(mccs.iter().all(|m| MCCS.iter().any(|x| x.code == m)));
    let p = table("products");
    assert_eq!(p.rows as u64, d.report.products);
    // Everyone has a current account; affluent customers hold more investments.
    let (prod, names) = p.cats("product");
    let ca = names.iter().position(|n| n == "current_account").unwrap() as u32;
    assert_eq!(prod.iter().filter(|&&x| x == ca).count(), c.rows);
    let inv = names.iter().position(|n| n == "investment").unwrap() as u32;
    let (seg, segs) = c.cats("segment");
    let affluent = segs.iter().position(|s| s == "affluent").unwrap() as u32;
    let cust = p.ints("customer_id");
    let share = |want_affluent: bool| {
        let holders = (0..p.rows)
            .filter(|&r| prod[r] == inv && (seg[cust[r] as usize] == affluent) == want_affluent)
            .count();
        let n = seg
            .iter()
            .filter(|&&s| (s == affluent) == want_affluent)
            .count();
        holders as f64 / n as f64
    };
    assert!(
        share(true) > 2.0 * share(false),
        "investment: affluent {} vs others {}",
        share(true),
        share(false)
    );
}

#[test]
fn loan_defaults_follow_the_documented_model() {
    let d = data();
    let l = table("loans");
    assert_eq!(l.rows as u64, d.report.loans);
    assert!(l.rows > 3_000, "{} loans", l.rows);
    let def = l.ints("defaulted");
    let dti = l.floats("debt_to_income");
    let time = l.ints("event_time");
    assert!(time.windows(2).all(|w| w[0] <= w[1]));
    let rate = def.iter().sum::<i64>() as f64 / l.rows as f64;
    eprintln!("default rate {rate:.4} over {} loans", l.rows);
    assert!((0.08..=0.15).contains(&rate), "default rate {rate}");
    // Defaulters carry more debt; the top dti quartile defaults far more than the bottom.
    let mean = |want: i64| {
        let v: Vec<f64> = (0..l.rows)
            .filter(|&r| def[r] == want)
            .map(|r| dti[r])
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    assert!(
        mean(1) > mean(0) + 0.05,
        "mean dti: defaulted {} vs repaid {}",
        mean(1),
        mean(0)
    );
    let mut sorted = dti.to_vec();
    sorted.sort_by(f64::total_cmp);
    let (q1, q3) = (sorted[l.rows / 4], sorted[3 * l.rows / 4]);
    let rate_where = |f: &dyn Fn(f64) -> bool| {
        let rows: Vec<usize> = (0..l.rows).filter(|&r| f(dti[r])).collect();
        rows.iter().map(|&r| def[r]).sum::<i64>() as f64 / rows.len() as f64
    };
    let (low, high) = (rate_where(&|x| x <= q1), rate_where(&|x| x >= q3));
    assert!(
        high > 2.5 * low,
        "default rate by dti quartile: bottom {low}, top {high}"
    );
}

#[test]
fn volumes_show_weekly_and_payday_patterns() {
    let d = data();
    let v = table("volumes");
    assert_eq!(v.rows as u64, d.report.volumes);
    let date = v.ints("date");
    let n = v.ints("withdrawals");
    let (kind, kinds) = v.cats("site_type");
    let atm = kinds.iter().position(|k| k == "atm").unwrap() as u32;
    let day0 = d.cfg.start / 86_400_000_000;
    let mut by_wd = [[0f64; 2]; 7];
    let mut branch_sunday = 0;
    for r in 0..v.rows {
        let day = date[r] / 86_400_000_000;
        let wd = riskstream_gen::calendar::weekday(day);
        if kind[r] == atm {
            by_wd[wd][0] += n[r] as f64;
            by_wd[wd][1] += 1.0;
        } else if wd == 6 {
            branch_sunday += n[r];
        }
        assert!(day >= day0 && day < day0 + i64::from(d.cfg.days));
    }
    let mean: Vec<f64> = by_wd.iter().map(|x| x[0] / x[1]).collect();
    eprintln!("ATM mean withdrawals Mon..Sun: {mean:?}");
    assert_eq!(branch_sunday, 0, "branches are closed on Sundays");
    assert!(
        mean[4] > 1.4 * mean[6],
        "Friday {} vs Sunday {}",
        mean[4],
        mean[6]
    );
    assert!(
        mean[4] > mean[1] * 1.2,
        "Friday {} vs Tuesday {}",
        mean[4],
        mean[1]
    );

    // Payday: withdrawals relative to the weekday's mean, on the last and first day of a
    // month versus ordinary days (holidays and their eves left out).
    let (mut pay, mut ordinary) = ((0.0, 0.0), (0.0, 0.0));
    for r in 0..v.rows {
        let day = date[r] / 86_400_000_000;
        if kind[r] != atm
            || riskstream_gen::calendar::is_holiday(day)
            || riskstream_gen::calendar::is_holiday(day + 1)
        {
            continue;
        }
        let rel = n[r] as f64 / mean[riskstream_gen::calendar::weekday(day)];
        let (dom, last) = riskstream_gen::calendar::day_of_month(day);
        let acc = if last || dom == 1 {
            &mut pay
        } else if dom == 2 || dom == 15 {
            continue;
        } else {
            &mut ordinary
        };
        acc.0 += rel;
        acc.1 += 1.0;
    }
    let (pay, ordinary) = (pay.0 / pay.1, ordinary.0 / ordinary.1);
    eprintln!("payday {pay:.3} vs ordinary {ordinary:.3}");
    assert!(pay > 1.2 * ordinary, "payday {pay} vs ordinary {ordinary}");
}
