//! Sequence patterns: a small automaton per (pattern, entity), run on each released event.
//!
//! ```text
//!  released tx ─▶ stage: flag word (stream filter bits | pattern condition bits), keys
//!                   │ for each pattern whose entity key is not null:
//!                   ▼
//!   automaton of that entity: partial matches (start time, next step)
//!     1. drop the partials whose start is `within` or more before the event
//!     2. each partial: the event passes its next step → advance (the last step: a match);
//!        else a `next` step → dropped (strictness broken); else skipped (an `any` step)
//!     3. the event passes step 1 → a new partial starts at it (at the cap: the oldest
//!        partial is dropped, counted)
//!     4. after a match under `skip_past_last`: every partial is dropped (matches do not
//!        overlap); two partials at the same step are merged into the later one (it
//!        dominates: the same future, a later expiry), so at most steps − 1 live
//!   ─▶ the feature: matched (0/1) | matches in (t − window, t] | seconds since the last
//! ```
//!
//! **Why at staging, not in the grouped apply.** A pattern's state is small and its
//! output depends on its entity's events in release order only; staging sees every
//! released transaction once, in that order, on the calling thread, for replay, the
//! pipeline and the decision service alike. So the outputs are exact whatever the chunk
//! size or thread count, and need none of the window machinery. The cost is one hash
//! lookup per event and pattern; an entity with no live partial and nothing to remember is
//! not kept, and an event that starts nothing on such an entity does not create one.
//!
//! **Semantics** (as in Flink CEP's skip-till-next-match with its `within`):
//! * A match's events are the entity's transactions (label events never take part), in
//!   event-time order (ties by id), with the last one less than `within` after the first:
//!   an event exactly `within` after the start is out, like the windows' `(t − len, t]`.
//! * A partial match advances at the first later event passing its next step; it does not
//!   branch (an event that advances it is not also skipped by it).
//! * A late event under `late_events = "update"` is fed to the automata when it arrives,
//!   as the entity's next event with its own time (features from the current state, as
//!   the windows give it). `drop` and `dead_letter` keep it out, as they do for windows.
//! * The TTL applies as to windows: an entity idle longer starts afresh.
//!
//! The automata are part of the checkpoint (format version 2, see `checkpoint`): a run
//! stopped mid-pattern resumes with its partial matches exactly.

use crate::plan::PatternDef;
use crate::spec::PatternOutput;
use riskstream_core::time::MICROS_PER_SEC;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// Every pattern's automata, and what the cap dropped.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct PatternStates {
    /// Per pattern: automata by entity key.
    pats: Vec<FxHashMap<u128, Automaton>>,
    /// Per pattern: partial matches dropped at the cap.
    dropped: Vec<u64>,
}

/// One entity's automaton for one pattern.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Automaton {
    /// Latest event time seen (for the TTL).
    seen: i64,
    /// Live partial matches, oldest start first.
    partials: Vec<Partial>,
    /// Completion times still inside the count window (`output = "count"` only).
    matches: Vec<i64>,
    /// Time of the last completed match (`output = "since_last"` only).
    last_match: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Partial {
    /// Event time of its first step.
    start: i64,
    /// The next step to match.
    step: u32,
}

impl Automaton {
    fn is_empty(&self) -> bool {
        self.partials.is_empty() && self.matches.is_empty() && self.last_match.is_none()
    }

    fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.partials.capacity() * std::mem::size_of::<Partial>()
            + self.matches.capacity() * 8
    }
}

impl PatternStates {
    pub(super) fn new(patterns: usize) -> Self {
        PatternStates {
            pats: vec![FxHashMap::default(); patterns],
            dropped: vec![0; patterns],
        }
    }

    /// Whether the state fits a plan with `patterns` patterns.
    pub(super) fn fits(&self, patterns: usize) -> bool {
        self.pats.len() == patterns && self.dropped.len() == patterns
    }

    /// Partial matches dropped at the cap, per pattern.
    pub(super) fn dropped(&self) -> &[u64] {
        &self.dropped
    }

    /// Automata held and their approximate bytes.
    pub(super) fn summary(&self) -> (usize, usize) {
        let n = self.pats.iter().map(FxHashMap::len).sum();
        let b = self
            .pats
            .iter()
            .flat_map(FxHashMap::values)
            .map(|a| a.bytes() + 16)
            .sum();
        (n, b)
    }

