//! Encryption at rest: AES-256-GCM with envelope keys, for every file riskstream writes that
//! holds customers' data (checkpoints, dead letters, CSV/NDJSON outputs, model files).
//!
//! ```text
//!   master keys (file or environment, ids, one primary)
//!        │ wraps (AES-256-GCM, key = HMAC-SHA-256(secret, label))
//!        ▼
//!   data key: 32 random bytes, one per file ──▶ seals the file's chunks (AES-256-GCM)
//!        │
//!        ▼
//!   file = header (magic, version, key id, wrapped data key, nonce prefix) ‖ chunks
//! ```
//!
//! Why envelope keys: rotating a master key then means re-wrapping 48 bytes per file
//! (`riskstream keys rewrap`), not re-encrypting gigabytes, and a running service keeps
//! going while it happens (old and new keys are both loaded until the rewrap is done). Why
//! a header rather than a config flag: readers tell an encrypted file by its first bytes, so
//! the same command reads files written before and after encryption was switched on, and a
//! file never decrypts with a guessed key: the header names the master key it needs.
//!
//! Master keys use the PII key file format ([`crate::pii::Keys`]): `active` names the
//! primary key new files are written with. [`MASTER_KEYS_FILE_ENV`] names such a file (it
//! must be owner-only: mode 0600), or [`MASTER_KEYS_ENV`] holds `id:hex,id:hex` inline (the
//! first is primary). When neither is set, files are written in clear, as before, and an
//! encrypted file met on reading is a clear error naming the key it needs.
//!
//! The cipher is `ring`'s AES-256-GCM (already compiled into every riskstream binary for
//! TLS, constant-time and hardware-accelerated); the file format is in [`stream`].

pub mod records;
pub mod stream;
pub mod tail;

pub use records::{RecordOpener, RecordSealer, RECORD_OVERHEAD};
pub use stream::{
    is_sealed, key_id_of, new_data_key, open_bytes, rewrap_file, seal_bytes, unwrap_data_key,
    wrap_data_key, OpenReader, Rewrapped, SealWriter, CHUNK, HEADER_LEN, MAGIC, VERSION,
};
pub use tail::OpenTail;

use crate::diag::{Diagnostic, Diagnostics};
use crate::error::{Classify, ErrorClass};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use zeroize::Zeroizing;

/// The variable naming the master key file.
pub const MASTER_KEYS_FILE_ENV: &str = "RISKSTREAM_MASTER_KEYS_FILE";
/// The variable holding master keys inline (`id:hex,id:hex`, the first primary).
pub const MASTER_KEYS_ENV: &str = "RISKSTREAM_MASTER_KEYS";

/// Why an encrypted file could not be written or read. Each names the file.
#[derive(Debug)]
pub enum CryptError {
    /// The file is encrypted and no master keys are configured.
    NoKeys {
        /// The file.
        path: String,
        /// The master key id its header names.
        key_id: String,
    },
    /// The file names a master key that is not loaded.
    UnknownKey {
        /// The file.
        path: String,
        /// The master key id its header names.
        key_id: String,
        /// The ids that are loaded.
        loaded: String,
    },
    /// The named key does not open the file's data key: another secret under the same id,
    /// or a damaged header.
    WrongKey {
        /// The file.
        path: String,
        /// The master key id its header names.
        key_id: String,
    },
    /// A chunk or the header fails its check.
    Damaged {
        /// The file.
        path: String,
        /// What is wrong, and where.
        what: String,
    },
    /// The file ends early.
    Truncated {
        /// The file.
        path: String,
        /// Where it ends.
        what: String,
    },
    /// Written by a newer format version.
    Version {
        /// The file.
        path: String,
        /// The version its header says.
        version: u8,
    },
    /// Encrypted data would be appended to a file that holds plain data (written before
    /// encryption was switched on): the file would mix the two.
    Plain {
        /// The file.
        path: String,
    },
    /// The master key configuration is wrong (every problem at once).
    Keys(String),
    /// The disk failed.
    Io {
        /// The file.
        path: String,
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A bug or a broken platform (e.g. no random numbers).
    Internal(String),
}

impl std::fmt::Display for CryptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CryptError::NoKeys { path, key_id } => write!(
                f,
                "{path}: encrypted with master key `{key_id}`, but no master keys are configured (hint: set {MASTER_KEYS_FILE_ENV} to the key file that holds `{key_id}`)"
            ),
            CryptError::UnknownKey { path, key_id, loaded } => write!(
                f,
                "{path}: encrypted with master key `{key_id}`, which is not loaded (loaded: {loaded}) (hint: add `{key_id}` back to the master key file; remove an old key only after `riskstream keys rewrap`)"
            ),
            CryptError::WrongKey { path, key_id } => write!(
                f,
                "{path}: master key `{key_id}` does not open this file: the loaded secret for `{key_id}` is not the one it was written with, or the header is damaged"
            ),
            CryptError::Damaged { path, what } => write!(
                f,
                "{path}: encrypted file is damaged: {what} (hint: nothing of it is used; restore the file from a copy or move it away)"
            ),
            CryptError::Truncated { path, what } => {
                write!(f, "{path}: encrypted file is truncated: {what}")
            }
            CryptError::Version { path, version } => write!(
                f,
                "{path}: encrypted with format version {version}; this riskstream reads version {VERSION} (hint: read it with the newer riskstream that wrote it)"
            ),
            CryptError::Plain { path } => write!(
                f,
                "{path}: holds data in clear, and master keys are configured: encrypted data cannot be appended to it (hint: move the file away, or finish it with the master keys unset)"
            ),
            CryptError::Keys(d) => write!(f, "master keys: {d}"),
            CryptError::Io { path, what, source } => write!(f, "{path}: {what}: {source}"),
            CryptError::Internal(m) => write!(f, "internal error in encryption: {m}"),
        }
    }
}

