//! The encrypted file format: a fixed-size header, then length-prefixed AES-256-GCM chunks.
//!
//! ```text
//!  offset  size  field
//!  0       8     magic 89 'R' 'S' 'E' 'N' 'C' '\r' '\n'  (never the start of text, JSON,
//!                Parquet or gzip, so a reader tells an encrypted file from a plain one)
//!  8       1     format version (1)
//!  9       1     algorithm (1 = AES-256-GCM, STREAM nonces)
//!  10      1     master key id length n (1..=32)
//!  11      32    master key id, zero-padded
//!  43      7     nonce prefix (random per file)
//!  50      12    nonce of the wrapped data key (random per wrap)
//!  62      48    data key (32 random bytes) sealed by the master key: AAD = bytes 0..50
//!  110     …     chunks: u32 big-endian (bit 31 = final, bits 0..31 = sealed length), then
//!                the chunk sealed by the data key; nonce = prefix ‖ index u32 ‖ final u8,
//!                AAD = index u64 ‖ final u8
//! ```
//!
//! Why this shape. The header has a fixed size so `riskstream keys rewrap` can replace the
//! wrapped data key in place, in one write inside the first disk sector, without copying or
//! re-encrypting the payload and without racing a running service that replaces the file by
//! rename (its write lands on the orphaned old inode, harmlessly). Each chunk's index and
//! final flag are in its nonce and AAD (the STREAM construction of Hoang et al., as used by
//! age and Tink), so a flipped byte, two chunks swapped or a file cut at a chunk boundary
//! all fail authentication instead of decrypting to something shorter or reordered.
//! Chunks carry their length so a writer can close a chunk early when it is flushed: a
//! dead-letter file synced at a checkpoint ends on a chunk boundary, and a resumed run cuts
//! it back there and goes on appending (see [`SealWriter::resume`]).

use super::{CryptError, MasterKeys};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use ring::rand::{SecureRandom, SystemRandom};
use std::io::{Read, Seek, SeekFrom, Write};
use zeroize::Zeroizing;

/// The first bytes of every encrypted file.
pub const MAGIC: [u8; 8] = [0x89, b'R', b'S', b'E', b'N', b'C', b'\r', b'\n'];
/// The format version this build writes and reads.
pub const VERSION: u8 = 1;
const ALG_AES256GCM_STREAM: u8 = 1;
/// Bytes before the first chunk.
pub const HEADER_LEN: usize = 110;
const AAD_END: usize = 50;
const ID_MAX: usize = 32;
pub(crate) const TAG: usize = 16;
pub(crate) const FINAL_BIT: u32 = 1 << 31;
/// Plaintext bytes per chunk a writer aims for: large enough that the 20 bytes of framing
/// and the per-chunk set-up vanish, small enough that a reader holds little.
pub const CHUNK: usize = 256 * 1024;
/// The largest chunk a reader accepts (a damaged length must not allocate gigabytes).
pub(crate) const MAX_CHUNK: usize = 16 * 1024 * 1024;

fn rng_fill(buf: &mut [u8]) -> Result<(), CryptError> {
    SystemRandom::new()
        .fill(buf)
        .map_err(|_| CryptError::Internal("the system random generator failed".into()))
}

pub(crate) fn aead_key(bytes: &[u8]) -> Result<LessSafeKey, CryptError> {
    UnboundKey::new(&AES_256_GCM, bytes)
        .map(LessSafeKey::new)
        .map_err(|_| CryptError::Internal("AES-256-GCM refused a 32-byte key".into()))
}

pub(crate) fn chunk_nonce(prefix: &[u8; 7], index: u32, last: bool) -> Nonce {
    let mut n = [0u8; 12];
    n[..7].copy_from_slice(prefix);
    n[7..11].copy_from_slice(&index.to_be_bytes());
    n[11] = u8::from(last);
    Nonce::assume_unique_for_key(n)
}

pub(crate) fn chunk_aad(index: u32, last: bool) -> [u8; 9] {
    let mut a = [0u8; 9];
    a[..8].copy_from_slice(&u64::from(index).to_be_bytes());
    a[8] = u8::from(last);
    a
}

