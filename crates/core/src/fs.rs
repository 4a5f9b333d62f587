//! Durable, atomic file replacement: the one way riskstream writes a file that a crash must
//! leave either whole-old or whole-new (checkpoints, model files, metadata, decision files).
//!
//! ```text
//!  bytes ─▶ <dir>/.<name>.tmp (created owner-only) ─▶ fsync ─▶ rename over <name> ─▶ fsync <dir>
//! ```
//!
//! Why each step: the data must be on disk before the rename makes it visible (else a crash
//! can leave a renamed, empty file); the rename is the atomic switch; the directory's
//! fsync makes the rename itself survive a power cut. The temporary file sits in the same
//! directory (a rename cannot cross file systems) and is hidden by its leading dot. Files
//! are created owner-only (0600 on Unix): what riskstream writes holds customers' features,
//! models and decisions.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The temporary file [`write_atomic`] and [`commit`] use for `path`.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

/// Creates (or truncates) `path` for writing, owner-only on Unix.
pub fn create_owner_only(path: &Path) -> std::io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

/// Opens `path` for appending, creating it owner-only on Unix.
pub fn append_owner_only(path: &Path) -> std::io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

/// Replaces `path` with `bytes`, durably and atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = temp_path(path);
    {
        let mut f = create_owner_only(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    sync_dir(path);
    Ok(())
}

/// Makes a finished temporary file `tmp` (written by someone else, e.g. a Parquet writer)
/// durable and renames it over `path`.
pub fn commit(tmp: &Path, path: &Path) -> std::io::Result<()> {
    std::fs::File::open(tmp)?.sync_all()?;
    std::fs::rename(tmp, path)?;
    sync_dir(path);
    Ok(())
}

/// Flushes the directory holding `path`, so a rename into it survives a power cut. Best
/// effort: some file systems refuse to open or sync a directory, and the data itself is
/// already synced.
pub fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

/// Reads until `buf` is full or the input ends, retrying interrupted reads; returns the
/// bytes read (fewer than `buf.len()` only at the end). The readers of length-prefixed
/// records (the write-ahead log, encrypted chunks) tell a clean end from a torn record by it.
pub fn read_full(r: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn replaces_whole_files_owner_only_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("riskstream-fs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("state.bin");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two, longer").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two, longer");
        assert!(!temp_path(&p).exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
