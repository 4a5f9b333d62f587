//! The workspace's dependency rule, checked from `cargo metadata`: a riskstream crate may
//! depend only on riskstream crates in a *lower* layer (see ARCHITECTURE.md). A new crate
//! must be given a layer here, which forces the question of where it belongs.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::collections::BTreeMap;

/// Layer of every workspace crate. Keep in step with ARCHITECTURE.md.
const LAYERS: &[(&str, u8)] = &[
    ("riskstream-core", 0),
    ("riskstream-http", 1),
    ("riskstream-io", 1),
    ("riskstream-gen", 2),
    ("riskstream-features", 2),
    ("riskstream-learn", 2),
    ("riskstream-online", 2),
    ("riskstream-forecast", 2),
    ("riskstream-recommend", 2),
    ("riskstream-text", 2),
    ("riskstream-decide", 3),
    ("riskstream-registry", 3),
    ("riskstream-connectors", 3),
    ("riskstream-credit", 3),
    ("riskstream-pipeline", 4),
    ("riskstream-server", 5),
    ("riskstream-console", 6),
    ("riskstream-bench", 6),
    ("riskstream", 7),
];

#[test]
fn crate_dependencies_point_down_the_layers() {
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
    let layers: BTreeMap<&str, u8> = LAYERS.iter().copied().collect();
    let mut problems = Vec::new();
    let packages = meta["packages"].as_array().expect("packages");
    assert!(
        packages.len() >= 4,
        "expected the workspace crates, got {}",
        packages.len()
    );
    for p in packages {
        let name = p["name"].as_str().unwrap_or_default();
        let Some(&mine) = layers.get(name) else {
            problems.push(format!(
                "crate `{name}` has no layer: add it to LAYERS here and to ARCHITECTURE.md"
            ));
            continue;
        };
        for d in p["dependencies"].as_array().into_iter().flatten() {
            let dep = d["name"].as_str().unwrap_or_default();
            if d["kind"].as_str() == Some("dev") {
                continue; // tests may use anything
            }
            if let Some(&theirs) = layers.get(dep) {
                if theirs >= mine {
                    problems.push(format!("`{name}` (layer {mine}) depends on `{dep}` (layer {theirs}): dependencies must point down"));
                }
            } else if dep.starts_with("riskstream") {
                problems.push(format!(
                    "`{name}` depends on unknown workspace crate `{dep}`"
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "layering violations:\n{}",
        problems.join("\n")
    );
}
