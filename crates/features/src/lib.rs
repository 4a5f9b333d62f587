//! Layer 2: the feature engine — one definition, one implementation, live and in replay.
//!
//! ```text
//!  spec TOML ──▶ FeatureSpec (validated, every error at once) ──▶ Plan (streams × windows)
//!                                                                     │
//!  live events ──┐                                                    ▼
//!                ├──▶ Engine (reorder by event time, keyed window state) ──▶ feature rows
//!  history ──────┘        │ snapshot/restore (versioned, checksummed)
//!   (replay: the same Engine, fed from files in event-time order ──▶ training set)
//! ```
//!
//! Training/serving skew is zero by construction: [`replay`] builds training sets by pushing
//! history through the very [`Engine`] that serves live traffic, so every training row is what
//! the live system would have computed at that moment (point-in-time correct), including
//! delayed-label features, because labels are events that update the state of the
//! transaction they refer to.

pub mod checkpoint;
pub mod engine;
mod extremes;
pub mod plan;
pub mod replay;
pub mod spec;
mod state;

pub use engine::{Engine, EngineError, EngineStats, LateEvent};
pub use spec::FeatureSpec;
