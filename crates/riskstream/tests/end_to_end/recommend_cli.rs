//! `riskstream recommend` as a marketing analyst runs it: train on holdings and on ratings,
//! predict pairs, list offers with reasons (held products left out, a new customer folded in,
//! an unknown one answered by popularity in their segment), evaluate on fixed folds; bad input
//! gets a clear error (exit 2) or its documented treatment.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use crate::common;

use common::run::{bin, succeeded};

use common::serve::{free_port, serve};
use std::path::Path;
use std::process::Output;

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run riskstream")
}

fn refused(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// Holdings of 40 customers: students hold loans, the affluent savings and investments.
fn holdings(dir: &Path) -> (String, String) {
    let mut h = String::from("customer_id,product\n");
    let mut c = String::from("customer_id,segment\n");
    for i in 0..40 {
        let (seg, products): (&str, &[&str]) = if i % 2 == 0 {
            ("student", &["current", "loan", "card"])
        } else {
            (
                "affluent",
                &["current", "savings", "investment", "insurance"],
            )
        };
        // Leave one product out for some, so there is something to recommend.
        for (k, p) in products.iter().enumerate() {
            if i % 5 == 0 && k == products.len() - 1 {
                continue;
            }
            h.push_str(&format!("C{i},{p}\n"));
        }
        c.push_str(&format!("C{i},{seg}\n"));
    }
    (
        write(dir, "products.csv", &h),
        write(dir, "customers.csv", &c),
    )
}

/// `recommend train` on the holdings (implicit, with segments) with `learner`'s options.
fn train_holdings(products: &str, customers: &str, learner: &[&str], out: &str) -> String {
    let mut args = vec![
        "recommend",
        "train",
        "--input",
        products,
        "--user-col",
        "customer_id",
        "--item-col",
        "product",
        "--implicit",
        "--segments",
        customers,
        "--output",
        out,
    ];
    args.extend_from_slice(learner);
    succeeded(&run(&args))
}

fn csv(path: &str) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| l.split(',').map(String::from).collect())
        .collect()
}

#[test]
fn holdings_to_offers_with_reasons_fold_in_and_cold_start() {
    let d = tempfile::tempdir().unwrap();
    let (products, customers) = holdings(d.path());
    let model = d.path().join("m.json").display().to_string();
    let out = train_holdings(&products, &customers, &["--rank", "3"], &model);
    assert!(out.contains("implicit_als on 132 interactions"), "{out}");
    // Every customer: nothing they hold, reasons from what they hold.
    let top = d.path().join("top.csv").display().to_string();
    succeeded(&run(&[
        "recommend",
        "top",
        "--model",
        &model,
        "--k",
        "2",
        "--output",
        &top,
    ]));
    let rows = csv(&top);
    assert_eq!(
        rows[0],
        ["user", "rank", "item", "score", "reasons", "source"]
    );
    let held = std::fs::read_to_string(&products).unwrap();
    for r in &rows[1..] {
        assert!(
            !held.contains(&format!("{},{}\n", r[0], r[2])),
            "{r:?} is held"
        );
        assert_eq!(r[5], "model");
    }
    // C0 (a student without a card) is offered the card first, because of the loan.
    let c0: Vec<&Vec<String>> = rows.iter().filter(|r| r[0] == "C0").collect();
    assert_eq!(c0[0][2], "card", "{c0:?}");
    assert!(c0[0][4].contains("loan:"), "{c0:?}");
    // A new customer folded in from a history file; an unknown one by segment popularity.
    let hist = write(
        d.path(),
        "new.csv",
        "customer_id,product\nN1,current\nN1,savings\nN1,investment\n",
    );
    let users = write(
        d.path(),
        "users.csv",
        "customer_id,segment\nN1,\nX9,student\n",
    );
    let top2 = d.path().join("top2.csv").display().to_string();
    succeeded(&run(&[
        "recommend",
        "top",
        "--model",
        &model,
        "--users",
        &users,
        "--segment-col",
        "segment",
        "--history",
        &hist,
        "--k",
        "1",
        "--output",
        &top2,
    ]));
    let rows = csv(&top2);
    let n1 = rows.iter().find(|r| r[0] == "N1").unwrap();
    assert_eq!(
        (n1[2].as_str(), n1[5].as_str()),
        ("insurance", "folded_in"),
        "{rows:?}"
    );
    let x9 = rows.iter().find(|r| r[0] == "X9").unwrap();
    assert_eq!(x9[5], "popularity:student", "{rows:?}");
    assert_eq!(x9[2], "current", "{rows:?}");
}

