//! XGBoost / LightGBM import against the libraries' own numbers.
//!
//! The fixtures (`tests/fixtures/interop/`, made by `make_interop_fixtures.py`) hold model
//! files written by xgboost 3.2 and lightgbm 4.7, 500 test rows (with missing values, rows
//! sitting exactly on float32-rounded thresholds, and float64 neighbours of thresholds), and
//! each library's margins, predictions and SHAP contributions for those rows.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use riskstream_learn::interop::{
    load_external, load_lightgbm_text, load_xgboost_json, parse_external, parse_lightgbm_text,
    parse_xgboost_json, ImportedModel, Objective, Source,
};
use riskstream_learn::{Explain, LearnError, Matrix, Predict};
use serde_json::Value;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/interop")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(dir().join(name)).expect("fixture")
}

/// The test rows, parsed from decimal strings so they are bit-exact.
fn rows() -> (Vec<String>, Vec<Vec<f64>>) {
    let v: Value = serde_json::from_str(&read("rows.json")).expect("rows.json");
    let names = v["feature_names"]
        .as_array()
        .expect("names")
        .iter()
        .map(|s| s.as_str().expect("name").to_string())
        .collect();
    let rows = v["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            r.as_array()
                .expect("row")
                .iter()
                .map(|x| x.as_str().expect("string").parse::<f64>().expect("float"))
                .collect()
        })
        .collect();
    (names, rows)
}

struct Expected {
    margin: Vec<f64>,
    prediction: Vec<f64>,
    /// One row per test row: contributions per feature, then the bias.
    contributions: Vec<Vec<f64>>,
    /// Total split gain per feature (XGBoost `total_gain`, LightGBM `gain`).
    gain_importance: Vec<f64>,
}

fn expected(stem: &str) -> Expected {
    let v: Value = serde_json::from_str(&read(&format!("{stem}.expected.json"))).expect("json");
    let floats = |v: &Value| -> Vec<f64> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|x| x.as_f64().expect("number"))
            .collect()
    };
    Expected {
        margin: floats(&v["margin"]),
        prediction: floats(&v["prediction"]),
        contributions: v["contributions"]
            .as_array()
            .expect("contributions")
            .iter()
            .map(floats)
            .collect(),
        gain_importance: floats(&v["gain_importance"]),
    }
}

/// Largest |a − b| over two equally long slices.
fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// Checks one fixture model against the library: predictions and SHAP contributions
/// within `tol`, explanations adding up to our raw score, gain importance. Margins: LightGBM
/// sums in float64 like us, so within `tol`; XGBoost adds float32 leaves into a float32
/// accumulator, so replaying that on our trees must give its margins bit for bit (the
/// proof that every row reached the same leaves), and our float64 sum may differ by
/// float32 rounding (2e-6 at these margins).
fn check_against_library(model: &ImportedModel, stem: &str, tol: f64) {
    let (names, rows) = rows();
    let exp = expected(stem);
    assert_eq!(rows.len(), 500);
    assert_eq!(exp.margin.len(), rows.len());
    assert_eq!(model.n_features(), names.len());

    let ours_margin: Vec<f64> = rows.iter().map(|r| model.raw_score(r)).collect();
    let ours_pred: Vec<f64> = rows
        .iter()
        .map(|r| model.predict_proba_one(r).expect("width"))
        .collect();
    let dm = max_diff(&ours_margin, &exp.margin);
    let dp = max_diff(&ours_pred, &exp.prediction);
    assert!(dp <= tol, "{stem}: predictions differ by up to {dp:e}");
    match model.source {
        Source::LightGbm => assert!(dm <= tol, "{stem}: margins differ by up to {dm:e}"),
        Source::Xgboost => {
            assert!(dm <= 2e-6, "{stem}: margins differ by up to {dm:e}");
            for (i, r) in rows.iter().enumerate() {
                let mut m = model.base_margin as f32;
                for t in model.trees() {
                    m += t.predict(r) as f32;
                }
                assert_eq!(
                    f64::from(m),
                    exp.margin[i],
                    "{stem} row {i}: float32 replay"
                );
            }
        }
    }

    let mut dc: f64 = 0.0;
    for (i, r) in rows.iter().enumerate() {
        let e = model.explain(r).expect("explain");
        // Local accuracy: our explanation adds up to our score.
        assert!(
            (e.total() - ours_margin[i]).abs() < 1e-9,
            "{stem} row {i}: explanation total {} vs raw score {}",
            e.total(),
            ours_margin[i]
        );
        let lib = &exp.contributions[i];
        assert_eq!(lib.len(), names.len() + 1);
        dc = dc.max(max_diff(&e.contributions, &lib[..names.len()]));
        dc = dc.max((e.bias - lib[names.len()]).abs());
    }
    assert!(dc <= tol, "{stem}: contributions differ by up to {dc:e}");

    let lib_gain = &exp.gain_importance;
    let total: f64 = lib_gain.iter().sum();
    let lib_share: Vec<f64> = lib_gain.iter().map(|g| g / total).collect();
    let di = max_diff(&model.importance(), &lib_share);
    // Both files write gains with about 6-7 significant digits.
    assert!(
        di <= 1e-6,
        "{stem}: gain importance differs by up to {di:e}"
    );
    eprintln!(
        "{stem}: max |Δ| margin {dm:.1e}, prediction {dp:.1e}, contribution {dc:.1e}, \
         importance {di:.1e}"
    );
}

