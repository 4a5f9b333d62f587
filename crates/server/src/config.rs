//! The service config (`service.toml`), read and checked before anything starts.
//!
//! Every problem in the file is reported at once (unknown keys with "did you mean", bad
//! addresses, durations, missing TLS files, limits that cannot work), so an operator fixes the
//! file in one round trip and a bad config never reaches a listening socket.
//!
//! Every path in the file (the feature spec, the state directory, TLS files, the audit key,
//! a SQLite registry) is taken from the file's own directory, whatever the current
//! directory of the command that reads it.

use riskstream_core::diag::{did_you_mean, Diagnostic, Diagnostics};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The checked service config.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Address of the decision API.
    pub listen: SocketAddr,
    /// Address of the Prometheus `/metrics` endpoint (a separate port, so the metrics
    /// scrape never competes with, or needs the credentials of, the decision API).
    pub metrics_listen: Option<SocketAddr>,
    /// TLS certificate and key (PEM), when configured.
    pub tls: Option<TlsConfig>,
    /// Registry URL (`sqlite://…` or `postgres://…`). A relative SQLite path is resolved
    /// against the config file's directory, like every path in the file.
    pub registry_url: String,
    /// The deployment this service serves (a name in the registry).
    pub deployment: String,
    /// The tenant the service is for (`registry.tenant`; else `RISKSTREAM_TENANT`; else
    /// `default`): its keys, deployment, lists, cases and audit chain are that tenant's,
    /// and a key of any other tenant is unknown here.
    pub tenant: String,
    /// How often the registry is polled for stage, policy and list changes.
    pub poll_interval: Duration,
    /// Directory for feature-state checkpoints.
    pub state_dir: PathBuf,
    /// Time between periodic checkpoints (`None`: only at shutdown).
    pub checkpoint_interval: Option<Duration>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Largest number of transactions in one batch request.
    pub max_batch: usize,
    /// Requests being decided at once; beyond it the service answers 503 at once.
    pub max_inflight: usize,
    /// Per-request deadline.
    pub request_timeout: Duration,
    /// Whether every decision is appended to the audit log.
    pub audit_decisions: bool,
    /// Whether a decision's audit record holds its inputs (the transaction after data
    /// protection and its feature row): the trail from event to decision, and the case
    /// page's entity history. `[audit] inputs`, default on.
    pub audit_inputs: bool,
    /// How many recent transactions each entity's history keeps in the feature state
    /// (their audit records are read by id). `[audit] history`, default
    /// [`riskstream_decide::latest::DEFAULT_HISTORY`], 0 to 1,000; 0 keeps none.
    pub audit_history: usize,
    /// Capacity of the audit queue (decisions waiting to be written).
    pub audit_queue: usize,
    /// The scheduling niceness of the decisions' audit writer thread (`[audit]
    /// writer_nice`, 0 to 19, default 10): on a busy machine the answers, which wait for
    /// the write-ahead log and not for the audit batch, go first.
    pub audit_writer_nice: i32,
    /// Return the feature values in each decision.
    pub return_features: bool,
    /// The feature spec the service computes (fixed for the life of the process: the
    /// feature state is built by it).
    pub feature_spec: PathBuf,
    /// How far behind the latest decided transaction a transaction may arrive and still
    /// be decided (its features as of just after that one) rather than refused as late.
    /// Requests on different connections reach the state in arrival order; this absorbs
    /// that jitter. Zero keeps the spec's late policy strict.
    pub live_tolerance: Duration,
    /// The event-time guard: a transaction or label further ahead of the service's clock
    /// than this is refused and never moves the feature state's time (`None`: off, for a
    /// backfill through the service).
    pub max_ahead: Option<Duration>,
    /// Decisions remembered by transaction id: a retry within this many decisions gets its
    /// original decision back and is not counted again.
    pub decision_window: usize,
    /// When a decision is acknowledged (see [`Durability`]).
    pub durability: Durability,
    /// How long the write-ahead log's writer gathers back-to-back records before one
    /// sync covers them (`state.commit_delay`; zero: each group as it comes). See
    /// `Wal::start_with`.
    pub commit_delay: Duration,
    /// Open client connections at most; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// The tenant's request budget (`server.rate_limit`, requests per second, and
    /// `server.rate_burst`, how many may come at once): beyond it, 429 with `Retry-After`.
    /// `None`: no limit but `max_inflight`. A service serves one tenant, so this is the
    /// tenant's limit; every key of the tenant draws on it.
    pub rate_limit: Option<(u32, u32)>,
    /// A client must send a request's headers within this long, counted from when the
    /// connection is ready for the next request: a silent, half-sent or idle keep-alive
    /// connection is closed after it. Also the TLS handshake's limit.
    pub header_timeout: Duration,
    /// A request's body must arrive within this long.
    pub body_timeout: Duration,
    /// The largest traffic share (percent) a `modeler` may give a challenger; above it,
    /// and for any change of who decides, `admin` is needed.
    pub max_challenger_pct: f64,
    /// The audit chain's HMAC key file (outside the database), if any.
    pub audit_key_file: Option<PathBuf>,
    /// `[console] session_idle`: a console session unused this long ends (default 30 min).
    pub console_session_idle: Duration,
    /// Credit scoring (`[credit]`); absent, the credit routes answer 404.
    pub credit: Option<CreditConfig>,
    /// Forecasts and the early warning (`[forecast]`); absent, the forecast routes answer 404.
    pub forecast: Option<crate::forecast::ForecastConfig>,
    /// Recommendations (`[recommend]`); absent, the recommendation routes answer 404.
    pub recommend: Option<crate::recommend::RecommendConfig>,
    /// Complaint classification (`[complaints]`); absent, the complaints routes answer 404.
    pub complaints: Option<crate::complaints::ComplaintsConfig>,
    /// Monitoring alert rules (`[alerts]`); absent, nothing is checked.
    pub alerts: Option<crate::alerts::AlertsConfig>,
    /// `[quality] checks`: a data-quality checks file over the transactions decided
    /// (checked against the feature spec's schema when the service starts).
    pub quality: Option<PathBuf>,
}

