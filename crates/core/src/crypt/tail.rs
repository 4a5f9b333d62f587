//! Reading an encrypted file chunk by chunk while it may still grow (the HTTP intake's log
//! a pipeline follows), from a plaintext offset a checkpoint recorded.
//!
//! ```text
//!  header ─▶ skip whole chunks by their lengths (no decryption) up to the chunk holding
//!            the offset ─▶ decrypt that chunk, drop the bytes before the offset
//!         ─▶ next_chunk: a whole chunk on disk? decrypt and check it : "not yet" (None)
//! ```
//!
//! Why offsets count plaintext: the records a reader hands on carry the offset after them,
//! and a checkpoint resumes there; plaintext offsets mean the same thing whether the file
//! is encrypted or not, and skipping to one needs only the chunks' length words (a chunk
//! holds its sealed length less the 16-byte tag). Why "not yet" and not "truncated" at the
//! end: a followed log has no end; [`super::OpenReader`] is the reader for whole files.

use super::stream::{aead_key, chunk_aad, chunk_nonce, io_err, Header, FINAL_BIT, MAX_CHUNK, TAG};
use super::{CryptError, MasterKeys, HEADER_LEN};
use ring::aead::{Aad, LessSafeKey};
use std::io::{Seek, SeekFrom};

/// An encrypted file read a whole chunk at a time; see the module docs.
pub struct OpenTail {
    file: std::fs::File,
    key: LessSafeKey,
    prefix: [u8; 7],
    index: u32,
    /// File position of the next chunk.
    pos: u64,
    /// Plaintext offset at the start of the next chunk.
    plain: u64,
    done: bool,
    origin: String,
}

impl std::fmt::Debug for OpenTail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenTail")
            .field("origin", &self.origin)
            .field("chunk", &self.index)
            .field("plain", &self.plain)
            .finish()
    }
}

impl OpenTail {
    /// Checks the header and unwraps the data key; `origin` names the file in errors.
    pub fn open(
        mut file: std::fs::File,
        keys: Option<&MasterKeys>,
        origin: &str,
    ) -> Result<Self, CryptError> {
        let (header, dek) = Header::read_from(&mut file, keys, origin)?;
        Ok(OpenTail {
            file,
            key: aead_key(&*dek)?,
            prefix: header.prefix,
            index: 0,
            pos: HEADER_LEN as u64,
            plain: 0,
            done: false,
            origin: origin.to_string(),
        })
    }

    /// Whether the final chunk was read: nothing can follow it.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The next chunk's length word, when the whole chunk is on disk.
    fn peek(&mut self) -> Result<Option<(bool, usize)>, CryptError> {
        let len = self
            .file
            .metadata()
            .map_err(io_err(&self.origin, "reading the length"))?
            .len();
        if self.pos + 4 > len {
            return Ok(None);
        }
        let mut w = [0u8; 4];
        self.file
            .seek(SeekFrom::Start(self.pos))
            .map_err(io_err(&self.origin, "seeking"))?;
        crate::fs::read_full(&mut self.file, &mut w).map_err(io_err(&self.origin, "reading"))?;
        let word = u32::from_be_bytes(w);
        let n = (word & !FINAL_BIT) as usize;
        if !(TAG..=MAX_CHUNK + TAG).contains(&n) {
            return Err(CryptError::Damaged {
                path: self.origin.clone(),
                what: format!("chunk {} has an impossible length {n}", self.index),
            });
        }
        if self.pos + 4 + n as u64 > len {
            return Ok(None);
        }
        Ok(Some((word & FINAL_BIT != 0, n)))
    }

    /// Moves to plaintext offset `offset` without decrypting the chunks before it; returns
    /// the chunk holding it with the bytes before the offset dropped. An offset past what
    /// the file holds is an error (the file was replaced or cut since the checkpoint).
    pub fn seek_plain(&mut self, offset: u64) -> Result<Vec<u8>, CryptError> {
        loop {
            let Some((last, n)) = self.peek()? else {
                if self.plain == offset {
                    return Ok(Vec::new());
                }
                return Err(CryptError::Truncated {
                    path: self.origin.clone(),
                    what: format!(
                        "holds {} bytes, but the checkpoint resumes at byte {offset} (replaced or cut since)",
                        self.plain
                    ),
                });
            };
            let size = (n - TAG) as u64;
            if last || self.plain + size > offset {
                let at = offset - self.plain;
                let mut chunk = self.next_chunk()?.unwrap_or_default();
                if at > chunk.len() as u64 {
                    return Err(CryptError::Truncated {
                        path: self.origin.clone(),
                        what: format!("ends before the checkpointed byte {offset}"),
                    });
                }
                chunk.drain(..at as usize);
                return Ok(chunk);
            }
            self.pos += 4 + n as u64;
            self.plain += size;
            self.index = self
                .index
                .checked_add(1)
                .ok_or_else(|| CryptError::Damaged {
                    path: self.origin.clone(),
                    what: "too many chunks".into(),
                })?;
        }
    }

