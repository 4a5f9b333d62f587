//! The credit GBDT on German credit: monotone in every constrained characteristic for
//! every applicant, reasons by the scorecard's rule and codes from TreeSHAP, a versioned
//! file, clear errors; and the scorecard's optional calibration.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use riskstream_credit::data::Column;
use riskstream_credit::gbdt::{CreditGbdt, Encoding};
use riskstream_credit::reasons::ReasonText;
use riskstream_credit::{
    CreditError, CreditGbdtParams, MonotoneSource, ReasonConfig, Scorecard, ScorecardParams, Table,
    Value,
};
use riskstream_learn::calibrate::{CalibrationMethod, Calibrator};

fn fitted() -> Option<(Table, Vec<String>, Vec<bool>, CreditGbdt)> {
    let (table, names, y) = common::german()?;
    let chars: Vec<&str> = names.iter().map(String::as_str).collect();
    let m = CreditGbdtParams::default().fit(&table, &y, &chars).unwrap();
    Some((table, names, y, m))
}

fn row_values<'a>(table: &'a Table, cols: &[usize], i: usize) -> Vec<Value<'a>> {
    cols.iter().map(|&k| table.columns[k].value(i)).collect()
}

#[test]
fn pd_never_falls_against_a_constraint_for_any_applicant() {
    let Some((table, _, _, m)) = fitted() else {
        return;
    };
    let cols = m.bind(&table).unwrap();
    // Automatic constraints: raw numerics from the binning trend, WoE columns −1.
    let constrained: Vec<usize> = (0..m.characteristics.len())
        .filter(|&j| m.characteristics[j].monotone != 0)
        .collect();
    assert!(constrained.len() >= 10, "{:?}", m.characteristics);
    let duration = m
        .characteristic_names()
        .iter()
        .position(|&n| n == "duration_months")
        .unwrap();
    assert_eq!(
        m.characteristics[duration].monotone, 1,
        "longer loans are riskier"
    );
    assert!(matches!(
        m.characteristics[duration].encoding,
        Encoding::Raw
    ));
    let mut checked = 0usize;
    for i in 0..table.n_rows() {
        let base = m.encode(&row_values(&table, &cols, i));
        for &j in &constrained {
            let f = &m.characteristics[j];
            // The values the input can take, in increasing order.
            let grid: Vec<f64> = match &f.encoding {
                Encoding::Raw => {
                    let Column::Numeric(v) = &table.columns[cols[j]] else {
                        panic!()
                    };
                    let mut g = v.clone();
                    g.sort_by(f64::total_cmp);
                    g.dedup();
                    g
                }
                Encoding::Woe { binning } => {
                    let mut g: Vec<f64> = binning.bins.iter().map(|b| b.woe).collect();
                    g.sort_by(f64::total_cmp);
                    g.dedup();
                    g
                }
            };
            let dir = f64::from(f.monotone);
            let mut x = base.clone();
            let mut prev = (f64::NEG_INFINITY, f64::NEG_INFINITY);
            for &v in &grid {
                x[j] = v;
                let z = riskstream_learn::Predict::raw_score(&m.model, &x);
                let now = (dir * z, dir * m.pd_of(z));
                assert!(
                    now.0 >= prev.0 && now.1 >= prev.1,
                    "applicant {i}, {}: {prev:?} then {now:?}",
                    f.name
                );
                prev = now;
                checked += 1;
            }
        }
    }
    println!(
        "{} of {} characteristics constrained; {checked} (applicant, characteristic, value) points checked",
        constrained.len(),
        m.characteristics.len()
    );
}

fn reason_config(names: &[&str]) -> ReasonConfig {
    let mut config = ReasonConfig::default();
    for (k, n) in names.iter().enumerate() {
        config.reasons.insert(
            n.to_string(),
            ReasonText {
                code: format!("R{:02}", k + 1),
                text: format!("{n} is less favourable"),
            },
        );
    }
    config.inquiries = Some("existing_credits".into());
    config
}

