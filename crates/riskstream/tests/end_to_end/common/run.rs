//! Running the `riskstream` binary from a test: the command, and its output when it must
//! have succeeded.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

/// `riskstream`, as cargo built it for this test.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_riskstream"))
}

/// Standard output of a run that must have succeeded (the failure shows both streams).
pub fn succeeded(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}