    /// The next chunk's plaintext, checked; `None` when no whole chunk follows yet (or
    /// after the final one).
    pub fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, CryptError> {
        if self.done {
            return Ok(None);
        }
        let Some((last, n)) = self.peek()? else {
            return Ok(None);
        };
        let mut buf = vec![0u8; n];
        let got = crate::fs::read_full(&mut self.file, &mut buf)
            .map_err(io_err(&self.origin, "reading"))?;
        if got < n {
            return Ok(None);
        }
        let i = self.index;
        let plain = self
            .key
            .open_in_place(
                chunk_nonce(&self.prefix, i, last),
                Aad::from(chunk_aad(i, last)),
                &mut buf,
            )
            .map_err(|_| CryptError::Damaged {
                path: self.origin.clone(),
                what: format!(
                    "chunk {i} fails authentication (a changed byte, chunks moved, or the file cut and patched)"
                ),
            })?
            .len();
        buf.truncate(plain);
        self.pos += 4 + n as u64;
        self.plain += plain as u64;
        self.index = i.checked_add(1).ok_or_else(|| CryptError::Damaged {
            path: self.origin.clone(),
            what: "too many chunks".into(),
        })?;
        self.done = last;
        Ok(Some(buf))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::crypt::SealWriter;
    use std::io::Write;

    /// A fresh directory for one test (removed when the test passes).
    struct Dir(std::path::PathBuf);
    impl Dir {
        fn new(name: &str) -> Dir {
            let d =
                std::env::temp_dir().join(format!("riskstream-tail-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).unwrap();
            Dir(d)
        }
        fn path(&self) -> &std::path::Path {
            &self.0
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn keys() -> MasterKeys {
        MasterKeys::parse_inline(
            "m1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            "test",
        )
        .unwrap()
    }

    #[test]
    fn a_growing_log_is_read_chunk_by_chunk_and_resumed_at_a_plain_offset() {
        let d = Dir::new("log");
        let p = d.path().join("log");
        let k = keys();
        let f = std::fs::File::create(&p).unwrap();
        let mut w = SealWriter::new(f, &k).unwrap();
        w.write_all(b"one\ntwo\n").unwrap();
        w.flush().unwrap();
        let mut t = OpenTail::open(std::fs::File::open(&p).unwrap(), Some(&k), "log").unwrap();
        assert_eq!(t.next_chunk().unwrap().unwrap(), b"one\ntwo\n");
        assert!(t.next_chunk().unwrap().is_none(), "nothing yet");
        // Half a chunk on disk is "not yet" as well.
        let len = std::fs::metadata(&p).unwrap().len();
        w.write_all(b"three\n").unwrap();
        w.flush().unwrap();
        let full = std::fs::read(&p).unwrap();
        std::fs::write(&p, &full[..full.len() - 3]).unwrap();
        assert!(t.next_chunk().unwrap().is_none());
        std::fs::write(&p, &full).unwrap();
        assert_eq!(t.next_chunk().unwrap().unwrap(), b"three\n");
        assert!(len < full.len() as u64);

        // A new reader resumes at byte 4 ("two\n" on) and at the end.
        let mut t = OpenTail::open(std::fs::File::open(&p).unwrap(), Some(&k), "log").unwrap();
        assert_eq!(t.seek_plain(4).unwrap(), b"two\n");
        assert_eq!(t.next_chunk().unwrap().unwrap(), b"three\n");
        let mut t = OpenTail::open(std::fs::File::open(&p).unwrap(), Some(&k), "log").unwrap();
        assert!(t.seek_plain(14).unwrap().is_empty());
        let mut t = OpenTail::open(std::fs::File::open(&p).unwrap(), Some(&k), "log").unwrap();
        assert!(matches!(
            t.seek_plain(99).unwrap_err(),
            CryptError::Truncated { .. }
        ));
        // A flipped byte in a chunk is caught.
        let mut bad = full.clone();
        bad[HEADER_LEN + 6] ^= 1;
        std::fs::write(&p, &bad).unwrap();
        let mut t = OpenTail::open(std::fs::File::open(&p).unwrap(), Some(&k), "log").unwrap();
        assert!(matches!(
            t.next_chunk().unwrap_err(),
            CryptError::Damaged { .. }
        ));
    }

    #[test]
    fn appending_takes_back_the_final_chunk_and_cuts_a_partial_one() {
        let d = Dir::new("out");
        let p = d.path().join("out");
        let k = keys();
        let mut w = SealWriter::new(std::fs::File::create(&p).unwrap(), &k).unwrap();
        w.write_all(b"a\n").unwrap();
        w.flush().unwrap();
        w.write_all(b"b\n").unwrap();
        w.finish().unwrap();
        let open = |p: &std::path::Path| {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(p)
                .unwrap()
        };
        let mut w = SealWriter::append(open(&p), &k, "out").unwrap();
        assert_eq!(
            w.plain_position(),
            2,
            "the final chunk is back in the buffer"
        );
        w.write_all(b"c\n").unwrap();
        w.flush().unwrap();
        // A crash mid-chunk: the partial chunk is cut off on the next append.
        let whole = std::fs::metadata(&p).unwrap().len();
        w.write_all(b"lost\n").unwrap();
        w.flush().unwrap();
        drop(w);
        let f = open(&p);
        f.set_len(whole + 7).unwrap();
        let w = SealWriter::append(f, &k, "out").unwrap();
        assert_eq!(w.position(), whole);
        w.finish().unwrap();
        let all = crate::crypt::open_bytes(Some(&k), &std::fs::read(&p).unwrap(), "out").unwrap();
        assert_eq!(all, b"a\nb\nc\n");
    }
}
