//! Adverse-action reasons: why an applicant scored as they did, in the words a lender
//! must send.
//!
//! For each characteristic the applicant *lost* points against the best attribute of that
//! characteristic (`max points − points received`). The reasons are the characteristics
//! with the largest losses, at most four; when the characteristic configured as
//! `inquiries` lost points but is not among those four, it is added as a fifth (the US
//! rule for credit-bureau inquiries). Ties are broken by card order. A characteristic
//! where the applicant already has the best attribute is never a reason.
//!
//! Every characteristic of the card must have a configured code and text — checked once,
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

/// Reasons bound to one scorecard.
#[derive(Debug, Clone)]
pub struct Reasons {
    /// Per characteristic, in card order: (code, text, max points).
    entries: Vec<(String, String, String, i64)>,
    inquiries: Option<usize>,
}

impl ReasonConfig {
    /// Checks the configuration against `card`: every characteristic has a non-empty
    /// code and text, and `inquiries` (if set) is a characteristic of the card.
    pub fn bind(&self, card: &Scorecard) -> Result<Reasons> {
        let mut problems = Vec::new();
        let mut entries = Vec::new();
        for c in &card.characteristics {
            match self.reasons.get(c.name()) {
                Some(r) if !r.code.trim().is_empty() && !r.text.trim().is_empty() => {
                    entries.push((
                        c.name().to_string(),
                        r.code.clone(),
                        r.text.clone(),
                        c.max_points(),
                    ))
                }
                _ => problems.push(c.name().to_string()),
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
        Ok(Reasons { entries, inquiries })
    }
}

impl Reasons {
    /// The reasons for one scored applicant, largest loss first.
    pub fn explain(&self, scored: &Scored) -> Vec<Reason> {
        let mut lost: Vec<(usize, i64)> = self
            .entries
            .iter()
            .zip(&scored.points)
            .enumerate()
            .map(|(k, (e, &p))| (k, e.3 - p))
            .filter(|&(_, l)| l > 0)
            .collect();
        lost.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut chosen: Vec<(usize, i64)> = lost.iter().copied().take(4).collect();
        if let Some(q) = self.inquiries {
            if !chosen.iter().any(|c| c.0 == q) {
                if let Some(&extra) = lost.iter().find(|c| c.0 == q) {
                    chosen.push(extra);
                }
            }
        }
        chosen
            .into_iter()
            .map(|(k, l)| Reason {
                characteristic: self.entries[k].0.clone(),
                code: self.entries[k].1.clone(),
                text: self.entries[k].2.clone(),
                points_lost: l,
            })
            .collect()
    }
}
