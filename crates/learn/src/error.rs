//! Errors a learner or a model can return.
//!
//! Every variant says what is wrong and, where it helps, where (row, feature) and how to
//! fix it. The split into user / external / internal follows `riskstream_core::ErrorClass`
//! so the CLI can choose the exit code.

use riskstream_core::{Classify, ErrorClass};

/// What went wrong while checking hyper-parameters, fitting, predicting or loading a model.
#[derive(Debug, thiserror::Error)]
pub enum LearnError {
    /// A hyper-parameter is out of its allowed range.
    #[error("hyper-parameter `{name}` = {value}: {reason}")]
    InvalidParam {
        /// Parameter name as written in configs and the CLI.
        name: &'static str,
        /// The value given, formatted.
        value: String,
        /// Why it is refused and what is allowed.
        reason: String,
    },
    /// No rows to train on.
    #[error("the training data has no rows; pick a wider date range or check the input file")]
    Empty,
    /// Training labels hold only one class.
    #[error("the training labels are all {class}; a classifier needs both 0 and 1 (pick a wider date range)")]
    OneClass {
        /// The only class present.
        class: u8,
    },
    /// A binary label is not 0 or 1.
    #[error("row {row}: label is {value}; binary labels must be 0 or 1")]
    BadLabel {
        /// 0-based row index.
        row: usize,
        /// The value found.
        value: f64,
    },
    /// A feature value is NaN or infinite where the learner cannot handle it.
    #[error("row {row}, feature `{feature}`: value is {value}; fill or drop missing values before training")]
    NonFinite {
        /// 0-based row index.
        row: usize,
        /// Feature name.
        feature: String,
        /// The value found.
        value: f64,
    },
    /// A row or matrix has the wrong number of features.
    #[error("expected {expected} features per row, got {got}")]
    WidthMismatch {
        /// Features the model was trained on.
        expected: usize,
        /// Features given.
        got: usize,
    },
    /// Two inputs that must have the same length do not.
    #[error("{what}: expected {expected} values, got {got}")]
    LengthMismatch {
        /// Which input.
        what: &'static str,
        /// Expected length.
        expected: usize,
        /// Actual length.
        got: usize,
    },
    /// A score given to a metric is NaN or infinite, or outside [0, 1] where a probability
    /// is needed.
    #[error("row {row}: score is {value}; {reason}")]
    BadScore {
        /// 0-based row index.
        row: usize,
        /// The value found.
        value: f64,
        /// What is required and how to fix it.
        reason: &'static str,
    },
    /// A model file is malformed, of an unknown version, or does not match what it is used with.
    #[error("model file {path}: {reason}")]
    ModelFile {
        /// File path (or a description of the source).
        path: String,
        /// What is wrong and how to fix it.
        reason: String,
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

impl LearnError {
    /// Shorthand for [`LearnError::InvalidParam`].
    pub fn param(
        name: &'static str,
        value: impl std::fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        LearnError::InvalidParam {
            name,
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

impl Classify for LearnError {
    fn class(&self) -> ErrorClass {
        match self {
            // A file that is not there or not readable by this user is the user's to fix
            // (a wrong path); a failing disk is not.
            LearnError::Io { source, .. } => match source.kind() {
                std::io::ErrorKind::NotFound
                | std::io::ErrorKind::PermissionDenied
                | std::io::ErrorKind::InvalidInput
                | std::io::ErrorKind::InvalidData => ErrorClass::User,
                _ => ErrorClass::External,
            },
            _ => ErrorClass::User,
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = LearnError> = std::result::Result<T, E>;
