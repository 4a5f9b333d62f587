//! What the console's tests share: a service on loopback with a SQLite registry, the fraud
//! handbook's features and policy, a small model and some decided transactions; a plain
//! HTTP client that keeps cookies (for what a browser cannot check); headless Chromium
//! through chromedriver ([`browser`]).

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

pub mod browser;

use riskstream_features::FeatureSpec;
use riskstream_learn::model::{Algorithm, ModelCard, ModelFile};
use riskstream_learn::{Dataset, Matrix};
use riskstream_registry::{CaseQuery, CaseStatus, Registry, Role};
use riskstream_server::ServiceConfig;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Where the browser tests write their screenshots: `<target>/console-screenshots/`.
pub fn screenshots() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    let d = target.join("console-screenshots");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The handbook schema with one free-text field more (where a `<script>` can hide), and
/// the handbook's feature spec over it.
pub fn write_spec(dir: &Path) -> PathBuf {
    let schema = std::fs::read_to_string(root().join("schemas/fraud-handbook-raw.toml"))
        .unwrap()
        .replace(
            "name = \"fraud-handbook-raw\"",
            "name = \"fraud-handbook-console-test\"",
        )
        + "\n[[field]]\nname = \"MERCHANT_NAME\"\ntype = \"string\"\nrequired = false\ndescription = \"free text from the acquirer\"\n";
    std::fs::write(dir.join("schema.toml"), schema).unwrap();
    let spec = std::fs::read_to_string(root().join("examples/fraud-handbook/features.toml"))
        .unwrap()
        .replace(
            "schema = \"fraud-handbook-raw\"",
            "schema = \"schema.toml\"",
        );
    assert!(spec.contains("schema = \"schema.toml\""));
    let p = dir.join("features.toml");
    std::fs::write(&p, spec).unwrap();
    p
}

/// A small GBDT over the spec's features: fraud when the 1-day average amount is high.
pub fn model_json(spec: &FeatureSpec, rounds: usize) -> String {
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
        .fit(&json!({"n_rounds": rounds, "max_depth": 3}), &data)
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

pub const SCRIPT: &str = "<script>document.title='pwned';alert('x')</script>";

/// Transactions 1..=40 over one morning: every fifth one large (the policy's
/// `amount_over_220` sends it to review); number 7 carries a `<script>` as its merchant.
pub fn transactions() -> Vec<Value> {
    (1..=40i64)
        .map(|i| {
            let amount = if i % 5 == 0 || i == 7 {
                300.0 + i as f64
            } else {
                20.0 + i as f64
            };
            let mut t = json!({
                "TRANSACTION_ID": i,
                "TX_DATETIME": format!("2026-11-24 10:{:02}:00", i),
                "CUSTOMER_ID": 100 + i % 4,
                "TERMINAL_ID": 7,
                "TX_AMOUNT": amount,
                "TX_TIME_SECONDS": i * 60,
                "TX_TIME_DAYS": 0,
                "TX_FRAUD": 0,
                "MERCHANT_NAME": format!("Shop {i}"),
            });
            if i == 7 {
                t["MERCHANT_NAME"] = json!(SCRIPT);
            }
            t
        })
        .collect()
}

/// A browser-less client for the checks a browser cannot make (a POST without a token).
pub struct Plain {
    pub http: reqwest::Client,
    pub base: String,
    pub cookies: Vec<(String, String)>,
}

impl Plain {
    pub fn new(base: &str) -> Self {
        Self::from_address(base, None)
    }

    /// A client whose connections come from `local` (another loopback address, e.g.
    /// 127.0.0.2, to be another client to the sign-in rate limit).
    pub fn from_address(base: &str, local: Option<std::net::IpAddr>) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .local_address(local)
                .build()
                .unwrap(),
            base: base.to_string(),
            cookies: Vec::new(),
        }
    }

    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub fn keep(&mut self, r: &reqwest::Response) {
        for v in r.headers().get_all(reqwest::header::SET_COOKIE) {
            let s = v.to_str().unwrap();
            let (k, rest) = s.split_once('=').unwrap();
            let val = rest.split(';').next().unwrap().to_string();
            self.cookies.retain(|(n, _)| n != k);
            if !val.is_empty() {
                self.cookies.push((k.to_string(), val));
            }
        }
    }

    pub async fn get(&mut self, path: &str) -> (u16, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header(reqwest::header::COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(&r);
        (r.status().as_u16(), r.text().await.unwrap())
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::COOKIE, self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.keep(&r);
        (r.status().as_u16(), r.text().await.unwrap())
    }

    pub async fn sign_in(&mut self, key: &str) {
        let (s, page) = self.get("/console/signin").await;
        assert_eq!(s, 200);
        let token = csrf_of(&page);
        let (s, _) = self
            .post("/console/signin", &[("key", key), ("csrf", &token)])
            .await;
        assert_eq!(s, 303, "signed in");
    }
}

pub fn csrf_of(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token")
        + 19;
    page[at..at + 64].to_string()
}

pub async fn wait_for_port(addr: &str) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not listen on {addr}");
}

