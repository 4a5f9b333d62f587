//! Popularity: the baseline every recommender must beat, and the cold-start fallback.
//!
//! An item's popularity is the number of distinct users who interacted with it, overall
//! and within each customer segment (student, affluent, small business, …) when segments
//! are given. A user the model has never seen, with no history to fold in, is offered
//! what is most popular in their segment, or overall when the segment is unknown too.

use crate::data::Interactions;
use std::collections::BTreeMap;

/// Users per item, overall and per segment.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Popularity {
    /// Distinct users per item.
    pub overall: Vec<f64>,
    /// Distinct users per item within each segment.
    pub segments: BTreeMap<String, Vec<f64>>,
}

impl Popularity {
    /// Counts users per item; `segment_of[u]` names user `u`'s segment, if known.
    pub fn fit(data: &Interactions, segment_of: Option<&[Option<String>]>) -> Popularity {
        let n = data.n_items;
        let overall = (0..n).map(|i| data.by_item.row(i).0.len() as f64).collect();
        let mut segments: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        if let Some(seg) = segment_of {
            for u in 0..data.n_users {
                let Some(Some(s)) = seg.get(u) else { continue };
                let counts = segments.entry(s.clone()).or_insert_with(|| vec![0.0; n]);
                for &i in data.by_user.row(u).0 {
                    counts[i as usize] += 1.0;
                }
            }
        }
        Popularity { overall, segments }
    }

    /// Scores for a user in `segment`: the segment's counts when known, else overall.
    /// The second value says which was used.
    pub fn scores(&self, segment: Option<&str>) -> (&[f64], Option<&str>) {
        match segment.and_then(|s| self.segments.get_key_value(s)) {
            Some((name, v)) => (v, Some(name.as_str())),
            None => (&self.overall, None),
        }
    }

    /// Checks sizes of a model read from a file.
    pub fn validate(&self, n_items: usize) -> std::result::Result<(), String> {
        if self.overall.len() != n_items || self.segments.values().any(|v| v.len() != n_items) {
            return Err("popularity counts do not match the item map".into());
        }
        Ok(())
    }
}