/// `[credit]`: credit models served by `POST /v1/credit/score`.
///
/// ```toml
/// [credit]
/// deployment = "credit"        # the registry deployment of the credit models
/// decline_pd = 0.30            # decline when PD is above this
/// review_pd = 0.15             # refer to an underwriter above this (optional)
/// reasons = "card.reasons.toml" # reason codes, one per characteristic
/// customer_key = "customer_id"  # optional: behavioural characteristics (below)
/// ```
///
/// With `customer_key`, a characteristic named like a window feature of the feature spec
/// (e.g. a 90-day spend by `customer_id`) is read from the service's live feature state for
/// the customer the application's `customer_key` value names, as of that customer's latest
/// transaction; the application may not send it.
#[derive(Debug, Clone)]
pub struct CreditConfig {
    /// The registry deployment whose credit models are served (default `credit`; not the
    /// fraud deployment: a deployment's models are all of one kind).
    pub deployment: String,
    /// Decline when the PD is above this (a probability).
    pub decline_pd: f64,
    /// Refer to an underwriter when the PD is above this and not above `decline_pd`.
    pub review_pd: Option<f64>,
    /// The reasons file, taken from the config file's directory.
    pub reasons_path: PathBuf,
    /// The reason codes and texts, as read from it (checked against every credit model
    /// when it is loaded: every characteristic needs a code).
    pub reasons: riskstream_credit::ReasonConfig,
    /// The application key holding the customer's entity key, for behavioural
    /// characteristics (`None`: no behavioural characteristics).
    pub customer_key: Option<String>,
    /// The feature schema's entity field that key names (default: the first entity field
    /// with window features).
    pub customer_field: Option<String>,
}

impl CreditConfig {
    /// The decision for a PD: `decline` above `decline_pd`, `review` above `review_pd`,
    /// else `approve` (the rule `riskstream credit score` applies).
    pub fn decision(&self, pd: f64) -> &'static str {
        if pd > self.decline_pd {
            "decline"
        } else if self.review_pd.is_some_and(|r| pd > r) {
            "review"
        } else {
            "approve"
        }
    }
}

/// When a decision or label is acknowledged to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// After its write-ahead log record is on disk (fsync, group commit) and its audit
    /// record is committed: nothing acknowledged is lost to a crash of the process or of
    /// the machine.
    Fsync,
    /// After its write-ahead log record is written to the operating system and its audit
    /// record is committed: survives a crash of the process, not of the machine.
    Os,
    /// No write-ahead log: the feature state goes back to the last checkpoint on a crash
    /// (decisions are still audited before they are acknowledged).
    Off,
}

impl Durability {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::Fsync => "fsync",
            Durability::Os => "os",
            Durability::Off => "off",
        }
    }
}

