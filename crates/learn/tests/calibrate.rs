//! Calibration against scikit-learn 1.9.1: `IsotonicRegression(out_of_bounds="clip")`,
//! `_sigmoid_calibration` and `CalibratedClassifierCV(FrozenEstimator(..),
//! method=.., ensemble=False)` on one small fixed array with ties and label noise. The
//! numbers come from `tests/fixtures/make_calibrate.py` and are pasted here.

#![allow(clippy::unwrap_used)]

use riskstream_learn::calibrate::{out_of_fold, stratified_folds, CalibrationMethod, Calibrator};
use riskstream_learn::LearnError;

const S: [f64; 20] = [
    -2.0, -1.5, -1.5, -1.0, -0.5, -0.5, 0.0, 0.2, 0.2, 0.4, 0.7, 0.9, 1.0, 1.0, 1.3, 1.8, 2.0, 2.5,
    3.0, 3.5,
];
const Y: [f64; 20] = [
    0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0,
    1.0,
];
const W: [f64; 20] = [
    1.0, 2.0, 1.0, 1.0, 3.0, 1.0, 1.0, 2.0, 1.0, 1.0, 1.0, 1.0, 2.0, 1.0, 1.0, 1.0, 3.0, 1.0, 1.0,
    2.0,
];
const PROBE: [f64; 11] = [
    -3.0, -1.5, -1.2, -0.25, 0.1, 0.3, 0.55, 1.15, 2.2, 2.75, 4.0,
];

fn close(a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= tol, "{a:?}\nvs {b:?}");
    }
}

#[test]
fn isotonic_matches_scikit_learn() {
    let c = CalibrationMethod::Isotonic.fit(&S, &Y, None).unwrap();
    let Calibrator::Isotonic { x, y } = &c else {
        panic!("{c:?}")
    };
    close(x, &[-2.0, -1.5, 0.0, 0.2, 0.7, 0.9, 2.5, 3.0, 3.5], 0.0);
    close(
        y,
        &[
            0.0,
            0.3333333333333333,
            0.3333333333333333,
            0.5,
            0.5,
            0.7142857142857143,
            0.7142857142857143,
            1.0,
            1.0,
        ],
        1e-15,
    );
    let iso_probe = [
        0.0,
        0.3333333333333333,
        0.3333333333333333,
        0.3333333333333333,
        0.41666666666666663,
        0.5,
        0.5,
        0.7142857142857143,
        0.7142857142857143,
        0.8571428571428572,
        1.0,
    ];
    close(&c.calibrate_all(&PROBE), &iso_probe, 1e-15);
    // CalibratedClassifierCV(method="isotonic") gives the same numbers.
    let weighted = CalibrationMethod::Isotonic.fit(&S, &Y, Some(&W)).unwrap();
    let Calibrator::Isotonic { x, y } = &weighted else {
        panic!()
    };
    close(x, &[-2.0, -1.5, -1.0, -0.5, 0.7, 0.9, 2.5, 3.0, 3.5], 0.0);
    close(y, &[0.0, 0.25, 0.25, 0.5, 0.5, 0.8, 0.8, 1.0, 1.0], 1e-15);
    close(
        &weighted.calibrate_all(&PROBE),
        &[0.0, 0.25, 0.25, 0.5, 0.5, 0.5, 0.5, 0.8, 0.8, 0.9, 1.0],
        1e-15,
    );
}

#[test]
fn platt_matches_scikit_learn() {
    let c = CalibrationMethod::Platt.fit(&S, &Y, None).unwrap();
    let Calibrator::Platt { a, b } = c else {
        panic!("{c:?}")
    };
    // scikit-learn's L-BFGS stops at a gradient of 1e-6; Newton goes to the optimum.
    assert!((a - -0.4628629718043778).abs() < 1e-5, "a = {a}");
    assert!((b - 0.046383135171052345).abs() < 1e-5, "b = {b}");
    let ccv_sigmoid = [
        0.19232516309578615,
        0.3228559906292328,
        0.35392771388030725,
        0.4595637837090645,
        0.4999757905023652,
        0.5231024775244603,
        0.5518606904903096,
        0.6191422914574747,
        0.7255011135292722,
        0.7732036583429392,
        0.858764831544771,
    ];
    close(&c.calibrate_all(&PROBE), &ccv_sigmoid, 2e-6);
    let Calibrator::Platt { a, b } = CalibrationMethod::Platt.fit(&S, &Y, Some(&W)).unwrap() else {
        panic!()
    };
    assert!((a - -0.5661440684422919).abs() < 1e-5, "a = {a}");
    assert!((b - -0.14750425576959675).abs() < 1e-5, "b = {b}");
}

