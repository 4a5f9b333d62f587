//! A credit model on boosted trees: monotone in every characteristic whose binning has a
//! trend, with a calibrated PD and adverse-action reasons from TreeSHAP.
//!
//! ```text
//!  Table, y ─▶ per characteristic: binning (same params as the scorecard's)
//!              ├─ numeric, no missing, no special codes ─▶ raw value,
//!              │     constraint from the binning's trend (ascending +1, descending −1)
//!              └─ otherwise (categorical, …) ─▶ WoE of its bin, constraint −1
//!           ─▶ riskstream-learn GBDT (histogram, monotone basic method) ─▶ log-odds of bad
//!  calibration: the same fit on k−1 inner folds, scored on the k-th ─▶ out-of-fold
//!               log-odds ─▶ isotonic (default) or Platt ─▶ PD
//!  reasons: TreeSHAP per characteristic ─▶ the scorecard's reason rule and codes
//! ```
//!
//! Why WoE of the fitted bins for categories, rather than an ordinal code by event rate:
//!
//! - it is the scorecard's own binning, so rare levels are grouped into the other bin,
//!   an unseen level is scored there and flagged, and missing has its bin: one set of
//!   rules for both models, documented once in [`crate::binning`];
//! - WoE is ordered by the training event rate by construction (higher WoE = safer), so
//!   the constraint −1 always agrees with the data, and a reviewer reads the same
//!   direction as in the scorecard;
//! - it is one column per characteristic, so a TreeSHAP contribution *is* a
//!   characteristic's contribution, and maps to exactly one reason code (one-hot columns
//!   would have to be summed back);
//! - for trees only the order matters, so WoE and an ordinal code by event rate split
//!   alike; the difference is that levels merged by the optimal binning share a value,
//!   which guards against splitting on a handful of applicants in a rare level.
//!
//! Numeric characteristics stay raw, so trees keep their full resolution. A numeric
//! characteristic with missing values or configured special codes is WoE-encoded too:
//! a special code such as −1 has no place on the value axis, and a monotone constraint
//! on the raw value would put it there.
//!
//! Why monotone: a declined applicant must be able to improve. If a longer employment
//! lowered the risk everywhere in the binning but the model had a bump at 4–5 years,
//! the reason "length of employment" would tell someone at 4 years to wait for a worse
//! score. The basic method ([`riskstream_learn::gbdt`]) makes each tree monotone.
//!
//! The file is versioned JSON with `"kind": "credit-gbdt"`.

use crate::binning::{BinKind, Binning, BinningParams, Trend};
use crate::data::{Column, Table, Value};
use crate::error::{CreditError, Result};
use crate::reasons::{ContributionReason, Reasons};
use riskstream_learn::calibrate::{out_of_fold, stratified_folds, CalibrationMethod, Calibrator};
use riskstream_learn::gbdt::{GbdtModel, GbdtParams};
use riskstream_learn::{Dataset, Explanation, Fit, Matrix, ParamGuard, Predict};
use std::collections::BTreeMap;

/// The file format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Where the monotone constraints come from.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonotoneSource {
    /// From each characteristic's binning: raw numerics follow the binning's trend
    /// (ascending event rate +1, descending −1, peak / valley / none 0); WoE-encoded
    /// characteristics get −1 (a higher WoE is a safer bin).
    #[default]
    Auto,
    /// No constraints.
    None,
    /// Per characteristic (−1, 0, +1) on the model's input: the raw value for raw
    /// numerics, the WoE for WoE-encoded ones. Unlisted characteristics are free.
    Given(BTreeMap<String, i8>),
}

/// Hyper-parameters of the credit GBDT.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CreditGbdtParams {
    /// The boosted trees (leave `monotone` unset: it is filled from [`Self::monotone`]).
    pub gbdt: GbdtParams,
    /// Binning of every characteristic: WoE encoding and automatic constraints.
    pub binning: BinningParams,
    /// Monotone constraints.
    pub monotone: MonotoneSource,
    /// PD calibration on inner out-of-fold log-odds; `None` = the model's sigmoid.
    pub calibration: Option<CalibrationMethod>,
    /// Inner folds for calibration, ≥ 2.
    pub calibration_folds: usize,
    /// Seed of the inner folds.
    pub seed: u64,
}

