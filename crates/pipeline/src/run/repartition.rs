//! `[repartition]`: the forwarding first stage, the event-time merge of the second, and
//! the watermarks between them.

#[allow(unused_imports)]
use super::*;
#[allow(unused_imports)]
use super::{checkpoint::*, meters::*, outputs::*, registry_out::*, stage::*};
use riskstream_connectors::sink::Sink;
/// What one stage of a pipeline does with a record. A pipeline without `[repartition]` is
/// one `Decide` stage; with it, a `Forward` stage on the source's partitions and a
/// `Decide` stage (with a merge) on the repartition topic's, both in this process.
#[derive(Debug, Clone)]
pub(crate) enum Stage {
    /// Decide, and write decisions.
    Decide(Option<MergeSpec>),
    /// Compute the source entity's features and forward them to the repartition topic.
    Forward(ForwardSpec),
}

/// The first stage of a repartitioned pipeline.
#[derive(Debug, Clone)]
pub(crate) struct ForwardSpec {
    pub(crate) rep: RepartitionConfig,
    /// Schema index of `by` (picks the output partition).
    pub(crate) by: usize,
    /// The features keyed by `from` (indices, spec order) and their names.
    pub(crate) feats: Vec<(usize, String)>,
    pub(crate) spec: String,
}

/// The second stage: merges the first stage's partitions back into event-time order.
#[derive(Debug, Clone)]
pub(crate) struct MergeSpec {
    /// Source partitions upstream (each must be heard from before anything is released).
    pub(crate) upstream: u32,
    /// Most transactions held per repartition partition.
    pub(crate) max_held: u64,
    /// The features computed upstream: name → position in `feats`; and the indices.
    pub(crate) names: BTreeMap<String, usize>,
    pub(crate) feats: Vec<usize>,
    pub(crate) spec: String,
}

impl Stage {
    /// Entity fields whose features this stage does not compute.
    pub(crate) fn remote(&self, spec: &FeatureSpec, from: Option<usize>) -> Vec<usize> {
        match (self, from) {
            (Stage::Forward(_), Some(f)) => {
                entities(spec).into_iter().filter(|&e| e != f).collect()
            }
            (Stage::Decide(Some(_)), Some(f)) => vec![f],
            _ => Vec::new(),
        }
    }
}

/// The entity fields the spec's keyed features (windows, patterns) are keyed by.
pub(crate) fn entities(spec: &FeatureSpec) -> Vec<usize> {
    let mut v = Vec::new();
    for e in spec.features.iter().filter_map(|f| f.entity()) {
        if !v.contains(&e) {
            v.push(e);
        }
    }
    v
}

/// Checks `[repartition]` against the feature spec: (schema index of `from`, of `by`).
/// Every keyed feature must be keyed by one of the two, and `by` must key some feature.
pub fn check_repartition(
    rep: &RepartitionConfig,
    spec: &FeatureSpec,
) -> Result<(usize, usize), String> {
    let field = |key: &str, name: &str| {
        spec.schema.index_of(name).ok_or_else(|| {
            let names: Vec<&str> = spec.schema.fields.iter().map(|f| f.name.as_str()).collect();
            let hint = riskstream_core::diag::did_you_mean(name, names.iter().copied())
                .map(|h| format!(" ({h})"))
                .unwrap_or_default();
            format!(
                "repartition.{key}: `{name}` is not a field of schema `{}`{hint}",
                spec.schema.name
            )
        })
    };
    let from = field("from", &rep.from)?;
    let by = field("by", &rep.by)?;
    let ents = entities(spec);
    let other: Vec<&str> = spec
        .features
        .iter()
        .filter_map(|f| match f.entity() {
            Some(e) if e != from && e != by => Some(f.name()),
            _ => None,
        })
        .collect();
    if !other.is_empty() {
        return Err(format!(
            "features {} are keyed by neither `{}` (the source's key) nor `{}` (the repartition key): a pipeline repartitions by one second entity",
            other.join(", "),
            rep.from,
            rep.by
        ));
    }
    if !ents.contains(&by) {
        return Err(format!(
            "repartition.by: no feature of spec `{}` is keyed by `{}`; the repartition would change nothing",
            spec.name, rep.by
        ));
    }
    Ok((from, by))
}

