//! Streaming decision pipelines: `riskstream run pipeline.toml`.
//!
//! A source (Kafka or NATS JetStream partitions, an HTTP intake, or an NDJSON file) feeds one decider per
//! partition — the same feature engine, rules and models as the decision service — and
//! the decisions go to a sink, bad records to a dead-letter output with the reason.
//! Exactly-once: each partition's feature state, source offset and sink progress are
//! checkpointed together, and outputs are idempotent (see [`run()`]).

pub mod check;
pub mod config;
pub mod run;

pub use check::Topology;
pub use config::{PipelineConfig, RegistrySinkConfig, RepartitionConfig, SinkConfig, SourceConfig};
pub use run::{
    check_repartition, checkpoint_path, run, run_checked, PipelineError, RepartitionReport, Report,
};
