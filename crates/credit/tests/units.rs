//! Behaviour the brief names: unseen categories, missing values, clear errors, monotone
//! trends, constraints, the SQL text of a hand-made card.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use riskstream_core::{Classify, ErrorClass};
use riskstream_credit::binning::{pvalue, BinKind};
use riskstream_credit::data::Column;
use riskstream_credit::{
    BinningParams, CreditError, Logit, Scaling, Scorecard, Table, Trend, Value,
};

fn cat(v: &[&str]) -> Column {
    Column::Categorical(
        v.iter()
            .map(|s| (!s.is_empty()).then(|| s.to_string()))
            .collect(),
    )
}

/// 300 rows: level a (low risk), b (high), c (middle), r (rare, 6 rows), some missing.
fn categorical_sample() -> (Column, Vec<bool>) {
    let mut x = Vec::new();
    let mut y = Vec::new();
    for i in 0..300 {
        let (level, bad) = match i % 50 {
            0..=19 => ("a", i % 10 == 0),
            20..=34 => ("b", i % 2 == 0),
            35..=46 => ("c", i % 4 == 0),
            47 => ("r", i % 3 == 0),
            _ => ("", i % 3 != 0),
        };
        x.push(level);
        y.push(bad);
    }
    (cat(&x), y)
}

#[test]
fn unseen_category_is_flagged_and_scored_in_the_other_bin() {
    let (x, y) = categorical_sample();
    // With a rare level: the other bin holds it, and an unseen level gets its WoE.
    let p = BinningParams {
        cat_cutoff: Some(0.05),
        min_bin_size: Some(0.05),
        ..Default::default()
    };
    let b = p.fit("grade", &x, &y).unwrap();
    let other = b.bin_of_kind(BinKind::Other);
    assert_eq!(b.bins[other].counts.total(), 6, "{b:#?}");
    let seen = b.assign(Value::Cat(Some("r")));
    assert_eq!((seen.bin, seen.unseen), (other, false));
    let unseen = b.assign(Value::Cat(Some("zz")));
    assert_eq!((unseen.bin, unseen.unseen), (other, true));
    assert_eq!(b.woe(Value::Cat(Some("zz"))), b.bins[other].woe);
    // Without rare levels: the other bin is empty, so the unseen level's WoE is 0.
    let b = BinningParams::default().fit("grade", &x, &y).unwrap();
    let a = b.assign(Value::Cat(Some("zz")));
    assert!(a.unseen);
    assert_eq!(b.bins[a.bin].kind, BinKind::Other);
    assert_eq!(b.woe(Value::Cat(Some("zz"))), 0.0);
}

#[test]
fn missing_values_use_the_missing_bin() {
    let (x, y) = categorical_sample();
    let b = BinningParams::default().fit("grade", &x, &y).unwrap();
    let m = b.bin_of_kind(BinKind::Missing);
    assert_eq!(b.assign(Value::Cat(None)).bin, m);
    assert_eq!(b.bins[m].counts.total(), 12);
    assert!(b.bins[m].woe < 0.0, "missing rows here are mostly bad");
    // Numeric: NaN goes to the missing bin, special codes to the special bin.
    let xs: Vec<f64> = (0..400)
        .map(|i| {
            if i % 40 == 0 {
                f64::NAN
            } else if i % 40 == 1 {
                -1.0
            } else {
                (i % 37) as f64
            }
        })
        .collect();
    let ys: Vec<bool> = (0..400).map(|i| (i % 37) < 12 || i % 40 == 0).collect();
    let p = BinningParams {
        special_codes: vec![-1.0],
        ..Default::default()
    };
    let b = p.fit("months", &Column::Numeric(xs), &ys).unwrap();
    assert_eq!(
        b.bins[b.assign(Value::Num(f64::NAN)).bin].kind,
        BinKind::Missing
    );
    assert_eq!(
        b.bins[b.assign(Value::Num(-1.0)).bin].kind,
        BinKind::Special
    );
    assert_eq!(b.bins[b.bin_of_kind(BinKind::Missing)].counts.total(), 10);
    assert_eq!(b.bins[b.bin_of_kind(BinKind::Special)].counts.total(), 10);
}

