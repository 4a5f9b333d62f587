//! Reading the log back at start-up: every record after the checkpoint, in order; a tail
//! torn by a crash of the machine cut off; an encrypted segment opened with the master
//! keys (its header first, then each record in its place).

use super::{context, segment, Record, Replayed};
use riskstream_core::crypt::{MasterKeys, RecordOpener, HEADER_LEN};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// Reads every record of generations ≥ `from` in order, handing each to `apply`. A torn
/// tail is cut off (and counted); a bad record before the end is an error naming the file
/// and offset.
pub fn replay(
    dir: &Path,
    stem: &str,
    from: u64,
    keys: Option<&MasterKeys>,
    mut apply: impl FnMut(u64, Record) -> Result<(), String>,
) -> Result<Replayed, String> {
    let mut out = Replayed::default();
    let segs = segment::segments(dir, stem).map_err(|e| format!("{}: {e}", dir.display()))?;
    for (g, part) in segs.into_iter().filter(|&(g, _)| g >= from) {
        let path = segment::part_of(dir, stem, g, part);
        let f = File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let len = f
            .metadata()
            .map_err(|e| format!("{}: {e}", path.display()))?
            .len();
        let mut r = BufReader::with_capacity(1 << 20, f);
        let mut at = 0u64;
        out.files += 1;
        let mut opener = match sealed_header(&mut r, &path, stem, (g, part), keys)? {
            Sealed::Plain => None,
            Sealed::Opener(o) => {
                at = HEADER_LEN as u64;
                Some(o)
            }
            Sealed::Torn => {
                // The header of a file whose first group never reached the disk whole.
                out.torn_bytes += len.min(HEADER_LEN as u64);
                truncate(&path, 0)?;
                continue;
            }
        };
        loop {
            let mut head = [0u8; 12];
            match riskstream_core::fs::read_full(&mut r, &mut head) {
                Ok(0) => break,
                Ok(12) => {}
                // Fewer zeros than a header at the end of a full segment: the end.
                Ok(_) if head == [0u8; 12] => break,
                Ok(_) => {
                    out.torn_bytes += len - at;
                    truncate(&path, at)?;
                    break;
                }
                Err(e) => return Err(format!("{}: {e}", path.display())),
            }
            if head == [0u8; 12] {
                // The zeros laid down ahead of the records: the end of the log.
                break;
            }
            let n = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as u64;
            let mut sum = [0u8; 8];
            sum.copy_from_slice(&head[4..]);
            if at + 12 + n > len {
                out.torn_bytes += 12;
                truncate(&path, at)?;
                break;
            }
            let mut body = vec![0u8; n as usize];
            r.read_exact(&mut body)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            if xxhash_rust::xxh3::xxh3_64(&body) != u64::from_le_bytes(sum) {
                let mut next = [0u8; 12];
                let last = at + 12 + n == len
                    || (riskstream_core::fs::read_full(&mut r, &mut next)
                        .map_err(|e| format!("{}: {e}", path.display()))?
                        < 12
                        || next == [0u8; 12]);
                if last {
                    // The last record, written but not whole on disk: never acknowledged.
                    out.torn_bytes += 12 + n;
                    truncate(&path, at)?;
                    break;
                }
                return Err(format!(
                    "{} at byte {at}: the record's checksum does not match and more records follow: the file is damaged; move it away to start from the checkpoint alone (what it held since the checkpoint is then lost)",
                    path.display()
                ));
            }
            if let Some(o) = opener.as_mut() {
                body = o.open(body, at).map_err(|e| {
                    format!("{e}; a write-ahead log record was changed or the master keys are not the ones it was written with")
                })?;
            }
            let rec: Record = serde_json::from_slice(&body).map_err(|e| {
                format!(
                    "{} at byte {at}: record does not decode: {e}",
                    path.display()
                )
            })?;
            apply(g, rec).map_err(|e| format!("{} at byte {at}: {e}", path.display()))?;
            out.records += 1;
            at += 12 + n;
        }
    }
    Ok(out)
}

/// How a segment begins.
enum Sealed {
    /// Records in clear (written without master keys).
    Plain,
    /// An encrypted segment's header, read: the records follow.
    Opener(Box<RecordOpener>),
    /// A header cut short or unreadable with nothing after it: the first write to the
    /// file never reached the disk whole, so nothing in it was acknowledged.
    Torn,
}

/// Reads an encrypted segment's header, if the segment starts with one.
fn sealed_header(
    r: &mut BufReader<File>,
    path: &Path,
    stem: &str,
    (g, part): (u64, u32),
    keys: Option<&MasterKeys>,
) -> Result<Sealed, String> {
    let origin = path.display().to_string();
    let io = |e: std::io::Error| format!("{origin}: {e}");
    let head = r.fill_buf().map_err(io)?;
    let peek = &head[..head.len().min(8)];
    if !riskstream_core::crypt::sniff(peek, &origin).map_err(|e| e.to_string())? {
        return Ok(Sealed::Plain);
    }
    let mut header = [0u8; HEADER_LEN];
    let got = riskstream_core::fs::read_full(r, &mut header).map_err(io)?;
    let rest_empty = |r: &mut BufReader<File>| -> Result<bool, String> {
        let mut next = [0u8; 12];
        let n = riskstream_core::fs::read_full(r, &mut next).map_err(io)?;
        Ok(n < 12 || next == [0u8; 12])
    };
    if got < HEADER_LEN {
        return Ok(Sealed::Torn);
    }
    match RecordOpener::new(&header, keys, &context(stem, g, part), &origin) {
        Ok(o) => Ok(Sealed::Opener(Box::new(o))),
        Err(
            e @ (riskstream_core::crypt::CryptError::NoKeys { .. }
            | riskstream_core::crypt::CryptError::UnknownKey { .. }),
        ) => Err(format!(
            "{e}; start the service with the master keys its write-ahead log was written with"
        )),
        Err(e) => {
            if rest_empty(r)? {
                Ok(Sealed::Torn)
            } else {
                Err(format!("{e}; the write-ahead log segment's header is damaged or the master key is not the one it was written with"))
            }
        }
    }
}

fn truncate(path: &Path, at: u64) -> Result<(), String> {
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    f.set_len(at)
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("cutting the torn end of {}: {e}", path.display()))
}