fn names_of(model: &ImportedModel) -> Vec<&str> {
    model.feature_names.iter().map(String::as_str).collect()
}

// ---------------------------------------------------------------------------------------
// Agreement with the libraries
// ---------------------------------------------------------------------------------------

#[test]
fn xgboost_hist_matches_xgboost() {
    let model = load_xgboost_json(&dir().join("xgb_hist.json")).expect("load");
    assert_eq!(model.source, Source::Xgboost);
    assert_eq!(model.library_version, "xgboost 3.2.0");
    assert_eq!(model.objective, Objective::Logistic { sigmoid: 1.0 });
    assert_eq!(model.trees().len(), 50);
    assert_eq!(names_of(&model), rows().0);
    check_against_library(&model, "xgb_hist", 1e-6);
}

#[test]
fn xgboost_exact_matches_xgboost() {
    let model = load_xgboost_json(&dir().join("xgb_exact.json")).expect("load");
    check_against_library(&model, "xgb_exact", 1e-6);
}

#[test]
fn xgboost_regression_without_feature_names_matches_xgboost() {
    let model = load_xgboost_json(&dir().join("xgb_reg.json")).expect("load");
    assert_eq!(model.objective, Objective::Regression);
    assert_eq!(model.feature_names[3], "f3");
    check_against_library(&model, "xgb_reg", 1e-6);
}

#[test]
fn xgboost_dart_matches_xgboost() {
    let model = load_xgboost_json(&dir().join("xgb_dart.json")).expect("load");
    check_against_library(&model, "xgb_dart", 1e-6);
}

#[test]
fn lightgbm_binary_matches_lightgbm() {
    let model = load_lightgbm_text(&dir().join("lgb_binary.txt")).expect("load");
    assert_eq!(model.source, Source::LightGbm);
    assert_eq!(model.objective, Objective::Logistic { sigmoid: 1.0 });
    assert_eq!(model.trees().len(), 50);
    assert_eq!(names_of(&model), rows().0);
    check_against_library(&model, "lgb_binary", 1e-9);
}

#[test]
fn lightgbm_sigmoid_parameter_is_applied() {
    let model = load_lightgbm_text(&dir().join("lgb_sigmoid.txt")).expect("load");
    assert_eq!(model.objective, Objective::Logistic { sigmoid: 0.5 });
    check_against_library(&model, "lgb_sigmoid", 1e-9);
}

#[test]
fn lightgbm_regression_matches_lightgbm() {
    let model = load_lightgbm_text(&dir().join("lgb_reg.txt")).expect("load");
    assert_eq!(model.objective, Objective::Regression);
    check_against_library(&model, "lgb_reg", 1e-9);
}

