//! Reader behaviour on small, hand-made inputs: every row accounted for, every rejection
//! with its line, field and reason.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

use arrow_array::Array;
use riskstream_core::Schema;
use riskstream_io::{
    BatchWriter, EventReader, MemoryDeadLetters, ReadOptions, ReadStats, Reason, Rejection,
    WriteOptions,
};
use std::io::Write;
use std::path::Path;

const SCHEMA: &str = r#"
name = "t"
id = "id"
event_time = "ts"
entities = ["cust"]
labels = ["fraud"]

[[field]]
name = "id"
type = "int"
unique = true

[[field]]
name = "ts"
type = "timestamp"

[[field]]
name = "cust"
type = "string"

[[field]]
name = "amount"
type = "float"
min = 0

[[field]]
name = "kind"
type = "category"
values = ["pos", "ecom"]

[[field]]
name = "fraud"
type = "bool"
required = false
"#;

fn schema() -> Schema {
    Schema::from_toml_str(SCHEMA, "t").unwrap()
}

fn read(
    path: &Path,
    opts: &ReadOptions,
) -> (Vec<arrow_array::RecordBatch>, ReadStats, Vec<Rejection>) {
    let dead = MemoryDeadLetters::default();
    let items = dead.items.clone();
    let mut r = EventReader::open(path, &schema(), opts, Box::new(dead)).unwrap();
    let batches: Vec<_> = (&mut r).map(|b| b.unwrap()).collect();
    let stats = r.finish().unwrap();
    let rej = items.lock().unwrap().clone();
    assert_eq!(
        stats.rows_read,
        stats.accepted + stats.rejected,
        "{stats:?}"
    );
    assert_eq!(stats.rejected as usize, rej.len());
    assert_eq!(
        batches.iter().map(|b| b.num_rows() as u64).sum::<u64>(),
        stats.accepted
    );
    (batches, stats, rej)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn csv_rows_are_accepted_or_dead_lettered_with_line_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let text = b"id,ts,cust,amount,kind,fraud\n\
1,2024-01-01 00:00:00,c1,10.5,pos,0\n\
2,2024-01-01 00:00:01,c2,abc,pos,0\n\
3,2024-01-01 00:00:02,c3,1.0,atm,0\n\
4,2024-01-01 00:00:03,c4,-1,pos,\n\
5,not-a-time,c5,1,pos,1\n\
1,2024-01-01 00:00:05,c6,1,pos,1\n\
7,2024-01-01 00:00:06,,1,pos,1\n\
8,2024-01-01 00:00:07,c8,1,pos\n\
9,2024-01-01 00:00:08,\"c9,1,pos,1\n\
10,2024-01-01 00:00:09,c\xff,1,pos,1\n\
\n\
12,2024-01-01 00:00:11,\"c,12\",2,ecom,yes\r\n\
13,2024-01-01 00:00:12,c13,2,ecom,maybe\n\
14,2024-01-01T00:00:13Z,c14,3,ecom,false";
    let p = write(dir.path(), "t.csv", text);
    let (batches, stats, rej) = read(&p, &ReadOptions::default());
    assert_eq!(stats.rows_read, 14);
    assert_eq!(stats.accepted, 3);
    let got: Vec<(u64, Option<&str>, Reason)> = rej
        .iter()
        .map(|r| (r.line, r.field.as_deref(), r.reason))
        .collect();
    assert_eq!(
        got,
        vec![
            (3, Some("amount"), Reason::BadFloat),
            (4, Some("kind"), Reason::UnknownCategory),
            (5, Some("amount"), Reason::OutOfRange),
            (6, Some("ts"), Reason::BadTimestamp),
            (7, Some("id"), Reason::Duplicate),
            (8, Some("cust"), Reason::MissingField),
            (9, None, Reason::WrongFieldCount),
            (10, None, Reason::BadQuoting),
            (11, Some("cust"), Reason::InvalidUtf8),
            (12, None, Reason::EmptyLine),
            (14, Some("fraud"), Reason::BadBool),
        ]
    );
    // Original text kept, and exact bytes when not UTF-8.
    assert_eq!(rej[0].raw, b"2,2024-01-01 00:00:01,c2,abc,pos,0");
    assert!(rej[8].raw.contains(&0xff));
    assert!(rej[0].detail.contains("`abc`"));
    assert_eq!(stats.by_reason["bad_float"], 1);
    // The quoted field with a delimiter inside and the CRLF line were read correctly.
    let b = arrow_select::concat::concat_batches(&batches[0].schema(), &batches).unwrap();
    let cust = b
        .column(2)
        .as_any()
        .downcast_ref::<arrow_array::StringArray>()
        .unwrap();
    assert_eq!(cust.value(1), "c,12");
    let fraud = b
        .column(5)
        .as_any()
        .downcast_ref::<arrow_array::BooleanArray>()
        .unwrap();
    assert!(fraud.value(1));
    assert!(fraud.is_null(0) || !fraud.value(0));
}

