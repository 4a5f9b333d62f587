//! Regression: paths in a service config are relative to the config file's directory, the
//! registry's SQLite file included. It used to be taken from the current directory, so
//! `riskstream keys list --config svc/service.toml` run from elsewhere silently created
//! (and listed) an empty database.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use riskstream_registry::{Registry, RegistryOptions};
use riskstream_server::ServiceConfig;
use std::path::Path;

const CONFIG: &str = r#"
[server]
metrics_listen = "off"
[server.tls]
cert = "tls/cert.pem"
key = "tls/key.pem"
[registry]
url = "sqlite://reg.db"
[state]
dir = "state"
[audit]
key_file = "audit.key"
[features]
spec = "features.toml"
"#;

/// Whether `p` (which may not exist yet) is `dir/name`, compared on canonical paths.
fn is_in(p: &Path, dir: &Path, name: &str) -> bool {
    let parent = p.parent().unwrap().canonicalize().unwrap();
    parent == dir.canonicalize().unwrap() && p.file_name().unwrap() == name
}

// One test: it changes the process's current directory.
#[tokio::test]
async fn config_paths_are_relative_to_the_config_file() {
    let tmp = tempfile::tempdir().unwrap();
    let svc = tmp.path().join("svc");
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir_all(svc.join("tls")).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    for f in ["tls/cert.pem", "tls/key.pem", "audit.key", "features.toml"] {
        std::fs::write(svc.join(f), "x").unwrap();
    }
    std::fs::write(svc.join("service.toml"), CONFIG).unwrap();

    std::env::set_current_dir(&elsewhere).unwrap();
    let cfg =
        ServiceConfig::load(Path::new("../svc/service.toml")).unwrap_or_else(|d| panic!("{d}"));

    let db = cfg.registry_file().expect("a SQLite registry");
    assert!(is_in(&db, &svc, "reg.db"), "{}", cfg.registry_url);
    assert!(
        is_in(&cfg.state_dir, &svc, "state"),
        "{}",
        cfg.state_dir.display()
    );
    let tls = cfg.tls.as_ref().unwrap();
    assert!(is_in(&tls.cert, &svc.join("tls"), "cert.pem"));
    assert!(is_in(&tls.key, &svc.join("tls"), "key.pem"));
    assert!(is_in(
        cfg.audit_key_file.as_ref().unwrap(),
        &svc,
        "audit.key"
    ));
    assert!(is_in(&cfg.feature_spec, &svc, "features.toml"));

    // A command that only reads is told there is no registry, instead of creating one.
    let e = cfg.require_registry().unwrap_err().to_string();
    assert!(e.contains("registry.url: no registry at"), "{e}");
    assert!(!db.exists());

    // Opening it creates the database next to the config, not in the current directory.
    let reg = Registry::open_with(&cfg.registry_url, RegistryOptions::default())
        .await
        .unwrap();
    drop(reg);
    assert!(svc.join("reg.db").is_file());
    assert!(!elsewhere.join("reg.db").exists());
    cfg.require_registry().unwrap();
}

#[test]
fn absolute_and_in_memory_registries_are_kept_as_written() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.toml"), "").unwrap();
    let parse = |url: &str| {
        let text = format!("[registry]\nurl = \"{url}\"\n[features]\nspec = \"f.toml\"\n");
        ServiceConfig::parse(&text, "t", dir.path()).unwrap()
    };
    let abs = format!("sqlite://{}/r.db?mode=ro", dir.path().display());
    assert_eq!(parse(&abs).registry_url, abs);
    assert_eq!(parse("sqlite::memory:").registry_url, "sqlite::memory:");
    assert_eq!(parse("sqlite::memory:").registry_file(), None);
    let pg = "postgres://u@h/db";
    assert_eq!(parse(pg).registry_url, pg);
    assert_eq!(parse(pg).registry_file(), None);
    // A relative path keeps its query string.
    assert_eq!(
        parse("sqlite:r.db?mode=ro").registry_url,
        format!("sqlite://{}?mode=ro", dir.path().join("r.db").display())
    );
}
