//! Errors the registry can return.
//!
//! The split follows `riskstream_core::ErrorClass`: a bad name, a refused stage change or an
//! unknown id is the caller's ([`ErrorClass::User`], the message says what to do); a database
//! that cannot be reached or fails a statement is [`ErrorClass::External`] (retry or alert);
//! stored data that we cannot read back is [`ErrorClass::Internal`].
//!
//! Database errors are kept as boxed sources so that sqlx stays an implementation detail.

use riskstream_core::{Classify, ErrorClass};

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong in a registry operation.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The store URL is malformed or names something that cannot exist.
    #[error("registry URL {url}: {reason}")]
    BadUrl {
        /// The URL with any password replaced by `***`.
        url: String,
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// Connecting to the store failed.
    #[error("cannot open registry {url}: {source}")]
    Open {
        /// The URL with any password replaced by `***`.
        url: String,
        /// The driver's error.
        #[source]
        source: BoxError,
    },
    /// The schema migrations failed (or the database was migrated by a newer release).
    #[error("registry {url}: migrating the schema failed: {source}")]
    Migrate {
        /// The URL with any password replaced by `***`.
        url: String,
        /// The migrator's error.
        #[source]
        source: BoxError,
    },
    /// A statement failed.
    #[error("registry database error while {context}: {source}")]
    Database {
        /// What the registry was doing.
        context: &'static str,
        /// The driver's error.
        #[source]
        source: BoxError,
    },
    /// Nothing with this id or name exists.
    #[error("{what} `{id}` not found")]
    NotFound {
        /// What was looked up ("artifact", "deployment", "API key").
        what: &'static str,
        /// The id, prefix or name given.
        id: String,
    },
    /// An id prefix matches more than one artifact.
    #[error("artifact id prefix `{prefix}` is ambiguous: it matches {}; give more characters", matches.join(", "))]
    Ambiguous {
        /// The prefix given.
        prefix: String,
        /// Some of the ids it matches.
        matches: Vec<String>,
    },
    /// An argument is out of range or malformed.
    #[error("{what}: {reason}")]
    Invalid {
        /// Which argument.
        what: String,
        /// Why it is refused and what is allowed.
        reason: String,
    },
    /// An artifact of another kind was given (e.g. a policy where a model is expected).
    #[error("artifact {id} is a {found}, not a {expected}")]
    WrongKind {
        /// The artifact id.
        id: String,
        /// The kind the operation needs.
        expected: crate::ArtifactKind,
        /// The artifact's kind.
        found: crate::ArtifactKind,
    },
    /// The change contradicts what is stored (a duplicate name, demoting the champion, …).
    #[error("{0}")]
    Conflict(String),
    /// The background audit writer could not store some records.
    #[error("the audit writer lost {failed} record(s) after retrying: {last_error}")]
    AuditWrite {
        /// Records dropped since the previous flush.
        failed: u64,
        /// The last database error.
        last_error: String,
    },
    /// The audit key cannot be used (missing, too short, readable by others).
    #[error("audit {source_name} {reason}")]
    AuditKey {
        /// Where the key came from (`key file /etc/rs/audit.key`).
        source_name: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// The audit chain is keyed but this handle has no key: an unkeyed row after keyed ones
    /// would make the chain look rewritten, so the append is refused.
    #[error(
        "the audit log is keyed (row {seq} was written with audit key {fingerprint}) but this \
         registry was opened without an audit key; set {env}=/path/to/the/key/file (mode 0600) \
         or open it with RegistryOptions::with_audit_key",
        env = crate::AUDIT_KEY_ENV
    )]
    AuditKeyRequired {
        /// The keyed row at the head of the chain.
        seq: i64,
        /// The fingerprint of the key that wrote it.
        fingerprint: String,
    },
    /// Stored data is not what this release writes (a bug, or a hand-edited database).
    #[error("registry data is corrupt: {0}")]
    Corrupt(String),
    /// A model artifact stored encrypted cannot be opened (no or a wrong master key, a
    /// damaged value), or encrypting one failed.
    #[error(transparent)]
    Crypt(#[from] riskstream_core::crypt::CryptError),
}

impl RegistryError {
    /// Shorthand for [`RegistryError::Invalid`].
    pub(crate) fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        RegistryError::Invalid {
            what: what.into(),
            reason: reason.into(),
        }
    }
}

impl Classify for RegistryError {
    fn class(&self) -> ErrorClass {
        match self {
            RegistryError::Open { .. }
            | RegistryError::Migrate { .. }
            | RegistryError::Database { .. }
            | RegistryError::AuditWrite { .. } => ErrorClass::External,
            RegistryError::Corrupt(_) => ErrorClass::Internal,
            RegistryError::Crypt(e) => e.class(),
            RegistryError::BadUrl { .. }
            | RegistryError::NotFound { .. }
            | RegistryError::Ambiguous { .. }
            | RegistryError::Invalid { .. }
            | RegistryError::WrongKind { .. }
            | RegistryError::Conflict(_)
            | RegistryError::AuditKey { .. }
            | RegistryError::AuditKeyRequired { .. } => ErrorClass::User,
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

/// Adds what the registry was doing to a driver error.
pub(crate) trait DbContext<T> {
    fn ctx(self, context: &'static str) -> Result<T>;
}

impl<T> DbContext<T> for std::result::Result<T, sqlx::Error> {
    fn ctx(self, context: &'static str) -> Result<T> {
        self.map_err(|e| RegistryError::Database {
            context,
            source: Box::new(e),
        })
    }
}
