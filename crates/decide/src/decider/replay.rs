//! Glue between decisions and what the decider remembers of them ([`crate::Recall`]): a
//! decision kept for retries, and a transaction decided before a restart applied again
//! from the service's write-ahead log without deciding it twice.

use super::{fields_hash, Decider};
use crate::decision::Decision;
use crate::error::DecideError;
use crate::recall::Remembered;

impl Decider {
    pub(super) fn remember(
        &mut self,
        tx: &serde_json::Map<String, serde_json::Value>,
        time: i64,
        d: &Decision,
    ) -> Result<(), DecideError> {
        let json = serde_json::to_string(d)
            .map_err(|e| DecideError::Snapshot(format!("cannot keep the decision: {e}")))?;
        self.recall.decisions.put(
            &d.tx_id,
            Remembered {
                fields_hash: fields_hash(&self.decoder.protect(tx)),
                json: json.into(),
                outcome: d.outcome.as_str().to_string(),
                score: d.score,
                time,
            },
        );
        Ok(())
    }

    /// Rebuilds the feature state after a restart from a transaction decided before it
    /// (read back from a write-ahead log), without deciding again: the features move on
    /// exactly as when it was decided, its row is kept for online learning, and
    /// `decision` (its original JSON) is remembered for retries. A transaction already
    /// remembered is skipped (`Ok(false)`): the checkpoint already held it.
    pub fn replay(
        &mut self,
        tx: &serde_json::Map<String, serde_json::Value>,
        decision: &str,
    ) -> Result<bool, DecideError> {
        let guard = self.max_ahead.take();
        let r = self.compute(tx);
        self.max_ahead = guard;
        let (txv, time, tx_id, _) = match r {
            Ok(v) => v,
            Err(DecideError::Duplicate { .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        self.max_time = self.max_time.max(time);
        let nf = self.spec().features.len();
        let mut row = self.pass_row(&txv);
        row.extend_from_slice(&self.feat_buf[self.feat_buf.len() - nf..]);
        self.rows.put(&tx_id, row);
        let v: serde_json::Value = serde_json::from_str(decision)
            .map_err(|e| DecideError::Snapshot(format!("logged decision of `{tx_id}`: {e}")))?;
        if self.id_field.is_some() && self.recall.decisions.capacity() > 0 {
            self.recall.decisions.put(
                &tx_id,
                Remembered {
                    fields_hash: fields_hash(&self.decoder.protect(tx)),
                    json: decision.into(),
                    outcome: v["outcome"].as_str().unwrap_or("approve").to_string(),
                    score: v["score"].as_f64(),
                    time,
                },
            );
        }
        self.counters.decisions += 1;
        Ok(true)
    }
}
