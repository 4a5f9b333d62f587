//! Product holdings: which of the bank's products each customer holds, and since when.
//!
//! Every customer holds a current account, opened when they joined. Each other product is
//! held with probability `sigmoid(logit)`, a logistic affinity of segment, age and income
//! (coefficients in [`AFFINITY`]), and was opened at a uniform time between the
//! customer's joining day and the end of the simulated period.

use crate::params::PRODUCTS;
use crate::rng::{self, tag};
use crate::tables::{ints, stamps, Dict};
use crate::world::World;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, SchemaRef};
use riskstream_core::time::{MICROS_PER_DAY, MICROS_PER_SEC};

/// Logistic affinity of a product:
/// `intercept + segment[s] + age·(age − 40) + prime_age·[30 ≤ age ≤ 55] + income·ln(income / 40 000)`.
/// Segments are in the order student, mass, affluent, senior, small_business.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Affinity {
    /// Product name.
    pub product: &'static str,
    /// Intercept.
    pub intercept: f64,
    /// Shift per segment.
    pub segment: [f64; 5],
    /// Per year of age above 40.
    pub age: f64,
    /// Shift for ages 30–55.
    pub prime_age: f64,
    /// Per unit of log income relative to 40 000 EUR.
    pub income: f64,
}

/// The affinities of the optional products.
pub const AFFINITY: [Affinity; 6] = [
    Affinity {
        product: "savings",
        intercept: -0.5,
        segment: [0.0, 0.0, 0.8, 0.4, 0.0],
        age: 0.0,
        prime_age: 0.0,
        income: 0.5,
    },
    Affinity {
        product: "credit_card",
        intercept: -0.3,
        segment: [-1.2, 0.0, 1.0, 0.0, 0.8],
        age: 0.0,
        prime_age: 0.0,
        income: 0.6,
    },
    Affinity {
        product: "mortgage",
        intercept: -2.0,
        segment: [-1.5, 0.0, 0.6, -0.8, 0.0],
        age: 0.0,
        prime_age: 1.2,
        income: 1.0,
    },
    Affinity {
        product: "personal_loan",
        intercept: -1.8,
        segment: [0.3, 0.4, 0.0, 0.0, 0.0],
        age: 0.0,
        prime_age: 0.0,
        income: -0.5,
    },
    Affinity {
        product: "insurance",
        intercept: -1.0,
        segment: [0.0, 0.0, 0.5, 0.0, 0.4],
        age: 0.02,
        prime_age: 0.0,
        income: 0.0,
    },
    Affinity {
        product: "investment",
        intercept: -2.5,
        segment: [0.0, 0.0, 1.8, 0.0, 0.3],
        age: 0.01,
        prime_age: 0.0,
        income: 0.8,
    },
];

/// (customer, product index, opened_at) rows of customers `range`.
pub(crate) fn rows(w: &World, range: std::ops::Range<usize>) -> Vec<(u32, u8, i64)> {
    let end = (w.start_day + i64::from(w.days)) * MICROS_PER_DAY;
    let mut out = Vec::new();
    for i in range {
        let c = &w.customers[i];
        let mut r = rng::stream(w.seed, tag::PRODUCTS, i as u64, 0);
        let joined = c.joined_day * MICROS_PER_DAY;
        out.push((i as u32, 0u8, joined));
        let age = f64::from(c.age);
        let li = (f64::from(c.income).max(1_000.0) / 40_000.0).ln();
        for (k, a) in AFFINITY.iter().enumerate() {
            let z = a.intercept
                + a.segment[c.segment as usize]
                + a.age * (age - 40.0)
                + if (30.0..=55.0).contains(&age) {
                    a.prime_age
                } else {
                    0.0
                }
                + a.income * li;
            let held = rng::chance(&mut r, rng::sigmoid(z));
            let u = rng::unif(&mut r);
            if held {
                let span_s = ((end - joined) / MICROS_PER_SEC).max(1) as f64;
                out.push((
                    i as u32,
                    k as u8 + 1,
                    joined + (u * span_s) as i64 * MICROS_PER_SEC,
                ));
            }
        }
    }
    out
}

/// Product rows as a batch.
pub(crate) fn batch(
    schema: &SchemaRef,
    rows: &[(u32, u8, i64)],
) -> Result<RecordBatch, ArrowError> {
    let product = Dict::new(PRODUCTS);
    let cols: Vec<ArrayRef> = vec![
        ints(rows.iter().map(|r| i64::from(r.0)).collect()),
        product.column(rows.iter().map(|r| i32::from(r.1)).collect())?,
        stamps(rows.iter().map(|r| r.2).collect()),
    ];
    RecordBatch::try_new(schema.clone(), cols)
}