#[test]
fn load_external_tells_the_format_from_the_content() {
    for (file, source) in [
        ("xgb_hist.json", Source::Xgboost),
        ("lgb_binary.txt", Source::LightGbm),
    ] {
        // A misleading extension does not matter.
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("model.bin");
        std::fs::copy(dir().join(file), &path).expect("copy");
        let model = load_external(&path).expect("load");
        assert_eq!(model.source, source);
        let direct = parse_external(read(file).as_bytes(), file).expect("parse");
        assert_eq!(model, direct);
    }
}

#[test]
fn batch_explanations_equal_single_row_ones() {
    let model = load_lightgbm_text(&dir().join("lgb_binary.txt")).expect("load");
    let (_, rows) = rows();
    let x = Matrix::from_rows(&rows).expect("matrix");
    let batch = model.explain_rows(&x).expect("batch");
    // The batch sums each tree's terms before adding them to the row: equal to rounding.
    for (i, r) in rows.iter().enumerate() {
        let one = model.explain(r).expect("explain");
        assert_eq!(batch[i].contributions.len(), one.contributions.len());
        assert!((batch[i].bias - one.bias).abs() < 1e-12);
        for (a, b) in batch[i].contributions.iter().zip(&one.contributions) {
            assert!((a - b).abs() < 1e-12, "row {i}: {a} vs {b}");
        }
    }
    let narrow = Matrix::from_rows(&[vec![0.0; 3]]).expect("matrix");
    assert!(matches!(
        model.explain_rows(&narrow),
        Err(LearnError::WidthMismatch {
            expected: 10,
            got: 3
        })
    ));
    assert!(matches!(
        model.explain(&[0.0; 11]),
        Err(LearnError::WidthMismatch { .. })
    ));
}

#[test]
fn serde_round_trip_keeps_every_number() {
    for file in [
        "xgb_hist.json",
        "xgb_dart.json",
        "lgb_reg.txt",
        "lgb_binary.txt",
    ] {
        let model = load_external(&dir().join(file)).expect("load");
        // LightGBM writes `threshold=inf` for splits that separate missing values from the
        // rest; model files write infinite thresholds as strings, so they survive too.
        let text = serde_json::to_string(&model).expect("serialise");
        let back: ImportedModel = serde_json::from_str(&text).expect("deserialise");
        back.validate("round trip").expect("valid");
        assert_eq!(back, model, "{file}");
    }
}

// ---------------------------------------------------------------------------------------
// Layout variants
// ---------------------------------------------------------------------------------------

fn xgb_json(name: &str) -> Value {
    serde_json::from_str(&read(name)).expect("json")
}

fn trees_mut(v: &mut Value) -> &mut Vec<Value> {
    v["learner"]["gradient_booster"]["model"]["trees"]
        .as_array_mut()
        .expect("trees")
}

fn same_scores(a: &ImportedModel, b: &ImportedModel) {
    let (_, rows) = rows();
    for r in &rows {
        assert_eq!(a.raw_score(r), b.raw_score(r));
    }
}

#[test]
fn xgboost_base_score_in_every_spelling() {
    let reference = load_xgboost_json(&dir().join("xgb_hist.json")).expect("load");
    let v = xgb_json("xgb_hist.json");
    let stored = v["learner"]["learner_model_param"]["base_score"]
        .as_str()
        .expect("string")
        .to_string();
    let bare = stored
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let number: f64 = bare.parse().expect("float");
    for spelling in [
        Value::String(bare.clone()),
        Value::String(format!("[{bare}]")),
        Value::String(format!(" [ {bare} ] ")),
        serde_json::json!(number),
    ] {
        let mut v = v.clone();
        v["learner"]["learner_model_param"]["base_score"] = spelling.clone();
        let m = parse_xgboost_json(&v.to_string(), "variant").expect("parse");
        assert_eq!(m.base_margin, reference.base_margin, "{spelling}");
    }
    let mut v = v.clone();
    v["learner"]["learner_model_param"]["base_score"] = Value::String("[5E-1,2E-1]".into());
    let e = parse_xgboost_json(&v.to_string(), "m.json")
        .unwrap_err()
        .to_string();
    assert!(e.contains("multi-output"), "{e}");
}

