//! Output: feature rows while they fill, and the Arrow columns they become.
//!
//! Rows are released in event order but filled in entity order, so they are kept
//! row-major ([`OutBuf`]) while they fill and transposed to columns when taken. Each
//! stream's features are compiled once into [`OutOp`]s that read an accumulator or two,
//! inlined into the apply loop. Passthrough values are never copied per event: a row keeps
//! (input batch, row) ([`Src`]) and the output's passthrough columns are slices of the
//! retained input batches. Derived features (ratios, expressions) and calendar features
//! are computed here too.

use super::decode::Col;
use super::reorder::EvKind;
use super::{Engine, EngineError};
use crate::plan::{FeatureOp, Plan};
use crate::spec::{CalendarKind, FeatureSpec};
use crate::state::{Entity, Layout};
use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;
use riskstream_core::time::{MICROS_PER_DAY, MICROS_PER_SEC};
use riskstream_core::FieldType;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A passthrough value carried with a pending event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Scalar {
    Null,
    I(i64),
    F(f64),
    B(bool),
    S(String),
}

/// Where a transaction's passthrough values are: a row of a retained input batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Src {
    /// Ordinal of the batch (see `Engine::inputs`); 0: none.
    pub(super) batch: u64,
    pub(super) row: u32,
}

/// One feature a stream writes into a row: the plan's op, with the window's place in the
/// entity's accumulators worked out once, so the common aggregations are a load or two.
#[derive(Debug, Clone, Copy)]
pub(super) struct OutOp {
    pub(super) fi: usize,
    pub(super) kind: OutKind,
    pub(super) empty: f64,
}

#[derive(Debug, Clone, Copy)]
pub(super) enum OutKind {
    /// Count of the window whose accumulators start at `at`.
    Count {
        at: usize,
    },
    /// Sum of a slot (its sum is at `at + 3 + slot`).
    Sum {
        at: usize,
        slot: usize,
    },
    /// Mean of a slot.
    Mean {
        at: usize,
        slot: usize,
    },
    /// Any other aggregation: [`Entity::value`].
    Value {
        window: usize,
        agg: crate::spec::Agg,
        slot: Option<usize>,
    },
    Last {
        slot: usize,
    },
    SinceLast,
}

impl OutOp {
    /// Inlined into the apply loop: count, sum and mean are a load, a compare and maybe a
    /// divide; everything else goes through [`OutOp::eval_other`].
    #[inline(always)]
    pub(super) fn eval(&self, e: &Entity, l: &Layout, t: i64) -> f64 {
        let count = |at: usize| e.acc[at + 2];
        match self.kind {
            OutKind::Count { at } => {
                let c = count(at);
                if c > 0.0 {
                    c
                } else {
                    self.empty
                }
            }
            OutKind::Sum { at, slot } => {
                if count(at) > 0.0 {
                    e.acc[at + 3 + slot]
                } else {
                    self.empty
                }
            }
            OutKind::Mean { at, slot } => {
                let c = count(at);
                if c > 0.0 {
                    e.acc[at + 3 + slot] / c
                } else {
                    self.empty
                }
            }
            _ => self.eval_other(e, l, t),
        }
    }

    #[inline(never)]
    pub(super) fn eval_other(&self, e: &Entity, l: &Layout, t: i64) -> f64 {
        match self.kind {
            OutKind::Value { window, agg, slot } => e.value(l, window, agg, slot, self.empty),
            OutKind::Last { slot } => e.last_time.map_or(self.empty, |_| {
                e.last_vals.get(slot).copied().unwrap_or(self.empty)
            }),
            OutKind::SinceLast => e
                .last_time
                .map_or(self.empty, |lt| (t - lt) as f64 / MICROS_PER_SEC as f64),
            // Handled inline by `eval`.
            OutKind::Count { .. } | OutKind::Sum { .. } | OutKind::Mean { .. } => self.empty,
        }
    }
}

