//! Decoding: an input batch's columns into what the engine needs of each event.
//!
//! A batch is read a column at a time (a typed loop per column, not a dispatch on the
//! column type per value) into [`Decoded`]: ids and tie-breaks, each stream's entity keys,
//! a filter bit per stream, and the values each stream's slots read. The per-event code
//! downstream (reorder, stage) then reads plain arrays. The aggregate-value limit is
//! checked here too, once per column, before any state changes.

use super::output::Scalar;
use super::Engine;
use crate::plan::SlotSrc;
use crate::spec::{FilterValue, Op};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;
use riskstream_core::AGGREGATE_LIMIT;
use xxhash_rust::xxh3::{xxh3_128, xxh3_64};

/// A batch's event fields, decoded one column at a time (a typed loop per column) so the
/// per-event work reads plain arrays instead of dispatching on the column type per value.
#[derive(Debug, Default)]
pub(super) struct Decoded {
    pub(super) ids: Vec<u128>,
    /// Tie-break within a timestamp (see [`Ev::order`]).
    pub(super) orders: Vec<i64>,
    /// Per stream, then per pattern entity field: entity key of each row.
    pub(super) keys: Vec<Vec<Option<u128>>>,
    /// Bit per stream: the row passes the stream's filter; from the top, a bit per
    /// pattern condition (`Plan::condition_bit`).
    pub(super) enter: Vec<u64>,
    /// Per slot (streams concatenated): value of each row.
    pub(super) vals: Vec<Vec<f64>>,
}

