//! `riskstream bench http`: open-loop load against the decision service over HTTP.
//!
//! The service runs as its own process (`riskstream serve`, started here from the same
//! binary) so client and server are measured as deployed. Requests are sent on a fixed
//! schedule — one every 1/rate seconds, whether or not earlier ones have answered — and each
//! latency is measured from the moment the request was *due*, not when it went out, so a
//! stalled server cannot hide its stall (no coordinated omission). Each rate step reports
//! p50/p99/p99.9, errors by kind, and what the service itself measured.

use crate::UsageError;
use anyhow::Context;
use riskstream_io::table::{self, Column, LoadOptions};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What `bench http` runs on (the command line's flags).
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Service config to serve (default: the one `riskstream demo` leaves behind, with its
    /// registry, model, policy and warmed feature state).
    pub config: PathBuf,
    /// Transactions to send (in time order, after the state's history).
    pub input: PathBuf,
    /// Schema of the input (file or shipped name).
    pub schema: String,
    /// Time column; only rows at or after --from are sent.
    pub time_col: String,
    /// First day to send (YYYY-MM-DD).
    pub from: String,
    /// Request rates to step through, per second.
    pub rates: Vec<u32>,
    /// Seconds per rate step.
    pub seconds: u64,
    /// Client connections.
    pub connections: usize,
    /// Print JSON lines instead of a table.
    pub json: bool,
    /// After each step, the p99 of every second of it.
    pub per_second: bool,
    /// The service's live straggler tolerance during the run (`[features] live_tolerance`).
    /// Replaying history at thousands of requests a second compresses event time: the
    /// handbook has about one transaction every 9 s, so at 5,000 requests/s a 1 ms
    /// reordering between connections spans some 45 s of event time. The default absorbs
    /// that; decisions taken within it are counted in the `reordered` column.
    pub live_tolerance: String,
}

fn pct(v: &[u64], q: f64) -> u64 {
    if v.is_empty() {
        return 0;
    }
    v[((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1]
}

/// Runs `bench http`; the table (or JSON lines) goes to `stdout`. The service is this
/// process's own executable run as `riskstream serve`: this library runs inside the
/// `riskstream` binary.
pub fn run(a: HttpOptions, stdout: &mut dyn Write) -> anyhow::Result<()> {
    if !a.config.is_file() {
        return Err(UsageError(format!(
            "{} not found: run `riskstream demo` first (it leaves a registry, model, policy and warmed state there), or pass --config",
            a.config.display()
        ))
        .into());
    }
    let cfg = riskstream_server::ServiceConfig::load(&a.config)?;
    eprintln!("reading {}", a.input.display());
    let t = table::load(
        &a.input,
        &LoadOptions {
            schema: Some(a.schema.clone()),
            ..Default::default()
        },
        &mut crate::print_note,
    )?;
    let schema = table::resolve_schema(
        Some(&a.schema),
        &a.input,
        table::file_format(&a.input, None, None, &mut crate::print_note)?,
    )?
    .0;
    let ti = t
        .names
        .iter()
        .position(|n| *n == a.time_col)
        .ok_or_else(|| UsageError(format!("no column `{}`", a.time_col)))?;
    let Column::Time(times) = &t.columns[ti] else {
        return Err(UsageError(format!("`{}` is not a timestamp", a.time_col)).into());
    };
    let from = riskstream_core::time::parse_iso8601(&a.from)
        .map_err(|e| UsageError(format!("--from `{}`: {e}", a.from)))?;
    let mut rows: Vec<usize> = (0..t.rows).filter(|&r| times[r] >= from).collect();
    rows.sort_by_key(|&r| times[r]);
    let need: usize = a
        .rates
        .iter()
        .map(|&r| r as usize * a.seconds as usize)
        .sum();
    if rows.len() < need {
        eprintln!(
            "note: {} transactions after {}, {} needed; the stream wraps around (later passes repeat ids)",
            rows.len(),
            a.from,
            need
        );
    }
    // Pre-serialise the bodies: the generator must not be the bottleneck.
    let bodies: Vec<Vec<u8>> = rows
        .iter()
        .map(|&r| serde_json::to_vec(&t.row_json(&schema, r)).unwrap_or_default())
        .collect();
    if bodies.is_empty() {
        return Err(UsageError(format!("no transactions at or after {}", a.from)).into());
    }
    let rt = crate::runtime()?;
    rt.block_on(async move {
        let dir = tempfile::tempdir()?;
        // A SQLite registry is copied too: every run appends its decisions' audit records
        // (50,000 a step at 5,000/s), and runs on a registry grown by the runs before them
        // were measurably slower (a 1 GB file after 25 runs: in-service p99 doubled).
        let config_dir = a.config.parent().unwrap_or(std::path::Path::new("."));
        let registry_url = match sqlite_file(&cfg.registry_url) {
            Some(db) => {
                // The service's tenant's file (each tenant but the default has its own).
                let db = riskstream_registry::tenant_file(&config_dir.join(db), &cfg.tenant);
                let to = dir.path().join("registry.db");
                let to_file = riskstream_registry::tenant_file(&to, &cfg.tenant);
                for suffix in ["", "-wal", "-shm"] {
                    let from = std::path::PathBuf::from(format!("{}{suffix}", db.display()));
                    if from.is_file() {
                        let to = std::path::PathBuf::from(format!("{}{suffix}", to_file.display()));
                        std::fs::copy(&from, &to)?;
                        std::fs::File::open(&to)?.sync_all()?;
                    }
                }
                Some(format!("sqlite://{}?mode=rwc", to.display()))
            }
            None => None,
        };
        let reg = riskstream_registry::Registry::open_with(
            registry_url.as_deref().unwrap_or(&cfg.registry_url),
            cfg.registry_options()?,
        )
        .await?;
        let key_name = format!("bench-{}", std::process::id());
        let key = reg
            .create_key(&key_name, &[riskstream_registry::Role::Decide], "bench")
            .await?;
        drop(reg);
        // The service as its own process, on a fixed loopback port taken from a probe.
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        // Its metrics on a second probed port: each step reports the log's syncs from them.
        let mport = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let exe = std::env::current_exe()?;
        let cfg_text = std::fs::read_to_string(&a.config)?;
        let base_dir = std::fs::canonicalize(a.config.parent().unwrap_or(std::path::Path::new(".")))?;
        // The run starts from a copy of the warmed state, so the demo's own state (and the
        // next run) is left as it was.
        let state = dir.path().join("state");
        std::fs::create_dir_all(&state)?;
        if let Ok(entries) = std::fs::read_dir(&cfg.state_dir) {
            for e in entries.flatten() {
                if e.path().is_file() {
                    let to = state.join(e.file_name());
                    std::fs::copy(e.path(), &to)?;
                    // On disk before the clock starts: otherwise the kernel writes the copy
                    // (over 100 MB for the demo) back in the middle of a rate step, and the
                    // service's log syncs queue behind it.
                    std::fs::File::open(&to)?.sync_all()?;
                }
            }
        }
        std::fs::File::open(&state)?.sync_all()?;
        let patched = patch_config(
            &cfg_text,
            (port, mport),
            &base_dir,
            &state,
            &a.live_tolerance,
            registry_url.as_deref(),
        );
        let cfg2 = dir.path().join("service.toml");
        std::fs::write(&cfg2, patched)?;
        let mut child = Service(
            std::process::Command::new(exe)
                .args(["serve", "--config"])
                .arg(&cfg2)
                .env("RUST_LOG", "warn")
                .spawn()
                .context("cannot start `riskstream serve`")?,
        );
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(a.connections)
            .timeout(Duration::from_secs(10))
            .build()?;
        let mut up = false;
        for _ in 0..300 {
            if http.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
                up = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if !up {
            let _ = child.0.kill();
            anyhow::bail!("the service did not become ready on {base}");
        }
        let mut next = 0usize;
        // The decisions go through the generator's own client (`http_client`): a thread per
        // connection with blocking calls, so that it does not take the CPU the service is
        // being measured on.
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let mut clients: Vec<crate::http_client::Client> = (0..a.connections.max(1))
            .map(|_| crate::http_client::Client::new(addr, "/v1/decisions", &key, Duration::from_secs(10)))
            .collect();
        let metrics_url = format!("http://127.0.0.1:{mport}/metrics");
        let mut before = Syncs::scrape(&http, &metrics_url).await;
        if !a.json {
            writeln!(stdout, "| rate/s | sent | ok | errors (4xx/5xx/io) | reordered | p50 ms | p99 ms | p99.9 ms | max ms | server p99 µs | worst second's p99 ms | log syncs | records per sync | sync p99 ≤ ms |")?;
            writeln!(stdout, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")?;
        }
        for &rate in &a.rates {
            let n = rate as usize * a.seconds as usize;
            let results = send_step(&mut clients, &bodies, next, n, rate);
            next += n;
            let mut lat = Vec::with_capacity(n);
            let mut server = Vec::with_capacity(n);
            let (mut e4, mut e5, mut eio, mut reordered) = (0usize, 0usize, 0usize, 0usize);
            let mut first_error: Option<String> = None;
            // Latencies by the second they were due in: a stall shows as one bad second,
            // a service past its capacity as every second bad.
            let mut by_second: Vec<Vec<u64>> = vec![Vec::new(); a.seconds.max(1) as usize];
            for Sent { i, us, status: s, server_us: sus, late, err } in results {
                lat.push(us);
                if let Some(v) = by_second.get_mut(i / rate.max(1) as usize) {
                    v.push(us);
                }
                reordered += usize::from(late);
                if first_error.is_none() {
                    first_error = err;
                }
                match s {
                    200..=299 => server.push(sus),
                    400..=499 => e4 += 1,
                    500..=599 => e5 += 1,
                    _ => eio += 1,
                }
            }
            lat.sort_unstable();
            server.sort_unstable();
            let second_p99: Vec<u64> = by_second
                .iter_mut()
                .map(|v| {
                    v.sort_unstable();
                    pct(v, 0.99)
                })
                .collect();
            let worst_second = second_p99.iter().copied().max().unwrap_or(0);
            let after = Syncs::scrape(&http, &metrics_url).await;
            let step = after.since(&before);
            before = after;
            let ms = |v: u64| v as f64 / 1000.0;
            if a.json {
                writeln!(
                    stdout,
                    "{}",
                    serde_json::json!({"rate": rate, "sent": n, "ok": server.len(), "e4xx": e4, "e5xx": e5, "eio": eio, "reordered": reordered,
                        "p50_ms": ms(pct(&lat, 0.5)), "p99_ms": ms(pct(&lat, 0.99)), "p999_ms": ms(pct(&lat, 0.999)),
                        "max_ms": ms(lat.last().copied().unwrap_or(0)), "server_p99_us": pct(&server, 0.99),
                        "worst_second_p99_ms": ms(worst_second),
                        "second_p99_ms": second_p99.iter().map(|&v| ms(v)).collect::<Vec<_>>(), "log_syncs": step.count,
                        "records_per_sync": step.records_per_sync(), "sync_p99_le_ms": step.p99_bound_ms()})
                )?;
            } else {
                writeln!(
                    stdout,
                    "| {rate} | {n} | {} | {e4}/{e5}/{eio} | {reordered} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {:.2} | {} | {} | {} |",
                    server.len(),
                    ms(pct(&lat, 0.5)),
                    ms(pct(&lat, 0.99)),
                    ms(pct(&lat, 0.999)),
                    ms(lat.last().copied().unwrap_or(0)),
                    pct(&server, 0.99),
                    ms(worst_second),
                    step.count,
                    step.records_per_sync().map_or("–".into(), |r| format!("{r:.1}")),
                    step.p99_bound_ms().map_or("–".into(), |b| format!("{b}")),
                )?;
            }
            if a.per_second && !a.json {
                let each: Vec<String> = second_p99.iter().map(|&v| format!("{:.2}", ms(v))).collect();
                writeln!(stdout, "|  | p99 ms of each second: {} |", each.join(" "))?;
            }
            if let Some(e) = first_error {
                eprintln!("  first error at {rate}/s: {e}");
            }
        }
        drop(child);
        if registry_url.is_none() {
            let reg = cfg.open_registry().await?;
            reg.revoke_key(&key_name, "bench").await?;
        }
        anyhow::Ok(())
    })?;
    Ok(())
}

/// One request's outcome: its number in the step, its latency from when it was due (µs),
/// the status (0: no answer), the service's own latency, whether it was decided as a
/// straggler, and the error message of a refusal or failure.
struct Sent {
    i: usize,
    us: u64,
    status: u16,
    server_us: u64,
    late: bool,
    err: Option<String>,
}

/// Sends `n` requests at `rate` per second, the bodies from `bodies[first..]` (wrapping
/// around), each connection's client on a thread of its own: a thread takes the next
/// request's number, sleeps until it is due (the operating system's timer, not a runtime's
/// millisecond wheel, which released requests in bursts up to 1 ms late and charged that
/// wait to the service), sends it and reads the answer. Latency is measured from when the
/// request was due.
fn send_step(
    clients: &mut [crate::http_client::Client],
    bodies: &[Vec<u8>],
    first: usize,
    n: usize,
    rate: u32,
) -> Vec<Sent> {
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let counter = std::sync::atomic::AtomicUsize::new(0);
    // The threads are started before the first request is due.
    let start = Instant::now() + Duration::from_millis(50);
    std::thread::scope(|s| {
        let handles: Vec<_> = clients
            .iter_mut()
            .map(|client| {
                let counter = &counter;
                s.spawn(move || {
                    let mut out = Vec::with_capacity(n / 16 + 16);
                    loop {
                        let i = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= n {
                            return out;
                        }
                        let due = start + interval.mul_f64(i as f64);
                        let now = Instant::now();
                        if due > now {
                            std::thread::sleep(due - now);
                        }
                        let body = &bodies[(first + i) % bodies.len()];
                        let sent = match client.post(body) {
                            Ok(r) => {
                                let v: Answer = serde_json::from_slice(&r.body).unwrap_or_default();
                                let err = (r.status >= 400)
                                    .then(|| v.error.map(|e| e.message).unwrap_or_default());
                                Sent {
                                    i,
                                    us: 0,
                                    status: r.status,
                                    server_us: v.latency_us.unwrap_or(0),
                                    late: v.late_by_us.is_some(),
                                    err,
                                }
                            }
                            Err(e) => Sent {
                                i,
                                us: 0,
                                status: 0,
                                server_us: 0,
                                late: false,
                                err: Some(e),
                            },
                        };
                        out.push(Sent {
                            us: due.elapsed().as_micros() as u64,
                            ..sent
                        });
                    }
                })
            })
            .collect();
        let mut all = Vec::with_capacity(n);
        for h in handles {
            all.extend(h.join().unwrap_or_default());
        }
        all.sort_unstable_by_key(|s| s.i);
        all
    })
}

/// What the generator reads of an answer; the rest of the decision is skipped unparsed
/// into values (building a `serde_json::Value` of every answer cost the generator CPU the
/// service needs at 5,000/s on two cores).
#[derive(Debug, Default, serde::Deserialize)]
struct Answer {
    latency_us: Option<u64>,
    late_by_us: Option<serde::de::IgnoredAny>,
    error: Option<AnswerError>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct AnswerError {
    #[serde(default)]
    message: String,
}

/// The service's write-ahead-log syncs as its `/metrics` counts them (cumulative): each
/// step reports the difference, so a slow disk is told apart from a slow decision.
#[derive(Debug, Default, Clone)]
struct Syncs {
    /// `riskstream_wal_flush_seconds` buckets: (upper bound in seconds, cumulative count).
    buckets: Vec<(f64, u64)>,
    /// Syncs (group commits).
    count: u64,
    /// Records the syncs covered.
    records: f64,
}

impl Syncs {
    /// The counts now; empty when the service has no log or its metrics do not answer.
    async fn scrape(http: &reqwest::Client, url: &str) -> Syncs {
        let Ok(resp) = http.get(url).send().await else {
            return Syncs::default();
        };
        let text = resp.text().await.unwrap_or_default();
        Syncs::parse(&text)
    }

    fn parse(text: &str) -> Syncs {
        let mut s = Syncs::default();
        for line in text.lines() {
            let Some((name, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(v) = value.parse::<f64>() else {
                continue;
            };
            if let Some(rest) = name.strip_prefix("riskstream_wal_flush_seconds_bucket{le=\"") {
                let le = rest.trim_end_matches("\"}");
                let bound = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap_or(f64::NAN)
                };
                if !bound.is_nan() {
                    s.buckets.push((bound, v as u64));
                }
            } else if name == "riskstream_wal_flush_seconds_count" {
                s.count = v as u64;
            } else if name == "riskstream_wal_group_records_sum" {
                s.records = v;
            }
        }
        s.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        s
    }

    /// What happened between `earlier` and now.
    fn since(&self, earlier: &Syncs) -> Syncs {
        let was = |b: f64| earlier.buckets.iter().find(|e| e.0 == b).map_or(0, |e| e.1);
        Syncs {
            buckets: self
                .buckets
                .iter()
                .map(|&(b, c)| (b, c.saturating_sub(was(b))))
                .collect(),
            count: self.count.saturating_sub(earlier.count),
            records: self.records - earlier.records,
        }
    }

    fn records_per_sync(&self) -> Option<f64> {
        (self.count > 0).then(|| self.records / self.count as f64)
    }

    /// The smallest bucket bound (ms) that at least 99 % of the syncs finished within.
    fn p99_bound_ms(&self) -> Option<f64> {
        let total = self.buckets.last()?.1;
        if total == 0 {
            return None;
        }
        let need = (total as f64 * 0.99).ceil() as u64;
        self.buckets
            .iter()
            .find(|b| b.1 >= need)
            .map(|b| b.0 * 1000.0)
    }
}

/// The file of a `sqlite://` registry URL, if it is one (relative paths as given).
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let p = url.strip_prefix("sqlite://")?;
    let p = p.split_once('?').map_or(p, |(p, _)| p);
    (!p.is_empty() && p != ":memory:").then(|| std::path::PathBuf::from(p))
}

/// The demo's config with the listen and metrics ports fixed, the state directory (and a
/// SQLite registry, when `registry` is given) moved to the run's copy, the live tolerance
/// set and relative paths made absolute.
fn patch_config(
    text: &str,
    (port, mport): (u16, u16),
    base: &std::path::Path,
    state: &std::path::Path,
    tolerance: &str,
    registry: Option<&str>,
) -> String {
    let mut out = String::new();
    let mut section = String::new();
    for line in text.lines() {
        let l = line.trim_start();
        if l.starts_with('[') {
            section = l.trim_matches(|c| c == '[' || c == ']').trim().to_string();
            out.push_str(line);
            out.push('\n');
            if section == "features" {
                out.push_str(&format!("live_tolerance = \"{tolerance}\"\n"));
            }
            if section == "server" {
                out.push_str(&format!("metrics_listen = \"127.0.0.1:{mport}\"\n"));
            }
            continue;
        }
        let key = l.split('=').next().unwrap_or("").trim();
        match (section.as_str(), key) {
            ("server", "listen") => out.push_str(&format!("listen = \"127.0.0.1:{port}\"\n")),
            ("server", "metrics_listen") => {}
            ("state", "dir") => out.push_str(&format!("dir = \"{}\"\n", state.display())),
            ("features", "live_tolerance") => {}
            ("registry", "url") => {
                match registry {
                    Some(r) => out.push_str(&format!("url = \"{r}\"")),
                    None => out.push_str(&absolute(line, base)),
                }
                out.push('\n');
            }
            ("features", "spec") => {
                out.push_str(&absolute(line, base));
                out.push('\n');
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// `key = "relative/path"` with the path taken from `base`; SQLite URLs keep their scheme.
fn absolute(line: &str, base: &std::path::Path) -> String {
    let Some((k, v)) = line.split_once('=') else {
        return line.to_string();
    };
    let v = v.trim().trim_matches('"');
    let (scheme, path) = match v.strip_prefix("sqlite://") {
        Some(p) => ("sqlite://", p),
        None if v.contains("://") => return line.to_string(),
        None => ("", v),
    };
    let (path, query) = path.split_once('?').map_or((path, ""), |(p, q)| (p, q));
    if std::path::Path::new(path).is_absolute() {
        return line.to_string();
    }
    let q = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    format!("{}= \"{scheme}{}{q}\"", k, base.join(path).display())
}

/// The service process of a run: stopped cleanly when the run ends, however it ends (a
/// failed step or a closed standard output must not leave it running).
struct Service(std::process::Child);

impl Drop for Service {
    fn drop(&mut self) {
        // SIGTERM: the service drains and checkpoints.
        #[cfg(unix)]
        {
            let _ = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(self.0.id().to_string())
                .status();
        }
        #[cfg(not(unix))]
        {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::Syncs;

    const TEXT: &str = "\
# TYPE riskstream_wal_flush_seconds histogram
riskstream_wal_flush_seconds_bucket{le=\"0.0001\"} 10
riskstream_wal_flush_seconds_bucket{le=\"0.0002\"} 90
riskstream_wal_flush_seconds_bucket{le=\"0.001\"} 99
riskstream_wal_flush_seconds_bucket{le=\"+Inf\"} 100
riskstream_wal_flush_seconds_sum 0.05
riskstream_wal_flush_seconds_count 100
riskstream_wal_group_records_sum 400
riskstream_wal_group_records_count 100
";

    #[test]
    fn a_step_reports_the_syncs_between_two_scrapes() {
        let a = Syncs::parse(TEXT);
        assert_eq!(a.count, 100);
        assert_eq!(a.records_per_sync(), Some(4.0));
        assert!((a.p99_bound_ms().unwrap_or(0.0) - 1.0).abs() < 1e-9);
        let later = TEXT
            .replace("} 10\n", "} 110\n")
            .replace("} 90\n", "} 290\n")
            .replace("} 99\n", "} 299\n")
            .replace("{le=\"+Inf\"} 100", "{le=\"+Inf\"} 300")
            .replace(
                "count 100\nriskstream_wal_group",
                "count 300\nriskstream_wal_group",
            )
            .replace("records_sum 400", "records_sum 1000");
        let step = Syncs::parse(&later).since(&a);
        assert_eq!(step.count, 200);
        assert_eq!(step.records_per_sync(), Some(3.0));
        // 100 of 200 within 0.1 ms, all within 0.2 ms.
        assert!((step.p99_bound_ms().unwrap_or(0.0) - 0.2).abs() < 1e-9);
    }

    #[test]
    fn no_log_means_no_figures() {
        let s = Syncs::parse("riskstream_decisions_total 5\n");
        assert_eq!(s.records_per_sync(), None);
        assert_eq!(s.p99_bound_ms(), None);
    }
}
