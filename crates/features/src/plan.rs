//! The physical plan: features grouped into *streams* that share state.
//!
//! A stream is one (entity field, filter, resolution) triple. All features on the same
//! stream share one per-entity deque of entries; each distinct (window, offset) pair on it
//! gets one set of running accumulators. Each entry stores one value per *slot*: a numeric
//! field, a label field, or the hash of a field counted by `distinct_count`.

use crate::spec::{
    AfterMatch, Agg, CalendarKind, FeatureDef, FeatureSpec, Filter, LabelMode, PatternOutput,
    Strictness,
};

/// Where an entry slot's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotSrc {
    /// A numeric event field (int, float, bool); null counts as 0.
    Num(usize),
    /// A label field: inline from the event, or 0 until a label event sets it.
    Label(usize),
    /// The 64-bit hash of any field, for distinct counts (stored as f64 bits).
    Hash(usize),
}

/// One (window, offset) pair on a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct WinDef {
    /// Length (µs); `i64::MAX` never happens: unbounded features use no window.
    pub len: i64,
    /// Offset (µs).
    pub off: i64,
    /// Whether the window keeps sums of squares (some slot's std is read).
    pub sumsq: bool,
    /// Slots needing distinct counting.
    pub distinct: Vec<usize>,
    /// Slots whose running sum a feature reads (sum, mean, std): only these are added and
    /// subtracted as entries move, the others' sums stay 0 and are never read.
    pub sums: Vec<usize>,
    /// Slots whose sum of squares a feature reads (std).
    pub squares: Vec<usize>,
    /// (slot, is max) of every min/max feature: each keeps a monotonic deque.
    pub extremes: Vec<(usize, bool)>,
}

/// A stream.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamDef {
    /// Entity-key field.
    pub entity: usize,
    /// Filter on entering events.
    pub filter: Option<Filter>,
    /// Bucket width, or exact.
    pub resolution: Option<i64>,
    /// Value slots.
    pub slots: Vec<SlotSrc>,
    /// Windows.
    pub windows: Vec<WinDef>,
    /// True if some slot is a label (so label events must find entries by transaction id).
    pub has_labels: bool,
}

/// How to compute one output feature.
#[derive(Debug, Clone, PartialEq)]
pub enum FeatureOp {
    /// Calendar feature.
    Calendar(CalendarKind),
    /// Windowed aggregation on (stream, window, slot).
    Window {
        stream: usize,
        window: usize,
        agg: Agg,
        slot: Option<usize>,
        empty: f64,
    },
    /// Previous-event feature on (stream, slot).
    Last {
        stream: usize,
        slot: usize,
        empty: f64,
    },
    /// Seconds since the entity's previous event.
    SinceLast { stream: usize, empty: f64 },
    /// Ratio of two earlier outputs (feature indices).
    Ratio { num: usize, den: usize, empty: f64 },
    /// Arithmetic expression (index into the engine's compiled expressions).
    Expr { expr: usize, empty: f64 },
    /// Sequence pattern (index into [`Plan::patterns`]).
    Pattern { pattern: usize },
}

/// A compiled pattern step: the event's flag word must hold every bit of `mask` (its
/// conditions, see [`Plan::condition_bit`]); `next`: strictly the entity's next event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepDef {
    /// Condition bits that must all be set (0: any event).
    pub mask: u64,
    /// Strict contiguity with the previous step.
    pub next: bool,
}

/// A compiled pattern feature.
#[derive(Debug, Clone, PartialEq)]
pub struct PatternDef {
    /// Output feature index.
    pub fi: usize,
    /// Index into [`Plan::pattern_entities`].
    pub key: usize,
    /// Steps in order.
    pub steps: Vec<StepDef>,
    /// µs from the first step's event within which the last must come (exclusive).
    pub within: i64,
    /// What is output.
    pub output: PatternOutput,
    /// Whether a completed match drops the other partial matches.
    pub skip_past_last: bool,
    /// Live partial matches per entity.
    pub cap: usize,
    /// Value for a null key (and `since_last` before any match).
    pub empty: f64,
}

/// The compiled plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Streams.
    pub streams: Vec<StreamDef>,
    /// One op per output feature, in spec order.
    pub ops: Vec<FeatureOp>,
    /// Whether label events are expected.
    pub label_events: bool,
    /// Pattern features.
    pub patterns: Vec<PatternDef>,
    /// Entity fields the patterns are keyed by (each once).
    pub pattern_entities: Vec<usize>,
    /// Distinct pattern conditions: condition `c` sets [`Plan::condition_bit`]`(c)` in an
    /// event's flag word, whose low bits are the streams' filter bits (the spec checks
    /// that both fit in 64).
    pub conditions: Vec<Filter>,
}

