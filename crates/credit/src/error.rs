//! Errors of the credit crate.
//!
//! Almost everything that can go wrong while building a scorecard is the user's data or
//! configuration: a label that is not binary, a column that never varies, an empty sample,
//! a column name that is not in the table, a hyper-parameter out of range. Each message
//! names the column or parameter and says how to fix it. Reading a file can fail
//! externally; a broken invariant of ours is internal.

use riskstream_core::{Classify, ErrorClass};

/// What went wrong while binning, fitting, scaling, scoring or loading a scorecard.
#[derive(Debug, thiserror::Error)]
pub enum CreditError {
    /// The label column has other than exactly two distinct values.
    #[error("label column `{column}` must have exactly two values (event and non-event); found {found}. Map it to 0/1 or name the event value")]
    NonBinaryLabel {
        /// The label column.
        column: String,
        /// The distinct values found (at most a few, formatted).
        found: String,
    },
    /// The label holds only one class, so WoE and a model are undefined.
    #[error("label column `{column}` holds only {class}; a scorecard needs both events and non-events (widen the sample)")]
    OneClass {
        /// The label column.
        column: String,
        /// Which class is present ("events" or "non-events").
        class: &'static str,
    },
    /// A characteristic takes a single value (or is all missing): it cannot separate
    /// anything and would make the model singular.
    #[error("column `{column}` is constant ({detail}); drop it from the characteristics")]
    ConstantColumn {
        /// The column.
        column: String,
        /// What it holds.
        detail: String,
    },
    /// No rows.
    #[error("{what} has no rows; check the input file and any filters")]
    Empty {
        /// Which input.
        what: String,
    },
    /// A column named in the configuration or the call is not in the table.
    #[error("unknown column `{column}`; the table has: {available}")]
    UnknownColumn {
        /// The name asked for.
        column: String,
        /// The names that exist.
        available: String,
    },
    /// Two inputs that must be equally long are not.
    #[error("{what}: expected {expected} values, got {got}")]
    LengthMismatch {
        /// Which input.
        what: String,
        /// Expected length.
        expected: usize,
        /// Actual length.
        got: usize,
    },
    /// A hyper-parameter or configuration value is out of range.
    #[error("parameter `{name}` = {value}: {reason}")]
    InvalidParam {
        /// Parameter name as written in configs.
        name: &'static str,
        /// The value given.
        value: String,
        /// What is allowed.
        reason: String,
    },
    /// A column has the wrong type for the operation (numeric where categorical is needed).
    #[error("column `{column}`: {reason}")]
    WrongType {
        /// The column.
        column: String,
        /// What was expected.
        reason: String,
    },
    /// No feasible binning exists under the constraints.
    #[error("column `{column}`: no binning satisfies the constraints ({reason}); relax min_bin_size, max_pvalue or the monotonic trend")]
    Infeasible {
        /// The column.
        column: String,
        /// Which constraints.
        reason: String,
    },
    /// The logistic regression did not converge or its Hessian is singular.
    #[error("logistic regression: {reason}")]
    Fit {
        /// What happened and what to try.
        reason: String,
    },
    /// A scorecard or credit-model file is malformed or of another kind or version.
    #[error("credit model file: {reason}")]
    File {
        /// What is wrong.
        reason: String,
    },
    /// A learner of `riskstream-learn` (boosted trees, calibration) refused its input or
    /// parameters.
    #[error(transparent)]
    Learn(#[from] riskstream_learn::LearnError),
    /// Reading input failed.
    #[error("{path}: {source}")]
    Io {
        /// File path or description.
        path: String,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
}

impl CreditError {
    /// Shorthand for [`CreditError::InvalidParam`].
    pub fn param(
        name: &'static str,
        value: impl std::fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        CreditError::InvalidParam {
            name,
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

impl Classify for CreditError {
    fn class(&self) -> ErrorClass {
        match self {
            CreditError::Io { .. } => ErrorClass::External,
            CreditError::Learn(e) => e.class(),
            _ => ErrorClass::User,
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = CreditError> = std::result::Result<T, E>;
