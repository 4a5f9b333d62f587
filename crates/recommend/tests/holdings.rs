//! The generator's product holdings (`riskstream generate`, `products.*`) hold planted
//! affinities: each optional product is held with probability `sigmoid(z)`, `z` a logistic
//! function of segment, age and income (`riskstream_gen::products::AFFINITY`). These tests
//! check that what was planted comes back out:
//!
//! * popularity within a segment orders the products as the planted rates do;
//! * a model of holdings alone (implicit ALS, item cosine), which never sees segment, age
//!   or income, ranks the customers who lack a product by their planted affinity for it;
//! * folding a new customer in gives the same top list as refitting with them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use riskstream_gen::products::AFFINITY;
use riskstream_gen::{generate, GenConfig};
use riskstream_io::table::{load, Column, LoadOptions};
use riskstream_recommend::{
    no_progress, IdMap, ImplicitAlsParams, Interactions, ItemKnnParams, Params, Recommender,
    Solver, TopOptions, Who,
};
use std::collections::HashMap;

const SEGMENTS: [&str; 5] = ["student", "mass", "affluent", "senior", "small_business"];

struct Bank {
    /// (customer, product) holdings, products by name.
    holdings: Vec<(String, String)>,
    /// customer → (segment index, age, income).
    customers: HashMap<String, (usize, f64, f64)>,
}

fn num_or_text(c: &Column, i: usize) -> String {
    match c {
        Column::Num(v) => format!("{}", v[i] as i64),
        Column::Text(v) => v[i].clone().unwrap_or_default(),
        Column::Time(v) => v[i].to_string(),
    }
}

fn bank(customers: u32) -> Bank {
    let dir = tempfile::tempdir().unwrap();
    let cfg = GenConfig {
        customers,
        terminals: 100,
        days: 1,
        threads: 1,
        ..GenConfig::default()
    };
    generate(
        &cfg,
        dir.path(),
        riskstream_io::Format::Csv,
        false,
        &mut |_| {},
    )
    .unwrap();
    let read =
        |name: &str| load(&dir.path().join(name), &LoadOptions::default(), &mut |_| {}).unwrap();
    let p = read("products.csv");
    let col = |t: &riskstream_io::table::Table, n: &str| {
        let i = t
            .names
            .iter()
            .position(|x| x == n)
            .unwrap_or_else(|| panic!("no column {n}"));
        t.columns[i].clone()
    };
    let (pc, pp) = (col(&p, "customer_id"), col(&p, "product"));
    let holdings = (0..p.rows)
        .map(|i| (num_or_text(&pc, i), num_or_text(&pp, i)))
        .collect();
    let c = read("customers.csv");
    let (cc, cs, ca, ci) = (
        col(&c, "customer_id"),
        col(&c, "segment"),
        col(&c, "age"),
        col(&c, "income"),
    );
    let num = |c: &Column, i: usize| match c {
        Column::Num(v) => v[i],
        _ => panic!("not numeric"),
    };
    let customers = (0..c.rows)
        .map(|i| {
            let seg = num_or_text(&cs, i);
            let s = SEGMENTS.iter().position(|x| *x == seg).unwrap();
            (num_or_text(&cc, i), (s, num(&ca, i), num(&ci, i)))
        })
        .collect();
    Bank {
        holdings,
        customers,
    }
}

/// The planted probability that a customer holds each optional product.
fn planted(seg: usize, age: f64, income: f64) -> HashMap<&'static str, f64> {
    let li = (income.max(1_000.0) / 40_000.0).ln();
    AFFINITY
        .iter()
        .map(|a| {
            let prime = if (30.0..=55.0).contains(&age) {
                a.prime_age
            } else {
                0.0
            };
            let z = a.intercept + a.segment[seg] + a.age * (age - 40.0) + prime + a.income * li;
            (a.product, 1.0 / (1.0 + (-z).exp()))
        })
        .collect()
}

fn interactions(h: &[(String, String)]) -> (IdMap, IdMap, Interactions) {
    let mut b =
        riskstream_recommend::InteractionsBuilder::new(riskstream_recommend::BuildOptions {
            implicit: true,
            duplicates: riskstream_recommend::Duplicates::Sum,
            range: None,
        });
    for (k, (c, p)) in h.iter().enumerate() {
        b.push(k + 1, c, p, None).unwrap();
    }
    b.finish("holdings").unwrap()
}

fn als() -> Params {
    Params::ImplicitAls(ImplicitAlsParams {
        rank: 2,
        iterations: 15,
        reg: 10.0,
        alpha: 5.0,
        solver: Solver::Cholesky,
        ..ImplicitAlsParams::default()
    })
}

fn fit(
    h: &[(String, String)],
    segments: Option<&HashMap<String, (usize, f64, f64)>>,
) -> Recommender {
    fit_with(&als(), h, segments)
}

