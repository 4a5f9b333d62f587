//! Golden tests on the fraud handbook's raw file (Le Borgne et al.): our reader must see
//! exactly the rows and frauds the authors publish, and a corrupted copy must account for
//! every line as accepted or dead-lettered.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::Array;
use flate2::read::MultiGzDecoder;
use riskstream_core::schema::builtin;
use riskstream_io::{EventReader, MemoryDeadLetters, ReadOptions, Reason};
use std::io::{Read, Write};

#[test]
fn raw_file_has_the_published_row_and_fraud_counts() {
    let Some(path) = common::handbook_raw() else {
        return;
    };
    let schema = builtin("fraud-handbook-raw").unwrap();
    let fraud_col = schema.index_of("TX_FRAUD").unwrap();
    let mut r = EventReader::open(
        &path,
        &schema,
        &ReadOptions::default(),
        Box::new(MemoryDeadLetters::default()),
    )
    .unwrap();
    let (mut rows, mut frauds) = (0u64, 0i64);
    for b in &mut r {
        let b = b.unwrap();
        rows += b.num_rows() as u64;
        let f = b.column(fraud_col).as_primitive::<Int64Type>();
        frauds += f.iter().flatten().sum::<i64>();
        assert_eq!(f.null_count(), 0);
    }
    let stats = r.finish().unwrap();
    assert_eq!(rows, 1_754_155);
    assert_eq!(frauds, 14_681);
    assert_eq!(
        (stats.rows_read, stats.rejected),
        (1_754_155, 0),
        "{stats:?}"
    );
}

#[test]
fn corrupted_copy_accounts_for_every_line() {
    let Some(path) = common::handbook_raw() else {
        return;
    };
    let mut text = Vec::new();
    MultiGzDecoder::new(std::fs::File::open(&path).unwrap())
        .read_to_end(&mut text)
        .unwrap();
    let mut lines: Vec<Vec<u8>> = text.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
    if lines.last().is_some_and(Vec::is_empty) {
        lines.pop();
    }
    // Physical line numbers (1-based; line 1 is the header) and what we do to them.
    let damage: Vec<(usize, Reason)> = vec![
        (11, Reason::BadFloat),             // amount "57.1x6"
        (1_001, Reason::BadInt),            // customer id "12a"
        (20_002, Reason::WrongFieldCount),  // a field dropped
        (300_003, Reason::BadQuoting),      // an unterminated quote
        (400_004, Reason::WrongFieldCount), // an extra column
        (500_005, Reason::InvalidUtf8),     // a 0xFF byte in the terminal id
        (600_006, Reason::BadTimestamp),    // 2018-13-01
        (700_007, Reason::MissingField),    // empty amount
        (800_008, Reason::Duplicate),       // repeats the previous line's id
        (900_009, Reason::OutOfRange),      // TX_FRAUD = 7
    ];
    for &(ln, reason) in &damage {
        let i = ln - 1;
        let mut f: Vec<Vec<u8>> = lines[i].split(|b| *b == b',').map(<[u8]>::to_vec).collect();
        match reason {
            Reason::BadFloat => f[4] = b"57.1x6".to_vec(),
            Reason::BadInt => f[2] = b"12a".to_vec(),
            Reason::WrongFieldCount if ln == 20_002 => {
                f.remove(3);
            }
            Reason::WrongFieldCount => f.push(b"extra".to_vec()),
            Reason::BadQuoting => f[1].insert(0, b'"'),
            Reason::InvalidUtf8 => f[3].push(0xFF),
            Reason::BadTimestamp => f[1] = b"2018-13-01 00:00:00".to_vec(),
            Reason::MissingField => f[4].clear(),
            Reason::Duplicate => f[0] = lines[i - 1].split(|b| *b == b',').next().unwrap().to_vec(),
            Reason::OutOfRange => f[7] = b"7".to_vec(),
            _ => unreachable!(),
        }
        lines[i] = f.join(&b',');
    }
    let mut body = Vec::new();
    for l in &lines {
        body.extend_from_slice(l);
        body.push(b'\n');
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&body).unwrap();
    let mut gz = gz.finish().unwrap();
    // Truncate the gzip stream: the tail of the file is lost mid-line.
    gz.truncate(gz.len() * 97 / 100);
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("corrupted.csv.gz");
    std::fs::write(&bad, &gz).unwrap();

    // Independently count the lines that can be read from the truncated stream.
    let mut readable = Vec::new();
    let _ = MultiGzDecoder::new(&gz[..]).read_to_end(&mut readable);
    let newlines = readable.iter().filter(|b| **b == b'\n').count() as u64;
    let partial = u64::from(readable.last().is_some_and(|b| *b != b'\n'));
    let data_lines = newlines + partial - 1; // minus the header

    let schema = builtin("fraud-handbook-raw").unwrap();
    let dead = MemoryDeadLetters::default();
    let items = dead.items.clone();
    let mut r = EventReader::open(&bad, &schema, &ReadOptions::default(), Box::new(dead)).unwrap();
    let accepted: u64 = (&mut r).map(|b| b.unwrap().num_rows() as u64).sum();
    let stats = r.finish().unwrap();
    let rej = items.lock().unwrap().clone();

    assert_eq!(stats.rows_read, data_lines, "{stats:?}");
    assert_eq!(accepted + stats.rejected, stats.rows_read);
    assert_eq!(accepted, stats.accepted);
    assert!(
        stats
            .input_error
            .as_deref()
            .is_some_and(|e| e.contains("ended early")),
        "{stats:?}"
    );
    assert!(
        stats.rows_read < lines.len() as u64 - 1,
        "the truncation must cut rows off"
    );
    for &(ln, reason) in &damage {
        let r = rej
            .iter()
            .find(|r| r.line == ln as u64)
            .unwrap_or_else(|| panic!("line {ln} not dead-lettered; got {rej:#?}"));
        assert_eq!(r.reason, reason, "line {ln}: {r:?}");
        assert!(!r.detail.is_empty() && !r.raw.is_empty());
    }
    // The cut-off last line, if partial, is dead-lettered as truncated input.
    assert_eq!(
        rej.len() as u64,
        damage.len() as u64 + partial,
        "{:#?}",
        &rej[damage.len().min(rej.len())..]
    );
    if partial == 1 {
        assert_eq!(rej.last().unwrap().reason, Reason::TruncatedInput);
    }
}