/// A column that is almost all one special code (bank marketing's `pdays = 999`: 0.5 % of
/// rows carry a real day count, below a 5 % minimum bin): its regular values make one bin.
#[test]
fn a_column_almost_all_special_codes_bins_its_few_regular_values_together() {
    let xs: Vec<f64> = (0..2_000)
        .map(|i| if i % 200 < 10 { (i % 7) as f64 } else { 999.0 })
        .collect();
    let ys: Vec<bool> = (0..2_000).map(|i| i % 200 < 6 || i % 9 == 0).collect();
    let p = BinningParams {
        special_codes: vec![999.0],
        min_bin_size: Some(0.05),
        ..Default::default()
    };
    let b = p.fit("pdays", &Column::Numeric(xs), &ys).unwrap();
    let regular: Vec<_> = b
        .bins
        .iter()
        .filter(|x| x.kind == BinKind::Regular)
        .collect();
    assert_eq!(regular.len(), 1, "{:?}", b.bins);
    assert_eq!(regular[0].counts.total(), 100);
    assert_eq!(
        b.bins[b.bin_of_kind(BinKind::Special)].counts.total(),
        1_900
    );
    assert_eq!(b.bins[b.assign(Value::Num(3.0)).bin].kind, BinKind::Regular);
}

#[test]
fn bad_inputs_are_clear_user_errors() {
    let t = Table::read_csv("x,y\n1,a\n2,b\n3,c\n".as_bytes(), ',').unwrap();
    let e = t.binary_label("y", "a").unwrap_err();
    assert!(matches!(e, CreditError::NonBinaryLabel { .. }));
    assert!(
        e.to_string().contains("`y`") && e.to_string().contains("exactly two values"),
        "{e}"
    );
    assert_eq!(e.class(), ErrorClass::User);

    let e = t.column("age").unwrap_err();
    assert!(
        e.to_string().contains("unknown column `age`") && e.to_string().contains("x, y"),
        "{e}"
    );

    let y = vec![true, false, true];
    let e = BinningParams::default()
        .fit("x", &Column::Numeric(vec![5.0, 5.0, 5.0]), &y)
        .unwrap_err();
    assert!(matches!(e, CreditError::ConstantColumn { .. }));
    assert!(
        e.to_string().contains("`x` is constant") && e.to_string().contains("drop it"),
        "{e}"
    );
    let e = BinningParams::default()
        .fit("c", &cat(&["k", "k", "k"]), &y)
        .unwrap_err();
    assert!(e.to_string().contains("`c` is constant"), "{e}");

    let e = BinningParams::default()
        .fit("x", &Column::Numeric(vec![]), &[])
        .unwrap_err();
    assert!(matches!(e, CreditError::Empty { .. }));
    assert!(e.to_string().contains("no rows"), "{e}");
    let e = Table::read_csv("".as_bytes(), ',').unwrap_err();
    assert!(matches!(e, CreditError::Empty { .. }));

    let e = BinningParams {
        min_bin_size: Some(0.9),
        ..Default::default()
    }
    .check()
    .unwrap_err();
    assert!(e.to_string().contains("min_bin_size"), "{e}");
    let e = BinningParams::default()
        .fit(
            "x",
            &Column::Numeric(vec![1.0, 2.0, 3.0]),
            &[true, true, true],
        )
        .unwrap_err();
    assert!(matches!(e, CreditError::OneClass { .. }), "{e}");
}

#[test]
fn monotone_trends_hold_on_german_credit() {
    let Some((table, names, y)) = common::german() else {
        return;
    };
    for name in &names {
        let col = table.column(name).unwrap();
        if !matches!(col, Column::Numeric(_)) {
            let b = BinningParams::default().fit(name, col, &y).unwrap();
            let r = b.regular_event_rates();
            assert!(
                r.windows(2).all(|w| w[0] <= w[1]),
                "{name}: categories ascend by event rate {r:?}"
            );
            continue;
        }
        for trend in [
            Trend::Ascending,
            Trend::Descending,
            Trend::Auto,
            Trend::Peak,
            Trend::Valley,
        ] {
            let p = BinningParams {
                monotonic_trend: trend,
                max_pvalue: Some(0.1),
                ..Default::default()
            };
            let b = match p.fit(name, col, &y) {
                Ok(b) => b,
                Err(CreditError::ConstantColumn { .. }) => continue,
                Err(e) => panic!("{name}: {e}"),
            };
            let r = b.regular_event_rates();
            let up = |s: &[f64]| s.windows(2).all(|w| w[0] <= w[1]);
            let down = |s: &[f64]| s.windows(2).all(|w| w[0] >= w[1]);
            let ok = match b.trend {
                Trend::Ascending => up(&r),
                Trend::Descending => down(&r),
                Trend::Peak => (0..r.len()).any(|t| up(&r[..=t]) && down(&r[t..])),
                Trend::Valley => (0..r.len()).any(|t| down(&r[..=t]) && up(&r[t..])),
                _ => false,
            };
            assert!(ok, "{name} {trend:?} → {:?}: {r:?}", b.trend);
            let regular: Vec<_> = b
                .bins
                .iter()
                .filter(|x| x.kind == BinKind::Regular)
                .collect();
            for w in regular.windows(2) {
                assert!(
                    pvalue(w[0].counts, w[1].counts) <= 0.1,
                    "{name}: neighbours not significant"
                );
            }
            assert!(
                regular.iter().all(|x| x.counts.total() >= 50),
                "{name}: min_bin_size 5%"
            );
        }
    }
}

