//! Shared helpers: generate into a temp dir, read a file back through the validating
//! reader into plain columns.
#![allow(dead_code)]
// Test helpers panic on failure by design.
#![allow(clippy::unwrap_used)]

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::Array;
use arrow_schema::DataType;
use riskstream_gen::{generate, GenConfig, GenReport};
use riskstream_io::{EventReader, Format, MemoryDeadLetters, ReadOptions, ReadStats};
use std::collections::HashMap;
use std::path::Path;

pub fn run(cfg: &GenConfig, format: Format, gzip: bool) -> (tempfile::TempDir, GenReport) {
    let dir = tempfile::tempdir().unwrap();
    let report = generate(cfg, dir.path(), format, gzip, &mut |_| {}).unwrap();
    (dir, report)
}

/// A column: integers (timestamps as micros), floats, or categories/strings as ids into
/// `values` (`u32::MAX` for null).
pub enum Col {
    Int(Vec<i64>),
    Float(Vec<f64>),
    Cat(Vec<u32>, Vec<String>),
}

pub struct Table {
    pub names: Vec<String>,
    pub cols: Vec<Col>,
    pub stats: ReadStats,
    pub rows: usize,
}

impl Table {
    fn col(&self, name: &str) -> &Col {
        let i = self
            .names
            .iter()
            .position(|n| n == name)
            .unwrap_or_else(|| panic!("no column {name}"));
        &self.cols[i]
    }
    pub fn ints(&self, name: &str) -> &[i64] {
        match self.col(name) {
            Col::Int(v) => v,
            _ => panic!("{name} is not an int column"),
        }
    }
    pub fn floats(&self, name: &str) -> &[f64] {
        match self.col(name) {
            Col::Float(v) => v,
            _ => panic!("{name} is not a float column"),
        }
    }
    /// Category ids and the values they index.
    pub fn cats(&self, name: &str) -> (&[u32], &[String]) {
        match self.col(name) {
            Col::Cat(k, v) => (k, v),
            _ => panic!("{name} is not a string column"),
        }
    }
    /// The id of category value `value` in column `name` (u32::MAX if absent).
    pub fn cat_id(&self, name: &str, value: &str) -> u32 {
        self.cats(name)
            .1
            .iter()
            .position(|v| v == value)
            .map_or(u32::MAX, |i| i as u32)
    }
    pub fn str_at(&self, name: &str, row: usize) -> Option<&str> {
        let (k, v) = self.cats(name);
        (k[row] != u32::MAX).then(|| v[k[row] as usize].as_str())
    }
}

/// Reads `path` against the schema of output file `file`, through `EventReader`.
pub fn read(path: &Path, file: &str) -> Table {
    let schema = riskstream_gen::schemas::schema(file).unwrap();
    let dead = MemoryDeadLetters::default();
    let mut reader = EventReader::open(
        path,
        &schema,
        &ReadOptions::default(),
        Box::new(dead.clone()),
    )
    .unwrap();
    let names: Vec<String> = schema.fields.iter().map(|f| f.name.clone()).collect();
    let mut cols: Vec<Col> = Vec::new();
    let mut interners: Vec<HashMap<String, u32>> = vec![HashMap::new(); names.len()];
    let mut rows = 0;
    for batch in &mut reader {
        let batch = batch.unwrap();
        rows += batch.num_rows();
        if cols.is_empty() {
            cols = batch
                .columns()
                .iter()
                .map(|c| match c.data_type() {
                    DataType::Int64 | DataType::Timestamp(..) => Col::Int(Vec::new()),
                    DataType::Float64 => Col::Float(Vec::new()),
                    _ => Col::Cat(Vec::new(), Vec::new()),
                })
                .collect();
        }
        for (i, c) in batch.columns().iter().enumerate() {
            match (&mut cols[i], c.data_type()) {
                (Col::Int(v), DataType::Int64) => {
                    let a = c.as_primitive::<Int64Type>();
                    v.extend(
                        (0..a.len()).map(|r| if a.is_null(r) { i64::MIN } else { a.value(r) }),
                    );
                }
                (Col::Int(v), DataType::Timestamp(..)) => {
                    v.extend(c.as_primitive::<TimestampMicrosecondType>().values().iter())
                }
                (Col::Float(v), _) => v.extend(c.as_primitive::<Float64Type>().values().iter()),
                (Col::Cat(keys, values), DataType::Dictionary(..)) => {
                    let d = c.as_dictionary::<Int32Type>();
                    let dv = d.values().as_string::<i32>();
                    let map: Vec<u32> = (0..dv.len())
                        .map(|j| {
                            let s = dv.value(j);
                            let n = interners[i].len() as u32;
                            *interners[i].entry(s.to_string()).or_insert_with(|| {
                                values.push(s.to_string());
                                n
                            })
                        })
                        .collect();
                    keys.extend((0..d.len()).map(|r| {
                        if d.is_null(r) {
                            u32::MAX
                        } else {
                            map[d.keys().value(r) as usize]
                        }
                    }));
                }
                (Col::Cat(keys, values), DataType::Utf8) => {
                    let a = c.as_string::<i32>();
                    for r in 0..a.len() {
                        if a.is_null(r) {
                            keys.push(u32::MAX);
                            continue;
                        }
                        let s = a.value(r);
                        let n = interners[i].len() as u32;
                        let id = match interners[i].get(s) {
                            Some(&id) => id,
                            None => {
                                interners[i].insert(s.to_string(), n);
                                values.push(s.to_string());
                                n
                            }
                        };
                        keys.push(id);
                    }
                }
                (_, dt) => panic!("unexpected type {dt} for {}", names[i]),
            }
        }
    }
    let stats = reader.finish().unwrap();
    assert_eq!(
        stats.rejected,
        0,
        "{}: rejected rows: {:?}",
        path.display(),
        dead.items.lock().unwrap().first()
    );
    Table {
        names,
        cols,
        stats,
        rows,
    }
}

/// Absolute tolerance of `k` standard deviations of a Poisson count with mean `mu`.
pub fn poisson_ok(observed: f64, mu: f64, k: f64) -> bool {
    (observed - mu).abs() <= k * mu.sqrt().max(1.0)
}

/// Great-circle distance in km.
pub fn km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let a = ((p2 - p1) / 2.0).sin().powi(2)
        + p1.cos() * p2.cos() * ((lon2 - lon1).to_radians() / 2.0).sin().powi(2);
    2.0 * 6_371.0 * a.sqrt().asin()
}