fn fit_with(
    p: &Params,
    h: &[(String, String)],
    segments: Option<&HashMap<String, (usize, f64, f64)>>,
) -> Recommender {
    let (users, items, m) = interactions(h);
    let seg: Option<Vec<Option<String>>> = segments.map(|s| {
        users
            .ids()
            .iter()
            .map(|u| s.get(u).map(|c| SEGMENTS[c.0].to_string()))
            .collect()
    });
    p.fit(users, items, &m, seg.as_deref(), None, &mut no_progress)
        .unwrap()
}

fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let rank = |v: &[f64]| {
        let mut o: Vec<usize> = (0..v.len()).collect();
        o.sort_by(|&x, &y| v[x].total_cmp(&v[y]));
        let mut r = vec![0.0; v.len()];
        for (k, &i) in o.iter().enumerate() {
            r[i] = k as f64;
        }
        r
    };
    let (ra, rb) = (rank(a), rank(b));
    let n = a.len() as f64;
    let d2: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - y) * (x - y)).sum();
    1.0 - 6.0 * d2 / (n * (n * n - 1.0))
}

#[test]
fn segment_popularity_orders_products_as_planted() {
    let b = bank(20_000);
    let m = fit(&b.holdings, Some(&b.customers));
    for (s, name) in SEGMENTS.iter().enumerate() {
        let counts = &m.popularity.segments[*name];
        let members: Vec<&(usize, f64, f64)> = b.customers.values().filter(|c| c.0 == s).collect();
        let (mut got, mut want) = (Vec::new(), Vec::new());
        for a in AFFINITY {
            let i = m.items.get(a.product).unwrap() as usize;
            got.push(counts[i] / members.len() as f64);
            want.push(
                members
                    .iter()
                    .map(|c| planted(c.0, c.1, c.2)[a.product])
                    .sum::<f64>()
                    / members.len() as f64,
            );
        }
        let rho = spearman(&got, &want);
        println!("{name}: holding rates {got:.3?}, planted {want:.3?}, Spearman {rho:.3}");
        assert!(rho >= 0.9, "{name}: Spearman {rho}");
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g - w).abs() < 0.05,
                "{name}: rate {g:.3} vs planted {w:.3}"
            );
        }
    }
}

#[test]
fn a_model_of_holdings_alone_ranks_customers_by_their_planted_affinity() {
    // Who should be offered product k? Among the customers who do not hold it, the model's
    // score should order them as the planted probability does, though the model never sees
    // segment, age or income: only what else they hold.
    let b = bank(20_000);
    for (name, p) in [
        ("implicit ALS", als()),
        ("item cosine", Params::ItemKnn(ItemKnnParams::default())),
    ] {
        let m = fit_with(&p, &b.holdings, None);
        let mut followed = Vec::new();
        for a in AFFINITY {
            let k = m.items.get(a.product).unwrap();
            let (mut score, mut truth) = (Vec::new(), Vec::new());
            for (c, cust) in &b.customers {
                let Some(u) = m.users.get(c) else { continue };
                if m.user_history(u).0.contains(&k) {
                    continue;
                }
                let s = m
                    .top(
                        Who::Known(u),
                        &TopOptions {
                            k: 10,
                            ..TopOptions::default()
                        },
                    )
                    .unwrap();
                let v = s
                    .items
                    .iter()
                    .find(|r| r.item == k)
                    .map_or(f64::NEG_INFINITY, |r| r.score);
                score.push(v);
                truth.push(planted(cust.0, cust.1, cust.2)[a.product]);
            }
            let rho = spearman(&score, &truth);
            println!(
                "{name}: {}: Spearman {rho:.3} over {} non-holders",
                a.product,
                score.len()
            );
            if rho > 0.25 {
                followed.push(a.product);
            }
        }
        // Insurance is planted mostly on age, which other holdings hardly reveal; every other
        // product depends on segment and income, which they do.
        assert!(
            followed.len() >= 5,
            "{name}: only {followed:?} follow their planted affinity (Spearman > 0.25)"
        );
    }
}

