//! The data-quality page over plain HTTP against a running service with `[quality]`
//! checks: the morning's transactions close four 10-minute windows; the check on amounts
//! fires in the one holding transaction 35 (above the limit), and the page shows it in
//! the checks table (fired once), as a red cell in that window's row and on the chart.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::{Plain, Service};

const CHECKS: &str = "window = \"10m\"\nlateness = \"0s\"\n\
    [[check]]\nname = \"amount-limit\"\nkind = \"validity\"\nfield = \"TX_AMOUNT\"\nmax = 330\nmin_records = 5\n\
    [[check]]\nname = \"volume\"\nkind = \"volume\"\nmin_history = 1\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quality_page_shows_the_window_a_check_fired_in() {
    let svc = Service::start_with(true, |dir| {
        std::fs::write(dir.join("quality.toml"), CHECKS).unwrap();
        "[quality]\nchecks = \"quality.toml\"\n".to_string()
    })
    .await;
    // The API's view first: four windows closed, the amount check fired in one.
    let api: serde_json::Value = svc
        .http
        .get(format!("{}/v1/quality", svc.base))
        .bearer_auth(&svc.reader)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(api["windows"].as_array().unwrap().len(), 4, "{api}");
    assert_eq!(api["checks"][0]["fired"], 1, "{api}");
    assert_eq!(api["windows"][0]["start"], "2026-11-24 10:30:00", "{api}");
    assert_eq!(api["windows"][0]["results"][0]["status"], "fired", "{api}");

    let mut p = Plain::new(&svc.base);
    p.sign_in(&svc.reader).await;
    let (code, page) = p.get("/console/quality").await;
    assert_eq!(code, 200, "{page}");
    assert!(page.contains("<tr data-check=\"amount-limit\">"), "{page}");
    assert!(page.contains("data-fired=\"1\""), "{page}");
    assert!(page.contains("class=\"quality-chart\""), "{page}");
    assert!(page.contains("class=\"fired\""), "a red point on the chart");
    let row = page
        .split("<tr>")
        .find(|r| r.contains("2026-11-24 10:30:00"))
        .expect("the window's row");
    assert!(row.contains("class=\"q-fired\""), "{row}");
    assert!(
        page.contains("href=\"/console/quality\""),
        "in the navigation"
    );
}
