//! Product recommendations: which product, offer or film to show whom, and why.
//!
//! ```text
//!  (user, item[, rating | strength]) rows ─▶ data::InteractionsBuilder (ids → indices,
//!        range / duplicate / empty checks) ─▶ Interactions (by user and by item)
//!     ─▶ Params::fit ─┬─ explicit ALS (biases, ALS-WR, Cholesky per row)
//!                     ├─ implicit ALS (confidence 1 + α·r, conjugate gradient)
//!                     ├─ item–item similarity (cosine / BM25)
//!                     └─ popularity (overall and per segment; the cold-start fallback)
//!     ─▶ Recommender (id maps + scorer + histories) ─▶ file::ModelFile (JSON, hashed)
//!  Recommender::top(known user | history to fold in | cold) ─▶ top k without held
//!        items and items eligibility::Eligibility (CEL over attributes) bars, each
//!        with the held items that contributed most (reasons)
//!  protocol: fixed folds / stratified split ─▶ metrics (RMSE, MAE, P/R/nDCG/MAP@k, coverage)
//! ```
//!
//! Why a crate of its own (layer 2, beside `learn`): recommenders fit a user × item
//! matrix, not a table of rows with a label, and answer with ranked lists, so neither
//! `learn`'s `Dataset` nor its `Model` trait fits. The shapes are the same as everywhere
//! else: checked hyper-parameters, `fit` into a different, serialisable type, typed errors
//! that say whose fault they are. Training is multi-threaded with rayon (already in the
//! workspace through `learn`); every row solve is independent and sums in a fixed order,
//! so results do not depend on the thread count.
//!
//! Folding in is first-class: a user's factors are always the exact solve of their row
//! (the last training pass is an exact user pass), so a new customer's factors from their
//! holdings are exactly what a full ALS step would give them, without refitting.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod abtest;
mod common;
pub mod data;
pub mod eligibility;
pub mod error;
pub mod explicit;
pub mod file;
pub mod ids;
pub mod implicit;
pub mod knn;
pub mod linalg;
pub mod metrics;
pub mod model;
pub mod popularity;
pub mod protocol;
mod simd;

pub use common::{no_progress, Progress};
pub use data::{BuildOptions, Csr, Duplicates, Interactions, InteractionsBuilder};
pub use eligibility::{Attr, AttrType, Attributes, Eligibility, Verdict};
pub use error::{RecommendError, Result};
pub use explicit::{ExplicitAlsParams, ExplicitModel};
pub use file::{Card, ModelFile};
pub use ids::IdMap;
pub use implicit::{ImplicitAlsParams, ImplicitModel, Solver};
pub use knn::{ItemKnnModel, ItemKnnParams, Similarity};
pub use model::{
    Params, PredictNote, Recommended, Recommender, Scorer, Source, TopList, TopOptions, Who,
};
pub use popularity::Popularity;
