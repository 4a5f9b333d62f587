//! `riskstream keys rewrap PATH…`: master key rotation for files encrypted at rest.
//!
//! Rotation goes: add the new master key to the key file and make it `active` (new files
//! are written with it at once, old ones still read with the old key), run this over the
//! state, model and output directories, then remove the old key. Each encrypted file's
//! 110-byte header is rewritten in place with its data key wrapped by the new key
//! (`riskstream_core::crypt::rewrap_file`; for an encrypted Parquet file the same header in
//! its crypto metadata, `riskstream_io::parquet_crypt::rewrap_file`); payloads are not touched, so it takes
//! milliseconds per file whatever its size, and a running service needs no restart.

use crate::Outcome;
use anyhow::Context;
use riskstream_core::crypt::{rewrap_file, Rewrapped, MASTER_KEYS_FILE_ENV};
use std::path::{Path, PathBuf};

/// Re-wraps every encrypted file under `paths`; prints one line per re-wrapped file and a
/// summary. A file that cannot be re-wrapped (unknown key, damaged) is reported and the
/// rest go on; the outcome then says there were problems.
pub fn run(paths: &[PathBuf]) -> anyhow::Result<Outcome> {
    let keys = riskstream_core::crypt::env_keys()?.with_context(|| {
        format!("no master keys are configured: set {MASTER_KEYS_FILE_ENV} to the key file holding the old and the new key")
    })?;
    let mut files = Vec::new();
    for p in paths {
        walk(p, &mut files).with_context(|| format!("cannot list {}", p.display()))?;
    }
    let (mut done, mut current, mut plain, mut failed) = (0u64, 0u64, 0u64, 0u64);
    for f in &files {
        // Not in the `crypt` format: perhaps a Parquet file with modular encryption.
        let done_here = match rewrap_file(f, &keys) {
            Ok(Rewrapped::Plain) => riskstream_io::parquet_crypt::rewrap_file(f, &keys)
                .map_err(|e| anyhow::anyhow!("{e}")),
            other => other.map_err(|e| anyhow::anyhow!("{e}")),
        };
        match done_here {
            Ok(Rewrapped::From(old)) => {
                done += 1;
                println!(
                    "{}: re-wrapped from `{old}` to `{}`",
                    f.display(),
                    keys.primary_id()
                );
            }
            Ok(Rewrapped::Current) => current += 1,
            Ok(Rewrapped::Plain) => plain += 1,
            Err(e) => {
                failed += 1;
                eprintln!("error: {e}");
            }
        }
    }
    eprintln!(
        "{done} re-wrapped to `{}`, {current} already on it, {plain} not encrypted, {failed} failed",
        keys.primary_id()
    );
    Ok(if failed == 0 {
        Outcome::Clean
    } else {
        Outcome::Problems
    })
}

/// Regular files under `p` (or `p` itself), skipping the hidden temporaries of atomic
/// writes in progress (`.name.tmp`).
fn walk(p: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(p)?;
    if meta.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(p)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for e in entries {
            walk(&e.path(), out)?;
        }
    } else if meta.is_file() {
        let hidden_tmp = p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.') && n.ends_with(".tmp"));
        if !hidden_tmp {
            out.push(p.to_path_buf());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn walks_directories_and_skips_temporaries() {
        let d = std::env::temp_dir().join(format!("riskstream-rewrap-{}", std::process::id()));
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(d.join("a"), b"x").unwrap();
        std::fs::write(d.join("sub/b"), b"x").unwrap();
        std::fs::write(d.join(".a.tmp"), b"x").unwrap();
        let mut out = Vec::new();
        walk(&d, &mut out).unwrap();
        assert_eq!(out, vec![d.join("a"), d.join("sub/b")]);
        let k = riskstream_core::crypt::MasterKeys::parse_inline(
            &format!("m:{}", "ab".repeat(32)),
            "t",
        )
        .unwrap();
        assert_eq!(rewrap_file(&d.join("a"), &k).unwrap(), Rewrapped::Plain);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
