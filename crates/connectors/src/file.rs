//! NDJSON files: a resumable source and a sink that can be rewound to a checkpoint, both
//! encrypted at rest when master keys are configured (`riskstream_core::crypt`).
//!
//! ```text
//!  sink:   lines ─▶ plain file, or SealWriter (one chunk per flush) ─▶ length at the
//!          checkpoint = a chunk boundary ─▶ a restore cuts back there and appends
//!  source: first bytes = the magic? ─▶ OpenTail: whole chunks, decrypted and checked;
//!          offsets count plaintext bytes, so a checkpoint means the same either way
//! ```
//!
//! Why the sink encrypts itself rather than its callers: a pipeline's decisions and dead
//! letters (a refused record's payload) are customers' data; every file sink goes through
//! here, so none can be forgotten. A file holding plain lines is never continued with
//! encrypted ones (nor the reverse): mixing the two would leave a file no reader can take.

use crate::error::ConnectorError;
use crate::Record;
use riskstream_core::crypt::{self, CryptError, OpenTail, SealWriter};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

fn io(path: &Path) -> impl Fn(std::io::Error) -> ConnectorError + '_ {
    move |source| ConnectorError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Whether the file starts like an encrypted one (a damaged magic is an error).
fn sealed_file(f: &mut File, path: &Path) -> Result<bool, ConnectorError> {
    let mut head = [0u8; 8];
    f.seek(SeekFrom::Start(0)).map_err(io(path))?;
    let n = riskstream_core::fs::read_full(f, &mut head).map_err(io(path))?;
    Ok(crypt::sniff(&head[..n], &path.display().to_string())?)
}

/// What a [`FileSource`] reads from.
#[derive(Debug)]
enum Input {
    Plain(BufReader<File>),
    /// Plaintext of whole chunks not yet consumed (`buf[at..]`).
    Sealed {
        tail: Box<OpenTail>,
        buf: Vec<u8>,
        at: usize,
    },
}

/// Reads an NDJSON file line by line from a byte offset. Blank lines are skipped (they
/// carry no record) but counted, so `origin` line numbers match an editor's.
#[derive(Debug)]
pub struct FileSource {
    path: PathBuf,
    input: Input,
    offset: u64,
    line: u64,
    buf: Vec<u8>,
    follow: bool,
}

impl FileSource {
    /// Follows a file another writer appends to (the HTTP intake log): a last line without
    /// its newline is not read yet (it is still being written) and the end of the file is
    /// "nothing yet" rather than the end of the input.
    pub fn follow(mut self) -> Self {
        self.follow = true;
        self
    }

    /// Opens `path` at byte `offset` (0, or a position a record reported), which is line
    /// `line` (1-based; pass 1 with offset 0). An encrypted file is read with the
    /// environment's master keys; its offsets count plaintext bytes.
    pub fn open(path: &Path, offset: u64, line: u64) -> Result<Self, ConnectorError> {
        let mut f = File::open(path).map_err(io(path))?;
        let len = f.metadata().map_err(io(path))?.len();
        let input = if len > 0 && sealed_file(&mut f, path)? {
            let keys = crypt::env_keys()?;
            let mut tail = OpenTail::open(f, keys.as_ref(), &path.display().to_string())?;
            let buf = tail.seek_plain(offset)?;
            Input::Sealed {
                tail: Box::new(tail),
                buf,
                at: 0,
            }
        } else {
            if offset > len {
                return Err(ConnectorError::Setup(format!(
                    "{}: the checkpoint resumes at byte {offset} but the file has {len} bytes; it was replaced or truncated since — restore the file or start without the checkpoint",
                    path.display()
                )));
            }
            f.seek(SeekFrom::Start(offset)).map_err(io(path))?;
            Input::Plain(BufReader::with_capacity(1 << 20, f))
        };
        Ok(Self {
            path: path.to_path_buf(),
            input,
            offset,
            line,
            buf: Vec::new(),
            follow: false,
        })
    }

