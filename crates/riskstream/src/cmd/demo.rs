//! `riskstream demo`: the main job end to end on the embedded default, no services needed.
//!
//! 1. Data: the public fraud handbook's raw transactions when `../shared/data` has them,
//!    otherwise a synthetic bank generated on the spot (labels arriving days later as events).
//! 2. Features: the history is replayed through the feature engine into a training set.
//! 3. Model: a GBDT is trained on one week and written as a model file with its card.
//! 4. Registry: a SQLite file gets the model (as champion), a policy of CEL rules, and two
//!    API keys; every change lands in the hash-chained audit log.
//! 5. Service: the decision service starts in process on a loopback port; the weeks before
//!    the replay day are sent through `POST /v1/decisions/batch` to build the feature state,
//!    then one day of traffic goes through `POST /v1/decisions` one transaction at a time,
//!    the way a payment switch would call it.
//! 6. Report: decisions by outcome, precision and recall of review+decline against the
//!    labels, client and server latency percentiles, rule hits, and an audit-chain check.
//! 7. With `--serve`: the service keeps running after the report, with the analyst console
//!    on the same port (`--listen`), and the demo prints the console's address and an
//!    analyst key to sign in with; Ctrl-C stops it.

use super::table::{self, Column, LoadOptions, Table};
use super::{features, generate, train, UsageError};
use crate::Outcome;
use anyhow::Context;
use riskstream_core::time::{format_micros, MICROS_PER_DAY};
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Arguments of `riskstream demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Working directory for generated files (the registry, model and state go here too).
    #[arg(long, default_value = "out/demo")]
    pub out: PathBuf,
    /// Directory holding the public data sets (`fraud-handbook-simulated/…`) [default:
    /// ../shared/data, from the repository root]
    #[arg(long, env = "RISKSTREAM_DATA")]
    pub data: Option<PathBuf>,
    /// Random seed of the synthetic bank (used when the public data is absent).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Use the synthetic bank even when the public data is present.
    #[arg(long)]
    pub synthetic: bool,
    /// Days of history sent before the replay day to build the feature state.
    #[arg(long, default_value_t = 45)]
    pub warmup_days: i64,
    /// Keep the service running after the report, with the analyst console, until Ctrl-C.
    #[arg(long)]
    pub serve: bool,
    /// Where the service listens with `--serve` (otherwise a free loopback port).
    #[arg(long, default_value = "127.0.0.1:8080", requires = "serve")]
    pub listen: String,
}

/// What the demo runs on.
struct Setup {
    name: &'static str,
    raw: PathBuf,
    schema: String,
    labels: Option<PathBuf>,
    spec: PathBuf,
    policy: PathBuf,
    id_col: &'static str,
    time_col: &'static str,
    label_col: &'static str,
    train: (String, String),
    day: i64,
}

fn day_str(day: i64) -> String {
    format_micros(day * MICROS_PER_DAY)[..10].to_string()
}

/// The repository's `examples/` (from the current directory, else from the repository the
/// binary was built from: see `defaults`).
fn examples_dir() -> anyhow::Result<PathBuf> {
    let p = super::defaults::repo_path("examples");
    if p.join("fraud-handbook/features.toml").is_file() {
        return Ok(p);
    }
    Err(UsageError(
        "cannot find the examples/ directory: run the demo from the repository root".into(),
    )
    .into())
}

/// Runs `demo`.
pub fn run(a: Args) -> anyhow::Result<Outcome> {
    let ex = examples_dir()?;
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    let data = super::defaults::or_repo(a.data.clone(), super::defaults::DATA);
    let handbook =
        data.join("fraud-handbook-simulated/raw/transactions_2018-04-01_2018-09-30.csv.gz");
    let setup = if handbook.is_file() && !a.synthetic {
        println!(
            "== 1. data: the fraud handbook's raw transactions ({})",
            handbook.display()
        );
        Setup {
            name: "fraud handbook",
            raw: handbook,
            schema: "fraud-handbook-raw".into(),
            labels: None,
            spec: ex.join("fraud-handbook/features.toml"),
            policy: ex.join("fraud-handbook/policy.toml"),
            id_col: "TRANSACTION_ID",
            time_col: "TX_DATETIME",
            label_col: "TX_FRAUD",
            train: ("2018-07-25".into(), "2018-07-31".into()),
            day: riskstream_core::time::days_from_civil(2018, 8, 8),
        }
    } else {
        if !a.synthetic {
            println!(
                "(the public data is not at {}; set RISKSTREAM_DATA or --data to use it)",
                handbook.display()
            );
        }
        let bank = a.out.join("bank");
        println!(
            "== 1. data: a synthetic bank (seed {}) in {}",
            a.seed,
            bank.display()
        );
        generate::run(generate::Args {
            out: bank.clone(),
            seed: a.seed,
            customers: Some(5_000),
            terminals: Some(1_000),
            start: Some("2025-01-01".into()),
            days: Some(75),
            transactions: None,
            format: riskstream_io::Format::Parquet,
            gzip: false,
            threads: None,
            json: false,
            pii: false,
            complaints: false,
        })?;
        let d0 = riskstream_core::time::days_from_civil(2025, 1, 1);
        Setup {
            name: "synthetic bank",
            raw: bank.join("transactions.parquet"),
            schema: "riskstream-bank-transactions".into(),
            labels: Some(bank.join("labels.parquet")),
            spec: ex.join("bank/features.toml"),
            policy: ex.join("bank/policy.toml"),
            id_col: "tx_id",
            time_col: "event_time",
            label_col: "is_fraud",
            train: (day_str(d0 + 45), day_str(d0 + 58)),
            day: d0 + 70,
        }
    };

    println!("\n== 2. features: replay the history through the feature engine");
    let feats = a.out.join("features.parquet");
    features::run(features::Args {
        spec: setup.spec.clone(),
        input: setup.raw.clone(),
        labels: setup.labels.clone(),
        output: feats.clone(),
        dead_letter: None,
        checkpoint_dir: None,
        checkpoint_every: 1_000_000,
        batch_rows: 65_536,
        compression: Default::default(),
        delimiter: None,
        threads: None,
        json: false,
    })?;

    println!(
        "\n== 3. model: GBDT on {} .. {}",
        setup.train.0, setup.train.1
    );
    let model = a.out.join("model.json");
    train::run(train::Args {
        data: train::DataArgs {
            input: feats.clone(),
            schema: None,
            format: None,
            delimiter: None,
            dead_letter: None,
            features: Vec::new(),
            spec: Some(setup.spec.clone()),
            time_col: Some(setup.time_col.into()),
            from: Some(setup.train.0.clone()),
            to: Some(setup.train.1.clone()),
        },
        label: setup.label_col.into(),
        algorithm: "gbdt".into(),
        params: None,
        sets: vec![
            "max_depth=3".into(),
            "learning_rate=0.3".into(),
            "n_rounds=50".into(),
        ],
        valid_from: None,
        valid_to: None,
        output: model.clone(),
    })?;

    println!(
        "\n== 4. registry: model as champion, policy, keys (SQLite, {})",
        a.out.join("registry.db").display()
    );
    let _ = std::fs::remove_file(a.out.join("registry.db"));
    let _ = std::fs::remove_file(a.out.join("registry.db-wal"));
    let _ = std::fs::remove_file(a.out.join("registry.db-shm"));
    let _ = std::fs::remove_dir_all(a.out.join("state"));
    let cfg_path = a.out.join("service.toml");
    let spec_abs = std::fs::canonicalize(&setup.spec)?;
    std::fs::write(
        &cfg_path,
        format!(
            "# Written by `riskstream demo`.\n[server]\nlisten = \"{}\"\nmetrics_listen = \"127.0.0.1:0\"\n\n\
             [registry]\nurl = \"sqlite://{}?mode=rwc\"\ndeployment = \"demo\"\n\n\
             [state]\ndir = \"state\"\n\n[features]\nspec = \"{}\"\n",
            if a.serve { a.listen.as_str() } else { "127.0.0.1:0" },
            std::fs::canonicalize(&a.out)?.join("registry.db").display(),
            spec_abs.display()
        ),
    )?;
    let cfg = riskstream_server::ServiceConfig::load(&cfg_path)?;

    println!("\n== 5. service: read the traffic");
    let raw = table::load(
        &setup.raw,
        &LoadOptions {
            schema: Some(setup.schema.clone()),
            ..Default::default()
        },
    )?;
    let schema = riskstream_core::schema::builtin(&setup.schema)
        .ok_or_else(|| anyhow::anyhow!("schema {} is not built in", setup.schema))?;
    let labels = match &setup.labels {
        Some(p) => Some(table::load(p, &LoadOptions::default())?),
        None => None,
    };
    let policy_text = std::fs::read_to_string(&setup.policy)
        .with_context(|| format!("cannot read {}", setup.policy.display()))?;
    // Written by `train`: encrypted at rest when master keys are configured.
    let model_text = String::from_utf8(riskstream_core::crypt::read_file(&model)?)
        .with_context(|| format!("{} is not a JSON model file", model.display()))?;

    let rt = super::serve::runtime()?;
    let report = rt.block_on(async {
        let reg = cfg.open_registry().await?;
        use riskstream_registry::Role;
        let admin = reg.create_key("demo-admin", &[Role::Admin], "demo").await?;
        let client = reg
            .create_key("demo-payment-switch", &[Role::Decide, Role::Label], "demo")
            .await?;
        drop(reg);
        // The console is mounted as `serve` mounts it (it is only used with --serve).
        let running =
            riskstream_server::start_with(cfg, std::future::pending(), riskstream_console::router)
                .await?;
        let base = format!("http://{}", running.addr);
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(16)
            .build()?;
        // Register through the API, as a modeler and an admin would.
        let r: Value = http
            .post(format!("{base}/v1/models"))
            .bearer_auth(&admin)
            .body(model_text)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let model_id = r["id"].as_str().unwrap_or_default().to_string();
        http.post(format!("{base}/v1/models/{model_id}/stage"))
            .bearer_auth(&admin)
            .json(&serde_json::json!({"stage": "champion"}))
            .send()
            .await?
            .error_for_status()?;
        let r = http
            .post(format!("{base}/v1/policies"))
            .bearer_auth(&admin)
            .body(policy_text)
            .send()
            .await?;
        if !r.status().is_success() {
            anyhow::bail!(
                "policy {} refused: {}",
                setup.policy.display(),
                r.text().await?
            );
        }
        let r: Value = r.json().await?;
        let policy_id = r["id"].as_str().unwrap_or_default().to_string();
        http.post(format!("{base}/v1/policies/{policy_id}/activate"))
            .bearer_auth(&admin)
            .send()
            .await?
            .error_for_status()?;
        println!(
            "   model {} champion, policy {} active, service on {base}",
            &model_id[..12.min(model_id.len())],
            &policy_id[..12.min(policy_id.len())]
        );
        let rep = replay(
            &http,
            &base,
            &client,
            &raw,
            &schema,
            labels.as_ref(),
            &setup,
            a.warmup_days,
        )
        .await?;
        let verify: Value = http
            .post(format!("{base}/v1/audit/verify"))
            .bearer_auth(&admin)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let metrics = match running.metrics_addr {
            Some(m) => {
                http.get(format!("http://{m}/metrics"))
                    .send()
                    .await?
                    .text()
                    .await?
            }
            None => String::new(),
        };
        let running = if a.serve {
            Some(running)
        } else {
            running.shutdown().await?;
            None
        };
        anyhow::Ok((rep, verify, metrics, running))
    })?;
    let (mut rep, verify, metrics, running) = report;
    println!("\n== 6. report: {} on {}", setup.name, day_str(setup.day));
    rep.print();
    let rule_hits: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("riskstream_rule_hits_total"))
        .collect();
    if !rule_hits.is_empty() {
        println!("   rule hits (whole run, from /metrics):");
        for l in rule_hits {
            println!("     {l}");
        }
    }
    println!(
        "   audit chain: {} records checked, intact: {}",
        verify["checked"], verify["ok"]
    );
    println!("\nservice config, registry and model are in {}; `riskstream serve --config {}` serves them again.", a.out.display(), cfg_path.display());
    if let Some(running) = running {
        let url = cfg_url(&cfg_path)?;
        rt.block_on(async {
            let reg = riskstream_registry::Registry::open(&url).await?;
            use riskstream_registry::Role;
            let name = format!("demo-analyst-{}", riskstream_core::time::now_micros());
            let key = reg
                .create_key(&name, &[Role::Analyst, Role::Label, Role::Lists], "demo --serve")
                .await?;
            drop(reg);
            println!("\n== 7. console: http://{}/console/", running.addr);
            println!("   sign in with the analyst key {key}");
            println!("   (key name {name}; the review queue holds the day's review and decline decisions)");
            println!("   Ctrl-C stops the service.");
            super::serve::stop_signal().await;
            running.shutdown().await?;
            anyhow::Ok(())
        })?;
    }
    Ok(if verify["ok"].as_bool() == Some(true) {
        Outcome::Clean
    } else {
        Outcome::Problems
    })
}

/// The registry URL of the demo's service config.
fn cfg_url(cfg_path: &std::path::Path) -> anyhow::Result<String> {
    Ok(riskstream_server::ServiceConfig::load(cfg_path)?.registry_url)
}

/// One row of a table as the JSON object a client would send (kept here for `produce`).
pub(crate) fn row_json(
    t: &Table,
    schema: &riskstream_core::Schema,
    r: usize,
) -> Map<String, Value> {
    t.row_json(schema, r)
}

#[derive(Debug, Default)]
struct Report {
    warm_tx: usize,
    warm_s: f64,
    day_tx: usize,
    day_s: f64,
    refused: usize,
    outcomes: [usize; 3],
    tp: usize,
    fp: usize,
    fn_: usize,
    frauds: usize,
    client_us: Vec<u64>,
    server_us: Vec<u64>,
    labels_sent: usize,
}

fn pct(v: &[u64], q: f64) -> u64 {
    if v.is_empty() {
        return 0;
    }
    v[((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1]
}

impl Report {
    fn print(&mut self) {
        self.client_us.sort_unstable();
        self.server_us.sort_unstable();
        println!(
            "   warm-up: {} transactions through /v1/decisions/batch in {:.1} s ({:.0}/s)",
            self.warm_tx,
            self.warm_s,
            self.warm_tx as f64 / self.warm_s.max(1e-9)
        );
        println!(
            "   replay day: {} transactions one per request in {:.1} s; {} refused; {} labels posted",
            self.day_tx, self.day_s, self.refused, self.labels_sent
        );
        println!(
            "   decisions: approve {}  review {}  decline {}",
            self.outcomes[0], self.outcomes[1], self.outcomes[2]
        );
        let p = self.tp as f64 / (self.tp + self.fp).max(1) as f64;
        let r = self.tp as f64 / self.frauds.max(1) as f64;
        println!(
            "   review+decline vs labels: precision {:.3}  recall {:.3}  ({} of {} frauds caught, {} false alarms)",
            p, r, self.tp, self.frauds, self.fp
        );
        println!(
            "   latency, client round trip (µs): p50 {}  p99 {}  p99.9 {}  max {}",
            pct(&self.client_us, 0.5),
            pct(&self.client_us, 0.99),
            pct(&self.client_us, 0.999),
            self.client_us.last().copied().unwrap_or(0)
        );
        println!(
            "   latency, in the service (µs):     p50 {}  p99 {}  p99.9 {}  max {}",
            pct(&self.server_us, 0.5),
            pct(&self.server_us, 0.99),
            pct(&self.server_us, 0.999),
            self.server_us.last().copied().unwrap_or(0)
        );
    }
}

#[allow(clippy::too_many_arguments)]
async fn replay(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    raw: &Table,
    schema: &riskstream_core::Schema,
    labels: Option<&Table>,
    s: &Setup,
    warmup_days: i64,
) -> anyhow::Result<Report> {
    let col = |t: &Table, n: &str| t.names.iter().position(|x| x == n);
    let ti = col(raw, s.time_col).context("no time column")?;
    let Column::Time(times) = &raw.columns[ti] else {
        anyhow::bail!("{} is not a timestamp column", s.time_col)
    };
    let li = col(raw, s.label_col).context("no label column")?;
    let Column::Num(truth) = &raw.columns[li] else {
        anyhow::bail!("{} is not numeric", s.label_col)
    };
    let day_start = s.day * MICROS_PER_DAY;
    let day_end = day_start + MICROS_PER_DAY;
    let warm_start = day_start - warmup_days * MICROS_PER_DAY;
    let mut order: Vec<usize> = (0..raw.rows)
        .filter(|&r| times[r] >= warm_start && times[r] < day_end)
        .collect();
    order.sort_by_key(|&r| times[r]);
    // Label events (synthetic bank): (time, tx id, label), posted when their time comes.
    let mut label_events: Vec<(i64, String, bool)> = Vec::new();
    if let Some(l) = labels {
        if let (Some(t), Some(x), Some(v)) =
            (col(l, "event_time"), col(l, "tx_id"), col(l, "label"))
        {
            if let (Column::Time(t), Column::Num(x), Column::Num(v)) =
                (&l.columns[t], &l.columns[x], &l.columns[v])
            {
                for i in 0..l.rows {
                    if t[i] >= warm_start && t[i] < day_end {
                        label_events.push((t[i], format!("{}", x[i] as i64), v[i] != 0.0));
                    }
                }
            }
        }
        label_events.sort_by_key(|e| e.0);
    }
    let mut li_next = 0usize;
    let mut rep = Report::default();
    let post_labels_until = |t: i64, next: &mut usize| {
        let mut out = Vec::new();
        while *next < label_events.len() && label_events[*next].0 <= t {
            out.push(label_events[*next].clone());
            *next += 1;
        }
        out
    };
    let warm: Vec<usize> = order
        .iter()
        .copied()
        .filter(|&r| times[r] < day_start)
        .collect();
    let day: Vec<usize> = order
        .iter()
        .copied()
        .filter(|&r| times[r] >= day_start)
        .collect();
    let t0 = Instant::now();
    let pb = indicatif::ProgressBar::new((warm.len() + day.len()) as u64);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "   {bar:40} {pos}/{len} transactions {per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    for chunk in warm.chunks(500) {
        for (t, id, f) in post_labels_until(times[chunk[0]], &mut li_next) {
            post_label(http, base, key, &id, f, t).await?;
            rep.labels_sent += 1;
        }
        let txs: Vec<Map<String, Value>> =
            chunk.iter().map(|&r| row_json(raw, schema, r)).collect();
        let r: Value = http
            .post(format!("{base}/v1/decisions/batch"))
            .bearer_auth(key)
            .json(&serde_json::json!({ "transactions": txs }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        rep.refused += r["refused"].as_u64().unwrap_or(0) as usize;
        pb.inc(chunk.len() as u64);
    }
    rep.warm_tx = warm.len();
    rep.warm_s = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    for &r in &day {
        for (t, id, f) in post_labels_until(times[r], &mut li_next) {
            post_label(http, base, key, &id, f, t).await?;
            rep.labels_sent += 1;
        }
        let tx = row_json(raw, schema, r);
        let c0 = Instant::now();
        let resp = http
            .post(format!("{base}/v1/decisions"))
            .bearer_auth(key)
            .json(&tx)
            .send()
            .await?;
        let status = resp.status();
        let body: Value = resp.json().await?;
        rep.client_us.push(c0.elapsed().as_micros() as u64);
        pb.inc(1);
        if !status.is_success() {
            rep.refused += 1;
            continue;
        }
        rep.server_us.push(body["latency_us"].as_u64().unwrap_or(0));
        let o = match body["outcome"].as_str() {
            Some("decline") => 2,
            Some("review") => 1,
            _ => 0,
        };
        rep.outcomes[o] += 1;
        let fraud = truth[r] != 0.0;
        rep.frauds += usize::from(fraud);
        match (o > 0, fraud) {
            (true, true) => rep.tp += 1,
            (true, false) => rep.fp += 1,
            (false, true) => rep.fn_ += 1,
            _ => {}
        }
    }
    pb.finish_and_clear();
    rep.day_tx = day.len();
    rep.day_s = t1.elapsed().as_secs_f64();
    // Inline-label data (the handbook): report the day's frauds as labels afterwards, as a
    // chargeback feed would, so label monitoring has something to show.
    if labels.is_none() {
        let idc = col(raw, s.id_col).context("no id column")?;
        for &r in day.iter().filter(|&&r| truth[r] != 0.0) {
            let id = match &raw.columns[idc] {
                Column::Num(v) => format!("{}", v[r] as i64),
                Column::Text(v) => v[r].clone().unwrap_or_default(),
                Column::Time(v) => v[r].to_string(),
            };
            post_label(http, base, key, &id, true, day_end).await?;
            rep.labels_sent += 1;
        }
    }
    let _ = Duration::ZERO;
    Ok(rep)
}

async fn post_label(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    id: &str,
    fraud: bool,
    t: i64,
) -> anyhow::Result<()> {
    let time = format_micros(t).replace(' ', "T") + "Z";
    let r = http
        .post(format!("{base}/v1/labels"))
        .bearer_auth(key)
        .json(&serde_json::json!({ "tx_id": id, "fraud": fraud, "time": time }))
        .send()
        .await?;
    if !r.status().is_success() {
        anyhow::bail!("label for {id} refused: {}", r.text().await?);
    }
    Ok(())
}
