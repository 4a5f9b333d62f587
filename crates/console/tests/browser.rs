//! The console in a real browser: a service on loopback with a SQLite registry, the fraud
//! handbook's features and policy, a small model and some decided transactions; headless
//! Chromium driven through chromedriver (fantoccini) the way an analyst uses it. Screenshots
//! go to `<target>/console-screenshots/`.
//!
//! Without `chromium` and `chromedriver` on the PATH (Debian: `chromium chromium-driver`,
//! which `.ci/run` installs) the test prints SKIP and passes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fantoccini::{ClientBuilder, Locator};
use riskstream_features::FeatureSpec;
use riskstream_learn::model::{Algorithm, ModelCard, ModelFile};
use riskstream_learn::{Dataset, Matrix};
use riskstream_registry::{CaseQuery, CaseStatus, Registry, Role};
use riskstream_server::ServiceConfig;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn screenshots() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    let d = target.join("console-screenshots");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The handbook schema with one free-text field more (where a `<script>` can hide), and
/// the handbook's feature spec over it.
fn write_spec(dir: &Path) -> PathBuf {
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
fn model_json(spec: &FeatureSpec) -> String {
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

const SCRIPT: &str = "<script>document.title='pwned';alert('x')</script>";

/// Transactions 1..=40 over one morning: every fifth one large (the policy's
/// `amount_over_220` sends it to review); number 7 carries a `<script>` as its merchant.
fn transactions() -> Vec<Value> {
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
struct Plain {
    http: reqwest::Client,
    base: String,
    cookies: Vec<(String, String)>,
}

impl Plain {
    fn new(base: &str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: base.to_string(),
            cookies: Vec::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, r: &reqwest::Response) {
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

    async fn get(&mut self, path: &str) -> (u16, String) {
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

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> (u16, String) {
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

    async fn sign_in(&mut self, key: &str) {
        let (s, page) = self.get("/console/signin").await;
        assert_eq!(s, 200);
        let token = csrf_of(&page);
        let (s, _) = self
            .post("/console/signin", &[("key", key), ("csrf", &token)])
            .await;
        assert_eq!(s, 303, "signed in");
    }
}

fn csrf_of(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token")
        + 19;
    page[at..at + 64].to_string()
}

async fn wait_for_port(addr: &str) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not listen on {addr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analyst_works_a_case_in_chromium() {
    let (Some(chromium), Some(driver)) = (
        which("chromium").or_else(|| which("chromium-browser")),
        which("chromedriver"),
    ) else {
        println!("SKIP: chromium and chromedriver are not installed (apt-get install chromium chromium-driver)");
        return;
    };
    let shots = screenshots();
    let dir = tempfile::tempdir().unwrap();
    let spec_path = write_spec(dir.path());
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("registry.db").display()
    );
    let cfg_text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nmetrics_listen = \"off\"\n\
         [registry]\nurl = \"{url}\"\ndeployment = \"cards\"\npoll_interval = \"200ms\"\n\
         [state]\ndir = \"{}\"\ncheckpoint_interval = \"off\"\n[features]\nspec = \"{}\"\n",
        dir.path().join("state").display(),
        spec_path.display()
    );
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
    let http = reqwest::Client::new();

    // Deploy the handbook policy and a model, then decide the transactions.
    let spec = FeatureSpec::from_file(&spec_path).unwrap();
    let post = |path: &str| http.post(format!("{base}{path}")).bearer_auth(&admin);
    let r = post("/v1/models")
        .body(model_json(&spec))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let model = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = post(&format!("/v1/models/{model}/stage"))
        .json(&json!({"stage": "champion"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let policy =
        std::fs::read_to_string(root().join("examples/fraud-handbook/policy.toml")).unwrap();
    let r = post("/v1/policies").body(policy).send().await.unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let pid = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = post(&format!("/v1/policies/{pid}/activate"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = post("/v1/decisions/batch")
        .json(&json!({ "transactions": transactions() }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let out: Value = r.json().await.unwrap();
    assert_eq!(out["refused"], 0, "{out}");
    let flagged: Vec<String> = out["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["outcome"] != "approve")
        .map(|d| d["tx_id"].as_str().unwrap().to_string())
        .collect();
    assert!(flagged.contains(&"7".to_string()), "{out}");
    // `serve` opens a case for every review/decline decision, in the background.
    let open_q = CaseQuery {
        status: Some(CaseStatus::Open),
        limit: 100,
        ..Default::default()
    };
    for _ in 0..100 {
        if reg.count_cases(&open_q).await.unwrap() == flagged.len() as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        reg.count_cases(&open_q).await.unwrap(),
        flagged.len() as u64
    );

    // chromedriver on a free port, headless Chromium through it.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut chromedriver = tokio::process::Command::new(&driver)
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_for_port(&format!("127.0.0.1:{port}")).await;
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,1100", "--no-first-run", "--disable-extensions"],
        }),
    );
    let b = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session through chromedriver");
    let shot = |name: &'static str| {
        let b = b.clone();
        let p = shots.join(name);
        async move {
            let png = b.screenshot().await.unwrap();
            std::fs::write(&p, png).unwrap();
        }
    };
    let wait = Duration::from_secs(10);
    let find = |css: &'static str| {
        let b = b.clone();
        async move {
            b.wait()
                .at_most(wait)
                .for_element(Locator::Css(css))
                .await
                .unwrap_or_else(|e| panic!("no `{css}` on the page: {e}"))
        }
    };

    // `/` leads to the console, which asks to sign in.
    b.goto(&format!("{base}/")).await.unwrap();
    find("#key").await;
    assert!(b
        .current_url()
        .await
        .unwrap()
        .path()
        .ends_with("/console/signin"));
    shot("01-signin.png").await;
    // A wrong key is refused on the page.
    b.form(Locator::Css("form[action='/console/signin']"))
        .await
        .unwrap()
        .set_by_name("key", "rsk_nope")
        .await
        .unwrap()
        .submit()
        .await
        .unwrap();
    find("#signin-error").await;
    // Sign in.
    b.form(Locator::Css("form[action='/console/signin']"))
        .await
        .unwrap()
        .set_by_name("key", &analyst)
        .await
        .unwrap()
        .submit()
        .await
        .unwrap();
    let count = find("#count").await.text().await.unwrap();
    assert!(
        count.starts_with(&format!("{} cases", flagged.len())),
        "{count}"
    );
    assert_eq!(find("#who").await.text().await.unwrap(), "ana");
    let links = b.find_all(Locator::Css("a.case-link")).await.unwrap();
    assert_eq!(links.len(), flagged.len());
    shot("02-queue.png").await;

    // Filter: the rule, sorted by score.
    b.goto(&format!(
        "{base}/console/cases?rule=amount_over_220&sort=score_desc"
    ))
    .await
    .unwrap();
    let n = find("#count").await.text().await.unwrap();
    assert!(n.starts_with("9 cases"), "{n}");

    // The case of transaction 7: its `<script>` merchant is shown as text, not run.
    b.goto(&format!("{base}/console/cases/serve:cards:7"))
        .await
        .unwrap();
    let fields = find("#fields").await.text().await.unwrap();
    assert!(fields.contains(SCRIPT), "{fields}");
    assert_ne!(b.title().await.unwrap(), "pwned");
    let src = b.source().await.unwrap();
    assert!(!src.contains("<script>document.title"), "unescaped");
    assert!(find("#reasons")
        .await
        .html(false)
        .await
        .unwrap()
        .contains("<rect"));
    find("#rules").await;
    shot("03-case.png").await;

    // Label it fraud: the label reaches the service (as POST /v1/labels) and closes the case.
    let f = b.form(Locator::Css("#label-fraud")).await.unwrap();
    f.set_by_name("note", "cardholder denies it").await.unwrap();
    f.submit().await.unwrap();
    find("#done").await;
    find("#closed").await;
    shot("04-labelled.png").await;
    let c = reg.case("serve:cards:7").await.unwrap();
    assert_eq!(c.status, CaseStatus::Closed);
    assert_eq!(
        (
            c.label.as_deref(),
            c.closed_by.as_deref(),
            c.note.as_deref()
        ),
        (Some("fraud"), Some("ana"), Some("cardholder denies it"))
    );
    // The label's audit record is queued (the write-ahead log holds it meanwhile).
    let mut tail = Vec::new();
    for _ in 0..100 {
        tail = reg.audit_tail(20).await.unwrap();
        if tail.iter().any(|r| r.action == "label") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        tail.iter()
            .any(|r| r.action == "label" && r.subject == "7" && r.actor == "ana"),
        "the label is audited under the key's name: {tail:?}"
    );
    assert!(tail
        .iter()
        .any(|r| r.action == "case.close" && r.actor == "ana"));

    // Put transaction 10's customer on the block list, with a reason.
    b.goto(&format!("{base}/console/cases/serve:cards:10"))
        .await
        .unwrap();
    let f = b.form(Locator::Css("#list-entry")).await.unwrap();
    f.set_by_name("reason", "confirmed card testing")
        .await
        .unwrap();
    f.submit().await.unwrap();
    find("#done").await;
    shot("05-listed.png").await;
    let entries = reg.list_entries(Some("block_customers")).await.unwrap();
    assert!(
        entries.iter().any(|e| e.value == "102"),
        "customer 102 on the block list: {entries:?}"
    );
    assert!(reg
        .audit_tail(5)
        .await
        .unwrap()
        .iter()
        .any(|r| r.actor == "ana" && r.action == "list.put"));

    // Sign out: the session ends.
    b.find(Locator::Css("form.logout button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    find("#key").await;
    b.goto(&format!("{base}/console/cases")).await.unwrap();
    find("#key").await;
    b.close().await.unwrap();
    let _ = chromedriver.kill().await;

    // A POST without the CSRF token is refused, and one with another session's token.
    let mut p = Plain::new(&base);
    let (s, _) = p
        .post("/console/signin", &[("key", analyst.as_str())])
        .await;
    assert_eq!(s, 403, "sign-in without its token");
    p.sign_in(&analyst).await;
    let (s, page) = p.get("/console/cases/serve:cards:15").await;
    assert_eq!(s, 200);
    let token = csrf_of(&page);
    let (s, _) = p.post("/console/cases/serve:cards:15/assign", &[]).await;
    assert_eq!(s, 403, "no token");
    let (s, _) = p
        .post(
            "/console/cases/serve:cards:15/assign",
            &[("csrf", &"0".repeat(64))],
        )
        .await;
    assert_eq!(s, 403, "a wrong token");
    assert_eq!(reg.case("serve:cards:15").await.unwrap().assignee, None);
    let (s, _) = p
        .post("/console/cases/serve:cards:15/assign", &[("csrf", &token)])
        .await;
    assert_eq!(s, 303);
    assert_eq!(
        reg.case("serve:cards:15")
            .await
            .unwrap()
            .assignee
            .as_deref(),
        Some("ana")
    );

    // An analyst-only key does not see the list action and is refused if it posts one.
    let mut r = Plain::new(&base);
    r.sign_in(&reader).await;
    let (s, page) = r.get("/console/cases/serve:cards:20").await;
    assert_eq!(s, 200);
    assert!(!page.contains("id=\"list-entry\""));
    assert!(page.contains("id=\"label-fraud\""));
    let token = csrf_of(&page);
    let (s, body) = r
        .post(
            "/console/cases/serve:cards:20/list",
            &[
                ("csrf", token.as_str()),
                ("list", "block_customers"),
                ("value", "100"),
                ("reason", "x"),
                ("days", "3"),
            ],
        )
        .await;
    assert_eq!(s, 403, "{body}");
    assert!(body.contains("lists"), "{body}");
    assert!(!reg
        .list_entries(Some("block_customers"))
        .await
        .unwrap()
        .iter()
        .any(|e| e.value == "100"));
    // Without a session, pages lead to sign-in.
    let (s, _) = Plain::new(&base).get("/console/cases").await;
    assert_eq!(s, 303);

    running.shutdown().await.unwrap();
}