impl Default for CreditGbdtParams {
    fn default() -> Self {
        CreditGbdtParams {
            gbdt: GbdtParams {
                n_rounds: 300,
                learning_rate: 0.03,
                max_depth: 3,
                min_child_samples: 10,
                subsample: 0.8,
                colsample_bytree: 0.8,
                ..GbdtParams::default()
            },
            binning: BinningParams::default(),
            monotone: MonotoneSource::Auto,
            calibration: Some(CalibrationMethod::Isotonic),
            calibration_folds: 5,
            seed: 0,
        }
    }
}

/// How a characteristic becomes the model's input.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Encoding {
    /// The number itself (missing = NaN, sent the way most training weight went).
    Raw,
    /// The WoE of the value's bin.
    Woe {
        /// The fitted binning.
        binning: Binning,
    },
}

/// One characteristic of the model.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Feature {
    /// Characteristic (column) name.
    pub name: String,
    /// How its values are encoded.
    pub encoding: Encoding,
    /// The constraint the trees were grown under (−1, 0, +1).
    pub monotone: i8,
}

/// A fitted credit GBDT: what is saved, loaded and scored.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CreditGbdt {
    /// Always `"credit-gbdt"`.
    pub kind: String,
    /// [`FORMAT_VERSION`].
    pub version: u32,
    /// Characteristics, in model order.
    pub characteristics: Vec<Feature>,
    /// The trees (their params hold the constraint vector).
    pub model: GbdtModel,
    /// The PD map on the log-odds, if calibrated.
    pub calibrator: Option<Calibrator>,
}

/// The result of scoring one applicant.
#[derive(Debug, Clone, PartialEq)]
pub struct GbdtScored {
    /// The trees' log-odds of "bad".
    pub log_odds: f64,
    /// sigmoid(log-odds): the uncalibrated PD.
    pub model_pd: f64,
    /// The calibrated PD (= `model_pd` without a calibrator).
    pub pd: f64,
    /// Characteristics whose value was unseen at fit time.
    pub unseen: Vec<String>,
}

impl CreditGbdtParams {
    /// Checks everything before any data is read.
    pub fn check(&self) -> Result<()> {
        self.gbdt.check()?;
        if self.gbdt.monotone.is_some() {
            return Err(CreditError::param(
                "gbdt.monotone",
                "set",
                "leave it unset; choose constraints with `monotone` (auto, none or given per characteristic)",
            ));
        }
        self.binning.check()?;
        if let MonotoneSource::Given(m) = &self.monotone {
            if let Some((k, v)) = m.iter().find(|(_, v)| !(-1..=1).contains(*v)) {
                return Err(CreditError::param(
                    "monotone",
                    format!("{k} = {v}"),
                    "each constraint must be -1, 0 or 1",
                ));
            }
        }
        if self.calibration.is_some() && self.calibration_folds < 2 {
            return Err(CreditError::param(
                "calibration_folds",
                self.calibration_folds,
                "calibration needs at least 2 inner folds (5 is usual)",
            ));
        }
        Ok(())
    }

    /// Fits on `characteristics` of `table` against `y` (true = bad): the calibration
    /// map on inner out-of-fold log-odds first (if any), then the trees on every row.
    pub fn fit(&self, table: &Table, y: &[bool], characteristics: &[&str]) -> Result<CreditGbdt> {
        self.fit_weighted(table, y, None, characteristics)
    }

