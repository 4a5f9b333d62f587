//! Scheduling a chunk's work on threads: streams side by side, busy streams cut in parts.
//!
//! Streams share nothing but the output rows, and entities nothing at all, so a large
//! chunk's streams without a label index (more than one thread) are applied as parts: each stream's records,
//! grouped by entity, are cut at entity boundaries into parts of about equal length, each
//! owning the slice of entities its records touch, and run on up to `threads` threads
//! (biggest first). Each part writes its values in record order into its own buffer; the
//! buffers are copied into the rows afterwards, so the output is identical to applying on
//! one thread.

use super::apply::{apply_stream, group_by_entity, Dest, StreamCtx};
use super::entities::StreamState;
use super::stage::Rec;
use super::Engine;
use crate::state::Entity;

/// Staged records below which a chunk's streams are applied one after another: starting a
/// thread would cost more than it saves.
pub(super) const PARALLEL_MIN_RECS: usize = 8_192;

/// One stream's scratch space, kept between chunks.
#[derive(Debug, Default)]
pub(super) struct Scratch {
    /// For [`group_by_entity`].
    pub(super) order: Vec<u64>,
    pub(super) counts: Vec<u32>,
    pub(super) sorted: Vec<Rec>,
    /// When streams are applied side by side: each part's feature values in record order.
    pub(super) parts: Vec<Vec<f64>>,
    /// How many of `parts` the current chunk uses.
    pub(super) nparts: usize,
}

/// The entities of a stream that one part of a chunk may touch: slots `first..`.
pub(super) struct EntsMut<'a> {
    pub(super) first: u32,
    pub(super) ents: &'a mut [Entity],
}

/// Records (grouped by entity) below this many are applied as one part.
pub(super) const SPLIT_MIN_RECS: usize = 4_096;

/// Where to cut records grouped by entity into `n` parts of about equal length without
/// cutting an entity's records apart: `0`, the cuts, `recs.len()` (fewer parts when one
/// entity holds most of the records).
pub(super) fn entity_cuts(recs: &[Rec], n: usize) -> smallvec::SmallVec<[usize; 8]> {
    let mut cuts = smallvec::SmallVec::new();
    cuts.push(0);
    for k in 1..n.max(1) {
        let mut c = recs.len() * k / n;
        while c > 0 && c < recs.len() && recs[c].ent == recs[c - 1].ent {
            c += 1;
        }
        if c > *cuts.last().unwrap_or(&0) && c < recs.len() {
            cuts.push(c);
        }
    }
    cuts.push(recs.len());
    cuts
}

/// Runs each job on up to `threads` threads (the caller's among them), each thread taking
/// the next job as it finishes one; returns the latest of the times the jobs return. A
/// helper that cannot be started leaves its share to the others.
pub(super) fn side_by_side_jobs<J: Send>(
    jobs: Vec<J>,
    threads: usize,
    run: impl Fn(J) -> i64 + Sync,
) -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    let slots: Vec<std::sync::Mutex<Option<J>>> = jobs
        .into_iter()
        .map(|j| std::sync::Mutex::new(Some(j)))
        .collect();
    let latest = AtomicI64::new(i64::MIN);
    riskstream_io::on_threads(slots.len(), threads, "riskstream-apply", |i| {
        if let Some(job) = slots[i].lock().map(|mut j| j.take()).unwrap_or(None) {
            latest.fetch_max(run(job), Ordering::Relaxed);
        }
        true
    });
    latest.into_inner()
}

