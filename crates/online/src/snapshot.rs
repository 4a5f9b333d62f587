//! Versioned snapshots of any model or pipeline.
//!
//! ```text
//!   "RSONLINE" │ format u16 │ kind len u16 │ kind (UTF-8) │ payload len u64 │ payload │ xxh3-64
//!   8 bytes      LE            LE             e.g. "Pipeline<ClassifierModel>"  postcard   of all before
//! ```
//!
//! The payload is postcard (serde, compact, f64 stored bit for bit, so a restored model
//! predicts *exactly* as the saved one). The header is ours so that a refusal says why:
//! not a snapshot at all, a newer format, a different model kind, or corrupt bytes. The
//! format version changes when a model's serialised layout changes; this build reads
//! version 1, the only one so far. After decoding, each model checks its own consistency
//! (child indices inside the tree, features below the width, vector lengths), so even a
//! hand-made payload with a valid checksum is refused with a reason rather than causing a
//! panic at the first prediction.

use crate::drift::{Adwin, PageHinkley};
use crate::error::{OnlineError, Result};
use crate::kmeans::StreamingKMeans;
use crate::linear::{FtrlProximal, LinearRegression, LogisticRegression};
use crate::pipeline::{CheckState, ClassifierModel, Pipeline, RegressorModel, Width};
use crate::preprocess::{OneHotEncoder, StandardScaler};
use crate::traits::Checked;
use crate::tree::adaptive::HoeffdingAdaptiveTreeClassifier;
use crate::tree::hoeffding::HoeffdingTreeClassifier;
use serde::de::DeserializeOwned;
use serde::Serialize;

const MAGIC: &[u8; 8] = b"RSONLINE";
/// The snapshot format version this build writes and reads.
pub const FORMAT_VERSION: u16 = 1;

/// A value that can be saved and restored.
pub trait Snapshot: Serialize + DeserializeOwned {
    /// The name written in the header (checked on restore).
    fn kind() -> String;

    /// Consistency of a decoded value (sizes, indices); a payload that decodes but is
    /// inconsistent is refused instead of panicking later.
    fn check_state(&self) -> std::result::Result<(), String> {
        Ok(())
    }

    /// Encodes the value with its header and checksum.
    fn to_snapshot(&self) -> Result<Vec<u8>> {
        let payload =
            postcard::to_stdvec(self).map_err(|e| OnlineError::SnapshotEncode(e.to_string()))?;
        let kind = Self::kind();
        let kind_len = u16::try_from(kind.len())
            .map_err(|_| OnlineError::SnapshotEncode("kind name too long".into()))?;
        let mut out = Vec::with_capacity(8 + 2 + 2 + kind.len() + 8 + payload.len() + 8);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&kind_len.to_le_bytes());
        out.extend_from_slice(kind.as_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&payload);
        let sum = xxhash_rust::xxh3::xxh3_64(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        Ok(out)
    }

    /// Decodes a snapshot written by [`Snapshot::to_snapshot`], refusing anything else.
    fn from_snapshot(bytes: &[u8]) -> Result<Self> {
        let refuse = |why: String| OnlineError::Snapshot(why);
        if bytes.len() < 8 + 2 + 2 + 8 + 8 {
            return Err(refuse(format!(
                "{} bytes is too short to be a riskstream online-model snapshot",
                bytes.len()
            )));
        }
        if &bytes[..8] != MAGIC {
            return Err(refuse(
                "not a riskstream online-model snapshot (wrong magic bytes)".into(),
            ));
        }
        let (body, sum) = bytes.split_at(bytes.len() - 8);
        let version = u16::from_le_bytes([bytes[8], bytes[9]]);
        if version != FORMAT_VERSION {
            return Err(refuse(format!(
                "format version {version}; this build reads version {FORMAT_VERSION} (use the riskstream release that wrote it)"
            )));
        }
        let mut want = [0u8; 8];
        want.copy_from_slice(sum);
        if xxhash_rust::xxh3::xxh3_64(body) != u64::from_le_bytes(want) {
            return Err(refuse(
                "checksum mismatch: the snapshot is corrupt or truncated".into(),
            ));
        }
        let kind_len = usize::from(u16::from_le_bytes([bytes[10], bytes[11]]));
        let kind_end = 12 + kind_len;
        if body.len() < kind_end + 8 {
            return Err(refuse("truncated header".into()));
        }
        let kind = String::from_utf8_lossy(&body[12..kind_end]);
        let expected = Self::kind();
        if kind != expected {
            return Err(refuse(format!("it holds a `{kind}`, not a `{expected}`")));
        }
        let mut len = [0u8; 8];
        len.copy_from_slice(&body[kind_end..kind_end + 8]);
        let payload = &body[kind_end + 8..];
        if u64::from_le_bytes(len) != payload.len() as u64 {
            return Err(refuse("payload length does not match the header".into()));
        }
        let value: Self = postcard::from_bytes(payload)
            .map_err(|e| refuse(format!("payload does not decode as `{expected}`: {e}")))?;
        value
            .check_state()
            .map_err(|e| refuse(format!("the `{expected}` it holds is inconsistent: {e}")))?;
        Ok(value)
    }
}