#[test]
fn ratings_predict_and_evaluate_with_documented_fallbacks() {
    let d = tempfile::tempdir().unwrap();
    let mut r = String::from("user,item,rating,fold\n");
    for u in 0..30 {
        for i in 0..12 {
            if (u + i) % 3 != 0 {
                let v = 1 + (u * 7 + i * 3) % 5;
                r.push_str(&format!("u{u},i{i},{v},{}\n", 1 + (u + i) % 2));
            }
        }
    }
    let ratings = write(d.path(), "r.csv", &r);
    let model = d.path().join("m.json").display().to_string();
    let base = [
        "--input",
        &ratings,
        "--user-col",
        "user",
        "--item-col",
        "item",
        "--rating-col",
        "rating",
        "--rating-range",
        "1,5",
    ];
    let mut train = vec!["recommend", "train"];
    train.extend(base);
    train.extend(["--rank", "2", "--output", &model]);
    succeeded(&run(&train));
    let pairs = write(
        d.path(),
        "p.csv",
        "user,item\nu1,i1\nnobody,i1\nu1,nothing\n",
    );
    let pred = d.path().join("pred.csv").display().to_string();
    let err = String::from_utf8_lossy(
        &run(&[
            "recommend",
            "predict",
            "--model",
            &model,
            "--input",
            &pairs,
            "--output",
            &pred,
        ])
        .stderr,
    )
    .into_owned();
    assert!(err.contains("2 pairs had an unknown user or item"), "{err}");
    let rows = csv(&pred);
    assert_eq!(rows[0], ["user", "item", "prediction", "note"]);
    assert_eq!(rows[2][3], "unknown user");
    assert_eq!(rows[3][3], "unknown item");
    for row in &rows[1..] {
        let v: f64 = row[2].parse().unwrap();
        assert!((1.0..=5.0).contains(&v), "{row:?}");
    }
    let e = refused(&run(&[
        "recommend",
        "predict",
        "--model",
        &model,
        "--input",
        &pairs,
        "--output",
        &pred,
        "--strict",
    ]));
    assert!(e.contains("row 2: unknown user"), "{e}");
    let mut eval = vec!["recommend", "evaluate"];
    eval.extend(base);
    eval.extend([
        "--protocol",
        "folds",
        "--fold-col",
        "fold",
        "--rank",
        "2",
        "--json",
    ]);
    let out = succeeded(&run(&eval));
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["splits"].as_array().unwrap().len(), 2);
    assert!(j["mean"]["rmse"].as_f64().unwrap() > 0.0);
}