/// A record on the repartition topic: a transaction with its first-entity features, or a
/// source partition's progress. JSON, so an operator can read the topic.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum Forwarded {
    Transaction(ForwardedTx),
    Watermark(ForwardedMark),
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ForwardedTx {
    /// The feature spec's hash (hex): a second stage on another spec refuses the record.
    pub(crate) spec: String,
    /// Source partition and offset.
    pub(crate) from: u32,
    pub(crate) offset: u64,
    /// Event time (µs) and the integer id (the tie-break), the merge order.
    pub(crate) time: i64,
    pub(crate) order: i64,
    /// When the source's broker stored it (µs), for the end-to-end latency.
    #[serde(default)]
    pub(crate) stored: Option<i64>,
    /// The features keyed by the source's entity (null: not a finite number).
    pub(crate) features: BTreeMap<String, Option<f64>>,
    pub(crate) tx: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ForwardedMark {
    pub(crate) spec: String,
    pub(crate) from: u32,
    /// The last transaction forwarded from `from` (none yet: `None`).
    #[serde(default)]
    pub(crate) last: Option<(i64, i64, u64)>,
    /// No input on `from` for `idle_after` (or its stage stopped because its input ended).
    pub(crate) idle: bool,
}

/// The second stage's merge state (in its checkpoint): per source partition, forwarded
/// transactions not yet released and how far that partition is known to have got.
///
/// Why this gives exact features: each source partition forwards in event-time order,
/// so once every source partition is known to be past a transaction, no earlier one can
/// still come. Releasing in (time, id, source partition, offset) order then feeds the
/// second entity's features the same order a single-partition run has, however the
/// partitions interleaved on the topic — and a replay after a crash releases the same
/// sequence, so outputs numbered by it are idempotent.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Merge {
    pub(crate) held: BTreeMap<u32, VecDeque<Held>>,
    /// Per source partition: (time, order, offset) of the last transaction it forwarded.
    pub(crate) marks: BTreeMap<u32, (i64, i64, u64)>,
    pub(crate) idle: BTreeSet<u32>,
    /// Outputs (decisions and dead letters) made so far: each output's position.
    pub(crate) outputs: u64,
    /// Transactions released before every source partition had passed them, because too
    /// many were held.
    pub(crate) released_early: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Held {
    pub(crate) time: i64,
    pub(crate) order: i64,
    pub(crate) offset: u64,
    pub(crate) stored: Option<i64>,
    pub(crate) origin: String,
    /// Values of the forwarded features, in `MergeSpec::feats` order.
    pub(crate) remote: Vec<f64>,
    /// The transaction (as JSON text in the checkpoint: its codec is not self-describing).
    #[serde(with = "json_text")]
    pub(crate) tx: serde_json::Map<String, serde_json::Value>,
}

/// A JSON object stored as its text, for a codec that cannot hold `serde_json::Value`.
mod json_text {
    use serde::{de::Error as _, ser::Error as _, Deserialize, Deserializer, Serializer};

    type Object = serde_json::Map<String, serde_json::Value>;

    pub fn serialize<S: Serializer>(m: &Object, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&serde_json::to_string(m).map_err(S::Error::custom)?)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Object, D::Error> {
        let text = String::deserialize(d)?;
        serde_json::from_str(&text).map_err(D::Error::custom)
    }
}

impl Merge {
    /// Takes one repartition record; false when it is a duplicate of one already taken.
    pub(crate) fn take(
        &mut self,
        r: Forwarded,
        origin: String,
        m: &MergeSpec,
    ) -> Result<bool, String> {
        match r {
            Forwarded::Watermark(w) => {
                if w.spec != m.spec {
                    return Err(foreign_spec(&w.spec, &m.spec));
                }
                let newer = match (w.last, self.marks.get(&w.from)) {
                    (Some(l), Some(old)) => l.2 > old.2,
                    (Some(_), None) => true,
                    (None, _) => false,
                };
                // A first stage replaying after a restart announces older progress again.
                let stale = matches!((w.last, self.marks.get(&w.from)), (Some(l), Some(old)) if l.2 < old.2);
                if let (true, Some(l)) = (newer, w.last) {
                    self.marks.insert(w.from, l);
                }
                if w.idle && !stale {
                    self.idle.insert(w.from);
                } else if newer {
                    self.idle.remove(&w.from);
                }
                Ok(true)
            }
            Forwarded::Transaction(t) => {
                if t.spec != m.spec {
                    return Err(foreign_spec(&t.spec, &m.spec));
                }
                if self.marks.get(&t.from).is_some_and(|l| t.offset <= l.2) {
                    return Ok(false);
                }
                let mut remote = vec![f64::NAN; m.feats.len()];
                let mut seen = 0;
                for (name, v) in &t.features {
                    if let Some(&i) = m.names.get(name) {
                        remote[i] = v.unwrap_or(f64::NAN);
                        seen += 1;
                    }
                }
                if seen != m.feats.len() {
                    return Err(format!(
                        "the record carries {seen} of the {} features keyed by the source's entity",
                        m.feats.len()
                    ));
                }
                self.marks.insert(t.from, (t.time, t.order, t.offset));
                self.idle.remove(&t.from);
                self.held.entry(t.from).or_default().push_back(Held {
                    time: t.time,
                    order: t.order,
                    offset: t.offset,
                    stored: t.stored,
                    origin,
                    remote,
                    tx: t.tx,
                });
                Ok(true)
            }
        }
    }

    /// The next transaction every source partition is known to be past, if any — or,
    /// when more than `max_held` are held, the earliest one anyway (memory stays bounded
    /// when a source partition stalls; what it sends later that is older goes to the late
    /// policy). Counted in `released_early`.
    pub(crate) fn release(&mut self, upstream: u32, max_held: u64) -> Option<Held> {
        let mut best: Option<((i64, i64, u32, u64), u32)> = None;
        for (&u, q) in &self.held {
            if let Some(h) = q.front() {
                let k = (h.time, h.order, u, h.offset);
                if best.is_none_or(|(b, _)| k < b) {
                    best = Some((k, u));
                }
            }
        }
        let (k, from) = best?;
        let past = |v: u32| {
            v == from
                || self.held.get(&v).is_some_and(|q| !q.is_empty())
                || self.idle.contains(&v)
                || self.marks.get(&v).is_some_and(|m| (m.0, m.1, v, m.2) >= k)
        };
        if !(0..upstream).all(past) {
            if self.held() <= max_held {
                return None;
            }
            self.released_early += 1;
        }
        self.held.get_mut(&from).and_then(VecDeque::pop_front)
    }

    pub(crate) fn held(&self) -> u64 {
        self.held.values().map(|q| q.len() as u64).sum()
    }
}

pub(crate) fn foreign_spec(got: &str, want: &str) -> String {
    format!("forwarded under feature spec {got}, but this pipeline runs {want}: the repartition topic is another pipeline's, or the spec changed while records were in flight")
}

/// Per source partition of the first stage: the last transaction forwarded, whether the
/// second stage has heard of it, and whether the partition was announced idle.
#[derive(Debug, Default)]
pub(crate) struct Announce {
    pub(crate) last: Option<(i64, i64, u64)>,
    pub(crate) sent: bool,
    pub(crate) idle_sent: bool,
    pub(crate) input_at: Option<Instant>,
}

/// First stage: tells every repartition partition how far each source partition got
/// (those that moved since the last time), and that a partition is idle (no input for
/// `idle_after`, or `all_idle`: the stage is stopping because its input ended).
/// Returns the records sent.
pub(crate) async fn announce_progress(
    f: &ForwardSpec,
    announce: &mut BTreeMap<u32, Announce>,
    sink: &mut Out,
    all_idle: bool,
) -> Result<u64, PipelineError> {
    let mut sent = 0;
    for (&p, a) in announce.iter_mut() {
        let idle = all_idle || a.input_at.is_some_and(|t| t.elapsed() >= f.rep.idle_after);
        let news = !a.sent && a.last.is_some();
        let goes_idle = idle && !a.idle_sent;
        if !news && !goes_idle {
            continue;
        }
        let body = serde_json::to_vec(&Forwarded::Watermark(ForwardedMark {
            spec: f.spec.clone(),
            from: p,
            last: a.last,
            idle,
        }))
        .unwrap_or_default();
        let offset = a.last.map_or(0, |l| l.2);
        for q in 0..f.rep.partitions {
            sink.write(q, offset, &format!("{p}-wm"), body.clone())
                .await?;
            sent += 1;
        }
        a.sent = true;
        a.idle_sent |= idle;
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn spec() -> MergeSpec {
        MergeSpec {
            upstream: 3,
            max_held: u64::MAX,
            names: [("f".to_string(), 0)].into_iter().collect(),
            feats: vec![0],
            spec: "s".into(),
        }
    }

    fn tx(from: u32, offset: u64, time: i64, order: i64) -> Forwarded {
        Forwarded::Transaction(ForwardedTx {
            spec: "s".into(),
            from,
            offset,
            time,
            order,
            stored: None,
            features: [("f".to_string(), Some(offset as f64))]
                .into_iter()
                .collect(),
            tx: serde_json::Map::new(),
        })
    }

    fn mark(from: u32, last: Option<(i64, i64, u64)>, idle: bool) -> Forwarded {
        Forwarded::Watermark(ForwardedMark {
            spec: "s".into(),
            from,
            last,
            idle,
        })
    }

    /// Three source partitions, each in event-time order, interleaved at random (with a
    /// replayed stretch and watermarks): the merge releases the sorted order every time,
    /// drops the replay, and holds back what a partition has not yet passed.
    #[test]
    fn the_merge_releases_event_time_order_whatever_the_interleaving() {
        let mut streams: Vec<Vec<(i64, i64, u64)>> = vec![Vec::new(); 3];
        for i in 0..300u64 {
            let p = (i * 7 % 3) as usize;
            // Same timestamps across partitions on purpose: ids break the tie.
            let offset = streams[p].len() as u64;
            streams[p].push(((i / 4) as i64, i as i64, offset));
        }
        let mut want: Vec<(i64, i64)> = streams.iter().flatten().map(|r| (r.0, r.1)).collect();
        want.sort();
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..50 {
            let mut m = Merge::default();
            let mut pos = [0usize; 3];
            let mut got = Vec::new();
            let mut dups = 0;
            loop {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let p = (rng % 3) as usize;
                if pos.iter().zip(&streams).all(|(i, s)| *i >= s.len()) {
                    break;
                }
                if pos[p] >= streams[p].len() {
                    continue;
                }
                let r = streams[p][pos[p]];
                let fresh = m
                    .take(tx(p as u32, r.2, r.0, r.1), String::new(), &spec())
                    .unwrap();
                dups += u64::from(!fresh);
                // Now and then: a watermark, or a replay of the last few records.
                match rng % 11 {
                    0 => {
                        m.take(mark(p as u32, Some(r), false), String::new(), &spec())
                            .unwrap();
                    }
                    1 if pos[p] >= 3 => {
                        pos[p] -= 3;
                    }
                    _ => {}
                }
                pos[p] += 1;
                while let Some(h) = m.release(3, u64::MAX) {
                    got.push((h.time, h.order));
                }
            }
            // Partition by partition, their ends are announced as idle.
            for (p, stream) in streams.iter().enumerate() {
                let last = stream.last().copied();
                m.take(mark(p as u32, last, true), String::new(), &spec())
                    .unwrap();
                while let Some(h) = m.release(3, u64::MAX) {
                    got.push((h.time, h.order));
                }
            }
            assert_eq!(got, want, "released in event-time order, each once");
            assert_eq!(m.held(), 0);
            assert!(dups > 0, "the replays were seen and dropped");
        }
    }

    #[test]
    fn a_stalled_partition_cannot_make_the_merge_hold_more_than_max_held() {
        let mut m = Merge::default();
        for i in 0..10u64 {
            m.take(tx(0, i, i as i64, i as i64), String::new(), &spec())
                .unwrap();
        }
        // Partitions 1 and 2 are never heard from.
        assert!(m.release(3, 100).is_none());
        let mut got = Vec::new();
        while let Some(h) = m.release(3, 4) {
            got.push(h.time);
        }
        assert_eq!(got, [0, 1, 2, 3, 4, 5], "the earliest, down to the bound");
        assert_eq!((m.held(), m.released_early), (4, 6));
    }

    #[test]
    fn the_merge_waits_for_every_partition_and_refuses_another_spec() {
        let mut m = Merge::default();
        m.take(tx(0, 0, 10, 1), String::new(), &spec()).unwrap();
        m.take(tx(1, 0, 5, 2), String::new(), &spec()).unwrap();
        assert!(
            m.release(3, u64::MAX).is_none(),
            "partition 2 has not been heard from"
        );
        m.take(mark(2, None, true), String::new(), &spec()).unwrap();
        assert_eq!(m.release(3, u64::MAX).map(|h| h.time), Some(5));
        assert!(
            m.release(3, u64::MAX).is_none(),
            "partition 1 may still send something before 10"
        );
        m.take(mark(1, Some((11, 0, 7)), false), String::new(), &spec())
            .unwrap();
        assert_eq!(m.release(3, u64::MAX).map(|h| h.time), Some(10));
        let mut other = tx(0, 1, 12, 3);
        if let Forwarded::Transaction(t) = &mut other {
            t.spec = "other".into();
        }
        let e = m.take(other, String::new(), &spec()).unwrap_err();
        assert!(e.contains("another pipeline's"), "{e}");
        let mut short = tx(0, 1, 12, 3);
        if let Forwarded::Transaction(t) = &mut short {
            t.features.clear();
        }
        let e = m.take(short, String::new(), &spec()).unwrap_err();
        assert!(e.contains("0 of the 1 features"), "{e}");
    }
}