/// TLS files.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    /// Certificate chain, PEM.
    pub cert: PathBuf,
    /// Private key, PEM.
    pub key: PathBuf,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    registry: RawRegistry,
    #[serde(default)]
    state: RawState,
    #[serde(default)]
    audit: RawAudit,
    #[serde(default)]
    features: RawFeatures,
    credit: Option<RawCredit>,
    recommend: Option<crate::recommend::RawRecommend>,
    #[serde(default)]
    console: RawConsole,
    forecast: Option<crate::forecast::RawForecast>,
    complaints: Option<crate::complaints::RawComplaints>,
    alerts: Option<crate::alerts::RawAlerts>,
    quality: Option<RawQuality>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuality {
    checks: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCredit {
    deployment: Option<String>,
    decline_pd: Option<f64>,
    review_pd: Option<f64>,
    reasons: Option<String>,
    customer_key: Option<String>,
    customer_field: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConsole {
    session_idle: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFeatures {
    spec: Option<String>,
    live_tolerance: Option<String>,
    max_ahead: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<String>,
    metrics_listen: Option<String>,
    max_body_bytes: Option<i64>,
    max_batch: Option<i64>,
    max_inflight: Option<i64>,
    request_timeout: Option<String>,
    return_features: Option<bool>,
    tls: Option<RawTls>,
    decision_window: Option<i64>,
    max_connections: Option<i64>,
    header_timeout: Option<String>,
    body_timeout: Option<String>,
    max_challenger_pct: Option<f64>,
    rate_limit: Option<i64>,
    rate_burst: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: String,
    key: String,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRegistry {
    url: Option<String>,
    deployment: Option<String>,
    tenant: Option<String>,
    poll_interval: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawState {
    dir: Option<String>,
    checkpoint_interval: Option<String>,
    durability: Option<String>,
    commit_delay: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAudit {
    decisions: Option<bool>,
    inputs: Option<bool>,
    history: Option<i64>,
    queue: Option<i64>,
    writer_nice: Option<i64>,
    key_file: Option<String>,
}

/// `state.commit_delay` when the config says nothing.
const DEFAULT_COMMIT_DELAY: &str = "1ms";

const SECTIONS: &[&str] = &[
    "server",
    "registry",
    "state",
    "audit",
    "features",
    "credit",
    "console",
    "forecast",
    "recommend",
    "complaints",
    "alerts",
    "quality",
];

impl ServiceConfig {
    /// Reads and checks a config file; relative paths are taken from the file's directory.
    pub fn load(path: &Path) -> Result<Self, Diagnostics> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            let mut d = Diagnostics::new(&origin);
            d.push(Diagnostic::new("", format!("cannot read the file: {e}")));
            d
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, &origin, base)
    }

    /// Checks config text; `base` resolves relative paths.
    // Long on purpose: one pass over the keys in a fixed order, so problems come back in a
    // stable order; each key is a few lines here, the longer checks are the `read_*`
    // functions below.
    pub fn parse(text: &str, origin: &str, base: &Path) -> Result<Self, Diagnostics> {
        let mut diags = Diagnostics::new(origin);
        let raw: RawFile = match toml::from_str(text) {
            Ok(r) => r,
            Err(e) => {
                let mut d = Diagnostic::new(
                    "",
                    e.message().to_string()
                        + &e.span().map_or(String::new(), |s| {
                            format!(" (line {})", line_of(text, s.start))
                        }),
                );
                if let Some(h) = unknown_key_hint(e.message()) {
                    d = d.hint(h);
                }
                diags.push(d);
                return Err(diags);
            }
        };
        let dur = riskstream_core::diag::positive_duration;
        let s = &raw.server;
        let listen = addr(
            &mut diags,
            "server.listen",
            s.listen.as_deref().unwrap_or("127.0.0.1:8080"),
        );
        let metrics_listen = read_metrics_listen(&mut diags, s, listen);
        let max_body = positive(
            &mut diags,
            "server.max_body_bytes",
            s.max_body_bytes,
            1 << 20,
            1 << 30,
        );
        let max_batch = positive(&mut diags, "server.max_batch", s.max_batch, 1000, 1_000_000);
        let max_inflight = positive(
            &mut diags,
            "server.max_inflight",
            s.max_inflight,
            1024,
            1_000_000,
        );
        let timeout = dur(
            &mut diags,
            "server.request_timeout",
            s.request_timeout.as_deref(),
            "5s",
        );
        let tls = read_tls(&mut diags, s, base);
        let r = &raw.registry;
        let registry_url = read_registry_url(&mut diags, r, base);
        let deployment = r.deployment.clone().unwrap_or_else(|| "default".into());
        if deployment.is_empty()
            || !deployment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            diags.push(Diagnostic::new(
                "registry.deployment",
                format!("`{deployment}`: use letters, digits, '-', '_' and '.' only"),
            ));
        }
        let tenant = r
            .tenant
            .clone()
            .or_else(|| {
                std::env::var(riskstream_registry::TENANT_ENV)
                    .ok()
                    .filter(|t| !t.is_empty())
            })
            .unwrap_or_else(|| riskstream_registry::DEFAULT_TENANT.to_string());
        if let Err(e) = riskstream_registry::check_tenant(&tenant) {
            diags.push(
                Diagnostic::new("registry.tenant", e.to_string()).hint("e.g. tenant = \"acme\""),
            );
        }
        let poll = dur(
            &mut diags,
            "registry.poll_interval",
            r.poll_interval.as_deref(),
            "1s",
        );
        let st = &raw.state;
        let state_dir = base.join(st.dir.as_deref().unwrap_or("state"));
        let checkpoint_interval = match st.checkpoint_interval.as_deref() {
            Some("off") => Some(None),
            v => dur(&mut diags, "state.checkpoint_interval", v, "60s").map(Some),
        };
        let feature_spec = read_feature_spec(&mut diags, &raw.features, base);
        let live_tolerance = match raw.features.live_tolerance.as_deref() {
            None => Some(Duration::from_secs(2)),
            Some("off" | "0" | "0s") => Some(Duration::ZERO),
            v => dur(&mut diags, "features.live_tolerance", v, "2s"),
        };
        let max_ahead = match raw.features.max_ahead.as_deref() {
            Some("off") => None,
            v => dur(&mut diags, "features.max_ahead", v, "5m"),
        };
        let decision_window = match s.decision_window {
            Some(0) => 0,
            v => positive(
                &mut diags,
                "server.decision_window",
                v,
                riskstream_decide::recall::DEFAULT_DECISION_WINDOW as i64,
                100_000_000,
            )
            .unwrap_or(0),
        };
        let durability = read_durability(&mut diags, st);
        let commit_delay = read_commit_delay(&mut diags, st.commit_delay.as_deref());
        let max_connections = positive(
            &mut diags,
            "server.max_connections",
            s.max_connections,
            4096,
            1_000_000,
        )
        .unwrap_or(1);
        let rate_limit = match s.rate_limit {
            None => {
                if s.rate_burst.is_some() {
                    diags.push(
                        Diagnostic::new("server.rate_burst", "is set but server.rate_limit is not")
                            .hint(
                                "set rate_limit = <requests per second> too, or remove rate_burst",
                            ),
                    );
                }
                None
            }
            Some(r) => {
                let rate = positive(&mut diags, "server.rate_limit", Some(r), 1, 10_000_000);
                // Default burst: a tenth of a second's budget, at least one request.
                let burst = positive(
                    &mut diags,
                    "server.rate_burst",
                    s.rate_burst,
                    (r / 10).max(1),
                    10_000_000,
                );
                rate.zip(burst).map(|(r, b)| (r as u32, b as u32))
            }
        };
        let header_timeout = dur(
            &mut diags,
            "server.header_timeout",
            s.header_timeout.as_deref(),
            "15s",
        )
        .unwrap_or_default();
        let body_timeout = dur(
            &mut diags,
            "server.body_timeout",
            s.body_timeout.as_deref(),
            "10s",
        )
        .unwrap_or_default();
        let max_challenger_pct = s.max_challenger_pct.unwrap_or(10.0);
        if !(0.0..=100.0).contains(&max_challenger_pct) {
            diags.push(
                Diagnostic::new(
                    "server.max_challenger_pct",
                    format!("{max_challenger_pct} is not a percentage"),
                )
                .hint("give 0 to 100 (the default is 10)"),
            );
        }
        let a = &raw.audit;
        let audit_queue = positive(&mut diags, "audit.queue", a.queue, 65_536, 10_000_000);
        let audit_history = read_history(&mut diags, a.history);
        let audit_writer_nice = match a.writer_nice {
            None => 10,
            Some(n) if (0..=19).contains(&n) => n as i32,
            Some(n) => {
                diags.push(
                    Diagnostic::new("audit.writer_nice", format!("{n} is not a niceness")).hint(
                        "give 0 (the runtime's own priority) to 19 (the lowest); the default is 10",
                    ),
                );
                10
            }
        };
        let audit_key_file = read_audit_key(&mut diags, a, base);
        let credit = raw
            .credit
            .as_ref()
            .and_then(|c| read_credit(&mut diags, c, base, &deployment));
        let forecast = raw.forecast.as_ref().and_then(|f| {
            let credit_dep = credit.as_ref().map_or("", |c| c.deployment.as_str());
            crate::forecast::read_config(&mut diags, f, base, &[deployment.as_str(), credit_dep])
        });
        let recommend = raw.recommend.as_ref().and_then(|r| {
            let mut taken = vec![("registry.deployment", deployment.as_str())];
            if let Some(c) = &credit {
                taken.push(("credit.deployment", c.deployment.as_str()));
            }
            crate::recommend::read_config(&mut diags, r, base, &taken)
        });
        let complaints = raw.complaints.as_ref().and_then(|c| {
            let credit_dep = credit.as_ref().map_or("", |c| c.deployment.as_str());
            crate::complaints::read_config(&mut diags, c, base, &[deployment.as_str(), credit_dep])
        });
        let alerts = raw
            .alerts
            .as_ref()
            .and_then(|a| crate::alerts::config::read_config(&mut diags, a));
        let quality = match &raw.quality {
            None => None,
            Some(RawQuality { checks: Some(c) }) if !c.trim().is_empty() => {
                let p = base.join(c);
                if !p.is_file() {
                    diags.push(Diagnostic::new(
                        "quality.checks",
                        format!("{} does not exist", p.display()),
                    ));
                }
                Some(p)
            }
            Some(_) => {
                diags.push(
                    Diagnostic::new("quality.checks", "missing")
                        .hint("the data-quality checks file, e.g. checks = \"quality.toml\""),
                );
                None
            }
        };
        let console_session_idle = dur(
            &mut diags,
            "console.session_idle",
            raw.console.session_idle.as_deref(),
            "30m",
        )
        .unwrap_or_default();
        let (
            Some(listen),
            Some(metrics_listen),
            Some(max_body_bytes),
            Some(max_batch),
            Some(max_inflight),
            Some(request_timeout),
            Some(registry_url),
            Some(poll_interval),
            Some(checkpoint_interval),
            Some(audit_queue),
            Some(feature_spec),
            Some(live_tolerance),
        ) = (
            listen,
            metrics_listen,
            max_body,
            max_batch,
            max_inflight,
            timeout,
            registry_url,
            poll,
            checkpoint_interval,
            audit_queue,
            feature_spec,
            live_tolerance,
        )
        else {
            return Err(diags);
        };
        diags.finish(ServiceConfig {
            listen,
            metrics_listen,
            tls,
            registry_url,
            deployment,
            tenant,
            poll_interval,
            state_dir,
            checkpoint_interval,
            max_body_bytes,
            max_batch,
            max_inflight,
            request_timeout,
            audit_decisions: a.decisions.unwrap_or(true),
            audit_inputs: a.inputs.unwrap_or(true),
            audit_history,
            audit_queue,
            audit_writer_nice,
            return_features: s.return_features.unwrap_or(false),
            feature_spec,
            live_tolerance,
            max_ahead,
            decision_window,
            durability,
            commit_delay,
            max_connections,
            rate_limit,
            header_timeout,
            body_timeout,
            max_challenger_pct,
            audit_key_file,
            credit,
            forecast,
            recommend,
            complaints,
            console_session_idle,
            alerts,
            quality,
        })
    }
}

/// A socket address under `key`; a problem is pushed and gives `None`.
fn addr(diags: &mut Diagnostics, key: &str, v: &str) -> Option<SocketAddr> {
    match v.parse::<SocketAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            diags.push(
                Diagnostic::new(key, format!("`{v}` is not an address"))
                    .hint("write host:port with an IP address, e.g. 127.0.0.1:8080"),
            );
            None
        }
    }
}

/// A count from 1 to `max` under `key` (`default` when absent); a problem is pushed and
/// gives `None`.
fn positive(
    diags: &mut Diagnostics,
    key: &str,
    v: Option<i64>,
    default: i64,
    max: i64,
) -> Option<usize> {
    let v = v.unwrap_or(default);
    if v < 1 || v > max {
        diags.push(Diagnostic::new(
            key,
            format!("{v} is out of range: give a number from 1 to {max}"),
        ));
        None
    } else {
        Some(v as usize)
    }
}

/// `audit.history`: 0 to [`riskstream_decide::latest::MAX_HISTORY`] (a bad value is
/// reported and the default stands in, so every other error is still found).
fn read_history(diags: &mut Diagnostics, v: Option<i64>) -> usize {
    use riskstream_decide::latest::{DEFAULT_HISTORY, MAX_HISTORY};
    match v {
        None => DEFAULT_HISTORY,
        Some(n) if (0..=MAX_HISTORY as i64).contains(&n) => n as usize,
        Some(n) => {
            diags.push(Diagnostic::new(
                "audit.history",
                format!(
                    "{n} is out of range: give 0 (keep no history) to {MAX_HISTORY} recent \
                     transactions per entity"
                ),
            ));
            DEFAULT_HISTORY
        }
    }
}

/// `server.metrics_listen`: an address, `off`, or the default; not `server.listen`'s.
/// `Some(None)` is off, `None` a problem.
fn read_metrics_listen(
    diags: &mut Diagnostics,
    s: &RawServer,
    listen: Option<SocketAddr>,
) -> Option<Option<SocketAddr>> {
    let metrics_listen = match s.metrics_listen.as_deref() {
        Some("") | Some("off") => Some(None),
        Some(v) => addr(diags, "server.metrics_listen", v).map(Some),
        None => Some(Some(SocketAddr::from(([127, 0, 0, 1], 9464)))),
    };
    if let (Some(l), Some(Some(m))) = (listen, metrics_listen) {
        if l == m && l.port() != 0 {
            diags.push(
                Diagnostic::new(
                    "server.metrics_listen",
                    "is the same address as server.listen",
                )
                .hint("metrics are served on their own port; pick another, or \"off\""),
            );
        }
    }
    metrics_listen
}

/// `[server.tls]`: both PEM files, relative to the config's directory, must exist.
fn read_tls(diags: &mut Diagnostics, s: &RawServer, base: &Path) -> Option<TlsConfig> {
    s.tls.as_ref().and_then(|t| {
        let cert = base.join(&t.cert);
        let key = base.join(&t.key);
        let mut ok = true;
        for (k, p) in [("server.tls.cert", &cert), ("server.tls.key", &key)] {
            if !p.is_file() {
                diags.push(
                    Diagnostic::new(k, format!("{} does not exist", p.display()))
                        .hint("give PEM files readable by the service"),
                );
                ok = false;
            }
        }
        ok.then_some(TlsConfig { cert, key })
    })
}

/// `registry.url`: SQLite (a relative file taken from the config's directory; the
/// default is `registry.db` there) or PostgreSQL.
fn read_registry_url(diags: &mut Diagnostics, r: &RawRegistry, base: &Path) -> Option<String> {
    match r.url.as_deref() {
        None => Some(format!(
            "sqlite://{}?mode=rwc",
            base.join("registry.db").display()
        )),
        Some(u) if u.starts_with("sqlite:") => Some(resolve_sqlite(u, base)),
        Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
            Some(u.to_string())
        }
        Some(u) => {
            diags.push(
                Diagnostic::new(
                    "registry.url",
                    format!("`{}` is neither a sqlite: nor a postgres:// URL", redact(u)),
                )
                .hint("e.g. sqlite://registry.db?mode=rwc or postgres://user@host/db"),
            );
            None
        }
    }
}

