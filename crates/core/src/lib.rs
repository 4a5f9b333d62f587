//! Layer 0 of riskstream: the vocabulary every other crate speaks.
//!
//! ```text
//!   schema TOML ──▶ SchemaSpec (validated, every error at once) ──▶ Schema
//!                                                         │
//!          io (readers, validation) ◀──────────────────────┘──▶ features, models, …
//! ```
//!
//! Nothing here does I/O or spawns threads, so it can be used from a hot loop, a fuzz target
//! or a test without setup. Three things live here:
//!
//! * [`schema`]: the event schema — typed fields plus the roles a field can play (id, event
//!   time, entity key, label). It is the contract between a data source and the rest of the
//!   engine, so it is validated up front with a [`Diagnostics`] report that lists *every*
//!   problem with its key path and a hint, not just the first.
//! * [`time`]: timestamp parsing into microseconds since the Unix epoch (UTC) with a fast
//!   path for ISO-8601 forms, and human durations such as `7d` or `1h30m`.
//! * [`error`]: the error taxonomy. Every crate has its own error enum, and each of them says
//!   whose fault an error is ([`ErrorClass`]): the user's (fix the input or config), an
//!   external system's (retry), or ours (a bug to report). The binary maps that to exit codes.
//! * [`pii`]: what a schema field's `pii` treatment (tokenize, mask, drop) does to a value,
//!   the keys it uses, and a card-number scanner. It lives at the bottom because every
//!   ingest path (files in `io`, JSON in the decision service) must apply the same one.
//! * [`crypt`]: encryption at rest (AES-256-GCM, a random data key per file wrapped by a
//!   master key with an id); every writer of checkpoints, dead letters, outputs and model
//!   files goes through it, so one module decides what is encrypted and how.

pub mod crypt;
pub mod diag;
pub mod error;
pub mod frame;
pub mod fs;
pub mod metrics;
pub mod pii;
pub mod schema;
pub mod time;

pub use diag::{Diagnostic, Diagnostics, Findings};
pub use error::{Classify, ErrorClass};
pub use schema::{Field, FieldType, Schema, AGGREGATE_LIMIT};