#[test]
fn xgboost_1x_layout_is_read() {
    // XGBoost 1.0–1.4 wrote default_left as booleans, had no split_type / category arrays
    // and no feature names, and a plain-string base_score.
    let reference = load_xgboost_json(&dir().join("xgb_hist.json")).expect("load");
    let mut v = xgb_json("xgb_hist.json");
    v["version"] = serde_json::json!([1, 2, 0]);
    let learner = v["learner"].as_object_mut().expect("learner");
    learner.remove("feature_names");
    learner.remove("feature_types");
    let bs = learner["learner_model_param"]["base_score"]
        .as_str()
        .expect("string")
        .trim_matches(['[', ']'])
        .to_string();
    learner["learner_model_param"]["base_score"] = Value::String(bs);
    for tree in trees_mut(&mut v) {
        let t = tree.as_object_mut().expect("tree");
        for key in [
            "split_type",
            "categories",
            "categories_nodes",
            "categories_segments",
            "categories_sizes",
        ] {
            t.remove(key);
        }
        let flags: Vec<Value> = t["default_left"]
            .as_array()
            .expect("flags")
            .iter()
            .map(|x| Value::Bool(x.as_i64() == Some(1)))
            .collect();
        t.insert("default_left".into(), Value::Array(flags));
    }
    let m = parse_xgboost_json(&v.to_string(), "old.json").expect("parse");
    assert_eq!(m.library_version, "xgboost 1.2.0");
    assert_eq!(m.feature_names[0], "f0");
    same_scores(&m, &reference);
}

// ---------------------------------------------------------------------------------------
// Malformed files: clear errors that say where, never panics
// ---------------------------------------------------------------------------------------

fn xgb_error(v: &Value) -> String {
    match parse_xgboost_json(&v.to_string(), "m.json") {
        Err(e @ LearnError::ModelFile { .. }) => e.to_string(),
        other => panic!("expected a model-file error, got {other:?}"),
    }
}

fn lgb_error(text: &str) -> String {
    match parse_lightgbm_text(text, "m.txt") {
        Err(e @ LearnError::ModelFile { .. }) => e.to_string(),
        other => panic!("expected a model-file error, got {other:?}"),
    }
}

#[test]
fn truncated_xgboost_json_is_refused() {
    let text = read("xgb_hist.json");
    for cut in [0, 1, 100, text.len() / 2, text.len() - 2] {
        let e = parse_external(&text.as_bytes()[..cut], "m.json")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("model file m.json: "), "{e}");
        assert!(
            e.contains("not valid JSON") || e.contains("not a model format"),
            "{e}"
        );
    }
}

#[test]
fn missing_xgboost_keys_are_named() {
    let mut v = xgb_json("xgb_hist.json");
    trees_mut(&mut v)[3]
        .as_object_mut()
        .expect("tree")
        .remove("sum_hessian");
    let e = xgb_error(&v);
    assert!(
        e.contains("missing key `learner.gradient_booster.model.trees[3].sum_hessian`"),
        "{e}"
    );

    let mut v = xgb_json("xgb_hist.json");
    v["learner"]["learner_model_param"]
        .as_object_mut()
        .expect("lmp")
        .remove("base_score");
    assert!(xgb_error(&v).contains("`learner.learner_model_param.base_score`"));

    let mut v = xgb_json("xgb_hist.json");
    v.as_object_mut().expect("root").remove("learner");
    assert!(xgb_error(&v).contains("missing key `learner`"));
}

