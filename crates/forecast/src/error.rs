//! Errors of the forecast crate.
//!
//! Almost everything that goes wrong is the user's input: a series too short for its
//! season, two values on one date, a negative or non-numeric value, a parameter out of
//! range. Each message names the series (and the input line when there is one) and says
//! how to fix it. A model that cannot be fitted at all on valid input is reported as
//! [`ForecastError::Fit`] (the user's: usually a degenerate series); a broken invariant
//! of ours is [`ForecastError::Internal`].

use riskstream_core::{Classify, ErrorClass};

/// What went wrong while preparing series, fitting, forecasting or scoring.
#[derive(Debug, thiserror::Error)]
pub enum ForecastError {
    /// A series is shorter than the model needs.
    #[error("series `{series}`: {len} observations, but {model} needs at least {needed} (two seasons of {period}); give more history, a shorter --season, or --model snaive")]
    TooShort {
        /// The series id.
        series: String,
        /// Its length after gap filling.
        len: usize,
        /// What is needed.
        needed: usize,
        /// The seasonal period.
        period: usize,
        /// The model that needs it.
        model: String,
    },
    /// Two values for one date in one series.
    #[error("series `{series}`: date {date} appears twice (lines {first} and {second}); keep one row per series and date")]
    DuplicateDate {
        /// The series id.
        series: String,
        /// The date (YYYY-MM-DD).
        date: String,
        /// The first line.
        first: u64,
        /// The repeated line.
        second: u64,
    },
    /// A value that is not a finite number, or negative where volumes cannot be.
    #[error("series `{series}`, line {line}: value `{value}` {reason}")]
    BadValue {
        /// The series id.
        series: String,
        /// The input line (1 = header).
        line: u64,
        /// The value as written.
        value: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A series holds no value at all.
    #[error("series `{series}` has no values (every cell is blank); drop it from the input")]
    Empty {
        /// The series id.
        series: String,
    },
    /// A hyper-parameter or option is out of range.
    #[error("parameter `{name}` = {value}: {reason}")]
    InvalidParam {
        /// Parameter name as written in the API or on the command line.
        name: &'static str,
        /// The value given.
        value: String,
        /// What is allowed.
        reason: String,
    },
    /// No model of the requested kind could be fitted to a series.
    #[error("series `{series}`: {reason}")]
    Fit {
        /// The series id.
        series: String,
        /// What happened and what to try.
        reason: String,
    },
    /// A published forecast set (JSON) that cannot be read or breaks an invariant.
    #[error("forecast set: {0}")]
    Published(String),
    /// Several problems at once (every bad series reported, not just the first).
    #[error("{} problems in the input:\n  {}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
    Many(Vec<ForecastError>),
    /// A broken invariant of ours.
    #[error("internal error: {0} (please report it)")]
    Internal(String),
}

impl ForecastError {
    /// Shorthand for [`ForecastError::InvalidParam`].
    pub fn param(
        name: &'static str,
        value: impl std::fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        ForecastError::InvalidParam {
            name,
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// One error from a list: the error itself when there is one, [`ForecastError::Many`]
    /// otherwise.
    pub fn many(mut errors: Vec<ForecastError>) -> Self {
        if errors.len() == 1 {
            errors.remove(0)
        } else {
            ForecastError::Many(errors)
        }
    }
}

impl Classify for ForecastError {
    fn class(&self) -> ErrorClass {
        match self {
            ForecastError::Internal(_) => ErrorClass::Internal,
            ForecastError::Many(v) if v.iter().any(|e| e.class() == ErrorClass::Internal) => {
                ErrorClass::Internal
            }
            _ => ErrorClass::User,
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = ForecastError> = std::result::Result<T, E>;
