//! The envelope of a state file: magic, format version, payload, checksum.
//!
//! ```text
//!  offset  size  content
//!  0       8     magic (names what the file holds)
//!  8       2     format version (u16 LE)
//!  10      n     payload
//!  10+n    8     xxh3-64 of bytes 0 .. 10+n (u64 LE)
//! ```
//!
//! Used by the decider's snapshots and the pipeline's checkpoints, so a torn write, a
//! flipped bit or a file of another kind or version is refused with the reason before a
//! single byte of payload is decoded.

/// Wraps `payload` in the envelope.
pub fn seal(magic: &[u8; 8], version: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 18);
    out.extend_from_slice(magic);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(payload);
    let sum = xxhash_rust::xxh3::xxh3_64(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

/// Checks the envelope and returns the payload; `what` names the kind of file in the
/// refusal ("riskstream decider snapshot").
pub fn open<'a>(
    magic: &[u8; 8],
    version: u16,
    what: &str,
    bytes: &'a [u8],
) -> Result<&'a [u8], String> {
    if bytes.len() < 18 || &bytes[..8] != magic {
        return Err(format!("not a {what} (wrong magic bytes or too short)"));
    }
    let (body, sum) = bytes.split_at(bytes.len() - 8);
    let mut s = [0u8; 8];
    s.copy_from_slice(sum);
    if xxhash_rust::xxh3::xxh3_64(body) != u64::from_le_bytes(s) {
        return Err("checksum mismatch: the file is corrupt or truncated".into());
    }
    let v = u16::from_le_bytes([body[8], body[9]]);
    if v != version {
        return Err(format!("format version {v}, this build reads {version}"));
    }
    Ok(&body[10..])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trip_and_every_refusal() {
        let m = b"RSTEST01";
        let b = seal(m, 3, b"payload");
        assert_eq!(open(m, 3, "test file", &b).unwrap(), b"payload");
        assert!(open(b"RSOTHER1", 3, "test file", &b)
            .unwrap_err()
            .contains("not a test file"));
        assert!(open(m, 4, "test file", &b)
            .unwrap_err()
            .contains("version 3"));
        let mut bad = b.clone();
        bad[11] ^= 1;
        assert!(open(m, 3, "test file", &bad)
            .unwrap_err()
            .contains("checksum"));
        assert!(open(m, 3, "test file", &b[..b.len() - 1]).is_err());
    }
}