/// Reads one column of an input batch as the engine needs it.
pub(super) enum Col<'a> {
    I(&'a arrow_array::Int64Array),
    F(&'a arrow_array::Float64Array),
    B(&'a arrow_array::BooleanArray),
    T(&'a arrow_array::TimestampMicrosecondArray),
    S(&'a arrow_array::StringArray),
    D(
        &'a arrow_array::DictionaryArray<Int32Type>,
        &'a arrow_array::StringArray,
    ),
}

impl<'a> Col<'a> {
    pub(super) fn new(a: &'a ArrayRef) -> Result<Col<'a>, String> {
        Ok(match a.data_type() {
            DataType::Int64 => Col::I(a.as_primitive::<Int64Type>()),
            DataType::Float64 => Col::F(a.as_primitive::<Float64Type>()),
            DataType::Boolean => Col::B(a.as_boolean()),
            DataType::Timestamp(_, _) => Col::T(a.as_primitive::<TimestampMicrosecondType>()),
            DataType::Utf8 => Col::S(a.as_string::<i32>()),
            DataType::Dictionary(_, _) => {
                let d = a.as_dictionary::<Int32Type>();
                Col::D(d, d.values().as_string::<i32>())
            }
            other => return Err(format!("unsupported column type {other}")),
        })
    }

    #[inline]
    pub(super) fn is_null(&self, r: usize) -> bool {
        match self {
            Col::I(a) => a.is_null(r),
            Col::F(a) => a.is_null(r),
            Col::B(a) => a.is_null(r),
            Col::T(a) => a.is_null(r),
            Col::S(a) => a.is_null(r),
            Col::D(a, _) => a.is_null(r),
        }
    }

    pub(super) fn num(&self, r: usize) -> f64 {
        if self.is_null(r) {
            return 0.0;
        }
        match self {
            Col::I(a) => a.value(r) as f64,
            Col::F(a) => a.value(r),
            Col::B(a) => f64::from(u8::from(a.value(r))),
            Col::T(a) => a.value(r) as f64,
            Col::S(_) | Col::D(..) => 0.0,
        }
    }

    pub(super) fn text(&self, r: usize) -> Option<&'a str> {
        match self {
            Col::S(a) => (!a.is_null(r)).then(|| a.value(r)),
            Col::D(d, v) => (!d.is_null(r)).then(|| v.value(d.keys().value(r) as usize)),
            _ => None,
        }
    }

    pub(super) fn key(&self, r: usize) -> Option<u128> {
        if self.is_null(r) {
            return None;
        }
        Some(match self {
            Col::I(a) => a.value(r) as u64 as u128,
            Col::T(a) => a.value(r) as u64 as u128,
            _ => xxh3_128(self.text(r).unwrap_or_default().as_bytes()),
        })
    }

    pub(super) fn hash(&self, r: usize) -> u64 {
        match self {
            Col::I(a) => xxh3_64(&a.value(r).to_le_bytes()),
            Col::T(a) => xxh3_64(&a.value(r).to_le_bytes()),
            Col::F(a) => xxh3_64(&a.value(r).to_bits().to_le_bytes()),
            Col::B(a) => u64::from(a.value(r)),
            Col::S(_) | Col::D(..) => xxh3_64(self.text(r).unwrap_or_default().as_bytes()),
        }
    }

    /// Entity keys of rows `0..n`, appended to `out`: one typed loop for the common
    /// null-free integer column, [`Col::key`] per row otherwise.
    pub(super) fn keys_into(&self, n: usize, out: &mut Vec<Option<u128>>) {
        match self {
            Col::I(a) if a.null_count() == 0 => {
                out.extend(a.values()[..n].iter().map(|&v| Some(v as u64 as u128)));
            }
            Col::T(a) if a.null_count() == 0 => {
                out.extend(a.values()[..n].iter().map(|&v| Some(v as u64 as u128)));
            }
            _ => out.extend((0..n).map(|r| self.key(r))),
        }
    }

    /// Numeric values of rows `0..n` (as [`Col::num`]), appended to `out`.
    pub(super) fn nums_into(&self, n: usize, out: &mut Vec<f64>) {
        match self {
            Col::F(a) if a.null_count() == 0 => out.extend_from_slice(&a.values()[..n]),
            Col::I(a) if a.null_count() == 0 => {
                out.extend(a.values()[..n].iter().map(|&v| v as f64));
            }
            _ => out.extend((0..n).map(|r| self.num(r))),
        }
    }

    pub(super) fn scalar(&self, r: usize) -> Scalar {
        if self.is_null(r) {
            return Scalar::Null;
        }
        match self {
            Col::I(a) => Scalar::I(a.value(r)),
            Col::T(a) => Scalar::I(a.value(r)),
            Col::F(a) => Scalar::F(a.value(r)),
            Col::B(a) => Scalar::B(a.value(r)),
            Col::S(_) | Col::D(..) => Scalar::S(self.text(r).unwrap_or_default().to_string()),
        }
    }
}

/// Whether an aggregation may hold `x`: finite and at most [`AGGREGATE_LIMIT`] in
/// magnitude (NaN is not: it fails the comparison).
#[inline]
pub(super) fn within_limit(x: f64) -> bool {
    x.abs() <= AGGREGATE_LIMIT
}

impl Engine {
    /// Decodes what the engine needs of rows `0..n` into `dec`, a column at a time.
    pub(super) fn decode(
        &self,
        cols: &[Col<'_>],
        id_col: Option<&Col<'_>>,
        n: usize,
        dec: &mut Decoded,
    ) {
        dec.ids.clear();
        dec.orders.clear();
        let seq0 = self.state.next_seq;
        match id_col {
            Some(Col::I(a)) if a.null_count() == 0 => {
                let v = &a.values()[..n];
                dec.ids.extend(v.iter().map(|&x| x as u64 as u128));
                dec.orders.extend_from_slice(v);
            }
            Some(c @ Col::I(a)) => {
                dec.ids.extend((0..n).map(|r| c.key(r).unwrap_or_default()));
                dec.orders.extend((0..n).map(|r| a.value(r)));
            }
            Some(c) => {
                dec.ids.extend((0..n).map(|r| c.key(r).unwrap_or_default()));
                dec.orders.extend((0..n as u64).map(|r| (seq0 + r) as i64));
            }
            None => {
                dec.ids.extend((0..n as u64).map(|r| u128::from(seq0 + r)));
                dec.orders.extend((0..n as u64).map(|r| (seq0 + r) as i64));
            }
        }
        let streams = &self.plan.streams;
        dec.keys.resize_with(streams.len(), Vec::new);
        dec.enter.clear();
        dec.enter.resize(n, 0);
        let nslots: usize = streams.iter().map(|s| s.slots.len()).sum();
        dec.vals.resize_with(nslots, Vec::new);
        let mut k = 0;
        for (si, s) in streams.iter().enumerate() {
            let keys = &mut dec.keys[si];
            keys.clear();
            if self.remote[si] {
                keys.resize(n, None);
            } else {
                cols[s.entity].keys_into(n, keys);
            }
            let bit = 1u64 << si;
            match &s.filter {
                None => dec.enter.iter_mut().for_each(|e| *e |= bit),
                Some(f) => {
                    let c = &cols[f.field];
                    for (r, e) in dec.enter.iter_mut().enumerate() {
                        if passes(f, c, r) {
                            *e |= bit;
                        }
                    }
                }
            }
            for sl in &s.slots {
                let v = &mut dec.vals[k];
                k += 1;
                v.clear();
                match *sl {
                    SlotSrc::Num(i) => cols[i].nums_into(n, v),
                    SlotSrc::Label(i) if !self.plan.label_events => cols[i].nums_into(n, v),
                    SlotSrc::Label(_) => v.resize(n, 0.0),
                    SlotSrc::Hash(i) => {
                        v.extend((0..n).map(|r| f64::from_bits(cols[i].hash(r))));
                    }
                }
            }
        }
        // Patterns: their entities' keys after the streams', their conditions' bits.
        let ns = streams.len();
        dec.keys
            .resize_with(ns + self.plan.pattern_entities.len(), Vec::new);
        for (k, &field) in self.plan.pattern_entities.iter().enumerate() {
            let keys = &mut dec.keys[ns + k];
            keys.clear();
            if self.pattern_remote[k] {
                keys.resize(n, None);
            } else {
                cols[field].keys_into(n, keys);
            }
        }
        for (ci, f) in self.plan.conditions.iter().enumerate() {
            let bit = crate::plan::Plan::condition_bit(ci);
            let c = &cols[f.field];
            // A typed loop for the common null-free float column against a number (a
            // branch-free compare per value); `passes` per row otherwise. Same results.
            match (c, &f.value) {
                (Col::F(a), FilterValue::Num(x)) if a.null_count() == 0 => {
                    let (x, op) = (*x, f.op);
                    for (e, &v) in dec.enter.iter_mut().zip(&a.values()[..n]) {
                        *e |= bit * u64::from(compare(op, v, x));
                    }
                }
                _ => {
                    for (r, e) in dec.enter.iter_mut().enumerate() {
                        if passes(f, c, r) {
                            *e |= bit;
                        }
                    }
                }
            }
        }
    }

    /// The first (row, field, value) of a decoded batch whose value an aggregation reads and
    /// that is not finite or beyond ±[`AGGREGATE_LIMIT`]. A branch-free pass per column
    /// (NaN fails `<=` too); the row is looked for only when the column has one.
    pub(super) fn out_of_range(&self, dec: &Decoded) -> Option<(usize, usize, f64)> {
        self.value_slots.iter().find_map(|&(k, field)| {
            let v = &dec.vals[k];
            if v.iter().fold(true, |all, &x| all & within_limit(x)) {
                return None;
            }
            let row = v.iter().position(|&x| !within_limit(x))?;
            Some((row, field, v[row]))
        })
    }
}

pub(super) fn passes(f: &crate::spec::Filter, c: &Col<'_>, r: usize) -> bool {
    if c.is_null(r) {
        return false;
    }
    match &f.value {
        FilterValue::Num(x) => compare(f.op, c.num(r), *x),
        FilterValue::Text(s) => {
            let v = c.text(r).unwrap_or_default();
            match f.op {
                Op::Ne => v != s,
                _ => v == s,
            }
        }
    }
}

#[inline]
fn compare(op: Op, v: f64, x: f64) -> bool {
    match op {
        Op::Eq => v == x,
        Op::Ne => v != x,
        Op::Lt => v < x,
        Op::Le => v <= x,
        Op::Gt => v > x,
        Op::Ge => v >= x,
    }
}
