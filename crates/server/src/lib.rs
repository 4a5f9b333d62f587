//! Layer 5: the decision service — `riskstream serve`.
//!
//! ```text
//!  client ──TLS?──▶ axum ─ request id ─ body limit ─ timeout ─ auth (API key → roles)
//!                     │
//!                     ├─ POST /v1/decisions ──▶ Decider (feature state, models, CEL rules)
//!                     │                             └─▶ audit writer (hash chain, batched)
//!                     ├─ POST /v1/labels ──▶ feature state (label events), online models
//!                     ├─ POST /v1/credit/score ──▶ credit models ([credit]: scorecard / GBDT)
//!                     ├─ GET /v1/forecasts/{series} ──▶ forecast set ([forecast]); volumes
//!                     │    of decided transactions ──▶ early warning (alerts, webhook)
//!                     ├─ GET /v1/recommendations/{customer}, feedback ──▶ recommendation
//!                     │     models ([recommend]: A/B arms, CEL eligibility, acceptance test)
//!                     ├─ POST /v1/complaints/classify ──▶ text models ([complaints])
//!                     └─ registry routes ──▶ Registry (SQLite / PostgreSQL) ──▶ reload
//!  Prometheus ──▶ separate port /metrics
//! ```
//!
//! The shape follows the axum examples: a typed state behind `Arc`, handlers as plain async
//! functions with extractors, errors as a type that renders itself, tower layers for the
//! cross-cutting parts. Overload is refused early and cheaply: a semaphore bounds the
//! decisions in flight and the rest get 503 with `Retry-After`, so latency stays bounded
//! instead of queues growing. Shutdown stops accepting, drains what is in flight, writes the
//! last audit records and checkpoints the feature state.

pub mod admin;
pub mod alerts;
pub mod auth;
pub mod cases_out;
pub mod client;
pub mod complaints;
pub mod config;
pub mod credit;
pub mod credit_behaviour;
pub mod credit_seen;
pub mod drift;
pub mod early_warning;
pub mod error;
pub mod event_audit;
pub mod files;
pub mod forecast;
pub mod json;
pub mod lineage;
pub mod quality;
pub mod ratelimit;
pub mod recommend;
pub mod routes;
pub mod state;
pub mod wal;
pub mod webhook;

pub use config::ServiceConfig;
pub use routes::ApiDoc;
pub use state::{AppState, StartError};

use axum::routing::{delete, get, post, put};
use axum::Router;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// The process-wide Prometheus recorder (installed once; later calls share it).
pub fn prometheus() -> PrometheusHandle {
    static H: OnceLock<PrometheusHandle> = OnceLock::new();
    H.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[
                50e-6, 100e-6, 200e-6, 500e-6, 1e-3, 2e-3, 5e-3, 10e-3, 50e-3, 0.1, 0.5, 1.0,
            ])
            .expect("static bucket list is non-empty")
            // Pipelines: event-to-decision latency includes queueing in the broker, so the
            // buckets reach minutes.
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Prefix("riskstream_pipeline_".into()),
                &[
                    1e-3, 2e-3, 5e-3, 10e-3, 20e-3, 50e-3, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
                    30.0, 60.0, 300.0,
                ],
            )
            .expect("static bucket list is non-empty")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (a test harness); then ours only renders.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
    .clone()
}

/// Largest model or policy upload (a 1,000-tree model file is a few tens of MB of JSON).
pub const UPLOAD_LIMIT: usize = 256 << 20;

