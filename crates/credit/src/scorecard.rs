//! The scorecard: points per attribute, scoring, the file format and the SQL export.
//!
//! Scaling (the usual "points to double the odds"): with factor = PDO / ln 2 and
//! offset = base_points − factor · ln(base_odds), where odds are good : bad,
//!
//! ```text
//!   score  = offset + factor · ln(odds_good)  = offset − factor · (β₀ + Σⱼ βⱼ · WoEⱼ)
//!   pointsᵢⱼ = −factor · βⱼ · WoEᵢⱼ + (offset − factor · β₀) / m      (m characteristics)
//! ```
//!
//! Rounding: every attribute's points are rounded to an integer (half away from zero)
//! and **the card's score is defined as the sum of the rounded points**. So the total
//! a reader adds up from the table, the SQL expression and [`Scorecard::score`] are the
//! same integer for every applicant, by construction; the reasons module relies on it.
//! Rounding each attribute cannot also make that integer equal the rounded *unrounded*
//! score for every applicant (two characteristics at x.5 each already break it), so we
//! report the difference instead: [`Scored::unrounded`] is kept beside the score, and
//! the German-credit test prints the largest gap (it is at most m/2 points, and much
//! smaller in practice). The PD is the model's, from the unrounded log-odds, or, when
//! the card was developed with calibration ([`crate::ScorecardParams::calibration`]),
//! that log-odds mapped through the fitted [`Calibrator`] ([`Scored::model_pd`] keeps
//! the model's). Calibration changes the PD, never the points or the order.
//!
//! The file is versioned JSON with `"kind": "scorecard"`, holding the binnings, so a
//! scorecard scores raw applicant values on its own. Version 2 added the optional
//! `calibration`; version 1 files (without it) still load.

use crate::binning::{BinKind, Binning, Rule};
use crate::data::{Table, Value};
use crate::error::{CreditError, Result};
use crate::logit::{sigmoid, Logit};
use riskstream_learn::calibrate::Calibrator;

/// The file format version this build writes.
pub const FORMAT_VERSION: u32 = 2;
/// The versions this build reads.
pub const READABLE_VERSIONS: &[u32] = &[1, 2];

/// Points scaling.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Scaling {
    /// Points to double the odds (> 0).
    pub pdo: f64,
    /// Score at the base odds.
    pub base_points: f64,
    /// Good : bad odds at `base_points` (> 0).
    pub base_odds: f64,
}

impl Default for Scaling {
    fn default() -> Self {
        Scaling {
            pdo: 20.0,
            base_points: 600.0,
            base_odds: 50.0,
        }
    }
}

impl Scaling {
    /// Refuses out-of-range values.
    pub fn check(&self) -> Result<()> {
        if !(self.pdo.is_finite() && self.pdo > 0.0) {
            return Err(CreditError::param(
                "pdo",
                self.pdo,
                "points to double the odds must be > 0 (20 is usual)",
            ));
        }
        if !(self.base_odds.is_finite() && self.base_odds > 0.0) {
            return Err(CreditError::param(
                "base_odds",
                self.base_odds,
                "good:bad odds must be > 0 (e.g. 50)",
            ));
        }
        if !self.base_points.is_finite() {
            return Err(CreditError::param(
                "base_points",
                self.base_points,
                "must be finite (e.g. 600)",
            ));
        }
        Ok(())
    }

    /// factor = PDO / ln 2.
    pub fn factor(&self) -> f64 {
        self.pdo / std::f64::consts::LN_2
    }

    /// offset = base_points − factor · ln(base_odds).
    pub fn offset(&self) -> f64 {
        self.base_points - self.factor() * self.base_odds.ln()
    }
}

/// One characteristic of the card.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Characteristic {
    /// The binning (name, rule, WoE per bin).
    pub binning: Binning,
    /// Model coefficient on the WoE.
    pub coef: f64,
    /// Integer points per bin, parallel to `binning.bins`.
    pub points: Vec<i64>,
    /// Unrounded points per bin.
    pub raw_points: Vec<f64>,
}

impl Characteristic {
    /// Characteristic name.
    pub fn name(&self) -> &str {
        &self.binning.name
    }

    /// The most points any attribute of this characteristic gives.
    pub fn max_points(&self) -> i64 {
        self.points.iter().copied().max().unwrap_or(0)
    }
}