/// A parsed header (nothing secret in it).
#[derive(Debug, Clone)]
pub(crate) struct Header {
    pub(crate) key_id: String,
    pub(crate) prefix: [u8; 7],
    raw: [u8; HEADER_LEN],
}

/// True when `bytes` start like an encrypted file.
pub fn is_sealed(bytes: &[u8]) -> bool {
    bytes.starts_with(&MAGIC)
}

/// True when `bytes` start with the magic but one or two bytes of it differ: a damaged
/// encrypted file, which must not be read as a plain one.
pub(crate) fn near_magic(bytes: &[u8]) -> bool {
    bytes.len() >= MAGIC.len() && {
        let diff = MAGIC.iter().zip(bytes).filter(|(a, b)| a != b).count();
        (1..=2).contains(&diff)
    }
}

impl Header {
    pub(crate) fn parse(raw: &[u8], origin: &str) -> Result<Header, CryptError> {
        let damaged = |what: &str| CryptError::Damaged {
            path: origin.to_string(),
            what: format!("header: {what}"),
        };
        if raw.len() < HEADER_LEN {
            return Err(CryptError::Truncated {
                path: origin.to_string(),
                what: format!(
                    "{} bytes, shorter than the {HEADER_LEN}-byte header",
                    raw.len()
                ),
            });
        }
        if !is_sealed(raw) {
            return Err(damaged("the magic bytes are wrong"));
        }
        if raw[8] != VERSION {
            return Err(CryptError::Version {
                path: origin.to_string(),
                version: raw[8],
            });
        }
        if raw[9] != ALG_AES256GCM_STREAM {
            return Err(damaged(&format!("unknown algorithm {}", raw[9])));
        }
        let n = usize::from(raw[10]);
        if n == 0 || n > ID_MAX {
            return Err(damaged("impossible key id length"));
        }
        let key_id = std::str::from_utf8(&raw[11..11 + n])
            .ok()
            .filter(|s| {
                s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            })
            .ok_or_else(|| damaged("the key id is not a key id"))?
            .to_string();
        let mut prefix = [0u8; 7];
        prefix.copy_from_slice(&raw[43..50]);
        let mut h = [0u8; HEADER_LEN];
        h.copy_from_slice(&raw[..HEADER_LEN]);
        Ok(Header {
            key_id,
            prefix,
            raw: h,
        })
    }

    /// A new header: `dek` wrapped by the primary master key.
    fn build(
        keys: &MasterKeys,
        dek: &[u8; 32],
        prefix: [u8; 7],
    ) -> Result<[u8; HEADER_LEN], CryptError> {
        let (id, kek) = keys.primary();
        let mut h = [0u8; HEADER_LEN];
        h[..8].copy_from_slice(&MAGIC);
        h[8] = VERSION;
        h[9] = ALG_AES256GCM_STREAM;
        h[10] = u8::try_from(id.len())
            .ok()
            .filter(|n| usize::from(*n) <= ID_MAX)
            .ok_or_else(|| CryptError::Internal(format!("key id `{id}` is too long")))?;
        h[11..11 + id.len()].copy_from_slice(id.as_bytes());
        h[43..50].copy_from_slice(&prefix);
        let mut wrap_nonce = [0u8; 12];
        rng_fill(&mut wrap_nonce)?;
        h[50..62].copy_from_slice(&wrap_nonce);
        let mut wrapped = Zeroizing::new(Vec::with_capacity(32 + TAG));
        wrapped.extend_from_slice(dek);
        aead_key(kek)?
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(wrap_nonce),
                Aad::from(&h[..AAD_END]),
                &mut *wrapped,
            )
            .map_err(|_| CryptError::Internal("sealing the data key failed".into()))?;
        h[62..HEADER_LEN].copy_from_slice(&wrapped);
        Ok(h)
    }

    /// Reads the header at the start of `file` and unwraps its data key (for a reader or
    /// writer that continues an existing file).
    pub(crate) fn read_from(
        file: &mut std::fs::File,
        keys: Option<&MasterKeys>,
        origin: &str,
    ) -> Result<(Header, Zeroizing<[u8; 32]>), CryptError> {
        let mut raw = [0u8; HEADER_LEN];
        file.seek(SeekFrom::Start(0))
            .map_err(io_err(origin, "seeking"))?;
        let got =
            crate::fs::read_full(file, &mut raw).map_err(io_err(origin, "reading the header"))?;
        let header = Header::parse(&raw[..got], origin)?;
        let dek = header.unwrap_dek(keys, origin)?;
        Ok((header, dek))
    }

    /// The data key, unwrapped with the master key the header names.
    pub(crate) fn unwrap_dek(
        &self,
        keys: Option<&MasterKeys>,
        origin: &str,
    ) -> Result<Zeroizing<[u8; 32]>, CryptError> {
        let Some(keys) = keys else {
            return Err(CryptError::NoKeys {
                path: origin.to_string(),
                key_id: self.key_id.clone(),
            });
        };
        let kek = keys
            .get(&self.key_id)
            .ok_or_else(|| CryptError::UnknownKey {
                path: origin.to_string(),
                key_id: self.key_id.clone(),
                loaded: keys.ids().join(", "),
            })?;
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&self.raw[50..62]);
        let mut wrapped = Zeroizing::new(self.raw[62..HEADER_LEN].to_vec());
        let plain = aead_key(kek)?
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&self.raw[..AAD_END]),
                &mut wrapped,
            )
            .map_err(|_| CryptError::WrongKey {
                path: origin.to_string(),
                key_id: self.key_id.clone(),
            })?;
        let mut dek = Zeroizing::new([0u8; 32]);
        if plain.len() != 32 {
            return Err(CryptError::WrongKey {
                path: origin.to_string(),
                key_id: self.key_id.clone(),
            });
        }
        dek.copy_from_slice(plain);
        Ok(dek)
    }
}

