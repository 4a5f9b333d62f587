//! The review queue filtered by rule (`case_rules`, migration 8): the same cases and counts
//! as a brute-force reading of every case's `rules_fired`, while cases open, close and
//! replay; rule names with LIKE's wildcards and past 200 characters; and the migration
//! filling in the rows of cases stored before it — on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

use common::Db;
use riskstream_registry::{
    CaseLabel, CasePage, CaseQuery, CaseSort, CaseStatus, NewCase, Registry,
};
use serde_json::json;

on_both_backends!(
    a_rule_filter_matches_a_brute_force_reading,
    cases_stored_before_the_migration_are_filled_in,
);

fn long_rule() -> String {
    "x".repeat(250)
}

/// The rules case `i` fired.
fn fired(i: usize) -> Vec<String> {
    let mut r = Vec::new();
    match i % 4 {
        0 => r.push("big_amount".to_string()),
        1 => r.push("night_%_spend".to_string()),
        2 => r.push("new_terminal".to_string()),
        _ => {}
    }
    if i.is_multiple_of(5) {
        r.push("velocity".into());
    }
    if i.is_multiple_of(7) {
        r.push(long_rule());
    }
    r
}

/// The model that decided case `i` (none for every third).
fn model(i: usize) -> Option<String> {
    (i % 3 != 2).then(|| format!("m{}", i % 3))
}

/// Case `i`'s score: ties on purpose, and every eleventh case unscored.
fn score(i: usize) -> Option<f64> {
    (!i.is_multiple_of(11)).then(|| (i * 37 % 100) as f64 / 100.0)
}

fn cases(n: usize) -> Vec<NewCase> {
    (0..n)
        .map(|i| NewCase {
            id: format!("t:{i:04}"),
            tx_id: format!("{i}"),
            outcome: "review".into(),
            score: score(i),
            decision: json!({"tx_id": format!("{i}"), "outcome": "review",
                             "rules_fired": fired(i), "model": model(i)})
            .to_string(),
            tx: None,
        })
        .collect()
}

/// Every case of `q` by paging 7 at a time, in order; and the same read backward from the
/// last page, which must agree.
async fn all_pages(reg: &Registry, q: &CaseQuery) -> Vec<String> {
    use riskstream_registry::CaseCursor;
    let mut q = q.clone();
    q.limit = 7;
    let mut out = Vec::new();
    let mut page = CasePage::First;
    loop {
        let got = reg.cases_page(&q, &page).await.unwrap();
        if got.is_empty() {
            break;
        }
        out.extend(got.iter().map(|c| c.id.clone()));
        page = CasePage::After(CaseCursor::of(got.last().unwrap()));
    }
    let mut back: Vec<String> = Vec::new();
    let mut page = CasePage::Last;
    loop {
        let got = reg.cases_page(&q, &page).await.unwrap();
        if got.is_empty() {
            break;
        }
        back.splice(0..0, got.iter().map(|c| c.id.clone()));
        page = CasePage::Before(CaseCursor::of(got.first().unwrap()));
    }
    assert_eq!(back, out, "backward paging of {q:?}");
    out
}

/// `ids` (cases opened together, so at one time) in `sort`'s order: ties on the score by
/// opening time then id, unscored cases last in both score orders.
fn in_order(mut ids: Vec<usize>, sort: CaseSort) -> Vec<String> {
    let id = |i: &usize| format!("t:{i:04}");
    ids.sort_by(|a, b| {
        let by_id = id(a).cmp(&id(b));
        match sort {
            CaseSort::Oldest => by_id,
            CaseSort::Newest => by_id.reverse(),
            CaseSort::ScoreDesc | CaseSort::ScoreAsc => match (score(*a), score(*b)) {
                (Some(x), Some(y)) => {
                    let o = x.total_cmp(&y);
                    let o = if sort == CaseSort::ScoreDesc {
                        o.reverse()
                    } else {
                        o
                    };
                    o.then(by_id)
                }
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => by_id,
            },
        }
    });
    ids.iter().map(id).collect()
}