/// `features.spec`: required, relative to the config's directory, must exist.
fn read_feature_spec(diags: &mut Diagnostics, f: &RawFeatures, base: &Path) -> Option<PathBuf> {
    match f.spec.as_deref() {
        Some(p) => {
            let p = base.join(p);
            if !p.is_file() {
                diags.push(
                    Diagnostic::new("features.spec", format!("{} does not exist", p.display()))
                        .hint("give the feature spec TOML the models were trained with"),
                );
            }
            Some(p)
        }
        None => {
            diags.push(
                Diagnostic::new("features.spec", "missing")
                    .hint("add [features] spec = \"path/to/features.toml\""),
            );
            None
        }
    }
}

/// `state.commit_delay`: `0` (or `off`), microseconds (`500us`) or a duration (`1ms`), at
/// most 10 ms.
fn read_commit_delay(diags: &mut Diagnostics, v: Option<&str>) -> Duration {
    let v = v.unwrap_or(DEFAULT_COMMIT_DELAY).trim();
    let d = match v {
        "0" | "0ms" | "0us" | "off" => Some(Duration::ZERO),
        _ => match v.strip_suffix("us").map(str::parse::<u64>) {
            Some(Ok(us)) => Some(Duration::from_micros(us)),
            Some(Err(_)) => None,
            None => riskstream_core::time::parse_duration(v)
                .ok()
                .and_then(|us| u64::try_from(us).ok())
                .map(Duration::from_micros),
        },
    };
    match d {
        Some(d) if d <= Duration::from_millis(10) => d,
        _ => {
            diags.push(
                Diagnostic::new(
                    "state.commit_delay",
                    format!("`{v}` is not a delay from 0 to 10ms"),
                )
                .hint("e.g. 0 (sync each group as it comes), 500us, 1ms"),
            );
            Duration::ZERO
        }
    }
}

