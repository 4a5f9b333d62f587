//! The service's integration tests, one module per area, built as one test binary.
//!
//! Why one binary: each integration test file is a crate of its own, and every one of them
//! instantiated the same generic code (axum, hyper, reqwest, tokio, serde) and was linked
//! against the whole service. Fourteen such crates took about 257 CPU-seconds of CI's
//! build; one crate holding the same tests compiles that code once. The tests also run in
//! parallel with each other now instead of one file after another.
//!
//! `config_paths` stays a binary of its own: it changes the process's current directory,
//! which every other test here would see.
//!
//! Run one area with `cargo test -p riskstream-server --test api service::`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod alerts;
mod complaints;
mod credit;
mod credit_behaviour;
mod entity_history;
mod forecast;
mod forecast_restart;
mod forecast_webhook_tls;
mod handbook_replay;
mod hardening;
mod lineage;
mod openapi;
mod quality;
mod recommend;
mod service;
mod tenants;
mod tls;
