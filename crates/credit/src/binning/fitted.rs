//! A fitted binning: the bins of one characteristic, their counts and WoE, and the rule
//! that sends a value to its bin.
//!
//! Every binning has, after its regular bins, a *special* and a *missing* bin (empty
//! ones have WoE 0), and a categorical binning also has an *other* bin: the rare levels
//! grouped at fit time. A category never seen at fit time is scored in that other bin
//! and flagged ([`Assigned::unseen`]); when no level was rare the other bin is empty, so
//! its WoE is 0, neutral: the applicant gets neither credit nor penalty for it. A value
//! that a numeric binning cannot read as a number goes to the missing bin, flagged too.

use crate::data::Value;
use crate::woe::{BinStats, Counts};

use super::optimize::Trend;

/// What a bin holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BinKind {
    /// A range of a numeric variable or a group of categories.
    Regular,
    /// Rare categories grouped at fit time, and categories unseen at fit time.
    Other,
    /// The user's special codes (e.g. −1 "no bureau file").
    Special,
    /// Missing values.
    Missing,
}

/// How values map to regular bins.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Rule {
    /// Bin k is `[splits[k−1], splits[k])`, the first from −∞, the last to +∞.
    Numeric {
        /// Ascending split points.
        splits: Vec<f64>,
    },
    /// Bin k holds the categories `groups[k]`; `other` lists the rare ones.
    Categorical {
        /// Category groups, one per regular bin, in ascending event rate.
        groups: Vec<Vec<String>>,
        /// Rare categories grouped into the other bin.
        other: Vec<String>,
    },
}

/// One bin of a binning table.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Bin {
    /// Human-readable attribute: `[25, 33)`, `A11, A12`, `Missing`.
    pub label: String,
    /// What the bin holds.
    pub kind: BinKind,
    /// Training counts.
    pub counts: Counts,
    /// Weight of evidence (see [`crate::woe`]).
    pub woe: f64,
    /// IV term.
    pub iv: f64,
    /// Jensen–Shannon term.
    pub js: f64,
}

/// Where a value went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assigned {
    /// Index into [`Binning::bins`].
    pub bin: usize,
    /// The value was never seen at fit time (unseen category, unreadable number).
    pub unseen: bool,
}

/// The fitted binning of one characteristic.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Binning {
    /// Characteristic (column) name.
    pub name: String,
    /// Value → regular bin.
    pub rule: Rule,
    /// Special codes of a numeric characteristic.
    pub special_codes: Vec<f64>,
    /// Regular bins, then (categorical) other, then special, then missing.
    pub bins: Vec<Bin>,
    /// Total IV.
    pub iv: f64,
    /// Total Jensen–Shannon divergence.
    pub js: f64,
    /// Gini of the binning.
    pub gini: f64,
    /// The trend the optimiser enforced (`None` for user-given splits).
    pub trend: Trend,
}

impl Binning {
    /// Builds the table from the rule and the counts of every bin (regular, other if
    /// categorical, special, missing).
    pub(crate) fn from_counts(
        name: &str,
        rule: Rule,
        special_codes: Vec<f64>,
        counts: &[Counts],
        trend: Trend,
    ) -> Binning {
        let stats = BinStats::new(counts);
        let mut labels: Vec<(String, BinKind)> = match &rule {
            Rule::Numeric { splits } => {
                let mut l = Vec::new();
                for k in 0..=splits.len() {
                    let lo = if k == 0 {
                        "-inf".to_string()
                    } else {
                        fmt_num(splits[k - 1])
                    };
                    let hi = if k == splits.len() {
                        "inf".to_string()
                    } else {
                        fmt_num(splits[k])
                    };
                    l.push((format!("[{lo}, {hi})"), BinKind::Regular));
                }
                l
            }
            Rule::Categorical { groups, .. } => {
                let mut l: Vec<(String, BinKind)> = groups
                    .iter()
                    .map(|g| (g.join(", "), BinKind::Regular))
                    .collect();
                l.push(("Other".into(), BinKind::Other));
                l
            }
        };
        labels.push(("Special".into(), BinKind::Special));
        labels.push(("Missing".into(), BinKind::Missing));
        let bins = labels
            .into_iter()
            .zip(counts)
            .enumerate()
            .map(|(k, ((label, kind), &c))| Bin {
                label,
                kind,
                counts: c,
                woe: stats.woe[k],
                iv: stats.iv[k],
                js: stats.js[k],
            })
            .collect();
        Binning {
            name: name.to_string(),
            rule,
            special_codes,
            bins,
            iv: stats.iv_total,
            js: stats.js_total,
            gini: stats.gini,
            trend,
        }
    }

    /// Index of the first bin of `kind`.
    pub fn bin_of_kind(&self, kind: BinKind) -> usize {
        self.bins
            .iter()
            .position(|b| b.kind == kind)
            .unwrap_or(self.bins.len() - 1)
    }

    /// The bin of one value (see the module docs for missing, special and unseen values).
    pub fn assign(&self, v: Value<'_>) -> Assigned {
        let missing = Assigned {
            bin: self.bin_of_kind(BinKind::Missing),
            unseen: false,
        };
        match (&self.rule, v) {
            (Rule::Numeric { .. }, Value::Num(x)) => self.assign_num(x),
            (Rule::Numeric { .. }, Value::Cat(None)) => missing,
            (Rule::Numeric { .. }, Value::Cat(Some(s))) => match s.trim().parse::<f64>() {
                Ok(x) => self.assign_num(x),
                Err(_) => Assigned {
                    unseen: true,
                    ..missing
                },
            },
            (Rule::Categorical { .. }, Value::Cat(None)) => missing,
            (Rule::Categorical { .. }, Value::Num(x)) if x.is_nan() => missing,
            (Rule::Categorical { .. }, Value::Num(x)) => self.assign_cat(&fmt_num(x)),
            (Rule::Categorical { .. }, Value::Cat(Some(s))) => self.assign_cat(s),
        }
    }

    fn assign_num(&self, x: f64) -> Assigned {
        let Rule::Numeric { splits } = &self.rule else {
            return self.assign_cat(&fmt_num(x));
        };
        if x.is_nan() {
            return Assigned {
                bin: self.bin_of_kind(BinKind::Missing),
                unseen: false,
            };
        }
        if self.special_codes.contains(&x) {
            return Assigned {
                bin: self.bin_of_kind(BinKind::Special),
                unseen: false,
            };
        }
        Assigned {
            bin: splits.partition_point(|&s| s <= x),
            unseen: false,
        }
    }

    fn assign_cat(&self, s: &str) -> Assigned {
        let Rule::Categorical { groups, other } = &self.rule else {
            return Assigned {
                bin: self.bin_of_kind(BinKind::Missing),
                unseen: true,
            };
        };
        if let Some(k) = groups.iter().position(|g| g.iter().any(|c| c == s)) {
            return Assigned {
                bin: k,
                unseen: false,
            };
        }
        Assigned {
            bin: groups.len(),
            unseen: !other.iter().any(|c| c == s),
        }
    }

    /// The WoE of one value.
    pub fn woe(&self, v: Value<'_>) -> f64 {
        self.bins[self.assign(v).bin].woe
    }

    /// Event rate of each regular bin, in order.
    pub fn regular_event_rates(&self) -> Vec<f64> {
        self.bins
            .iter()
            .filter(|b| b.kind == BinKind::Regular)
            .map(|b| b.counts.event_rate())
            .collect()
    }
}

/// A number as written in labels and SQL: integers without a fraction, others in full.
pub(crate) fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}
