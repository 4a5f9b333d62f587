//! The decider's whole state as bytes and back: feature engine, kept rows, online models
//! with their drift detectors, counters, what is remembered for retries and each entity's
//! latest features and recent transactions. Framed like the other checkpoints (magic,
//! version, payload, xxh3 checksum); versions 1 to 3 are still read.

use super::{Counters, Decider, OnlineEntry};
use crate::deploy::{OnlineModel, OnlineStats};
use crate::error::DecideError;
use crate::latest::{LatestSnap, LatestSnapV3};
use crate::recall::{Recall, RecallSnap};
use riskstream_features::{Engine, FeatureSpec};
use riskstream_online::pipeline::{ClassifierModel, Pipeline};
use riskstream_online::{Adwin, Snapshot};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};

const MAGIC: &[u8; 8] = b"RSDECIDE";
/// 2: adds the remembered decisions and labels ([`Recall`]); 3: each entity's latest
/// features ([`crate::latest::Latest`]); 4: each entity's recent transactions. 1 to 3 are
/// still read.
const FORMAT_VERSION: u16 = 4;

#[derive(Serialize, Deserialize)]
struct SnapOnline {
    id: String,
    columns: Vec<usize>,
    pipeline: Vec<u8>,
    drift: Adwin,
    stats: OnlineStats,
}

#[derive(Serialize, Deserialize)]
struct Snap {
    spec_hash: u64,
    engine: Vec<u8>,
    rows: Vec<(String, Vec<f64>)>,
    row_capacity: usize,
    rows_evicted: u64,
    online: Vec<SnapOnline>,
    counters: Counters,
    max_time: i64,
}

#[derive(Serialize, Deserialize)]
struct SnapV2 {
    base: Snap,
    recall: RecallSnap,
}

#[derive(Serialize, Deserialize)]
struct SnapV3 {
    v2: SnapV2,
    latest: LatestSnapV3,
}

#[derive(Serialize, Deserialize)]
struct SnapV4 {
    v2: SnapV2,
    latest: LatestSnap,
}

/// The decider's state taken by [`Decider::take_snapshot`], not yet encoded.
///
/// Why two steps: a service holds the decider's lock while the state is taken, and every
/// decision waits for it. The remembered decisions are most of a service's checkpoint (on
/// the demo's state 109 MB of 112 MB), and encoding them under the lock stalled every
/// decision for the whole encoding once a minute. Taking them shares their texts (`Arc`
/// clones); [`DeciderSnapshot::encode`] then runs after the lock is released.
pub struct DeciderSnapshot {
    snap: SnapV4,
}

impl std::fmt::Debug for DeciderSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeciderSnapshot")
            .field("spec_hash", &self.snap.v2.base.spec_hash)
            .field("engine_bytes", &self.snap.v2.base.engine.len())
            .field("rows", &self.snap.v2.base.rows.len())
            .finish_non_exhaustive()
    }
}

impl DeciderSnapshot {
    /// The bytes [`Decider::restore`] reads: framed like the other checkpoints (magic,
    /// version, payload, xxh3 checksum).
    pub fn encode(self) -> Result<Vec<u8>, DecideError> {
        let payload =
            postcard::to_stdvec(&self.snap).map_err(|e| DecideError::Snapshot(e.to_string()))?;
        Ok(riskstream_core::frame::seal(
            MAGIC,
            FORMAT_VERSION,
            &payload,
        ))
    }
}

impl Decider {
    /// The whole state: feature engine, kept rows, online models (with their drift
    /// detectors), counters. Framed like the other checkpoints: magic, version, payload,
    /// xxh3 checksum.
    pub fn snapshot(&self) -> Result<Vec<u8>, DecideError> {
        self.take_snapshot()?.encode()
    }

