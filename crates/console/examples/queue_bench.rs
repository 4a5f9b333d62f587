//! The review queue over a large registry: fills a SQLite registry with `--cases` cases
//! (default 1,000,000), starts the service with the console, signs in, and times the queue
//! page over HTTP on loopback (server-side rendering included) for the usual views.
//! Prints p50 / p99 / max per view against the issue's target (p99 under 50 ms); then, on
//! the same registry in the same run, the registry read alone by `OFFSET` and sort (as the
//! queue read it before keyset paging) beside the keyset read the queue uses now.
//!
//! ```text
//! cargo run -p riskstream-console --example queue_bench -- --cases 1000000 --requests 200
//! ```
//!
//! A benchmark, not a test: nothing here asserts on time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/console/common/mod.rs"]
mod common;

use common::{Plain, Service};
use riskstream_registry::{CaseCursor, CasePage, CaseQuery, CaseSort, CaseStatus, NewCase};
use std::time::{Duration, Instant};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.replace('_', "").parse().expect("a number"))
        .unwrap_or(default)
}

fn pct(sorted: &[Duration], q: f64) -> Duration {
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n = arg("--cases", 1_000_000);
    let requests = arg("--requests", 200);
    let svc = Service::start(false).await;
    let t0 = Instant::now();
    const CHUNK: usize = 20_000;
    let rules = [
        "amount_over_220",
        "blocked_terminal",
        "night_spend",
        "new_device",
    ];
    let mut next = 0usize;
    while next < n {
        let end = (next + CHUNK).min(n);
        let cases: Vec<NewCase> = (next..end)
            .map(|i| {
                let score = ((i * 7919) % 10_000) as f64 / 10_000.0;
                let rule = rules[i % rules.len()];
                let outcome = if i % 10 == 0 { "decline" } else { "review" };
                NewCase {
                    id: format!("serve:cards:{i}"),
                    tx_id: i.to_string(),
                    outcome: outcome.into(),
                    score: Some(score),
                    decision: format!(
                        r#"{{"tx_id":"{i}","outcome":"{outcome}","score":{score},"rules_fired":["{rule}"],"reasons":[{{"kind":"rule","name":"{rule}","text":"why"}}],"model":"m","route":"champion","shadow":[]}}"#
                    ),
                    tx: Some(format!(
                        r#"{{"TRANSACTION_ID":{i},"CUSTOMER_ID":{},"TERMINAL_ID":{},"TX_AMOUNT":{}.5}}"#,
                        i % 5000,
                        i % 900,
                        i % 400
                    )),
                }
            })
            .collect();
        svc.reg.open_cases("serve:cards", &cases).await.unwrap();
        next = end;
        eprint!("\rfilled {next} cases");
    }
    // Some cases worked: 2,000 assigned to the analyst, 2,000 closed.
    for i in (0..n).step_by((n / 2000).max(1)).take(2000) {
        svc.reg
            .assign_case(&format!("serve:cards:{i}"), Some("ana"), "ana")
            .await
            .unwrap();
    }
    for i in (1..n).step_by((n / 2000).max(1)).take(2000) {
        svc.reg
            .close_case(
                &format!("serve:cards:{i}"),
                riskstream_registry::CaseLabel::Genuine,
                "",
                "ana",
            )
            .await
            .unwrap();
    }
    eprintln!(
        "\rfilled {n} cases (2,000 assigned, 2,000 closed) in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let mut p = Plain::new(&svc.base);
    p.sign_in(&svc.analyst).await;
    // The position of the 4,950th open case in two orders: "page 100" by key.
    let at = |sort: CaseSort| {
        let reg = svc.reg.clone();
        async move {
            let q = CaseQuery {
                status: Some(CaseStatus::Open),
                sort,
                offset: 4_949,
                limit: 1,
                ..Default::default()
            };
            let c = reg.cases(&q).await.unwrap();
            let enc = CaseCursor::of(&c[0]).encode();
            serde_urlencoded::to_string([("x", enc)]).unwrap()[2..].to_string()
        }
    };
    let (p100, s100) = (at(CaseSort::Oldest).await, at(CaseSort::ScoreDesc).await);
    let views = [
        ("open, oldest first (page 1)", "/console/cases".to_string()),
        ("open, page 100", format!("/console/cases?after={p100}")),
        ("open, last page", "/console/cases?last=1".into()),
        ("newest first", "/console/cases?sort=newest".into()),
        (
            "highest score first",
            "/console/cases?sort=score_desc".into(),
        ),
        (
            "highest score, page 100",
            format!("/console/cases?sort=score_desc&after={s100}"),
        ),
        (
            "highest score, last page",
            "/console/cases?sort=score_desc&last=1".into(),
        ),
        (
            "score 0.9 to 1",
            "/console/cases?score_min=0.9&score_max=1".into(),
        ),
        ("one rule", "/console/cases?rule=night_spend".into()),
        (
            "one rule, highest score first",
            "/console/cases?rule=night_spend&sort=score_desc".into(),
        ),
        (
            "one rule, all statuses",
            "/console/cases?rule=night_spend&status=all".into(),
        ),
        (
            "one rule, score 0.9 to 1",
            "/console/cases?rule=night_spend&score_min=0.9&score_max=1".into(),
        ),
        (
            "one rule, score 0.9 to 1, by score",
            "/console/cases?rule=night_spend&score_min=0.9&score_max=1&sort=score_desc".into(),
        ),
        (
            "one rule, score 0.9 to 1, newest",
            "/console/cases?rule=night_spend&score_min=0.9&score_max=1&sort=newest".into(),
        ),
        (
            "one rule, score 0.999 to 1",
            "/console/cases?rule=night_spend&score_min=0.999&score_max=1".into(),
        ),
        (
            "one rule, score 0.9 to 1, all",
            "/console/cases?rule=night_spend&score_min=0.9&score_max=1&status=all".into(),
        ),
        (
            "one rule, decline only",
            "/console/cases?rule=night_spend&outcome=decline".into(),
        ),
        ("my cases", "/console/cases?mine=1".into()),
        ("one model", "/console/cases?model=m".into()),
        (
            "one model, one rule, by score",
            "/console/cases?model=m&rule=night_spend&sort=score_desc".into(),
        ),
        ("escalated", "/console/cases?escalated=1".into()),
        ("all statuses", "/console/cases?status=all".into()),
        (
            "all statuses, newest first",
            "/console/cases?status=all&sort=newest".into(),
        ),
        (
            "all statuses, highest score",
            "/console/cases?status=all&sort=score_desc".into(),
        ),
        (
            "all statuses, last page",
            "/console/cases?status=all&last=1".into(),
        ),
        ("a case", "/console/cases/serve:cards:123456".into()),
    ];
    println!("queue page over {n} cases, {requests} requests per view, HTTP on loopback");
    println!(
        "{:<30} {:>10} {:>10} {:>10}  target p99 < 50 ms",
        "view", "p50 ms", "p99 ms", "max ms"
    );
    for (name, path) in views {
        let (s, _) = p.get(&path).await;
        assert_eq!(s, 200, "{path}");
        let mut times = Vec::with_capacity(requests);
        for _ in 0..requests {
            let t = Instant::now();
            let (s, body) = p.get(&path).await;
            times.push(t.elapsed());
            assert_eq!(s, 200);
            assert!(!body.is_empty());
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let p99 = pct(&times, 0.99);
        println!(
            "{name:<30} {:>10.2} {:>10.2} {:>10.2}  {}",
            ms(pct(&times, 0.5)),
            ms(p99),
            ms(*times.last().unwrap()),
            if p99 < Duration::from_millis(50) {
                "ok"
            } else {
                "OVER"
            }
        );
    }
    // The registry read alone: OFFSET and sort (the queue before) against keyset.
    let reads = requests.min(10);
    println!("\nregistry read of one page over {n} cases, {reads} reads each, same run");
    println!("{:<44} {:>10} {:>10}", "read", "p50 ms", "max ms");
    let open = |sort: CaseSort, offset: usize| CaseQuery {
        status: Some(CaseStatus::Open),
        sort,
        offset,
        limit: 50,
        ..Default::default()
    };
    let open_n = n - 2000;
    for (name, q, page) in [
        (
            "oldest, last page: OFFSET",
            open(CaseSort::Oldest, open_n - 50),
            None,
        ),
        (
            "oldest, last page: keyset",
            open(CaseSort::Oldest, 0),
            Some(CasePage::Last),
        ),
        (
            "score_desc, page 1: sort (CASE WHEN)",
            open(CaseSort::ScoreDesc, 0),
            None,
        ),
        (
            "score_desc, page 1: keyset",
            open(CaseSort::ScoreDesc, 0),
            Some(CasePage::First),
        ),
        (
            "score_desc, last page: keyset",
            open(CaseSort::ScoreDesc, 0),
            Some(CasePage::Last),
        ),
    ] {
        let mut times = Vec::with_capacity(reads);
        for _ in 0..reads {
            let t = Instant::now();
            let rows = match &page {
                None => svc.reg.cases(&q).await.unwrap(),
                Some(p) => svc.reg.cases_page(&q, p).await.unwrap(),
            };
            times.push(t.elapsed());
            assert_eq!(rows.len(), 50, "{name}");
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "{name:<44} {:>10.2} {:>10.2}",
            ms(pct(&times, 0.5)),
            ms(*times.last().unwrap())
        );
    }
    svc.running.shutdown().await.unwrap();
}