impl std::error::Error for CryptError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CryptError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl Classify for CryptError {
    fn class(&self) -> ErrorClass {
        match self {
            CryptError::Io { .. } => ErrorClass::External,
            CryptError::Internal(_) => ErrorClass::Internal,
            _ => ErrorClass::User,
        }
    }
}

impl CryptError {
    /// Recovers the `CryptError` an [`OpenReader`] put inside a `std::io::Error`; any other
    /// I/O error becomes [`CryptError::Io`] on `origin`.
    pub fn from_io(e: std::io::Error, origin: &str, what: &str) -> CryptError {
        if e.get_ref().is_some_and(|i| i.is::<CryptError>()) {
            if let Some(Ok(c)) = e.into_inner().map(|i| i.downcast::<CryptError>()) {
                return *c;
            }
            return CryptError::Internal("lost an error while unwrapping it".into());
        }
        CryptError::Io {
            path: origin.to_string(),
            what: what.to_string(),
            source: e,
        }
    }
}

/// The label the key-wrapping key is derived under (so a master secret shared by mistake
/// with the PII keys still gives an unrelated AES key).
const KEK_LABEL: &[u8] = b"riskstream master key v1: AES-256-GCM data key wrapping";

/// Master keys: ids, derived key-wrapping keys (wiped on drop, never printed), one primary.
#[derive(Clone)]
pub struct MasterKeys {
    keys: Arc<Vec<(String, Zeroizing<[u8; 32]>)>>,
    primary: usize,
}

impl std::fmt::Debug for MasterKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKeys")
            .field("ids", &self.ids())
            .field("primary", &self.primary().0)
            .finish()
    }
}

impl MasterKeys {
    fn from_pii(k: &crate::pii::Keys) -> MasterKeys {
        let ids = k.ids();
        let keys = ids
            .iter()
            .zip(k.secrets())
            .map(|(id, secret)| {
                let tag = ring::hmac::sign(
                    &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret),
                    KEK_LABEL,
                );
                let mut kek = Zeroizing::new([0u8; 32]);
                kek.copy_from_slice(tag.as_ref());
                (id.to_string(), kek)
            })
            .collect();
        MasterKeys {
            keys: Arc::new(keys),
            primary: k.active_index(),
        }
    }

    /// Parses a master key file's text (the PII key file format: `active`, `[[key]]`).
    pub fn parse_toml(text: &str, origin: &str) -> Result<MasterKeys, Diagnostics> {
        crate::pii::Keys::parse_toml(text, origin).map(|k| Self::from_pii(&k))
    }

    /// Parses `id:hex,id:hex` (the first key is primary).
    pub fn parse_inline(text: &str, origin: &str) -> Result<MasterKeys, Diagnostics> {
        crate::pii::Keys::parse_inline(text, origin).map(|k| Self::from_pii(&k))
    }

    /// Reads a master key file; refused when others than its owner may read it.
    pub fn from_file(path: &Path) -> Result<MasterKeys, Diagnostics> {
        check_owner_only(path)?;
        crate::pii::Keys::from_file(path).map(|k| Self::from_pii(&k))
    }

    /// Reads the master keys the environment names ([`MASTER_KEYS_FILE_ENV`] or
    /// [`MASTER_KEYS_ENV`]); `None` when neither is set.
    pub fn from_env() -> Result<Option<MasterKeys>, Diagnostics> {
        if let Some(p) = std::env::var_os(MASTER_KEYS_FILE_ENV).filter(|v| !v.is_empty()) {
            check_owner_only(Path::new(&p))?;
        }
        crate::pii::Keys::from_env_vars(MASTER_KEYS_FILE_ENV, MASTER_KEYS_ENV)
            .map(|k| k.map(|k| Self::from_pii(&k)))
    }

    /// The key ids, in file order.
    pub fn ids(&self) -> Vec<&str> {
        self.keys.iter().map(|(id, _)| id.as_str()).collect()
    }

    /// The primary key's id and key-wrapping key.
    fn primary(&self) -> (&str, &[u8]) {
        let (id, k) = &self.keys[self.primary];
        (id, &k[..])
    }

    /// The primary key's id: new files are written with it.
    pub fn primary_id(&self) -> &str {
        self.primary().0
    }

    fn get(&self, id: &str) -> Option<&[u8]> {
        self.keys.iter().find(|(i, _)| i == id).map(|(_, k)| &k[..])
    }
}