#[test]
fn xgboost_child_out_of_range_is_named() {
    let mut v = xgb_json("xgb_hist.json");
    trees_mut(&mut v)[7]["left_children"][2] = serde_json::json!(999);
    let e = xgb_error(&v);
    assert!(
        e.contains(
            "`learner.gradient_booster.model.trees[7].left_children[2]` is 999, out of range"
        ),
        "{e}"
    );

    let mut v = xgb_json("xgb_hist.json");
    let t = &mut trees_mut(&mut v)[1];
    t["right_children"][0] = serde_json::json!(0); // points back at the root
    let e = xgb_error(&v);
    assert!(e.contains("tree 1: node 0 is reached twice"), "{e}");

    let mut v = xgb_json("xgb_hist.json");
    trees_mut(&mut v)[0]["split_indices"][0] = serde_json::json!(10);
    let e = xgb_error(&v);
    assert!(
        e.contains("tree 0, node 0: splits on feature 10 but the model has 10"),
        "{e}"
    );

    let mut v = xgb_json("xgb_hist.json");
    trees_mut(&mut v)[0]["split_conditions"]
        .as_array_mut()
        .expect("array")
        .pop();
    let e = xgb_error(&v);
    assert!(
        e.contains("`learner.gradient_booster.model.trees[0].split_conditions` has"),
        "{e}"
    );

    let mut v = xgb_json("xgb_hist.json");
    trees_mut(&mut v)[0]["sum_hessian"][1] = serde_json::json!(-1.0);
    let e = xgb_error(&v);
    assert!(e.contains("tree 0, node 1: `sum_hessian` is -1"), "{e}");
}

#[test]
fn xgboost_unsupported_models_say_why() {
    let e = load_xgboost_json(&dir().join("xgb_categorical.json"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("categorical split on feature `mcc`"), "{e}");
    assert!(e.contains("tree 0, node 0"), "{e}");

    let mut v = xgb_json("xgb_hist.json");
    v["learner"]["objective"]["name"] = Value::String("multi:softprob".into());
    assert!(xgb_error(&v).contains("objective `multi:softprob` is not supported"));

    let mut v = xgb_json("xgb_hist.json");
    v["learner"]["learner_model_param"]["num_class"] = Value::String("3".into());
    assert!(xgb_error(&v).contains("multi-class"));

    let mut v = xgb_json("xgb_reg.json"); // no feature names: they would be made up
    v["learner"]["learner_model_param"]["num_feature"] = Value::String("99999999999".into());
    assert!(xgb_error(&v).contains("num_feature` is 99999999999, more than"));

    let mut v = xgb_json("xgb_hist.json");
    v["learner"]["gradient_booster"]["name"] = Value::String("gblinear".into());
    assert!(xgb_error(&v).contains("gblinear"));

    let mut v = xgb_json("xgb_hist.json");
    v["learner"]["learner_model_param"]["base_score"] = Value::String("[1E0]".into());
    assert!(xgb_error(&v).contains("strictly between 0 and 1"));
}

#[test]
fn truncated_lightgbm_text_is_refused() {
    let text = read("lgb_binary.txt");
    let end = text.find("end of trees").expect("marker");
    for cut in [end / 3, end / 2, end - 1] {
        let e = lgb_error(&text[..cut]);
        assert!(
            e.contains("truncated")
                || e.contains("values but the tree needs")
                || e.contains("is missing"),
            "{e}"
        );
    }
}

#[test]
fn lightgbm_malformed_trees_are_named() {
    let text = read("lgb_binary.txt");
    let tree2 = text.find("Tree=2\n").expect("tree 2");
    let (head, tail) = text.split_at(tree2);

    // Child out of range.
    let line = tail
        .lines()
        .find(|l| l.starts_with("left_child="))
        .expect("line");
    let (key, values) = line.split_once('=').expect("key=value");
    let mut values: Vec<&str> = values.split(' ').collect();
    values[0] = "77";
    let broken = format!("{key}={}", values.join(" "));
    let e = lgb_error(&format!("{head}{}", tail.replacen(line, &broken, 1)));
    assert!(e.contains("tree 2"), "{e}");
    assert!(
        e.contains("`left_child` of internal node 0 is 77, out of range"),
        "{e}"
    );

    // Wrong number of values.
    let line = tail
        .lines()
        .find(|l| l.starts_with("threshold="))
        .expect("line");
    let e = lgb_error(&format!(
        "{head}{}",
        tail.replacen(line, &format!("{line} 1.5"), 1)
    ));
    assert!(
        e.contains("tree 2") && e.contains("`threshold` has 15 values but the tree needs 14"),
        "{e}"
    );

    // Missing type Zero.
    let line = tail
        .lines()
        .find(|l| l.starts_with("decision_type="))
        .expect("line");
    let zero = format!("decision_type=4{}", &line[line.find(' ').expect("space")..]);
    let e = lgb_error(&format!("{head}{}", tail.replacen(line, &zero, 1)));
    assert!(e.contains("zero_as_missing"), "{e}");

    // A non-number.
    let line = tail
        .lines()
        .find(|l| l.starts_with("leaf_value="))
        .expect("line");
    let e = lgb_error(&format!(
        "{head}{}",
        tail.replacen(line, "leaf_value=abc", 1)
    ));
    assert!(e.contains("`leaf_value` value 0 is `abc`"), "{e}");

    // Absurd counts are refused without allocating for them.
    let e = lgb_error(&format!(
        "{head}{}",
        tail.replacen("num_leaves=15", "num_leaves=18446744073709551615", 1)
    ));
    assert!(
        e.contains("tree 2") && e.contains("`leaf_value` has 15 values"),
        "{e}"
    );

    // Header problems.
    let e = lgb_error(&text.replacen(
        "objective=binary sigmoid:1",
        "objective=multiclass num_class:3",
        1,
    ));
    assert!(
        e.contains("objective `multiclass num_class:3` is not supported"),
        "{e}"
    );
    let e = lgb_error(&text.replacen("max_feature_idx=9", "max_feature_idx=12", 1));
    assert!(e.contains("feature_names has 10 names"), "{e}");
}

#[test]
fn lightgbm_categorical_split_is_refused() {
    let e = load_lightgbm_text(&dir().join("lgb_categorical.txt"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("categorical split on feature `mcc`"), "{e}");
    assert!(e.contains("tree 0"), "{e}");
}

#[test]
fn unknown_formats_say_what_is_expected() {
    for (bytes, hint) in [
        (&b"booster[0]:\n0:[f0<1] yes=1,no=2\n"[..], "text dump"),
        (&b"hello"[..], "not a model format"),
        (&b"{\x02\xff\xfe"[..], "invalid UTF-8"),
        (&b""[..], "not a model format"),
        (&b"tree\nversion=v4\n"[..], "truncated"),
    ] {
        let e = parse_external(bytes, "m").unwrap_err().to_string();
        assert!(e.contains(hint), "{e}");
    }
    let lgb_dump = serde_json::json!({"name": "tree", "version": "v4", "tree_info": []});
    let e = parse_external(lgb_dump.to_string().as_bytes(), "m")
        .unwrap_err()
        .to_string();
    assert!(e.contains("dump_model"), "{e}");
    let missing = load_external(&dir().join("no_such_model.json")).unwrap_err();
    assert!(matches!(missing, LearnError::Io { .. }));
}

// ---------------------------------------------------------------------------------------
// Fuzzing: whatever the bytes, an error or a model, never a panic
// ---------------------------------------------------------------------------------------

/// Every scalar position in a JSON value, as a path of keys / indices.
fn scalar_paths(v: &Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                at.push(k.clone());
                scalar_paths(x, at, out);
                at.pop();
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                at.push(i.to_string());
                scalar_paths(x, at, out);
                at.pop();
            }
        }
        _ => out.push(at.clone()),
    }
}

