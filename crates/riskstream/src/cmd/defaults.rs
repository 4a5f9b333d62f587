//! Defaults that name files in or beside the repository, made to work from any directory.
//!
//! The public data sets (`../shared/data`), the peers' scripts (`bench/peers`,
//! `../shared/peers`) and their virtualenvs (`../peers-venv`) are too big, or too many, or
//! not ours, to build into the binary (the shipped specs and policies that are defaults
//! are built in: see `riskstream_bench`). Their defaults are written relative to the
//! repository root, and a flag left at its default is found:
//!
//! 1. relative to the current directory, when it is there (running from the repository
//!    root, as the README does, behaves as it always did);
//! 2. else relative to the root of the repository this binary was built from;
//! 3. else as written, so the error names the path the help shows.
//!
//! A path given on the command line (or through its environment variable) is never
//! resolved: it means what the shell means.

use std::path::{Path, PathBuf};

/// The repository this binary was built from.
const BUILT_FROM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// `rel` (relative to the repository root) found from the current directory, else from
/// the repository this binary was built from, else as written.
pub fn repo_path(rel: &str) -> PathBuf {
    let here = PathBuf::from(rel);
    if here.exists() {
        return here;
    }
    let built = Path::new(BUILT_FROM).join(rel);
    if built.exists() {
        return built;
    }
    here
}

/// The public data sets: `--data` / `RISKSTREAM_DATA`, else `../shared/data`.
pub const DATA: &str = "../shared/data";
/// The fraud handbook's raw transactions, within [`DATA`].
pub const HANDBOOK_RAW: &str =
    "../shared/data/fraud-handbook-simulated/raw/transactions_2018-04-01_2018-09-30.csv.gz";
/// The peers' scripts outside the repository.
pub const PEERS_DIR: &str = "../shared/peers";
/// Our own peer scripts (seeded runs), in the repository.
pub const SEED_SCRIPTS: &str = "scripts/peers";
/// The peers' virtualenvs (`ml/`, `spark/`, `flink/`).
pub const PEERS_VENV: &str = "../peers-venv";

/// `path` if given, else the default `rel` resolved as above.
pub fn or_repo(path: Option<PathBuf>, rel: &str) -> PathBuf {
    path.unwrap_or_else(|| repo_path(rel))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repository_default_is_found_from_the_build_tree() {
        let p = repo_path("examples/fraud-handbook/features.toml");
        assert!(p.is_file(), "{}", p.display());
        assert_eq!(
            repo_path("no/such/file.toml"),
            PathBuf::from("no/such/file.toml")
        );
    }
}
