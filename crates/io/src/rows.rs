//! Row assembly: typed cells in, validated Arrow columns out.
//!
//! Every reader turns its input into [`Cell`]s, one per schema field, and hands the row to
//! [`RowAssembler::push`]. The assembler checks the whole row first (types, required,
//! ranges, categories, uniqueness) and only then appends it, so a rejected row leaves no
//! trace in the batch and the first problem found is the one reported.
//!
//! Fields marked `pii` are treated here, as they are appended (a token, a mask or null in
//! place of the clear value; see `riskstream_core::pii`): every reader and the decision
//! service's JSON decoder go through this one place, so no batch ever holds the clear
//! value. Checks (uniqueness included) still see the clear value, in memory only.

use crate::deadletter::Reason;
use crate::types::arrow_schema;
use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, StringDictionaryBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::SchemaRef;
use riskstream_core::pii::{Protector, Treatment};
use riskstream_core::time::{parse_iso8601, TimestampFormat};
use riskstream_core::{Field, FieldType, Schema};
use std::collections::HashSet;
use std::sync::Arc;

/// One value of a row as read from the input, before it is checked against the schema.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Cell<'a> {
    Null,
    Int(i64),
    Float(f64),
    Bool(bool),
    /// Microseconds since the epoch.
    Ts(i64),
    /// Text, parsed according to the field's type.
    Text(&'a str),
}

/// A row-level problem: which field, why, and a human explanation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RowError {
    pub field: Option<usize>,
    pub reason: Reason,
    pub detail: String,
}

impl RowError {
    pub fn new(field: Option<usize>, reason: Reason, detail: impl Into<String>) -> Self {
        Self {
            field,
            reason,
            detail: detail.into(),
        }
    }
}

/// A checked value, ready to append.
#[derive(Debug, Clone, Copy)]
enum Value<'a> {
    Null,
    Int(i64),
    Float(f64),
    Bool(bool),
    Ts(i64),
    Str(&'a str),
}

fn short(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s.to_string()
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "1" | "yes" | "y" => Some(true),
        "false" | "f" | "0" | "no" | "n" => Some(false),
        _ => None,
    }
}

/// Converts a cell to the field's type.
fn convert<'a>(i: usize, f: &Field, cell: Cell<'a>) -> Result<Value<'a>, RowError> {
    let err = |reason, detail: String| Err(RowError::new(Some(i), reason, detail));
    match (f.ty, cell) {
        (_, Cell::Null) | (_, Cell::Text("")) => Ok(Value::Null),
        (FieldType::Int, Cell::Int(v)) => Ok(Value::Int(v)),
        (FieldType::Int, Cell::Float(v)) if v.fract() == 0.0 && v.abs() < 9.0e15 => {
            Ok(Value::Int(v as i64))
        }
        (FieldType::Int, Cell::Text(s)) => {
            match plain_int(s).map_or_else(|| riskstream_core::time::trim(s).parse::<i64>(), Ok) {
                Ok(v) => Ok(Value::Int(v)),
                Err(_) => err(Reason::BadInt, format!("`{}` is not an integer", short(s))),
            }
        }
        (FieldType::Float, Cell::Float(v)) if v.is_finite() => Ok(Value::Float(v)),
        (FieldType::Float, Cell::Int(v)) => Ok(Value::Float(v as f64)),
        (FieldType::Float, Cell::Text(s)) => {
            match plain_float(s).map_or_else(|| riskstream_core::time::trim(s).parse::<f64>(), Ok) {
                Ok(v) if v.is_finite() => Ok(Value::Float(v)),
                _ => err(
                    Reason::BadFloat,
                    format!("`{}` is not a finite number", short(s)),
                ),
            }
        }
        (FieldType::Float, Cell::Float(v)) => {
            err(Reason::BadFloat, format!("`{v}` is not a finite number"))
        }
        (FieldType::Bool, Cell::Bool(b)) => Ok(Value::Bool(b)),
        (FieldType::Bool, Cell::Int(v @ (0 | 1))) => Ok(Value::Bool(v == 1)),
        (FieldType::Bool, Cell::Text(s)) => match parse_bool(s) {
            Some(b) => Ok(Value::Bool(b)),
            None => err(
                Reason::BadBool,
                format!(
                    "`{}` is not a bool (use true/false, 1/0 or yes/no)",
                    short(s)
                ),
            ),
        },
        (FieldType::Timestamp, Cell::Ts(v)) => Ok(Value::Ts(v)),
        (FieldType::Timestamp, Cell::Int(v)) if f.format != TimestampFormat::Iso8601 => {
            match f.format.parse(&v.to_string()) {
                Ok(us) => Ok(Value::Ts(us)),
                Err(e) => err(Reason::BadTimestamp, format!("`{v}`: {e}")),
            }
        }
        (FieldType::Timestamp, Cell::Text(s)) => {
            let r = if f.format == TimestampFormat::Iso8601 {
                parse_iso8601(s)
            } else {
                f.format.parse(s)
            };
            match r {
                Ok(us) => Ok(Value::Ts(us)),
                Err(e) => err(Reason::BadTimestamp, format!("`{}`: {e}", short(s))),
            }
        }
        (FieldType::String | FieldType::Category, Cell::Text(s)) => Ok(Value::Str(s)),
        (ty, other) => err(
            Reason::WrongType,
            format!("expected {ty}, found {}", describe(&other)),
        ),
    }
}

