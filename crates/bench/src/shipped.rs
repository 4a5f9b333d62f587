//! The shipped files the benches use by default, built in so that `riskstream bench` works
//! from any directory: the fraud handbook's feature spec and policy (`examples/`).

use riskstream_features::FeatureSpec;
use std::path::{Path, PathBuf};

/// `examples/fraud-handbook/features.toml`.
const HANDBOOK_SPEC: &str = include_str!("../../../examples/fraud-handbook/features.toml");
/// `examples/fraud-handbook/policy.toml`.
const HANDBOOK_POLICY: &str = include_str!("../../../examples/fraud-handbook/policy.toml");

/// The handbook's feature spec (it names its schema by a shipped name, so it needs no
/// directory).
pub(crate) fn handbook_spec() -> anyhow::Result<FeatureSpec> {
    Ok(FeatureSpec::from_toml_str(
        HANDBOOK_SPEC,
        "examples/fraud-handbook/features.toml (built in)",
        None,
    )?)
}

/// Writes the handbook's feature spec into `dir` for a tool that takes a path; returns it.
pub(crate) fn write_handbook_spec(dir: &Path) -> anyhow::Result<PathBuf> {
    write(dir, "features.toml", HANDBOOK_SPEC)
}

/// Writes the handbook's policy into `dir`; returns its path.
pub(crate) fn write_handbook_policy(dir: &Path) -> anyhow::Result<PathBuf> {
    write(dir, "policy.toml", HANDBOOK_POLICY)
}

fn write(dir: &Path, name: &str, text: &str) -> anyhow::Result<PathBuf> {
    let p = dir.join(name);
    std::fs::write(&p, text).map_err(|source| riskstream_io::IoError::Io {
        path: p.clone(),
        what: "writing a shipped file".into(),
        source,
    })?;
    Ok(p)
}