pub(crate) fn io_err(origin: &str, what: &str) -> impl FnOnce(std::io::Error) -> CryptError {
    let (path, what) = (origin.to_string(), what.to_string());
    move |source| CryptError::Io { path, what, source }
}

/// Encrypts everything written to it into `inner`, one chunk per [`CHUNK`] bytes or per
/// `flush`. [`SealWriter::finish`] writes the final chunk; a file without it reads as
/// truncated.
pub struct SealWriter<W: Write> {
    inner: W,
    key: LessSafeKey,
    prefix: [u8; 7],
    index: u32,
    buf: Vec<u8>,
    written: u64,
    /// Plaintext bytes in the emitted chunks.
    plain: u64,
    closed: bool,
}

impl<W: Write> std::fmt::Debug for SealWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealWriter")
            .field("chunks", &self.index)
            .field("written", &self.written)
            .finish()
    }
}

impl<W: Write> SealWriter<W> {
    /// Writes a new header (a fresh data key wrapped by `keys`' primary key) to `inner`.
    pub fn new(mut inner: W, keys: &MasterKeys) -> Result<Self, CryptError> {
        let mut dek = Zeroizing::new([0u8; 32]);
        rng_fill(&mut *dek)?;
        let mut prefix = [0u8; 7];
        rng_fill(&mut prefix)?;
        let header = Header::build(keys, &dek, prefix)?;
        inner
            .write_all(&header)
            .map_err(io_err("<encrypted output>", "writing the header"))?;
        Ok(SealWriter {
            inner,
            key: aead_key(&*dek)?,
            prefix,
            index: 0,
            buf: Vec::with_capacity(CHUNK + TAG),
            written: HEADER_LEN as u64,
            plain: 0,
            closed: false,
        })
    }

    /// Bytes handed to the inner writer so far (header and whole chunks); after `flush` this
    /// is the length of the file, a point [`SealWriter::resume`] can continue from.
    pub fn position(&self) -> u64 {
        self.written
    }

    /// Plaintext bytes in the chunks handed to the inner writer (after `flush`: everything
    /// written), the offset a reader of the plaintext has reached at [`Self::position`].
    pub fn plain_position(&self) -> u64 {
        self.plain
    }

