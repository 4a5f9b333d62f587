//! Arrow batches for every output file.
//!
//! Columns are filled into plain vectors and handed to Arrow without copying. Category
//! columns are dictionary arrays over a fixed, complete value list (built once), so the
//! hot loop writes one `i32` per category cell and never allocates a string.

use crate::params::*;
use crate::tx::{PendingLabel, RawTx, LABEL_SOURCES};
use crate::world::World;
use arrow_array::builder::StringBuilder;
use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, DictionaryArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow_schema::{ArrowError, SchemaRef};
use riskstream_core::time::MICROS_PER_DAY;
use std::sync::Arc;

/// Int64 column.
/// The id column of a batch: `first_id`, `first_id + 1`, … (`n` values).
pub(crate) fn id_column(first_id: u64, n: usize) -> ArrayRef {
    ints((0..n).map(|i| (first_id + i as u64) as i64).collect())
}

pub(crate) fn ints(v: Vec<i64>) -> ArrayRef {
    Arc::new(Int64Array::new(v.into(), None))
}

/// Nullable Int64 column.
pub(crate) fn opt_ints(v: Vec<Option<i64>>) -> ArrayRef {
    Arc::new(Int64Array::from(v))
}

/// Float64 column.
pub(crate) fn floats(v: Vec<f64>) -> ArrayRef {
    Arc::new(Float64Array::new(v.into(), None))
}

/// Timestamp column, with the time zone the I/O layer maps schema timestamps to (UTC).
pub(crate) fn stamps(v: Vec<i64>) -> ArrayRef {
    let tz = match riskstream_io::arrow_type(riskstream_core::FieldType::Timestamp) {
        arrow_schema::DataType::Timestamp(_, tz) => tz,
        _ => None,
    };
    Arc::new(TimestampMicrosecondArray::new(v.into(), None).with_timezone_opt(tz))
}

/// A fixed dictionary of category values.
#[derive(Debug, Clone)]
pub(crate) struct Dict(Arc<StringArray>);

impl Dict {
    pub fn new<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        Dict(Arc::new(StringArray::from_iter_values(values)))
    }

    /// Dictionary(Int32, Utf8) column of `keys` into this dictionary.
    pub fn column(&self, keys: Vec<i32>) -> Result<ArrayRef, ArrowError> {
        let a: ArrayRef = Arc::new(DictionaryArray::<Int32Type>::try_new(
            Int32Array::new(keys.into(), None),
            self.0.clone(),
        )?);
        Ok(a)
    }
}

/// The dictionaries shared by several files.
#[derive(Debug, Clone)]
pub(crate) struct Dicts {
    pub mcc: Dict,
    pub mcc_description: Dict,
    pub channel: Dict,
    pub currency: Dict,
    pub country: Dict,
    pub city: Dict,
    pub pattern: Dict,
    pub source: Dict,
    pub segment: Dict,
    /// Currency dictionary key of each country.
    pub currency_of_country: Vec<i32>,
}

impl Dicts {
    pub fn new() -> Self {
        Dicts {
            mcc: Dict::new(MCCS.iter().map(|m| m.code)),
            mcc_description: Dict::new(MCCS.iter().map(|m| m.description)),
            channel: Dict::new(CHANNELS),
            currency: Dict::new(CURRENCIES),
            country: Dict::new(COUNTRIES.iter().map(|c| c.code)),
            city: Dict::new(CITIES.iter().map(|c| c.name)),
            pattern: Dict::new(PATTERNS),
            source: Dict::new(LABEL_SOURCES),
            segment: Dict::new(SEGMENTS.iter().map(|s| s.name)),
            currency_of_country: COUNTRIES
                .iter()
                .map(|c| {
                    CURRENCIES
                        .iter()
                        .position(|x| *x == c.currency)
                        .unwrap_or(0) as i32
                })
                .collect(),
        }
    }
}

/// Lower-case hex of a device fingerprint, without allocating.
#[inline]
fn hex16(x: u64, buf: &mut [u8; 16]) -> &str {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in buf.iter_mut().enumerate() {
        *b = HEX[((x >> (60 - 4 * i)) & 0xF) as usize];
    }
    std::str::from_utf8(buf).unwrap_or("")
}

