//! Forecasting daily volumes (ATM and branch cash, transactions per channel, call-centre
//! load): the classical statistical methods a treasury team trusts, fitted per series in
//! parallel, with prediction intervals and honest backtests.
//!
//! ```text
//!  rows (id, date, value) ─▶ series::prepare (gaps, blanks, duplicates, negatives)
//!     ─▶ series::fill (same weekday, neighbouring weeks) ─▶ ForecastParams::fit
//!          snaive │ ets (AICc over the ETS family, MLE by Nelder–Mead) │ theta (4 variants)
//!          mstl (weekly + yearly STL, ETS on the adjusted series) │ prophet-style (trend
//!          changepoints, Fourier terms, bank holidays with Easter; ridge MAP)
//!          ensemble (mean/median)
//!          auto (per series, best SMAPE on a validation window)
//!     ─▶ Model::forecast_raw(h) ─▶ Forecast { mean, lo80, hi80, lo95, hi95 }
//!  batch: forecast_all / backtest_all in parallel ─▶ metrics (SMAPE, SMAPE_ε, MASE, MAE,
//!         coverage) ─▶ plot::svg per series
//! ```
//!
//! Why a crate of its own, and why hand-written: forecasting has its own vocabulary
//! (period, horizon, origin, interval) and its own checks (a series too short for two
//! seasons, duplicated dates). The models are small numerical kernels (one pass over a
//! series per likelihood evaluation), so they are written here against the published
//! algorithms, with statsforecast's choices where they matter for comparison
//! (initial states, parameter bounds, optimiser settings), rather than wrapping a
//! Python or R runtime. The crate depends on `riskstream-core` only (errors, dates);
//! reading files is the caller's job.
//!
//! Shapes follow the rest of riskstream: parameters are checked before any data is
//! touched (`check()`), `fit` returns a different type that forecasts, and every error is
//! a [`ForecastError`] that says whose fault it is and names the series.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod batch;
pub mod calendar;
pub mod decompose;
pub mod error;
pub mod ets;
pub mod metrics;
pub mod model;
pub mod naive;
pub mod optim;
pub mod plot;
pub mod prophet;
pub mod publish;
pub mod series;
mod stats;
pub mod stl;
pub mod theta;
pub mod warn;

pub use batch::{
    backtest_all, forecast_all, summarize, FillOptions, Score, SeriesForecast, Summary,
};
pub use error::{ForecastError, Result};
pub use ets::{Bounds, Ets, EtsParams, Form};
pub use model::{Combine, Forecast, ForecastParams, Method, Model, MstlParams};
pub use prophet::{Prophet, ProphetParams};
pub use publish::ForecastSet;
pub use series::{prepare, Observation, PrepareOptions, Series};
pub use theta::{Theta, ThetaParams, Variant};
