//! File formats and how they are told apart.

use crate::error::{IoError, Result};
use std::path::Path;

/// A data file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Delimited text with a header row.
    Csv,
    /// Apache Parquet.
    Parquet,
    /// One JSON object per line.
    Ndjson,
}

impl Format {
    /// Parses `csv`, `parquet` or `ndjson`.
    pub fn from_name(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "csv" | "tsv" => Some(Self::Csv),
            "parquet" | "pq" => Some(Self::Parquet),
            "ndjson" | "jsonl" | "json" => Some(Self::Ndjson),
            _ => None,
        }
    }

    /// The canonical name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Parquet => "parquet",
            Self::Ndjson => "ndjson",
        }
    }

    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        self.name()
    }
}

/// A format plus whether the bytes are gzip-compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileFormat {
    /// The format.
    pub format: Format,
    /// Text formats may be gzip-compressed (`.gz`).
    pub gzip: bool,
    /// Field delimiter for CSV (`,` by default, tab for `.tsv`).
    pub delimiter: u8,
}

impl FileFormat {
    /// Tells the format from the file name (`x.csv`, `x.csv.gz`, `x.tsv`, `x.parquet`, `x.ndjson`, `x.jsonl.gz`).
    pub fn from_path(path: &Path) -> Result<Self> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let (stem, gzip) = match name.strip_suffix(".gz") {
            Some(s) => (s.to_string(), true),
            None => (name.clone(), false),
        };
        let ext = stem.rsplit('.').next().unwrap_or_default();
        let format = if stem.contains('.') {
            Format::from_name(ext)
        } else {
            None
        };
        let format = format.ok_or_else(|| IoError::UnknownFormat {
            path: path.to_path_buf(),
        })?;
        if gzip && format == Format::Parquet {
            return Err(IoError::Layout {
                path: path.to_path_buf(),
                message: "gzip around Parquet is not supported".into(),
                hint: Some("Parquet compresses its own pages; write a plain .parquet file".into()),
            });
        }
        Ok(Self {
            format,
            gzip,
            delimiter: if ext == "tsv" { b'\t' } else { b',' },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_formats_apart() {
        let f = |p: &str| FileFormat::from_path(Path::new(p));
        assert_eq!(
            f("a/b.csv.gz").unwrap(),
            FileFormat {
                format: Format::Csv,
                gzip: true,
                delimiter: b','
            }
        );
        assert_eq!(f("b.tsv").unwrap().delimiter, b'\t');
        assert_eq!(f("b.parquet").unwrap().format, Format::Parquet);
        assert_eq!(
            f("b.jsonl.gz").unwrap(),
            FileFormat {
                format: Format::Ndjson,
                gzip: true,
                delimiter: b','
            }
        );
        assert!(f("b.txt").is_err());
        assert!(f("csv").is_err());
        assert!(f("b.parquet.gz").is_err());
    }
}