    fn emit(&mut self, last: bool) -> std::io::Result<()> {
        if self.closed {
            return Err(std::io::Error::other(
                "write after the final chunk of an encrypted file",
            ));
        }
        let index = self.index;
        let plain = self.buf.len() as u64;
        self.key
            .seal_in_place_append_tag(
                chunk_nonce(&self.prefix, index, last),
                Aad::from(chunk_aad(index, last)),
                &mut self.buf,
            )
            .map_err(|_| std::io::Error::other("AES-GCM sealing failed"))?;
        let len = u32::try_from(self.buf.len())
            .ok()
            .filter(|l| *l < FINAL_BIT)
            .ok_or_else(|| std::io::Error::other("chunk too large"))?;
        let word = if last { len | FINAL_BIT } else { len };
        self.inner.write_all(&word.to_be_bytes())?;
        self.inner.write_all(&self.buf)?;
        self.written += 4 + self.buf.len() as u64;
        self.plain += plain;
        self.buf.clear();
        self.closed = last;
        self.index = index
            .checked_add(1)
            .ok_or_else(|| std::io::Error::other("more than 2^32 chunks in one file"))?;
        Ok(())
    }

    /// Writes the final chunk and flushes; returns the inner writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.close()?;
        Ok(self.inner)
    }

    /// Writes the final chunk (once) and flushes, for a writer that cannot be given up
    /// (e.g. one shared behind a lock); later writes fail.
    pub fn close(&mut self) -> std::io::Result<()> {
        if !self.closed {
            self.emit(true)?;
        }
        self.inner.flush()
    }

    /// The inner writer (e.g. to sync a file after `flush`).
    pub fn get_ref(&self) -> &W {
        &self.inner
    }
}

impl<W: Write> Write for SealWriter<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.closed && !data.is_empty() {
            return Err(std::io::Error::other(
                "write after the final chunk of an encrypted file",
            ));
        }
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.emit(false)?;
        }
        Ok(n)
    }

    /// Closes the current chunk early (when it holds anything) and flushes the inner
    /// writer, so everything written so far is in the file and readable once finished.
    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() && !self.closed {
            self.emit(false)?;
        }
        self.inner.flush()
    }
}

impl SealWriter<std::fs::File> {
    /// Continues an encrypted file a flushed writer left at `keep` bytes (a checkpointed
    /// position): checks the header and the chunks before `keep`, cuts the file there and
    /// appends after them with the same data key.
    pub fn resume(
        mut file: std::fs::File,
        keys: Option<&MasterKeys>,
        keep: u64,
        origin: &str,
    ) -> Result<Self, CryptError> {
        let (header, dek) = Header::read_from(&mut file, keys, origin)?;
        let damaged = |what: String| CryptError::Damaged {
            path: origin.to_string(),
            what,
        };
        let mut pos = HEADER_LEN as u64;
        let mut index: u32 = 0;
        let mut plain: u64 = 0;
        while pos < keep {
            let mut w = [0u8; 4];
            file.seek(SeekFrom::Start(pos))
                .map_err(io_err(origin, "seeking"))?;
            if crate::fs::read_full(&mut file, &mut w).map_err(io_err(origin, "reading"))? < 4 {
                return Err(CryptError::Truncated {
                    path: origin.to_string(),
                    what: format!("ends before the checkpointed length {keep}"),
                });
            }
            let word = u32::from_be_bytes(w);
            if word & FINAL_BIT != 0 {
                return Err(damaged(format!(
                    "chunk {index} is final, before the checkpointed length {keep}"
                )));
            }
            pos += 4 + u64::from(word);
            plain += u64::from(word).saturating_sub(TAG as u64);
            index = index
                .checked_add(1)
                .ok_or_else(|| damaged("too many chunks".into()))?;
        }
        if pos != keep {
            return Err(damaged(format!(
                "the checkpointed length {keep} is not a chunk boundary"
            )));
        }
        file.set_len(keep).map_err(io_err(origin, "truncating"))?;
        file.seek(SeekFrom::Start(keep))
            .map_err(io_err(origin, "seeking"))?;
        Ok(SealWriter {
            inner: file,
            key: aead_key(&*dek)?,
            prefix: header.prefix,
            index,
            buf: Vec::with_capacity(CHUNK + TAG),
            written: keep,
            plain,
            closed: false,
        })
    }

