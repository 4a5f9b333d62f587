//! Helpers shared by the integration tests: the CFPB complaints file, read through `io`.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use riskstream_io::table::{load, Column, LoadOptions};
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

/// The complaints: narrative, the label column, and the date as a sortable text.
pub struct Complaints {
    pub text: Vec<String>,
    pub label: Vec<String>,
    pub date: Vec<String>,
}

fn strings(c: &Column) -> Vec<String> {
    match c {
        Column::Text(v) => v.iter().map(|s| s.clone().unwrap_or_default()).collect(),
        Column::Time(v) => v.iter().map(|x| format!("{x:020}")).collect(),
        Column::Num(v) => v.iter().map(|x| format!("{x:020.0}")).collect(),
    }
}

/// Reads the file with `label` as the label column.
pub fn complaints(path: &std::path::Path, label: &str) -> Complaints {
    let dl = tempfile::tempdir().unwrap();
    let t = load(
        path,
        &LoadOptions {
            dead_letter: Some(dl.path().join("rejected.ndjson")),
            ..Default::default()
        },
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(t.stats.rejected, 0, "the CFPB file reads cleanly");
    let col = |n: &str| strings(&t.columns[t.index(n, "test").unwrap()]);
    Complaints {
        text: col("narrative"),
        label: col(label),
        date: col("date_received"),
    }
}
