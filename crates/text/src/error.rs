//! Errors of the text crate.
//!
//! Almost everything that can go wrong is the user's: no training rows, a single class, a
//! hyper-parameter out of range, a model file that was edited or truncated. Each message
//! says what, where (row, parameter, file) and how to fix it. Reading or writing a file can
//! fail externally. Text itself never fails: empty, non-UTF-8 or huge texts have a defined
//! result (see the crate docs), so there is no error variant for them.

use riskstream_core::{Classify, ErrorClass};

/// What went wrong while training, classifying, evaluating or loading a model.
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    /// A hyper-parameter is out of its allowed range.
    #[error("hyper-parameter `{name}` = {value}: {reason}")]
    InvalidParam {
        /// Parameter name as written in configs.
        name: &'static str,
        /// The value given, formatted.
        value: String,
        /// Why it is refused and what is allowed.
        reason: String,
    },
    /// Nothing to learn from, or only one class.
    #[error("{what}: {reason}")]
    Data {
        /// Which input.
        what: String,
        /// What is wrong and how to fix it.
        reason: String,
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
    /// A model file is malformed, of an unknown version or was modified.
    #[error("model file {path}: {reason}")]
    ModelFile {
        /// File path (or a description of the source).
        path: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A sentence-embedding model directory is missing a file, or a file in it is damaged or
    /// of a kind this build cannot run; `path` names the file.
    #[error("embedding model {path}: {reason}")]
    EmbeddingModel {
        /// The file (or directory) at fault.
        path: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A model file's embedding head was trained on another embedding model.
    #[error("model file {model}: trained on embedding model {expected}, but {dir} is {found}; give the directory it was trained with (`--embedding-model`) or retrain")]
    EmbeddingMismatch {
        /// The text model file (or a description).
        model: String,
        /// The identity recorded in the model file.
        expected: String,
        /// The embedding directory given.
        dir: String,
        /// Its identity.
        found: String,
    },
    /// A computation that should not fail did: a bug, please report it.
    #[error("internal error {what}: {reason}; please report it")]
    Internal {
        /// What was being done.
        what: String,
        /// The underlying error.
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

impl TextError {
    /// Shorthand for [`TextError::InvalidParam`].
    pub fn param(
        name: &'static str,
        value: impl std::fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        TextError::InvalidParam {
            name,
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

impl Classify for TextError {
    fn class(&self) -> ErrorClass {
        match self {
            TextError::Io { .. } => ErrorClass::External,
            TextError::Internal { .. } => ErrorClass::Internal,
            _ => ErrorClass::User,
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = TextError> = std::result::Result<T, E>;