    /// Continues an encrypted file whatever state its writer left it in (an append-only
    /// log, a sink opened without a checkpoint): whole chunks are kept, a chunk cut short by
    /// a crash is cut off (it was never flushed, so never acknowledged), and a final chunk
    /// is taken back into the writer's buffer (re-sealed as an ordinary chunk at the next
    /// flush) so appending can go on. An empty file gets a new header.
    pub fn append(
        mut file: std::fs::File,
        keys: &MasterKeys,
        origin: &str,
    ) -> Result<Self, CryptError> {
        let len = file
            .metadata()
            .map_err(io_err(origin, "reading the length"))?
            .len();
        if len == 0 {
            file.seek(SeekFrom::Start(0))
                .map_err(io_err(origin, "seeking"))?;
            return SealWriter::new(file, keys);
        }
        let mut pos = HEADER_LEN as u64;
        let mut last: Option<(u64, u32)> = None;
        while pos + 4 <= len {
            let mut w = [0u8; 4];
            file.seek(SeekFrom::Start(pos))
                .map_err(io_err(origin, "seeking"))?;
            crate::fs::read_full(&mut file, &mut w).map_err(io_err(origin, "reading"))?;
            let word = u32::from_be_bytes(w);
            let end = pos + 4 + u64::from(word & !FINAL_BIT);
            if end > len {
                break;
            }
            if word & FINAL_BIT != 0 {
                last = Some((pos, word & !FINAL_BIT));
                break;
            }
            pos = end;
        }
        let mut sealed = match last {
            Some((at, n)) => {
                let mut chunk = vec![0u8; n as usize];
                file.seek(SeekFrom::Start(at + 4))
                    .map_err(io_err(origin, "seeking"))?;
                crate::fs::read_full(&mut file, &mut chunk).map_err(io_err(origin, "reading"))?;
                Some((at, chunk))
            }
            None => None,
        };
        let keep = sealed.as_ref().map_or(pos.min(len), |(at, _)| *at);
        let keep = keep.max(HEADER_LEN as u64).min(len);
        let mut w = SealWriter::resume(file, Some(keys), keep, origin)?;
        if let Some((_, chunk)) = sealed.as_mut() {
            let plain = w
                .key
                .open_in_place(
                    chunk_nonce(&w.prefix, w.index, true),
                    Aad::from(chunk_aad(w.index, true)),
                    chunk,
                )
                .map_err(|_| CryptError::Damaged {
                    path: origin.to_string(),
                    what: format!("chunk {} fails authentication", w.index),
                })?
                .to_vec();
            w.buf.extend_from_slice(&plain);
            if w.buf.len() >= CHUNK {
                w.emit(false)
                    .map_err(io_err(origin, "re-sealing the last chunk"))?;
            }
        }
        Ok(w)
    }
}

/// Decrypts an encrypted stream as it is read. Every failure is an `InvalidData`
/// `std::io::Error` holding the [`CryptError`] (see [`CryptError::from_io`]).
pub struct OpenReader<R: Read> {
    inner: R,
    key: LessSafeKey,
    prefix: [u8; 7],
    index: u32,
    buf: Vec<u8>,
    pos: usize,
    done: bool,
    origin: String,
}

impl<R: Read> std::fmt::Debug for OpenReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenReader")
            .field("origin", &self.origin)
            .field("chunk", &self.index)
            .finish()
    }
}

impl<R: Read> OpenReader<R> {
    /// Reads and checks the header and unwraps the data key; `origin` names the file in
    /// errors.
    pub fn new(mut inner: R, keys: Option<&MasterKeys>, origin: &str) -> Result<Self, CryptError> {
        let mut raw = [0u8; HEADER_LEN];
        let got = crate::fs::read_full(&mut inner, &mut raw)
            .map_err(io_err(origin, "reading the header"))?;
        let header = Header::parse(&raw[..got], origin)?;
        let dek = header.unwrap_dek(keys, origin)?;
        Ok(OpenReader {
            inner,
            key: aead_key(&*dek)?,
            prefix: header.prefix,
            index: 0,
            buf: Vec::new(),
            pos: 0,
            done: false,
            origin: origin.to_string(),
        })
    }

    fn truncated(&self, what: String) -> CryptError {
        CryptError::Truncated {
            path: self.origin.clone(),
            what,
        }
    }