#[test]
fn fixed_splits_are_kept_and_max_bins_respected() {
    let Some((table, _, y)) = common::german() else {
        return;
    };
    let p = BinningParams {
        fixed_splits: vec![36.0],
        max_n_bins: Some(3),
        ..Default::default()
    };
    let b = p
        .fit("age_years", table.column("age_years").unwrap(), &y)
        .unwrap();
    let riskstream_credit::binning::Rule::Numeric { splits } = &b.rule else {
        panic!()
    };
    assert!(splits.contains(&36.0), "{splits:?}");
    assert!(splits.len() < 3);
}

/// A hand-made card: one numeric and one categorical characteristic.
fn tiny_card() -> Scorecard {
    let x = Column::Numeric((0..200).map(|i| f64::from(i % 50)).collect());
    let y: Vec<bool> = (0..200).map(|i| i % 50 < 20 && i % 3 != 0).collect();
    let age = riskstream_credit::binning::from_splits(
        "age",
        match &x {
            Column::Numeric(v) => v,
            _ => unreachable!(),
        },
        &y,
        &[10.0, 30.0],
        &[-1.0],
    )
    .unwrap();
    let g: Vec<Option<String>> = (0..200)
        .map(|i| Some(if i % 4 == 0 { "o'neil" } else { "b" }.to_string()))
        .collect();
    let grp = riskstream_credit::binning::from_groups(
        "grp",
        &g,
        &y,
        &[vec!["b".into()], vec!["o'neil".into()]],
    )
    .unwrap();
    let model = Logit {
        names: vec!["age".into(), "grp".into()],
        intercept: -1.0,
        coef: vec![-0.8, -0.5],
        std_err: vec![],
        z: vec![],
        p_value: vec![],
        iterations: 0,
        log_likelihood: 0.0,
    };
    Scorecard::new(vec![age, grp], &model, Scaling::default()).unwrap()
}

#[test]
fn sql_export_of_a_hand_made_card() {
    let card = tiny_card();
    let p0 = &card.characteristics[0].points;
    let p1 = &card.characteristics[1].points;
    let expected = format!(
        "(CASE WHEN \"age\" IS NULL THEN {} WHEN \"age\" IN (-1) THEN {} WHEN \"age\" < 10 THEN {} WHEN \"age\" < 30 THEN {} ELSE {} END)\n + (CASE WHEN \"grp\" IS NULL THEN {} WHEN \"grp\" IN ('b') THEN {} WHEN \"grp\" IN ('o''neil') THEN {} ELSE {} END)",
        p0[4], p0[3], p0[0], p0[1], p0[2], p1[4], p1[0], p1[1], p1[2]
    );
    assert_eq!(card.to_sql(), expected);
    let s = card.score(&[Value::Num(12.0), Value::Cat(Some("o'neil"))]);
    assert_eq!(s.score, p0[1] + p1[1]);
    let s = card.score(&[Value::Num(f64::NAN), Value::Cat(Some("new"))]);
    assert_eq!(s.score, p0[4] + p1[2]);
    assert_eq!(s.unseen, vec!["grp".to_string()]);
}

#[test]
fn scorecard_file_is_versioned() {
    let card = tiny_card();
    let json = card.to_json();
    assert!(json.contains("\"kind\": \"scorecard\""));
    assert_eq!(Scorecard::from_json(&json).unwrap(), card);
    // Version 1 (before calibration) still loads.
    let v1 = json.replace("\"version\": 2", "\"version\": 1");
    assert_ne!(v1, json);
    assert_eq!(Scorecard::from_json(&v1).unwrap().calibration, None);
    let e = Scorecard::from_json(&json.replace("\"version\": 2", "\"version\": 9")).unwrap_err();
    assert!(e.to_string().contains("version"), "{e}");
    let e = Scorecard::from_json(&json.replace("\"kind\": \"scorecard\"", "\"kind\": \"model\""))
        .unwrap_err();
    assert!(e.to_string().contains("kind"), "{e}");
}