    /// [`Self::fit`] with a non-negative weight per row for the trees and the calibration
    /// map (e.g. recency weights that favour the latest applications). The binnings that
    /// encode categoricals and choose the constraints stay unweighted: they only order the
    /// levels and give each trend, and a weight that vanishes on old rows would leave
    /// them to a handful of applicants.
    pub fn fit_weighted(
        &self,
        table: &Table,
        y: &[bool],
        weights: Option<&[f64]>,
        characteristics: &[&str],
    ) -> Result<CreditGbdt> {
        self.check()?;
        if let Some(w) = weights {
            if w.len() != table.n_rows() {
                return Err(CreditError::LengthMismatch {
                    what: "weights".into(),
                    expected: table.n_rows(),
                    got: w.len(),
                });
            }
        }
        if table.n_rows() == 0 {
            return Err(CreditError::Empty {
                what: "the development table".into(),
            });
        }
        if y.len() != table.n_rows() {
            return Err(CreditError::LengthMismatch {
                what: "labels".into(),
                expected: table.n_rows(),
                got: y.len(),
            });
        }
        if let MonotoneSource::Given(m) = &self.monotone {
            let unknown: Vec<&str> = m
                .keys()
                .map(String::as_str)
                .filter(|k| !characteristics.contains(k))
                .collect();
            if !unknown.is_empty() {
                return Err(CreditError::UnknownColumn {
                    column: unknown.join(", "),
                    available: characteristics.join(", "),
                });
            }
        }
        let calibrator = match self.calibration {
            None => None,
            Some(method) => {
                let k = self.calibration_folds;
                let fold = stratified_folds(y, k, self.seed)?;
                let oof = out_of_fold::<CreditError, _>(&fold, k, |tr, held| {
                    let ytr: Vec<bool> = tr.iter().map(|&i| y[i]).collect();
                    let wtr: Option<Vec<f64>> = weights.map(|w| tr.iter().map(|&i| w[i]).collect());
                    let m = self.fit_trees(
                        &table.select_rows(tr),
                        &ytr,
                        wtr.as_deref(),
                        characteristics,
                    )?;
                    m.log_odds(&table.select_rows(held))
                })?;
                Some(method.fit(&oof, y, weights)?)
            }
        };
        let mut m = self.fit_trees(table, y, weights, characteristics)?;
        m.calibrator = calibrator;
        Ok(m)
    }

    /// Encoding, constraints and trees, without calibration.
    fn fit_trees(
        &self,
        table: &Table,
        y: &[bool],
        weights: Option<&[f64]>,
        characteristics: &[&str],
    ) -> Result<CreditGbdt> {
        let mut features = Vec::with_capacity(characteristics.len());
        for &name in characteristics {
            let col = table.column(name)?;
            let binning = self.binning.fit(name, col, y)?;
            let raw = matches!(col, Column::Numeric(v) if !v.iter().any(|x| x.is_nan()))
                && self.binning.special_codes.is_empty();
            let regular = binning
                .bins
                .iter()
                .filter(|b| b.kind == BinKind::Regular)
                .count();
            let monotone = match &self.monotone {
                MonotoneSource::None => 0,
                MonotoneSource::Given(m) => m.get(name).copied().unwrap_or(0),
                MonotoneSource::Auto if regular < 2 => 0,
                MonotoneSource::Auto if !raw => -1,
                MonotoneSource::Auto => match binning.trend {
                    Trend::Ascending => 1,
                    Trend::Descending => -1,
                    _ => 0,
                },
            };
            features.push(Feature {
                name: name.to_string(),
                encoding: if raw {
                    Encoding::Raw
                } else {
                    Encoding::Woe { binning }
                },
                monotone,
            });
        }
        let x = encode_table(&features, table)?;
        let names: Vec<String> = features.iter().map(|f| f.name.clone()).collect();
        let yf: Vec<f64> = y.iter().map(|&b| f64::from(u8::from(b))).collect();
        let mut data = Dataset::new(x, yf, names)?;
        if let Some(w) = weights {
            data = data.with_weights(w.to_vec())?;
        }
        let params = GbdtParams {
            monotone: Some(features.iter().map(|f| f.monotone).collect()),
            ..self.gbdt.clone()
        };
        let model = params.fit(&data)?;
        Ok(CreditGbdt {
            kind: "credit-gbdt".into(),
            version: FORMAT_VERSION,
            characteristics: features,
            model,
            calibrator: None,
        })
    }
}

/// The model input of one value, and whether it was unseen at fit time.
fn encode_value(f: &Feature, v: Value<'_>) -> (f64, bool) {
    match &f.encoding {
        Encoding::Raw => match v {
            Value::Num(x) => (x, false),
            Value::Cat(None) => (f64::NAN, false),
            Value::Cat(Some(s)) => match s.trim().parse::<f64>() {
                Ok(x) => (x, false),
                Err(_) => (f64::NAN, true),
            },
        },
        Encoding::Woe { binning } => {
            let a = binning.assign(v);
            (binning.bins[a.bin].woe, a.unseen)
        }
    }
}

fn encode_table(features: &[Feature], table: &Table) -> Result<Matrix> {
    let cols: Vec<Vec<f64>> = features
        .iter()
        .map(|f| {
            let col = table.column(&f.name)?;
            Ok((0..col.len())
                .map(|i| encode_value(f, col.value(i)).0)
                .collect())
        })
        .collect::<Result<_>>()?;
    if cols.is_empty() {
        return Ok(Matrix::new(table.n_rows(), 0, Vec::new())?);
    }
    Ok(Matrix::from_columns(&cols)?)
}

