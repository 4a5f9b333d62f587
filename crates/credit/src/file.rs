//! Credit model files on disk: the scorecard's and the credit GBDT's versioned JSON,
//! encrypted at rest when master keys are configured.
//!
//! Why here and not in the CLI: a scorecard holds the applicants' binning edges, category
//! lists and event rates, so it is customers' data like any model file, and every writer
//! and reader of it goes through these two functions, the way `riskstream-learn`'s
//! `ModelFile` does. Readers tell an encrypted file by its header
//! ([`riskstream_core::crypt`]), so files from before and after encryption was switched on
//! both read; a wrong key, a flipped byte or a cut file is an error naming the file.

use crate::error::{CreditError, Result};
use riskstream_core::crypt::{self, CryptError};
use std::path::Path;

fn from_crypt(e: CryptError) -> CreditError {
    match e {
        CryptError::Io { path, source, .. } => CreditError::Io { path, source },
        // The message names the file and what is wrong (key, damage, truncation).
        e => CreditError::File {
            reason: e.to_string(),
        },
    }
}

/// Writes a model's JSON (`Scorecard::to_json`, `CreditGbdt::to_json`) durably and
/// atomically, owner-only, encrypted when master keys are configured.
pub fn save(path: &Path, json: &str) -> Result<()> {
    crypt::write_file(path, json.as_bytes()).map_err(from_crypt)
}

/// A model file's JSON text, decrypted when it is encrypted.
pub fn read_text(path: &Path) -> Result<String> {
    let bytes = crypt::read_file(path).map_err(from_crypt)?;
    text_of(bytes, &path.display().to_string())
}

/// The JSON text of a model file's bytes (plain or encrypted); `origin` names it in errors.
pub fn text_of(bytes: Vec<u8>, origin: &str) -> Result<String> {
    let plain = crypt::open_if_sealed(bytes, origin).map_err(from_crypt)?;
    String::from_utf8(plain).map_err(|e| CreditError::File {
        reason: format!("{origin}: not a JSON model file ({e})"),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn plain_files_read_back_and_an_encrypted_one_needs_its_key() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("card.json");
        std::fs::write(&p, "{\"kind\":\"scorecard\"}").unwrap();
        assert_eq!(read_text(&p).unwrap(), "{\"kind\":\"scorecard\"}");
        // Sealed under a key this process does not hold: refused, naming the file.
        let k = riskstream_core::crypt::MasterKeys::parse_inline(
            "m9:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            "test",
        )
        .unwrap();
        let sealed = crypt::seal_bytes(&k, b"{\"kind\":\"scorecard\"}").unwrap();
        let e = text_of(sealed, "card.json").unwrap_err().to_string();
        assert!(e.contains("card.json") && e.contains("m9"), "{e}");
        let e = read_text(&d.path().join("missing.json")).unwrap_err();
        assert!(matches!(e, CreditError::Io { .. }), "{e}");
    }
}