#[test]
fn bad_interactions_are_refused_with_the_row_and_ids() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("m.json").display().to_string();
    let train = |file: &str, extra: &[&str]| {
        let mut a = vec![
            "recommend",
            "train",
            "--input",
            file,
            "--user-col",
            "user",
            "--item-col",
            "item",
            "--output",
            &out,
        ];
        a.extend(extra);
        run(&a)
    };
    let dup = write(
        d.path(),
        "dup.csv",
        "user,item,rating\na,x,4\nb,x,3\na,x,5\n",
    );
    let e = refused(&train(&dup, &["--rating-col", "rating"]));
    assert!(
        e.contains("rows 1 and 3") && e.contains("`a`") && e.contains("--duplicates"),
        "{e}"
    );
    // The documented treatments instead of the error.
    succeeded(&train(
        &dup,
        &["--rating-col", "rating", "--duplicates", "last"],
    ));
    let range = write(d.path(), "range.csv", "user,item,rating\na,x,4\nb,x,7\n");
    let e = refused(&train(
        &range,
        &["--rating-col", "rating", "--rating-range", "1,5"],
    ));
    assert!(
        e.contains("row 2") && e.contains("rating 7 is outside"),
        "{e}"
    );
    let empty = write(d.path(), "empty.csv", "user,item,rating\n");
    let e = refused(&train(&empty, &["--rating-col", "rating"]));
    assert!(e.contains("no rows"), "{e}");
    let e = refused(&train(&dup, &[]));
    assert!(
        e.contains("--rating-col") && e.contains("--implicit"),
        "{e}"
    );
    let e = refused(&train(&dup, &["--rating-col", "nope"]));
    assert!(e.contains("no column `nope`"), "{e}");
    let e = refused(&train(&dup, &["--rating-col", "rating", "--rank", "0"]));
    assert!(e.contains("`rank` = 0"), "{e}");
    let neg = write(d.path(), "neg.csv", "user,item,n\na,x,-2\n");
    let e = refused(&train(&neg, &["--implicit", "--rating-col", "n"]));
    assert!(e.contains("negative"), "{e}");
}

/// `recommend top --eligibility --customers`: CEL rules over the customers' attributes bar
/// items (students get no card, and C4 — in arrears — no lending at all); a rule file with
/// mistakes is refused (exit 2) naming the file, line, column, the item and the attribute.
#[test]
fn eligibility_rules_bar_offers_and_bad_rules_are_named() {
    let d = tempfile::tempdir().unwrap();
    let (products, _) = holdings(d.path());
    let model = d.path().join("m.json").display().to_string();
    succeeded(&run(&[
        "recommend",
        "train",
        "--input",
        &products,
        "--user-col",
        "customer_id",
        "--item-col",
        "product",
        "--implicit",
        "--rank",
        "3",
        "--output",
        &model,
    ]));
    let mut attrs = String::from("customer_id,age,income,in_arrears,segment\n");
    for i in 0..40 {
        let seg = if i % 2 == 0 { "student" } else { "affluent" };
        attrs.push_str(&format!(
            "C{i},{},{}.5,{},{seg}\n",
            20 + i,
            10_000 + i * 2_000,
            i == 4
        ));
    }
    let customers = write(d.path(), "attrs.csv", &attrs);
    let rules = write(
        d.path(),
        "eligibility.toml",
        "[groups]\nlending = [\"loan\", \"card\"]\n\n[[rule]]\ngroup = \"lending\"\nwhen = \"!customer.in_arrears\"\n\n[[rule]]\nitem = \"card\"\nwhen = \"customer.segment != 'student'\"\n",
    );
    let top = d.path().join("top.csv").display().to_string();
    let base = [
        "recommend",
        "top",
        "--model",
        &model,
        "--k",
        "6",
        "--customers",
        &customers,
        "--output",
        &top,
    ];
    let mut args = base.to_vec();
    args.extend(["--eligibility", &rules]);
    let out = succeeded(&run(&args));
    assert!(out.contains("eligibility: 2 rules"), "{out}");
    let rows = csv(&top);
    for r in &rows[1..] {
        let i: usize = r[0][1..].parse().unwrap();
        if i.is_multiple_of(2) {
            assert_ne!(r[2], "card", "student {r:?} offered a card");
        }
        if i == 4 {
            assert!(r[2] != "card" && r[2] != "loan", "C4 is in arrears: {r:?}");
        }
    }
    // Without the rules the same model does offer students the card (so the test can fail).
    succeeded(&run(&base));
    let free = csv(&top);
    assert!(free[1..]
        .iter()
        .any(|r| r[2] == "card" && r[0][1..].parse::<usize>().unwrap().is_multiple_of(2)));

    let bad = write(
        d.path(),
        "bad.toml",
        "[[rule]]\nitem = \"cart\"\nwhen = \"customer.age >=\"\n\n[[rule]]\nitem = \"loan\"\nwhen = \"customer.incme > 1.0\"\n",
    );
    let mut args = base.to_vec();
    args.extend(["--eligibility", &bad]);
    let err = refused(&run(&args));
    for want in [
        "bad.toml:1:1: rule 1: unknown item `cart`",
        "did you mean `card`",
        "bad.toml:3:8: item `cart`: CEL syntax error",
        "bad.toml:7:8: item `loan`: unknown attribute `customer.incme`; did you mean `income`",
    ] {
        assert!(err.contains(want), "missing `{want}` in:\n{err}");
    }
    // --eligibility needs --customers.
    let out = run(&[
        "recommend",
        "top",
        "--model",
        &model,
        "--eligibility",
        &rules,
        "--output",
        &top,
    ]);
    assert_eq!(out.status.code(), Some(2));
}

