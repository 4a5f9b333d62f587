//! The OpenAPI document against the service that serves it.
//!
//! A client generated from `/openapi.json` must be able to rely on it: every status the
//! service answers on a route is documented for that route, and every body fits the schema
//! declared for that status. These tests send, per route, the requests a client gets wrong
//! and right (no key, the wrong role, a bad body, the wrong content type, an unknown id,
//! the happy path) and check each answer against the document the service itself serves.
//! The validator below is a small JSON Schema subset (type, properties, required,
//! additionalProperties, items, enum, oneOf/anyOf/allOf, $ref, numeric and length bounds):
//! enough to catch an array declared as an object or an error shape that drifted.
//! `.ci/schemathesis.sh` fuzzes the same document with schemathesis.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::{config_text, deploy, start, start_with, tx, Svc};
use riskstream_registry::{NewCase, Registry, Role};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Follows a local `$ref` (`#/components/schemas/X`).
fn resolve<'a>(root: &'a Value, s: &'a Value) -> &'a Value {
    match s.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let p = r.strip_prefix('#').expect("local $ref");
            let t = root
                .pointer(p)
                .unwrap_or_else(|| panic!("dangling $ref {r}"));
            resolve(root, t)
        }
        None => s,
    }
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64(),
        other => panic!("unknown schema type {other}"),
    }
}

/// Checks `v` against `schema`; the error names the JSON path at fault.
fn validate(root: &Value, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    let s = resolve(root, schema);
    let fail = |why: String| Err(format!("{at}: {why} (value {v}, schema {s})"));
    if let Some(t) = s.get("type") {
        let ok = match t {
            Value::String(t) => type_ok(t, v),
            Value::Array(ts) => ts.iter().any(|t| type_ok(t.as_str().unwrap(), v)),
            _ => panic!("bad type {t}"),
        };
        if !ok {
            return fail(format!("not of type {t}"));
        }
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            return fail("not one of the enum values".into());
        }
    }
    for (k, any) in [("oneOf", false), ("anyOf", true)] {
        if let Some(alts) = s.get(k).and_then(Value::as_array) {
            let n = alts
                .iter()
                .filter(|a| validate(root, a, v, at).is_ok())
                .count();
            if n == 0 || (!any && n > 1) {
                return fail(format!("{n} alternatives of {k} match"));
            }
        }
    }
    if let Some(all) = s.get("allOf").and_then(Value::as_array) {
        for a in all {
            validate(root, a, v, at)?;
        }
    }
    if let Some(o) = v.as_object() {
        let props = s.get("properties").and_then(Value::as_object);
        for r in s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let r = r.as_str().unwrap();
            if !o.contains_key(r) {
                return fail(format!("required property `{r}` missing"));
            }
        }
        for (k, x) in o {
            match props.and_then(|p| p.get(k)) {
                Some(ps) => validate(root, ps, x, &format!("{at}.{k}"))?,
                None => match s.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        return fail(format!("property `{k}` is not declared"))
                    }
                    Some(extra @ Value::Object(_)) => {
                        validate(root, extra, x, &format!("{at}.{k}"))?
                    }
                    _ => {}
                },
            }
        }
    }
    if let (Some(a), Some(items)) = (v.as_array(), s.get("items")) {
        for (i, x) in a.iter().enumerate() {
            validate(root, items, x, &format!("{at}[{i}]"))?;
        }
    }
    if let Some(x) = v.as_f64() {
        if s.get("minimum")
            .and_then(Value::as_f64)
            .is_some_and(|m| x < m)
        {
            return fail("below minimum".into());
        }
        if s.get("maximum")
            .and_then(Value::as_f64)
            .is_some_and(|m| x > m)
        {
            return fail("above maximum".into());
        }
    }
    if let Some(x) = v.as_str() {
        let n = x.chars().count() as u64;
        if s.get("minLength")
            .and_then(Value::as_u64)
            .is_some_and(|m| n < m)
        {
            return fail("shorter than minLength".into());
        }
        if s.get("maxLength")
            .and_then(Value::as_u64)
            .is_some_and(|m| n > m)
        {
            return fail("longer than maxLength".into());
        }
    }
    Ok(())
}

/// The document, and what was checked against it.
struct Checker {
    doc: Value,
    /// (method, route) → statuses seen.
    seen: BTreeMap<(String, String), Vec<u16>>,
    problems: Vec<String>,
}

impl Checker {
    /// Checks one answer: its status documented for the route, its body valid against the
    /// schema declared for the status and content type.
    fn check(&mut self, method: &str, route: &str, status: u16, ctype: &str, body: &str) {
        let what = format!("{} {route} → {status}", method.to_uppercase());
        self.seen
            .entry((method.into(), route.into()))
            .or_default()
            .push(status);
        let Some(op) = self.doc["paths"][route].get(method) else {
            self.problems
                .push(format!("{what}: the route is not documented"));
            return;
        };
        let Some(resp) = op["responses"].get(status.to_string()) else {
            self.problems
                .push(format!("{what}: status not documented (body {body})"));
            return;
        };
        let mime = ctype.split(';').next().unwrap_or("").trim();
        let Some(schema) = resp["content"].get(mime).map(|c| &c["schema"]) else {
            self.problems.push(format!(
                "{what}: content type `{mime}` not documented (declared: {})",
                resp["content"]
            ));
            return;
        };
        let v: Value = if mime == "application/json" {
            match serde_json::from_str(body) {
                Ok(v) => v,
                Err(e) => {
                    self.problems
                        .push(format!("{what}: not JSON ({e}): {body}"));
                    return;
                }
            }
        } else {
            Value::String(body.to_string())
        };
        if let Err(e) = validate(&self.doc, schema, &v, "body") {
            self.problems.push(format!("{what}: {e}"));
        }
    }
}