/// A scorecard: what is saved, loaded, scored and exported.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Scorecard {
    /// Always `"scorecard"`.
    pub kind: String,
    /// [`FORMAT_VERSION`].
    pub version: u32,
    /// The scaling used.
    pub scaling: Scaling,
    /// Model intercept (log-odds of the event).
    pub intercept: f64,
    /// Characteristics, in model order.
    pub characteristics: Vec<Characteristic>,
    /// PD calibration on the model's log-odds (absent = the model's PD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibrator>,
}

/// One row of the printed scorecard.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Characteristic.
    pub characteristic: String,
    /// Attribute (bin label).
    pub attribute: String,
    /// WoE of the attribute.
    pub woe: f64,
    /// Points.
    pub points: i64,
}

/// The result of scoring one applicant.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// The card's score: the sum of `points`.
    pub score: i64,
    /// The score before rounding attribute points.
    pub unrounded: f64,
    /// Probability of the event (bad): the calibrated PD when the card has a
    /// calibration, otherwise `model_pd`.
    pub pd: f64,
    /// The logistic model's PD, sigmoid of its log-odds.
    pub model_pd: f64,
    /// Points per characteristic, in card order.
    pub points: Vec<i64>,
    /// Bin per characteristic.
    pub bins: Vec<usize>,
    /// Characteristics whose value was unseen at fit time (scored in the other or
    /// missing bin; see [`crate::binning::Binning::assign`]).
    pub unseen: Vec<String>,
}

impl Scorecard {
    /// Builds the card from fitted binnings and a model fitted on their WoE columns (same
    /// names, same order).
    pub fn new(binnings: Vec<Binning>, model: &Logit, scaling: Scaling) -> Result<Scorecard> {
        scaling.check()?;
        let names: Vec<&str> = binnings.iter().map(|b| b.name.as_str()).collect();
        if names.len() != model.names.len() || names.iter().zip(&model.names).any(|(a, b)| a != b) {
            return Err(CreditError::WrongType {
                column: model.names.join(", "),
                reason: format!(
                    "the model's features must be the binned characteristics in order: {}",
                    names.join(", ")
                ),
            });
        }
        if binnings.is_empty() {
            return Err(CreditError::Empty {
                what: "the list of characteristics".into(),
            });
        }
        let (factor, offset) = (scaling.factor(), scaling.offset());
        let share = (offset - factor * model.intercept) / binnings.len() as f64;
        let characteristics = binnings
            .into_iter()
            .zip(&model.coef)
            .map(|(binning, &coef)| {
                let raw_points: Vec<f64> = binning
                    .bins
                    .iter()
                    .map(|b| -factor * coef * b.woe + share)
                    .collect();
                Characteristic {
                    points: raw_points.iter().map(|p| p.round() as i64).collect(),
                    raw_points,
                    binning,
                    coef,
                }
            })
            .collect();
        Ok(Scorecard {
            kind: "scorecard".into(),
            version: FORMAT_VERSION,
            scaling,
            intercept: model.intercept,
            characteristics,
            calibration: None,
        })
    }

    /// The printed table: characteristic, attribute, WoE, points.
    pub fn table(&self) -> Vec<Row> {
        self.characteristics
            .iter()
            .flat_map(|c| {
                c.binning
                    .bins
                    .iter()
                    .zip(&c.points)
                    .map(move |(b, &p)| Row {
                        characteristic: c.name().to_string(),
                        attribute: b.label.clone(),
                        woe: b.woe,
                        points: p,
                    })
            })
            .collect()
    }

    /// Column index of each characteristic in `table` (unknown names are an error).
    pub fn bind(&self, table: &Table) -> Result<Vec<usize>> {
        self.characteristics
            .iter()
            .map(|c| table.index(c.name()))
            .collect()
    }

