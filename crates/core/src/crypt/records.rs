//! Records sealed one at a time under a file's data key, for append-only logs whose records
//! must each be durable on their own: the decision service's write-ahead log syncs a few
//! records at a time and cannot wait for a 256 KiB chunk of the stream format to fill.
//!
//! ```text
//!  file:    the 110-byte header of the stream format (magic, master key id, wrapped data
//!           key), then the log's own framing around each sealed record
//!  record:  AES-256-GCM(data key, nonce = 0u32 ‖ index u64, AAD = context ‖ index u64)
//!           ‖ 16-byte tag
//! ```
//!
//! Why this shape. The header is the stream format's, so `riskstream keys rewrap` re-wraps
//! such a file's data key in place like any other encrypted file, and a missing, unknown or
//! wrong master key is reported the same way. A fresh data key per file makes a counter a
//! safe nonce; the record's index in the file is in its nonce and its AAD, and the caller's
//! `context` (the log names its generation and segment) is in the AAD, so a record moved,
//! repeated, dropped from the middle or carried into another file fails to open rather than
//! being read in the wrong place.

use super::stream::{new_data_key, unwrap_data_key, HEADER_LEN};
use super::{CryptError, MasterKeys};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};

/// Bytes a sealed record is longer than its plaintext.
pub const RECORD_OVERHEAD: usize = 16;

fn nonce(index: u64) -> Nonce {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&index.to_be_bytes());
    Nonce::assume_unique_for_key(n)
}

fn aad(context: &[u8], index: u64) -> Vec<u8> {
    let mut a = Vec::with_capacity(context.len() + 8);
    a.extend_from_slice(context);
    a.extend_from_slice(&index.to_be_bytes());
    a
}

fn key(dek: &[u8; 32]) -> Result<LessSafeKey, CryptError> {
    UnboundKey::new(&AES_256_GCM, dek)
        .map(LessSafeKey::new)
        .map_err(|_| CryptError::Internal("AES-256-GCM refused a 32-byte key".into()))
}

/// Seals the records of one file, in order.
pub struct RecordSealer {
    key: LessSafeKey,
    header: [u8; HEADER_LEN],
    context: Vec<u8>,
    next: u64,
}

impl std::fmt::Debug for RecordSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordSealer")
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl RecordSealer {
    /// A new data key, wrapped by the primary master key, for a new file; `context` is
    /// bound into every record (the reader must give the same).
    pub fn new(keys: &MasterKeys, context: &[u8]) -> Result<Self, CryptError> {
        let (dek, header) = new_data_key(keys)?;
        Ok(Self {
            key: key(&dek)?,
            header,
            context: context.to_vec(),
            next: 0,
        })
    }

    /// The file's header: write it before the first record.
    pub fn header(&self) -> &[u8; HEADER_LEN] {
        &self.header
    }

    /// Seals the next record.
    pub fn seal(&mut self, plain: &[u8]) -> Result<Vec<u8>, CryptError> {
        let mut buf = Vec::with_capacity(plain.len() + RECORD_OVERHEAD);
        buf.extend_from_slice(plain);
        self.key
            .seal_in_place_append_tag(
                nonce(self.next),
                Aad::from(aad(&self.context, self.next)),
                &mut buf,
            )
            .map_err(|_| CryptError::Internal("sealing a record failed".into()))?;
        self.next += 1;
        Ok(buf)
    }
}

/// Opens the records of one file, in order.
pub struct RecordOpener {
    key: LessSafeKey,
    context: Vec<u8>,
    origin: String,
    next: u64,
}

impl std::fmt::Debug for RecordOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordOpener")
            .field("origin", &self.origin)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl RecordOpener {
    /// Unwraps the data key of a file whose first [`HEADER_LEN`] bytes are `header`; the
    /// errors of any encrypted file (no keys, an unknown or wrong key, a damaged header)
    /// name `origin`.
    pub fn new(
        header: &[u8],
        keys: Option<&MasterKeys>,
        context: &[u8],
        origin: &str,
    ) -> Result<Self, CryptError> {
        let dek = unwrap_data_key(header, keys, origin)?;
        Ok(Self {
            key: key(&dek)?,
            context: context.to_vec(),
            origin: origin.to_string(),
            next: 0,
        })
    }

    /// Opens the next record; `at` (a byte offset) names it in the error of one that does
    /// not authenticate.
    pub fn open(&mut self, mut sealed: Vec<u8>, at: u64) -> Result<Vec<u8>, CryptError> {
        let n = self
            .key
            .open_in_place(
                nonce(self.next),
                Aad::from(aad(&self.context, self.next)),
                &mut sealed,
            )
            .map_err(|_| CryptError::Damaged {
                path: self.origin.clone(),
                what: format!(
                    "record {} at byte {at} does not authenticate: changed, moved or from another file",
                    self.next
                ),
            })?
            .len();
        sealed.truncate(n);
        self.next += 1;
        Ok(sealed)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn keys(spec: &str) -> MasterKeys {
        MasterKeys::parse_inline(spec, "test").unwrap()
    }

    const A: &str = "a:0000000000000000000000000000000000000000000000000000000000000001";
    const B: &str = "b:0000000000000000000000000000000000000000000000000000000000000002";

    #[test]
    fn records_open_in_order_and_only_there() {
        let k = keys(A);
        let mut s = RecordSealer::new(&k, b"g1").unwrap();
        let sealed: Vec<Vec<u8>> = ["one", "two", "three"]
            .iter()
            .map(|p| s.seal(p.as_bytes()).unwrap())
            .collect();
        assert!(sealed.iter().all(|c| !c.windows(3).any(|w| w == b"two")));
        assert_eq!(sealed[0].len(), 3 + RECORD_OVERHEAD);
        let mut o = RecordOpener::new(s.header(), Some(&k), b"g1", "f").unwrap();
        for (c, want) in sealed.iter().zip(["one", "two", "three"]) {
            assert_eq!(o.open(c.clone(), 0).unwrap(), want.as_bytes());
        }
        // Out of order, another context, a flipped byte: refused.
        let mut o = RecordOpener::new(s.header(), Some(&k), b"g1", "f").unwrap();
        assert!(matches!(
            o.open(sealed[1].clone(), 7),
            Err(CryptError::Damaged { .. })
        ));
        let mut o = RecordOpener::new(s.header(), Some(&k), b"g2", "f").unwrap();
        assert!(o.open(sealed[0].clone(), 0).is_err());
        let mut bad = sealed[0].clone();
        bad[1] ^= 1;
        let mut o = RecordOpener::new(s.header(), Some(&k), b"g1", "f").unwrap();
        let e = o.open(bad, 12).unwrap_err().to_string();
        assert!(
            e.contains("byte 12") && e.contains("does not authenticate"),
            "{e}"
        );
    }

    #[test]
    fn the_header_needs_its_master_key() {
        let k = keys(A);
        let s = RecordSealer::new(&k, b"c").unwrap();
        assert!(matches!(
            RecordOpener::new(s.header(), None, b"c", "f"),
            Err(CryptError::NoKeys { .. })
        ));
        assert!(matches!(
            RecordOpener::new(s.header(), Some(&keys(B)), b"c", "f"),
            Err(CryptError::UnknownKey { .. })
        ));
        let other = "a:00000000000000000000000000000000000000000000000000000000000000ff";
        assert!(matches!(
            RecordOpener::new(s.header(), Some(&keys(other)), b"c", "f"),
            Err(CryptError::WrongKey { .. })
        ));
    }
}
