//! Loading a labelled stream from CSV (plain or gzip) into dense rows.
//!
//! The evaluator wants the whole stream in memory before the timed loop starts (the
//! comparison with river times predict+learn only), so this reader is a simple, fast
//! line splitter rather than a full data-validation pipeline: the `io` crate's readers
//! are the place for schemas and dead-letter files. It still never panics on bad input:
//! a row whose feature or label does not parse is skipped and counted, with the first
//! few reasons kept for the report, and a file with no usable row is an error.
//!
//! Quoted fields are understood (a field may be wrapped in `"`; a doubled `""` inside is
//! a quote), but not newlines inside quotes. gzip is detected by its magic bytes.

use crate::error::{OnlineError, Result};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::time::Instant;

/// Which columns to read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LoadOptions {
    /// The label column (0/1, true/false, or a number: non-zero is positive).
    pub label: String,
    /// Feature columns in order; `None` takes every column except the label, the time
    /// column and `exclude`.
    pub features: Option<Vec<String>>,
    /// Columns left out when `features` is `None`.
    pub exclude: Vec<String>,
    /// Event-time column: unix seconds (a number) or ISO-8601 text.
    pub time_col: Option<String>,
    /// Read at most this many data rows.
    pub limit: Option<usize>,
    /// Field delimiter.
    pub delimiter: u8,
}

/// A labelled stream in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Feature names, in row order.
    pub feature_names: Vec<String>,
    /// `rows × feature_names.len()` values, row-major.
    pub x: Vec<f64>,
    /// Labels.
    pub y: Vec<bool>,
    /// Event times in microseconds, when a time column was given.
    pub time: Option<Vec<i64>>,
    /// Data rows skipped because a value did not parse.
    pub skipped: u64,
    /// The first reasons for skipping, with line numbers.
    pub skip_examples: Vec<String>,
    /// Seconds spent reading and parsing.
    pub parse_seconds: f64,
}

impl Dataset {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.y.len()
    }
    /// Number of features.
    pub fn width(&self) -> usize {
        self.feature_names.len()
    }
    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f64] {
        let w = self.width();
        &self.x[i * w..(i + 1) * w]
    }
    /// The stream view the evaluator reads.
    pub fn stream(&self) -> crate::progressive::Stream<'_> {
        crate::progressive::Stream {
            x: &self.x,
            width: self.width(),
            y: &self.y,
            time: self.time.as_deref(),
        }
    }
}

/// Opens a file, decompressing gzip when its first bytes say so.
pub fn open(path: &Path) -> Result<Box<dyn BufRead>> {
    let io = |source| OnlineError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut magic = [0u8; 2];
    let n = f.read(&mut magic).map_err(io)?;
    let f = std::fs::File::open(path).map_err(io)?;
    if n == 2 && magic == [0x1f, 0x8b] {
        Ok(Box::new(BufReader::with_capacity(
            1 << 20,
            flate2::read::MultiGzDecoder::new(f),
        )))
    } else {
        Ok(Box::new(BufReader::with_capacity(1 << 20, f)))
    }
}

/// Splits one line into fields (quote-aware only when the line has a quote).
fn split<'a>(line: &'a str, delim: u8, out: &mut Vec<std::borrow::Cow<'a, str>>) {
    out.clear();
    if !line.contains('"') {
        out.extend(
            line.split(char::from(delim))
                .map(std::borrow::Cow::Borrowed),
        );
        return;
    }
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    field.push('"');
                    chars.next();
                } else {
                    quoted = false;
                }
            } else {
                field.push(c);
            }
        } else if c == '"' {
            quoted = true;
        } else if c == char::from(delim) {
            out.push(std::borrow::Cow::Owned(std::mem::take(&mut field)));
        } else {
            field.push(c);
        }
    }
    out.push(std::borrow::Cow::Owned(field));
}

fn did_you_mean(name: &str, names: &[String]) -> String {
    let lower = name.to_ascii_lowercase();
    names
        .iter()
        .find(|n| n.to_ascii_lowercase() == lower)
        .or_else(|| {
            names.iter().find(|n| {
                n.to_ascii_lowercase().contains(&lower) || lower.contains(&n.to_ascii_lowercase())
            })
        })
        .map(|n| format!("; did you mean `{n}`?"))
        .unwrap_or_default()
}

