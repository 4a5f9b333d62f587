//! `riskstream keys fpe-decrypt [--key-id ID] [VALUE…]`: the card numbers behind
//! `pii = "fpe"` values, for an investigator who holds the PII keys.
//!
//! Values come from the arguments or, without any, from standard input (one per line), so
//! a column can be piped through without card numbers on a command line (where `ps` and
//! shell history would see them). An fpe value does not say which key made it, and any key
//! turns it into some card number: `--key-id` names the key (default: the active one), and
//! the caller must know which key was active when the value was written (see
//! `riskstream_core::pii::fpe` on rotation).

use crate::Outcome;
use anyhow::Context;
use riskstream_core::pii::{Protector, KEYS_ENV, KEYS_FILE_ENV};
use std::io::{BufRead, Write};

/// Decrypts each value, printing one card number per line. A value that is not an fpe
/// output is reported (by its position, not its text) and the others go on.
pub fn run(key_id: Option<&str>, values: &[String]) -> anyhow::Result<Outcome> {
    let p = Protector::from_env().map_err(|d| anyhow::anyhow!("{d}"))?;
    if !p.has_keys() {
        anyhow::bail!(
            "no PII key is configured: set {KEYS_FILE_ENV} to the key file (or {KEYS_ENV}) \
             holding the key the values were encrypted with"
        );
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut failed = 0u64;
    let mut one = |at: String, v: &str| -> anyhow::Result<()> {
        match p.fpe_decrypt(key_id, v.trim()) {
            Ok(pan) => writeln!(out, "{pan}")?,
            Err(riskstream_core::pii::PiiError::UnknownKey(id)) => {
                anyhow::bail!("no PII key with id `{id}` is loaded (loaded: {p:?})")
            }
            Err(e) => {
                failed += 1;
                eprintln!("error: {at}: {e}");
            }
        }
        Ok(())
    };
    if values.is_empty() {
        for (i, line) in std::io::stdin().lock().lines().enumerate() {
            let line = line.context("cannot read standard input")?;
            if !line.trim().is_empty() {
                one(format!("line {}", i + 1), &line)?;
            }
        }
    } else {
        for (i, v) in values.iter().enumerate() {
            one(format!("value {}", i + 1), v)?;
        }
    }
    Ok(if failed == 0 {
        Outcome::Clean
    } else {
        Outcome::Problems
    })
}