    /// The line number of the next line.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// The next line with its newline into `self.buf` (the last line of a finished file may
    /// lack it); 0 at the end, or when a followed file has no whole line yet.
    fn read_line(&mut self) -> Result<usize, ConnectorError> {
        self.buf.clear();
        match &mut self.input {
            Input::Plain(r) => {
                let n = r.read_until(b'\n', &mut self.buf).map_err(io(&self.path))?;
                if self.follow && n > 0 && !self.buf.ends_with(b"\n") {
                    // Half-written: read it again once its newline is there.
                    r.seek(SeekFrom::Start(self.offset))
                        .map_err(io(&self.path))?;
                    return Ok(0);
                }
                Ok(n)
            }
            Input::Sealed { tail, buf, at } => loop {
                if let Some(i) = buf[*at..].iter().position(|&b| b == b'\n') {
                    self.buf.extend_from_slice(&buf[*at..*at + i + 1]);
                    *at += i + 1;
                    return Ok(i + 1);
                }
                match tail.next_chunk()? {
                    Some(more) => {
                        buf.drain(..*at);
                        *at = 0;
                        buf.extend_from_slice(&more);
                    }
                    // A followed log: the line is not whole yet.
                    None if self.follow => return Ok(0),
                    None if !tail.is_done() => {
                        return Err(CryptError::Truncated {
                            path: self.path.display().to_string(),
                            what: "ends without its final chunk (cut short, or its writer stopped before finishing)".into(),
                        }
                        .into())
                    }
                    None => {
                        let n = buf.len() - *at;
                        self.buf.extend_from_slice(&buf[*at..]);
                        *at = buf.len();
                        return Ok(n);
                    }
                }
            },
        }
    }

    /// The next record, or `None` at the end of the file.
    pub fn next_record(&mut self) -> Result<Option<Record>, ConnectorError> {
        loop {
            let n = self.read_line()?;
            if n == 0 {
                return Ok(None);
            }
            self.offset += n as u64;
            let line = self.line;
            self.line += 1;
            let text = trim_line(&self.buf);
            if text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Ok(Some(Record {
                partition: 0,
                offset: self.offset,
                origin: format!("{}:{line}", self.path.display()),
                payload: bytes::Bytes::copy_from_slice(text),
                stored_us: None,
            }));
        }
    }
}

fn trim_line(b: &[u8]) -> &[u8] {
    let b = b.strip_suffix(b"\n").unwrap_or(b);
    b.strip_suffix(b"\r").unwrap_or(b)
}

/// Where a [`FileSink`] writes.
enum Output {
    Plain(BufWriter<File>),
    Sealed(Box<SealWriter<File>>),
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Output::Plain(_) => "Plain",
            Output::Sealed(_) => "Sealed",
        })
    }
}

/// Appends NDJSON lines. Opened with the length recorded at the last checkpoint, it cuts
/// off whatever was written after it (those lines will be written again, identically, by
/// the replay), so the file never holds a line twice. With master keys configured the
/// lines are encrypted, one chunk per flush; the final chunk is written when the sink is
/// dropped (a file whose writer was killed reads as truncated until a restore continues
/// it).
#[derive(Debug)]
pub struct FileSink {
    path: PathBuf,
    w: Output,
    len: u64,
}

impl FileSink {
    /// Opens (creating) `path` for appending; with `rewind_to`, first truncates it to that
    /// length. Refuses a file shorter than `rewind_to`: lines the checkpoint counts on
    /// are missing.
    pub fn open(path: &Path, rewind_to: Option<u64>) -> Result<Self, ConnectorError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)
            .map_err(io(path))?;
        let mut len = f.metadata().map_err(io(path))?.len();
        match rewind_to {
            Some(want) if want > len => {
                return Err(ConnectorError::Setup(format!(
                    "{}: has {len} bytes but the checkpoint recorded {want}; outputs the checkpoint counts on are gone — restore the file or start over without the checkpoint",
                    path.display()
                )))
            }
            Some(0) if len > 0 => {
                f.set_len(0).map_err(io(path))?;
                len = 0;
            }
            _ => {}
        }
        let origin = path.display().to_string();
        let sealed = len > 0 && sealed_file(&mut f, path)?;
        let w = match crypt::env_keys()? {
            Some(keys) => {
                if len > 0 && !sealed {
                    return Err(CryptError::Plain { path: origin }.into());
                }
                let w = match rewind_to {
                    Some(want) if len > 0 => SealWriter::resume(f, Some(&keys), want, &origin)?,
                    _ => SealWriter::append(f, &keys, &origin)?,
                };
                len = w.position();
                Output::Sealed(Box::new(w))
            }
            None => {
                if sealed {
                    // Appending plain lines would ruin it; reading it needs the key anyway.
                    let mut head = [0u8; crypt::HEADER_LEN];
                    f.seek(SeekFrom::Start(0)).map_err(io(path))?;
                    let n = riskstream_core::fs::read_full(&mut f, &mut head).map_err(io(path))?;
                    let key_id = crypt::key_id_of(&head[..n], &origin)?.unwrap_or_default();
                    return Err(CryptError::NoKeys {
                        path: origin,
                        key_id,
                    }
                    .into());
                }
                if let Some(want) = rewind_to {
                    f.set_len(want).map_err(io(path))?;
                    len = want;
                }
                Output::Plain(BufWriter::with_capacity(1 << 20, f))
            }
        };
        Ok(Self {
            path: path.to_path_buf(),
            w,
            len,
        })
    }

    /// Appends one line (a newline is added).
    pub fn write_line(&mut self, line: &[u8]) -> Result<(), ConnectorError> {
        let w: &mut dyn Write = match &mut self.w {
            Output::Plain(w) => w,
            Output::Sealed(w) => w,
        };
        w.write_all(line).map_err(io(&self.path))?;
        w.write_all(b"\n").map_err(io(&self.path))?;
        if let Output::Plain(_) = self.w {
            self.len += line.len() as u64 + 1;
        }
        Ok(())
    }

    /// Plain: the length including buffered lines. Encrypted: the length of the chunks
    /// written; after [`Self::flush`] (as before a checkpoint records it), the file's.
    pub fn len(&self) -> u64 {
        match &self.w {
            Output::Plain(_) => self.len,
            Output::Sealed(w) => w.position(),
        }
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        match &self.w {
            Output::Plain(_) => self.len == 0,
            Output::Sealed(w) => w.plain_position() == 0,
        }
    }

    /// Writes buffered lines through to the disk (before a checkpoint records the length).
    pub fn flush(&mut self) -> Result<(), ConnectorError> {
        let f = match &mut self.w {
            Output::Plain(w) => {
                w.flush().map_err(io(&self.path))?;
                w.get_ref()
            }
            Output::Sealed(w) => {
                w.flush().map_err(io(&self.path))?;
                w.get_ref()
            }
        };
        f.sync_data().map_err(io(&self.path))
    }
}

