//! The console's integration tests, one module per page or flow, built as one test binary.
//!
//! Why one binary: each integration test file is a crate of its own, and each of the seven
//! instantiated the same generic code (axum, reqwest, fantoccini, tokio) and was linked
//! against the whole service and console; together they took about 159 CPU-seconds of
//! CI's build. One crate compiles that code once, and its tests run in parallel with each
//! other (two browser sessions at a time on two cores; each has its own chromedriver on a
//! free port and its own Chromium profile).
//!
//! Run one area with `cargo test -p riskstream-console --test console browser::`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod browser;
mod complaints_browser;
mod credit_page;
mod forecast_browser;
mod monitoring;
mod pages;
mod quality_page;
mod recommend_browser;
