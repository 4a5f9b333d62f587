//! Errors of the recommendations crate.
//!
//! Nearly everything that can go wrong is the user's input: an empty interaction table, a
//! rating outside the declared range, the same (user, item) pair twice when duplicates
//! are refused, a hyper-parameter out of range, a model file that was edited. Each message
//! names the row (1-based data line), the user and item ids and says how to fix it.
//! Reading or writing a file can fail externally; a broken invariant of ours (a solve that
//! should be positive definite and is not) is internal.

use riskstream_core::{Classify, ErrorClass};

/// What went wrong while building interactions, fitting, recommending or loading a model.
#[derive(Debug, thiserror::Error)]
pub enum RecommendError {
    /// A hyper-parameter is out of its allowed range.
    #[error("hyper-parameter `{name}` = {value}: {reason}")]
    InvalidParam {
        /// Parameter name as written in configs and on the command line.
        name: &'static str,
        /// The value given, formatted.
        value: String,
        /// Why it is refused and what is allowed.
        reason: String,
    },
    /// No interactions to learn from.
    #[error("{what} has no interactions; check the input file, its columns and any filters")]
    Empty {
        /// Which input.
        what: String,
    },
    /// A rating or interaction value is not a finite number.
    #[error("row {row} (user `{user}`, item `{item}`): value {value} is not a finite number; fill or drop it")]
    NonFinite {
        /// 1-based data row.
        row: usize,
        /// User id.
        user: String,
        /// Item id.
        item: String,
        /// The value found.
        value: f64,
    },
    /// A rating lies outside the declared range.
    #[error("row {row} (user `{user}`, item `{item}`): rating {value} is outside the declared range [{min}, {max}]; fix the row or widen --rating-range")]
    OutOfRange {
        /// 1-based data row.
        row: usize,
        /// User id.
        user: String,
        /// Item id.
        item: String,
        /// The value found.
        value: f64,
        /// Lowest allowed rating.
        min: f64,
        /// Highest allowed rating.
        max: f64,
    },
    /// An implicit interaction strength is negative.
    #[error("row {row} (user `{user}`, item `{item}`): interaction strength {value} is negative; implicit feedback counts must be ≥ 0")]
    Negative {
        /// 1-based data row.
        row: usize,
        /// User id.
        user: String,
        /// Item id.
        item: String,
        /// The value found.
        value: f64,
    },
    /// The same (user, item) pair occurs twice and duplicates are refused.
    #[error("rows {first} and {second}: user `{user}` and item `{item}` occur twice; keep one row, or choose a treatment with --duplicates (last, mean, sum)")]
    Duplicate {
        /// 1-based row of the first occurrence.
        first: usize,
        /// 1-based row of the second occurrence.
        second: usize,
        /// User id.
        user: String,
        /// Item id.
        item: String,
    },
    /// An id is missing (empty or null) in a row.
    #[error("row {row}: the {what} id is empty; every interaction needs a user and an item")]
    MissingId {
        /// 1-based data row.
        row: usize,
        /// "user" or "item".
        what: &'static str,
    },
    /// An id asked for is not known to the model, and the caller refused fallbacks.
    #[error("unknown {what} `{id}`: the model was not trained on it")]
    Unknown {
        /// "user" or "item".
        what: &'static str,
        /// The id.
        id: String,
    },
    /// Two inputs that must be equally long are not.
    #[error("{what}: expected {expected} values, got {got}")]
    LengthMismatch {
        /// Which input.
        what: &'static str,
        /// Expected length.
        expected: usize,
        /// Actual length.
        got: usize,
    },
    /// An operation does not apply to this kind of model.
    #[error("{what} is not available for a {kind} model; {hint}")]
    Unsupported {
        /// The operation.
        what: &'static str,
        /// The model kind.
        kind: &'static str,
        /// What to do instead.
        hint: &'static str,
    },
    /// A model file is malformed, of an unknown version or was modified.
    #[error("model file {path}: {reason}")]
    ModelFile {
        /// File path (or a description of the source).
        path: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A linear system that must be positive definite is not (our bug, or a degenerate
    /// configuration such as zero regularisation).
    #[error("{what}: the normal equations of row {row} are not positive definite; raise the regularisation (reg) above 0")]
    NotPositiveDefinite {
        /// Which solve.
        what: &'static str,
        /// The row (user or item index).
        row: usize,
    },
    /// An eligibility file has problems (every one of them, each with file:line:column).
    #[error("eligibility rules {path}: {}", problems.join("\n  "))]
    Eligibility {
        /// File path (or a description of the source).
        path: String,
        /// Each problem, with its position and how to fix it.
        problems: Vec<String>,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// File path.
        path: String,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
}

impl RecommendError {
    /// Shorthand for [`RecommendError::InvalidParam`].
    pub fn param(
        name: &'static str,
        value: impl std::fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        RecommendError::InvalidParam {
            name,
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

impl Classify for RecommendError {
    fn class(&self) -> ErrorClass {
        match self {
            RecommendError::Io { .. } => ErrorClass::External,
            _ => ErrorClass::User,
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = RecommendError> = std::result::Result<T, E>;
