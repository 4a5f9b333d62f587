//! The running checks: records in, one report per closed event-time window out.
//!
//! Every record counts in the window of its own event time, except freshness, which counts
//! in the *arrival* window (the window of the stream's latest event time when the record
//! came): a late source shows up while it is late, not in a window long closed. A window
//! closes once the stream's latest event time is `lateness` past its end; a window with no
//! record at all still closes (and a volume check sees its zero). A record whose window has
//! already closed is counted as `late_records` in the arrival window and judged only by the
//! record-level checks that may quarantine it.
//!
//! Memory is bounded by the open windows (`lateness / window + 2` of them): per window, a
//! counter per rate check, a set of value hashes per uniqueness check, a frequent-items
//! sketch (64 counters) per stuck check and a KLL sketch (k = 200) or a capped category
//! table per drift check.

use super::spec::{Action, Check, Clock, Kind, QualitySpec};
use datasketches::common::SearchCriteria;
use datasketches::frequencies::{ErrorType, FrequentItemsSketch};
use datasketches::kll::{KllFloat, KllSketch};
use riskstream_core::time::format_micros;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use xxhash_rust::xxh3::xxh3_64;

/// One value of a record, as the checks see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    /// Missing, null or empty.
    Null,
    /// A number (booleans as 0 and 1, timestamps as microseconds).
    Num(f64),
    /// Text.
    Text(&'a str),
    /// Present but neither a number nor text (a JSON array or object).
    Other,
}

/// A record the checks can read.
pub trait Row {
    /// The value of the schema's field at `field`.
    fn cell(&self, field: usize) -> Cell<'_>;
    /// The record's event time, microseconds since the epoch; `None` when missing or
    /// unreadable.
    fn event_time(&self) -> Option<i64>;
}

/// How a check came out in one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Within its limit.
    Pass,
    /// Beyond its limit.
    Fired,
    /// Too few records to judge (`min_records`), or the input ended inside the window.
    Skipped,
    /// Still gathering its reference (volume history, drift reference).
    Learning,
}

/// One check's result in one window.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// The check's name.
    pub check: String,
    /// Its kind.
    pub kind: &'static str,
    /// The field it reads, if one.
    pub field: Option<String>,
    /// How it came out.
    pub status: Status,
    /// The measured value (a share, a ratio to the usual volume, a PSI).
    pub value: Option<f64>,
    /// The limit it is held to, as text (`≤ 0.01`, `0.5–2`).
    pub limit: String,
    /// What happens when it fires.
    pub action: Action,
    /// The figures behind the value, for people.
    pub detail: String,
}

/// One closed window.
#[derive(Debug, Clone, Serialize)]
pub struct WindowReport {
    /// Window start (UTC).
    pub start: String,
    /// Window end (UTC, exclusive).
    pub end: String,
    /// Window start, microseconds since the epoch.
    pub start_us: i64,
    /// Records whose event time falls in the window.
    pub records: u64,
    /// Records that arrived during this window for windows already closed.
    pub late_records: u64,
    /// One result per check, in file order.
    pub results: Vec<CheckResult>,
}

impl WindowReport {
    /// The results that fired.
    pub fn fired(&self) -> impl Iterator<Item = &CheckResult> {
        self.results.iter().filter(|r| r.status == Status::Fired)
    }
}

/// A record a quarantine check refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantine {
    /// The check's name.
    pub check: String,
    /// Why, for the dead letter (no value of the record is quoted).
    pub reason: String,
}

/// Counts over the whole run, per check.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckTotals {
    /// Windows judged.
    pub windows: u64,
    /// Windows in which it fired.
    pub fired: u64,
    /// Records it quarantined.
    pub quarantined: u64,
}

enum Acc {
    Rate {
        bad: u64,
        n: u64,
    },
    Unique {
        seen: HashSet<u64>,
        dups: u64,
        n: u64,
    },
    Fresh {
        late: u64,
        n: u64,
        max_lag: i64,
    },
    Volume,
    Stuck {
        items: FrequentItemsSketch<u64>,
        n: u64,
    },
    DriftNum(KllSketch<KllFloat<f64>>),
    DriftCat {
        counts: HashMap<u64, u64>,
        n: u64,
    },
}