#[cfg(unix)]
fn check_owner_only(path: &Path) -> Result<(), Diagnostics> {
    use std::os::unix::fs::PermissionsExt;
    let mut d = Diagnostics::new(path.display().to_string());
    match std::fs::metadata(path) {
        Ok(m) if m.permissions().mode() & 0o077 != 0 => d.push(
            Diagnostic::new(
                "",
                format!(
                    "may be read by others than its owner (mode {:o})",
                    m.permissions().mode() & 0o777
                ),
            )
            .hint(format!(
                "run `chmod 600 {}`: it holds the keys to every encrypted file",
                path.display()
            )),
        ),
        Ok(_) => {}
        // Reading reports a missing file with its own message.
        Err(_) => {}
    }
    d.finish(())
}

#[cfg(not(unix))]
fn check_owner_only(_path: &Path) -> Result<(), Diagnostics> {
    Ok(())
}

static ENV_KEYS: OnceLock<Result<Option<MasterKeys>, String>> = OnceLock::new();

/// The master keys from the environment, read once per process: `Ok(None)` when encryption
/// is off. Commands call this first, so a bad key file stops them before they do anything.
pub fn env_keys() -> Result<Option<MasterKeys>, CryptError> {
    ENV_KEYS
        .get_or_init(|| MasterKeys::from_env().map_err(|d| d.to_string()))
        .clone()
        .map_err(CryptError::Keys)
}

/// Encrypts `bytes` when master keys are configured; as they are otherwise.
pub fn seal_if_configured(bytes: Vec<u8>) -> Result<Vec<u8>, CryptError> {
    match env_keys()? {
        Some(k) => seal_bytes(&k, &bytes),
        None => Ok(bytes),
    }
}

/// Decrypts `bytes` when they are an encrypted file (with the environment's master keys);
/// returns them as they are otherwise. A damaged header is an error, not plain data.
pub fn open_if_sealed(bytes: Vec<u8>, origin: &str) -> Result<Vec<u8>, CryptError> {
    if is_sealed(&bytes) {
        let keys = env_keys()?;
        open_bytes(keys.as_ref(), &bytes, origin)
    } else if stream::near_magic(&bytes) {
        Err(CryptError::Damaged {
            path: origin.to_string(),
            what: "header: the magic bytes are wrong".into(),
        })
    } else {
        Ok(bytes)
    }
}

/// Whether a file's first bytes (at least the 8 of the magic, when it has them) start an
/// encrypted file; a magic with a byte or two wrong is an error, not plain data.
pub fn sniff(head: &[u8], origin: &str) -> Result<bool, CryptError> {
    if stream::near_magic(head) {
        return Err(CryptError::Damaged {
            path: origin.to_string(),
            what: "header: the magic bytes are wrong".into(),
        });
    }
    Ok(is_sealed(head))
}

/// [`crate::fs::write_atomic`], encrypted when master keys are configured.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), CryptError> {
    let origin = path.display().to_string();
    let io = |source| CryptError::Io {
        path: origin.clone(),
        what: "writing".into(),
        source,
    };
    match env_keys()? {
        Some(k) => crate::fs::write_atomic(path, &seal_bytes(&k, bytes)?).map_err(io),
        None => crate::fs::write_atomic(path, bytes).map_err(io),
    }
}

/// Reads a whole file, decrypting it when it is encrypted.
pub fn read_file(path: &Path) -> Result<Vec<u8>, CryptError> {
    let origin = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| CryptError::Io {
        path: origin.clone(),
        what: "reading".into(),
        source,
    })?;
    open_if_sealed(bytes, &origin)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const S1: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn keys_are_not_printed_and_the_first_inline_key_is_primary() {
        let k = MasterKeys::parse_inline(&format!("m2:{S1}ff,m1:{S1}"), "env").unwrap();
        assert_eq!(k.primary_id(), "m2");
        assert_eq!(k.ids(), ["m2", "m1"]);
        let shown = format!("{k:?}");
        assert!(!shown.contains(S1) && shown.contains("m2"), "{shown}");
    }

    #[test]
    fn io_errors_from_a_reader_keep_their_type() {
        let inner = CryptError::Truncated {
            path: "f".into(),
            what: "x".into(),
        };
        let e = std::io::Error::new(std::io::ErrorKind::InvalidData, inner);
        assert!(matches!(
            CryptError::from_io(e, "f", "reading"),
            CryptError::Truncated { .. }
        ));
        let plain = std::io::Error::other("disk");
        assert!(matches!(
            CryptError::from_io(plain, "f", "reading"),
            CryptError::Io { .. }
        ));
    }
}