/// The model filter, alone, with a status and with a rule, against a brute-force reading.
async fn check_models(reg: &Registry, closed: &[usize], n: usize) {
    for m in ["m0", "m1", "m2", "nope"] {
        for status in [Some(CaseStatus::Open), None] {
            for rule in [None, Some("velocity")] {
                let keep: Vec<usize> = (0..n)
                    .filter(|&i| model(i).as_deref() == Some(m))
                    .filter(|i| status.is_none() || !closed.contains(i))
                    .filter(|&i| rule.is_none_or(|r| fired(i).iter().any(|f| f == r)))
                    .collect();
                for sort in [CaseSort::Oldest, CaseSort::ScoreDesc] {
                    let q = CaseQuery {
                        status,
                        model: Some(m.to_string()),
                        rule: rule.map(str::to_string),
                        sort,
                        limit: 50,
                        ..Default::default()
                    };
                    let what = format!("model {m} {status:?} {rule:?} {sort:?}");
                    assert_eq!(
                        all_pages(reg, &q).await,
                        in_order(keep.clone(), sort),
                        "{what}"
                    );
                    assert_eq!(
                        reg.count_cases_up_to(&q, 10_000).await.unwrap(),
                        keep.len() as u64,
                        "{what}"
                    );
                }
            }
        }
    }
}

async fn check(reg: &Registry, closed: &[usize], n: usize) {
    check_models(reg, closed, n).await;
    for rule in [
        "big_amount",
        "night_%_spend",
        "night_x_spend", // `_` is not a wildcard
        "velocity",
        &long_rule(),
        &"x".repeat(200), // compared on its first 200 characters, as kept
        "nothing",
    ] {
        for status in [Some(CaseStatus::Open), Some(CaseStatus::Closed), None] {
            let want: Vec<String> = (0..n)
                .filter(|&i| {
                    let k: String = rule.chars().take(200).collect();
                    fired(i)
                        .iter()
                        .any(|r| r.chars().take(200).collect::<String>() == k)
                })
                .filter(|i| match status {
                    Some(CaseStatus::Open) => !closed.contains(i),
                    Some(CaseStatus::Closed) => closed.contains(i),
                    None => true,
                })
                .map(|i| format!("t:{i:04}"))
                .collect();
            let q = CaseQuery {
                status,
                rule: Some(rule.to_string()),
                sort: CaseSort::Oldest,
                limit: 50,
                ..Default::default()
            };
            let what = format!("rule {:.20} status {status:?}", rule);
            assert_eq!(all_pages(reg, &q).await, want, "{what}");
            assert_eq!(
                reg.count_cases_up_to(&q, 10_000).await.unwrap(),
                want.len() as u64,
                "{what}"
            );
            assert_eq!(
                reg.count_cases_up_to(&q, 3).await.unwrap(),
                want.len().min(3) as u64,
                "{what}, capped"
            );
            // With a score range (read through the rule's rows), an outcome (joining the
            // cases) or both, in every order and both directions.
            let nums: Vec<usize> = want.iter().map(|id| id[2..].parse().unwrap()).collect();
            for (lo, hi, outcome) in [
                (Some(0.5), None, None),
                (Some(0.2), Some(0.61), None),
                (None, Some(0.3), Some("review")),
                (None, None, Some("decline")),
            ] {
                let keep: Vec<usize> = nums
                    .iter()
                    .copied()
                    .filter(|&i| {
                        let s = score(i);
                        lo.is_none_or(|lo| s.is_some_and(|s| s >= lo))
                            && hi.is_none_or(|hi| s.is_some_and(|s| s <= hi))
                            && outcome != Some("decline")
                    })
                    .collect();
                for sort in [
                    CaseSort::Oldest,
                    CaseSort::Newest,
                    CaseSort::ScoreDesc,
                    CaseSort::ScoreAsc,
                ] {
                    let q2 = CaseQuery {
                        score_min: lo,
                        score_max: hi,
                        outcome: outcome.map(str::to_string),
                        sort,
                        ..q.clone()
                    };
                    let what = format!("{what} score {lo:?}..{hi:?} {outcome:?} {sort:?}");
                    assert_eq!(
                        all_pages(reg, &q2).await,
                        in_order(keep.clone(), sort),
                        "{what}"
                    );
                    assert_eq!(
                        reg.count_cases_up_to(&q2, 10_000).await.unwrap(),
                        keep.len() as u64,
                        "{what}"
                    );
                }
            }
        }
    }
}

