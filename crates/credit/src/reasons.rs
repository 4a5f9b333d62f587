//! Adverse-action reasons: why an applicant scored as they did, in the words a lender
//! must send.
//!
//! One rule picks the reasons, whatever the model; only the measure of "how much this
//! characteristic hurt" differs:
//!
//! - **scorecard**: the points the applicant *lost* against the best attribute of that
//!   characteristic (`max points − points received`), [`Reasons::explain`];
//! - **boosted trees** ([`crate::gbdt`]): the characteristic's TreeSHAP contribution to
//!   the log-odds of "bad", [`Reasons::explain_contributions`].
//!
//! The reasons are the characteristics with the largest positive measure, at most four;
//! when the characteristic configured as `inquiries` hurt but is not among those four, it
//! is added as a fifth (the US rule for credit-bureau inquiries). Ties are broken by
//! model order. A characteristic that did not hurt (no points lost, contribution ≤ 0) is
//! never a reason.
//!
//! Every characteristic of the model must have a configured code and text — checked once,
//! all missing ones listed together — so a reason is never a generic "other".

use crate::error::{CreditError, Result};
use crate::scorecard::{Scorecard, Scored};
use std::collections::BTreeMap;

/// A reason code and the text sent to the applicant.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReasonText {
    /// Code, e.g. `"R01"`.
    pub code: String,
    /// Text, e.g. `"Length of time accounts have been established"`.
    pub text: String,
}

/// Reason configuration.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReasonConfig {
    /// Code and text per characteristic name.
    pub reasons: BTreeMap<String, ReasonText>,
    /// The characteristic that counts bureau inquiries, if any (may be a fifth reason).
    #[serde(default)]
    pub inquiries: Option<String>,
}

/// One reason given to an applicant.
#[derive(Debug, Clone, PartialEq)]
pub struct Reason {
    /// Characteristic.
    pub characteristic: String,
    /// Configured code.
    pub code: String,
    /// Configured text.
    pub text: String,
    /// Points lost against the characteristic's best attribute (> 0).
    pub points_lost: i64,
}

/// One reason given to an applicant by a model that is not a points table: the
/// characteristic's contribution (TreeSHAP, log-odds of "bad") instead of points lost.
#[derive(Debug, Clone, PartialEq)]
pub struct ContributionReason {
    /// Characteristic.
    pub characteristic: String,
    /// Configured code.
    pub code: String,
    /// Configured text.
    pub text: String,
    /// How much the characteristic raised the log-odds of "bad" (> 0).
    pub contribution: f64,
}

/// Reasons bound to one model's characteristics.
#[derive(Debug, Clone)]
pub struct Reasons {
    /// Per characteristic, in model order: (name, code, text).
    entries: Vec<(String, String, String)>,
    /// Scorecards only: the best attribute's points per characteristic.
    max_points: Vec<i64>,
    inquiries: Option<usize>,
}

impl ReasonConfig {
    /// Checks the configuration against `card`: every characteristic has a non-empty
    /// code and text, and `inquiries` (if set) is a characteristic of the card.
    pub fn bind(&self, card: &Scorecard) -> Result<Reasons> {
        let names: Vec<&str> = card.characteristics.iter().map(|c| c.name()).collect();
        let mut r = self.bind_names(&names)?;
        r.max_points = card
            .characteristics
            .iter()
            .map(|c| c.max_points())
            .collect();
        Ok(r)
    }

    /// Checks the configuration against a model's characteristics, in model order (for
    /// models other than a scorecard, e.g. [`crate::gbdt::CreditGbdt::characteristics`]).
    pub fn bind_names(&self, names: &[&str]) -> Result<Reasons> {
        let mut problems = Vec::new();
        let mut entries = Vec::new();
        for &name in names {
            match self.reasons.get(name) {
                Some(r) if !r.code.trim().is_empty() && !r.text.trim().is_empty() => {
                    entries.push((name.to_string(), r.code.clone(), r.text.clone()))
                }
                _ => problems.push(name.to_string()),
            }
        }
        if !problems.is_empty() {
            return Err(CreditError::param(
                "reasons",
                problems.join(", "),
                "these characteristics have no reason code and text; every characteristic needs one (no generic \"other\" reason)",
            ));
        }
        let inquiries = match &self.inquiries {
            None => None,
            Some(name) => Some(entries.iter().position(|e| &e.0 == name).ok_or_else(|| {
                CreditError::UnknownColumn {
                    column: name.clone(),
                    available: entries
                        .iter()
                        .map(|e| e.0.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                }
            })?),
        };
        Ok(Reasons {
            entries,
            max_points: Vec::new(),
            inquiries,
        })
    }
}

impl Reasons {
    /// The characteristics the reasons are bound to, in model order.
    pub fn characteristics(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.0.as_str())
    }

    /// The reason rule (see the module docs) on any measure of harm per characteristic:
    /// (index, measure) of at most four, plus inquiries as a fifth.
    fn pick<T: PartialOrd + Copy + Default>(&self, harm: &[T]) -> Vec<(usize, T)> {
        let zero = T::default();
        let mut hurt: Vec<(usize, T)> = harm
            .iter()
            .copied()
            .enumerate()
            .filter(|&(_, h)| h > zero)
            .collect();
        hurt.sort_by(|a, b| {
            b.1.partial_cmp(&a.1)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(a.0.cmp(&b.0))
        });
        let mut chosen: Vec<(usize, T)> = hurt.iter().copied().take(4).collect();
        if let Some(q) = self.inquiries {
            if !chosen.iter().any(|c| c.0 == q) {
                if let Some(&extra) = hurt.iter().find(|c| c.0 == q) {
                    chosen.push(extra);
                }
            }
        }
        chosen
    }

    /// The reasons for one scored applicant, largest loss first. Needs reasons bound to
    /// a scorecard ([`ReasonConfig::bind`]); bound by name only, it gives none.
    pub fn explain(&self, scored: &Scored) -> Vec<Reason> {
        let lost: Vec<i64> = self
            .max_points
            .iter()
            .zip(&scored.points)
            .map(|(&m, &p)| m - p)
            .collect();
        self.pick(&lost)
            .into_iter()
            .map(|(k, l)| Reason {
                characteristic: self.entries[k].0.clone(),
                code: self.entries[k].1.clone(),
                text: self.entries[k].2.clone(),
                points_lost: l,
            })
            .collect()
    }

    /// The reasons given per-characteristic contributions to the log-odds of "bad" (in
    /// the bound order), largest first. NaN contributions are never reasons.
    pub fn explain_contributions(&self, contributions: &[f64]) -> Vec<ContributionReason> {
        self.pick(contributions)
            .into_iter()
            .map(|(k, c)| ContributionReason {
                characteristic: self.entries[k].0.clone(),
                code: self.entries[k].1.clone(),
                text: self.entries[k].2.clone(),
                contribution: c,
            })
            .collect()
    }
}
