//! The service under test: started on a temporary directory and registry, with a model
//! and a policy to deploy, shared by the service's test files.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

pub mod receiver;

use riskstream_features::FeatureSpec;
use riskstream_learn::model::{Algorithm, ModelCard, ModelFile};
use riskstream_learn::{Dataset, Matrix};
use riskstream_registry::{Registry, Role};
use riskstream_server::{Running, ServiceConfig};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

pub fn spec_path() -> PathBuf {
    examples().join("fraud-handbook/features.toml")
}

pub const POLICY: &str = r#"
name = "test-policy"
version = "1"
[score]
review_at = 0.5
decline_at = 0.9
reasons = 3
[[rule]]
name = "blocked_customer"
when = "in_list('block_customers', tx.CUSTOMER_ID)"
outcome = "decline"
priority = 100
reason = "customer is on the block list"
[[rule]]
name = "large_amount"
when = "tx.TX_AMOUNT > 220.0"
outcome = "review"
priority = 50
reason = "amount above 220"
"#;

pub struct Svc {
    pub running: Option<Running>,
    pub base: String,
    pub metrics: String,
    pub admin: String,
    pub http: reqwest::Client,
    pub _dir: Option<tempfile::TempDir>,
    pub dir: PathBuf,
    pub url: String,
    /// The service's tenant (`[registry] tenant`).
    pub tenant: String,
}

pub fn config_text(dir: &Path, url: &str, extra_server: &str) -> String {
    config_text_with(dir, url, extra_server, "", "")
}

/// The test config with extra lines in `[server]`, `[state]` and `[features]`.
pub fn config_text_with(
    dir: &Path,
    url: &str,
    extra_server: &str,
    extra_state: &str,
    extra_features: &str,
) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nmetrics_listen = \"127.0.0.1:0\"\nreturn_features = true\n{extra_server}\n\
         [registry]\nurl = \"{url}\"\ndeployment = \"cards\"\npoll_interval = \"200ms\"\n\
         [state]\ndir = \"{}\"\ncheckpoint_interval = \"off\"\n{extra_state}\n[features]\nspec = \"{}\"\n{extra_features}\n",
        dir.join("state").display(),
        spec_path().display()
    )
}

pub async fn start_in(
    dir: PathBuf,
    url: String,
    extra: &str,
    keep: Option<tempfile::TempDir>,
) -> Svc {
    let text = config_text(&dir, &url, extra);
    start_with(dir, url, &text, keep).await
}

/// Starts the service on a whole config text.
pub async fn start_with(
    dir: PathBuf,
    url: String,
    text: &str,
    keep: Option<tempfile::TempDir>,
) -> Svc {
    let cfg_path = dir.join("service.toml");
    std::fs::write(&cfg_path, text).unwrap();
    let cfg = ServiceConfig::load(&cfg_path).unwrap();
    let tenant = cfg.tenant.clone();
    let reg = cfg.open_registry().await.unwrap();
    let admin = reg
        .create_key(&format!("admin-{}", rand_suffix()), &[Role::Admin], "test")
        .await
        .unwrap();
    drop(reg);
    let running = riskstream_server::start(cfg, std::future::pending())
        .await
        .unwrap();
    let base = format!("http://{}", running.addr);
    let metrics = format!("http://{}/metrics", running.metrics_addr.unwrap());
    Svc {
        running: Some(running),
        base,
        metrics,
        admin,
        http: reqwest::Client::new(),
        _dir: keep,
        dir,
        url,
        tenant,
    }
}

pub fn rand_suffix() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

pub async fn start(extra: &str) -> Svc {
    let d = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        d.path().join("registry.db").display()
    );
    start_in(d.path().to_path_buf(), url, extra, Some(d)).await
}

impl Svc {
    /// The service's registry, for its tenant.
    pub async fn registry(&self) -> Registry {
        Registry::open_with(
            &self.url,
            riskstream_registry::RegistryOptions::default().with_tenant(self.tenant.clone()),
        )
        .await
        .unwrap()
    }