/// The 64-hex id in a command's output.
fn id_in(out: &str) -> String {
    out.split_whitespace()
        .find(|w| w.len() == 64 && w.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| panic!("no id in: {out}"))
        .to_string()
}

/// `recommend top --k 2` of a model for the customers of `customers.csv` (with their
/// segments, as the service reads them): customer → items in rank order.
fn offline_top(dir: &Path, model: &str) -> std::collections::HashMap<String, Vec<String>> {
    let top = dir.join(format!("{model}.top.csv")).display().to_string();
    succeeded(&run(&[
        "recommend",
        "top",
        "--model",
        &dir.join(model).display().to_string(),
        "--users",
        &dir.join("customers.csv").display().to_string(),
        "--segment-col",
        "segment",
        "--k",
        "2",
        "--output",
        &top,
    ]));
    let mut m = std::collections::HashMap::<String, Vec<String>>::new();
    for r in &csv(&top)[1..] {
        m.entry(r[0].clone()).or_default().push(r[2].clone());
    }
    m
}

#[test]
fn models_pushed_and_staged_from_the_cli_are_served_as_the_arms() {
    let d = tempfile::tempdir().unwrap();
    let (products, customers) = holdings(d.path());
    for (name, learner) in [
        ("als.json", &["--rank", "3"][..]),
        ("pop.json", &["--algorithm", "popularity"][..]),
    ] {
        let out = d.path().join(name).display().to_string();
        train_holdings(&products, &customers, learner, &out);
    }
    let junk = write(d.path(), "junk.json", r#"{"kind": "nothing"}"#);
    let addr = format!("127.0.0.1:{}", free_port());
    let spec = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/fraud-handbook/features.toml");
    let head = format!(
        "[server]\nlisten = \"{addr}\"\nmetrics_listen = \"off\"\n\
         [registry]\nurl = \"sqlite://registry.db?mode=rwc\"\ndeployment = \"cards\"\npoll_interval = \"200ms\"\n\
         [state]\ndir = \"state\"\ncheckpoint_interval = \"off\"\ndurability = \"off\"\n\
         [features]\nspec = \"{}\"\n",
        spec.display()
    );
    let cfg = d.path().join("service.toml");
    std::fs::write(
        &cfg,
        format!("{head}[recommend]\ndeployment = \"offers\"\ncustomers = \"customers.csv\"\nsegment_col = \"segment\"\n"),
    )
    .unwrap();
    let bare = d.path().join("bare.toml");
    std::fs::write(&bare, &head).unwrap();
    let cli = |config: &Path, args: &[&str]| {
        bin()
            .args(args)
            .args(["--config", config.to_str().unwrap(), "--actor", "test"])
            .output()
            .unwrap()
    };
    let path = |n: &str| d.path().join(n).display().to_string();

    let out = succeeded(&cli(
        &cfg,
        &[
            "recommend",
            "push",
            &path("als.json"),
            "--stage",
            "champion",
        ],
    ));
    let als = id_in(&out);
    assert!(
        out.contains("registered recommendation model (implicit_als)"),
        "{out}"
    );
    assert!(
        out.contains("staged champion in deployment `offers`"),
        "{out}"
    );
    let pop = id_in(&succeeded(&cli(
        &cfg,
        &["recommend", "push", &path("pop.json")],
    )));
    let out = succeeded(&cli(
        &cfg,
        &[
            "recommend",
            "stage",
            &pop[..12],
            "challenger",
            "--pct",
            "50",
        ],
    ));
    assert!(
        out.contains(&format!(
            "recommendation model {pop} is now challenger (50%) in `offers`"
        )),
        "{out}"
    );

    // Refusals: not a model; a model of another kind's command; a challenger without its
    // share; a config without [recommend]. Each exits 2 naming what to fix.
    let err = refused(&cli(&cfg, &["recommend", "push", &junk]));
    assert!(err.contains("junk.json"), "{err}");
    let err = refused(&cli(&cfg, &["model", "stage", &pop, "shadow"]));
    assert!(err.contains("riskstream recommend stage"), "{err}");
    let err = refused(&cli(&cfg, &["recommend", "stage", &pop, "challenger"]));
    assert!(err.contains("--pct"), "{err}");
    let err = refused(&cli(&bare, &["recommend", "stage", &pop, "shadow"]));
    assert!(
        err.contains("bare.toml has no [recommend] section"),
        "{err}"
    );

    // The service serves each customer from the arm their hash routes them to, the same
    // items `recommend top` lists offline for that model, and the same arm every time.
    let offline = [
        (als.clone(), offline_top(d.path(), "als.json")),
        (pop.clone(), offline_top(d.path(), "pop.json")),
    ];
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = format!("sqlite://{}?mode=rwc", path("registry.db"));
    let key = rt.block_on(async {
        riskstream_registry::Registry::open(&url)
            .await
            .unwrap()
            .create_key("offers", &[riskstream_registry::Role::Decide], "test")
            .await
            .unwrap()
    });
    let _serve = serve(&cfg, &addr, &d.path().join("serve.log"));
    let http = reqwest::Client::new();
    let ask = |customer: &str| -> serde_json::Value {
        rt.block_on(async {
            let r = http
                .get(format!("http://{addr}/v1/recommendations/{customer}?k=2"))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200, "{customer}");
            r.json().await.unwrap()
        })
    };
    let mut arms = std::collections::HashMap::new();
    for round in 0..2 {
        for i in 0..40 {
            let c = format!("C{i}");
            let a = ask(&c);
            let model = a["arm"]["model"].as_str().unwrap().to_string();
            let (_, top) = offline.iter().find(|(id, _)| *id == model).unwrap();
            let items: Vec<&str> = a["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["item"].as_str().unwrap())
                .collect();
            let want: Vec<&str> = top[&c].iter().map(String::as_str).collect();
            assert_eq!(items, want, "{c}: {a}");
            if round == 0 {
                arms.insert(c, model);
            } else {
                assert_eq!(arms[&c], model, "{c} changed arm");
            }
        }
    }
    let to_pop = arms.values().filter(|m| **m == pop).count();
    assert!(
        (8..=32).contains(&to_pop),
        "about half of 40 customers go to a 50 % challenger: {to_pop}"
    );
    // The challenger promoted, then the first model put back by `recommend rollback`.
    succeeded(&cli(&cfg, &["recommend", "stage", &pop, "champion"]));
    let out = succeeded(&cli(&cfg, &["recommend", "rollback"]));
    assert!(
        out.contains(&format!(
            "recommendation champion of `offers` rolled back to {als}"
        )),
        "{out}"
    );
}