/// Rows produced and not yet taken.
#[derive(Debug)]
pub(super) struct OutBuf {
    /// Where each row's passthrough values are.
    pub(super) src: Vec<Src>,
    /// Feature values, row-major (`nf` per row). Rows are released in event order but
    /// filled in entity order; row-major, a row's values share one or two cache lines,
    /// where one column per feature would cost a line per value.
    pub(super) feats: Vec<f64>,
    pub(super) nf: usize,
    pub(super) rows: usize,
}

impl OutBuf {
    pub(super) fn new(spec: &FeatureSpec) -> Self {
        OutBuf {
            src: Vec::new(),
            feats: Vec::new(),
            nf: spec.features.len(),
            rows: 0,
        }
    }

    /// Appends a row, with room for its features (all zero).
    pub(super) fn push_row(&mut self, src: Src) -> usize {
        self.src.push(src);
        self.feats.resize(self.feats.len() + self.nf, 0.0);
        self.rows += 1;
        self.rows - 1
    }

    #[inline]
    pub(super) fn feat(&mut self, row: usize, fi: usize) -> &mut f64 {
        &mut self.feats[row * self.nf + fi]
    }

    pub(super) fn clear(&mut self) {
        self.src.clear();
        self.feats.clear();
        self.rows = 0;
    }
}

/// Row `r` of a passthrough column as a number (text and null: NaN), for expressions.
pub(super) fn pass_num(c: &ArrayRef, r: usize) -> f64 {
    match Col::new(c) {
        Ok(col @ (Col::I(_) | Col::F(_) | Col::B(_) | Col::T(_))) if !col.is_null(r) => col.num(r),
        _ => f64::NAN,
    }
}

/// A passthrough column of an input batch in the output's type (a dictionary-encoded
/// category becomes plain text).
pub(super) fn pass_array(a: &ArrayRef) -> ArrayRef {
    match a.data_type() {
        DataType::Dictionary(_, _) => {
            let d = a.as_dictionary::<Int32Type>();
            arrow_select::take::take(d.values().as_ref(), d.keys(), None)
                .unwrap_or_else(|_| Arc::clone(a))
        }
        _ => Arc::clone(a),
    }
}

/// Per stream: what it writes into each row ([`OutOp`]s), compiled once from `plan.ops`.
pub(super) fn compile_outs(plan: &Plan, layouts: &[Layout]) -> Vec<Vec<OutOp>> {
    (0..plan.streams.len())
        .map(|si| {
            let l: &Layout = &layouts[si];
            plan.ops
                .iter()
                .enumerate()
                .filter_map(|(fi, op)| {
                    let (kind, empty) = match *op {
                        FeatureOp::Window {
                            stream,
                            window,
                            agg,
                            slot,
                            empty,
                        } if stream == si => {
                            let at = l.wins[window].at;
                            let kind = match (agg, slot) {
                                (crate::spec::Agg::Count, _) => OutKind::Count { at },
                                (crate::spec::Agg::Sum, Some(slot)) => OutKind::Sum { at, slot },
                                (crate::spec::Agg::Mean, Some(slot)) => OutKind::Mean { at, slot },
                                _ => OutKind::Value { window, agg, slot },
                            };
                            (kind, empty)
                        }
                        FeatureOp::Last {
                            stream,
                            slot,
                            empty,
                        } if stream == si => (OutKind::Last { slot }, empty),
                        FeatureOp::SinceLast { stream, empty } if stream == si => {
                            (OutKind::SinceLast, empty)
                        }
                        _ => return None,
                    };
                    Some(OutOp { fi, kind, empty })
                })
                .collect()
        })
        .collect()
}