/// The value of 1 to 18 ASCII digits (which cannot overflow an `i64`), or `None` for any
/// other text, which then goes to the standard parser. Most integer fields in transaction
/// files are such runs; this is the parse with no sign, whitespace or overflow handling.
fn plain_int(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 18 {
        return None;
    }
    let mut v = 0i64;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + i64::from(d);
    }
    Some(v)
}

/// Powers of ten that are exact in an `f64`.
const EXACT_POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// The value of `digits[.digits]` with at most 15 digits in all (amounts, rates), or `None`
/// for any other text, which then goes to the standard parser. With at most 15 digits the
/// digits make an integer `m` below 2^53 and the scale `10^k` is exact, so `m / 10^k` is
/// one correctly rounded division: bit for bit what the standard parser returns (its own
/// first case, without its general scanning).
fn plain_float(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 16 {
        return None;
    }
    let mut m = 0u64;
    let mut digits = 0usize;
    let mut point = None;
    for (i, &c) in b.iter().enumerate() {
        let d = c.wrapping_sub(b'0');
        if d <= 9 {
            m = m * 10 + u64::from(d);
            digits += 1;
        } else if c == b'.' && point.is_none() {
            point = Some(i);
        } else {
            return None;
        }
    }
    // "5.", ".5" and "." go to the standard parser (which takes the first two).
    let frac = match point {
        None => 0,
        Some(p) if p == 0 || p + 1 == b.len() => return None,
        Some(p) => b.len() - p - 1,
    };
    if digits > 15 {
        return None;
    }
    Some(m as f64 / EXACT_POW10[frac])
}

fn describe(c: &Cell<'_>) -> String {
    match c {
        Cell::Null => "null".into(),
        Cell::Int(v) => format!("integer {v}"),
        Cell::Float(v) => format!("number {v}"),
        Cell::Bool(b) => format!("bool {b}"),
        Cell::Ts(_) => "timestamp".into(),
        Cell::Text(s) => format!("text `{}`", short(s)),
    }
}

enum Col {
    Int(Int64Builder),
    Float(Float64Builder),
    Str(StringBuilder),
    Bool(BooleanBuilder),
    Ts(TimestampMicrosecondBuilder),
    Cat(StringDictionaryBuilder<Int32Type>),
}

impl Col {
    fn new(ty: FieldType, cap: usize) -> Self {
        match ty {
            FieldType::Int => Col::Int(Int64Builder::with_capacity(cap)),
            FieldType::Float => Col::Float(Float64Builder::with_capacity(cap)),
            FieldType::String => Col::Str(StringBuilder::with_capacity(cap, cap * 8)),
            FieldType::Bool => Col::Bool(BooleanBuilder::with_capacity(cap)),
            FieldType::Timestamp => {
                Col::Ts(TimestampMicrosecondBuilder::with_capacity(cap).with_timezone("+00:00"))
            }
            FieldType::Category => Col::Cat(StringDictionaryBuilder::new()),
        }
    }

    fn append(&mut self, v: Value<'_>) {
        match (self, v) {
            (Col::Int(b), Value::Int(x)) => b.append_value(x),
            (Col::Float(b), Value::Float(x)) => b.append_value(x),
            (Col::Str(b), Value::Str(x)) => b.append_value(x),
            (Col::Bool(b), Value::Bool(x)) => b.append_value(x),
            (Col::Ts(b), Value::Ts(x)) => b.append_value(x),
            (Col::Cat(b), Value::Str(x)) => {
                b.append_value(x);
            }
            (Col::Int(b), _) => b.append_null(),
            (Col::Float(b), _) => b.append_null(),
            (Col::Str(b), _) => b.append_null(),
            (Col::Bool(b), _) => b.append_null(),
            (Col::Ts(b), _) => b.append_null(),
            (Col::Cat(b), _) => b.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Col::Int(b) => Arc::new(b.finish()),
            Col::Float(b) => Arc::new(b.finish()),
            Col::Str(b) => Arc::new(b.finish()),
            Col::Bool(b) => Arc::new(b.finish()),
            Col::Ts(b) => Arc::new(b.finish()),
            Col::Cat(b) => Arc::new(b.finish()),
        }
    }
}