/// `state.durability`: fsync (the default), os or off.
fn read_durability(diags: &mut Diagnostics, st: &RawState) -> Durability {
    match st.durability.as_deref().unwrap_or("fsync") {
        "fsync" => Durability::Fsync,
        "os" => Durability::Os,
        "off" => Durability::Off,
        other => {
            diags.push(
                Diagnostic::new("state.durability", format!("`{other}` is not a choice"))
                    .hint("fsync (the default: nothing acknowledged is lost), os (survives a crash of the process, not of the machine) or off"),
            );
            Durability::Fsync
        }
    }
}

/// `audit.key_file`: relative to the config's directory, must exist.
fn read_audit_key(diags: &mut Diagnostics, a: &RawAudit, base: &Path) -> Option<PathBuf> {
    a.key_file.as_ref().map(|k| {
        let p = base.join(k);
        if !p.is_file() {
            diags.push(
                Diagnostic::new("audit.key_file", format!("{} does not exist", p.display()))
                    .hint("make one with `head -c 32 /dev/urandom > audit.key && chmod 600 audit.key`, kept outside the database"),
            );
        }
        p
    })
}

/// `[credit]`: a deployment name other than the fraud one, PDs in [0, 1] with
/// `review_pd <= decline_pd`, and a reasons file that exists and parses (every problem
/// pushed; `None` when there is one).
fn read_credit(
    diags: &mut Diagnostics,
    c: &RawCredit,
    base: &Path,
    fraud_deployment: &str,
) -> Option<CreditConfig> {
    let before = diags.items.len();
    let deployment = c.deployment.clone().unwrap_or_else(|| "credit".into());
    if deployment.is_empty()
        || !deployment
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
    {
        diags.push(Diagnostic::new(
            "credit.deployment",
            format!("`{deployment}`: use letters, digits, '-', '_' and '.' only"),
        ));
    } else if deployment == fraud_deployment {
        diags.push(
            Diagnostic::new(
                "credit.deployment",
                format!("`{deployment}` is also registry.deployment (the fraud models')"),
            )
            .hint(
                "a deployment's models are all of one kind: give credit its own, e.g. \"credit\"",
            ),
        );
    }
    let prob = |v: f64| v.is_finite() && (0.0..=1.0).contains(&v);
    let decline_pd = match c.decline_pd {
        Some(v) if prob(v) => v,
        Some(v) => {
            diags.push(
                Diagnostic::new("credit.decline_pd", format!("{v} is not a probability"))
                    .hint("give the PD above which applications are declined, in [0, 1]"),
            );
            f64::NAN
        }
        None => {
            diags.push(
                Diagnostic::new("credit.decline_pd", "missing")
                    .hint("add decline_pd = 0.5 (the PD above which applications are declined)"),
            );
            f64::NAN
        }
    };
    if let Some(r) = c.review_pd {
        if !prob(r) || (decline_pd.is_finite() && r > decline_pd) {
            diags.push(
                Diagnostic::new(
                    "credit.review_pd",
                    format!("{r} must be a probability no larger than credit.decline_pd"),
                )
                .hint("applications with review_pd < PD <= decline_pd are referred"),
            );
        }
    }
    let reasons_path = c.reasons.as_deref().map(|p| base.join(p));
    let reasons = match &reasons_path {
        None => {
            diags.push(
                Diagnostic::new("credit.reasons", "missing").hint(
                    "add reasons = \"card.reasons.toml\" (written beside the model by `riskstream credit train`)",
                ),
            );
            None
        }
        Some(p) => match std::fs::read_to_string(p) {
            Err(e) => {
                diags.push(
                    Diagnostic::new("credit.reasons", format!("{}: {e}", p.display()))
                        .hint("paths are taken from the config file's directory"),
                );
                None
            }
            Ok(text) => match toml::from_str::<riskstream_credit::ReasonConfig>(&text) {
                Ok(r) => Some(r),
                Err(e) => {
                    diags.push(Diagnostic::new(
                        "credit.reasons",
                        format!("{}: {}", p.display(), e.to_string().trim_end()),
                    ));
                    None
                }
            },
        },
    };
    if diags.items.len() > before {
        return None;
    }
    Some(CreditConfig {
        deployment,
        decline_pd,
        review_pd: c.review_pd,
        reasons_path: reasons_path?,
        reasons: reasons?,
        customer_key: c.customer_key.clone(),
        customer_field: c.customer_field.clone(),
    })
}