#[test]
fn gzip_and_semicolon_delimiter_and_reordered_columns() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.csv.gz");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&p).unwrap(),
        flate2::Compression::default(),
    );
    gz.write_all(b"extra;kind;amount;cust;ts;id\nx;pos;1.5;c1;2024-01-01 00:00:00;1\ny;ecom;2;c2;2024-01-01 00:00:00;2\n").unwrap();
    gz.finish().unwrap();
    // Without the delimiter the reader says what to do.
    let err = EventReader::open(
        &p,
        &schema(),
        &ReadOptions::default(),
        Box::new(MemoryDeadLetters::default()),
    )
    .unwrap_err();
    assert!(err.to_string().contains("--delimiter ';'"), "{err}");
    let opts = ReadOptions {
        delimiter: Some(b';'),
        ..Default::default()
    };
    let (_, stats, rej) = read(&p, &opts);
    assert_eq!((stats.accepted, stats.rejected), (2, 0), "{rej:?}");
    assert_eq!(stats.ignored_columns, vec!["extra".to_string()]);
}

#[test]
fn missing_required_column_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "t.csv",
        b"id,ts,customer,amount,kind\n1,2024-01-01,c,1,pos\n",
    );
    let err = EventReader::open(
        &p,
        &schema(),
        &ReadOptions::default(),
        Box::new(MemoryDeadLetters::default()),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("`cust`") && msg.contains("did you mean `customer`"),
        "{msg}"
    );
    assert_eq!(
        riskstream_core::Classify::class(&err),
        riskstream_core::ErrorClass::User
    );
    let empty = write(dir.path(), "e.csv", b"");
    let err = EventReader::open(
        &empty,
        &schema(),
        &ReadOptions::default(),
        Box::new(MemoryDeadLetters::default()),
    )
    .unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
}

#[test]
fn ndjson_rows_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let text =
        br#"{"id":1,"ts":"2024-01-01 00:00:00","cust":"a","amount":1,"kind":"pos","fraud":true}
{"id":2,"ts":"2024-01-01 00:00:00","cust":"a","amount":"1x","kind":"pos"}
{"id":3,"ts":"2024-01-01 00:00:00","cust":"a","amount":1,"kind":"pos"
[1,2]
{"id":4,"ts":"2024-01-01 00:00:00","cust":["a"],"amount":1,"kind":"pos"}
{"id":5,"ts":"2024-01-01 00:00:00","cust":"a","amount":2.5,"kind":"ecom","colour":"red"}
{"id":6,"ts":"2024-01-01 00:00:00","amount":2.5,"kind":"ecom"}"#;
    let p = write(dir.path(), "t.ndjson", text);
    let (_, stats, rej) = read(&p, &ReadOptions::default());
    assert_eq!((stats.rows_read, stats.accepted), (7, 2));
    let got: Vec<(u64, Reason)> = rej.iter().map(|r| (r.line, r.reason)).collect();
    assert_eq!(
        got,
        vec![
            (2, Reason::BadFloat),
            (3, Reason::BadJson),
            (4, Reason::BadJson),
            (5, Reason::WrongType),
            (7, Reason::MissingField)
        ]
    );
    let strict = ReadOptions {
        strict_columns: true,
        ..Default::default()
    };
    let (_, stats, rej) = read(&p, &strict);
    assert_eq!(stats.accepted, 1);
    assert!(rej
        .iter()
        .any(|r| r.line == 6 && r.reason == Reason::UnknownField));
}