/// One request: method, the route as documented, the concrete path, the key, the body.
#[derive(Clone)]
enum Body {
    None,
    Json(Value),
    Text(String),
    /// JSON text sent without a content type (the 415 case).
    Untyped(String),
}

async fn send(
    s: &Svc,
    c: &mut Checker,
    method: &str,
    route: &str,
    path: &str,
    key: Option<&str>,
    body: Body,
) -> (u16, Value) {
    let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let mut r = s.http.request(m, format!("{}{path}", s.base));
    if let Some(k) = key {
        r = r.bearer_auth(k);
    }
    r = match body {
        Body::None => r,
        Body::Json(v) => r.json(&v),
        Body::Text(t) => r.header("content-type", "text/plain").body(t),
        Body::Untyped(t) => r.body(t),
    };
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = resp.text().await.unwrap();
    c.check(method, route, status, &ctype, &text);
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn fetch_doc(s: &Svc) -> Value {
    let r = s
        .http
        .get(format!("{}/openapi.json", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "/openapi.json needs no key");
    r.json().await.unwrap()
}

/// The document's promises that do not need a request: arrays declared as arrays, the
/// error shape exact, every authenticated route with its 401/403/503, every JSON body route
/// with its 400/413/415, the bearer scheme, and no key on the health routes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_declares_errors_auth_and_arrays() {
    let mut s = start("").await;
    let doc = fetch_doc(&s).await;
    // To read the document without starting a service: RISKSTREAM_OPENAPI_OUT=openapi.json.
    if let Some(p) = std::env::var_os("RISKSTREAM_OPENAPI_OUT") {
        std::fs::write(p, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["api_key"],
        json!({"type": "http", "scheme": "bearer"})
    );
    let err = &doc["components"]["schemas"]["ErrorBody"];
    assert_eq!(err["required"], json!(["error"]), "{err}");
    let detail = resolve(&doc, &err["properties"]["error"]);
    assert_eq!(detail["required"], json!(["code", "message"]), "{detail}");
    assert_eq!(detail["properties"]["field"]["type"], "string", "{detail}");
    for route in [
        "/v1/models",
        "/v1/policies",
        "/v1/lists",
        "/v1/audit",
        "/v1/cases",
    ] {
        let sch = &doc["paths"][route]["get"]["responses"]["200"]["content"]["application/json"]
            ["schema"];
        assert_eq!(sch["type"], "array", "GET {route} answers an array: {sch}");
    }
    let mut n = 0;
    for (route, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            n += 1;
            let what = format!("{} {route}", method.to_uppercase());
            let codes: Vec<&str> = op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            let open = ["/healthz", "/readyz", "/openapi.json"].contains(&route.as_str());
            assert_eq!(op.get("security").is_none(), open, "{what}: security");
            if !open {
                for c in ["401", "403", "503"] {
                    assert!(codes.contains(&c), "{what} does not document {c}");
                }
            }
            if op["requestBody"]["content"]
                .get("application/json")
                .is_some()
                && route.starts_with("/v1/")
                // Uploads read the body as text whatever its content type: no 415.
                && ![
                    "/v1/models",
                    "/v1/credit/models",
                    "/v1/forecast-models",
                    "/v1/recommend/models",
                    "/v1/complaints/models",
                ]
                .contains(&route.as_str())
            {
                for c in ["400", "413", "415"] {
                    assert!(codes.contains(&c), "{what} does not document {c}");
                }
            }
            // A parameter declared `in: path` that the path does not name can never be
            // sent: a fuzzer's "invalid value" for it goes nowhere and the request passes.
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["in"] == "path" {
                    let name = p["name"].as_str().unwrap();
                    assert!(
                        route.contains(&format!("{{{name}}}")),
                        "{what}: parameter `{name}` is declared in the path but the path does not name it"
                    );
                }
            }
            for (c, r) in op["responses"].as_object().unwrap() {
                if c.starts_with('4') || c.starts_with('5') {
                    assert_eq!(
                        r["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorBody",
                        "{what} {c}"
                    );
                }
            }
        }
    }
    assert_eq!(n, 60, "operations in the document");
    // Values the schema allows are values the service takes: the entity fields of this
    // deployment's feature spec, the case orders, the cursor's form.
    let param = |route: &str, name: &str| -> Value {
        doc["paths"][route]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("GET {route} has no parameter {name}"))["schema"]
            .clone()
    };
    assert_eq!(
        param("/v1/features/{entity}", "field")["enum"],
        json!(["CUSTOMER_ID", "TERMINAL_ID"])
    );
    assert_eq!(
        param("/v1/entities/{field}/{value}/history", "field")["enum"],
        json!(["CUSTOMER_ID", "TERMINAL_ID"])
    );
    let sort = param("/v1/cases", "sort");
    let sort = resolve(&doc, &sort);
    assert_eq!(
        sort["enum"],
        json!(["oldest", "newest", "score_desc", "score_asc"]),
        "{sort}"
    );
    assert!(param("/v1/cases", "after")["pattern"].is_string());
    assert_eq!(param("/v1/monitoring/drift", "n")["minimum"], 1);
    // A `$ref` with a description can come out as `allOf: [{enum of strings}, {type:
    // object}]`, which no value satisfies (schemathesis cannot generate a request for it).
    fn no_conflicting_all_of(v: &Value, at: &str) {
        match v {
            Value::Object(o) => {
                if let Some(all) = o.get("allOf").and_then(Value::as_array) {
                    let types: std::collections::BTreeSet<String> = all
                        .iter()
                        .filter_map(|x| x.get("type"))
                        .map(Value::to_string)
                        .collect();
                    assert!(types.len() <= 1, "{at}: allOf with types {types:?}");
                }
                for (k, x) in o {
                    no_conflicting_all_of(x, &format!("{at}/{k}"));
                }
            }
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, x)| no_conflicting_all_of(x, &format!("{at}/{i}"))),
            _ => {}
        }
    }
    no_conflicting_all_of(&doc, "");
    let lists = &doc["paths"]["/v1/lists/{list}/{value}"]["put"]["parameters"];
    assert_eq!(lists[0]["schema"]["pattern"], "^[A-Za-z0-9_]{1,64}$");
    assert_eq!(lists[1]["schema"]["maxLength"], 256);
    s.stop().await;
}