/// The API router over a started state.
pub fn app(st: Arc<AppState>) -> Router {
    let limit = st.cfg.max_body_bytes;
    let timeout = st.cfg.request_timeout;
    let body_timeout = st.cfg.body_timeout;
    // Decisions and labels: the configured (small) body limit. Model and policy uploads are
    // larger by nature and come from trusted roles: their own limit.
    let traffic = Router::new()
        .route("/v1/decisions", post(routes::decide))
        .route("/v1/decisions/batch", post(routes::decide_batch))
        .route("/v1/labels", post(routes::label))
        .route("/v1/credit/score", post(routes::credit_score))
        .route("/v1/features/{entity}", get(routes::entity_features))
        .route(
            "/v1/entities/{field}/{value}/history",
            get(routes::entity_history),
        )
        .route(
            "/v1/recommendations/{customer}",
            get(routes::recommendations),
        )
        .route(
            "/v1/recommendations/feedback",
            post(routes::recommendation_feedback),
        )
        .route("/v1/complaints/classify", post(routes::classify_complaint))
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        // The deadline is for traffic; administrative calls (an audit walk over millions of
        // records) may take longer and are not latency-bound.
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ));
    let uploads = Router::new()
        .route(
            "/v1/models",
            get(routes::list_models).post(routes::put_model),
        )
        .route(
            "/v1/policies",
            get(routes::list_policies).post(routes::put_policy),
        )
        .route(
            "/v1/credit/models",
            get(routes::list_credit_models).post(routes::put_credit_model),
        )
        .route(
            "/v1/forecast-models",
            get(routes::list_forecast_models).post(routes::put_forecast_model),
        )
        .route(
            "/v1/recommend/models",
            get(routes::list_recommend_models).post(routes::put_recommend_model),
        )
        .route(
            "/v1/complaints/models",
            get(routes::list_text_models).post(routes::put_text_model),
        )
        .layer(axum::extract::DefaultBodyLimit::max(
            UPLOAD_LIMIT.max(limit),
        ));
    Router::new()
        .merge(traffic)
        .merge(uploads)
        .route("/v1/deployment", get(routes::deployment))
        .route("/v1/models/{id}/stage", post(routes::set_stage))
        .route("/v1/policies/{id}/activate", post(routes::activate_policy))
        .route("/v1/rollback", post(routes::rollback))
        .route(
            "/v1/credit/models/{id}/stage",
            post(routes::set_credit_stage),
        )
        .route("/v1/credit/rollback", post(routes::credit_rollback))
        .route("/v1/forecasts", get(routes::list_forecasts))
        .route("/v1/forecast-alerts", get(routes::list_forecast_alerts))
        .route(
            "/v1/forecast-alerts/check",
            post(routes::check_forecast_alerts),
        )
        .route(
            "/v1/forecast-alerts/{id}/ack",
            post(routes::ack_forecast_alert),
        )
        .route("/v1/forecasts/{series}", get(routes::get_forecast))
        .route(
            "/v1/forecast-models/{id}/stage",
            post(routes::set_forecast_stage),
        )
        .route(
            "/v1/recommend/models/{id}/stage",
            post(routes::set_recommend_stage),
        )
        .route("/v1/recommend/rollback", post(routes::recommend_rollback))
        .route("/v1/recommend/arms", get(routes::recommend_arms))
        .route(
            "/v1/complaints/models/{id}/stage",
            post(routes::set_text_stage),
        )
        .route(
            "/v1/complaints/rollback",
            post(routes::complaints_rollback),
        )
        .route("/v1/lineage/{tx_id}", get(routes::get_lineage))
        .route("/v1/lists", get(routes::get_lists))
        .route(
            "/v1/lists/{list}/{value}",
            put(routes::put_list_entry).delete(routes::delete_list_entry),
        )
        .route("/v1/cases", get(routes::list_cases))
        .route("/v1/cases/{id}", get(routes::get_case))
        .route("/v1/cases/{id}/close", post(routes::close_case))
        .route("/v1/cases/{id}/comment", post(routes::comment_case))
        .route("/v1/cases/{id}/escalate", post(routes::escalate_case))
        .route("/v1/cases/{id}/trail", get(routes::case_trail))
        .route("/v1/monitoring/drift", get(routes::drift))
        .route("/v1/quality", get(routes::quality))
        .route("/v1/alerts", get(routes::list_alerts))
        .route("/v1/alerts/check", post(routes::check_alerts))
        .route("/v1/alerts/{id}/ack", post(routes::ack_alert))
        .route("/v1/audit", get(routes::audit_tail))
        .route("/v1/audit/verify", post(routes::audit_verify))
        .route("/v1/keys", post(routes::create_key))
        .route("/v1/keys/{name}", delete(routes::revoke_key))
        .route("/healthz", get(routes::healthz))
        .route("/readyz", get(routes::readyz))
        .route("/openapi.json", get(routes::openapi_json))
        .fallback(|| async {
            error::ApiError::not_found("no such route; the API is described at /openapi.json")
        })
        .method_not_allowed_fallback(|| async {
            error::ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method; the API is described at /openapi.json",
            )
        })
        .with_state(st)
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        // A body trickled in byte by byte would hold a decision slot and a connection.
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(body_timeout))
        .layer(axum::middleware::map_response(error::json_for_empty_errors))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                let id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
            }),
        )
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// The metrics router (served on its own port).
pub fn metrics_app(handle: PrometheusHandle) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let h = handle.clone();
            async move { h.render() }
        }),
    )
}

