//! The command line's side of [`riskstream_io::table`] (a whole data file as columns, used
//! by `train`, `score`, `evaluate`, `backtest`, `demo` and `produce`): loading with the
//! reader's notes printed on standard error, and the day arithmetic of the date flags.

use super::UsageError;
pub use riskstream_io::table::{Column, LoadOptions, Table};
use std::path::Path;

/// Reads `path` completely; a sniffed delimiter, rejected rows and an input that stopped
/// early are said on standard error.
pub fn load(path: &Path, o: &LoadOptions) -> anyhow::Result<Table> {
    Ok(riskstream_io::table::load(path, o, &mut super::print_note)?)
}

/// A day `YYYY-MM-DD` as days since the Unix epoch.
pub fn parse_day(s: &str, flag: &str) -> anyhow::Result<i64> {
    let micros = riskstream_core::time::parse_iso8601(s).map_err(|e| {
        UsageError(format!(
            "{flag}: `{s}` is not a date ({e}); write it as YYYY-MM-DD"
        ))
    })?;
    Ok(micros.div_euclid(86_400_000_000))
}

/// The day index (days since the Unix epoch) of a µs timestamp.
pub fn day_of(micros: i64) -> i64 {
    micros.div_euclid(86_400_000_000)
}