/// Distinct categories a drift table keeps per window before pooling the rest.
const CATEGORY_CAP: usize = 1024;
/// The pooled "other categories" key.
const OTHER: u64 = u64::MAX;
/// Empty windows closed in one go before the monitor jumps ahead.
const GAP_CAP: i64 = 10_000;

struct Win {
    records: u64,
    late_records: u64,
    accs: Vec<Acc>,
}

enum Reference {
    None,
    Num(KllSketch<KllFloat<f64>>),
    Cat(HashMap<u64, u64>),
}

struct State {
    history: VecDeque<u64>,
    reference: Reference,
    reference_windows: usize,
}

/// Runs a [`QualitySpec`]'s checks over records.
pub struct Monitor {
    spec: Arc<QualitySpec>,
    numeric_drift: Vec<bool>,
    open: BTreeMap<i64, Win>,
    next_start: Option<i64>,
    max_event: Option<i64>,
    states: Vec<State>,
    reports: Vec<WindowReport>,
    totals: Vec<CheckTotals>,
    untimed: u64,
}

fn hash_cell(c: Cell<'_>) -> u64 {
    match c {
        Cell::Num(v) => {
            let v = if v == 0.0 { 0.0 } else { v };
            xxh3_64(&v.to_bits().to_le_bytes())
        }
        Cell::Text(s) => xxh3_64(s.as_bytes()),
        Cell::Null | Cell::Other => 0,
    }
}

fn present(c: Cell<'_>) -> bool {
    !matches!(c, Cell::Null | Cell::Text(""))
}

impl Monitor {
    /// A monitor for `spec`; `numeric` tells, per schema field, whether it holds numbers
    /// (drift then compares quantiles rather than category shares).
    pub fn new(spec: Arc<QualitySpec>, numeric: &[bool]) -> Self {
        let numeric_drift = spec
            .checks
            .iter()
            .map(|c| {
                c.kind
                    .field()
                    .is_some_and(|f| numeric.get(f) == Some(&true))
            })
            .collect();
        let states = spec
            .checks
            .iter()
            .map(|_| State {
                history: VecDeque::new(),
                reference: Reference::None,
                reference_windows: 0,
            })
            .collect();
        let totals = vec![CheckTotals::default(); spec.checks.len()];
        Self {
            spec,
            numeric_drift,
            open: BTreeMap::new(),
            next_start: None,
            max_event: None,
            states,
            reports: Vec::new(),
            totals,
            untimed: 0,
        }
    }

    /// The spec it runs.
    pub fn spec(&self) -> &QualitySpec {
        &self.spec
    }

    /// Per check, in file order: windows judged, fired and records quarantined so far.
    pub fn totals(&self) -> &[CheckTotals] {
        &self.totals
    }

    /// Records without a readable event time (not judged).
    pub fn untimed(&self) -> u64 {
        self.untimed
    }

    fn window_of(&self, t: i64) -> i64 {
        t.div_euclid(self.spec.window_us) * self.spec.window_us
    }

    fn new_win(&self) -> Win {
        let accs = self
            .spec
            .checks
            .iter()
            .zip(&self.numeric_drift)
            .map(|(c, &num)| match &c.kind {
                Kind::Completeness { .. } | Kind::Validity { .. } => Acc::Rate { bad: 0, n: 0 },
                Kind::Uniqueness { .. } => Acc::Unique {
                    seen: HashSet::new(),
                    dups: 0,
                    n: 0,
                },
                Kind::Freshness { .. } => Acc::Fresh {
                    late: 0,
                    n: 0,
                    max_lag: 0,
                },
                Kind::Volume { .. } => Acc::Volume,
                Kind::Stuck { .. } => Acc::Stuck {
                    items: FrequentItemsSketch::new(64).expect("64 is a power of two"),
                    n: 0,
                },
                Kind::Drift { .. } if num => {
                    Acc::DriftNum(KllSketch::new(200).expect("200 is a valid k"))
                }
                Kind::Drift { .. } => Acc::DriftCat {
                    counts: HashMap::new(),
                    n: 0,
                },
            })
            .collect();
        Win {
            records: 0,
            late_records: 0,
            accs,
        }
    }

