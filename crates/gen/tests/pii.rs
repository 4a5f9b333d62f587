//! `pii`: the files get card numbers and contact details in clear (the bank's side), and
//! reading them with the shipped schemas gives tokens, masks and nulls; without `pii` the
//! columns are not written at all.

#![allow(clippy::unwrap_used)]

use arrow_array::cast::AsArray;
use arrow_array::Array;
use riskstream_core::pii::scan::find_pans;
use riskstream_core::pii::{Keys, Protector};
use riskstream_gen::{generate, GenConfig};
use riskstream_io::{EventReader, Format, MemoryDeadLetters, ReadOptions};
use std::sync::Arc;

fn column(
    path: &std::path::Path,
    file: &str,
    name: &str,
    p: &Arc<Protector>,
) -> Vec<Option<String>> {
    let schema = riskstream_gen::schemas::schema(file).unwrap();
    let i = schema.index_of(name).unwrap();
    let opts = ReadOptions {
        pii: Some(p.clone()),
        ..Default::default()
    };
    let dead = MemoryDeadLetters::default();
    let mut r = EventReader::open(path, &schema, &opts, Box::new(dead.clone())).unwrap();
    let mut out = Vec::new();
    for b in &mut r {
        let b = b.unwrap();
        let a = b.column(i).as_string::<i32>();
        out.extend((0..a.len()).map(|k| (!a.is_null(k)).then(|| a.value(k).to_string())));
    }
    assert_eq!(r.finish().unwrap().rejected, 0);
    out
}

#[test]
fn pii_columns_are_written_in_clear_and_read_treated() {
    let p = Arc::new(Protector::new(
        Keys::parse_inline(
            "k1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            "t",
        )
        .unwrap(),
    ));
    let dir = tempfile::tempdir().unwrap();
    let cfg = GenConfig {
        seed: 9,
        customers: 200,
        terminals: 100,
        days: 5,
        pii: true,
        ..GenConfig::default()
    };
    generate(&cfg, dir.path(), Format::Csv, false, &mut |_| {}).unwrap();
    let tx = dir.path().join("transactions.csv");
    let text = std::fs::read_to_string(&tx).unwrap();
    let rows = text.lines().count() - 1;
    assert_eq!(
        find_pans(text.as_bytes()).len(),
        rows,
        "one card number per row in clear"
    );
    let pans = column(&tx, "transactions", "card_pan", &p);
    assert_eq!(pans.len(), rows);
    assert!(pans
        .iter()
        .all(|t| t.as_deref().is_some_and(|t| t.starts_with("tok:k1:"))));

    let cu = dir.path().join("customers.csv");
    assert!(column(&cu, "customers", "name", &p)
        .iter()
        .all(Option::is_none));
    let emails = column(&cu, "customers", "email", &p);
    assert_eq!(emails.len(), 200);
    assert!(emails
        .iter()
        .all(|t| t.as_deref().is_some_and(|t| t.starts_with("tok:k1:"))));
    let phones = column(&cu, "customers", "phone", &p);
    assert!(
        phones.iter().all(|t| t
            .as_deref()
            .is_some_and(|t| t.starts_with("+") && t.contains("**"))),
        "{phones:?}"
    );

    // Without `pii`: no such columns, and the files read without any key.
    let plain = tempfile::tempdir().unwrap();
    generate(
        &GenConfig { pii: false, ..cfg },
        plain.path(),
        Format::Csv,
        false,
        &mut |_| {},
    )
    .unwrap();
    let head = std::fs::read_to_string(plain.path().join("transactions.csv")).unwrap();
    assert!(head.lines().next().unwrap().ends_with(",fraud_pattern"));
    let none = Arc::new(Protector::without_keys());
    let pans = column(
        &plain.path().join("transactions.csv"),
        "transactions",
        "card_pan",
        &none,
    );
    assert!(pans.len() > 100 && pans.iter().all(Option::is_none));
}