    fn damaged(&self, what: String) -> CryptError {
        CryptError::Damaged {
            path: self.origin.clone(),
            what,
        }
    }

    /// Decrypts the next chunk into `buf`; false at the end of the stream.
    fn next_chunk(&mut self) -> Result<bool, CryptError> {
        let origin = self.origin.clone();
        if self.done {
            let mut b = [0u8; 1];
            return match crate::fs::read_full(&mut self.inner, &mut b)
                .map_err(io_err(&origin, "reading"))?
            {
                0 => Ok(false),
                _ => Err(self.damaged("bytes follow the final chunk".into())),
            };
        }
        let i = self.index;
        let mut w = [0u8; 4];
        match crate::fs::read_full(&mut self.inner, &mut w).map_err(io_err(&origin, "reading"))? {
            0 => {
                return Err(self.truncated(format!(
                    "ends after {i} chunks without the final one (cut short, or its writer stopped before finishing)"
                )))
            }
            4 => {}
            _ => return Err(self.truncated(format!("ends inside chunk {i}'s length"))),
        }
        let word = u32::from_be_bytes(w);
        let last = word & FINAL_BIT != 0;
        let len = (word & !FINAL_BIT) as usize;
        if !(TAG..=MAX_CHUNK + TAG).contains(&len) {
            return Err(self.damaged(format!("chunk {i} has an impossible length {len}")));
        }
        self.buf.resize(len, 0);
        let got = crate::fs::read_full(&mut self.inner, &mut self.buf)
            .map_err(io_err(&origin, "reading"))?;
        if got < len {
            return Err(self.truncated(format!("ends inside chunk {i}")));
        }
        let n = self
            .key
            .open_in_place(
                chunk_nonce(&self.prefix, i, last),
                Aad::from(chunk_aad(i, last)),
                &mut self.buf,
            )
            .map(|p| p.len())
            .map_err(|_| {
                self.damaged(format!(
                    "chunk {i} fails authentication (a changed byte, chunks moved, or the file cut and patched)"
                ))
            })?;
        self.buf.truncate(n);
        self.pos = 0;
        self.index = i
            .checked_add(1)
            .ok_or_else(|| self.damaged("too many chunks".into()))?;
        self.done = last;
        Ok(true)
    }
}

impl<R: Read> Read for OpenReader<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.buf.len() {
            match self.next_chunk() {
                Ok(true) => {}
                Ok(false) => return Ok(0),
                Err(e) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Encrypts `plain` whole (a checkpoint, a model file).
pub fn seal_bytes(keys: &MasterKeys, plain: &[u8]) -> Result<Vec<u8>, CryptError> {
    let mut w = SealWriter::new(
        Vec::with_capacity(plain.len() + plain.len() / 1000 + 200),
        keys,
    )?;
    let e = io_err("<memory>", "encrypting");
    w.write_all(plain).and_then(|()| w.finish()).map_err(e)
}

/// Decrypts a whole encrypted file's bytes; `origin` names it in errors.
pub fn open_bytes(
    keys: Option<&MasterKeys>,
    bytes: &[u8],
    origin: &str,
) -> Result<Vec<u8>, CryptError> {
    let mut r = OpenReader::new(bytes, keys, origin)?;
    let mut out = Vec::with_capacity(bytes.len());
    r.read_to_end(&mut out)
        .map_err(|e| CryptError::from_io(e, origin, "decrypting"))?;
    Ok(out)
}

/// What [`rewrap_file`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rewrapped {
    /// The data key was re-wrapped from the named master key to the primary one.
    From(String),
    /// Already wrapped by the primary key.
    Current,
    /// Not an encrypted file: left alone.
    Plain,
}

/// Re-wraps an encrypted file's data key with the primary master key, in place: only the
/// header changes (one write of [`HEADER_LEN`] bytes at offset 0, then a sync); the
/// payload is neither read nor re-encrypted.
pub fn rewrap_file(path: &std::path::Path, keys: &MasterKeys) -> Result<Rewrapped, CryptError> {
    let origin = path.display().to_string();
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_err(&origin, "opening"))?;
    let mut raw = [0u8; HEADER_LEN];
    let got =
        crate::fs::read_full(&mut f, &mut raw).map_err(io_err(&origin, "reading the header"))?;
    if !is_sealed(&raw[..got]) {
        if near_magic(&raw[..got]) {
            return Err(CryptError::Damaged {
                path: origin,
                what: "header: the magic bytes are wrong".into(),
            });
        }
        return Ok(Rewrapped::Plain);
    }
    let header = Header::parse(&raw[..got], &origin)?;
    if header.key_id == keys.primary().0 {
        return Ok(Rewrapped::Current);
    }
    let dek = header.unwrap_dek(Some(keys), &origin)?;
    let new = Header::build(keys, &dek, header.prefix)?;
    f.seek(SeekFrom::Start(0))
        .map_err(io_err(&origin, "seeking"))?;
    f.write_all(&new)
        .and_then(|()| f.sync_data())
        .map_err(io_err(&origin, "writing the new header"))?;
    Ok(Rewrapped::From(header.key_id))
}