/// A service with the console mounted, its registry, keys, and decided transactions.
pub struct Service {
    pub dir: tempfile::TempDir,
    pub running: riskstream_server::Running,
    pub base: String,
    pub reg: Registry,
    pub http: reqwest::Client,
    pub spec: FeatureSpec,
    /// `admin`.
    pub admin: String,
    /// `ana`: analyst, label, lists.
    pub analyst: String,
    /// `reader`: analyst only.
    pub reader: String,
    /// The champion's id (when deployed).
    pub model: String,
    /// The decisions of [`transactions`], in order.
    pub decisions: Vec<Value>,
    /// Transaction ids sent to review or declined.
    pub flagged: Vec<String>,
}

impl Service {
    /// Starts the service; with `deploy`, registers the model as champion and the handbook
    /// policy, decides [`transactions`] and waits until their cases are open.
    pub async fn start(deploy: bool) -> Service {
        Self::start_with(deploy, |_| String::new()).await
    }

    /// [`Service::start`] with `extra` appended to the config (e.g. a `[forecast]` section).
    pub async fn start_extra(deploy: bool, extra: &str) -> Service {
        let extra = extra.to_string();
        Self::start_with(deploy, move |_| extra).await
    }

    /// [`Service::start`] with more config sections, written by `extra` given the service's
    /// directory (where it may put the files those sections name).
    pub async fn start_with(deploy: bool, extra: impl FnOnce(&Path) -> String) -> Service {
        let dir = tempfile::tempdir().unwrap();
        let spec_path = write_spec(dir.path());
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("registry.db").display()
        );
        let cfg_text = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nmetrics_listen = \"off\"\n\
             [registry]\nurl = \"{url}\"\ndeployment = \"cards\"\npoll_interval = \"200ms\"\n\
             [state]\ndir = \"{}\"\ncheckpoint_interval = \"off\"\n\
             [features]\nspec = \"{}\"\n",
            dir.path().join("state").display(),
            spec_path.display()
        );
        let cfg_text = format!("{cfg_text}{}", extra(dir.path()));
        let cfg_path = dir.path().join("service.toml");
        std::fs::write(&cfg_path, cfg_text).unwrap();
        let cfg = ServiceConfig::load(&cfg_path).unwrap();
        let reg = Registry::open(&url).await.unwrap();
        let admin = reg
            .create_key("admin", &[Role::Admin], "test")
            .await
            .unwrap();
        let analyst = reg
            .create_key("ana", &[Role::Analyst, Role::Label, Role::Lists], "test")
            .await
            .unwrap();
        let reader = reg
            .create_key("reader", &[Role::Analyst], "test")
            .await
            .unwrap();
        let running =
            riskstream_server::start_with(cfg, std::future::pending(), riskstream_console::router)
                .await
                .unwrap();
        let base = format!("http://{}", running.addr);
        let spec = FeatureSpec::from_file(&spec_path).unwrap();
        let mut s = Service {
            dir,
            running,
            base,
            reg,
            http: reqwest::Client::new(),
            spec,
            admin,
            analyst,
            reader,
            model: String::new(),
            decisions: Vec::new(),
            flagged: Vec::new(),
        };
        if deploy {
            s.deploy().await;
        }
        s
    }

    /// An admin request to the API.
    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.admin)
    }

    /// Registers an artifact at `route` (`/v1/credit/models`, `/v1/forecast-models`, …) as
    /// the admin and moves it to the champion stage (`{route}/{id}/stage`); its id.
    pub async fn push_champion(&self, route: &str, body: String) -> String {
        let r = self.post(route).body(body).send().await.unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        let id = r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let r = self
            .post(&format!("{route}/{id}/stage"))
            .json(&json!({"stage": "champion"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        id
    }

    /// Registers a model trained for `rounds` rounds; its id.
    pub async fn register_model(&self, rounds: usize) -> String {
        let r = self
            .post("/v1/models")
            .body(model_json(&self.spec, rounds))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Moves a model to a stage through the API.
    pub async fn stage(&self, id: &str, stage: Value) {
        let r = self
            .post(&format!("/v1/models/{id}/stage"))
            .json(&stage)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }

    async fn deploy(&mut self) {
        self.model = self.register_model(20).await;
        self.stage(&self.model.clone(), json!({"stage": "champion"}))
            .await;
        let policy =
            std::fs::read_to_string(root().join("examples/fraud-handbook/policy.toml")).unwrap();
        let r = self.post("/v1/policies").body(policy).send().await.unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        let pid = r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let r = self
            .post(&format!("/v1/policies/{pid}/activate"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        let r = self
            .post("/v1/decisions/batch")
            .json(&json!({ "transactions": transactions() }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        let out: Value = r.json().await.unwrap();
        assert_eq!(out["refused"], 0, "{out}");
        self.decisions = out["results"].as_array().unwrap().clone();
        self.flagged = self
            .decisions
            .iter()
            .filter(|d| d["outcome"] != "approve")
            .map(|d| d["tx_id"].as_str().unwrap().to_string())
            .collect();
        assert!(self.flagged.contains(&"7".to_string()), "{out}");
        // `serve` opens a case for every review/decline decision, in the background.
        let open_q = CaseQuery {
            status: Some(CaseStatus::Open),
            limit: 100,
            ..Default::default()
        };
        for _ in 0..100 {
            if self.reg.count_cases(&open_q).await.unwrap() == self.flagged.len() as u64 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            self.reg.count_cases(&open_q).await.unwrap(),
            self.flagged.len() as u64
        );
    }
}