impl Engine {
    /// The side-by-side branch of [`Engine::flush_ready`] (see there): groups each
    /// stream's records by entity (streams with a label index are left to the caller), cuts them into parts at entity boundaries, applies the
    /// parts on up to `threads` threads and copies their values into the rows in record
    /// order. Returns the latest event time applied.
    pub(super) fn apply_side_by_side(
        &mut self,
        work: &mut [(Vec<Rec>, Vec<u64>)],
        ttl: Option<i64>,
    ) -> i64 {
        let plan = &self.plan;
        let layouts = &self.layouts;
        let stream_out = &self.stream_out;
        let threads = self.threads;
        // First each stream's records are grouped by entity (streams side by side)...
        side_by_side_jobs(
            self.state
                .streams
                .iter()
                .zip(self.scratch.iter_mut())
                .zip(work.iter_mut())
                .zip(layouts)
                .filter(|x| !x.1.indexed)
                .map(|x| x.0)
                .collect(),
            threads,
            |((st, sc), (recs, _))| {
                group_by_entity(sc, recs, st.ents.len());
                i64::MIN
            },
        );
        // ...then cut at entity boundaries into parts of about equal record counts, so
        // that a stream busier than the others is shared out too. Entities are
        // independent, and a part owns the slice of entities its records touch.
        let mut parts = Vec::new();
        for (si, ((st, sc), (recs, spill))) in self
            .state
            .streams
            .iter_mut()
            .zip(self.scratch.iter_mut())
            .zip(work.iter())
            .enumerate()
        {
            if layouts[si].indexed {
                sc.nparts = 0;
                continue;
            }
            let n = if recs.len() >= SPLIT_MIN_RECS {
                threads
            } else {
                1
            };
            let cuts = entity_cuts(recs, n);
            sc.nparts = cuts.len() - 1;
            if sc.parts.len() < sc.nparts {
                sc.parts.resize_with(sc.nparts, Default::default);
            }
            let StreamState { ents, .. } = st;
            let mut ents: &mut [Entity] = ents;
            let mut first = 0u32;
            for (w, vals) in cuts.windows(2).zip(sc.parts.iter_mut()) {
                let part = &recs[w[0]..w[1]];
                // Entities below the next part's first entity belong to this part.
                let next_first = recs.get(w[1]).map_or(first + ents.len() as u32, |r| r.ent);
                let (mine, rest) =
                    std::mem::take(&mut ents).split_at_mut((next_first - first) as usize);
                vals.clear();
                vals.reserve(part.len() * stream_out[si].len());
                parts.push((
                    si,
                    EntsMut { first, ents: mine },
                    part,
                    spill.as_slice(),
                    vals,
                ));
                ents = rest;
                first = next_first;
            }
        }
        // The biggest parts first, so that no thread is left with a big one at the end.
        parts.sort_by_key(|p| std::cmp::Reverse(p.2.len()));
        let last_time = side_by_side_jobs(parts, threads, |(si, ents, recs, spill, vals)| {
            apply_stream(
                StreamCtx {
                    layout: &layouts[si],
                    resolution: plan.streams[si].resolution,
                    ttl,
                    outs: &stream_out[si],
                },
                ents,
                recs,
                spill,
                Dest::Seq(vals),
                None,
            )
        });
        // Each stream's values, in its record order (its parts in order), into the rows.
        let nf = self.out.nf;
        for (si, (recs, _)) in work.iter().enumerate() {
            let outs = &self.stream_out[si];
            let w = outs.len();
            if w == 0 || self.layouts[si].indexed {
                continue;
            }
            let sc = &self.scratch[si];
            let vals = sc.parts[..sc.nparts].iter().flat_map(|v| v.chunks_exact(w));
            for (r, v) in recs.iter().filter(|r| r.flags & 2 == 0).zip(vals) {
                let row = &mut self.out.feats[r.row as usize * nf..][..nf];
                for (o, x) in outs.iter().zip(v) {
                    row[o.fi] = *x;
                }
            }
        }
        last_time
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Parts cover the records in order, never cut an entity's records apart, and are
        /// at most as many as asked for.
        #[test]
        fn entity_cuts_keep_each_entity_whole(
            runs in proptest::collection::vec(1usize..50, 0..60),
            n in 1usize..6,
        ) {
            let recs: Vec<Rec> = runs
                .iter()
                .enumerate()
                .flat_map(|(e, &k)| {
                    (0..k).map(move |i| Rec {
                        ent: e as u32 * 2,
                        row: i as u32,
                        time: 0,
                        v0: 0.0,
                        spill: 0,
                        flags: 1,
                    })
                })
                .collect();
            let cuts = entity_cuts(&recs, n);
            prop_assert_eq!(cuts[0], 0);
            prop_assert_eq!(*cuts.last().unwrap(), recs.len());
            prop_assert!(cuts.len() - 1 <= n.max(1));
            for w in cuts.windows(2) {
                prop_assert!(w[0] < w[1] || recs.is_empty());
            }
            for &c in &cuts[1..cuts.len() - 1] {
                prop_assert_ne!(recs[c].ent, recs[c - 1].ent);
            }
        }
    }
}
