//! `riskstream`'s end-to-end tests: the command line, the service and the pipelines, driven
//! through the built binary (and brokers, PostgreSQL and Chromium where a test needs them),
//! one module per area, built as one test binary.
//!
//! Why one binary: each integration test file is a crate of its own, and `cargo test` runs
//! the binaries one after another. Most of these tests spend their time waiting on a child
//! `riskstream` process that uses one core, so twenty-eight binaries run one at a time left
//! the second core idle for minutes (the Kafka, NATS and Parquet pipelines alone, about
//! eight); in one binary the harness runs two tests at a time and the long pipelines overlap
//! with the short command-line tests. It also builds one crate instead of twenty-eight.
//!
//! Run one area with `cargo test -p riskstream --test end_to_end pipeline_kafka::`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

mod cli;
mod credit_api;
mod credit_cli;
mod dependencies;
mod encryption;
mod encryption_models;
mod forecast_cli;
mod forecast_publish;
mod forecast_volumes;
mod forecast_watch;
mod kill_restore;
mod layering;
mod lineage_cli;
mod models;
mod monitor_cli;
mod online_eval;
mod pii;
mod pii_pipeline;
mod pipeline_hostile;
mod pipeline_http;
mod pipeline_kafka;
mod pipeline_nats;
mod pipeline_parquet;
mod pipeline_quality;
mod pipeline_registry;
mod quality_cli;
mod recommend_cli;
mod serve_kill;
mod serve_kill_cases;
mod serve_sealed;
mod text_cli;
mod validate_topology;