/// Serves `/metrics` for the process's recorder on `addr` until the runtime stops
/// (`riskstream run` uses it; the service starts its own with graceful shutdown).
pub async fn serve_metrics(addr: SocketAddr) -> Result<SocketAddr, StartError> {
    let handle = prometheus();
    let l = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| StartError::Io(format!("cannot listen on {addr} (metrics.listen): {e}")))?;
    let bound = l.local_addr().map_err(|e| StartError::Io(e.to_string()))?;
    tokio::spawn(async move {
        let _ = axum::serve(l, metrics_app(handle)).await;
    });
    Ok(bound)
}

/// A running service: its addresses and a handle to stop it.
#[derive(Debug)]
pub struct Running {
    /// Where the API listens.
    pub addr: SocketAddr,
    /// Where `/metrics` listens.
    pub metrics_addr: Option<SocketAddr>,
    /// The shared state.
    pub state: Arc<AppState>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), StartError>>,
}

impl Running {
    /// Waits until the service stops by itself (its stop signal fired) and has drained.
    pub async fn wait(self) -> Result<(), StartError> {
        let _keep = self.stop;
        self.task
            .await
            .map_err(|e| StartError::Io(format!("service task failed: {e}")))?
    }

    /// Asks the service to stop and waits until it has drained, flushed the audit log and
    /// written its checkpoint.
    pub async fn shutdown(self) -> Result<(), StartError> {
        let _ = self.stop.send(true);
        self.task
            .await
            .map_err(|e| StartError::Io(format!("service task failed: {e}")))?
    }
}

