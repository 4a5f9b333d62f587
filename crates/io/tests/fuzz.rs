//! Property-based fuzzing of the text decoders: arbitrary bytes never panic, and every line
//! is accounted for as accepted or dead-lettered.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use proptest::prelude::*;
use riskstream_core::schema::builtin;
use riskstream_io::{EventReader, MemoryDeadLetters, ReadOptions};

fn run(name: &str, bytes: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    let schema = builtin("fraud-handbook-raw").unwrap();
    let Ok(mut r) = EventReader::open(
        &p,
        &schema,
        &ReadOptions {
            batch_rows: 7,
            ..Default::default()
        },
        Box::new(MemoryDeadLetters::default()),
    ) else {
        return; // a clear file-level error (e.g. bad header) is fine
    };
    let mut accepted = 0u64;
    for b in &mut r {
        accepted += b.map(|b| b.num_rows() as u64).unwrap_or(0);
    }
    let s = r.finish().unwrap();
    assert_eq!(s.accepted, accepted);
    assert_eq!(s.rows_read, s.accepted + s.rejected);
}

const HEADER: &str = "TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_AMOUNT,TX_TIME_SECONDS,TX_TIME_DAYS,TX_FRAUD,TX_FRAUD_SCENARIO\n";

fn line_like() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..80),
        "[0-9,.\" \\-:a-z\r]{0,60}".prop_map(|s| s.into_bytes()),
        Just(b"1,2018-04-01 00:00:31,596,3156,57.16,31,0,0,0".to_vec()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn csv_decoder_never_panics(lines in proptest::collection::vec(line_like(), 0..20)) {
        let mut bytes = HEADER.as_bytes().to_vec();
        for l in &lines { bytes.extend_from_slice(l); bytes.push(b'\n'); }
        run("f.csv", &bytes);
    }

    #[test]
    fn raw_bytes_as_csv_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        run("g.csv", &bytes);
    }

    #[test]
    fn ndjson_decoder_never_panics(lines in proptest::collection::vec(prop_oneof![
        line_like(),
        "\\{\"TRANSACTION_ID\":[0-9]{1,3},\"TX_DATETIME\":\"2018-04-0[1-9] 00:00:00\",\"CUSTOMER_ID\":[0-9\\-]{1,3}(,\"TX_AMOUNT\":[0-9.e\\-]{1,6})?\\}".prop_map(|s| s.into_bytes()),
    ], 0..20)) {
        let mut bytes = Vec::new();
        for l in &lines { bytes.extend_from_slice(l); bytes.push(b'\n'); }
        run("f.ndjson", &bytes);
    }

    #[test]
    fn gzip_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut b = vec![0x1f, 0x8b];
        b.extend(bytes);
        run("h.csv.gz", &b);
    }
}