#[test]
fn reasons_come_from_treeshap_with_the_scorecards_codes() {
    let Some((table, _, _, m)) = fitted() else {
        return;
    };
    let names = m.characteristic_names();
    let config = reason_config(&names);
    let reasons = config.bind_names(&names).unwrap();
    let cols = m.bind(&table).unwrap();
    let (mut five, mut none) = (0, 0);
    for i in 0..table.n_rows() {
        let values = row_values(&table, &cols, i);
        let s = m.score(&values);
        let e = m.explain(&values);
        assert!((e.total() - s.log_odds).abs() < 1e-9, "row {i}");
        let r = m.reasons(&values, &reasons).unwrap();
        assert!(r.len() <= 5);
        five += usize::from(r.len() == 5);
        none += usize::from(r.is_empty());
        if r.len() == 5 {
            assert_eq!(r[4].characteristic, "existing_credits");
        }
        for x in &r {
            let k = names.iter().position(|&n| n == x.characteristic).unwrap();
            assert!(x.contribution > 0.0 && x.contribution == e.contributions[k]);
            assert_eq!(config.reasons[&x.characteristic].code, x.code);
        }
        assert!(r
            .windows(2)
            .take(3)
            .all(|w| w[0].contribution >= w[1].contribution));
    }
    println!("{five} applicants with a fifth (inquiries) reason, {none} with none");
    // Reasons bound to other characteristics are refused, and a missing code too.
    let other = ReasonConfig {
        inquiries: None,
        ..config.clone()
    }
    .bind_names(&names[..3])
    .unwrap();
    let values = row_values(&table, &cols, 0);
    assert!(m.reasons(&values, &other).is_err());
    let mut partial = config.clone();
    partial.reasons.remove("purpose");
    let e = partial.bind_names(&names).unwrap_err().to_string();
    assert!(e.contains("purpose") && e.contains("other"), "{e}");
}

#[test]
fn file_round_trip_scores_identically_and_is_versioned() {
    let Some((table, _, _, m)) = fitted() else {
        return;
    };
    let json = m.to_json();
    assert!(json.contains("\"kind\": \"credit-gbdt\""));
    assert!(json.contains("\"method\": \"isotonic\""));
    let back = CreditGbdt::from_json(&json).unwrap();
    assert_eq!(back, m);
    let a = m.score_table(&table).unwrap();
    let b = back.score_table(&table).unwrap();
    assert_eq!(a, b);
    assert!(a.iter().all(|s| (0.0..=1.0).contains(&s.pd)));
    let e = CreditGbdt::from_json(&json.replace("\"version\": 1", "\"version\": 7")).unwrap_err();
    assert!(e.to_string().contains("version"), "{e}");
    let e = CreditGbdt::from_json(&json.replace("credit-gbdt", "scorecard")).unwrap_err();
    assert!(e.to_string().contains("kind"), "{e}");
    // An unseen category is scored (in the other bin) and flagged.
    let cols = m.bind(&table).unwrap();
    let mut values = row_values(&table, &cols, 0);
    let p = m
        .characteristic_names()
        .iter()
        .position(|&n| n == "purpose")
        .unwrap();
    values[p] = Value::Cat(Some("A4711"));
    assert_eq!(m.score(&values).unseen, vec!["purpose".to_string()]);
}

