//! The audit key: the secret that makes the audit chain tamper-evident against someone who can
//! write the database. It lives in a file outside the database (mode 0600), is never logged,
//! and is known in messages and in the audit rows only by its fingerprint.

use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::error::{RegistryError, Result};

/// The environment variable naming the audit key file.
pub const AUDIT_KEY_ENV: &str = "RISKSTREAM_AUDIT_KEY_FILE";

/// The shortest key accepted, in bytes: HMAC-SHA256's block of security.
pub const AUDIT_KEY_MIN_BYTES: usize = 32;

/// A secret key for the HMAC-SHA256 audit chain (scheme 2).
///
/// Cheap to clone (the bytes are shared). `Debug` and [`AuditKey::fingerprint`] show the
/// first 8 hex digits of `sha256(key)`, never the key.
#[derive(Clone)]
pub struct AuditKey {
    bytes: Arc<[u8]>,
    fingerprint: String,
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditKey")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl AuditKey {
    /// A key from bytes held elsewhere (a secrets manager). At least
    /// [`AUDIT_KEY_MIN_BYTES`] bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<AuditKey> {
        if bytes.len() < AUDIT_KEY_MIN_BYTES {
            return Err(RegistryError::AuditKey {
                source_name: "key".into(),
                reason: format!(
                    "is {} bytes long; at least {AUDIT_KEY_MIN_BYTES} are needed (e.g. \
                     `openssl rand -hex 32`)",
                    bytes.len()
                ),
            });
        }
        let digest = hex::encode(Sha256::digest(bytes));
        Ok(AuditKey {
            bytes: Arc::from(bytes),
            fingerprint: digest[..8].to_string(),
        })
    }

    /// Reads a key file. The key is the file's bytes; a file that is text (printable ASCII,
    /// e.g. `openssl rand -hex 32 > audit.key`) loses its trailing newline, so an editor's
    /// newline does not change the key. Refused: a file group or others may read (the key
    /// would not be secret: `chmod 600` it), a file shorter than 32 bytes.
    pub fn from_file(path: impl AsRef<Path>) -> Result<AuditKey> {
        let path = path.as_ref();
        let err = |reason: String| RegistryError::AuditKey {
            source_name: format!("key file {}", path.display()),
            reason,
        };
        let meta = std::fs::metadata(path).map_err(|e| {
            err(format!(
                "cannot read it: {e}; create one with `(umask 077; openssl rand -hex 32 > {})`",
                path.display()
            ))
        })?;
        if !meta.is_file() {
            return Err(err("is not a regular file".into()));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(err(format!(
                    "is readable by group or others (mode {mode:04o}), so the key is not secret; \
                     run `chmod 600 {}` (and consider rotating the key)",
                    path.display()
                )));
            }
        }
        let raw = std::fs::read(path).map_err(|e| err(format!("cannot read it: {e}")))?;
        let text_end = raw
            .iter()
            .rposition(|b| !matches!(b, b'\n' | b'\r'))
            .map_or(0, |i| i + 1);
        let is_text = raw[..text_end].iter().all(|b| (0x21..=0x7e).contains(b));
        let bytes = if is_text { &raw[..text_end] } else { &raw[..] };
        AuditKey::from_bytes(bytes).map_err(|e| match e {
            RegistryError::AuditKey { reason, .. } => err(reason),
            other => other,
        })
    }

    /// The key named by `RISKSTREAM_AUDIT_KEY_FILE`, or `None` when it is unset or empty.
    pub fn from_env() -> Result<Option<AuditKey>> {
        match std::env::var_os(AUDIT_KEY_ENV) {
            Some(p) if !p.is_empty() => AuditKey::from_file(&p).map(Some).map_err(|e| match e {
                RegistryError::AuditKey {
                    source_name,
                    reason,
                } => RegistryError::AuditKey {
                    source_name: format!("{source_name} (from {AUDIT_KEY_ENV})"),
                    reason,
                },
                other => other,
            }),
            _ => Ok(None),
        }
    }

    /// The first 8 hex digits of `sha256(key)`: names the key in messages and audit rows.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn debug_shows_only_the_fingerprint() {
        let key = AuditKey::from_bytes(&[0xab; 32]).unwrap();
        let shown = format!("{key:?}");
        assert!(shown.contains(key.fingerprint()), "{shown}");
        assert!(
            !shown.contains("ab, ab") && !shown.contains("abab"),
            "{shown}"
        );
        assert_eq!(key.fingerprint().len(), 8);
    }

    #[test]
    fn short_keys_are_refused() {
        let e = AuditKey::from_bytes(&[1; 31]).unwrap_err();
        assert!(e.to_string().contains("at least 32"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn key_files_must_be_owner_only_and_text_loses_its_newline() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.key");
        let hex64 = "0123456789abcdef".repeat(4);
        std::fs::write(&path, format!("{hex64}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = AuditKey::from_file(&path).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("chmod 600") && text.contains("0644"),
            "{text}"
        );
        assert_eq!(
            riskstream_core::Classify::class(&e),
            riskstream_core::ErrorClass::User
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let key = AuditKey::from_file(&path).unwrap();
        let same = AuditKey::from_bytes(hex64.as_bytes()).unwrap();
        assert_eq!(key.fingerprint(), same.fingerprint());
        let missing = AuditKey::from_file(dir.path().join("nope")).unwrap_err();
        assert!(missing.to_string().contains("openssl rand"), "{missing}");
    }
}
