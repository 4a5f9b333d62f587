//! Connector errors: the broker or file system failed (external), or the setup is wrong (user).

use riskstream_core::{Classify, ErrorClass};

/// What went wrong in a source or sink.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// The broker could not be reached or refused the request.
    #[error("{what} ({url}): {message}")]
    Broker {
        /// What was being done.
        what: String,
        /// The broker.
        url: String,
        /// Its answer.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The position or setup does not fit what is there.
    #[error("{0}")]
    Setup(String),
    /// An encrypted file (a log, an output) could not be opened, read or continued: no or
    /// a wrong master key, damage, a plain file where encryption is on. Names the file.
    #[error(transparent)]
    Crypt(#[from] riskstream_core::crypt::CryptError),
}

impl Classify for ConnectorError {
    fn class(&self) -> ErrorClass {
        match self {
            ConnectorError::Broker { .. } | ConnectorError::Io { .. } => ErrorClass::External,
            ConnectorError::Setup(_) => ErrorClass::User,
            ConnectorError::Crypt(e) => e.class(),
        }
    }
}