impl Engine {
    /// The value of derived feature `fi` (`None` when it is not a ratio or expression).
    pub(super) fn derived(
        &self,
        fi: usize,
        feat: impl Fn(usize) -> f64,
        pass: impl Fn(usize) -> f64,
    ) -> Option<f64> {
        match &self.plan.ops[fi] {
            FeatureOp::Ratio { num, den, empty } => {
                // Like expressions: a quotient that is not finite (a tiny denominator, a
                // NaN passthrough) gives `empty`, so no feature is ever NaN or infinite.
                let d = feat(*den);
                let q = feat(*num) / d;
                Some(if d == 0.0 || !q.is_finite() {
                    *empty
                } else {
                    q
                })
            }
            FeatureOp::Expr { expr, empty } => {
                let (ex, vars) = &self.exprs[*expr];
                let vals: smallvec::SmallVec<[f64; 8]> = vars
                    .iter()
                    .map(|v| match v {
                        crate::spec::ExprVar::Feature(f) => feat(*f),
                        crate::spec::ExprVar::Passthrough(k) => pass(*k),
                    })
                    .collect();
                Some(
                    match <exmex::FlatEx<f64> as exmex::Express<f64>>::eval(ex, &vals) {
                        Ok(x) if x.is_finite() => x,
                        _ => *empty,
                    },
                )
            }
            _ => None,
        }
    }

    /// The retained input batch `src` points into, and the row: for passthrough column `k`.
    pub(super) fn pass_col(&self, src: Src, k: usize) -> Option<(&ArrayRef, usize)> {
        let front = self.inputs.front()?.0;
        let (_, cols) = self.inputs.get(src.batch.checked_sub(front)? as usize)?;
        Some((cols.get(k)?, src.row as usize))
    }

    /// The passthrough values of a transaction, as values.
    pub(super) fn pass_scalars(&self, src: Src, filled: &[Scalar]) -> Vec<Scalar> {
        if src.batch == 0 {
            return filled.to_vec();
        }
        (0..self.spec.passthrough.len())
            .map(|k| {
                self.pass_col(src, k)
                    .and_then(|(c, r)| Col::new(c).ok().map(|c| c.scalar(r)))
                    .unwrap_or(Scalar::Null)
            })
            .collect()
    }

    /// The passthrough columns of the untaken rows: slices of the input batches, joined.
    /// In-order input makes a few long runs (one per input batch); out-of-order input is
    /// gathered row by row.
    pub(super) fn pass_columns(&self) -> Result<Vec<ArrayRef>, EngineError> {
        let np = self.spec.passthrough.len();
        let src = &self.out.src;
        if np == 0 {
            return Ok(Vec::new());
        }
        let Some(front) = self.inputs.front().map(|b| b.0).filter(|_| !src.is_empty()) else {
            return Ok(self
                .output_schema()
                .fields()
                .iter()
                .take(np)
                .map(|f| arrow_array::new_empty_array(f.data_type()))
                .collect());
        };
        let at = |s: &Src| (s.batch.saturating_sub(front)) as usize;
        // Runs of consecutive rows of one batch.
        let mut runs: Vec<(usize, usize, usize)> = Vec::new();
        for s in src {
            let (b, r) = (at(s), s.row as usize);
            match runs.last_mut() {
                Some((rb, r0, len)) if *rb == b && *r0 + *len == r => *len += 1,
                _ => runs.push((b, r, 1)),
            }
        }
        let mut cols = Vec::with_capacity(np);
        for k in 0..np {
            let col = if runs.len() <= 1 + src.len() / 32 {
                let parts: Vec<ArrayRef> = runs
                    .iter()
                    .map(|&(b, r0, len)| self.inputs[b].1[k].slice(r0, len))
                    .collect();
                match parts.len() {
                    1 => parts[0].clone(),
                    _ => {
                        let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
                        arrow_select::concat::concat(&refs)?
                    }
                }
            } else {
                let arrays: Vec<&dyn Array> =
                    self.inputs.iter().map(|(_, c)| c[k].as_ref()).collect();
                let idx: Vec<(usize, usize)> =
                    src.iter().map(|s| (at(s), s.row as usize)).collect();
                arrow_select::interleave::interleave(&arrays, &idx)?
            };
            cols.push(col);
        }
        Ok(cols)
    }