fn parse_label(s: &str) -> Option<bool> {
    let t = s.trim();
    match t {
        "1" => Some(true),
        "0" => Some(false),
        _ if t.eq_ignore_ascii_case("true") => Some(true),
        _ if t.eq_ignore_ascii_case("false") => Some(false),
        _ => t
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .map(|v| v != 0.0),
    }
}

/// Parses an event time: a number is unix seconds, anything else ISO-8601.
pub fn parse_time(s: &str) -> std::result::Result<i64, String> {
    let t = s.trim();
    if let Ok(v) = t.parse::<i64>() {
        return v
            .checked_mul(riskstream_core::time::MICROS_PER_SEC)
            .ok_or_else(|| format!("`{t}` is out of range as unix seconds"));
    }
    if let Ok(v) = t.parse::<f64>() {
        if v.is_finite() && v.abs() < 9.0e12 {
            return Ok((v * 1e6).round() as i64);
        }
        return Err(format!("`{t}` is out of range as unix seconds"));
    }
    riskstream_core::time::parse_iso8601(t).map_err(|e| format!("`{t}`: {e}"))
}

/// Reads `path` into a [`Dataset`].
pub fn load_csv(path: &Path, o: &LoadOptions) -> Result<Dataset> {
    let started = Instant::now();
    let shown = path.display().to_string();
    let io = |source| OnlineError::Io {
        path: shown.clone(),
        source,
    };
    let mut r = open(path)?;
    let mut line = String::new();
    if r.read_line(&mut line).map_err(io)? == 0 {
        return Err(OnlineError::Data {
            path: shown,
            detail: "the file is empty (no header line)".into(),
        });
    }
    let header: Vec<String> = {
        let header_line = line
            .trim_end_matches(['\n', '\r'])
            .trim_start_matches('\u{feff}');
        let mut fields = Vec::new();
        split(header_line, o.delimiter, &mut fields);
        fields.iter().map(|f| f.trim().to_string()).collect()
    };
    let find = |name: &str| -> Result<usize> {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| OnlineError::UnknownColumn {
                path: shown.clone(),
                name: name.to_string(),
                hint: did_you_mean(name, &header),
                available: header.join(", "),
            })
    };
    let label_i = find(&o.label)?;
    let time_i = o.time_col.as_deref().map(find).transpose()?;
    let (feat_i, explicit) = match &o.features {
        Some(list) => {
            let mut v = Vec::with_capacity(list.len());
            for f in list {
                let i = find(f)?;
                if i == label_i {
                    return Err(OnlineError::Data {
                        path: shown,
                        detail: format!("the label `{f}` cannot also be a feature"),
                    });
                }
                v.push(i);
            }
            (v, true)
        }
        None => {
            for e in &o.exclude {
                find(e)?;
            }
            let v: Vec<usize> = (0..header.len())
                .filter(|&i| {
                    i != label_i && Some(i) != time_i && !o.exclude.iter().any(|e| *e == header[i])
                })
                .collect();
            (v, false)
        }
    };
    if feat_i.is_empty() {
        return Err(OnlineError::Data {
            path: shown,
            detail: "no feature columns are left (check --features / --exclude)".into(),
        });
    }
    let feature_names: Vec<String> = feat_i.iter().map(|&i| header[i].clone()).collect();
    let width = feat_i.len();
    let mut x = Vec::new();
    let mut y = Vec::new();
    let mut time = time_i.map(|_| Vec::new());
    let mut skipped = 0u64;
    let mut examples = Vec::new();
    let mut row = vec![0.0f64; width];
    let mut line_no = 1u64;
    let mut first_checked = explicit;
    loop {
        line.clear();
        if r.read_line(&mut line).map_err(io)? == 0 {
            break;
        }
        line_no += 1;
        let l = line.trim_end_matches(['\n', '\r']);
        if l.is_empty() {
            continue;
        }
        if o.limit.is_some_and(|m| y.len() >= m) {
            break;
        }
        let mut fields = Vec::with_capacity(header.len());
        split(l, o.delimiter, &mut fields);
        let mut skip = |why: String| {
            skipped += 1;
            if examples.len() < 5 {
                examples.push(format!("line {line_no}: {why}"));
            }
        };
        if fields.len() != header.len() {
            skip(format!(
                "{} fields, the header has {}",
                fields.len(),
                header.len()
            ));
            continue;
        }
        if !first_checked {
            // Default feature selection: a text column would make every row fail, so say
            // which one it is instead of skipping the whole file row by row.
            first_checked = true;
            if let Some(&i) = feat_i.iter().find(|&&i| {
                fields[i].trim().parse::<f64>().is_err() && !fields[i].trim().is_empty()
            }) {
                return Err(OnlineError::Data {
                    path: shown,
                    detail: format!(
                        "column `{}` is not numeric (first value `{}`); leave it out with --exclude {} or list the features with --features",
                        header[i],
                        fields[i].trim(),
                        header[i]
                    ),
                });
            }
        }
        let Some(label) = parse_label(&fields[label_i]) else {
            skip(format!("label `{}` is not 0/1", fields[label_i].trim()));
            continue;
        };
        let mut bad = None;
        for (slot, &i) in row.iter_mut().zip(&feat_i) {
            match fields[i].trim().parse::<f64>() {
                Ok(v) if v.is_finite() => *slot = v,
                _ => {
                    bad = Some(i);
                    break;
                }
            }
        }
        if let Some(i) = bad {
            skip(format!(
                "`{}` = `{}` is not a finite number",
                header[i],
                fields[i].trim()
            ));
            continue;
        }
        if let (Some(ti), Some(tv)) = (time_i, time.as_mut()) {
            match parse_time(&fields[ti]) {
                Ok(t) => tv.push(t),
                Err(e) => {
                    skip(format!("time `{}`: {e}", header[ti]));
                    continue;
                }
            }
        }
        x.extend_from_slice(&row);
        y.push(label);
    }
    if y.is_empty() {
        return Err(OnlineError::Data {
            path: shown,
            detail: if skipped > 0 {
                format!(
                    "no usable rows: all {skipped} were skipped ({})",
                    examples.join("; ")
                )
            } else {
                "no data rows after the header".into()
            },
        });
    }
    Ok(Dataset {
        feature_names,
        x,
        y,
        time,
        skipped,
        skip_examples: examples,
        parse_seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    fn opts(label: &str) -> LoadOptions {
        LoadOptions {
            label: label.into(),
            delimiter: b',',
            ..Default::default()
        }
    }

    #[test]
    fn reads_rows_skips_bad_ones_and_parses_time() {
        let f = write("id,ts,a,\"b\",y\n1,2018-06-11 00:00:01,1.5,2,1\n2,2018-06-11 00:00:02,x,3,0\n3,1528675203,\"4\",5,0\n");
        let o = LoadOptions {
            features: Some(vec!["a".into(), "b".into()]),
            time_col: Some("ts".into()),
            ..opts("y")
        };
        let d = load_csv(f.path(), &o).unwrap();
        assert_eq!(d.rows(), 2);
        assert_eq!(d.row(1), &[4.0, 5.0]);
        assert_eq!(d.y, vec![true, false]);
        assert_eq!(d.skipped, 1);
        assert!(
            d.skip_examples[0].contains("line 3"),
            "{:?}",
            d.skip_examples
        );
        let t = d.time.unwrap();
        assert_eq!(t[1] - t[0], 2_000_000);
    }

    #[test]
    fn default_selection_and_helpful_errors() {
        let f = write("id,when,a,y\n1,monday,1,1\n");
        let e = load_csv(f.path(), &opts("y")).unwrap_err().to_string();
        assert!(e.contains("`when` is not numeric"), "{e}");
        let o = LoadOptions {
            exclude: vec!["when".into()],
            ..opts("y")
        };
        let d = load_csv(f.path(), &o).unwrap();
        assert_eq!(d.feature_names, vec!["id", "a"]);
        let e = load_csv(f.path(), &opts("Y")).unwrap_err().to_string();
        assert!(e.contains("did you mean `y`"), "{e}");
        let empty = write("");
        assert!(load_csv(empty.path(), &opts("y")).is_err());
    }

    #[test]
    fn gzip_is_detected() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"a,y\n1,0\n2,1\n").unwrap();
        let bytes = gz.finish().unwrap();
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&bytes).unwrap();
        let d = load_csv(f.path(), &opts("y")).unwrap();
        assert_eq!(d.x, vec![1.0, 2.0]);
    }
}