    /// Judges one record; `now_us` is the machine's clock (used by `clock = "processing"`).
    /// Returns the first quarantine check it violates, if any. Windows the record's time
    /// closes are reported through [`Monitor::take_reports`].
    pub fn observe(&mut self, row: &impl Row, now_us: i64) -> Option<Quarantine> {
        let Some(t) = row.event_time() else {
            self.untimed += 1;
            return None;
        };
        let lag_ref = match self.spec.clock {
            Clock::Stream => self.max_event,
            Clock::Processing => Some(now_us),
        };
        let latest = self.max_event.map_or(t, |m| m.max(t));
        self.max_event = Some(latest);
        let own = self.window_of(t);
        let arrival = self.window_of(latest);
        let next = *self.next_start.get_or_insert(own);
        let own_open = own >= next;
        if !self.open.contains_key(&arrival) {
            let w = self.new_win();
            self.open.insert(arrival, w);
        }
        if own_open && !self.open.contains_key(&own) {
            let w = self.new_win();
            self.open.insert(own, w);
        }
        let spec = Arc::clone(&self.spec);
        let mut quarantine = None;
        for (i, check) in spec.checks.iter().enumerate() {
            let violated = match &check.kind {
                Kind::Freshness { max_lag_us, .. } => {
                    let lag = lag_ref.map_or(0, |r| r - t);
                    let late = lag > *max_lag_us;
                    if let Some(Acc::Fresh {
                        late: l,
                        n,
                        max_lag,
                    }) = self.open.get_mut(&arrival).and_then(|w| w.accs.get_mut(i))
                    {
                        *n += 1;
                        *l += u64::from(late);
                        *max_lag = (*max_lag).max(lag);
                    }
                    late.then(|| format!("arrived {} behind the clock", human_lag(lag)))
                }
                _ => {
                    let win = if own_open {
                        self.open.get_mut(&own).and_then(|w| w.accs.get_mut(i))
                    } else {
                        None
                    };
                    judge(check, row, win)
                }
            };
            if let Some(why) = violated {
                if check.action == Action::Quarantine && quarantine.is_none() {
                    self.totals[i].quarantined += 1;
                    quarantine = Some(Quarantine {
                        check: check.name.clone(),
                        reason: format!("quality:{}: {why}", check.name),
                    });
                }
            }
        }
        if own_open {
            if let Some(w) = self.open.get_mut(&own) {
                w.records += 1;
            }
        } else if let Some(w) = self.open.get_mut(&arrival) {
            w.late_records += 1;
        }
        self.close_until(latest - self.spec.lateness_us);
        quarantine
    }

    /// Closes every window that ends at or before `watermark`, in order, empty ones too.
    fn close_until(&mut self, watermark: i64) {
        let w = self.spec.window_us;
        while let Some(next) = self.next_start {
            if next + w > watermark {
                break;
            }
            let win = match self.open.remove(&next) {
                Some(win) => win,
                None => {
                    // A long silence: jump to the next open window rather than closing
                    // millions of empty ones.
                    let first = self.open.keys().next().copied();
                    if let Some(first) = first.filter(|&f| (f - next) / w > GAP_CAP) {
                        self.next_start = Some(first);
                        continue;
                    }
                    self.new_win()
                }
            };
            self.close(next, win, false);
            self.next_start = Some(next + w);
        }
    }

    /// Closes every open window (the input ended). The last is marked as cut short, so
    /// the volume check skips it.
    pub fn finish(&mut self) {
        let Some(last) = self.open.keys().next_back().copied() else {
            return;
        };
        self.close_until(last);
        let w = self.spec.window_us;
        while let Some(next) = self.next_start {
            if next > last {
                break;
            }
            let win = self.open.remove(&next).unwrap_or_else(|| self.new_win());
            self.close(next, win, next == last);
            self.next_start = Some(next + w);
        }
    }

    /// The reports of the windows closed since the last call, oldest first.
    pub fn take_reports(&mut self) -> Vec<WindowReport> {
        std::mem::take(&mut self.reports)
    }
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("checks", &self.spec.checks.len())
            .field("open_windows", &self.open.len())
            .field("next_start", &self.next_start)
            .field("max_event", &self.max_event)
            .finish_non_exhaustive()
    }
}

