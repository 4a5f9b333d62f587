//! Helpers shared by the integration tests.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::path::PathBuf;

/// The shared data directory (`../shared/data` from the workspace root), if present.
pub fn shared_data() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    let dir = std::env::var_os("RISKSTREAM_DATA")
        .map(PathBuf::from)
        .unwrap_or(root);
    dir.is_dir().then_some(dir)
}

/// The handbook's raw file, or `None` with a message saying why the test skips.
pub fn handbook_raw() -> Option<PathBuf> {
    let p = shared_data()?
        .join("fraud-handbook-simulated/raw/transactions_2018-04-01_2018-09-30.csv.gz");
    if p.is_file() {
        Some(p)
    } else {
        eprintln!(
            "SKIP: {} is absent. This test checks our reader against the fraud handbook's published \
             counts and needs ../shared/data (set RISKSTREAM_DATA to point elsewhere); CI has it.",
            p.display()
        );
        None
    }
}
