use super::*;
use riskstream_core::Schema;

const DAY: i64 = 86_400_000_000;

fn schema() -> Schema {
    Schema::from_toml_str(
        r#"
name = "q"
id = "id"
event_time = "t"
[[field]]
name = "id"
type = "string"
[[field]]
name = "t"
type = "timestamp"
[[field]]
name = "amount"
type = "float"
[[field]]
name = "kind"
type = "category"
"#,
        "q.toml",
    )
    .expect("schema")
}

const CHECKS: &str = r#"
window = "1d"
lateness = "1h"
[[check]]
name = "amount-present"
kind = "completeness"
field = "amount"
max_null_rate = 0.02
[[check]]
name = "kind-known"
kind = "validity"
field = "kind"
values = ["a", "b", "c"]
max_invalid_rate = 0.01
action = "quarantine"
[[check]]
name = "id-unique"
kind = "uniqueness"
field = "id"
[[check]]
name = "on-time"
kind = "freshness"
max_lag = "30m"
max_late_rate = 0.05
[[check]]
name = "volume"
kind = "volume"
min_ratio = 0.5
max_ratio = 2.0
[[check]]
name = "amount-stuck"
kind = "stuck"
field = "amount"
max_top_share = 0.2
[[check]]
name = "amount-drift"
kind = "drift"
field = "amount"
max_psi = 0.25
"#;

#[derive(Clone, Debug)]
struct Rec {
    id: String,
    t: i64,
    amount: Option<f64>,
    kind: &'static str,
}

impl Row for Rec {
    fn cell(&self, field: usize) -> Cell<'_> {
        match field {
            0 => Cell::Text(&self.id),
            1 => Cell::Num(self.t as f64),
            2 => self.amount.map_or(Cell::Null, Cell::Num),
            _ => Cell::Text(self.kind),
        }
    }
    fn event_time(&self) -> Option<i64> {
        Some(self.t)
    }
}

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The fault planted on each day (by day index), if any.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Fault {
    Nulls,
    Unknown,
    Duplicates,
    Late,
    VolumeDrop,
    Stuck,
    Shift,
}

const FAULTS: [(i64, Fault, &str); 7] = [
    (10, Fault::Nulls, "amount-present"),
    (11, Fault::Unknown, "kind-known"),
    (12, Fault::Duplicates, "id-unique"),
    (13, Fault::Late, "on-time"),
    (14, Fault::VolumeDrop, "volume"),
    (15, Fault::Stuck, "amount-stuck"),
    (16, Fault::Shift, "amount-drift"),
];

/// 20 days of 500 records a day in arrival order, with the faults when asked.
fn stream(faults: bool) -> Vec<Rec> {
    let mut rng = Lcg(7);
    let mut out: Vec<(i64, Rec)> = Vec::new();
    for day in 0..20 {
        let fault = FAULTS.iter().find(|f| faults && f.0 == day).map(|f| f.1);
        let n = if fault == Some(Fault::VolumeDrop) {
            120
        } else {
            500
        };
        for i in 0..n {
            let t = day * DAY + (i as i64) * (DAY / n as i64) + 1;
            let u = rng.next();
            let mut amount = Some((u * 3.0).exp() * 10.0);
            let mut kind = ["a", "b", "c"][(rng.next() * 3.0) as usize % 3];
            let mut id = format!("{day}-{i}");
            let mut arrive = t;
            match fault {
                Some(Fault::Nulls) if i % 10 == 0 => amount = None,
                Some(Fault::Unknown) if i % 10 == 0 => kind = "zzz",
                Some(Fault::Duplicates) if i % 10 == 1 => id = format!("{day}-{}", i - 1),
                Some(Fault::Late) if i % 5 == 0 => arrive = t + 3 * 3_600_000_000,
                Some(Fault::Stuck) if i % 3 == 0 => amount = Some(42.0),
                Some(Fault::Shift) => amount = amount.map(|a| a * 4.0),
                _ => {}
            }
            out.push((
                arrive,
                Rec {
                    id,
                    t,
                    amount,
                    kind,
                },
            ));
        }
    }
    out.sort_by_key(|(a, _)| *a);
    out.into_iter().map(|(_, r)| r).collect()
}

fn run(recs: &[Rec]) -> (Vec<WindowReport>, Vec<Quarantine>) {
    let schema = schema();
    let spec = Arc::new(QualitySpec::parse(CHECKS, "checks.toml", &schema).expect("checks"));
    let mut m = Monitor::for_schema(spec, &schema);
    let mut q = Vec::new();
    for r in recs {
        q.extend(m.observe(r, 0));
    }
    m.finish();
    (m.take_reports(), q)
}

