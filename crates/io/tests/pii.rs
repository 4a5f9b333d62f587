//! Readers treat `pii` fields before a batch or a dead letter holds them: tokens in the
//! accepted rows, treated raw text in the rejected ones, and a clear error (not a silent
//! clear read) when a key is needed and missing. (A file without the pii column needs no
//! key: every generated file without `--pii` is read that way by the other crates' tests.)

#![allow(clippy::unwrap_used)]

use arrow_array::cast::AsArray;
use riskstream_core::pii::{scan::find_pans, Keys, Protector};
use riskstream_core::Schema;
use riskstream_io::{EventReader, IoError, MemoryDeadLetters, ReadOptions};
use std::sync::Arc;

const SCHEMA: &str = r#"
name = "cards"
id = "id"
entities = ["pan"]
[[field]]
name = "id"
type = "int"
unique = true
[[field]]
name = "pan"
type = "string"
pii = "tokenize"
[[field]]
name = "amount"
type = "float"
[[field]]
name = "holder"
type = "string"
required = false
pii = "drop"
[[field]]
name = "phone"
type = "string"
required = false
pii = "mask"
"#;

fn protector(inline: &str) -> Arc<Protector> {
    Arc::new(Protector::new(Keys::parse_inline(inline, "test").unwrap()))
}

const K1: &str = "k1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// The pii columns of the accepted rows, and the dead letters.
type Read = (Vec<Vec<Option<String>>>, Vec<riskstream_io::Rejection>);

fn read(name: &str, text: &str, p: Option<Arc<Protector>>) -> Result<Read, IoError> {
    let schema = Schema::from_toml_str(SCHEMA, "cards").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    let dead = MemoryDeadLetters::default();
    let opts = ReadOptions {
        pii: p,
        ..Default::default()
    };
    let mut r = EventReader::open(&path, &schema, &opts, Box::new(dead.clone()))?;
    let mut rows = Vec::new();
    for b in &mut r {
        let b = b?;
        for row in 0..b.num_rows() {
            rows.push(
                [1, 3, 4]
                    .iter()
                    .map(|&c| {
                        let a = b.column(c).as_string::<i32>();
                        (!arrow_array::Array::is_null(a, row)).then(|| a.value(row).to_string())
                    })
                    .collect(),
            );
        }
    }
    r.finish()?;
    let d = dead.items.lock().unwrap().clone();
    Ok((rows, d))
}

#[test]
fn csv_rows_and_dead_letters_hold_no_clear_value() {
    let p = protector(K1);
    let text = "id,pan,amount,holder,phone\n\
                1,4111111111111111,10,Jane Doe,+44 20 7946 0958\n\
                2,4111 1111 1111 1111,11,,\n\
                3,5555555555554444,oops,John Roe,+33 1 23 45 67 89\n\
                4,378282246310005\n";
    let (rows, dead) = read("t.csv", text, Some(p.clone())).unwrap();
    let t1 = p.token("4111111111111111").unwrap();
    assert_eq!(
        rows,
        [
            vec![Some(t1.clone()), None, Some("+** ** **** 0958".into())],
            vec![Some(t1), None, None],
        ]
    );
    assert_eq!(dead.len(), 2);
    let raw0 = String::from_utf8(dead[0].raw.clone()).unwrap();
    assert_eq!(
        raw0,
        format!(
            "3,{},oops,,+** * ** ** 67 89",
            p.token("5555555555554444").unwrap()
        )
    );
    let raw1 = String::from_utf8(dead[1].raw.clone()).unwrap();
    assert_eq!(raw1, "4,***********0005");
    for d in &dead {
        assert!(find_pans(&d.raw).is_empty() && find_pans(d.detail.as_bytes()).is_empty());
    }
}

#[test]
fn ndjson_rows_are_treated_and_a_missing_key_is_an_error() {
    let text = "{\"id\":1,\"pan\":\"4111111111111111\",\"amount\":1,\"holder\":\"Jane\"}\n\
                {\"id\":2,\"pan\":\"4111111111111111\",\"amount\":\"x\",\"holder\":\"Jane\"}\n";
    let p = protector(K1);
    let (rows, dead) = read("t.ndjson", text, Some(p.clone())).unwrap();
    assert_eq!(
        rows[0][0].as_deref(),
        Some(p.token("4111111111111111").unwrap().as_str())
    );
    let raw: serde_json::Value = serde_json::from_slice(&dead[0].raw).unwrap();
    assert_eq!(raw["pan"], rows[0][0].clone().unwrap().as_str());
    assert!(raw.get("holder").is_none(), "{raw}");

    // No key: NDJSON fails at the first value, CSV before any row; nothing is read in clear.
    let none = Some(Arc::new(Protector::without_keys()));
    let e = read("t.ndjson", text, none.clone())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("field `pan` is marked pii = \"tokenize\"") && e.contains("no PII key"),
        "{e}"
    );
    let e = read("t.csv", "id,pan,amount\n1,4111111111111111,1\n", none)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no PII key"), "{e}");
}
