//! The credit page: a service with a `[credit]` section and a scorecard developed here on a
//! synthetic sample (bad more likely at high `utilisation` and for `tenure = new`), staged
//! through the API as champion; 300 applications scored, the last 150 with utilisation
//! shifted up. The page, read by an analyst, must show the card's binning tables with the
//! card's own points, the decisions as the API answered them, and the shift: the score's
//! PSI and utilisation's CSI above "stable", tenure's CSI stable. A script in a category
//! value is shown as text. Then headless Chromium opens it from the navigation and takes a
//! screenshot (`<target>/console-screenshots/`; SKIP without chromium and chromedriver).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::browser::Browser;
use common::{Plain, Service};
use fantoccini::Locator;
use riskstream_credit::{Scorecard, ScorecardParams, Table};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A linear congruential stream in [0, 1).
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

const TENURES: [&str; 3] = ["new", "mid", "<script>alert(1)</script>"];

fn card() -> Scorecard {
    let mut csv = String::from("utilisation,tenure,bad\n");
    let mut r = Lcg(7);
    for _ in 0..3_000 {
        let u = r.next();
        let tenure = TENURES[(r.next() * 3.0) as usize % 3];
        let logit = -2.0 + 3.0 * u + if tenure == "new" { 1.0 } else { 0.0 };
        let bad = r.next() < 1.0 / (1.0 + (-logit).exp());
        csv.push_str(&format!("{u:.4},{tenure},{}\n", u8::from(bad)));
    }
    let t = Table::read_csv(csv.as_bytes(), ',').unwrap();
    let y = t.binary_label("bad", "1").unwrap();
    ScorecardParams::default()
        .fit(&t, &y, &["utilisation", "tenure"])
        .unwrap()
        .card
}

/// The numbers in the `td.points` cells of one characteristic's table, in order.
fn points_in(page: &str, name: &str) -> Vec<i64> {
    let start = page
        .find(&format!("data-name=\"{name}\""))
        .unwrap_or_else(|| panic!("no table for {name}"));
    let section = &page[start..];
    let end = section.find("</section>").unwrap();
    section[..end]
        .split("<td class=\"num points\">")
        .skip(1)
        .map(|s| s[..s.find('<').unwrap()].parse().unwrap())
        .collect()
}

/// The text of the element with `id`.
fn by_id<'a>(page: &'a str, id: &str) -> &'a str {
    let at = page
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id}"));
    let rest = &page[at..];
    let open = rest.find('>').unwrap() + 1;
    &rest[open..open + rest[open..].find('<').unwrap()]
}

/// The `data-value` of the CSI of characteristic `name`.
fn csi_of(page: &str, name: &str) -> f64 {
    let start = page.find(&format!("data-name=\"{name}\"")).unwrap();
    let s = &page[start..];
    let at = s.find("class=\"csi\" data-value=\"").unwrap() + "class=\"csi\" data-value=\"".len();
    s[at..at + s[at..].find('"').unwrap()].parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analyst_reads_the_scorecard_and_its_stability() {
    let svc = Service::start_with(false, |dir| {
        std::fs::write(
            dir.join("reasons.toml"),
            "[reasons.utilisation]\ncode = \"U1\"\ntext = \"Utilisation\"\n\
             [reasons.tenure]\ncode = \"T1\"\ntext = \"Time with us\"\n",
        )
        .unwrap();
        format!(
            "[credit]\ndeployment = \"credit\"\ndecline_pd = 0.6\nreview_pd = 0.35\nreasons = \"{}\"\n",
            dir.join("reasons.toml").display()
        )
    })
    .await;
    let base = svc.base.clone();
    let mut plain = Plain::new(&base);
    plain.sign_in(&svc.reader).await;
    // Before any model: the page says so.
    let (code, page) = plain.get("/console/credit").await;
    assert_eq!(code, 200, "{page}");
    assert!(page.contains("id=\"no-credit-models\""), "{page}");

    let card = card();
    let id = svc.push_champion("/v1/credit/models", card.to_json()).await;

    // 300 applications; the last 150 with utilisation shifted into its top third.
    let mut r = Lcg(99);
    let mut decided: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..300 {
        let u = if i < 150 {
            r.next()
        } else {
            0.67 + 0.33 * r.next()
        };
        let tenure = TENURES[(r.next() * 3.0) as usize % 3];
        let resp = svc
            .post("/v1/credit/score")
            .json(&json!({"application_id": format!("A{i}"), "utilisation": u, "tenure": tenure}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        let v: Value = resp.json().await.unwrap();
        *decided
            .entry(v["decision"].as_str().unwrap().to_string())
            .or_default() += 1;
    }

    let (code, page) = plain.get("/console/credit").await;
    assert_eq!(code, 200, "{page}");
    // The models table and the decisions as the API answered them.
    assert!(page.contains(&format!("data-model=\"{id}\"")), "{page}");
    for (what, cell) in [
        ("approve", "n-approve"),
        ("review", "n-review"),
        ("decline", "n-decline"),
    ] {
        let want = decided.get(what).copied().unwrap_or(0);
        assert_eq!(by_id(&page, cell), want.to_string(), "{what}: {decided:?}");
    }
    assert!(
        decided.len() >= 2,
        "the sample must reach more than one decision: {decided:?}"
    );
    // The binning tables carry the card's own points, attribute by attribute.
    for ch in &card.characteristics {
        assert_eq!(points_in(&page, ch.name()), ch.points, "{}", ch.name());
        for b in &ch.binning.bins {
            if !b.label.contains('<') {
                assert!(page.contains(&b.label), "attribute {} shown", b.label);
            }
        }
    }
    // A category holding markup is text, not markup.
    assert!(!page.contains("<script>alert(1)</script>"));
    let escaped = ["&lt;script&gt;", "&#60;script&#62;", "&#x3c;script&#x3e;"];
    assert!(
        escaped.iter().any(|e| page.contains(e)),
        "the attribute holding markup is shown escaped: {}",
        &page[page.find("data-name=\"tenure\"").unwrap()..][..1500]
    );
    // The shift: utilisation moved, tenure did not; the score moved with utilisation.
    let (u, t) = (csi_of(&page, "utilisation"), csi_of(&page, "tenure"));
    assert!(u > 0.1, "utilisation CSI {u}");
    assert!(t < 0.1, "tenure CSI {t}");
    let psi: f64 = {
        let at = page.find("id=\"score-psi\" data-value=\"").unwrap()
            + "id=\"score-psi\" data-value=\"".len();
        page[at..at + page[at..].find('"').unwrap()]
            .parse()
            .unwrap()
    };
    assert!(psi > 0.1, "score PSI {psi}: first 150 against last 150");
    assert!(page.contains("id=\"score-hist\""));

    // In Chromium, from the navigation.
    let Some(b) = Browser::start().await else {
        return;
    };
    b.sign_in(&base, &svc.reader).await;
    b.find(Locator::Css("a[href='/console/credit']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_for("#scorecard").await;
    let tables = b.find_all(Locator::Css("table.binning")).await.unwrap();
    assert_eq!(tables.len(), card.characteristics.len());
    b.shot("30-credit.png").await;
    b.close().await;
}
