//! Reading texts from CSV (plain or `.gz`): every column as text, RFC 4180 quoting with line
//! breaks inside quoted fields.
//!
//! Why not `riskstream-io`'s reader: it is built for event files and reads one record per
//! line (its fast path), so a quoted field with a line break is rejected as bad quoting.
//! Complaint narratives are letters: 2,071 of the 4,393 CFPB narratives contain line breaks.
//! Here the `csv` crate parses whole records; Parquet and NDJSON inputs still go through
//! `riskstream-io` in the command line.
//!
//! Bad input: a field with bytes that are not UTF-8 is kept, each invalid sequence read as a
//! space, and the row is counted in [`TextTable::invalid_utf8_rows`]; a record with a
//! different number of fields than the header is an error naming its line; a gzip stream
//! that ends early is an error naming the file.

use crate::error::{Result, TextError};
use std::io::Read;
use std::path::{Path, PathBuf};

/// A CSV file as text columns.
#[derive(Debug, Clone)]
pub struct TextTable {
    /// The file.
    pub path: PathBuf,
    /// Column names in file order.
    pub names: Vec<String>,
    /// Columns (all text; an empty field is "").
    pub columns: Vec<Vec<String>>,
    /// Records read (the header excluded).
    pub rows: usize,
    /// Records with at least one field that was not valid UTF-8.
    pub invalid_utf8_rows: usize,
}

impl TextTable {
    /// A column by name; the error names the flag that asked, the file and its columns.
    pub fn column(&self, name: &str, flag: &str) -> Result<&[String]> {
        match self.names.iter().position(|n| n == name) {
            Some(i) => Ok(&self.columns[i]),
            None => Err(TextError::Data {
                what: flag.to_string(),
                reason: format!(
                    "{} has no column `{name}`; its columns are {}",
                    self.path.display(),
                    self.names.join(", ")
                ),
            }),
        }
    }
}

/// Whether a path names a CSV file this module reads (`.csv`, `.tsv`, `.txt`, optionally `.gz`).
pub fn is_csv(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    [".csv", ".tsv", ".txt"].iter().any(|e| name.ends_with(e))
}

fn decode(bytes: &[u8], bad: &mut bool) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => {
            *bad = true;
            let mut s = String::with_capacity(bytes.len());
            for chunk in bytes.utf8_chunks() {
                s.push_str(chunk.valid());
                if !chunk.invalid().is_empty() {
                    s.push(' ');
                }
            }
            s
        }
    }
}

/// Reads a whole CSV file; `delimiter` defaults to tab for `.tsv` names and `,` otherwise.
pub fn read_csv(path: &Path, delimiter: Option<u8>) -> Result<TextTable> {
    let io = |source: std::io::Error| TextError::Io {
        path: path.display().to_string(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let gz = path.extension().is_some_and(|e| e == "gz");
    let input: Box<dyn Read> = if gz {
        Box::new(flate2::read::MultiGzDecoder::new(std::io::BufReader::new(
            file,
        )))
    } else {
        Box::new(file)
    };
    let name = path.to_string_lossy().to_lowercase();
    let d = delimiter.unwrap_or(if name.contains(".tsv") { b'\t' } else { b',' });
    let mut r = csv::ReaderBuilder::new()
        .delimiter(d)
        .has_headers(true)
        .flexible(false)
        .from_reader(input);
    let bad = |e: csv::Error| -> TextError {
        let line = e.position().map(|p| p.line()).unwrap_or(0);
        match e.into_kind() {
            csv::ErrorKind::Io(source) => io(source),
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => TextError::Data {
                what: path.display().to_string(),
                reason: format!(
                    "the record starting on line {line} has {len} fields, the header {expected_len}; check its quoting (a `\"` inside a quoted field is written `\"\"`)"
                ),
            },
            other => TextError::Data {
                what: path.display().to_string(),
                reason: format!("line {line}: {other:?}"),
            },
        }
    };
    let mut any_bad = false;
    let names: Vec<String> = r
        .byte_headers()
        .map_err(bad)?
        .iter()
        .map(|h| decode(h, &mut any_bad))
        .collect();
    let mut columns: Vec<Vec<String>> = vec![Vec::new(); names.len()];
    let mut rows = 0;
    let mut invalid_utf8_rows = 0;
    let mut rec = csv::ByteRecord::new();
    while r.read_byte_record(&mut rec).map_err(bad)? {
        let mut row_bad = false;
        for (c, f) in columns.iter_mut().zip(rec.iter()) {
            c.push(decode(f, &mut row_bad));
        }
        invalid_utf8_rows += usize::from(row_bad);
        rows += 1;
    }
    Ok(TextTable {
        path: path.to_path_buf(),
        names,
        columns,
        rows,
        invalid_utf8_rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_line_breaks_invalid_bytes_and_ragged_rows() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.csv");
        std::fs::write(
            &p,
            b"id,narrative,product\n1,\"line one\nline two, with \"\"quotes\"\"\",Debt\n2,bad \xff byte,Mortgage\n",
        )
        .unwrap();
        let t = read_csv(&p, None).unwrap();
        assert_eq!(t.rows, 2);
        assert_eq!(
            t.column("narrative", "--text-col").unwrap()[0],
            "line one\nline two, with \"quotes\""
        );
        assert_eq!(t.column("narrative", "x").unwrap()[1], "bad   byte");
        assert_eq!(t.invalid_utf8_rows, 1);
        let e = t.column("text", "--text-col").unwrap_err().to_string();
        assert!(
            e.contains("no column `text`") && e.contains("narrative"),
            "{e}"
        );
        std::fs::write(&p, b"a,b\n1,2\n3\n").unwrap();
        let e = read_csv(&p, None).unwrap_err().to_string();
        assert!(e.contains("line 3"), "{e}");
        assert!(is_csv(Path::new("x/complaints.csv.gz")) && !is_csv(Path::new("x.parquet")));
    }
}
