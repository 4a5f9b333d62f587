//! Online learners in river's shape: `learn_one` / `predict_proba_one`, one row at a time.
//!
//! ```text
//!   CSV / live events ─▶ dense row &[f64] ─▶ Pipeline ─────────────────────────────┐
//!                         (names checked)     StandardScaler │ OneHotEncoder       │
//!                                             └─▶ final model: Hoeffding tree,     │ snapshot
//!                                                 adaptive tree, SGD / FTRL        │ (versioned,
//!                                                 logistic regression, streaming   │  checksummed)
//!                                                 k-means, linear regression       ▼
//!   progressive validation: score first, learn when the label is due (label delay)
//!   drift detectors: ADWIN, Page-Hinkley
//! ```
//!
//! Why it is built this way:
//!
//! * **Dense rows, names kept once.** River passes a dict per row; a bank's feature
//!   vector has a fixed layout, so a row is a `&[f64]` and the feature names live in the
//!   [`Pipeline`] (or the [`Checked`] wrapper). The learners' hot paths touch contiguous
//!   memory and allocate nothing.
//! * **Infallible learners, one checked edge.** [`OnlineClassifier`] and friends cannot
//!   fail; width and NaN are checked where rows enter ([`Checked`], the pipeline's
//!   `*_checked` methods, the CSV loader), returning [`OnlineError`] rather than panicking.
//! * **Typed parameters, then `build`.** Each learner has a `…Params` struct (serde, river's
//!   defaults) whose `build` checks every value before a model exists.
//! * **Same decisions as the reference.** The Hoeffding tree, the SGD models, the scaler
//!   and the drift detectors reproduce river 0.26 operation by operation, and streaming
//!   k-means is Spark MLlib's update rule; golden tests pin our numbers to theirs
//!   (`tests/river_golden.rs`, `tests/drift.rs`, `tests/kmeans_spark.rs`).
//! * **One conformance suite.** `tests/conformance.rs` runs every learner through the same
//!   checks: snapshot/restore gives identical predictions and identical future learning,
//!   seeded runs are deterministic, bad rows are refused, one-class streams are fine.

pub mod catalog;
pub mod data;
pub mod drift;
mod erf;
pub mod error;
pub mod kmeans;
pub mod linear;
pub mod metrics;
pub mod pipeline;
pub mod preprocess;
pub mod progressive;
pub mod snapshot;
pub mod stats;
pub mod traits;
pub mod tree;

pub use catalog::{AnyPipeline, ModelSpec, MODEL_NAMES};
pub use drift::{Adwin, AdwinParams, DriftDetector, PageHinkley, PageHinkleyParams, PhMode};
pub use error::{OnlineError, Result};
pub use kmeans::{KMeansInit, StreamingKMeans, StreamingKMeansParams, TimeUnit};
pub use linear::{
    FtrlParams, FtrlProximal, LinearRegression, LinearRegressionParams, LogisticRegression,
    LogisticRegressionParams, SgdParams,
};
pub use pipeline::{ClassifierModel, Pipeline, RegressorModel, TransformerStep, Width};
pub use preprocess::{OneHotColumn, OneHotEncoder, StandardScaler};
pub use progressive::{evaluate, ProgressiveConfig, ProgressiveReport, Span, Stream};
pub use snapshot::Snapshot;
pub use traits::{Checked, OnlineClassifier, OnlineClusterer, OnlineRegressor, Transformer};
pub use tree::adaptive::{HoeffdingAdaptiveTreeClassifier, HoeffdingAdaptiveTreeParams};
pub use tree::hoeffding::HoeffdingTreeClassifier;
pub use tree::{HoeffdingTreeParams, LeafPrediction, SplitCriterion};
