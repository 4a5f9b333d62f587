//! No crate keeps a dependency it does not use. Checked from `cargo metadata` and the
//! sources: every normal dependency of a workspace crate must be named in that crate's
//! `src/` (as `name::…`, `use name`, or in a derive path); dev-dependencies in its tests,
//! benches, examples or `src/`. A dependency listed only to switch on a feature of another
//! one goes in `ALLOWED` with the reason.
//!
//! Why a test of our own and not `cargo machete`: it runs in the normal test command with
//! nothing to install, and it knows the few deliberate exceptions by name.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::path::Path;

/// (crate, dependency, why it is listed though no source names it).
const ALLOWED: &[(&str, &str, &str)] = &[];

fn sources(dir: &Path, out: &mut String) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push_str(&std::fs::read_to_string(&p).unwrap_or_default());
            out.push('\n');
        }
    }
}

fn names(text: &str, krate: &str) -> bool {
    let k = krate.replace('-', "_");
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(i) = text[from..].find(&k) {
        let at = from + i;
        let end = at + k.len();
        let before_ok =
            at == 0 || !(bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_');
        let after = &text[end..];
        let after_ok = after.starts_with("::")
            || after.starts_with(';')
            || after.starts_with(" as ")
            || after.starts_with(",")
            || after.starts_with('}')
            || after.starts_with('!');
        if before_ok && after_ok {
            return true;
        }
        from = end;
    }
    false
}

#[test]
fn every_dependency_is_used() {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let mut problems = Vec::new();
    for p in meta["packages"].as_array().expect("packages") {
        let name = p["name"].as_str().unwrap_or_default();
        let manifest = Path::new(p["manifest_path"].as_str().unwrap_or_default());
        let root = manifest.parent().expect("crate dir");
        let mut lib = String::new();
        sources(&root.join("src"), &mut lib);
        if root.join("build.rs").is_file() {
            lib.push_str(&std::fs::read_to_string(root.join("build.rs")).unwrap_or_default());
        }
        let mut dev = lib.clone();
        for d in ["tests", "benches", "examples"] {
            sources(&root.join(d), &mut dev);
        }
        for d in p["dependencies"].as_array().into_iter().flatten() {
            let dep = d["rename"]
                .as_str()
                .or_else(|| d["name"].as_str())
                .unwrap_or_default();
            if ALLOWED.iter().any(|(c, x, _)| *c == name && *x == dep) {
                continue;
            }
            let kind = d["kind"].as_str();
            let text = match kind {
                None => &lib,
                Some("dev") => &dev,
                Some(_) => continue, // build-dependencies: build.rs is read with src
            };
            if !names(text, dep) {
                problems.push(format!(
                    "{name}: {} `{dep}` is not used (remove it from {}, or add it to ALLOWED here with the reason)",
                    if kind == Some("dev") { "dev-dependency" } else { "dependency" },
                    manifest.display()
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "unused dependencies:\n{}",
        problems.join("\n")
    );
}