    /// [`Decider::snapshot`] in two steps: the state taken now, encoded later (outside a
    /// lock on the decider). The encoded bytes are the same.
    pub fn take_snapshot(&self) -> Result<DeciderSnapshot, DecideError> {
        let engine = self.engine.snapshot()?;
        let mut online = Vec::new();
        for o in &self.online {
            let m = o
                .model
                .lock()
                .map_err(|_| DecideError::Snapshot(format!("online model {} is poisoned", o.id)))?;
            online.push(SnapOnline {
                id: o.id.clone(),
                columns: o.columns.clone(),
                pipeline: m
                    .pipeline()
                    .to_snapshot()
                    .map_err(|e| DecideError::Snapshot(e.to_string()))?,
                drift: m.drift_state().clone(),
                stats: m.stats().clone(),
            });
        }
        let mut rows: Vec<(u64, String, Vec<f64>)> = self
            .rows
            .map
            .iter()
            .map(|(k, (s, r))| (*s, k.clone(), r.clone()))
            .collect();
        rows.sort_unstable_by_key(|r| r.0);
        let snap = Snap {
            spec_hash: self.spec_hash,
            engine,
            rows: rows.into_iter().map(|(_, k, r)| (k, r)).collect(),
            row_capacity: self.rows.cap,
            rows_evicted: self.rows.evicted,
            online,
            counters: self.counters.clone(),
            max_time: self.max_time,
        };
        Ok(DeciderSnapshot {
            snap: SnapV4 {
                v2: SnapV2 {
                    base: snap,
                    recall: self.recall.to_snap(),
                },
                latest: self.latest.to_snap(),
            },
        })
    }

    /// A count that moves whenever the state changes (decisions, labels, refusals): equal
    /// counts mean there is nothing new to checkpoint.
    pub fn activity(&self) -> u64 {
        let c = &self.counters;
        c.decisions + c.labels + c.labels_unknown + c.late + c.input_errors + c.rule_errors
    }

    /// A decider restored from [`Decider::snapshot`] bytes; refuses corrupt snapshots and
    /// snapshots of another spec or format version, saying which.
    pub fn restore(spec: &FeatureSpec, bytes: &[u8]) -> Result<Self, DecideError> {
        let refuse = |m: String| DecideError::Snapshot(m);
        let what = "riskstream decider snapshot";
        let decode = |e: postcard::Error| refuse(format!("payload does not decode: {e}"));
        let (snap, recall, latest) =
            if let Ok(body) = riskstream_core::frame::open(MAGIC, FORMAT_VERSION, what, bytes) {
                let s: SnapV4 = postcard::from_bytes(body).map_err(decode)?;
                (s.v2.base, Some(s.v2.recall), Some(s.latest))
            } else if let Ok(body) = riskstream_core::frame::open(MAGIC, 3, what, bytes) {
                // Version 3 has no recent transactions: they fill as entities transact.
                let s: SnapV3 = postcard::from_bytes(body).map_err(decode)?;
                (s.v2.base, Some(s.v2.recall), Some(s.latest.into()))
            } else if let Ok(body) = riskstream_core::frame::open(MAGIC, 2, what, bytes) {
                // Version 2 has no latest features: they fill as entities transact.
                let s: SnapV2 = postcard::from_bytes(body).map_err(decode)?;
                (s.base, Some(s.recall), None)
            } else {
                // Version 1 has no remembered decisions; it restores with an empty memory.
                let body = riskstream_core::frame::open(MAGIC, 1, what, bytes).map_err(|e| {
                    refuse(format!(
                        "{e} (this build reads versions 1 to {FORMAT_VERSION})"
                    ))
                })?;
                let s: Snap = postcard::from_bytes(body).map_err(decode)?;
                (s, None, None)
            };
        if snap.spec_hash != spec.hash {
            return Err(refuse(format!(
                "written for another feature spec (hash {:016x}, this spec is {:016x}); start fresh or use the spec it was made with",
                snap.spec_hash, spec.hash
            )));
        }
        let mut d = Decider::new(spec);
        d.engine = Engine::restore(spec, &snap.engine)?;
        d.rows.cap = snap.row_capacity;
        d.rows.evicted = snap.rows_evicted;
        for (k, r) in snap.rows {
            d.rows.put(&k, r);
        }
        for o in snap.online {
            let p = Pipeline::<ClassifierModel>::from_snapshot(&o.pipeline)
                .map_err(|e| refuse(format!("online model {}: {e}", o.id)))?;
            if o.columns.iter().any(|&c| c >= d.columns.len()) {
                return Err(refuse(format!(
                    "online model {} reads columns outside the feature row",
                    o.id
                )));
            }
            d.online.push(OnlineEntry {
                id: o.id,
                model: Arc::new(Mutex::new(OnlineModel::restored(p, o.drift, o.stats))),
                columns: o.columns,
            });
        }
        d.counters = snap.counters;
        d.max_time = snap.max_time;
        if let Some(r) = recall {
            d.recall = Recall::from_snap(r);
        }
        if let Some(l) = latest {
            d.latest.restore(l);
        }
        Ok(d)
    }
}