#[test]
fn cart_prebins_match_scikit_learn_on_german_credit() {
    let Some((table, _, y)) = common::german() else {
        return;
    };
    // DecisionTreeClassifier(min_samples_leaf=50, max_leaf_nodes=20) thresholds, scikit-learn
    // 1.x through optbinning 1.0.0's environment (see BENCHMARKS.md, "Credit risk").
    let expected: [(&str, &[f64]); 3] = [
        (
            "duration_months",
            &[8.5, 11.5, 12.5, 15.5, 19.0, 26.5, 34.5, 43.5],
        ),
        (
            "credit_amount",
            &[
                718.0, 954.5, 1186.5, 1373.0, 1535.5, 1806.0, 1991.0, 2395.5, 2723.0, 3030.0,
                3446.5, 3913.5, 5024.0, 6322.5, 7839.5,
            ],
        ),
        (
            "age_years",
            &[
                23.5, 25.5, 26.5, 27.5, 29.5, 32.5, 34.5, 36.5, 38.5, 41.5, 44.5, 47.5, 52.5,
            ],
        ),
    ];
    let p = BinningParams {
        prebinning: riskstream_credit::binning::Prebinning::Cart,
        ..Default::default()
    };
    for (name, want) in expected {
        let Column::Numeric(x) = table.column(name).unwrap() else {
            panic!()
        };
        assert_eq!(p.prebin_splits(x, &y), want.to_vec(), "{name}");
    }
}

#[test]
fn monitoring_psi_csi_and_calibration() {
    use riskstream_credit::monitor::{calibration, csi, discrimination, psi, quantile_edges};
    let a: Vec<f64> = (0..1000).map(|i| f64::from(i % 100)).collect();
    assert!(psi(&a, &a, 10).abs() < 1e-12);
    let shifted: Vec<f64> = a.iter().map(|x| x + 20.0).collect();
    assert!(
        psi(&a, &shifted, 10) > 0.25,
        "a 20-point shift is a major shift"
    );
    let bad: Vec<bool> = (0..1000).map(|i| i % 100 < 30).collect();
    let pd: Vec<f64> = a.iter().map(|x| 1.0 - x / 100.0).collect();
    let d = discrimination(&pd, &bad);
    assert!((d.gini - (2.0 * d.auc - 1.0)).abs() < 1e-15 && d.auc > 0.99 && d.ks > 0.9);
    let bands = calibration(&a, &pd, &bad, &quantile_edges(&a, 5));
    assert_eq!(bands.iter().map(|b| b.n).sum::<usize>(), 1000);
    assert_eq!(bands.len(), 5);
    assert!(bands[0].bad_rate > bands[4].bad_rate);

    let Some((table, names, y)) = common::german() else {
        return;
    };
    let chars: Vec<&str> = names.iter().map(String::as_str).collect();
    let dev = riskstream_credit::ScorecardParams::default()
        .fit(&table, &y, &chars)
        .unwrap();
    let first: Vec<usize> = (0..500).collect();
    let second: Vec<usize> = (500..1000).collect();
    let c = csi(
        &dev.card,
        &table.select_rows(&first),
        &table.select_rows(&second),
    )
    .unwrap();
    assert_eq!(c.len(), dev.card.characteristics.len());
    assert!(
        c.iter()
            .all(|(_, v)| v.is_finite() && *v >= 0.0 && *v < 0.25),
        "{c:?}"
    );
    let same = csi(&dev.card, &table, &table).unwrap();
    assert!(same.iter().all(|(_, v)| v.abs() < 1e-12));
}

#[test]
fn selection_drops_weak_and_correlated_characteristics() {
    use riskstream_credit::select::{Dropped, SelectParams};
    let w1: Vec<f64> = (0..100).map(|i| f64::from(i % 7)).collect();
    let w2: Vec<f64> = w1.iter().map(|v| v * 2.0 + 0.1).collect();
    let w3: Vec<f64> = (0..100).map(|i| f64::from(i % 5)).collect();
    let names = vec!["a".to_string(), "b".into(), "c".into()];
    let s = SelectParams::default()
        .select(&names, &[0.3, 0.2, 0.01], &[w1, w2, w3])
        .unwrap();
    assert_eq!(s.kept, vec![0]);
    assert!(s
        .dropped
        .iter()
        .any(|(k, d)| *k == 1 && matches!(d, Dropped::Correlated(n, _) if n == "a")));
    assert!(s
        .dropped
        .iter()
        .any(|(k, d)| *k == 2 && matches!(d, Dropped::LowIv(_))));
}