impl Plan {
    /// Compiles a validated spec.
    pub fn compile(spec: &FeatureSpec) -> Plan {
        let mut streams: Vec<StreamDef> = Vec::new();
        let mut ops = Vec::new();
        let label_events = matches!(spec.labels, LabelMode::Events { .. });
        let mut patterns = Vec::new();
        let mut pattern_entities: Vec<usize> = Vec::new();
        let mut conditions: Vec<Filter> = Vec::new();
        for (fi, f) in spec.features.iter().enumerate() {
            match f {
                FeatureDef::Pattern(p) => {
                    let key = match pattern_entities.iter().position(|&e| e == p.entity) {
                        Some(k) => k,
                        None => {
                            pattern_entities.push(p.entity);
                            pattern_entities.len() - 1
                        }
                    };
                    let steps = p
                        .steps
                        .iter()
                        .map(|s| StepDef {
                            mask: s.when.iter().fold(0, |m, c| {
                                let ci = match conditions.iter().position(|x| x == c) {
                                    Some(i) => i,
                                    None => {
                                        conditions.push(c.clone());
                                        conditions.len() - 1
                                    }
                                };
                                m | Plan::condition_bit(ci)
                            }),
                            next: s.strictness == Strictness::Next,
                        })
                        .collect();
                    ops.push(FeatureOp::Pattern {
                        pattern: patterns.len(),
                    });
                    patterns.push(PatternDef {
                        fi,
                        key,
                        steps,
                        within: p.within,
                        output: p.output,
                        skip_past_last: p.after_match == AfterMatch::SkipPastLast,
                        cap: p.max_partial,
                        empty: p.empty,
                    });
                }
                FeatureDef::Calendar(c) => ops.push(FeatureOp::Calendar(c.kind)),
                FeatureDef::Expr(e) => {
                    let n = ops
                        .iter()
                        .filter(|o| matches!(o, FeatureOp::Expr { .. }))
                        .count();
                    ops.push(FeatureOp::Expr {
                        expr: n,
                        empty: e.empty,
                    });
                }
                FeatureDef::Ratio(r) => {
                    let idx = |n: &str| {
                        spec.features
                            .iter()
                            .position(|f| f.name() == n)
                            .unwrap_or(0)
                    };
                    ops.push(FeatureOp::Ratio {
                        num: idx(&r.numerator),
                        den: idx(&r.denominator),
                        empty: r.empty,
                    });
                }
                FeatureDef::Window(w) => {
                    let si = match streams.iter().position(|s| {
                        s.entity == w.entity && s.filter == w.filter && s.resolution == w.resolution
                    }) {
                        Some(i) => i,
                        None => {
                            streams.push(StreamDef {
                                entity: w.entity,
                                filter: w.filter.clone(),
                                resolution: w.resolution,
                                slots: Vec::new(),
                                windows: Vec::new(),
                                has_labels: false,
                            });
                            streams.len() - 1
                        }
                    };
                    let s = &mut streams[si];
                    let slot = w.field.map(|fi| {
                        let src = if w.agg == Agg::DistinctCount {
                            SlotSrc::Hash(fi)
                        } else if spec.schema.labels.contains(&fi) {
                            SlotSrc::Label(fi)
                        } else {
                            SlotSrc::Num(fi)
                        };
                        if matches!(src, SlotSrc::Label(_)) {
                            s.has_labels = true;
                        }
                        match s.slots.iter().position(|x| *x == src) {
                            Some(i) => i,
                            None => {
                                s.slots.push(src);
                                s.slots.len() - 1
                            }
                        }
                    });
                    match w.agg {
                        Agg::Last => ops.push(FeatureOp::Last {
                            stream: si,
                            slot: slot.unwrap_or(0),
                            empty: w.empty,
                        }),
                        Agg::TimeSinceLast => ops.push(FeatureOp::SinceLast {
                            stream: si,
                            empty: w.empty,
                        }),
                        agg => {
                            let len = w.window.unwrap_or(1);
                            let wi = match s
                                .windows
                                .iter()
                                .position(|x| x.len == len && x.off == w.offset)
                            {
                                Some(i) => i,
                                None => {
                                    s.windows.push(WinDef {
                                        len,
                                        off: w.offset,
                                        sumsq: false,
                                        distinct: Vec::new(),
                                        sums: Vec::new(),
                                        squares: Vec::new(),
                                        extremes: Vec::new(),
                                    });
                                    s.windows.len() - 1
                                }
                            };
                            let win = &mut s.windows[wi];
                            // What the feature reads decides what the window maintains
                            // (`Entity::value` reads slot 0 when a feature names none).
                            let sl = slot.unwrap_or(0);
                            let has_slot = !s.slots.is_empty();
                            let add = |v: &mut Vec<usize>| {
                                if has_slot && !v.contains(&sl) {
                                    v.push(sl);
                                }
                            };
                            match agg {
                                Agg::Sum | Agg::Mean => add(&mut win.sums),
                                Agg::Std => {
                                    win.sumsq = true;
                                    add(&mut win.sums);
                                    add(&mut win.squares);
                                }
                                Agg::Min | Agg::Max if has_slot => {
                                    let x = (sl, agg == Agg::Max);
                                    if !win.extremes.contains(&x) {
                                        win.extremes.push(x);
                                    }
                                }
                                _ => {}
                            }
                            if let (Agg::DistinctCount, Some(sl)) = (agg, slot) {
                                if !win.distinct.contains(&sl) {
                                    win.distinct.push(sl);
                                }
                            }
                            ops.push(FeatureOp::Window {
                                stream: si,
                                window: wi,
                                agg,
                                slot,
                                empty: w.empty,
                            });
                        }
                    }
                }
            }
        }
        Plan {
            streams,
            ops,
            label_events,
            patterns,
            pattern_entities,
            conditions,
        }
    }

    /// The flag-word bit of pattern condition `c` (from the top: the low bits are the
    /// streams').
    pub fn condition_bit(c: usize) -> u64 {
        1u64 << (63 - c)
    }

    /// Fields the engine must read from each event (beyond time and id).
    pub fn needed_fields(&self) -> Vec<usize> {
        let mut v: Vec<usize> = Vec::new();
        let mut add = |i: usize| {
            if !v.contains(&i) {
                v.push(i);
            }
        };
        for s in &self.streams {
            add(s.entity);
            if let Some(f) = &s.filter {
                add(f.field);
            }
            for sl in &s.slots {
                match *sl {
                    SlotSrc::Num(i) | SlotSrc::Label(i) | SlotSrc::Hash(i) => add(i),
                }
            }
        }
        for &e in &self.pattern_entities {
            add(e);
        }
        for c in &self.conditions {
            add(c.field);
        }
        v
    }
}