impl ServiceConfig {
    /// How to open the registry for this service: its tenant, and the audit chain's key
    /// (`[audit] key_file`, else `RISKSTREAM_AUDIT_KEY_FILE`).
    pub fn registry_options(
        &self,
    ) -> riskstream_registry::Result<riskstream_registry::RegistryOptions> {
        let options = match &self.audit_key_file {
            Some(p) => riskstream_registry::RegistryOptions::default()
                .with_audit_key(riskstream_registry::AuditKey::from_file(p)?),
            None => riskstream_registry::RegistryOptions::from_env()?,
        };
        Ok(options.with_tenant(self.tenant.clone()))
    }

    /// Opens the registry this service uses, for its tenant.
    pub async fn open_registry(
        &self,
    ) -> riskstream_registry::Result<riskstream_registry::Registry> {
        riskstream_registry::Registry::open_with(&self.registry_url, self.registry_options()?).await
    }
}

impl ServiceConfig {
    /// The SQLite file the registry URL names (`None` for PostgreSQL and in-memory
    /// databases).
    pub fn registry_file(&self) -> Option<PathBuf> {
        let (path, query) = sqlite_parts(&self.registry_url)?;
        if path.is_empty() || path == ":memory:" || query.split('&').any(|p| p == "mode=memory") {
            return None;
        }
        Some(PathBuf::from(path))
    }