impl Monitor {
    fn close(&mut self, start: i64, win: Win, cut: bool) {
        let spec = Arc::clone(&self.spec);
        let mut results = Vec::with_capacity(spec.checks.len());
        for (i, (check, acc)) in spec.checks.iter().zip(win.accs).enumerate() {
            let r = evaluate(check, acc, win.records, cut, &mut self.states[i], &spec);
            if matches!(r.status, Status::Pass | Status::Fired) {
                self.totals[i].windows += 1;
            }
            if r.status == Status::Fired {
                self.totals[i].fired += 1;
            }
            results.push(r);
        }
        self.reports.push(WindowReport {
            start: format_micros(start),
            end: format_micros(start + spec.window_us),
            start_us: start,
            records: win.records,
            late_records: win.late_records,
            results,
        });
    }
}

/// A record against one record-level check, counted into its window's accumulator when
/// the window is open. Returns why it violates the check, if it does.
fn judge(check: &Check, row: &impl Row, acc: Option<&mut Acc>) -> Option<String> {
    match &check.kind {
        Kind::Completeness { field, .. } => {
            let bad = !present(row.cell(*field));
            if let Some(Acc::Rate { bad: b, n }) = acc {
                *n += 1;
                *b += u64::from(bad);
            }
            bad.then(|| "the field is missing or empty".to_string())
        }
        Kind::Validity {
            field,
            min,
            max,
            values,
            pattern,
            ..
        } => {
            let c = row.cell(*field);
            if !present(c) {
                return None;
            }
            let why = match c {
                Cell::Num(v)
                    if min.is_some_and(|m| v < m)
                        || max.is_some_and(|m| v > m)
                        || !v.is_finite() =>
                {
                    Some("the value is out of range".to_string())
                }
                Cell::Num(_) => None,
                Cell::Text(s) => {
                    if values.as_ref().is_some_and(|vs| !vs.iter().any(|v| v == s)) {
                        Some("the value is not one of the allowed values".to_string())
                    } else if pattern.as_ref().is_some_and(|p| !p.is_match(s)) {
                        Some("the value does not match the pattern".to_string())
                    } else if min.is_some() || max.is_some() {
                        Some("the value is not a number".to_string())
                    } else {
                        None
                    }
                }
                Cell::Other => Some("the value is neither a number nor text".to_string()),
                Cell::Null => None,
            };
            if let Some(Acc::Rate { bad, n }) = acc {
                *n += 1;
                *bad += u64::from(why.is_some());
            }
            why
        }
        Kind::Uniqueness { field, .. } => {
            let c = row.cell(*field);
            if !present(c) {
                return None;
            }
            let Some(Acc::Unique { seen, dups, n }) = acc else {
                return None;
            };
            *n += 1;
            let dup = !seen.insert(hash_cell(c));
            *dups += u64::from(dup);
            dup.then(|| "the value repeats an earlier record's in this window".to_string())
        }
        Kind::Stuck { field, .. } => {
            let c = row.cell(*field);
            if let (true, Some(Acc::Stuck { items, n })) = (present(c), acc) {
                *n += 1;
                items.update(hash_cell(c));
            }
            None
        }
        Kind::Drift { field, .. } => {
            match (row.cell(*field), acc) {
                (Cell::Num(v), Some(Acc::DriftNum(s))) if v.is_finite() => {
                    if let Ok(k) = KllFloat::<f64>::new(v) {
                        s.update(k);
                    }
                }
                (c @ Cell::Text(_), Some(Acc::DriftCat { counts, n })) if present(c) => {
                    *n += 1;
                    let h = hash_cell(c);
                    let key = if counts.len() < CATEGORY_CAP || counts.contains_key(&h) {
                        h
                    } else {
                        OTHER
                    };
                    *counts.entry(key).or_insert(0) += 1;
                }
                (Cell::Num(v), Some(Acc::DriftCat { counts, n })) => {
                    *n += 1;
                    *counts.entry(hash_cell(Cell::Num(v))).or_insert(0) += 1;
                }
                _ => {}
            }
            None
        }
        Kind::Freshness { .. } | Kind::Volume { .. } => None,
    }
}

fn human_lag(us: i64) -> String {
    let s = us / 1_000_000;
    if s >= 86_400 {
        format!("{:.1} days", s as f64 / 86_400.0)
    } else if s >= 3_600 {
        format!("{:.1} h", s as f64 / 3_600.0)
    } else if s >= 60 {
        format!("{:.1} min", s as f64 / 60.0)
    } else {
        format!("{s} s")
    }
}