/// Starts the service; it runs until [`Running::shutdown`] or `stop_signal` resolves.
pub async fn start(
    cfg: ServiceConfig,
    stop_signal: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<Running, StartError> {
    start_with(cfg, stop_signal, |_| Router::new()).await
}

/// [`start`], with more routes served beside the API on the same listener (and TLS):
/// `extra` gets the started state and returns a router without a fallback (the API's
/// answers unknown paths). `riskstream serve` mounts the analyst console this way.
pub async fn start_with(
    cfg: ServiceConfig,
    stop_signal: impl std::future::Future<Output = ()> + Send + 'static,
    extra: impl FnOnce(Arc<AppState>) -> Router,
) -> Result<Running, StartError> {
    let handle = prometheus();
    let st = AppState::start(cfg).await?;
    let cfg = &st.cfg;
    let (stop, mut stop_rx) = tokio::sync::watch::channel(false);
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            stop_signal.await;
            let _ = stop.send(true);
        });
    }
    let metrics_addr = match cfg.metrics_listen {
        Some(a) => {
            let l = tokio::net::TcpListener::bind(a).await.map_err(|e| {
                StartError::Io(format!("cannot listen on {a} (server.metrics_listen): {e}"))
            })?;
            let addr = l.local_addr().map_err(|e| StartError::Io(e.to_string()))?;
            let mut rx = stop_rx.clone();
            tokio::spawn(async move {
                let _ = axum::serve(l, metrics_app(handle))
                    .with_graceful_shutdown(async move {
                        let _ = rx.wait_for(|s| *s).await;
                    })
                    .await;
            });
            Some(addr)
        }
        None => None,
    };
    // Background: registry polling and periodic checkpoints.
    {
        let st2 = st.clone();
        let mut rx = stop_rx.clone();
        let poll = cfg.poll_interval;
        tokio::spawn(async move {
            let mut t = tokio::time::interval(poll);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    _ = t.tick() => {
                        st2.publish_gauges();
                        if let Err(e) = st2.reload_if_changed().await {
                            tracing::warn!(error = %e, "registry poll failed; keeping the deployment in force");
                            metrics::counter!("riskstream_registry_poll_errors_total").increment(1);
                        }
                    }
                    () = stopped(&mut rx) => break,
                }
            }
        });
    }
    // Background: the forecast early warning's scheduled checks.
    if let Some(w) = st.early.clone() {
        let st2 = st.clone();
        let mut rx = stop_rx.clone();
        let every = w.cfg.refresh;
        tokio::spawn(async move {
            let mut t = tokio::time::interval(every);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            t.tick().await;
            loop {
                tokio::select! {
                    _ = t.tick() => {
                        let w2 = w.clone();
                        match tokio::task::spawn_blocking(move || w2.check()).await {
                            Ok(new) => w.publish(&st2.registry, &new).await,
                            Err(e) => tracing::warn!(error = %e, "forecast early warning check stopped"),
                        }
                    }
                    () = stopped(&mut rx) => break,
                }
            }
        });
    }
    // Background: the monitoring alert rules' scheduled checks.
    if let Some(a) = st.alerts.clone() {
        let st2 = st.clone();
        let mut rx = stop_rx.clone();
        let every = a.cfg.interval;
        tokio::spawn(async move {
            let mut t = tokio::time::interval(every);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            t.tick().await;
            loop {
                tokio::select! {
                    _ = t.tick() => {
                        let new = a.check(&st2).await;
                        a.publish(&st2.registry, &new).await;
                    }
                    () = stopped(&mut rx) => break,
                }
            }
        });
    }
    if let Some(every) = cfg.checkpoint_interval {
        let st2 = st.clone();
        let mut rx = stop_rx.clone();
        tokio::spawn(async move {
            let mut t = tokio::time::interval(every);
            t.tick().await;
            // The activity the last checkpoint covered: an idle interval writes nothing.
            let mut covered: Option<u64> = None;
            loop {
                tokio::select! {
                    _ = t.tick() => {
                        let s = st2.clone();
                        match tokio::task::spawn_blocking(move || s.checkpoint_if_changed(covered)).await {
                            Ok(Ok((_, activity))) => covered = Some(activity),
                            Ok(Err(e)) => tracing::error!(error = %e, "checkpoint failed"),
                            Err(e) => tracing::error!(error = %e, "checkpoint task failed"),
                        }
                    }
                    () = stopped(&mut rx) => break,
                }
            }
        });
    }
    let router = app(st.clone()).merge(extra(st.clone()));
    let tls = match &cfg.tls {
        Some(t) => Some(riskstream_http::tls_acceptor(&t.cert, &t.key).map_err(StartError::Io)?),
        None => None,
    };
    let l = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| {
            StartError::Io(format!(
                "cannot listen on {} (server.listen): {e}",
                cfg.listen
            ))
        })?;
    let addr = l.local_addr().map_err(|e| StartError::Io(e.to_string()))?;
    let limits = riskstream_http::Limits {
        max_connections: cfg.max_connections,
        header_timeout: cfg.header_timeout,
        drain: Duration::from_secs(30),
    };
    let st2 = st.clone();
    let st_drain = st.clone();
    let task = tokio::spawn(async move {
        riskstream_http::serve(l, tls, router, limits, async move {
            stopped(&mut stop_rx).await;
            st_drain.draining.store(true, Ordering::Relaxed);
        })
        .await;
        finish(&st2).await
    });
    tracing::info!(%addr, metrics = ?metrics_addr, tls = cfg.tls.is_some(), "serving");
    Ok(Running {
        addr,
        metrics_addr,
        state: st,
        stop,
        task,
    })
}

/// After the last request: flush the audit log and write the checkpoint.
async fn finish(st: &Arc<AppState>) -> Result<(), StartError> {
    st.draining.store(true, Ordering::Relaxed);
    st.cases.flush().await;
    if let Some(w) = &st.audit {
        w.flush()
            .await
            .map_err(|e| StartError::Io(format!("audit flush at shutdown: {e}")))?;
    }
    let s = st.clone();
    let p = tokio::task::spawn_blocking(move || s.checkpoint_with(true))
        .await
        .map_err(|e| StartError::Io(e.to_string()))?
        .map_err(StartError::Io)?;
    tracing::info!(checkpoint = %p.display(), "stopped cleanly");
    Ok(())
}

/// Resolves once the stop flag is set (the watch guard is dropped before returning, so the
/// future stays `Send`).
async fn stopped(rx: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await.map(|_| ());
}