    /// Drops the input batches no pending event points into any more (call with the
    /// output taken).
    pub(super) fn release_inputs(&mut self) {
        let keep_from = self
            .state
            .pending
            .iter()
            .filter_map(|hk| match &self.state.slab[hk.slot as usize].kind {
                EvKind::Tx { src, .. } if src.batch != 0 => Some(src.batch),
                _ => None,
            })
            .min()
            .unwrap_or(u64::MAX);
        while self.inputs.front().is_some_and(|b| b.0 < keep_from) {
            self.inputs.pop_front();
        }
    }

    pub(super) fn emit(&mut self, t: i64, keys: &[Option<u128>], flags: u64, src: Src) {
        let row = self.out.push_row(src);
        let nf = self.out.nf;
        let vals = &mut self.out.feats[row * nf..(row + 1) * nf];
        for &(fi, kind) in &self.calendar {
            vals[fi] = calendar(kind, t);
        }
        let ns = self.plan.streams.len();
        for (si, key) in keys.iter().take(ns).enumerate() {
            match key.and_then(|k| self.state.streams[si].get(&k)) {
                Some(e) => {
                    for o in &self.stream_out[si] {
                        vals[o.fi] = o.eval(e, &self.layouts[si], t);
                    }
                }
                None => {
                    for &(fi, empty) in &self.stream_empty[si] {
                        vals[fi] = empty;
                    }
                }
            }
        }
        self.state.stats.rows_out += 1;
        if !self.plan.patterns.is_empty() {
            self.run_patterns(row, t, flags, |k| keys.get(k).copied().flatten());
        }
        // Ratios and expressions, once the row's other values are in.
        self.derive_row(row);
    }

    /// Computes the ratio and expression features of one output row.
    pub(super) fn derive_row(&mut self, row: usize) {
        for fi in 0..self.plan.ops.len() {
            let (feats, nf) = (&self.out.feats, self.out.nf);
            let src = self.out.src[row];
            let v = self.derived(
                fi,
                |f| feats[row * nf + f],
                |k| {
                    self.pass_col(src, k)
                        .map_or(f64::NAN, |(c, r)| pass_num(c, r))
                },
            );
            if let Some(v) = v {
                *self.out.feat(row, fi) = v;
            }
        }
    }
}

pub(super) fn calendar(kind: CalendarKind, t: i64) -> f64 {
    let day = t.div_euclid(MICROS_PER_DAY);
    let hour = (t.rem_euclid(MICROS_PER_DAY) / (3_600 * MICROS_PER_SEC)) as u8;
    // 1970-01-01 was a Thursday: Monday = 0.
    let weekday = (day + 3).rem_euclid(7);
    match kind {
        CalendarKind::Hour => f64::from(hour),
        CalendarKind::Weekday => weekday as f64,
        CalendarKind::Weekend => f64::from(u8::from(weekday >= 5)),
        CalendarKind::Night { from, to } => {
            let night = if from <= to {
                hour >= from && hour <= to
            } else {
                hour >= from || hour <= to
            };
            f64::from(u8::from(night))
        }
    }
}

pub(super) fn scalars_json(spec: &FeatureSpec, pass: &[Scalar]) -> String {
    let mut m = Vec::new();
    for (&fi, v) in spec.passthrough.iter().zip(pass) {
        let name = &spec.schema.fields[fi].name;
        let val = match v {
            Scalar::Null => "null".to_string(),
            Scalar::I(x) if spec.schema.fields[fi].ty == FieldType::Timestamp => {
                format!("\"{}\"", riskstream_core::time::format_micros(*x))
            }
            Scalar::I(x) => x.to_string(),
            Scalar::F(x) => x.to_string(),
            Scalar::B(x) => x.to_string(),
            Scalar::S(x) => format!("{x:?}"),
        };
        m.push(format!("{name:?}:{val}"));
    }
    format!("{{{}}}", m.join(","))
}
