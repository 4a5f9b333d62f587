//! Daily cash withdrawals per ATM and branch: a forecasting dataset.
//!
//! Sites are the bank's ATMs in the home cities (site id = terminal id) and its branches
//! (one per [`CUSTOMERS_PER_BRANCH`] customers, at least one per home city; ids from
//! [`BRANCH_ID_BASE`]). The expected count of a site-day is
//!
//! ```text
//! base × weekly[weekday] × payday × holiday × max(0.2, 1 + trend × years since start)
//! ```
//!
//! and the count is Poisson of that times Gamma(20, 1/20) noise (negative binomial).
//! Branches are closed on Sundays and holidays (count 0).

use crate::calendar;
use crate::params::*;
use crate::rng::{self, tag};
use crate::tables::{floats, ints, stamps, Dict};
use crate::world::{World, ATM};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, SchemaRef};
use riskstream_core::time::MICROS_PER_DAY;

/// One ATM or branch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Site {
    pub id: i64,
    pub branch: bool,
    pub city: u8,
    pub base: f64,
    pub ticket_local: f64,
    /// Relative change per year (0: no trend).
    pub trend: f64,
}

/// The sites, ATMs first (by terminal id), then branches.
pub(crate) fn sites(w: &World) -> Vec<Site> {
    let mut out = Vec::new();
    for (t, term) in w.terminals.iter().enumerate() {
        if term.kind == ATM && (term.city as usize) < HOME_CITIES {
            out.push((t as i64, false, term.city));
        }
    }
    let n_branches = (w.customers.len() as u32 / CUSTOMERS_PER_BRANCH).max(HOME_CITIES as u32);
    let weights: Vec<f64> = CITIES[..HOME_CITIES]
        .iter()
        .map(|c| c.home_weight)
        .collect();
    let cum = rng::cumulative(&weights);
    for b in 0..n_branches {
        let city = if (b as usize) < HOME_CITIES {
            b as u8
        } else {
            let mut r = rng::stream(w.seed, tag::SITES, 1 << 40 | u64::from(b), 0);
            rng::pick_cum(&mut r, &cum) as u8
        };
        out.push((BRANCH_ID_BASE + i64::from(b), true, city));
    }
    out.into_iter()
        .enumerate()
        .map(|(i, (id, branch, city))| {
            let mut r = rng::stream(w.seed, tag::SITES, i as u64, 0);
            let (median, sd) = if branch {
                (SITE_MEDIAN_WITHDRAWALS.1, 0.4)
            } else {
                (SITE_MEDIAN_WITHDRAWALS.0, 0.5)
            };
            let base = median * (sd * rng::normal(&mut r)).exp();
            let (lo, hi) = if branch {
                SITE_TICKET_EUR.1
            } else {
                SITE_TICKET_EUR.0
            };
            let fx = COUNTRIES[CITIES[city as usize].country].fx_per_eur;
            let ticket_local = rng::uniform(&mut r, lo, hi) * fx;
            let trend = match i {
                // Two sites always trend, one up and one down, so every dataset has some.
                0 => 0.6,
                1 => -0.4,
                _ if rng::chance(&mut r, TREND_SITE_SHARE) => {
                    rng::uniform(&mut r, TREND_PER_YEAR.0, TREND_PER_YEAR.1)
                }
                _ => 0.0,
            };
            Site {
                id,
                branch,
                city,
                base,
                ticket_local,
                trend,
            }
        })
        .collect()
}

/// The calendar factor of a site type on a day (before trend and noise).
pub(crate) fn calendar_factor(branch: bool, day: i64) -> f64 {
    let wd = calendar::weekday(day);
    let weekly = if branch {
        BRANCH_WEEKLY[wd]
    } else {
        ATM_WEEKLY[wd]
    };
    let (dom, last) = calendar::day_of_month(day);
    let payday = if last || dom == 1 {
        PAYDAY_PEAK
    } else if dom == 2 || dom == 15 {
        PAYDAY_SHOULDER
    } else {
        1.0
    };
    let holiday = if calendar::is_holiday(day) {
        if branch {
            0.0
        } else {
            ATM_HOLIDAY
        }
    } else if calendar::is_holiday(day + 1) {
        PRE_HOLIDAY
    } else {
        1.0
    };
    weekly * payday * holiday
}

/// (site index, withdrawals, amount) for every site on day `d`.
pub(crate) fn day(w: &World, sites: &[Site], d: u32) -> Vec<(usize, i64, f64)> {
    let day = w.start_day + i64::from(d);
    let mut r = rng::stream(w.seed, tag::VOLUMES, u64::from(d), 0);
    let years = f64::from(d) / 365.25;
    let f_atm = calendar_factor(false, day);
    let f_branch = calendar_factor(true, day);
    sites
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let f = if s.branch { f_branch } else { f_atm };
            let trend = (1.0 + s.trend * years).max(0.2);
            let noise = rng::gamma(&mut r, VOLUME_NOISE_SHAPE, 1.0 / VOLUME_NOISE_SHAPE);
            let n = if f > 0.0 {
                i64::from(rng::poisson(&mut r, s.base * f * trend * noise))
            } else {
                0
            };
            let ticket = s.ticket_local * (0.08 * rng::normal(&mut r)).exp();
            let amount = (n as f64 * ticket / 10.0).round() * 10.0;
            (i, n, amount)
        })
        .collect()
}

/// Volume rows of day `d` as a batch.
pub(crate) fn batch(
    w: &World,
    city: &Dict,
    schema: &SchemaRef,
    sites: &[Site],
    d: u32,
    rows: &[(usize, i64, f64)],
) -> Result<RecordBatch, ArrowError> {
    let date = (w.start_day + i64::from(d)) * MICROS_PER_DAY;
    let site_type = Dict::new(["atm", "branch"]);
    let cols: Vec<ArrayRef> = vec![
        stamps(vec![date; rows.len()]),
        ints(rows.iter().map(|r| sites[r.0].id).collect()),
        site_type.column(rows.iter().map(|r| i32::from(sites[r.0].branch)).collect())?,
        city.column(rows.iter().map(|r| i32::from(sites[r.0].city)).collect())?,
        ints(rows.iter().map(|r| r.1).collect()),
        floats(rows.iter().map(|r| r.2).collect()),
    ];
    RecordBatch::try_new(schema.clone(), cols)
}
