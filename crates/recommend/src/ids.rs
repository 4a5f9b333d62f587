//! Stable id maps: any string or integer id ↔ a dense index.
//!
//! Spark's ALS takes 32-bit integer ids only, so a bank's customer numbers or product
//! codes have to be renumbered by hand and the mapping kept beside the model. Here every
//! id is text (an integer id is its decimal text), indices are given in order of first
//! appearance, and the map travels inside the model file: the same training file always
//! gives the same indices, and a model answers in the ids it was given.

use std::collections::HashMap;

/// A bijection between ids and the indices `0..len()`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdMap {
    ids: Vec<String>,
    index: HashMap<String, u32>,
}

impl IdMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// A map of `ids` in this order; a repeated id keeps its first index.
    pub fn from_ids<I: IntoIterator<Item = S>, S: Into<String>>(ids: I) -> Self {
        let mut m = Self::new();
        for id in ids {
            m.intern(id.into());
        }
        m
    }

    /// The index of `id`, adding it at the end if it is new.
    pub fn intern(&mut self, id: impl AsRef<str> + Into<String>) -> u32 {
        if let Some(&i) = self.index.get(id.as_ref()) {
            return i;
        }
        let i = self.ids.len() as u32;
        let id: String = id.into();
        self.index.insert(id.clone(), i);
        self.ids.push(id);
        i
    }

    /// The index of `id`, if known.
    pub fn get(&self, id: &str) -> Option<u32> {
        self.index.get(id).copied()
    }

    /// The id of index `i`.
    pub fn id(&self, i: u32) -> Option<&str> {
        self.ids.get(i as usize).map(String::as_str)
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when no id is known.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The ids in index order.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }
}

impl serde::Serialize for IdMap {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.ids.serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for IdMap {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let ids = Vec::<String>::deserialize(d)?;
        let m = IdMap::from_ids(ids.iter().cloned());
        if m.len() != ids.len() {
            return Err(serde::de::Error::custom(
                "an id map lists the same id twice; the file was modified",
            ));
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_follow_first_appearance_and_survive_a_round_trip() {
        let mut m = IdMap::new();
        assert_eq!(m.intern("b"), 0);
        assert_eq!(m.intern("a"), 1);
        assert_eq!(m.intern("b"), 0);
        assert_eq!(m.get("a"), Some(1));
        assert_eq!(m.id(0), Some("b"));
        let s = serde_json::to_string(&m).unwrap();
        assert_eq!(s, r#"["b","a"]"#);
        let back: IdMap = serde_json::from_str(&s).unwrap();
        assert_eq!(back, m);
        assert!(serde_json::from_str::<IdMap>(r#"["a","a"]"#).is_err());
    }
}