/// A batch of transactions; ids are `first_id`, `first_id + 1`, ….
pub(crate) fn tx_batch(
    w: &World,
    d: &Dicts,
    schema: &SchemaRef,
    rows: &[RawTx],
    first_id: u64,
) -> Result<RecordBatch, ArrowError> {
    let n = rows.len();
    let mut tx_id = Vec::with_capacity(n);
    let mut time = Vec::with_capacity(n);
    let mut customer = Vec::with_capacity(n);
    let mut card = Vec::with_capacity(n);
    let mut account = Vec::with_capacity(n);
    let mut terminal = Vec::with_capacity(n);
    let mut merchant = Vec::with_capacity(n);
    let mut mcc = Vec::with_capacity(n);
    let mut channel = Vec::with_capacity(n);
    let mut amount = Vec::with_capacity(n);
    let mut currency = Vec::with_capacity(n);
    let mut country = Vec::with_capacity(n);
    let mut lat = Vec::with_capacity(n);
    let mut lon = Vec::with_capacity(n);
    let mut device = StringBuilder::with_capacity(n, n * 8);
    let mut is_fraud = Vec::with_capacity(n);
    let mut pattern = Vec::with_capacity(n);
    let mut pan = schema
        .index_of("card_pan")
        .is_ok()
        .then(|| StringBuilder::with_capacity(n, n * 16));
    let mut hex = [0u8; 16];
    for (i, t) in rows.iter().enumerate() {
        let term = &w.terminals[t.terminal as usize];
        let k = term.country();
        tx_id.push((first_id + i as u64) as i64);
        time.push(t.time);
        customer.push(i64::from(t.customer));
        card.push(i64::from(t.card));
        // One account per customer; its id is the customer's index.
        account.push(i64::from(t.customer));
        terminal.push(i64::from(t.terminal));
        merchant.push(i64::from(term.merchant));
        mcc.push(i32::from(term.mcc));
        channel.push(i32::from(t.channel));
        amount.push(t.amount);
        currency.push(d.currency_of_country[k]);
        country.push(k as i32);
        lat.push(term.lat);
        lon.push(term.lon);
        if t.device == 0 {
            device.append_null();
        } else {
            device.append_value(hex16(t.device, &mut hex));
        }
        is_fraud.push(i64::from(t.pattern != 0));
        pattern.push(i32::from(t.pattern));
        if let Some(p) = &mut pan {
            p.append_value(crate::people::pan(w.seed, u64::from(t.card)));
        }
    }
    let mut cols: Vec<ArrayRef> = vec![
        ints(tx_id),
        stamps(time),
        ints(customer),
        ints(card),
        ints(account),
        ints(terminal),
        ints(merchant),
        d.mcc.column(mcc)?,
        d.channel.column(channel)?,
        floats(amount),
        d.currency.column(currency)?,
        d.country.column(country)?,
        floats(lat),
        floats(lon),
        Arc::new(device.finish()),
        ints(is_fraud),
        d.pattern.column(pattern)?,
    ];
    if let Some(mut p) = pan {
        cols.push(Arc::new(p.finish()));
    }
    RecordBatch::try_new(schema.clone(), cols)
}

/// A batch of label events; ids are `first_id`, `first_id + 1`, ….
pub(crate) fn label_batch(
    d: &Dicts,
    schema: &SchemaRef,
    rows: &[PendingLabel],
    first_id: u64,
) -> Result<RecordBatch, ArrowError> {
    let cols: Vec<ArrayRef> = vec![
        id_column(first_id, rows.len()),
        ints(rows.iter().map(|l| l.tx_id as i64).collect()),
        stamps(rows.iter().map(|l| l.time).collect()),
        ints(rows.iter().map(|l| i64::from(l.label)).collect()),
        d.source
            .column(rows.iter().map(|l| i32::from(l.source) - 1).collect())?,
        stamps(rows.iter().map(|l| l.tx_time).collect()),
    ];
    RecordBatch::try_new(schema.clone(), cols)
}