#[test]
fn parquet_round_trip_and_validation() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(
        dir.path(),
        "t.csv",
        b"id,ts,cust,amount,kind,fraud\n1,2024-01-01 00:00:00,a,1,pos,0\n2,2024-01-01 00:00:01,b,2,ecom,1\n3,2024-01-01 00:00:02,c,3,ecom,\n",
    );
    let (batches, _, _) = read(&csv, &ReadOptions::default());
    for name in ["t.parquet", "t2.csv", "t3.ndjson.gz"] {
        let out = dir.path().join(name);
        let mut w =
            BatchWriter::create(&out, batches[0].schema(), &WriteOptions::default()).unwrap();
        for b in &batches {
            w.write(b).unwrap();
        }
        assert_eq!(w.finish().unwrap(), 3);
        let (back, stats, rej) = read(&out, &ReadOptions::default());
        assert_eq!((stats.accepted, stats.rejected), (3, 0), "{name}: {rej:?}");
        assert_eq!(back, batches, "{name} did not round-trip");
    }
    // Each column is encoded by its type: integers and timestamps as deltas, floats and
    // text with a dictionary (which a reader sees in the column chunk's encodings).
    let meta = parquet::file::reader::FileReader::metadata(
        &parquet::file::reader::SerializedFileReader::new(
            std::fs::File::open(dir.path().join("t.parquet")).unwrap(),
        )
        .unwrap(),
    )
    .clone();
    let rg = meta.row_group(0);
    let enc = |name: &str| {
        let c = (0..rg.num_columns())
            .map(|i| rg.column(i))
            .find(|c| c.column_path().string() == name)
            .unwrap();
        c.encodings().collect::<Vec<_>>()
    };
    use parquet::basic::Encoding;
    for (name, want) in [
        ("id", Encoding::DELTA_BINARY_PACKED),
        ("ts", Encoding::DELTA_BINARY_PACKED),
        ("amount", Encoding::RLE_DICTIONARY),
        ("cust", Encoding::RLE_DICTIONARY),
    ] {
        assert!(enc(name).contains(&want), "{name}: {:?}", enc(name));
    }
    // A stricter schema over the same Parquet file dead-letters by row number.
    let strict = schema().to_toml().replace(
        "name = \"amount\"\ntype = \"float\"\nmin = 0.0",
        "name = \"amount\"\ntype = \"float\"\nmin = 0.0\nmax = 2.0",
    );
    let s = Schema::from_toml_str(&strict, "s").unwrap();
    let dead = MemoryDeadLetters::default();
    let items = dead.items.clone();
    let mut r = EventReader::open(
        &dir.path().join("t.parquet"),
        &s,
        &ReadOptions::default(),
        Box::new(dead),
    )
    .unwrap();
    let n: usize = (&mut r).map(|b| b.unwrap().num_rows()).sum();
    let stats = r.finish().unwrap();
    assert_eq!((n, stats.rejected), (2, 1));
    let rej = items.lock().unwrap();
    assert_eq!((rej[0].line, rej[0].reason), (3, Reason::OutOfRange));
    assert!(String::from_utf8_lossy(&rej[0].raw).contains("\"amount\":3"));
}

#[test]
fn batches_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("id,ts,cust,amount,kind,fraud\n");
    for i in 0..1000 {
        text.push_str(&format!("{i},2024-01-01 00:00:00,c,1,pos,0\n"));
    }
    let p = write(dir.path(), "t.csv", text.as_bytes());
    let opts = ReadOptions {
        batch_rows: 64,
        ..Default::default()
    };
    let (batches, stats, _) = read(&p, &opts);
    assert_eq!(stats.accepted, 1000);
    assert!(batches.iter().all(|b| b.num_rows() <= 64));
    assert_eq!(batches.len(), 16);
}

/// Plain lines are cut at their delimiters in place, quoted ones (and ones with a carriage
/// return) go through csv-core: the same rows written both ways must read the same, and a
/// file of many lines crosses the input buffer's boundaries, where lines are copied.
#[test]
fn plain_and_quoted_lines_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let (mut plain, mut quoted) = (
        String::from("id,ts,cust,amount,kind,fraud\n"),
        String::from("\"id\",ts,cust,amount,kind,fraud\r\n"),
    );
    for i in 0..40_000u32 {
        let cust = format!("c{}", i % 97);
        let kind = if i % 3 == 0 { "pos" } else { "ecom" };
        let fraud = ["0", "1", ""][(i % 5 % 3) as usize];
        let (s, m) = (i % 60, i / 60 % 60);
        plain.push_str(&format!(
            "{i},2024-01-01 00:{m:02}:{s:02},{cust},{}.{:02},{kind},{fraud}\n",
            i % 500,
            i % 100
        ));
        // Every other row quoted and ended with CRLF, some rows only with CRLF.
        if i % 2 == 0 {
            quoted.push_str(&format!(
                "\"{i}\",\"2024-01-01 00:{m:02}:{s:02}\",\"{cust}\",{}.{:02},\"{kind}\",{fraud}\r\n",
                i % 500,
                i % 100
            ));
        } else {
            quoted.push_str(&format!(
                "{i},2024-01-01 00:{m:02}:{s:02},{cust},{}.{:02},{kind},{fraud}\r\n",
                i % 500,
                i % 100
            ));
        }
    }
    // A last line without its newline, and a bad row on each side.
    plain.push_str("40000,2024-01-01 01:00:00,c1,1.5,pos,1");
    quoted.push_str("40000,2024-01-01 01:00:00,c1,1.5,pos,1");
    let a = write(dir.path(), "plain.csv", plain.as_bytes());
    let b = write(dir.path(), "quoted.csv", quoted.as_bytes());
    let opts = ReadOptions::default();
    let (pa, sa, ra) = read(&a, &opts);
    let (pb, sb, rb) = read(&b, &opts);
    assert_eq!((sa.accepted, sa.rejected), (40_001, 0), "{ra:?}");
    assert_eq!(sa, sb, "{rb:?}");
    let cat = |v: &[arrow_array::RecordBatch]| {
        arrow_select::concat::concat_batches(&v[0].schema(), v).unwrap()
    };
    assert_eq!(cat(&pa), cat(&pb));
}