macro_rules! snapshot_kind {
    ($($t:ty => $name:expr, $check:expr);* $(;)?) => {
        $(impl Snapshot for $t {
            fn kind() -> String {
                $name.to_string()
            }
            fn check_state(&self) -> std::result::Result<(), String> {
                let f: fn(&$t) -> std::result::Result<(), String> = $check;
                f(self)
            }
        })*
    };
}

snapshot_kind! {
    HoeffdingTreeClassifier => "HoeffdingTreeClassifier", |m| m.check_state();
    HoeffdingAdaptiveTreeClassifier => "HoeffdingAdaptiveTreeClassifier", |m| m.check_state();
    LogisticRegression => "LogisticRegression", |m| m.check_state();
    LinearRegression => "LinearRegression", |m| m.check_state();
    FtrlProximal => "FtrlProximal", |m| m.check_state();
    StreamingKMeans => "StreamingKMeans", |m| m.check_state();
    StandardScaler => "StandardScaler", |m| m.check_state();
    OneHotEncoder => "OneHotEncoder", |m| m.check_state();
    ClassifierModel => "ClassifierModel", CheckState::check_state;
    RegressorModel => "RegressorModel", CheckState::check_state;
    Adwin => "ADWIN", |m| m.check_state();
    PageHinkley => "PageHinkley", |_| Ok(());
}

impl<M: Snapshot + Width + CheckState> Snapshot for Pipeline<M> {
    fn kind() -> String {
        format!("Pipeline<{}>", M::kind())
    }
    fn check_state(&self) -> std::result::Result<(), String> {
        CheckState::check_state(self)
    }
}

impl<M: Snapshot + Width> Snapshot for Checked<M> {
    fn kind() -> String {
        format!("Checked<{}>", M::kind())
    }
    fn check_state(&self) -> std::result::Result<(), String> {
        Snapshot::check_state(self.inner())?;
        if self.inner().n_features() != self.feature_names().len() {
            return Err("the names do not match the model's width".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linear::SgdParams;
    use crate::traits::OnlineClassifier;

    #[test]
    fn round_trip_and_refusals() {
        let mut m = SgdParams::default().build(2).unwrap();
        m.learn_one(&[1.0, 2.0], true);
        let bytes = m.to_snapshot().unwrap();
        let back = LogisticRegression::from_snapshot(&bytes).unwrap();
        assert_eq!(back, m);

        let e = |r: Result<LogisticRegression>| match r {
            Err(OnlineError::Snapshot(s)) => s,
            other => panic!("expected a refusal, got {other:?}"),
        };
        assert!(e(LogisticRegression::from_snapshot(&bytes[..10])).contains("too short"));
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert!(e(LogisticRegression::from_snapshot(&bad)).contains("magic"));
        let mut flip = bytes.clone();
        let mid = flip.len() / 2;
        flip[mid] ^= 1;
        assert!(e(LogisticRegression::from_snapshot(&flip)).contains("checksum"));
        assert!(
            e(LogisticRegression::from_snapshot(&bytes[..bytes.len() - 3])).contains("checksum")
        );
        let mut v2 = bytes.clone();
        v2[8] = 2;
        assert!(e(LogisticRegression::from_snapshot(&v2)).contains("version 2"));
        let other = FtrlProximal::from_snapshot(&bytes);
        assert!(matches!(other, Err(OnlineError::Snapshot(s)) if s.contains("LogisticRegression")));
    }

    #[test]
    fn inconsistent_payloads_are_refused() {
        use crate::tree::HoeffdingTreeParams;
        let mut t = HoeffdingTreeParams {
            grace_period: 20,
            ..Default::default()
        }
        .build(2)
        .unwrap();
        for i in 0..2_000 {
            let x = [f64::from(i % 10), f64::from(i % 7)];
            t.learn_one(&x, x[0] > 4.0);
        }
        assert!(t.n_leaves() > 1);
        // a branch testing a feature the rows do not have, with a valid checksum
        let mut v = serde_json::to_value(&t).unwrap();
        let nodes = v["nodes"].as_array_mut().unwrap();
        let branch = nodes
            .iter_mut()
            .find(|n| n.get("Branch").is_some())
            .unwrap();
        branch["Branch"]["feature"] = serde_json::json!(7);
        let bad: HoeffdingTreeClassifier = serde_json::from_value(v).unwrap();
        let bytes = bad.to_snapshot().unwrap();
        match HoeffdingTreeClassifier::from_snapshot(&bytes) {
            Err(OnlineError::Snapshot(s)) => assert!(s.contains("inconsistent"), "{s}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
}