/// Customers `range` as a batch.
pub(crate) fn customer_batch(
    w: &World,
    d: &Dicts,
    schema: &SchemaRef,
    range: std::ops::Range<usize>,
) -> Result<RecordBatch, ArrowError> {
    let cs = &w.customers[range.clone()];
    let ids: Vec<i64> = range.map(|i| i as i64).collect();
    let f = |g: &dyn Fn(&crate::world::Customer) -> f64| floats(cs.iter().map(g).collect());
    let mut cols: Vec<ArrayRef> = vec![
        ints(ids.clone()),
        ints(ids.clone()),
        ints(cs.iter().map(|c| i64::from(c.first_card)).collect()),
        opt_ints(
            cs.iter()
                .map(|c| (c.n_cards > 1).then_some(i64::from(c.first_card) + 1))
                .collect(),
        ),
        d.segment
            .column(cs.iter().map(|c| i32::from(c.segment)).collect())?,
        ints(cs.iter().map(|c| i64::from(c.age)).collect()),
        f(&|c| f64::from(c.income)),
        d.city
            .column(cs.iter().map(|c| i32::from(c.home)).collect())?,
        d.country
            .column(cs.iter().map(|c| c.country() as i32).collect())?,
        d.currency.column(
            cs.iter()
                .map(|c| d.currency_of_country[c.country()])
                .collect(),
        )?,
        f(&|c| c.lat),
        f(&|c| c.lon),
        stamps(cs.iter().map(|c| c.joined_day * MICROS_PER_DAY).collect()),
        f(&|c| crate::world::round_to(c.rate * w.scale, 4)),
        f(&|c| crate::world::round_to(c.typical_amount(), 2)),
        f(&|c| crate::world::round_to(c.amount_sigma, 4)),
        f(&|c| c.mix[0]),
        f(&|c| c.mix[1]),
        f(&|c| c.mix[2]),
        f(&|c| c.mix[3]),
        ints(cs.iter().map(|c| i64::from(c.n_devices)).collect()),
    ];
    if schema.index_of("email").is_ok() {
        let people: Vec<crate::people::Contact> = cs
            .iter()
            .zip(&ids)
            .map(|(c, &id)| crate::people::contact(w.seed, id as u64, COUNTRIES[c.country()].code))
            .collect();
        let col = |s: Vec<&str>| -> ArrayRef { Arc::new(StringArray::from_iter_values(s)) };
        cols.push(col(people.iter().map(|p| p.name.as_str()).collect()));
        cols.push(col(people.iter().map(|p| p.email.as_str()).collect()));
        cols.push(col(people.iter().map(|p| p.phone.as_str()).collect()));
    }
    RecordBatch::try_new(schema.clone(), cols)
}

/// Terminals `range` as a batch.
pub(crate) fn terminal_batch(
    w: &World,
    d: &Dicts,
    schema: &SchemaRef,
    range: std::ops::Range<usize>,
) -> Result<RecordBatch, ArrowError> {
    let ts = &w.terminals[range.clone()];
    let cols: Vec<ArrayRef> = vec![
        ints(range.map(|i| i as i64).collect()),
        ints(ts.iter().map(|t| i64::from(t.merchant)).collect()),
        d.mcc
            .column(ts.iter().map(|t| i32::from(t.mcc)).collect())?,
        d.mcc_description
            .column(ts.iter().map(|t| i32::from(t.mcc)).collect())?,
        d.channel
            .column(ts.iter().map(|t| i32::from(t.kind)).collect())?,
        d.city
            .column(ts.iter().map(|t| i32::from(t.city)).collect())?,
        d.country
            .column(ts.iter().map(|t| t.country() as i32).collect())?,
        d.currency.column(
            ts.iter()
                .map(|t| d.currency_of_country[t.country()])
                .collect(),
        )?,
        floats(ts.iter().map(|t| t.lat).collect()),
        floats(ts.iter().map(|t| t.lon).collect()),
    ];
    RecordBatch::try_new(schema.clone(), cols)
}