fn at_path<'a>(v: &'a mut Value, path: &[String]) -> &'a mut Value {
    path.iter().fold(v, |v, k| match v {
        Value::Array(a) => &mut a[k.parse::<usize>().expect("index")],
        _ => &mut v[k.as_str()],
    })
}

fn json_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        (-3i64..40).prop_map(|n| serde_json::json!(n)),
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(|x| serde_json::json!(x)),
        "[a-z0-9\\[\\]E.,-]{0,8}".prop_map(Value::String),
        Just(serde_json::json!([])),
        Just(serde_json::json!({})),
    ]
}

fn random_json() -> impl Strategy<Value = Value> {
    json_scalar().prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("learner".to_string()),
                    Just("trees".to_string()),
                    Just("gradient_booster".to_string()),
                    Just("learner_model_param".to_string()),
                    Just("model".to_string()),
                    Just("name".to_string()),
                    "[a-z_]{1,12}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A small real model, so mutations reach deep into the tree checks.
fn small_xgb() -> Value {
    let mut v = xgb_json("xgb_dart.json");
    let trees = v["learner"]["gradient_booster"]["gbtree"]["model"]["trees"]
        .as_array_mut()
        .expect("trees");
    trees.truncate(2);
    v["learner"]["gradient_booster"]["gbtree"]["model"]["tree_info"] = serde_json::json!([0, 0]);
    v["learner"]["gradient_booster"]["weight_drop"] = serde_json::json!([1.0, 0.5]);
    v["learner"]["gradient_booster"]["gbtree"]["model"]["gbtree_model_param"]["num_trees"] =
        Value::String("2".into());
    v
}

fn small_lgb() -> String {
    let text = read("lgb_sigmoid.txt");
    let tree2 = text.find("Tree=2\n").expect("tree 2");
    let end = text.find("end of trees").expect("end");
    format!("{}{}", &text[..tree2], &text[end..])
}

/// Scale of the numbers a model adds up: float64 rounding in TreeSHAP is relative to it
/// (a mutated leaf of 1e12 that the row never reaches still enters the expected value).
fn magnitude(model: &ImportedModel) -> f64 {
    let leaves: f64 = model
        .trees()
        .iter()
        .map(|t| t.nodes.iter().map(|n| n.value.abs()).fold(0.0, f64::max))
        .sum();
    1.0 + model.base_margin.abs() + model.tree_scale * leaves
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512), prefix in 0usize..3) {
        let mut input = match prefix {
            0 => Vec::new(),
            1 => b"tree\n".to_vec(),
            _ => b"{".to_vec(),
        };
        input.extend_from_slice(&bytes);
        let _ = parse_external(&input, "fuzz");
        let text = String::from_utf8_lossy(&input);
        let _ = parse_xgboost_json(&text, "fuzz");
        let _ = parse_lightgbm_text(&text, "fuzz");
    }

    #[test]
    fn random_json_never_panics(v in random_json()) {
        let text = v.to_string();
        let _ = parse_xgboost_json(&text, "fuzz");
        let _ = parse_external(text.as_bytes(), "fuzz");
    }

    #[test]
    fn mutated_xgboost_models_never_panic(picks in prop::collection::vec((any::<prop::sample::Index>(), json_scalar()), 1..4)) {
        let mut v = small_xgb();
        let mut paths = Vec::new();
        scalar_paths(&v, &mut Vec::new(), &mut paths);
        let mut changed = Vec::new();
        for (idx, value) in picks {
            let path = idx.get(&paths).clone();
            *at_path(&mut v, &path) = value.clone();
            changed.push((path.join("."), value));
        }
        if let Ok(model) = parse_xgboost_json(&v.to_string(), "fuzz") {
            // Whatever loads must score and explain any row of the right width.
            let row = vec![0.5; model.n_features()];
            let e = model.explain(&row).expect("explain");
            prop_assert!((e.total() - model.raw_score(&row)).abs() <= 1e-9 * magnitude(&model),
                "{:?}: total {} raw {}", changed, e.total(), model.raw_score(&row));
        }
    }

    #[test]
    fn mutated_lightgbm_models_never_panic(
        picks in prop::collection::vec(
            (
                any::<prop::sample::Index>(),
                any::<prop::sample::Index>(),
                "-?[0-9]{0,3}|99999999999999999999|18446744073709551615|nan|inf|=| |",
                any::<bool>(),
            ),
            1..4,
        ),
    ) {
        let text = small_lgb();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        for (line, word, replacement, keep_key) in picks {
            let l = line.index(lines.len());
            let mut words: Vec<String> = lines[l].split(' ').map(str::to_string).collect();
            let w = word.index(words.len());
            // Either the whole word, or only the value of a `key=value` word.
            words[w] = match words[w].split_once('=') {
                Some((key, _)) if keep_key => format!("{key}={replacement}"),
                _ => replacement,
            };
            lines[l] = words.join(" ");
        }
        if let Ok(model) = parse_lightgbm_text(&lines.join("\n"), "fuzz") {
            let row = vec![f64::NAN; model.n_features()];
            let e = model.explain(&row).expect("explain");
            prop_assert!((e.total() - model.raw_score(&row)).abs() <= 1e-9 * magnitude(&model));
        }
    }
}