impl Drop for FileSink {
    /// An encrypted file gets its final chunk, so it reads as whole; a restore cuts back to
    /// its checkpoint before it anyway. (Errors cannot be reported here: the file then
    /// reads as truncated, with that message.)
    fn drop(&mut self) {
        if let Output::Sealed(w) = &mut self.w {
            let _ = w.close().and_then(|()| w.get_ref().sync_data());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn source_resumes_where_a_record_said_and_counts_lines() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("in.ndjson");
        std::fs::write(&p, "{\"a\":1}\n\n{\"a\":2}\r\n{\"a\":3}").unwrap();
        let mut s = FileSource::open(&p, 0, 1).unwrap();
        let r1 = s.next_record().unwrap().unwrap();
        assert_eq!(&r1.payload[..], b"{\"a\":1}");
        let r2 = s.next_record().unwrap().unwrap();
        assert_eq!(&r2.payload[..], b"{\"a\":2}");
        assert!(r2.origin.ends_with(":3"), "{}", r2.origin);
        let line = s.line();
        let mut s2 = FileSource::open(&p, r2.offset, line).unwrap();
        let r3 = s2.next_record().unwrap().unwrap();
        assert_eq!(&r3.payload[..], b"{\"a\":3}");
        assert!(r3.origin.ends_with(":4"));
        assert!(s2.next_record().unwrap().is_none());
        assert!(FileSource::open(&p, 10_000, 1).is_err());
    }

    #[test]
    fn a_followed_file_waits_for_whole_lines() {
        use std::io::Write;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("log.ndjson");
        std::fs::write(&p, "{\"a\":1}\n{\"a\":").unwrap();
        let mut s = FileSource::open(&p, 0, 1).unwrap().follow();
        assert_eq!(&s.next_record().unwrap().unwrap().payload[..], b"{\"a\":1}");
        assert!(
            s.next_record().unwrap().is_none(),
            "half a line is not a record"
        );
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"2}\n").unwrap();
        assert_eq!(&s.next_record().unwrap().unwrap().payload[..], b"{\"a\":2}");
        assert!(s.next_record().unwrap().is_none());
    }

    #[test]
    fn sink_rewinds_to_the_checkpoint() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("out/decisions.ndjson");
        let mut s = FileSink::open(&p, None).unwrap();
        s.write_line(b"one").unwrap();
        s.flush().unwrap();
        let at = s.len();
        s.write_line(b"two").unwrap();
        s.flush().unwrap();
        drop(s);
        let mut s = FileSink::open(&p, Some(at)).unwrap();
        s.write_line(b"two").unwrap();
        s.flush().unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "one\ntwo\n");
        let e = FileSink::open(&p, Some(1000)).unwrap_err().to_string();
        assert!(e.contains("checkpoint recorded 1000"), "{e}");
    }
}