    /// Memory reclaim for the TTL: drops automata idle since before `cutoff` (their next
    /// event would reset them anyway). Returns how many.
    pub(super) fn evict(&mut self, cutoff: i64) -> usize {
        let mut gone = 0;
        for m in &mut self.pats {
            let before = m.len();
            m.retain(|_, a| a.seen >= cutoff);
            gone += before - m.len();
        }
        gone
    }

    /// Feeds the event (time `t`, flag word `flags`) of entity `key` to pattern `pi`'s
    /// automaton and gives the feature's value.
    pub(super) fn step(
        &mut self,
        pi: usize,
        p: &PatternDef,
        key: u128,
        t: i64,
        flags: u64,
        ttl: Option<i64>,
    ) -> f64 {
        let starts = passes(flags, p.steps[0].mask);
        let map = &mut self.pats[pi];
        let Some(a) = map.get_mut(&key) else {
            // Nothing remembered: unless the event starts a partial match (or is a whole
            // match), no automaton is made for it.
            if !starts {
                return idle_value(p);
            }
            let mut a = Automaton {
                seen: t,
                ..Automaton::default()
            };
            let v = advance(&mut a, p, t, flags, &mut self.dropped[pi]);
            if !a.is_empty() {
                map.insert(key, a);
            }
            return v;
        };
        match ttl {
            // Idle longer than the TTL: it starts afresh, as windows do.
            Some(ttl) if a.seen < t.saturating_sub(ttl) => {
                *a = Automaton {
                    seen: t,
                    ..Automaton::default()
                };
            }
            _ => a.seen = a.seen.max(t),
        }
        let v = advance(a, p, t, flags, &mut self.dropped[pi]);
        if a.is_empty() {
            map.remove(&key);
        }
        v
    }
}

#[inline]
fn passes(flags: u64, mask: u64) -> bool {
    flags & mask == mask
}

/// The value for an entity with nothing remembered.
fn idle_value(p: &PatternDef) -> f64 {
    match p.output {
        PatternOutput::Matched | PatternOutput::Count { .. } => 0.0,
        PatternOutput::SinceLast => p.empty,
    }
}

/// One event through one automaton (see the module docs): the feature's value.
fn advance(a: &mut Automaton, p: &PatternDef, t: i64, flags: u64, dropped: &mut u64) -> f64 {
    let n = p.steps.len() as u32;
    let mut completed = 0u32;
    a.partials.retain_mut(|q| {
        if t.saturating_sub(q.start) >= p.within {
            return false;
        }
        let s = p.steps[q.step as usize];
        if passes(flags, s.mask) {
            q.step += 1;
            if q.step == n {
                completed += 1;
                return false;
            }
            true
        } else {
            !s.next
        }
    });
    if completed > 0 && p.skip_past_last {
        // The next match starts after this one's last event.
        a.partials.clear();
        completed = 1;
    } else if passes(flags, p.steps[0].mask) {
        if n == 1 {
            completed += 1;
        } else {
            if a.partials.len() >= p.cap {
                // The oldest start expires first anyway.
                if let Some(i) = (0..a.partials.len()).min_by_key(|&i| a.partials[i].start) {
                    a.partials.remove(i);
                    *dropped += 1;
                }
            }
            a.partials.push(Partial { start: t, step: 1 });
        }
        if completed > 0 && p.skip_past_last {
            a.partials.clear();
            completed = 1;
        }
    }
    if p.skip_past_last && a.partials.len() > 1 {
        // Of two partials at the same step the later start dominates: the same events
        // advance both, and it expires later.
        // (Equal ones: the first is kept.) At most steps − 1 partials: no allocation.
        let mut i = 0;
        while i < a.partials.len() {
            let q = a.partials[i];
            let dominated = a.partials.iter().enumerate().any(|(j, o)| {
                o.step == q.step && (o.start > q.start || (o.start == q.start && j < i))
            });
            if dominated {
                a.partials.remove(i);
            } else {
                i += 1;
            }
        }
    }
    match p.output {
        PatternOutput::Matched => f64::from(u8::from(completed > 0)),
        PatternOutput::Count { window } => {
            a.matches.extend(std::iter::repeat_n(t, completed as usize));
            let from = t.saturating_sub(window);
            a.matches.retain(|&m| m > from);
            a.matches.len() as f64
        }
        PatternOutput::SinceLast => {
            if completed > 0 {
                a.last_match = Some(t);
            }
            match a.last_match {
                Some(m) => (t.saturating_sub(m)).max(0) as f64 / MICROS_PER_SEC as f64,
                None => p.empty,
            }
        }
    }
}
