//! `riskstream serve --config service.toml`: the decision service.

use crate::Outcome;
use anyhow::Context;
use riskstream_server::ServiceConfig;
use std::path::PathBuf;

/// Arguments of `riskstream serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Service config (TOML): listen addresses, registry URL, deployment, feature spec,
    /// state directory, limits, TLS. See examples/service/service.toml.
    #[arg(long)]
    pub config: PathBuf,
    /// Log as JSON lines (for log shippers) instead of text.
    #[arg(long)]
    pub log_json: bool,
}

/// Sets up structured logging once (`RUST_LOG` filters; default `info`).
pub fn init_logging(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,async_nats=warn"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        b.json().try_init()
    } else {
        b.try_init()
    };
}

/// A multi-threaded runtime for the service.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Resolves when the process gets SIGINT or SIGTERM.
pub async fn stop_signal() {
    let int = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = int.await;
                    return;
                }
            };
        tokio::select! {
            _ = int => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = int.await;
    }
}

/// Runs `serve` until SIGINT/SIGTERM, then drains, flushes the audit log and checkpoints.
pub fn run(a: Args) -> anyhow::Result<Outcome> {
    init_logging(a.log_json);
    let cfg = ServiceConfig::load(&a.config)?;
    let rt = runtime()?;
    rt.block_on(async move {
        // The analyst console is served beside the API, on the same port and TLS.
        let running =
            riskstream_server::start_with(cfg, stop_signal(), riskstream_console::router).await?;
        eprintln!(
            "riskstream serving on {}://{} (console: /console; metrics: {}); Ctrl-C to stop",
            if running.state.cfg.tls.is_some() {
                "https"
            } else {
                "http"
            },
            running.addr,
            running
                .metrics_addr
                .map_or("off".to_string(), |m| format!("http://{m}/metrics"))
        );
        running.wait().await?;
        anyhow::Ok(())
    })?;
    Ok(Outcome::Clean)
}