#[test]
fn nothing_fires_on_the_clean_stream() {
    let (reports, q) = run(&stream(false));
    assert_eq!(reports.len(), 20, "one report per day");
    for w in &reports {
        let fired: Vec<_> = w.fired().map(|r| (&r.check, r.value)).collect();
        assert!(fired.is_empty(), "{}: {fired:?}", w.start);
    }
    assert!(q.is_empty());
    // The judging checks judged: not everything was skipped or learning.
    let judged = reports[19]
        .results
        .iter()
        .filter(|r| r.status == Status::Pass)
        .count();
    assert_eq!(judged, 6, "{:?}", reports[19].results);
}

#[test]
fn each_fault_fires_its_check_in_its_window_and_nowhere_clean() {
    let (reports, q) = run(&stream(true));
    assert_eq!(reports.len(), 20);
    for (day, _, check) in FAULTS {
        let w = &reports[day as usize];
        assert!(
            w.fired().any(|r| r.check == check),
            "day {day}: `{check}` did not fire: {:?}",
            w.results
        );
    }
    for (day, w) in reports.iter().enumerate() {
        if FAULTS.iter().all(|f| f.0 != day as i64) {
            let fired: Vec<_> = w.fired().map(|r| &r.check).collect();
            assert!(fired.is_empty(), "clean day {day} fired {fired:?}");
        }
    }
    // Every unknown kind was quarantined, with the check's name; no value quoted.
    assert_eq!(q.len(), 50);
    assert!(q.iter().all(|x| x.check == "kind-known"
        && x.reason.starts_with("quality:kind-known:")
        && !x.reason.contains("zzz")));
}

#[test]
fn a_silent_window_is_a_volume_drop() {
    let mut recs = stream(false);
    recs.retain(|r| r.t / DAY != 14);
    let (reports, _) = run(&recs);
    assert_eq!(reports.len(), 20, "the empty day is reported too");
    assert_eq!(reports[14].records, 0);
    let v = reports[14]
        .results
        .iter()
        .find(|r| r.check == "volume")
        .unwrap();
    assert_eq!(v.status, Status::Fired);
    assert_eq!(v.value, Some(0.0));
}

#[test]
fn a_record_for_a_closed_window_is_counted_late_not_lost() {
    let mut recs = stream(false);
    let mut old = recs[10].clone();
    old.id = "straggler".into();
    recs.insert(3_100, old); // day 0's record arriving during day 6
    let (reports, _) = run(&recs);
    assert_eq!(reports.iter().map(|w| w.late_records).sum::<u64>(), 1);
    assert_eq!(reports[6].late_records, 1);
}

#[test]
fn json_records_are_read_by_the_schema() {
    let schema = schema();
    let obj: Map<String, Value> = serde_json::from_str(
        r#"{"id": "x", "t": "2024-01-02 03:04:05", "amount": "12.5", "kind": null}"#,
    )
    .unwrap();
    let r = JsonRow {
        object: &obj,
        schema: &schema,
    };
    assert_eq!(r.cell(2), Cell::Num(12.5));
    assert_eq!(r.cell(3), Cell::Null);
    assert_eq!(r.cell(0), Cell::Text("x"));
    assert!(r.event_time().is_some());
}

#[test]
fn every_problem_in_a_checks_file_is_reported_at_once() {
    let bad = r#"
window = "0s"
clock = "wall"
[[check]]
name = "a"
kind = "completness"
[[check]]
name = "a"
kind = "validity"
field = "amout"
max_invalid_rate = 2
[[check]]
name = "b"
kind = "volume"
field = "amount"
max_psi = 0.1
[[check]]
name = "c"
kind = "drift"
field = "id"
action = "quarantine"
[[check]]
name = "d"
kind = "freshness"
"#;
    let e = QualitySpec::parse(bad, "checks.toml", &schema()).unwrap_err();
    let text = e.to_string();
    for want in [
        "window: must be longer than zero",
        "clock: `wall` is not a clock",
        "did you mean `completeness`?",
        "`a` is used by an earlier check",
        "did you mean `amount`?",
        "2 is not a share",
        "a volume check reads the whole stream",
        "check[2] (b).max_psi: does not apply to a volume check",
        "drift compares numbers",
        "there is no record to quarantine",
        "check[4] (d).max_lag: missing",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
}
