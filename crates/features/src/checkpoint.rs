//! The checkpoint format: versioned, checksummed, tied to one feature spec.
//!
//! ```text
//!  offset  size  content
//!  0       8     magic "RSFSTATE"
//!  8       4     format version (u32 LE)
//!  12      8     feature-spec hash (u64 LE; xxh3 of the spec text)
//!  20      8     payload length n (u64 LE)
//!  28      n     payload: the engine state, postcard-encoded; from version 2 followed by
//!                the pattern automata, postcard-encoded
//!  28+n    8     xxh3-64 of bytes 0 .. 28+n (u64 LE)
//! ```
//!
//! A snapshot is refused, with the reason, when the magic, version, checksum, spec hash or
//! payload does not check out. Version bumps must keep a reader for the previous version.

use crate::engine::{PatternStates, State};

const MAGIC: &[u8; 8] = b"RSFSTATE";
/// Current format version: 2 added the pattern automata after the state (version 1,
/// without them, still reads: a spec that could be used then has no patterns).
pub const VERSION: u32 = 2;

pub(crate) fn encode(spec_hash: u64, state: &impl serde::Serialize) -> Vec<u8> {
    let payload = postcard::to_stdvec(state).unwrap_or_default();
    let mut out = Vec::with_capacity(payload.len() + 36);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&spec_hash.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&payload);
    let sum = xxhash_rust::xxh3::xxh3_64(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_le_bytes)
}

pub(crate) fn decode(spec_hash: u64, b: &[u8]) -> Result<State, String> {
    if b.len() < 36 || &b[..8] != MAGIC {
        return Err("not a riskstream feature-state checkpoint (bad magic or too short)".into());
    }
    let version = b
        .get(8..12)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_le_bytes)
        .unwrap_or(0);
    if version != VERSION && version != 1 {
        return Err(format!(
            "checkpoint format version {version}; this build reads versions 1 to {VERSION}"
        ));
    }
    let body_end = b.len() - 8;
    let stored = u64_at(b, body_end).unwrap_or(0);
    if xxhash_rust::xxh3::xxh3_64(&b[..body_end]) != stored {
        return Err("checksum mismatch: the checkpoint is corrupt or truncated".into());
    }
    let h = u64_at(b, 12).unwrap_or(0);
    if h != spec_hash {
        return Err(format!("written for another feature spec (hash {h:016x}, this spec is {spec_hash:016x}); start fresh or use the spec it was made with"));
    }
    let n = u64_at(b, 20).unwrap_or(0) as usize;
    if 28 + n != body_end {
        return Err("payload length does not match the file size".into());
    }
    let payload = &b[28..body_end];
    let bad = |e: postcard::Error| format!("payload does not decode: {e}");
    if version == 1 {
        return postcard::from_bytes(payload).map_err(bad);
    }
    let (mut state, patterns): (State, PatternStates) =
        postcard::from_bytes(payload).map_err(bad)?;
    state.patterns = patterns;
    Ok(state)
}
