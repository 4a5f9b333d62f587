//! Batch learners for risk models, with the metrics, explanations and model files a bank
//! needs around them.
//!
//! The shape follows linfa: hyper-parameter structs with defaults are checked, then
//! `fit` turns a [`Dataset`] into a model; models implement [`Predict`] and [`Explain`].
//! Every tree model shares one [`tree::Tree`] so TreeSHAP, model files and imported
//! XGBoost / LightGBM models work the same way for all of them. [`calibrate`] maps any
//! model's out-of-fold scores to calibrated probabilities (isotonic or Platt).
//! Synchronous code only: the service calls `predict` on its own threads, training uses
//! rayon.

pub mod calibrate;
pub mod cart;
mod compiled;
pub mod data;
pub mod error;
pub mod forest;
pub mod gbdt;
pub mod iforest;
pub mod interop;
pub mod linear;
mod mathfn;
pub mod metrics;
pub mod model;
pub mod protocol;
pub mod shap;
mod shap_tables;
pub mod traits;
pub mod tree;

pub use data::{ClassWeight, Dataset, Matrix};
pub use error::{LearnError, Result};
pub use traits::{Explain, Explanation, Fit, ParamGuard, Predict, Reason};
