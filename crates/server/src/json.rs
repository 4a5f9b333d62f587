//! Request bodies read strictly: a JSON object that names a key twice is refused.
//!
//! serde_json keeps the last of two equal keys, so `{"TX_AMOUNT": 5, "TX_AMOUNT": 5000}`
//! would be decided on 5000 while a proxy, a log or a WAF in front of the service may have
//! read 5. Which value counts must not depend on who reads the body.

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

/// One transaction: a JSON object with each key at most once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transaction(pub Map<String, Value>);

impl<'de> Deserialize<'de> for Transaction {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Transaction;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object with the transaction's fields")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Transaction, A::Error> {
                let mut m = Map::new();
                while let Some(k) = a.next_key::<String>()? {
                    if m.contains_key(&k) {
                        return Err(serde::de::Error::custom(format!(
                            "the key `{k}` appears twice; send each field once"
                        )));
                    }
                    let v: Value = a.next_value()?;
                    m.insert(k, v);
                }
                Ok(Transaction(m))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_key_given_twice_is_refused_and_named() {
        let e = serde_json::from_str::<Transaction>(r#"{"A": 1, "B": 2, "A": 3}"#).unwrap_err();
        assert!(e.to_string().contains("the key `A` appears twice"), "{e}");
        let t: Transaction = serde_json::from_str(r#"{"A": 1, "B": {"A": 1}}"#).unwrap();
        assert_eq!(t.0.len(), 2);
        assert!(serde_json::from_str::<Transaction>("[1]").is_err());
    }
}
