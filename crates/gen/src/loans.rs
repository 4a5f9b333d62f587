//! Loan applications with a learnable default outcome.
//!
//! Applications arrive every day (Poisson, [`LOAN_APPLICATIONS_PER_CUSTOMER_DAY`] per
//! customer on weekdays, 40 % of that on weekends) from uniformly chosen customers. The
//! features are drawn from the customer's profile plus noise; `defaulted` is a Bernoulli
//! draw from the logistic model [`DEFAULT_MODEL`] of those features, so a model that
//! recovers the coefficients is the best possible model.

use crate::calendar;
use crate::params::*;
use crate::rng::{self, tag};
use crate::tables::{floats, ints, stamps, Dict};
use crate::world::{round_to, World};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, SchemaRef};
use riskstream_core::time::{MICROS_PER_DAY, MICROS_PER_SEC};

/// One application.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Loan {
    pub customer: u32,
    pub time: i64,
    pub amount: f64,
    pub term: i64,
    pub purpose: u8,
    pub income: f64,
    pub dti: f64,
    pub history: i64,
    pub existing: i64,
    pub age: i64,
    pub employment: f64,
    pub defaulted: bool,
}

/// The default log-odds of an application (see [`DefaultModel`]).
pub(crate) fn default_logit(l: &Loan) -> f64 {
    let m = DEFAULT_MODEL;
    m.intercept
        + m.dti * (l.dti - 0.30)
        + m.income * (l.income.max(1_000.0) / 40_000.0).ln()
        + m.existing * l.existing as f64
        + m.history * (l.history as f64 - 60.0)
        + m.employment * (l.employment - 5.0)
        + m.amount * (l.amount / 10_000.0).ln()
        + m.age * (l.age as f64 - 40.0)
        + LOAN_PURPOSES[l.purpose as usize].3
}

/// Debt-to-income shift by segment (student, mass, affluent, senior, small business).
const DTI_SEGMENT: [f64; 5] = [0.05, 0.0, -0.05, -0.03, 0.03];

/// The applications of day `d`, in event-time order.
pub(crate) fn day(w: &World, d: u32) -> Vec<Loan> {
    let day = w.start_day + i64::from(d);
    let mut r = rng::stream(w.seed, tag::LOANS, u64::from(d), 0);
    let weekend = calendar::weekday(day) >= 5;
    let lambda = w.customers.len() as f64
        * LOAN_APPLICATIONS_PER_CUSTOMER_DAY
        * if weekend { 0.4 } else { 1.0 };
    let n = rng::poisson(&mut r, lambda);
    let purpose_cum = rng::cumulative(&LOAN_PURPOSES.iter().map(|p| p.1).collect::<Vec<_>>());
    let hour_cum = rng::cumulative(&HOURLY_WEEKDAY);
    let mut out = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let c = rng::below(&mut r, w.customers.len() as u32);
        let cu = &w.customers[c as usize];
        let hour = rng::pick_cum(&mut r, &hour_cum) as i64;
        let time = day * MICROS_PER_DAY
            + (hour * 3600 + i64::from(rng::below(&mut r, 3600))) * MICROS_PER_SEC;
        let purpose = rng::pick_cum(&mut r, &purpose_cum);
        let amount = (LOAN_PURPOSES[purpose].2 * (0.5 * rng::normal(&mut r)).exp() / 100.0)
            .round()
            .max(5.0)
            * 100.0;
        let term_ix = ((amount / 2_000.0).ln() * 1.5 + rng::normal(&mut r))
            .round()
            .clamp(0.0, 6.0) as usize;
        let income = (f64::from(cu.income) * (0.1 * rng::normal(&mut r)).exp()).round();
        let dti = round_to(
            (0.28 + DTI_SEGMENT[cu.segment as usize] + 0.12 * rng::normal(&mut r))
                .clamp(0.01, 0.95),
            3,
        );
        let age = i64::from(cu.age);
        let history = i64::from(rng::below(&mut r, ((age - 18) * 12 + 1) as u32));
        let existing = i64::from(rng::poisson(
            &mut r,
            if cu.segment == 3 { 0.5 } else { 0.8 },
        ));
        let employment = round_to(
            if cu.segment == 0 {
                rng::gamma(&mut r, 1.0, 1.0)
            } else {
                rng::gamma(&mut r, 2.0, 4.0)
            }
            .min((age - 18) as f64),
            1,
        );
        let mut loan = Loan {
            customer: c,
            time,
            amount,
            term: LOAN_TERMS[term_ix],
            purpose: purpose as u8,
            income,
            dti,
            history,
            existing,
            age,
            employment,
            defaulted: false,
        };
        loan.defaulted = rng::chance(&mut r, rng::sigmoid(default_logit(&loan)));
        out.push(loan);
    }
    out.sort_by_key(|l| (l.time, l.customer));
    out
}

/// Applications as a batch; ids are `first_id`, `first_id + 1`, ….
pub(crate) fn batch(
    purpose: &Dict,
    schema: &SchemaRef,
    rows: &[Loan],
    first_id: u64,
) -> Result<RecordBatch, ArrowError> {
    let cols: Vec<ArrayRef> = vec![
        crate::tables::id_column(first_id, rows.len()),
        ints(rows.iter().map(|l| i64::from(l.customer)).collect()),
        stamps(rows.iter().map(|l| l.time).collect()),
        floats(rows.iter().map(|l| l.amount).collect()),
        ints(rows.iter().map(|l| l.term).collect()),
        purpose.column(rows.iter().map(|l| i32::from(l.purpose)).collect())?,
        floats(rows.iter().map(|l| l.income).collect()),
        floats(rows.iter().map(|l| l.dti).collect()),
        ints(rows.iter().map(|l| l.history).collect()),
        ints(rows.iter().map(|l| l.existing).collect()),
        ints(rows.iter().map(|l| l.age).collect()),
        floats(rows.iter().map(|l| l.employment).collect()),
        ints(rows.iter().map(|l| i64::from(l.defaulted)).collect()),
    ];
    RecordBatch::try_new(schema.clone(), cols)
}
