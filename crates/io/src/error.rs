//! Errors of the I/O layer. Row-level problems are not errors: they are dead letters.

use riskstream_core::{Classify, Diagnostics, ErrorClass};
use std::path::PathBuf;

/// A file-level failure: the file cannot be opened, its header does not match the schema,
/// the disk failed, or the compressed stream is cut short.
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    /// The user named a file we cannot open.
    #[error("cannot open {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Reading or writing failed part-way.
    #[error("{path}: {what}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What we were doing.
        what: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file does not fit the schema as a whole (missing columns, unreadable header, …).
    #[error("{path}: {message}{}", hint.as_ref().map(|h| format!(" (hint: {h})")).unwrap_or_default())]
    Layout {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
        /// How to fix it.
        hint: Option<String>,
    },
    /// The file's format could not be told from its name.
    #[error("{path}: unknown file format (hint: name it *.csv, *.csv.gz, *.tsv, *.parquet, *.ndjson, *.jsonl or *.ndjson.gz, or pass --format)")]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// A schema file is invalid.
    #[error("{0}")]
    Schema(#[from] Diagnostics),
    /// Arrow refused a batch we built: a bug of ours.
    #[error("internal error building Arrow data: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// A read or write thread stopped without finishing its work: a bug of ours.
    #[error("{path}: internal error: {what}")]
    Worker {
        /// The file the thread was reading or writing.
        path: PathBuf,
        /// What happened.
        what: String,
    },
    /// A column was asked of a table that it does not have, or not of the wanted type, or a
    /// schema was named that is neither a file nor shipped (see [`crate::table`]). The
    /// message names the flag that asked.
    #[error("{0}")]
    Column(String),
    /// A batch the reader built could not be turned into a table's columns: a bug of ours.
    #[error("converting a batch of {}: {message}", path.display())]
    Convert {
        /// The file.
        path: PathBuf,
        /// What could not be converted.
        message: String,
    },
    /// Personal data cannot be treated as the schema asks: no key is configured for a field
    /// that holds values, or the key file or variable is invalid.
    #[error("{0}")]
    Pii(String),
    /// An encrypted file cannot be read or written (no key, wrong key, damaged, truncated;
    /// see `riskstream_core::crypt`). The message names the file.
    #[error("{0}")]
    Crypt(#[from] riskstream_core::crypt::CryptError),
    /// Parquet failed reading or writing.
    #[error("{path}: parquet: {source}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// Why.
        source: parquet::errors::ParquetError,
    },
}

impl Classify for IoError {
    fn class(&self) -> ErrorClass {
        match self {
            IoError::Open { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorClass::User
            }
            IoError::Open { source, .. }
                if source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                ErrorClass::User
            }
            IoError::Open { .. } | IoError::Io { .. } => ErrorClass::External,
            IoError::Layout { .. }
            | IoError::UnknownFormat { .. }
            | IoError::Schema(_)
            | IoError::Column(_)
            | IoError::Pii(_) => ErrorClass::User,
            IoError::Parquet { .. } => ErrorClass::User,
            IoError::Crypt(e) => e.class(),
            IoError::Arrow(_) | IoError::Worker { .. } | IoError::Convert { .. } => {
                ErrorClass::Internal
            }
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = IoError> = std::result::Result<T, E>;
