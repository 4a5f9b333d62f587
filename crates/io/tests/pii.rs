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
    read_as(SCHEMA, name, text, p)
}

fn read_as(
    schema: &str,
    name: &str,
    text: &str,
    p: Option<Arc<Protector>>,
) -> Result<Read, IoError> {
    let schema = Schema::from_toml_str(schema, "cards").unwrap();
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

#[test]
fn fpe_fields_keep_the_format_and_refuse_what_is_not_a_card_number() {
    let schema = SCHEMA.replace("pii = \"tokenize\"", "pii = \"fpe\"");
    let p = protector(K1);
    let text = "id,pan,amount\n\
                1,4111 1111 1111 1111,10\n\
                2,4111111111111111,11\n\
                3,12345,12\n\
                4,4111111111111112,13\n\
                5,5555555555554444,oops\n";
    let (rows, dead) = read_as(&schema, "t.csv", text, Some(p.clone())).unwrap();
    let spaced = rows[0][0].clone().unwrap();
    let plain = rows[1][0].clone().unwrap();
    assert!(
        spaced.starts_with("4111 11") && spaced.ends_with(" 1111"),
        "{spaced}"
    );
    assert_eq!(spaced.replace(' ', ""), plain, "one card, one value");
    assert_eq!(p.fpe_decrypt(None, &spaced).unwrap(), "4111 1111 1111 1111");
    assert_eq!(rows.len(), 2);
    // Too short for FF1, a mistyped number: rejected, naming the field, never the value.
    assert_eq!(dead.len(), 3);
    assert!(
        dead[0].detail.starts_with(
            "wrong_type in `pan` (pii = \"fpe\": the value is not shown): pii = \"fpe\" takes \
             card numbers of 13 to 19 digits; the value has 5"
        ),
        "{}",
        dead[0].detail
    );
    assert!(
        dead[1].detail.contains("fails the Luhn check"),
        "{}",
        dead[1].detail
    );
    for d in &dead {
        assert!(!d.detail.contains("12345") && !d.detail.contains("4111111111111112"));
    }
    assert_eq!(String::from_utf8(dead[0].raw.clone()).unwrap(), "3,,12");
    assert_eq!(String::from_utf8(dead[1].raw.clone()).unwrap(), "4,,13");
    // A row rejected for another field keeps its card encrypted, like an accepted one.
    let raw2 = String::from_utf8(dead[2].raw.clone()).unwrap();
    assert_eq!(
        raw2,
        format!("5,{},oops", p.fpe_with("k1", "5555555555554444").unwrap())
    );
    for d in &dead {
        assert!(find_pans(&d.raw).is_empty() && find_pans(d.detail.as_bytes()).is_empty());
    }
}
