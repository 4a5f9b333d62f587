//! Credit scorecards: from a table of applicants and a good/bad outcome to a points
//! table a credit officer can read, a SQL expression a database can run, and the
//! adverse-action reasons a declined applicant must be given.
//!
//! ```text
//!  Table + label ─▶ binning (per characteristic: pre-bins ─▶ exact max-IV merge)
//!                   ─▶ woe (WoE / IV / JS / Gini per bin, optbinning's conventions)
//!                   ─▶ select (IV thresholds, WoE correlation)
//!                   ─▶ logit (IRLS on WoE columns: β, SE, z, p)
//!                   ─▶ scorecard (PDO scaling, integer points, JSON, SQL CASE)
//!                   ─▶ reasons (points lost against each characteristic's best)
//!                   ─▶ optional PD calibration on inner out-of-fold log-odds
//!  Table + label ─▶ gbdt (binning ─▶ raw / WoE inputs, monotone constraints from the
//!                   binning trends ─▶ boosted trees ─▶ calibrated PD; reasons from
//!                   TreeSHAP with the same codes and rule)
//!  two samples ─────▶ monitor (KS, Gini, AUC, calibration by band, PSI, CSI)
//! ```
//!
//! Why a crate of its own: a scorecard is a regulated artefact with its own vocabulary
//! (characteristic, attribute, points, reason code) and its own checks (monotone WoE,
//! points that add up, reasons that are never "other"). It builds on `riskstream-core`
//! (errors, AUC/KS curve) and `riskstream-learn`: the scorecard's regression is its own
//! small IRLS, because a scorecard needs standard errors and p-values per coefficient;
//! the challenger model ([`gbdt`]) uses learn's boosted trees, TreeSHAP and calibration.
//!
//! Shapes follow the rest of riskstream: hyper-parameter structs are checked before any
//! data is touched (`check()`), fitting returns a different, serialisable type, and every
//! error is a [`CreditError`] that says whose fault it is.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod asof;
pub mod binning;
pub mod data;
pub mod error;
pub mod file;
pub mod fit;
pub mod gbdt;
pub mod logit;
pub mod monitor;
pub mod reasons;
pub mod report;
pub mod scorecard;
pub mod select;
pub mod woe;

pub use asof::AsOf;
pub use binning::{Binning, BinningParams, Trend};
pub use data::{Column, Table, Value};
pub use error::{CreditError, Result};
pub use fit::{Development, ScorecardParams};
pub use gbdt::{CreditGbdt, CreditGbdtParams, MonotoneSource};
pub use logit::{Logit, LogitParams};
pub use reasons::{ContributionReason, Reason, ReasonConfig, Reasons};
pub use scorecard::{Scaling, Scorecard, Scored};