    pub async fn key(&self, roles: &[Role]) -> String {
        let reg = self.registry().await;
        reg.create_key(&format!("k-{}", rand_suffix()), roles, "test")
            .await
            .unwrap()
    }
    /// GET `path` with `key`: the status and the JSON body (`Null` if it is not JSON).
    pub async fn get_json(&self, path: &str, key: &str) -> (u16, serde_json::Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    pub fn post(&self, path: &str, key: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(key)
    }
    pub async fn stop(&mut self) {
        self.running.take().unwrap().shutdown().await.unwrap();
    }
}

/// A small GBDT over the spec's features: fraud when the 1-day average amount is high.
pub fn model_json(spec: &FeatureSpec) -> String {
    let names: Vec<String> = spec.features.iter().map(|f| f.name().to_string()).collect();
    let avg = names
        .iter()
        .position(|n| n == "CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW")
        .unwrap();
    let mut rows = Vec::new();
    let mut y = Vec::new();
    for i in 0..600 {
        let mut r = vec![0.0; names.len()];
        for (j, v) in r.iter_mut().enumerate() {
            *v = ((i * 31 + j * 17) % 97) as f64 / 10.0;
        }
        r[avg] = (i % 300) as f64;
        y.push(if r[avg] > 150.0 { 1.0 } else { 0.0 });
        rows.push(r);
    }
    let data = Dataset::new(Matrix::from_rows(&rows).unwrap(), y, names).unwrap();
    let (m, params) = Algorithm::Gbdt
        .fit(&json!({"n_rounds": 20, "max_depth": 3}), &data)
        .unwrap();
    let card = ModelCard {
        format: String::new(),
        format_version: 0,
        model_id: String::new(),
        algorithm: String::new(),
        feature_names: Vec::new(),
        feature_spec_hash: Some(format!("{:016x}", spec.hash)),
        training: Default::default(),
        hyper_params: params,
        metrics: Default::default(),
        trained_at: "2026-11-24T00:00:00Z".into(),
        train_seconds: 0.0,
        riskstream_version: "test".into(),
    };
    serde_json::to_string(&ModelFile::new(m, card).unwrap()).unwrap()
}

pub fn tx(id: i64, customer: i64, amount: f64, when: &str) -> Value {
    json!({
        "TRANSACTION_ID": id, "TX_DATETIME": when, "CUSTOMER_ID": customer, "TERMINAL_ID": 7,
        "TX_AMOUNT": amount, "TX_TIME_SECONDS": id, "TX_TIME_DAYS": 0, "TX_FRAUD": 0
    })
}

/// Registers the model (champion) and the policy (active) as an admin.
pub async fn deploy(s: &Svc) -> (String, String) {
    let spec = FeatureSpec::from_file(&spec_path()).unwrap();
    let r = s
        .post("/v1/models", &s.admin)
        .body(model_json(&spec))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let model: Value = r.json().await.unwrap();
    let model = model["id"].as_str().unwrap().to_string();
    let r = s
        .post(&format!("/v1/models/{model}/stage"), &s.admin)
        .json(&json!({"stage": "champion"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = s
        .post("/v1/policies", &s.admin)
        .body(POLICY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let p: Value = r.json().await.unwrap();
    let policy = p["id"].as_str().unwrap().to_string();
    let r = s
        .post(&format!("/v1/policies/{policy}/activate"), &s.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    (model, policy)
}

/// A fresh PostgreSQL database for one test, dropped when it ends (however it ends).
/// `RISKSTREAM_TEST_POSTGRES` names the server (and a database to connect to first).
pub struct PgDb {
    base: String,
    db: String,
    /// The new database's URL, for the registry.
    pub url: String,
}

impl PgDb {
    /// Creates the database named `prefix` + a unique suffix; `None`, saying how to run
    /// the test, when `RISKSTREAM_TEST_POSTGRES` is not set.
    pub fn create(prefix: &str) -> Option<PgDb> {
        let Ok(base) = std::env::var("RISKSTREAM_TEST_POSTGRES") else {
            eprintln!("skipped: set RISKSTREAM_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test to run against PostgreSQL");
            return None;
        };
        let db = format!("{prefix}_{}", rand_suffix());
        let url = match base.rfind('/') {
            Some(i) => format!("{}/{db}", &base[..i]),
            None => panic!("RISKSTREAM_TEST_POSTGRES has no database part"),
        };
        if let Err(e) = psql(&base, &format!("CREATE DATABASE {db}")) {
            panic!("{e}");
        }
        Some(PgDb { base, db, url })
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        if let Err(e) = psql(
            &self.base,
            &format!("DROP DATABASE {} WITH (FORCE)", self.db),
        ) {
            eprintln!("warning: {e}");
        }
    }
}

/// Runs one statement with psql (keeps sqlx out of this crate's dev-dependencies).
pub fn psql(url: &str, sql: &str) -> Result<(), String> {
    let out = std::process::Command::new("psql")
        .arg(url)
        .args(["-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .map_err(|e| format!("psql: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