type Hasher = foldhash::fast::RandomState;

enum Seen {
    Int(IntIds),
    Str(HashSet<Box<str>, Hasher>),
}

/// The integer ids seen so far, for `unique` fields. Ids usually grow one by one (a
/// sequence, a file sorted by id): those live in one run `lo..=hi` and cost neither memory
/// nor a hash lookup, since an id above the largest seen cannot be a repeat. The others go
/// to a hash set (seeded per process, so crafted ids cannot force collisions).
#[derive(Default)]
struct IntIds {
    run: Option<(i64, i64)>,
    max: i64,
    others: HashSet<i64, Hasher>,
}

impl IntIds {
    fn contains(&self, x: i64) -> bool {
        match self.run {
            None => false,
            Some(_) if x > self.max => false,
            Some((lo, hi)) => (lo..=hi).contains(&x) || self.others.contains(&x),
        }
    }

    /// Records `x`, which [`IntIds::contains`] said is new.
    fn insert(&mut self, x: i64) {
        match &mut self.run {
            None => {
                self.run = Some((x, x));
                self.max = x;
                return;
            }
            Some((_, hi)) if *hi == self.max && x.checked_sub(1) == Some(*hi) => *hi = x,
            Some(_) => {
                self.others.insert(x);
            }
        }
        self.max = self.max.max(x);
    }
}

/// Checks rows against a schema and builds Arrow batches from the accepted ones.
pub(crate) struct RowAssembler {
    schema: Schema,
    arrow: SchemaRef,
    cols: Vec<Col>,
    allowed: Vec<Option<HashSet<String>>>,
    /// Each field's `min` and `max`, infinite where not set: one compare per bound, and
    /// the message is built only when a value is out.
    bounds: Vec<(f64, f64)>,
    /// The `unique` fields and what they have seen.
    unique: Vec<(usize, Seen)>,
    rows: usize,
    cap: usize,
    /// Each field's `pii` treatment.
    pii: Vec<Option<Treatment>>,
    protector: std::sync::Arc<Protector>,
    /// The treated value being appended (reused: no allocation per row).
    treated: String,
    /// A field whose value needed a key that is not configured: a configuration problem
    /// the caller reports as an error, not a rejected row.
    missing_key: Option<usize>,
}