/// A fresh data key and a header wrapping it with the primary master key, for a format
/// that encrypts with its own machinery: a Parquet file written with modular encryption
/// keeps the header as its footer's key metadata (`riskstream_io::parquet_crypt`), so its
/// key is named, wrapped and checked exactly as an encrypted file's.
pub fn new_data_key(
    keys: &MasterKeys,
) -> Result<(Zeroizing<[u8; 32]>, [u8; HEADER_LEN]), CryptError> {
    let mut dek = Zeroizing::new([0u8; 32]);
    rng_fill(&mut *dek)?;
    let mut prefix = [0u8; 7];
    rng_fill(&mut prefix)?;
    let header = Header::build(keys, &dek, prefix)?;
    Ok((dek, header))
}

/// A new header wrapping `dek` with the primary master key (a re-wrap of a header made by
/// [`new_data_key`]).
pub fn wrap_data_key(keys: &MasterKeys, dek: &[u8; 32]) -> Result<[u8; HEADER_LEN], CryptError> {
    let mut prefix = [0u8; 7];
    rng_fill(&mut prefix)?;
    Header::build(keys, dek, prefix)
}

/// The data key a header made by [`new_data_key`] wraps; the errors of an encrypted file
/// whose header this is (no keys, unknown or wrong key, damaged), naming `origin`.
pub fn unwrap_data_key(
    header: &[u8],
    keys: Option<&MasterKeys>,
    origin: &str,
) -> Result<Zeroizing<[u8; 32]>, CryptError> {
    if header.len() != HEADER_LEN {
        return Err(CryptError::Damaged {
            path: origin.to_string(),
            what: format!(
                "the key metadata is {} bytes, not a {HEADER_LEN}-byte riskstream key header",
                header.len()
            ),
        });
    }
    Header::parse(header, origin)?.unwrap_dek(keys, origin)
}

/// The master key id an encrypted file's header names; `None` for a plain file.
pub fn key_id_of(bytes: &[u8], origin: &str) -> Result<Option<String>, CryptError> {
    if !is_sealed(bytes) {
        return Ok(None);
    }
    Header::parse(bytes, origin).map(|h| Some(h.key_id))
}

#[cfg(test)]
mod data_key_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn data_keys_unwrap_with_their_master_key_only() {
        let s = "ab".repeat(32);
        let k1 = MasterKeys::parse_inline(&format!("m1:{s}"), "t").unwrap();
        let (dek, h) = new_data_key(&k1).unwrap();
        assert_eq!(*unwrap_data_key(&h, Some(&k1), "f").unwrap(), *dek);
        let e = unwrap_data_key(&h, None, "f").unwrap_err().to_string();
        assert!(e.contains("f: encrypted with master key `m1`"), "{e}");
        let other = MasterKeys::parse_inline(&format!("m1:{}", "cd".repeat(32)), "t").unwrap();
        let e = unwrap_data_key(&h, Some(&other), "f").unwrap_err();
        assert!(matches!(e, CryptError::WrongKey { .. }), "{e}");
        let mut bad = h;
        bad[70] ^= 1;
        assert!(unwrap_data_key(&bad, Some(&k1), "f").is_err());
        assert!(unwrap_data_key(&h[..100], Some(&k1), "f").is_err());
    }
}