impl CreditGbdt {
    /// Characteristic names, in model order (bind reasons with
    /// [`crate::ReasonConfig::bind_names`] on these).
    pub fn characteristic_names(&self) -> Vec<&str> {
        self.characteristics
            .iter()
            .map(|f| f.name.as_str())
            .collect()
    }

    /// The model input of one applicant (values in model order).
    pub fn encode(&self, values: &[Value<'_>]) -> Vec<f64> {
        self.characteristics
            .iter()
            .zip(values)
            .map(|(f, &v)| encode_value(f, v).0)
            .collect()
    }

    /// The PD of a log-odds.
    pub fn pd_of(&self, log_odds: f64) -> f64 {
        match &self.calibrator {
            Some(c) => c.calibrate(log_odds),
            None => riskstream_learn::traits::sigmoid(log_odds),
        }
    }

    /// Scores one applicant given the value of each characteristic, in model order.
    pub fn score(&self, values: &[Value<'_>]) -> GbdtScored {
        let mut unseen = Vec::new();
        let x: Vec<f64> = self
            .characteristics
            .iter()
            .zip(values)
            .map(|(f, &v)| {
                let (x, u) = encode_value(f, v);
                if u {
                    unseen.push(f.name.clone());
                }
                x
            })
            .collect();
        let log_odds = self.model.raw_score(&x);
        GbdtScored {
            log_odds,
            model_pd: riskstream_learn::traits::sigmoid(log_odds),
            pd: self.pd_of(log_odds),
            unseen,
        }
    }

    /// Column index of each characteristic in `table`.
    pub fn bind(&self, table: &Table) -> Result<Vec<usize>> {
        self.characteristics
            .iter()
            .map(|f| table.index(&f.name))
            .collect()
    }

    /// The log-odds of every row of `table` (batch path).
    pub fn log_odds(&self, table: &Table) -> Result<Vec<f64>> {
        let x = encode_table(&self.characteristics, table)?;
        Ok(self.model.predict_raw(&x)?)
    }

    /// Scores every row of `table`.
    pub fn score_table(&self, table: &Table) -> Result<Vec<GbdtScored>> {
        let cols = self.bind(table)?;
        Ok((0..table.n_rows())
            .map(|i| {
                let values: Vec<Value<'_>> =
                    cols.iter().map(|&k| table.columns[k].value(i)).collect();
                self.score(&values)
            })
            .collect())
    }

    /// Exact TreeSHAP of the log-odds, one contribution per characteristic.
    pub fn explain(&self, values: &[Value<'_>]) -> Explanation {
        let x = self.encode(values);
        riskstream_learn::shap::ensemble_shap(self.model.trees(), &x, 1.0, self.model.base_margin())
    }

    /// The adverse-action reasons of one applicant: the characteristics that raised the
    /// log-odds of "bad" the most, by the scorecard's rule and codes. `reasons` must be
    /// bound to [`CreditGbdt::characteristic_names`].
    pub fn reasons(
        &self,
        values: &[Value<'_>],
        reasons: &Reasons,
    ) -> Result<Vec<ContributionReason>> {
        if !reasons.characteristics().eq(self.characteristic_names()) {
            return Err(CreditError::param(
                "reasons",
                reasons.characteristics().collect::<Vec<_>>().join(", "),
                format!(
                    "are bound to other characteristics; bind them to this model's: {}",
                    self.characteristic_names().join(", ")
                ),
            ));
        }
        Ok(reasons.explain_contributions(&self.explain(values).contributions))
    }

    /// The model as versioned JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Reads a model written by [`CreditGbdt::to_json`], refusing another kind or version.
    pub fn from_json(text: &str) -> Result<CreditGbdt> {
        let v = crate::scorecard::read_versioned(text, "credit-gbdt", &[FORMAT_VERSION])?;
        let m: CreditGbdt = serde_json::from_value(v).map_err(|e| CreditError::File {
            reason: e.to_string(),
        })?;
        let expected: Vec<i8> = m.characteristics.iter().map(|f| f.monotone).collect();
        if m.model.feature_names().len() != m.characteristics.len()
            || m.model.params().monotone.as_deref().unwrap_or(&[]) != expected.as_slice()
        {
            return Err(CreditError::File {
                reason: "the trees do not match the characteristics (count or constraints)".into(),
            });
        }
        Ok(m)
    }
}
