//! The whole development run in one call: bin every characteristic, select, fit the
//! logistic regression on WoE, drop wrong-signed characteristics, scale to points.
//!
//! ```text
//!  Table, y ─▶ bin each named column ─▶ WoE columns ─▶ select (IV, correlation)
//!           ─▶ IRLS ─▶ any β > 0? drop the largest, refit ─▶ Scorecard
//! ```
//!
//! With `calibration` set, the whole run above is repeated on k − 1 inner folds of the
//! development sample and scored on the k-th; the out-of-fold log-odds against the
//! outcomes fit the PD map ([`riskstream_learn::calibrate`]) that the card then carries.
//! The points are those of the run on every row, unchanged.
//!
//! Why drop positive coefficients: WoE is ln(good share / bad share), so a
//! characteristic that helps has a negative coefficient on the event's log-odds. A
//! positive one means collinearity turned it around; its points would then reward the
//! riskier attribute, which no reviewer accepts.

use crate::binning::{Binning, BinningParams};
use crate::data::Table;
use crate::error::{CreditError, Result};
use crate::logit::{Logit, LogitParams};
use crate::scorecard::{Scaling, Scorecard};
use crate::select::{SelectParams, Selection};
use riskstream_learn::calibrate::{out_of_fold, stratified_folds, CalibrationMethod};

/// Everything a development run needs.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScorecardParams {
    /// Binning of every characteristic.
    pub binning: BinningParams,
    /// Selection thresholds.
    pub select: SelectParams,
    /// Logistic regression.
    pub logit: LogitParams,
    /// Points scaling.
    pub scaling: Scaling,
    /// Keep characteristics whose coefficient has the wrong sign (default: drop them).
    pub keep_wrong_sign: bool,
    /// PD calibration fitted on inner out-of-fold log-odds; `None` (the default) keeps
    /// the logistic model's PD.
    pub calibration: Option<CalibrationMethod>,
    /// Inner folds for calibration, ≥ 2.
    pub calibration_folds: usize,
    /// Seed of the inner folds.
    pub calibration_seed: u64,
}

impl Default for ScorecardParams {
    fn default() -> Self {
        ScorecardParams {
            binning: BinningParams::default(),
            select: SelectParams::default(),
            logit: LogitParams::default(),
            scaling: Scaling::default(),
            keep_wrong_sign: false,
            calibration: None,
            calibration_folds: 5,
            calibration_seed: 0,
        }
    }
}

/// The outcome of a development run.
#[derive(Debug, Clone)]
pub struct Development {
    /// The scorecard.
    pub card: Scorecard,
    /// The final model (on the card's characteristics).
    pub model: Logit,
    /// Every characteristic's binning, selected or not.
    pub binnings: Vec<Binning>,
    /// What selection kept and dropped (indices into `binnings`).
    pub selection: Selection,
    /// Characteristics dropped for a wrong-signed coefficient.
    pub wrong_sign: Vec<String>,
}

impl ScorecardParams {
    /// Checks every part before any data is read.
    pub fn check(&self) -> Result<()> {
        self.binning.check()?;
        self.select.check()?;
        self.logit.check()?;
        self.scaling.check()?;
        if self.calibration.is_some() && self.calibration_folds < 2 {
            return Err(CreditError::param(
                "calibration_folds",
                self.calibration_folds,
                "calibration needs at least 2 inner folds (5 is usual)",
            ));
        }
        Ok(())
    }

    /// Develops a scorecard on `characteristics` of `table` against `y` (true = bad),
    /// calibrated when `calibration` is set.
    pub fn fit(&self, table: &Table, y: &[bool], characteristics: &[&str]) -> Result<Development> {
        self.check()?;
        let mut dev = self.develop(table, y, characteristics)?;
        if let Some(method) = self.calibration {
            if y.len() != table.n_rows() {
                return Err(CreditError::LengthMismatch {
                    what: "labels".into(),
                    expected: table.n_rows(),
                    got: y.len(),
                });
            }
            let k = self.calibration_folds;
            let fold = stratified_folds(y, k, self.calibration_seed)?;
            let oof = out_of_fold::<CreditError, _>(&fold, k, |tr, held| {
                let ytr: Vec<bool> = tr.iter().map(|&i| y[i]).collect();
                let inner = self.develop(&table.select_rows(tr), &ytr, characteristics)?;
                inner.card.log_odds_table(&table.select_rows(held))
            })?;
            dev.card.calibration = Some(method.fit(&oof, y, None)?);
        }
        Ok(dev)
    }

    /// One development run without calibration.
    fn develop(&self, table: &Table, y: &[bool], characteristics: &[&str]) -> Result<Development> {
        if table.n_rows() == 0 {
            return Err(CreditError::Empty {
                what: "the development table".into(),
            });
        }
        let binnings: Vec<Binning> = characteristics
            .iter()
            .map(|&name| self.binning.fit(name, table.column(name)?, y))
            .collect::<Result<_>>()?;
        let woe: Vec<Vec<f64>> = binnings
            .iter()
            .zip(characteristics)
            .map(|(b, &name)| {
                let col = table.column(name)?;
                Ok((0..col.len()).map(|i| b.woe(col.value(i))).collect())
            })
            .collect::<Result<_>>()?;
        let names: Vec<String> = characteristics.iter().map(|s| s.to_string()).collect();
        let ivs: Vec<f64> = binnings.iter().map(|b| b.iv).collect();
        let selection = self.select.select(&names, &ivs, &woe)?;
        let mut chosen: Vec<usize> = selection.kept.clone();
        chosen.sort_unstable();
        let mut wrong_sign = Vec::new();
        let model = loop {
            if chosen.is_empty() {
                return Err(CreditError::Fit {
                    reason: "no characteristic is left after selection; lower select.min_iv".into(),
                });
            }
            let cols: Vec<Vec<f64>> = chosen.iter().map(|&k| woe[k].clone()).collect();
            let nm: Vec<String> = chosen.iter().map(|&k| names[k].clone()).collect();
            let m = self.logit.fit(&nm, &cols, y)?;
            let worst = m
                .coef
                .iter()
                .enumerate()
                .filter(|(_, &c)| c > 0.0)
                .max_by(|a, b| a.1.total_cmp(b.1));
            match worst {
                Some((j, _)) if !self.keep_wrong_sign => {
                    wrong_sign.push(names[chosen[j]].clone());
                    chosen.remove(j);
                }
                _ => break m,
            }
        };
        let card_binnings: Vec<Binning> = chosen.iter().map(|&k| binnings[k].clone()).collect();
        let card = Scorecard::new(card_binnings, &model, self.scaling.clone())?;
        Ok(Development {
            card,
            model,
            binnings,
            selection,
            wrong_sign,
        })
    }
}
