//! Parquet outputs encrypted at rest with Parquet's own modular encryption.
//!
//! Every other file riskstream writes is encrypted whole (`riskstream_core::crypt`), but a
//! Parquet file wrapped that way would no longer be a Parquet file: no other tool could
//! read it even with the key, and a reader could not fetch one column or row group without
//! decrypting everything before it. Parquet's modular encryption (the format's own, read by
//! Arrow C++/pyarrow, Spark and parquet-mr with the key) encrypts each page and the footer
//! separately with AES-GCM and leaves the file a Parquet file. So when master keys are
//! configured:
//!
//! ```text
//!  master keys (RISKSTREAM_MASTER_KEYS_FILE)
//!       │ wrap (crypt::new_data_key: the 110-byte header of an encrypted file)
//!       ▼
//!  data key, 32 random bytes per file ──▶ footer and every column (uniform encryption,
//!       │                                  AES_GCM_V1: pages, page headers, footer)
//!       ▼
//!  footer key metadata = that header: the master key id, the wrapped data key
//! ```
//!
//! * **Why the same header.** The key metadata names the master key and holds the data key
//!   wrapped by it, authenticated, exactly as an encrypted file's header does, so the same
//!   errors come out of the same code: no keys configured, a key that is not loaded, the
//!   wrong secret under a loaded id. A reader needs only the master keys, never a key per
//!   file.
//! * **Footer encrypted too** ("PARE" magic): the schema, column names and statistics (min
//!   and max of each column chunk can be a customer's value) are not left in clear.
//! * **Reading.** [`reader_builder`] opens any Parquet file: a plain one as before, an
//!   encrypted one with the environment's master keys. Without them the error names the
//!   key the file needs; a changed byte fails AES-GCM's check (a page, a header or the
//!   footer), so a damaged file is an error, never other data.
//! * **Rotation.** The key metadata sits in the plaintext crypto metadata just before the
//!   encrypted footer and has a fixed size, so [`rewrap_file`] (`riskstream keys rewrap`)
//!   replaces those 110 bytes in place, as for every encrypted file: same data key, wrapped
//!   by the primary master key; pages and footer are not touched (the key metadata is not
//!   part of any AES-GCM check, the data key is).
//!
//! The cipher is `ring`'s AES-GCM (the `parquet` crate's `encryption` feature), which every
//! riskstream binary compiles already for TLS and `crypt`.

use crate::error::{IoError, Result};
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::encryption::decrypt::{FileDecryptionProperties, KeyRetriever};
use parquet::encryption::encrypt::FileEncryptionProperties;
use parquet::errors::ParquetError;
use riskstream_core::crypt::{CryptError, MasterKeys, Rewrapped};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The last four bytes of a Parquet file whose footer is encrypted (plain: `PAR1`).
const ENCRYPTED_MAGIC: &[u8; 4] = b"PARE";

/// The encryption properties for a new Parquet file at `path`: a fresh data key wrapped by
/// the primary master key, when master keys are configured; `None` otherwise.
pub(crate) fn encryption(path: &Path) -> Result<Option<Arc<FileEncryptionProperties>>> {
    let Some(keys) = riskstream_core::crypt::env_keys()? else {
        return Ok(None);
    };
    encryption_with(&keys, path).map(Some)
}

fn encryption_with(keys: &MasterKeys, path: &Path) -> Result<Arc<FileEncryptionProperties>> {
    let (dek, header) = riskstream_core::crypt::new_data_key(keys)?;
    FileEncryptionProperties::builder(dek.to_vec())
        .with_footer_key_metadata(header.to_vec())
        .build()
        .map_err(|source| IoError::Parquet {
            path: path.to_path_buf(),
            source,
        })
}