async fn a_rule_filter_matches_a_brute_force_reading(db: Db) {
    let reg = Registry::open(&db.url).await.unwrap();
    let n = 120;
    reg.open_cases("t", &cases(n)).await.unwrap();
    check(&reg, &[], n).await;
    let closed = [0, 5, 7, 13, 35, 70, 119];
    for &i in &closed {
        reg.close_case(&format!("t:{i:04}"), CaseLabel::Fraud, "", "ana")
            .await
            .unwrap();
    }
    check(&reg, &closed, n).await;
    // A replay of every case opens nothing and keeps the closed ones closed.
    assert_eq!(reg.open_cases("t", &cases(n)).await.unwrap(), 0);
    check(&reg, &closed, n).await;
}

async fn cases_stored_before_the_migration_are_filled_in(db: Db) {
    let n = 60;
    let closed = [0, 14, 21];
    {
        let reg = Registry::open(&db.url).await.unwrap();
        reg.open_cases("t", &cases(n)).await.unwrap();
        // Decisions whose model cannot be read: not JSON, a number, no model.
        let odd = |id: &str, decision: &str| NewCase {
            id: id.into(),
            tx_id: id.into(),
            outcome: "review".into(),
            score: None,
            decision: decision.into(),
            tx: None,
        };
        reg.open_cases(
            "t",
            &[
                odd("x:1", "not json {"),
                odd("x:2", r#"{"model": 5}"#),
                odd("x:3", "[1, 2]"),
            ],
        )
        .await
        .unwrap();
        for &i in &closed {
            reg.close_case(&format!("t:{i:04}"), CaseLabel::Genuine, "", "ana")
                .await
                .unwrap();
        }
    }
    // Back to schema 7: no rule rows, no models, migrations 8 and 9 not applied.
    for sql in [
        "DROP TABLE case_rules",
        "DROP INDEX cases_by_time",
        "DROP INDEX cases_all_by_score_desc",
        "DROP INDEX cases_all_by_score_asc",
        "DROP INDEX cases_by_model",
        "ALTER TABLE cases DROP COLUMN model",
        "DROP INDEX cases_escalated",
        "ALTER TABLE cases DROP COLUMN escalated_at",
        "ALTER TABLE cases DROP COLUMN escalated_by",
        "DELETE FROM _sqlx_migrations WHERE version IN (8, 9)",
    ] {
        db.exec(sql).await;
    }
    let reg = Registry::open(&db.url).await.unwrap();
    // The migration split `cases.rules` (',a,b,'), which keeps a long name whole: its row
    // holds the first 200 characters, as a new case's does.
    check(&reg, &closed, n).await;
    let rows = db
        .rows("SELECT CAST(COUNT(*) AS TEXT) FROM case_rules WHERE rule = 'night_%_spend'")
        .await;
    assert_eq!(rows[0][0].as_deref(), Some("15"));
    // The odd decisions have no model and did not stop the migration.
    let rows = db
        .rows("SELECT id FROM cases WHERE id LIKE 'x:%' AND model IS NULL ORDER BY id")
        .await;
    assert_eq!(rows.len(), 3, "{rows:?}");
}

#[test]
fn a_count_is_cheap_only_where_an_index_holds_just_the_matches() {
    let open = CaseQuery {
        status: Some(CaseStatus::Open),
        ..Default::default()
    };
    let with = |f: &dyn Fn(&mut CaseQuery)| {
        let mut q = open.clone();
        f(&mut q);
        q.count_is_cheap()
    };
    assert!(open.count_is_cheap());
    assert!(with(&|q| q.rule = Some("r".into())));
    assert!(with(&|q| {
        q.score_min = Some(0.9);
        q.score_max = Some(1.0)
    }));
    assert!(with(&|q| q.assignee = Some("ana".into())));
    assert!(!with(&|q| q.outcome = Some("decline".into())));
    // A rule's rows carry the score and the opening time (migration 9).
    assert!(with(&|q| {
        q.rule = Some("r".into());
        q.score_min = Some(0.9)
    }));
    assert!(with(&|q| {
        q.rule = Some("r".into());
        q.created_from = Some(0)
    }));
    assert!(!with(&|q| {
        q.rule = Some("r".into());
        q.score_min = Some(0.9);
        q.created_from = Some(0)
    }));
    assert!(!with(&|q| {
        q.rule = Some("r".into());
        q.assignee = Some("ana".into())
    }));
    assert!(!with(&|q| {
        q.score_min = Some(0.9);
        q.assignee = Some("ana".into())
    }));
}