#[test]
fn folding_in_a_new_customer_matches_a_full_refit() {
    let b = bank(5_000);
    // Five customers with at least two holdings, left out of the first model.
    let mut count: HashMap<&str, usize> = HashMap::new();
    for (c, _) in &b.holdings {
        *count.entry(c).or_default() += 1;
    }
    let mut newcomers: Vec<&str> = count.iter().filter(|p| *p.1 >= 3).map(|p| *p.0).collect();
    newcomers.sort_by_key(|c| c.parse::<u64>().unwrap_or(0));
    newcomers.truncate(5);
    let without: Vec<(String, String)> = b
        .holdings
        .iter()
        .filter(|(c, _)| !newcomers.contains(&c.as_str()))
        .cloned()
        .collect();
    let partial = fit(&without, None);
    let full = fit(&b.holdings, None);
    let opts = TopOptions {
        k: 10,
        reasons: 2,
        ..TopOptions::default()
    };
    for c in newcomers {
        let history: Vec<(u32, f64)> = b
            .holdings
            .iter()
            .filter(|(x, _)| x == c)
            .map(|(_, p)| (partial.items.get(p).unwrap(), 1.0))
            .collect();
        let folded = partial.top(Who::History(&history), &opts).unwrap();
        let refit = full
            .top(Who::Known(full.users.get(c).unwrap()), &opts)
            .unwrap();
        let names = |m: &Recommender, t: &riskstream_recommend::TopList| {
            t.items
                .iter()
                .map(|r| m.items.id(r.item).unwrap().to_string())
                .collect::<Vec<_>>()
        };
        println!(
            "customer {c}: folded in {:?}, refit {:?}",
            names(&partial, &folded),
            names(&full, &refit)
        );
        assert_eq!(
            names(&partial, &folded),
            names(&full, &refit),
            "customer {c}"
        );
        assert_eq!(folded.source, riskstream_recommend::Source::FoldedIn);
        assert!(folded.items.iter().all(|r| !r.reasons.is_empty()));
    }
}

/// Eligibility on the generator's customers: CEL rules over segment, age and income bar
/// exactly the items a direct reading of the same rules bars, and nothing else is lost.
#[test]
fn eligibility_rules_bar_exactly_what_they_say_on_generated_customers() {
    use riskstream_recommend::{Attr, AttrType, Attributes, Eligibility};
    let b = bank(3_000);
    let m = fit(&b.holdings, Some(&b.customers));
    let rules = r#"
[groups]
lending = ["personal_loan", "credit_card", "mortgage"]

[[rule]]
group = "lending"
when = "customer.income >= 25000.0"
why = "affordability"

[[rule]]
item = "mortgage"
when = "customer.age >= 25 && customer.age <= 65"

[[rule]]
item = "investment"
when = "customer.segment in ['affluent', 'small_business']"
"#;
    let types = vec![
        ("segment".to_string(), AttrType::Str),
        ("age".to_string(), AttrType::Int),
        ("income".to_string(), AttrType::Float),
    ];
    let el = Eligibility::parse(rules, "eligibility.toml", Some(&m.items), &types).unwrap();
    let attrs = |c: &(usize, f64, f64)| -> Attributes {
        [
            ("segment".to_string(), Attr::Str(SEGMENTS[c.0].to_string())),
            ("age".to_string(), Attr::Int(c.1 as i64)),
            ("income".to_string(), Attr::Float(c.2)),
        ]
        .into_iter()
        .collect()
    };
    // The same rules read directly, as the oracle.
    let oracle = |c: &(usize, f64, f64)| -> Vec<&'static str> {
        let mut out = Vec::new();
        if c.2 < 25_000.0 {
            out.extend(["personal_loan", "credit_card", "mortgage"]);
        }
        if !(25.0..=65.0).contains(&c.1) && !out.contains(&"mortgage") {
            out.push("mortgage");
        }
        if !["affluent", "small_business"].contains(&SEGMENTS[c.0]) {
            out.push("investment");
        }
        out.sort_unstable();
        out
    };
    let all = m.items.len();
    let (mut barred_customers, mut would_have_shown) = (0, 0);
    let mut ids: Vec<&String> = b.customers.keys().collect();
    ids.sort();
    for id in ids {
        let c = &b.customers[id];
        let v = el.check(&attrs(c));
        assert_eq!(v.errors, 0, "{v:?}");
        let mut got: Vec<&str> = v.barred.iter().map(|&i| m.items.id(i).unwrap()).collect();
        got.sort_unstable();
        assert_eq!(got, oracle(c), "customer {id} {c:?}");
        let Some(u) = m.users.get(id) else { continue };
        let opts = TopOptions {
            k: all,
            exclude: &v.barred,
            ..TopOptions::default()
        };
        let with = m.top(Who::Known(u), &opts).unwrap();
        let without = m
            .top(
                Who::Known(u),
                &TopOptions {
                    k: all,
                    ..TopOptions::default()
                },
            )
            .unwrap();
        let names = |l: &riskstream_recommend::TopList| -> Vec<u32> {
            l.items.iter().map(|r| r.item).collect()
        };
        let (w, wo) = (names(&with), names(&without));
        // Nothing barred is offered; everything else offered without rules still is, in
        // the same order.
        assert!(w.iter().all(|i| !v.barred.contains(i)), "customer {id}");
        let kept: Vec<u32> = wo
            .iter()
            .copied()
            .filter(|i| !v.barred.contains(i))
            .collect();
        assert_eq!(w, kept, "customer {id}");
        if !v.barred.is_empty() {
            barred_customers += 1;
        }
        if wo.iter().any(|i| v.barred.contains(i)) {
            would_have_shown += 1;
        }
    }
    // The rules matter on this data: many customers have something barred that the model
    // would otherwise have offered.
    assert!(barred_customers > 500, "{barred_customers}");
    assert!(would_have_shown > 300, "{would_have_shown}");
}