impl RowAssembler {
    pub fn new(schema: &Schema, cap: usize, protector: std::sync::Arc<Protector>) -> Self {
        let cols = schema.fields.iter().map(|f| Col::new(f.ty, cap)).collect();
        let allowed = schema
            .fields
            .iter()
            .map(|f| f.values.as_ref().map(|v| v.iter().cloned().collect()))
            .collect();
        let unique = schema
            .fields
            .iter()
            .enumerate()
            .filter(|(_, f)| f.unique)
            .map(|(i, f)| {
                let seen = match f.ty {
                    FieldType::Int | FieldType::Timestamp => Seen::Int(IntIds::default()),
                    _ => Seen::Str(HashSet::default()),
                };
                (i, seen)
            })
            .collect();
        let bounds = schema
            .fields
            .iter()
            .map(|f| {
                (
                    f.min.unwrap_or(f64::NEG_INFINITY),
                    f.max.unwrap_or(f64::INFINITY),
                )
            })
            .collect();
        Self {
            schema: schema.clone(),
            arrow: arrow_schema(schema),
            cols,
            allowed,
            bounds,
            unique,
            rows: 0,
            cap,
            pii: schema.fields.iter().map(|f| f.pii).collect(),
            protector,
            treated: String::new(),
            missing_key: None,
        }
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    pub fn protector(&self) -> &Protector {
        &self.protector
    }

    /// The field whose value could not be treated for want of a key, once (see
    /// [`RowAssembler::push`]'s error).
    pub fn take_missing_key(&mut self) -> Option<usize> {
        self.missing_key.take()
    }

    pub fn arrow_schema(&self) -> SchemaRef {
        self.arrow.clone()
    }

    /// Rows appended since the last [`RowAssembler::take_batch`].
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_full(&self) -> bool {
        self.rows >= self.cap
    }

    /// Checks one row (one cell per schema field) and appends it if it passes.
    pub fn push(&mut self, cells: &[Cell<'_>]) -> Result<(), RowError> {
        debug_assert_eq!(cells.len(), self.schema.fields.len());
        // On the stack for up to 16 fields: no allocation per row.
        let mut values = smallvec::SmallVec::<[Value<'_>; 16]>::new();
        self.check(cells, &mut values)?;
        let Self {
            cols,
            pii,
            protector,
            treated,
            ..
        } = self;
        for ((c, v), t) in cols.iter_mut().zip(&values).zip(pii.iter()) {
            match (t, v) {
                (None, v) => c.append(*v),
                (Some(t), Value::Str(s)) if *t != Treatment::Drop => {
                    treated.clear();
                    // `check` made sure the treatment can be applied (a key is there; an
                    // fpe value is a card number or an fpe output).
                    let ok = protector.apply(*t, s, treated).is_ok();
                    debug_assert!(ok);
                    c.append(if ok {
                        Value::Str(treated.as_str())
                    } else {
                        Value::Null
                    });
                }
                (Some(_), _) => c.append(Value::Null),
            }
        }
        self.rows += 1;
        Ok(())
    }

    fn check<'a>(
        &mut self,
        cells: &[Cell<'a>],
        values: &mut smallvec::SmallVec<[Value<'a>; 16]>,
    ) -> Result<(), RowError> {
        for (i, (f, &cell)) in self.schema.fields.iter().zip(cells).enumerate() {
            let v = convert(i, f, cell)?;
            match v {
                Value::Null if f.required => {
                    return Err(RowError::new(
                        Some(i),
                        Reason::MissingField,
                        format!("required field `{}` is empty", f.name),
                    ));
                }
                // Values here are never NaN (floats are checked finite), so "not inside
                // the bounds" is exactly "below min or above max".
                Value::Int(x) if outside(self.bounds[i], x as f64) => {
                    range(i, f, x as f64, || x.to_string())?
                }
                Value::Float(x) if outside(self.bounds[i], x) => range(i, f, x, || x.to_string())?,
                Value::Ts(x) if outside(self.bounds[i], x as f64) => {
                    range(i, f, x as f64, || riskstream_core::time::format_micros(x))?
                }
                Value::Str(s) => {
                    if self.pii[i].is_some_and(Treatment::needs_key) && !self.protector.has_keys() {
                        self.missing_key = Some(i);
                        return Err(RowError::new(
                            Some(i),
                            Reason::WrongType,
                            format!("`{}` needs a PII key and none is configured", f.name),
                        ));
                    }
                    if let Some(t) = self.pii[i] {
                        if let Err(e) = Protector::check(t, s) {
                            let reason = Reason::WrongType;
                            let hidden = crate::pii_raw::hidden(reason, &f.name, t);
                            return Err(RowError::new(Some(i), reason, format!("{hidden}: {e}")));
                        }
                    }
                    if let Some(allowed) = &self.allowed[i] {
                        if !allowed.contains(s) {
                            return Err(RowError::new(
                                Some(i),
                                Reason::UnknownCategory,
                                format!(
                                    "`{}` is not one of the declared values of `{}`",
                                    short(s),
                                    f.name
                                ),
                            ));
                        }
                    }
                }
                _ => {}
            }
            values.push(v);
        }
        // Uniqueness last: a value is remembered only once the whole row is accepted.
        for &(i, ref seen) in &self.unique {
            let dup = match (seen, values[i]) {
                (Seen::Int(s), Value::Int(x) | Value::Ts(x)) => s.contains(x),
                (Seen::Str(s), Value::Str(x)) => s.contains(x),
                _ => false,
            };
            if dup {
                return Err(RowError::new(
                    Some(i),
                    Reason::Duplicate,
                    format!(
                        "`{}` repeats an earlier row's `{}`",
                        value_text(values[i]),
                        self.schema.fields[i].name
                    ),
                ));
            }
        }
        for (i, seen) in &mut self.unique {
            match (seen, values[*i]) {
                (Seen::Int(s), Value::Int(x) | Value::Ts(x)) => s.insert(x),
                (Seen::Str(s), Value::Str(x)) => {
                    s.insert(x.into());
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The accepted rows so far as one batch; the assembler starts a new one.
    pub fn take_batch(&mut self) -> Result<RecordBatch, arrow_schema::ArrowError> {
        let cols: Vec<ArrayRef> = self.cols.iter_mut().map(Col::finish).collect();
        self.rows = 0;
        RecordBatch::try_new(self.arrow.clone(), cols)
    }
}

fn value_text(v: Value<'_>) -> String {
    match v {
        Value::Int(x) | Value::Ts(x) => x.to_string(),
        Value::Str(s) => short(s),
        Value::Float(x) => x.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
    }
}

/// Whether `x` lies outside `[min, max]` (both bounds inclusive, as `range` checks them).
#[inline]
fn outside((lo, hi): (f64, f64), x: f64) -> bool {
    x < lo || x > hi
}

/// Checks `min`/`max` and builds the error for a value outside them; `shown` formats the
/// value only then. Called only once `outside` has said so, off the hot path.
#[cold]
fn range(i: usize, f: &Field, x: f64, shown: impl Fn() -> String) -> Result<(), RowError> {
    let fmt = |b: f64| match f.ty {
        FieldType::Timestamp => riskstream_core::time::format_micros(b as i64),
        _ => b.to_string(),
    };
    if let Some(lo) = f.min {
        if x < lo {
            return Err(RowError::new(
                Some(i),
                Reason::OutOfRange,
                format!(
                    "{} is below the minimum {} of `{}`",
                    shown(),
                    fmt(lo),
                    f.name
                ),
            ));
        }
    }
    if let Some(hi) = f.max {
        if x > hi {
            return Err(RowError::new(
                Some(i),
                Reason::OutOfRange,
                format!(
                    "{} is above the maximum {} of `{}`",
                    shown(),
                    fmt(hi),
                    f.name
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::IntIds;

    #[test]
    fn plain_numbers_leave_other_text_to_the_standard_parser() {
        for t in ["", "-1", "+1", " 1", "1 ", "1e3", "1_0", "١"] {
            assert_eq!(super::plain_int(t), None, "{t}");
        }
        for t in [
            "",
            ".",
            "5.",
            ".5",
            "1.2.3",
            "-1.5",
            "1e3",
            "nan",
            "inf",
            "1234567890.1234567",
        ] {
            assert_eq!(super::plain_float(t), None, "{t}");
        }
        assert_eq!(super::plain_int("007"), Some(7));
        assert_eq!(super::plain_float("57.16"), Some(57.16));
        assert_eq!(super::plain_float("0.1"), Some(0.1));
        assert_eq!(
            super::plain_float("123456789012345"),
            Some(123_456_789_012_345.0)
        );
    }
    use proptest::prelude::*;

    proptest! {
        /// The fast number paths give exactly the standard parser's answer, bit for bit,
        /// or hand the text over to it.
        #[test]
        fn plain_numbers_parse_as_the_standard_parser(
            int in "[0-9]{1,20}",
            whole in "[0-9]{0,12}",
            frac in "[0-9]{0,12}",
            point in any::<bool>(),
        ) {
            if let Some(v) = super::plain_int(&int) {
                prop_assert_eq!(Ok(v), int.parse::<i64>());
            } else {
                prop_assert!(int.len() > 18);
            }
            let text = if point { format!("{whole}.{frac}") } else { format!("{whole}{frac}") };
            if let Some(v) = super::plain_float(&text) {
                prop_assert_eq!(v.to_bits(), text.parse::<f64>().unwrap().to_bits(), "{}", text);
            }
        }

        /// Runs, gaps, repeats and extremes: `IntIds` answers like a plain set.
        #[test]
        fn int_ids_answer_like_a_set(
            start in prop_oneof![Just(i64::MIN), Just(i64::MAX - 50), -5i64..5],
            steps in proptest::collection::vec(prop_oneof![Just(1i64), -3i64..4, -1000i64..1000], 0..300),
        ) {
            let mut ids = IntIds::default();
            let mut set = std::collections::HashSet::new();
            let mut x = start;
            for d in steps {
                x = x.saturating_add(d);
                prop_assert_eq!(ids.contains(x), set.contains(&x), "{}", x);
                if set.insert(x) {
                    ids.insert(x);
                }
            }
        }
    }

    #[test]
    fn a_sequence_stays_in_one_run() {
        let mut ids = IntIds::default();
        for x in 0..100_000 {
            assert!(!ids.contains(x));
            ids.insert(x);
        }
        assert!(ids.contains(0) && ids.contains(99_999) && !ids.contains(100_000));
        assert!(ids.others.is_empty());
    }
}