/// Every answer to a set of requests per route is documented and fits its schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_is_documented_and_fits_its_schema() {
    // With data-quality checks in one-minute windows, so `GET /v1/quality` answers windows.
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("quality.toml"),
        "window = \"1m\"\nlateness = \"0s\"\n[[check]]\nname = \"volume\"\nkind = \"volume\"\n\
         [[check]]\nname = \"amount\"\nkind = \"validity\"\nfield = \"TX_AMOUNT\"\nmax = 1e9\nmin_records = 1\n",
    )
    .unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        d.path().join("registry.db").display()
    );
    let text = config_text(d.path(), &url, "") + "[quality]\nchecks = \"quality.toml\"\n";
    let mut s = start_with(d.path().to_path_buf(), url, &text, Some(d)).await;
    let (model, policy) = deploy(&s).await;
    let doc = fetch_doc(&s).await;
    let mut c = Checker {
        doc,
        seen: BTreeMap::new(),
        problems: Vec::new(),
    };
    let admin = s.admin.clone();
    let decide = s.key(&[Role::Decide]).await;
    let analyst = s.key(&[Role::Analyst]).await;
    let lists_key = s.key(&[Role::Lists]).await;
    let label_key = s.key(&[Role::Label]).await;
    let modeler = s.key(&[Role::Modeler]).await;
    let bad = "rsk_not_a_key";

    // A case to list and close, as a pipeline would open it.
    let reg = Registry::open(&s.url).await.unwrap();
    reg.pipeline_commit(
        "openapi",
        &[NewCase {
            id: "openapi:0-1".into(),
            tx_id: "1".into(),
            outcome: "review".into(),
            score: Some(0.7),
            decision: json!({"tx_id": "1", "outcome": "review"}).to_string(),
            tx: Some(json!({"TRANSACTION_ID": 1}).to_string()),
        }],
        &[],
        &BTreeMap::new(),
    )
    .await
    .unwrap();
    drop(reg);

    use Body::{Json as J, None as N, Text as T, Untyped as U};
    let k = Some;

    // Health and the document.
    send(&s, &mut c, "get", "/healthz", "/healthz", None, N).await;
    send(&s, &mut c, "get", "/readyz", "/readyz", None, N).await;
    send(&s, &mut c, "get", "/openapi.json", "/openapi.json", None, N).await;

    // Decisions.
    let r = "/v1/decisions";
    let t = tx(1, 5, 300.0, "2026-11-24 10:00:00");
    assert_eq!(
        send(&s, &mut c, "post", r, r, k(&decide), J(t.clone()))
            .await
            .0,
        200
    );
    assert_eq!(
        send(&s, &mut c, "post", r, r, k(&decide), J(t.clone()))
            .await
            .0,
        200,
        "a replay"
    );
    let mut other = t.clone();
    other["TX_AMOUNT"] = json!(1.0);
    send(&s, &mut c, "post", r, r, k(&decide), J(other)).await;
    send(&s, &mut c, "post", r, r, None, J(t.clone())).await;
    send(&s, &mut c, "post", r, r, k(bad), J(t.clone())).await;
    send(&s, &mut c, "post", r, r, k(&analyst), J(t.clone())).await;
    send(&s, &mut c, "post", r, r, k(&decide), J(json!({"x": 1}))).await;
    send(&s, &mut c, "post", r, r, k(&decide), J(json!([1]))).await;
    send(&s, &mut c, "post", r, r, k(&decide), U(t.to_string())).await;
    send(&s, &mut c, "post", r, r, k(&decide), T("{".into())).await;
    send(
        &s,
        &mut c,
        "post",
        r,
        r,
        k(&decide),
        J(tx(2, 5, 10.0, "2099-01-01 00:00:00")),
    )
    .await;
    send(
        &s,
        &mut c,
        "post",
        r,
        r,
        k(&decide),
        J(json!("x".repeat(70_000))),
    )
    .await;
    let r = "/v1/decisions/batch";
    let batch = json!({"transactions": [tx(3, 6, 10.0, "2026-11-24 10:01:00"), {"x": 1}]});
    send(&s, &mut c, "post", r, r, k(&decide), J(batch)).await;
    send(
        &s,
        &mut c,
        "post",
        r,
        r,
        k(&decide),
        J(json!({"transactions": 1})),
    )
    .await;
    send(
        &s,
        &mut c,
        "post",
        r,
        r,
        k(&label_key),
        J(json!({"transactions": []})),
    )
    .await;

    // Labels.
    let r = "/v1/labels";
    send(
        &s,
        &mut c,
        "post",
        r,
        r,
        k(&label_key),
        J(json!({"tx_id": "1", "fraud": true})),
    )
    .await;
    send(
        &s,
        &mut c,
        "post",
        r,
        r,
        k(&label_key),
        J(json!({"tx_id": "1", "fraud": false})),
    )
    .await;
    send(
        &s,
        &mut c,
        "post",
        r,
        r,
        k(&label_key),
        J(json!({"tx_id": "nope", "fraud": true})),
    )
    .await;
    send(
        &s,
        &mut c,
        "post",
        r,
        r,
        k(&label_key),
        J(json!({"tx_id": "3", "fraud": true, "time": "9999-12-31T23:59:59Z"})),
    )
    .await;
    send(
        &s,
        &mut c,
        "post",
        r,
        r,
        k(&label_key),
        J(json!({"tx_id": "1"})),
    )
    .await;
    send(
        &s,
        &mut c,
        "post",
        r,
        r,
        k(&decide),
        J(json!({"tx_id": "1", "fraud": true})),
    )
    .await;

    // Registry reads.
    for r in ["/v1/deployment", "/v1/models", "/v1/policies", "/v1/lists"] {
        assert_eq!(
            send(&s, &mut c, "get", r, r, k(&analyst), N).await.0,
            200,
            "{r}"
        );
        send(&s, &mut c, "get", r, r, None, N).await;
        send(&s, &mut c, "get", r, r, k(&decide), N).await;
    }
    send(
        &s,
        &mut c,
        "get",
        "/v1/models",
        "/v1/models?name=a&name=b",
        k(&analyst),
        N,
    )
    .await;
    send(
        &s,
        &mut c,
        "get",
        "/v1/models",
        "/v1/models?name=nothing",
        k(&analyst),
        N,
    )
    .await;

    // Registry writes.
    let r = "/v1/models";
    send(
        &s,
        &mut c,
        "post",
        r,
        r,
        k(&modeler),
        T("not a model".into()),
    )
    .await;
    send(&s, &mut c, "post", r, r, k(&decide), T("x".into())).await;
    let r = "/v1/policies";
    send(
        &s,
        &mut c,
        "post",
        r,
        r,
        k(&modeler),
        T(common::POLICY.into()),
    )
    .await;
    send(&s, &mut c, "post", r, r, k(&modeler), T("name = 1".into())).await;
    let r = "/v1/policies/{id}/activate";
    for id in [policy.as_str(), &model, "00000000", "zz"] {
        let p = format!("/v1/policies/{id}/activate");
        send(&s, &mut c, "post", r, &p, k(&admin), N).await;
    }
    send(
        &s,
        &mut c,
        "post",
        r,
        &format!("/v1/policies/{policy}/activate"),
        k(&modeler),
        N,
    )
    .await;
    let r = "/v1/models/{id}/stage";
    let p = format!("/v1/models/{model}/stage");
    send(
        &s,
        &mut c,
        "post",
        r,
        &p,
        k(&admin),
        J(json!({"stage": "champion"})),
    )
    .await;
    send(
        &s,
        &mut c,
        "post",
        r,
        &p,
        k(&admin),
        J(json!({"stage": "challenger"})),
    )
    .await;
    send(
        &s,
        &mut c,
        "post",
        r,
        &p,
        k(&modeler),
        J(json!({"stage": "shadow"})),
    )
    .await;
    send(&s, &mut c, "post", r, &p, k(&admin), U("{}".into())).await;
    let p = format!("/v1/models/{policy}/stage");
    send(
        &s,
        &mut c,
        "post",
        r,
        &p,
        k(&admin),
        J(json!({"stage": "shadow"})),
    )
    .await;
    send(
        &s,
        &mut c,
        "post",
        r,
        "/v1/models/00000000/stage",
        k(&admin),
        J(json!({"stage": "shadow"})),
    )
    .await;
    // One champion ever: nothing to roll back to is a conflict with the state (409).
    let rb = send(
        &s,
        &mut c,
        "post",
        "/v1/rollback",
        "/v1/rollback",
        k(&admin),
        N,
    )
    .await;
    assert_eq!(rb.0, 409, "{}", rb.1);
    send(
        &s,
        &mut c,
        "post",
        "/v1/rollback",
        "/v1/rollback",
        k(&modeler),
        N,
    )
    .await;

    // Credit routes on a service without `[credit]`: 404 naming the section, after the
    // role check (the answers with a configured section are in credit.rs).
    let app = json!({"application_id": "a1"});
    for (key, want) in [(k(&decide), 404), (k(&analyst), 403), (k(bad), 401)] {
        let (code, _) = send(
            &s,
            &mut c,
            "post",
            "/v1/credit/score",
            "/v1/credit/score",
            key,
            J(app.clone()),
        )
        .await;
        assert_eq!(code, want);
    }
    for (key, want) in [(k(&analyst), 404), (k(&decide), 403)] {
        let (code, _) = send(
            &s,
            &mut c,
            "get",
            "/v1/credit/models",
            "/v1/credit/models",
            key,
            N,
        )
        .await;
        assert_eq!(code, want);
    }
    for (key, want) in [(k(&modeler), 404), (k(&decide), 403)] {
        let (code, _) = send(
            &s,
            &mut c,
            "post",
            "/v1/credit/models",
            "/v1/credit/models",
            key,
            T("{}".into()),
        )
        .await;
        assert_eq!(code, want);
    }
    for (key, want) in [(k(&modeler), 404), (k(&decide), 403)] {
        let (code, _) = send(
            &s,
            &mut c,
            "post",
            "/v1/credit/models/{id}/stage",
            &format!("/v1/credit/models/{model}/stage"),
            key,
            J(json!({"stage": "shadow"})),
        )
        .await;
        assert_eq!(code, want);
    }
    for (key, want) in [(k(&admin), 404), (k(&modeler), 403)] {
        let (code, _) = send(
            &s,
            &mut c,
            "post",
            "/v1/credit/rollback",
            "/v1/credit/rollback",
            key,
            N,
        )
        .await;
        assert_eq!(code, want);
    }

    // Recommendation routes on a service without `[recommend]`: 404 naming the section,
    // after the role check (the answers with a configured section are in recommend.rs).
    let fb = json!({"event_id": "e1", "customer": "c1", "item": "i1", "kind": "shown", "arm": "deadbeef"});
    for (method, route, path, body, right, wrong) in [
        (
            "get",
            "/v1/recommendations/{customer}",
            "/v1/recommendations/c1?k=3".to_string(),
            N,
            &decide,
            &analyst,
        ),
        (
            "post",
            "/v1/recommendations/feedback",
            "/v1/recommendations/feedback".to_string(),
            J(fb.clone()),
            &decide,
            &analyst,
        ),
        (
            "get",
            "/v1/recommend/arms",
            "/v1/recommend/arms".to_string(),
            N,
            &analyst,
            &decide,
        ),
        (
            "get",
            "/v1/recommend/models",
            "/v1/recommend/models".to_string(),
            N,
            &analyst,
            &decide,
        ),
        (
            "post",
            "/v1/recommend/models",
            "/v1/recommend/models".to_string(),
            T("{}".into()),
            &modeler,
            &decide,
        ),
        (
            "post",
            "/v1/recommend/models/{id}/stage",
            format!("/v1/recommend/models/{model}/stage"),
            J(json!({"stage": "shadow"})),
            &modeler,
            &decide,
        ),
        (
            "post",
            "/v1/recommend/rollback",
            "/v1/recommend/rollback".to_string(),
            N,
            &admin,
            &modeler,
        ),
    ] {
        for (key, want) in [(k(right), 404), (k(wrong), 403)] {
            let (code, v) = send(&s, &mut c, method, route, &path, key, body.clone()).await;
            assert_eq!(code, want, "{method} {path}: {v}");
            if code == 404 {
                assert!(v.to_string().contains("[recommend]"), "{v}");
            }
        }
    }

    // Forecast routes on a service without `[forecast]`: 404 naming the section, after
    // the role check (the answers with a configured section are in forecast.rs).
    for (method, route, path, body, right, wrong) in [
        (
            "get",
            "/v1/forecasts",
            "/v1/forecasts".to_string(),
            N,
            &analyst,
            &decide,
        ),
        (
            "get",
            "/v1/forecasts/{series}",
            "/v1/forecasts/atm-1".to_string(),
            N,
            &analyst,
            &decide,
        ),
        (
            "get",
            "/v1/forecast-models",
            "/v1/forecast-models".to_string(),
            N,
            &analyst,
            &decide,
        ),
        (
            "post",
            "/v1/forecast-models",
            "/v1/forecast-models".to_string(),
            T("{}".into()),
            &modeler,
            &decide,
        ),
        (
            "post",
            "/v1/forecast-models/{id}/stage",
            format!("/v1/forecast-models/{model}/stage"),
            J(json!({"stage": "shadow"})),
            &modeler,
            &decide,
        ),
        (
            "get",
            "/v1/forecast-alerts",
            "/v1/forecast-alerts".to_string(),
            N,
            &analyst,
            &decide,
        ),
        (
            "post",
            "/v1/forecast-alerts/{id}/ack",
            "/v1/forecast-alerts/1/ack".to_string(),
            N,
            &analyst,
            &decide,
        ),
        (
            "post",
            "/v1/forecast-alerts/check",
            "/v1/forecast-alerts/check".to_string(),
            N,
            &modeler,
            &analyst,
        ),
    ] {
        for (key, want) in [(k(right.as_str()), 404), (k(wrong.as_str()), 403)] {
            let (code, _) = send(&s, &mut c, method, route, &path, key, body.clone()).await;
            assert_eq!(code, want, "{method} {path}");
        }
    }

    // Monitoring: drift answers an analyst; the alert routes without `[alerts]` answer 404
    // after the role check (with rules: alerts.rs).
    for (key, want) in [(k(&analyst), 200), (k(&decide), 403)] {
        let (code, _) = send(
            &s,
            &mut c,
            "get",
            "/v1/monitoring/drift",
            "/v1/monitoring/drift",
            key,
            N,
        )
        .await;
        assert_eq!(code, want);
    }
    // Data quality: the checks and their windows to an analyst; a bad limit is a 400.
    for (key, path, want) in [
        (k(&analyst), "/v1/quality?limit=5", 200),
        (k(&analyst), "/v1/quality?limit=0", 400),
        (k(&decide), "/v1/quality", 403),
    ] {
        let (code, v) = send(&s, &mut c, "get", "/v1/quality", path, key, N).await;
        assert_eq!(code, want, "{path}: {v}");
        if code == 200 {
            assert!(!v["windows"].as_array().unwrap().is_empty(), "{v}");
        }
    }
    for (method, route, path, body, right, wrong) in [
        ("get", "/v1/alerts", "/v1/alerts", N, &analyst, &decide),
        (
            "post",
            "/v1/alerts/{id}/ack",
            "/v1/alerts/1/ack",
            J(json!({"note": "seen"})),
            &analyst,
            &decide,
        ),
        (
            "post",
            "/v1/alerts/check",
            "/v1/alerts/check",
            N,
            &modeler,
            &analyst,
        ),
    ] {
        for (key, want) in [(k(right.as_str()), 404), (k(wrong.as_str()), 403)] {
            let (code, _) = send(&s, &mut c, method, route, path, key, body.clone()).await;
            assert_eq!(code, want, "{method} {path}");
        }
    }

    // Complaints routes on a service without `[complaints]`: 404 naming the section, after
    // the role check (the answers with a configured section are in complaints.rs).
    let complaint = json!({"complaint_id": "c1", "text": "a late fee"});
    for (key, want) in [(k(&decide), 404), (k(&analyst), 403), (k(bad), 401)] {
        let (code, _) = send(
            &s,
            &mut c,
            "post",
            "/v1/complaints/classify",
            "/v1/complaints/classify",
            key,
            J(complaint.clone()),
        )
        .await;
        assert_eq!(code, want);
    }
    for (key, want) in [(k(&analyst), 404), (k(&decide), 403)] {
        let (code, _) = send(
            &s,
            &mut c,
            "get",
            "/v1/complaints/models",
            "/v1/complaints/models",
            key,
            N,
        )
        .await;
        assert_eq!(code, want);
    }
    for (key, want) in [(k(&modeler), 404), (k(&decide), 403)] {
        let (code, _) = send(
            &s,
            &mut c,
            "post",
            "/v1/complaints/models",
            "/v1/complaints/models",
            key,
            T("{}".into()),
        )
        .await;
        assert_eq!(code, want);
    }
    for (key, want) in [(k(&modeler), 404), (k(&decide), 403)] {
        let (code, _) = send(
            &s,
            &mut c,
            "post",
            "/v1/complaints/models/{id}/stage",
            &format!("/v1/complaints/models/{model}/stage"),
            key,
            J(json!({"stage": "shadow"})),
        )
        .await;
        assert_eq!(code, want);
    }
    for (key, want) in [(k(&admin), 404), (k(&modeler), 403)] {
        let (code, _) = send(
            &s,
            &mut c,
            "post",
            "/v1/complaints/rollback",
            "/v1/complaints/rollback",
            key,
            N,
        )
        .await;
        assert_eq!(code, want);
    }

    // Lists.
    let r = "/v1/lists/{list}/{value}";
    let entry = json!({"expires_at": "2027-06-01T00:00:00Z", "reason": "test"});
    assert_eq!(
        send(
            &s,
            &mut c,
            "put",
            r,
            "/v1/lists/block_customers/5",
            k(&lists_key),
            J(entry.clone())
        )
        .await
        .0,
        200
    );
    send(
        &s,
        &mut c,
        "put",
        r,
        "/v1/lists/bad-name/5",
        k(&lists_key),
        J(entry.clone()),
    )
    .await;
    send(
        &s,
        &mut c,
        "put",
        r,
        "/v1/lists/l/%01",
        k(&lists_key),
        J(entry.clone()),
    )
    .await;
    send(
        &s,
        &mut c,
        "put",
        r,
        "/v1/lists/l/5",
        k(&lists_key),
        J(json!({"expires_at": "2000-01-01T00:00:00Z", "reason": "x"})),
    )
    .await;
    send(
        &s,
        &mut c,
        "put",
        r,
        "/v1/lists/l/5",
        k(&lists_key),
        J(json!({"expires_at": "2027-06-01T00:00:00Z", "reason": "a\u{0}b"})),
    )
    .await;
    send(
        &s,
        &mut c,
        "put",
        r,
        "/v1/lists/l/5",
        k(&lists_key),
        U(entry.to_string()),
    )
    .await;
    send(
        &s,
        &mut c,
        "put",
        r,
        "/v1/lists/l/5",
        k(&analyst),
        J(entry.clone()),
    )
    .await;
    assert_eq!(
        send(&s, &mut c, "get", "/v1/lists", "/v1/lists", k(&analyst), N)
            .await
            .1[0]["list"],
        "block_customers"
    );
    send(
        &s,
        &mut c,
        "delete",
        r,
        "/v1/lists/block_customers/5",
        k(&lists_key),
        N,
    )
    .await;
    send(
        &s,
        &mut c,
        "delete",
        r,
        "/v1/lists/block_customers/5",
        k(&lists_key),
        N,
    )
    .await;
    send(
        &s,
        &mut c,
        "delete",
        r,
        "/v1/lists/bad-name/5",
        k(&lists_key),
        N,
    )
    .await;

    // Audit.
    for p in [
        "/v1/audit",
        "/v1/audit?n=3",
        "/v1/audit?n=-1",
        "/v1/audit?n=10001",
        "/v1/audit?n=x",
    ] {
        send(&s, &mut c, "get", "/v1/audit", p, k(&analyst), N).await;
    }
    send(&s, &mut c, "get", "/v1/audit", "/v1/audit", k(&decide), N).await;
    send(
        &s,
        &mut c,
        "post",
        "/v1/audit/verify",
        "/v1/audit/verify",
        k(&admin),
        N,
    )
    .await;
    send(
        &s,
        &mut c,
        "post",
        "/v1/audit/verify",
        "/v1/audit/verify",
        k(&analyst),
        N,
    )
    .await;

    // Cases.
    for p in [
        "/v1/cases",
        "/v1/cases?status=all&n=5",
        "/v1/cases?status=nope",
        "/v1/cases?n=99999",
    ] {
        send(&s, &mut c, "get", "/v1/cases", p, k(&analyst), N).await;
    }
    let r = "/v1/cases/{id}";
    send(
        &s,
        &mut c,
        "get",
        r,
        "/v1/cases/openapi:0-1",
        k(&analyst),
        N,
    )
    .await;
    send(&s, &mut c, "get", r, "/v1/cases/none", k(&analyst), N).await;
    // Escalation, comments and the trail, while the case is open.
    let r = "/v1/cases/{id}/escalate";
    let p = "/v1/cases/openapi:0-1/escalate";
    let esc = send(
        &s,
        &mut c,
        "post",
        r,
        p,
        k(&analyst),
        J(json!({"text": "over my limit"})),
    )
    .await;
    assert_eq!(esc.0, 200, "{}", esc.1);
    assert!(esc.1["escalated_by"].is_string(), "{}", esc.1);
    let again = send(
        &s,
        &mut c,
        "post",
        r,
        p,
        k(&analyst),
        J(json!({"text": "again"})),
    )
    .await;
    assert_eq!(again.0, 422, "{}", again.1);
    let r = "/v1/cases/{id}/comment";
    let p = "/v1/cases/openapi:0-1/comment";
    let ok = send(
        &s,
        &mut c,
        "post",
        r,
        p,
        k(&analyst),
        J(json!({"text": "called"})),
    )
    .await;
    assert_eq!(ok.0, 200, "{}", ok.1);
    let empty = send(
        &s,
        &mut c,
        "post",
        r,
        p,
        k(&analyst),
        J(json!({"text": ""})),
    )
    .await;
    assert_eq!(empty.0, 422, "{}", empty.1);
    let none = send(
        &s,
        &mut c,
        "post",
        r,
        "/v1/cases/none/comment",
        k(&analyst),
        J(json!({"text": "x"})),
    )
    .await;
    assert_eq!(none.0, 404, "{}", none.1);
    let r = "/v1/cases/{id}/trail";
    let t = send(
        &s,
        &mut c,
        "get",
        r,
        "/v1/cases/openapi:0-1/trail",
        k(&analyst),
        N,
    )
    .await;
    assert_eq!(t.0, 200, "{}", t.1);
    let actions: Vec<&str> =
        t.1.as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
    assert_eq!(actions, ["case.comment", "case.escalate"], "{}", t.1);
    let t = send(&s, &mut c, "get", r, "/v1/cases/none/trail", k(&analyst), N).await;
    assert_eq!(t.0, 404, "{}", t.1);
    send(
        &s,
        &mut c,
        "get",
        "/v1/cases",
        "/v1/cases?escalated=true",
        k(&analyst),
        N,
    )
    .await;

    let r = "/v1/cases/{id}/close";
    let p = "/v1/cases/openapi:0-1/close";
    send(
        &s,
        &mut c,
        "post",
        r,
        p,
        k(&analyst),
        J(json!({"label": "maybe"})),
    )
    .await;
    assert_eq!(
        send(
            &s,
            &mut c,
            "post",
            r,
            p,
            k(&analyst),
            J(json!({"label": "fraud", "note": "n"}))
        )
        .await
        .0,
        200
    );
    send(
        &s,
        &mut c,
        "post",
        r,
        p,
        k(&analyst),
        J(json!({"label": "fraud"})),
    )
    .await;
    send(
        &s,
        &mut c,
        "post",
        r,
        "/v1/cases/none/close",
        k(&analyst),
        J(json!({"label": "fraud"})),
    )
    .await;
    send(
        &s,
        &mut c,
        "get",
        "/v1/cases",
        "/v1/cases?status=closed",
        k(&analyst),
        N,
    )
    .await;

    // Keys.
    let r = "/v1/keys";
    let body = json!({"name": "openapi-test", "roles": ["analyst"]});
    assert_eq!(
        send(&s, &mut c, "post", r, r, k(&admin), J(body.clone()))
            .await
            .0,
        201
    );
    let dup = send(&s, &mut c, "post", r, r, k(&admin), J(body.clone())).await;
    assert_eq!(dup.0, 409, "a key name taken: {}", dup.1);
    send(
        &s,
        &mut c,
        "post",
        r,
        r,
        k(&admin),
        J(json!({"name": "x", "roles": ["root"]})),
    )
    .await;
    send(
        &s,
        &mut c,
        "post",
        r,
        r,
        k(&admin),
        J(json!({"name": "x y", "roles": ["admin"]})),
    )
    .await;
    send(&s, &mut c, "post", r, r, k(&analyst), J(body)).await;
    let r = "/v1/keys/{name}";
    send(
        &s,
        &mut c,
        "delete",
        r,
        "/v1/keys/openapi-test",
        k(&admin),
        N,
    )
    .await;
    send(
        &s,
        &mut c,
        "delete",
        r,
        "/v1/keys/openapi-test",
        k(&admin),
        N,
    )
    .await;
    send(
        &s,
        &mut c,
        "delete",
        r,
        "/v1/keys/no-such-key",
        k(&admin),
        N,
    )
    .await;
    send(
        &s,
        &mut c,
        "delete",
        r,
        "/v1/keys/no-such-key",
        k(&analyst),
        N,
    )
    .await;

    // An entity's current features (customer 5 was decided above): any valid key.
    let r = "/v1/features/{entity}";
    let (code, v) = send(&s, &mut c, "get", r, "/v1/features/5", k(&analyst), N).await;
    assert_eq!(code, 200, "{v}");
    assert!(!v["features"].as_object().unwrap().is_empty(), "{v}");
    let (code, v) = send(&s, &mut c, "get", r, "/v1/features/no-such", k(&decide), N).await;
    assert_eq!(code, 404, "{v}");
    let (code, v) = send(
        &s,
        &mut c,
        "get",
        r,
        "/v1/features/5?field=NOPE",
        k(&decide),
        N,
    )
    .await;
    assert_eq!(code, 400, "{v}");
    send(&s, &mut c, "get", r, "/v1/features/5", None, N).await;

    // An entity's history: analysts only; the answer (whatever customer 5's decisions above
    // left in it) is checked against the document like every other.
    let r = "/v1/entities/{field}/{value}/history";
    let p = "/v1/entities/CUSTOMER_ID/5/history?limit=2";
    let (code, v) = send(&s, &mut c, "get", r, p, k(&analyst), N).await;
    assert_eq!(code, 200, "{v}");
    assert!(v["events"].is_array(), "{v}");
    let (code, v) = send(&s, &mut c, "get", r, p, k(&decide), N).await;
    assert_eq!(code, 403, "{v}");
    let bad = "/v1/entities/NOPE/5/history";
    let (code, v) = send(&s, &mut c, "get", r, bad, k(&analyst), N).await;
    assert_eq!(code, 400, "{v}");
    send(&s, &mut c, "get", r, p, None, N).await;

    // A decision's lineage (transaction 1, decided above): analysts only; an unknown id 404.
    let r = "/v1/lineage/{tx_id}";
    let (code, v) = send(&s, &mut c, "get", r, "/v1/lineage/1", k(&analyst), N).await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["tx_id"], "1", "{v}");
    let (code, v) = send(&s, &mut c, "get", r, "/v1/lineage/1", k(&decide), N).await;
    assert_eq!(code, 403, "{v}");
    let (code, v) = send(&s, &mut c, "get", r, "/v1/lineage/no-such", k(&analyst), N).await;
    assert_eq!(code, 404, "{v}");
    send(&s, &mut c, "get", r, "/v1/lineage/1", None, N).await;

    let mut summary = String::new();
    for ((m, r), st) in &c.seen {
        summary.push_str(&format!("{} {r}: {st:?}\n", m.to_uppercase()));
    }
    eprintln!("{summary}");
    assert!(
        c.problems.is_empty(),
        "{} answers the document does not describe:\n{}",
        c.problems.len(),
        c.problems.join("\n")
    );
    let documented = c.doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|o| o.as_object().unwrap().len())
        .sum::<usize>();
    assert_eq!(c.seen.len(), documented, "every operation was exercised");
    s.stop().await;
}

/// A schema that says object where the service answers an array fails the check (the
/// finding this file guards against).
#[test]
fn an_array_against_an_object_schema_is_caught() {
    let root = json!({});
    let err = validate(&root, &json!({"type": "object"}), &json!([]), "body").unwrap_err();
    assert!(err.contains("not of type"), "{err}");
    let s = json!({"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "message"], "additionalProperties": false,
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}});
    assert!(validate(
        &root,
        &s,
        &json!({"error": {"code": "x", "message": "y"}}),
        "b"
    )
    .is_ok());
    assert!(validate(&root, &s, &json!({"error": {"code": "x"}}), "b").is_err());
    assert!(validate(
        &root,
        &s,
        &json!({"error": {"code": "x", "message": "y", "z": 1}}),
        "b"
    )
    .is_err());
}
