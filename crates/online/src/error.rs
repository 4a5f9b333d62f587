//! The one error type of the online crate.
//!
//! Learners themselves never fail: `learn_one` and `predict_proba_one` take a row of the
//! width the model was built for and cannot go wrong on finite numbers. Everything that can
//! be wrong is checked at an edge — hyper-parameters when a model is built, rows in the
//! [`crate::Checked`] wrapper and the [`crate::Pipeline`], bytes when a snapshot is
//! restored, files when a stream is loaded — and reported here with what is wrong and how
//! to fix it. The class (user / external / internal) decides the CLI's exit code.

use riskstream_core::{Classify, ErrorClass};

/// Everything that can go wrong in the online crate.
#[derive(Debug, thiserror::Error)]
pub enum OnlineError {
    /// A hyper-parameter is out of range.
    #[error("{model}: `{param}` = {value} is invalid: {reason}")]
    InvalidParam {
        /// The learner or transformer being configured.
        model: &'static str,
        /// Parameter name as written in configs and on the command line.
        param: &'static str,
        /// The value given, formatted.
        value: String,
        /// What is allowed.
        reason: String,
    },
    /// A row does not have the width the model was built for.
    #[error("row has {found} values but the model reads {expected} features ({preview}); pass the same feature columns in the same order")]
    WidthMismatch {
        /// Number of features the model was built for.
        expected: usize,
        /// Number of values in the row.
        found: usize,
        /// The first feature names, to say which columns are expected.
        preview: String,
    },
    /// A feature value is NaN or infinite.
    #[error("feature `{name}` (column {index}) is {value}; impute or drop missing values before the model (online learners cannot learn from NaN or infinity)")]
    NonFinite {
        /// 0-based position in the row.
        index: usize,
        /// Feature name.
        name: String,
        /// The value found.
        value: f64,
    },
    /// Two parts of a pipeline disagree on the row width.
    #[error("pipeline step {step} ({what}) expects {expected} inputs but the previous step produces {found}")]
    PipelineWidth {
        /// 0-based step index.
        step: usize,
        /// The step's kind.
        what: &'static str,
        /// Width the step was built for.
        expected: usize,
        /// Width the previous step produces.
        found: usize,
    },
    /// The bytes are not a snapshot of this crate, or not of the expected model.
    #[error("snapshot refused: {0}")]
    Snapshot(String),
    /// A snapshot could not be encoded (a bug: every model is serialisable).
    #[error("could not encode the snapshot: {0}")]
    SnapshotEncode(String),
    /// A column named on the command line or in a config is not in the file.
    #[error("{path}: no column `{name}`{hint} (columns: {available})")]
    UnknownColumn {
        /// The file.
        path: String,
        /// The column asked for.
        name: String,
        /// A "did you mean" suggestion, possibly empty.
        hint: String,
        /// The columns that exist.
        available: String,
    },
    /// The input file's content cannot be used.
    #[error("{path}: {detail}")]
    Data {
        /// The file.
        path: String,
        /// What is wrong, with the line number where there is one.
        detail: String,
    },
    /// Reading a file failed.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// An evaluation setting does not fit the data.
    #[error("{0}")]
    Evaluation(String),
}

impl Classify for OnlineError {
    fn class(&self) -> ErrorClass {
        match self {
            OnlineError::SnapshotEncode(_) => ErrorClass::Internal,
            OnlineError::Io { source, .. } => match source.kind() {
                std::io::ErrorKind::NotFound
                | std::io::ErrorKind::PermissionDenied
                | std::io::ErrorKind::InvalidData
                | std::io::ErrorKind::UnexpectedEof => ErrorClass::User,
                _ => ErrorClass::External,
            },
            _ => ErrorClass::User,
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = OnlineError> = std::result::Result<T, E>;

/// Builds an [`OnlineError::InvalidParam`].
pub(crate) fn invalid(
    model: &'static str,
    param: &'static str,
    value: impl std::fmt::Display,
    reason: impl Into<String>,
) -> OnlineError {
    OnlineError::InvalidParam {
        model,
        param,
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// Checks `lo < v` (or `lo <= v` when `inclusive`) and finiteness.
pub(crate) fn check_above(
    model: &'static str,
    param: &'static str,
    v: f64,
    lo: f64,
    inclusive: bool,
) -> Result<()> {
    let ok = v.is_finite() && if inclusive { v >= lo } else { v > lo };
    if ok {
        Ok(())
    } else {
        let op = if inclusive { ">=" } else { ">" };
        Err(invalid(
            model,
            param,
            v,
            format!("must be finite and {op} {lo}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        let e = OnlineError::Io {
            path: "x".into(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "gone"),
        };
        assert_eq!(e.class(), ErrorClass::User);
        let e = OnlineError::Io {
            path: "x".into(),
            source: std::io::Error::other("disk"),
        };
        assert_eq!(e.class(), ErrorClass::External);
        assert_eq!(
            OnlineError::SnapshotEncode("x".into()).class(),
            ErrorClass::Internal
        );
        assert!(check_above("m", "p", f64::NAN, 0.0, true).is_err());
        assert!(check_above("m", "p", 0.0, 0.0, false).is_err());
        assert!(check_above("m", "p", 0.0, 0.0, true).is_ok());
    }
}