#[test]
fn maps_are_non_decreasing_and_files_round_trip() {
    for method in [CalibrationMethod::Isotonic, CalibrationMethod::Platt] {
        let c = method.fit(&S, &Y, Some(&W)).unwrap();
        let grid: Vec<f64> = (0..=1000).map(|k| -4.0 + 8.0 * k as f64 / 1000.0).collect();
        let p = c.calibrate_all(&grid);
        assert!(p.windows(2).all(|w| w[0] <= w[1]), "{method:?}");
        assert!(p.iter().all(|v| (0.0..=1.0).contains(v)));
        let json = serde_json::to_string(&c).unwrap();
        let back: Calibrator = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.method(), method);
    }
    let text = serde_json::to_string(&Calibrator::Platt { a: -1.0, b: 0.5 }).unwrap();
    assert_eq!(text, r#"{"method":"platt","a":-1.0,"b":0.5}"#);
    // A file that would not be monotone is refused.
    for bad in [
        r#"{"method":"platt","a":1.0,"b":0.0}"#,
        r#"{"method":"isotonic","x":[0.0,1.0],"y":[0.6,0.4]}"#,
        r#"{"method":"isotonic","x":[1.0,0.0],"y":[0.1,0.4]}"#,
        r#"{"method":"isotonic","x":[0.0],"y":[0.1,0.4]}"#,
        r#"{"method":"isotonic","x":[0.0,1.0],"y":[0.1,1.4]}"#,
        r#"{"method":"isotonic","x":[0.0],"y":[0.1],"z":1}"#,
    ] {
        assert!(serde_json::from_str::<Calibrator>(bad).is_err(), "{bad}");
    }
}

#[test]
fn bad_inputs_are_refused() {
    let m = CalibrationMethod::Isotonic;
    assert!(matches!(
        m.fit(&[0.0, 1.0], &[0.0, 2.0], None),
        Err(LearnError::BadLabel { row: 1, .. })
    ));
    assert!(matches!(
        m.fit(&[0.0, f64::NAN], &[0.0, 1.0], None),
        Err(LearnError::BadScore { row: 1, .. })
    ));
    assert!(matches!(
        m.fit(&[0.0, 1.0], &[0.0], None),
        Err(LearnError::LengthMismatch { .. })
    ));
    assert!(matches!(
        m.fit(&[0.0, 1.0], &[0.0, 1.0], Some(&[1.0, -1.0])),
        Err(LearnError::InvalidParam { .. })
    ));
    assert!(matches!(
        m.fit::<f64>(&[], &[], None),
        Err(LearnError::Empty)
    ));
}

#[test]
fn out_of_fold_scores_every_row_with_a_model_that_did_not_see_it() {
    let y: Vec<bool> = (0..103).map(|i| i % 4 == 0).collect();
    let fold = stratified_folds(&y, 5, 7).unwrap();
    for f in 0..5 {
        let events = (0..y.len()).filter(|&i| fold[i] == f && y[i]).count();
        assert!((5..=6).contains(&events), "fold {f}: {events} events");
    }
    // The "model" scores a row by the fold it was trained without.
    let s = out_of_fold::<LearnError, _>(&fold, 5, |train, held| {
        assert!(held.iter().all(|i| !train.contains(i)));
        Ok(held.iter().map(|&i| fold[i] as f64).collect())
    })
    .unwrap();
    assert!(s.iter().zip(&fold).all(|(&v, &f)| v == f as f64));
    assert!(stratified_folds(&y, 1, 0).is_err());
}