fn share(bad: u64, n: u64) -> f64 {
    if n == 0 {
        0.0
    } else {
        bad as f64 / n as f64
    }
}

fn median(v: &VecDeque<u64>) -> f64 {
    let mut s: Vec<u64> = v.iter().copied().collect();
    s.sort_unstable();
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m] as f64
    } else {
        (s[m - 1] + s[m]) as f64 / 2.0
    }
}

/// Population stability index over matching bins (shares floored at 1e-4).
fn psi(reference: &[f64], window: &[f64]) -> f64 {
    reference
        .iter()
        .zip(window)
        .map(|(&r, &w)| {
            let (r, w) = (r.max(1e-4), w.max(1e-4));
            (w - r) * (w / r).ln()
        })
        .sum()
}

/// Shares per bin from cumulative ranks at the edges (the last bin up to 1).
fn bins_from_cdf(cdf: &[f64]) -> Vec<f64> {
    let mut prev = 0.0;
    cdf.iter()
        .map(|&c| {
            let s = c - prev;
            prev = c;
            s.max(0.0)
        })
        .collect()
}

fn evaluate(
    check: &Check,
    acc: Acc,
    records: u64,
    cut: bool,
    state: &mut State,
    spec: &QualitySpec,
) -> CheckResult {
    let field = check.kind.field().map(|f| spec.field_names[f].clone());
    let mut r = CheckResult {
        check: check.name.clone(),
        kind: check.kind.name(),
        field,
        status: Status::Pass,
        value: None,
        limit: String::new(),
        action: check.action,
        detail: String::new(),
    };
    let rate = |r: &mut CheckResult, bad: u64, n: u64, limit: f64, what: &str| {
        r.limit = format!("≤ {limit}");
        if n < check.min_records {
            r.status = Status::Skipped;
            r.detail = format!(
                "{n} records, fewer than min_records ({})",
                check.min_records
            );
            return;
        }
        let v = share(bad, n);
        r.value = Some(v);
        r.status = if v > limit {
            Status::Fired
        } else {
            Status::Pass
        };
        r.detail = format!("{bad} of {n} {what}");
    };
    match (&check.kind, acc) {
        (Kind::Completeness { max_null_rate, .. }, Acc::Rate { bad, n }) => {
            rate(&mut r, bad, n, *max_null_rate, "records missing or empty")
        }
        (
            Kind::Validity {
                max_invalid_rate, ..
            },
            Acc::Rate { bad, n },
        ) => rate(&mut r, bad, n, *max_invalid_rate, "values invalid"),
        (
            Kind::Uniqueness {
                max_duplicate_rate, ..
            },
            Acc::Unique { dups, n, .. },
        ) => rate(&mut r, dups, n, *max_duplicate_rate, "values repeated"),
        (
            Kind::Freshness {
                max_late_rate,
                max_lag_us,
            },
            Acc::Fresh { late, n, max_lag },
        ) => {
            rate(&mut r, late, n, *max_late_rate, "arrivals late");
            if r.status != Status::Skipped {
                r.detail = format!(
                    "{late} of {n} arrivals more than {} behind the clock; the worst {}",
                    human_lag(*max_lag_us),
                    human_lag(max_lag)
                );
            }
        }
        (
            Kind::Volume {
                min_ratio,
                max_ratio,
                history,
                min_history,
            },
            Acc::Volume,
        ) => {
            r.limit = format!("{min_ratio}–{max_ratio} × usual");
            if cut {
                r.status = Status::Skipped;
                r.detail = format!("{records} records; the input ended inside this window");
            } else if state.history.len() < *min_history {
                r.status = Status::Learning;
                r.detail = format!(
                    "{records} records; {} of {min_history} windows of history",
                    state.history.len()
                );
                state.history.push_back(records);
            } else {
                let m = median(&state.history);
                let ratio = if m > 0.0 {
                    records as f64 / m
                } else if records == 0 {
                    1.0
                } else {
                    f64::INFINITY
                };
                r.value = Some(ratio);
                r.detail = format!(
                    "{records} records; the median of the last {} windows is {m}",
                    state.history.len()
                );
                if ratio < *min_ratio || ratio > *max_ratio {
                    r.status = Status::Fired;
                } else {
                    state.history.push_back(records);
                }
            }
            while state.history.len() > *history {
                state.history.pop_front();
            }
        }
        (Kind::Stuck { max_top_share, .. }, Acc::Stuck { items, n }) => {
            r.limit = format!("≤ {max_top_share}");
            if n < check.min_records {
                r.status = Status::Skipped;
                r.detail = format!("{n} values, fewer than min_records ({})", check.min_records);
            } else {
                let top = items
                    .frequent_items(ErrorType::NoFalseNegatives)
                    .iter()
                    .map(|row| row.lower_bound())
                    .max()
                    .unwrap_or(0);
                let v = share(top, n);
                r.value = Some(v);
                r.status = if v > *max_top_share {
                    Status::Fired
                } else {
                    Status::Pass
                };
                r.detail = format!("one value holds at least {top} of {n} values");
            }
        }
        (
            Kind::Drift {
                max_psi,
                reference_windows,
                ..
            },
            acc,
        ) => {
            r.limit = format!("PSI ≤ {max_psi}");
            drift(&mut r, check, acc, state, *max_psi, *reference_windows);
        }
        _ => {
            r.status = Status::Skipped;
        }
    }
    r
}