    /// For commands that only read the registry: refuses when its SQLite file does not
    /// exist, rather than opening it, which would create an empty one and answer from it.
    pub fn require_registry(&self) -> Result<(), Diagnostics> {
        match self.registry_file() {
            Some(p) if !p.exists() => {
                let mut d = Diagnostics::new("service config");
                d.push(
                    Diagnostic::new("registry.url", format!("no registry at {}", p.display()))
                        .hint("check the path (relative paths are taken from the config file's directory), or start the service once to create it"),
                );
                Err(d)
            }
            _ => Ok(()),
        }
    }
}

/// `sqlite:[//]path[?query]` → (path, query); `None` for other URLs.
fn sqlite_parts(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    Some(rest.split_once('?').unwrap_or((rest, "")))
}

/// A `sqlite:` URL with a relative file path, made relative to `base` (the config file's
/// directory): the file says its paths are, and taking them from the current directory
/// opened (and created) another database when a command ran from elsewhere. Absolute
/// paths and in-memory databases are kept as written.
fn resolve_sqlite(url: &str, base: &Path) -> String {
    let Some((path, query)) = sqlite_parts(url) else {
        return url.to_string();
    };
    let memory = path == ":memory:" || query.split('&').any(|p| p == "mode=memory");
    if path.is_empty() || memory || Path::new(path).is_absolute() {
        return url.to_string();
    }
    let q = if query.is_empty() && !url.ends_with('?') {
        String::new()
    } else {
        format!("?{query}")
    };
    format!("sqlite://{}{q}", base.join(path).display())
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn unknown_key_hint(msg: &str) -> Option<String> {
    // toml's message: "unknown field `x`, expected one of `a`, `b`".
    let got = msg.split('`').nth(1)?;
    let expected: Vec<&str> = msg
        .split("expected")
        .nth(1)?
        .split('`')
        .skip(1)
        .step_by(2)
        .collect();
    let pool: Vec<&str> = if expected.is_empty() {
        SECTIONS.to_vec()
    } else {
        expected
    };
    did_you_mean(got, pool.iter().copied()).map(|s| format!("did you mean `{s}`?"))
}

/// A URL with any password replaced by `***`, for messages and logs.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (auth, host) = match rest.split_once('@') {
        Some(x) => x,
        None => return url.to_string(),
    };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("f.toml"), "").expect("write");
        let c = ServiceConfig::parse("[features]\nspec = \"f.toml\"\n", "t", dir.path())
            .expect("defaults");
        assert_eq!(c.listen.port(), 8080);
        assert!(c.registry_url.starts_with("sqlite://") && c.registry_url.contains("registry.db"));
        assert_eq!(c.rate_limit, None);
        let c = ServiceConfig::parse(
            "[server]\nrate_limit = 2000\n[registry]\ntenant = \"acme\"\n[features]\nspec = \"f.toml\"\n",
            "t",
            dir.path(),
        )
        .expect("a tenant and its budget");
        assert_eq!(
            (c.tenant.as_str(), c.rate_limit),
            ("acme", Some((2000, 200)))
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let text = r#"
[server]
listen = "nowhere"
max_inflight = 0
request_timeout = "soon"
rate_burst = 5
[registry]
url = "mysql://u:secret@h/db"
deployment = "a b"
tenant = "Acme Bank"
"#;
        let e = ServiceConfig::parse(text, "svc.toml", Path::new("/tmp")).expect_err("bad");
        let s = e.to_string();
        assert_eq!(e.items.len(), 8, "{s}");
        assert!(s.contains("registry.tenant"), "{s}");
        assert!(s.contains("server.rate_burst"), "{s}");
        assert!(s.contains("features.spec"), "{s}");
        assert!(s.contains("server.listen"), "{s}");
        assert!(s.contains("server.max_inflight"), "{s}");
        assert!(s.contains("server.request_timeout"), "{s}");
        assert!(s.contains("registry.url"), "{s}");
        assert!(!s.contains("secret"), "password leaked: {s}");
        assert!(s.contains("registry.deployment"), "{s}");
    }

    #[test]
    fn unknown_keys_get_a_suggestion() {
        let e = ServiceConfig::parse("[server]\nlisten_addr = \"x\"\n", "t", Path::new("."))
            .expect_err("bad");
        let s = e.to_string();
        assert!(s.contains("listen_addr") && s.contains("line 2"), "{s}");
        assert!(s.contains("did you mean `listen`"), "{s}");
    }

    #[test]
    fn the_commit_delay_takes_microseconds_and_is_bounded() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("f.toml"), "").expect("write");
        let with = |d: &str| {
            ServiceConfig::parse(
                &format!("[features]\nspec = \"f.toml\"\n[state]\ncommit_delay = \"{d}\"\n"),
                "t",
                dir.path(),
            )
        };
        let c = ServiceConfig::parse("[features]\nspec = \"f.toml\"\n", "t", dir.path())
            .expect("defaults");
        assert_eq!(c.commit_delay, Duration::from_millis(1));
        assert_eq!(
            with("500us").expect("µs").commit_delay,
            Duration::from_micros(500)
        );
        assert_eq!(
            with("2ms").expect("ms").commit_delay,
            Duration::from_millis(2)
        );
        assert_eq!(with("0").expect("off").commit_delay, Duration::ZERO);
        for bad in ["11ms", "1s", "soon", "-1us"] {
            let e = with(bad).expect_err(bad).to_string();
            assert!(
                e.contains("state.commit_delay") && e.contains("500us"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://app:hunter2@db:5432/risk"),
            "postgres://app:***@db:5432/risk"
        );
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
    }
}
