//! NDJSON files: a resumable source and a sink that can be rewound to a checkpoint.

use crate::error::ConnectorError;
use crate::Record;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

fn io(path: &Path) -> impl Fn(std::io::Error) -> ConnectorError + '_ {
    move |source| ConnectorError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Reads an NDJSON file line by line from a byte offset. Blank lines are skipped (they
/// carry no record) but counted, so `origin` line numbers match an editor's.
#[derive(Debug)]
pub struct FileSource {
    path: PathBuf,
    reader: BufReader<File>,
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
    /// `line` (1-based; pass 1 with offset 0).
    pub fn open(path: &Path, offset: u64, line: u64) -> Result<Self, ConnectorError> {
        let mut f = File::open(path).map_err(io(path))?;
        let len = f.metadata().map_err(io(path))?.len();
        if offset > len {
            return Err(ConnectorError::Setup(format!(
                "{}: the checkpoint resumes at byte {offset} but the file has {len} bytes; it was replaced or truncated since — restore the file or start without the checkpoint",
                path.display()
            )));
        }
        f.seek(SeekFrom::Start(offset)).map_err(io(path))?;
        Ok(Self {
            path: path.to_path_buf(),
            reader: BufReader::with_capacity(1 << 20, f),
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

    /// The next record, or `None` at the end of the file.
    pub fn next_record(&mut self) -> Result<Option<Record>, ConnectorError> {
        loop {
            self.buf.clear();
            let n = self
                .reader
                .read_until(b'\n', &mut self.buf)
                .map_err(io(&self.path))?;
            if n == 0 {
                return Ok(None);
            }
            if self.follow && !self.buf.ends_with(b"\n") {
                // Half-written: read it again once its newline is there.
                self.reader
                    .seek(SeekFrom::Start(self.offset))
                    .map_err(io(&self.path))?;
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

/// Appends NDJSON lines. Opened with the length recorded at the last checkpoint, it cuts
/// off whatever was written after it (those lines will be written again, identically, by
/// the replay), so the file never holds a line twice.
#[derive(Debug)]
pub struct FileSink {
    path: PathBuf,
    w: BufWriter<File>,
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
        let f = std::fs::OpenOptions::new()
            .create(true)
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
            Some(want) => {
                f.set_len(want).map_err(io(path))?;
                len = want;
            }
            None => {}
        }
        Ok(Self {
            path: path.to_path_buf(),
            w: BufWriter::with_capacity(1 << 20, f),
            len,
        })
    }

    /// Appends one line (a newline is added).
    pub fn write_line(&mut self, line: &[u8]) -> Result<(), ConnectorError> {
        self.w.write_all(line).map_err(io(&self.path))?;
        self.w.write_all(b"\n").map_err(io(&self.path))?;
        self.len += line.len() as u64 + 1;
        Ok(())
    }

    /// Length including buffered lines.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes buffered lines through to the disk (before a checkpoint records the length).
    pub fn flush(&mut self) -> Result<(), ConnectorError> {
        self.w.flush().map_err(io(&self.path))?;
        self.w.get_ref().sync_data().map_err(io(&self.path))
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