fn drift(
    r: &mut CheckResult,
    check: &Check,
    acc: Acc,
    state: &mut State,
    max_psi: f64,
    reference_windows: usize,
) {
    if state.reference_windows < reference_windows {
        state.reference_windows += 1;
        match acc {
            Acc::DriftNum(s) => match &mut state.reference {
                Reference::Num(rs) => {
                    let _ = rs.merge(&s);
                }
                _ => state.reference = Reference::Num(s),
            },
            Acc::DriftCat { counts, .. } => {
                let Reference::Cat(rc) = &mut state.reference else {
                    state.reference = Reference::Cat(counts);
                    r.status = Status::Learning;
                    r.detail = format!("reference: 1 of {reference_windows} windows");
                    return;
                };
                for (k, v) in counts {
                    *rc.entry(k).or_insert(0) += v;
                }
            }
            _ => {}
        }
        r.status = Status::Learning;
        r.detail = format!(
            "reference: {} of {reference_windows} windows",
            state.reference_windows
        );
        return;
    }
    let (refs, wins, n) = match (&state.reference, &acc) {
        (Reference::Num(rs), Acc::DriftNum(ws)) => {
            let n = ws.n();
            if n < check.min_records || rs.is_empty() {
                (Vec::new(), Vec::new(), n)
            } else {
                let ranks: Vec<f64> = (1..10).map(|i| f64::from(i) / 10.0).collect();
                let mut edges: Vec<KllFloat<f64>> = rs
                    .quantiles(&ranks, SearchCriteria::Inclusive)
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                edges.dedup();
                let rc = rs
                    .cdf(&edges, SearchCriteria::Inclusive)
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                let wc = ws
                    .cdf(&edges, SearchCriteria::Inclusive)
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                (bins_from_cdf(&rc), bins_from_cdf(&wc), n)
            }
        }
        (Reference::Cat(rc), Acc::DriftCat { counts, n }) => {
            let rt: u64 = rc.values().sum();
            let keys: Vec<u64> = rc
                .keys()
                .copied()
                .chain(counts.keys().copied())
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            let refs = keys
                .iter()
                .map(|k| share(*rc.get(k).unwrap_or(&0), rt))
                .collect();
            let wins = keys
                .iter()
                .map(|k| share(*counts.get(k).unwrap_or(&0), *n))
                .collect();
            (refs, wins, *n)
        }
        _ => (Vec::new(), Vec::new(), 0),
    };
    if n < check.min_records || refs.is_empty() {
        r.status = Status::Skipped;
        r.detail = format!("{n} values, fewer than min_records ({})", check.min_records);
        return;
    }
    let v = psi(&refs, &wins);
    r.value = Some(v);
    r.status = if v > max_psi {
        Status::Fired
    } else {
        Status::Pass
    };
    r.detail = format!(
        "{n} values against a reference of {reference_windows} windows, {} bins",
        refs.len()
    );
}