/// True when the Parquet file's footer is encrypted (modular encryption).
fn is_encrypted(file: &mut File, path: &Path) -> Result<bool> {
    let io = |source| IoError::Io {
        path: path.to_path_buf(),
        what: "reading the Parquet footer".into(),
        source,
    };
    let len = file.metadata().map_err(io)?.len();
    if len < 4 {
        return Ok(false);
    }
    let mut tail = [0u8; 4];
    file.seek(SeekFrom::End(-4)).map_err(io)?;
    file.read_exact(&mut tail).map_err(io)?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    Ok(&tail == ENCRYPTED_MAGIC)
}

/// A reader of the Parquet file `path`: plain, or encrypted by `encryption` and opened
/// with the environment's master keys (see the module docs).
pub fn reader_builder(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>> {
    let keys = if peek_encrypted(path)? {
        riskstream_core::crypt::env_keys()?
    } else {
        None
    };
    reader_builder_with(path, keys.as_ref())
}

fn peek_encrypted(path: &Path) -> Result<bool> {
    let mut f = File::open(path).map_err(|source| IoError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    is_encrypted(&mut f, path)
}

/// [`reader_builder`] with the given master keys (`None`: none configured).
pub fn reader_builder_with(
    path: &Path,
    keys: Option<&MasterKeys>,
) -> Result<ParquetRecordBatchReaderBuilder<File>> {
    let mut f = File::open(path).map_err(|source| IoError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let perr = |source| IoError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    if !is_encrypted(&mut f, path)? {
        return ParquetRecordBatchReaderBuilder::try_new(f).map_err(perr);
    }
    let retriever = Arc::new(Retriever {
        keys: keys.cloned(),
        origin: path.display().to_string(),
        failed: Mutex::new(None),
    });
    let props = FileDecryptionProperties::with_key_retriever(retriever.clone())
        .build()
        .map_err(perr)?;
    let opts = ArrowReaderOptions::new().with_file_decryption_properties(props);
    ParquetRecordBatchReaderBuilder::try_new_with_options(f, opts).map_err(|e| {
        // The key problem, typed and worded as for every encrypted file, rather than the
        // Parquet error that carries it.
        match retriever.failed.lock().ok().and_then(|mut f| f.take()) {
            Some(c) => IoError::Crypt(c),
            None => perr(e),
        }
    })
}

/// Re-wraps an encrypted Parquet file's data key with the primary master key, in place
/// (see the module docs); a file that is not an encrypted Parquet file is
/// [`Rewrapped::Plain`].
pub fn rewrap_file(path: &Path, keys: &MasterKeys) -> Result<Rewrapped> {
    use riskstream_core::crypt::{HEADER_LEN, MAGIC};
    use std::io::Write;
    let origin = path.display().to_string();
    let io = |what: &str| {
        let (path, what) = (path.to_path_buf(), what.to_string());
        move |source| IoError::Io { path, what, source }
    };
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|source| IoError::Open {
            path: path.to_path_buf(),
            source,
        })?;
    if !is_encrypted(&mut f, path)? {
        return Ok(Rewrapped::Plain);
    }
    // The file ends with: crypto metadata ‖ encrypted footer ‖ u32 LE length of both ‖ PARE.
    let len = f.metadata().map_err(io("reading"))?.len();
    let mut tail = [0u8; 8];
    f.seek(SeekFrom::End(-8)).map_err(io("seeking"))?;
    f.read_exact(&mut tail)
        .map_err(io("reading the footer length"))?;
    let footer = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    let damaged = |what: &str| {
        IoError::Crypt(CryptError::Damaged {
            path: origin.clone(),
            what: what.to_string(),
        })
    };
    let start = len
        .checked_sub(8 + footer)
        .ok_or_else(|| damaged("the Parquet footer length is longer than the file"))?;
    // The crypto metadata is a few hundred bytes: the algorithm and the key metadata.
    let mut head = vec![0u8; usize::try_from(footer.min(512)).unwrap_or(512)];
    f.seek(SeekFrom::Start(start)).map_err(io("seeking"))?;
    f.read_exact(&mut head)
        .map_err(io("reading the crypto metadata"))?;
    let at = head
        .windows(MAGIC.len())
        .position(|w| w == MAGIC)
        .filter(|&i| i + HEADER_LEN <= head.len())
        .ok_or_else(|| damaged("no riskstream key header in the Parquet crypto metadata"))?;
    let old = &head[at..at + HEADER_LEN];
    let id = riskstream_core::crypt::key_id_of(old, &origin)?.unwrap_or_default();
    if id == keys.primary_id() {
        return Ok(Rewrapped::Current);
    }
    let dek = riskstream_core::crypt::unwrap_data_key(old, Some(keys), &origin)?;
    let new = riskstream_core::crypt::wrap_data_key(keys, &dek)?;
    f.seek(SeekFrom::Start(start + at as u64))
        .map_err(io("seeking"))?;
    f.write_all(&new)
        .and_then(|()| f.sync_data())
        .map_err(io("writing the new key header"))?;
    Ok(Rewrapped::From(id))
}

/// Unwraps a file's data key from its footer key metadata with the master keys.
struct Retriever {
    keys: Option<MasterKeys>,
    origin: String,
    /// The typed error of the last failed unwrap (the Parquet error only carries text).
    failed: Mutex<Option<CryptError>>,
}

impl KeyRetriever for Retriever {
    fn retrieve_key(&self, key_metadata: &[u8]) -> parquet::errors::Result<Vec<u8>> {
        match riskstream_core::crypt::unwrap_data_key(
            key_metadata,
            self.keys.as_ref(),
            &self.origin,
        ) {
            Ok(k) => Ok(k.to_vec()),
            Err(e) => {
                let text = e.to_string();
                if let Ok(mut f) = self.failed.lock() {
                    *f = Some(e);
                }
                Err(ParquetError::General(text))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{BatchWriter, WriteOptions};
    use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};

    fn keys(s: &str) -> MasterKeys {
        MasterKeys::parse_inline(&format!("m1:{}", s.repeat(32)), "test").unwrap()
    }

    fn batches() -> Vec<RecordBatch> {
        (0..3)
            .map(|k| {
                let ids: Vec<i64> = (k * 1000..k * 1000 + 1000).collect();
                let pans: Vec<String> = ids.iter().map(|i| format!("card-{}", i % 37)).collect();
                let xs: Vec<f64> = ids.iter().map(|&i| i as f64 / 7.0).collect();
                RecordBatch::try_from_iter([
                    ("id", Arc::new(Int64Array::from(ids)) as ArrayRef),
                    ("card", Arc::new(StringArray::from(pans)) as ArrayRef),
                    ("x", Arc::new(Float64Array::from(xs)) as ArrayRef),
                ])
                .unwrap()
            })
            .collect()
    }

    fn write(path: &Path, keys: Option<&MasterKeys>) {
        let b = batches();
        let opts = WriteOptions {
            row_group_rows: 1500,
            ..Default::default()
        };
        let enc = keys.map(|k| encryption_with(k, path).unwrap());
        let mut w = BatchWriter::create_parquet(path, b[0].schema(), &opts, enc).unwrap();
        for x in &b {
            w.write(x).unwrap();
        }
        w.finish().unwrap();
    }

    /// Reads `path` with `keys`: `None` the plain Parquet reader (no decryption at all),
    /// `Some(None)` ours with no master keys configured.
    fn read(path: &Path, keys: Option<Option<&MasterKeys>>) -> Result<Vec<RecordBatch>> {
        let perr = |source| IoError::Parquet {
            path: path.to_path_buf(),
            source,
        };
        let b = match keys {
            None => {
                ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).map_err(perr)?
            }
            Some(k) => reader_builder_with(path, k)?,
        };
        b.build()
            .map_err(perr)?
            .map(|b| b.map_err(IoError::Arrow))
            .collect()
    }

    #[test]
    fn encrypted_parquet_reads_back_equal_with_the_key_only() {
        let dir = tempfile::tempdir().unwrap();
        let (plain, enc) = (dir.path().join("p.parquet"), dir.path().join("e.parquet"));
        let k = keys("ab");
        write(&plain, None);
        write(&enc, Some(&k));
        assert!(peek_encrypted(&enc).unwrap() && !peek_encrypted(&plain).unwrap());
        let want = read(&plain, None).unwrap();
        assert_eq!(read(&enc, Some(Some(&k))).unwrap(), want);
        assert_eq!(want.iter().map(RecordBatch::num_rows).sum::<usize>(), 3000);
        // Nothing of the values or the column names is in the file's bytes.
        let bytes = std::fs::read(&enc).unwrap();
        for needle in [&b"card-1"[..], b"card"] {
            assert!(!bytes.windows(needle.len()).any(|w| w == needle));
        }
        let plain_bytes = std::fs::read(&plain).unwrap();
        assert!(plain_bytes.windows(4).any(|w| w == b"card"));

        // Without decryption properties the Parquet reader refuses it.
        let e = read(&enc, None).unwrap_err().to_string();
        assert!(e.contains("encrypted"), "{e}");
        // No keys, another secret under the same id: our errors, naming the key.
        let e = read(&enc, Some(None)).unwrap_err();
        assert!(
            matches!(e, IoError::Crypt(CryptError::NoKeys { .. })),
            "{e}"
        );
        assert!(e.to_string().contains("master key `m1`"), "{e}");
        let e = read(&enc, Some(Some(&keys("cd")))).unwrap_err();
        assert!(
            matches!(e, IoError::Crypt(CryptError::WrongKey { .. })),
            "{e}"
        );
    }

    #[test]
    fn rotation_rewraps_the_key_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let enc = dir.path().join("e.parquet");
        let (s1, s2) = ("ab".repeat(32), "cd".repeat(32));
        let old = MasterKeys::parse_inline(&format!("m1:{s1}"), "t").unwrap();
        write(&enc, Some(&old));
        let want = read(&enc, Some(Some(&old))).unwrap();
        let both = MasterKeys::parse_inline(&format!("m2:{s2},m1:{s1}"), "t").unwrap();
        let before = std::fs::read(&enc).unwrap();
        assert_eq!(
            rewrap_file(&enc, &both).unwrap(),
            Rewrapped::From("m1".into())
        );
        assert_eq!(rewrap_file(&enc, &both).unwrap(), Rewrapped::Current);
        let after = std::fs::read(&enc).unwrap();
        assert_eq!(before.len(), after.len());
        let new = MasterKeys::parse_inline(&format!("m2:{s2}"), "t").unwrap();
        assert_eq!(read(&enc, Some(Some(&new))).unwrap(), want);
        let e = read(&enc, Some(Some(&old))).unwrap_err();
        assert!(
            matches!(e, IoError::Crypt(CryptError::UnknownKey { .. })),
            "{e}"
        );
        let plain = dir.path().join("p.parquet");
        write(&plain, None);
        assert_eq!(rewrap_file(&plain, &both).unwrap(), Rewrapped::Plain);
    }

    /// A flipped byte is an error wherever the reader uses it; the only bytes it does not
    /// use are the length words in front of encrypted page bodies (the size comes from the
    /// authenticated page header) and the page indexes (not loaded): flipping those
    /// changes nothing that is read. Never other data.
    #[test]
    fn a_flipped_byte_is_detected_or_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let enc = dir.path().join("e.parquet");
        let k = keys("ab");
        write(&enc, Some(&k));
        let good = std::fs::read(&enc).unwrap();
        let want = read(&enc, Some(Some(&k))).unwrap();
        let (mut failed, mut same) = (0, 0);
        for at in (4..good.len() - 8).step_by(31) {
            let mut bad = good.clone();
            bad[at] ^= 0x20;
            std::fs::write(&enc, &bad).unwrap();
            match read(&enc, Some(Some(&k))) {
                Err(_) => failed += 1,
                Ok(got) => {
                    assert_eq!(got, want, "byte {at} of {} flipped: other data", good.len());
                    same += 1;
                }
            }
        }
        assert!(failed > 10 * same, "{failed} detected, {same} unused bytes");
    }
}