    /// Scores one applicant given the value of each characteristic, in card order.
    pub fn score(&self, values: &[Value<'_>]) -> Scored {
        let mut out = Scored {
            score: 0,
            unrounded: 0.0,
            pd: 0.0,
            model_pd: 0.0,
            points: Vec::with_capacity(values.len()),
            bins: Vec::with_capacity(values.len()),
            unseen: Vec::new(),
        };
        let mut log_odds = self.intercept;
        for (c, &v) in self.characteristics.iter().zip(values) {
            let a = c.binning.assign(v);
            if a.unseen {
                out.unseen.push(c.name().to_string());
            }
            out.points.push(c.points[a.bin]);
            out.unrounded += c.raw_points[a.bin];
            out.bins.push(a.bin);
            log_odds += c.coef * c.binning.bins[a.bin].woe;
        }
        out.score = out.points.iter().sum();
        out.model_pd = sigmoid(log_odds);
        out.pd = match &self.calibration {
            Some(c) => c.calibrate(log_odds),
            None => out.model_pd,
        };
        out
    }

    /// The model's log-odds of "bad" for one applicant (what calibration maps to a PD).
    pub fn log_odds(&self, values: &[Value<'_>]) -> f64 {
        self.intercept
            + self
                .characteristics
                .iter()
                .zip(values)
                .map(|(c, &v)| c.coef * c.binning.bins[c.binning.assign(v).bin].woe)
                .sum::<f64>()
    }

    /// Scores every row of `table`.
    pub fn score_table(&self, table: &Table) -> Result<Vec<Scored>> {
        let cols = self.bind(table)?;
        Ok((0..table.n_rows())
            .map(|i| {
                let values: Vec<Value<'_>> =
                    cols.iter().map(|&k| table.columns[k].value(i)).collect();
                self.score(&values)
            })
            .collect())
    }

    /// The model's log-odds of every row of `table`.
    pub fn log_odds_table(&self, table: &Table) -> Result<Vec<f64>> {
        let cols = self.bind(table)?;
        Ok((0..table.n_rows())
            .map(|i| {
                let values: Vec<Value<'_>> =
                    cols.iter().map(|&k| table.columns[k].value(i)).collect();
                self.log_odds(&values)
            })
            .collect())
    }

    /// The card as versioned JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Reads a card written by [`Scorecard::to_json`] (this or an older version),
    /// refusing another kind or an unknown version.
    pub fn from_json(text: &str) -> Result<Scorecard> {
        let v = read_versioned(text, "scorecard", READABLE_VERSIONS)?;
        serde_json::from_value(v).map_err(|e| CreditError::File {
            reason: e.to_string(),
        })
    }

    /// One SQL expression that computes the card's score from the raw columns: a sum of
    /// one `CASE` per characteristic. Missing values are SQL `NULL`s; a category not in
    /// the card falls to the `ELSE` branch, the other bin.
    pub fn to_sql(&self) -> String {
        let parts: Vec<String> = self.characteristics.iter().map(case_of).collect();
        parts.join("\n + ")
    }
}

/// Parses a versioned JSON file and checks its `kind` and `version` before anything
/// else is read, so the error names what is wrong with the file as a whole.
pub(crate) fn read_versioned(
    text: &str,
    kind: &str,
    readable: &[u32],
) -> Result<serde_json::Value> {
    let head: serde_json::Value = serde_json::from_str(text).map_err(|e| CreditError::File {
        reason: e.to_string(),
    })?;
    match head.get("kind").and_then(|k| k.as_str()) {
        Some(k) if k == kind => {}
        other => {
            return Err(CreditError::File {
                reason: format!("`kind` is {other:?}, expected {kind:?}"),
            })
        }
    }
    let version = head.get("version").and_then(serde_json::Value::as_u64);
    if !version.is_some_and(|v| readable.iter().any(|&r| u64::from(r) == v)) {
        return Err(CreditError::File {
            reason: format!(
                "version {version:?} is not supported; this build reads versions {readable:?}"
            ),
        });
    }
    Ok(head)
}

fn sql_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn sql_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn case_of(c: &Characteristic) -> String {
    let b = &c.binning;
    let col = sql_ident(&b.name);
    let pts = |kind: BinKind| c.points[b.bin_of_kind(kind)];
    let mut s = format!("(CASE WHEN {col} IS NULL THEN {}", pts(BinKind::Missing));
    match &b.rule {
        Rule::Numeric { splits } => {
            if !b.special_codes.is_empty() {
                let codes: Vec<String> = b
                    .special_codes
                    .iter()
                    .map(|&x| crate::binning::fmt_sql_num(x))
                    .collect();
                s += &format!(
                    " WHEN {col} IN ({}) THEN {}",
                    codes.join(", "),
                    pts(BinKind::Special)
                );
            }
            for (k, &split) in splits.iter().enumerate() {
                s += &format!(
                    " WHEN {col} < {} THEN {}",
                    crate::binning::fmt_sql_num(split),
                    c.points[k]
                );
            }
            s += &format!(" ELSE {} END)", c.points[splits.len()]);
        }
        Rule::Categorical { groups, .. } => {
            for (k, g) in groups.iter().enumerate() {
                let items: Vec<String> = g.iter().map(|v| sql_str(v)).collect();
                s += &format!(" WHEN {col} IN ({}) THEN {}", items.join(", "), c.points[k]);
            }
            s += &format!(" ELSE {} END)", pts(BinKind::Other));
        }
    }
    s
}