#[test]
fn parameters_and_inputs_are_checked_by_name() {
    let Some((table, names, y)) = common::german() else {
        return;
    };
    let chars: Vec<&str> = names.iter().map(String::as_str).collect();
    let name_of = |e: CreditError| match e {
        CreditError::InvalidParam { name, .. } => name.to_string(),
        CreditError::Learn(riskstream_learn::LearnError::InvalidParam { name, .. }) => {
            name.to_string()
        }
        CreditError::UnknownColumn { column, .. } => format!("column {column}"),
        other => format!("{other:?}"),
    };
    let mut p = CreditGbdtParams::default();
    p.gbdt.monotone = Some(vec![1; 20]);
    assert_eq!(
        name_of(p.fit(&table, &y, &chars).unwrap_err()),
        "gbdt.monotone"
    );
    let mut p = CreditGbdtParams::default();
    p.gbdt.learning_rate = 0.0;
    assert_eq!(
        name_of(p.fit(&table, &y, &chars).unwrap_err()),
        "learning_rate"
    );
    let mut p = CreditGbdtParams {
        calibration_folds: 1,
        ..CreditGbdtParams::default()
    };
    assert_eq!(
        name_of(p.fit(&table, &y, &chars).unwrap_err()),
        "calibration_folds"
    );
    p.calibration_folds = 5;
    p.monotone = MonotoneSource::Given([("age_years".to_string(), 2)].into());
    assert_eq!(name_of(p.fit(&table, &y, &chars).unwrap_err()), "monotone");
    p.monotone = MonotoneSource::Given([("agee".to_string(), 1)].into());
    assert_eq!(
        name_of(p.fit(&table, &y, &chars).unwrap_err()),
        "column agee"
    );
    // Given constraints are used as given; the rest are free.
    p.monotone = MonotoneSource::Given([("age_years".to_string(), -1)].into());
    p.calibration = None;
    p.gbdt.n_rounds = 20;
    let m = p.fit(&table, &y, &chars).unwrap();
    let c: Vec<i8> = m.characteristics.iter().map(|f| f.monotone).collect();
    assert_eq!(c.iter().filter(|&&v| v != 0).count(), 1);
    assert!(m.calibrator.is_none());
    let s = m.score_table(&table).unwrap();
    assert!(s.iter().all(|s| s.pd == s.model_pd));
    // Unknown keys in a config file are refused.
    assert!(serde_json::from_str::<CreditGbdtParams>(r#"{"calibraton": null}"#).is_err());
    let p: CreditGbdtParams =
        serde_json::from_str(r#"{"calibration": "platt", "monotone": "none"}"#).unwrap();
    assert_eq!(p.calibration, Some(CalibrationMethod::Platt));
}

#[test]
fn scorecard_calibration_is_optional_and_saved() {
    let Some((table, names, y)) = common::german() else {
        return;
    };
    let chars: Vec<&str> = names.iter().map(String::as_str).collect();
    let plain = ScorecardParams::default().fit(&table, &y, &chars).unwrap();
    for method in [CalibrationMethod::Isotonic, CalibrationMethod::Platt] {
        let p = ScorecardParams {
            calibration: Some(method),
            ..ScorecardParams::default()
        };
        let dev = p.fit(&table, &y, &chars).unwrap();
        // The same points: calibration changes the PD only.
        assert_eq!(dev.card.characteristics, plain.card.characteristics);
        let c = dev.card.calibration.clone().unwrap();
        assert_eq!(c.method(), method);
        let scored = dev.card.score_table(&table).unwrap();
        let mut by_log_odds: Vec<(f64, f64)> = scored
            .iter()
            .map(|s| ((s.model_pd / (1.0 - s.model_pd)).ln(), s.pd))
            .collect();
        by_log_odds.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert!(by_log_odds.windows(2).all(|w| w[0].1 <= w[1].1));
        let back = Scorecard::from_json(&dev.card.to_json()).unwrap();
        assert_eq!(back, dev.card);
        if let Calibrator::Platt { a, .. } = c {
            assert!(a < 0.0);
        }
    }
}

#[test]
fn weighted_fit_with_unit_weights_is_the_unweighted_fit_and_weights_matter() {
    let Some((table, names, y)) = common::german() else {
        return;
    };
    let chars: Vec<&str> = names.iter().map(String::as_str).collect();
    let p = CreditGbdtParams {
        calibration: Some(CalibrationMethod::Platt),
        ..CreditGbdtParams::default()
    };
    let plain = p.fit(&table, &y, &chars).unwrap();
    let ones = vec![1.0; y.len()];
    let unit = p.fit_weighted(&table, &y, Some(&ones), &chars).unwrap();
    assert_eq!(plain.to_json(), unit.to_json());
    // Recency-like weights: the later half counts 20 times as much; the model changes.
    let w: Vec<f64> = (0..y.len())
        .map(|i| if i < y.len() / 2 { 0.05 } else { 1.0 })
        .collect();
    let weighted = p.fit_weighted(&table, &y, Some(&w), &chars).unwrap();
    assert_ne!(plain.to_json(), weighted.to_json());
    let err = p
        .fit_weighted(&table, &y, Some(&w[1..]), &chars)
        .unwrap_err()
        .to_string();
    assert!(err.contains("weights"), "{err}");
}
