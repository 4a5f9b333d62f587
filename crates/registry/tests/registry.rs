//! Every registry operation, run against SQLite and PostgreSQL with the same test bodies.
//! PostgreSQL tests need `RISKSTREAM_TEST_POSTGRES` (e.g.
//! `postgres://postgres@127.0.0.1:5432/test`); each test gets its own database.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

use std::collections::HashMap;

use common::Db;
use riskstream_core::{Classify, ErrorClass};
use riskstream_registry::{
    ArtifactKind, AuditRecord, AuditSendError, CaseLabel, CaseQuery, CaseSort, CaseStatus, NewCase,
    Registry, RegistryError, Role, Stage,
};
use serde_json::json;
use sha2::{Digest, Sha256};

on_both_backends!(
    artifacts_put_get_prefix_and_errors,
    artifact_prefix_ambiguity,
    promoting_a_champion_archives_the_previous_one,
    challenger_pct_is_validated,
    rollback_walks_back_through_champions_and_policies,
    revision_moves_on_every_change_and_only_then,
    api_keys_store_only_the_hash,
    list_entries_expire,
    audit_chain_verifies_through_both_paths,
    audit_detects_an_edited_row,
    audit_detects_a_deleted_row,
    audit_detects_swapped_rows,
    audit_detects_rows_removed_or_added_at_the_end,
    audit_writer_under_load_keeps_the_chain,
    a_logged_writer_shares_the_chain_with_synced_changes,
    a_writer_on_its_own_thread_keeps_the_chain_at_a_lower_priority,
    reopening_continues_the_chain,
    two_instances_share_one_chain,
    regression_sqlx_4284_null_pct_then_value,
    pipeline_commit_is_atomic_and_cases_close_once,
    credit_models_take_stages_in_a_deployment_of_their_own,
    the_queue_filters_sorts_pages_and_assigns,
);

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

fn model(n: u32) -> String {
    format!(r#"{{"format":"riskstream-model","n":{n}}}"#)
}

async fn open(db: &Db) -> Registry {
    let reg = Registry::open(&db.url).await.expect("open registry");
    assert_eq!(reg.backend(), db.backend);
    reg
}

async fn put_model(reg: &Registry, n: u32) -> String {
    reg.put_artifact(ArtifactKind::Model, "m", &model(n), json!({}), "alice")
        .await
        .unwrap()
}

fn user_error(e: &RegistryError) {
    assert_eq!(e.class(), ErrorClass::User, "{e}");
}

async fn artifacts_put_get_prefix_and_errors(db: Db) {
    let reg = open(&db).await;
    let body = model(1);
    let lineage = json!({ "train": "2024-01..2024-03", "parents": [] });
    let id = reg
        .put_artifact(ArtifactKind::Model, "gbdt", &body, lineage.clone(), "alice")
        .await
        .unwrap();
    assert_eq!(id, sha256_hex(&body));

    // Idempotent: same id, no second row, first name kept.
    let again = reg
        .put_artifact(ArtifactKind::Model, "other-name", &body, json!({}), "bob")
        .await
        .unwrap();
    assert_eq!(again, id);
    let models = reg
        .list_artifacts(Some(ArtifactKind::Model), None)
        .await
        .unwrap();
    assert_eq!(models.len(), 1);
    assert_eq!(models[0].name, "gbdt");
    assert_eq!(models[0].lineage, lineage);
    assert_eq!(models[0].size_bytes, body.len() as i64);
    assert_eq!(models[0].created_by, "alice");

    let got = reg.artifact(&id).await.unwrap();
    assert_eq!(got.body, body);
    assert_eq!(got.meta.kind, ArtifactKind::Model);
    assert_eq!(reg.artifact(&id[..8]).await.unwrap().meta.id, id);
    assert_eq!(
        reg.artifact(&id[..8].to_uppercase()).await.unwrap().meta.id,
        id
    );

    let policy = "[rules]\nblock_above = 0.9\n";
    let pid = reg
        .put_artifact(ArtifactKind::Policy, "strict", policy, json!(null), "alice")
        .await
        .unwrap();
    let spec = "[[feature]]\nname = \"n_1h\"\n";
    reg.put_artifact(
        ArtifactKind::FeatureSpec,
        "card",
        spec,
        json!(null),
        "alice",
    )
    .await
    .unwrap();
    assert_eq!(reg.list_artifacts(None, None).await.unwrap().len(), 3);
    assert_eq!(
        reg.list_artifacts(None, Some("strict")).await.unwrap()[0].id,
        pid
    );
    assert!(reg
        .list_artifacts(Some(ArtifactKind::Model), Some("strict"))
        .await
        .unwrap()
        .is_empty());

    // Errors say what is wrong.
    let e = reg.artifact("abc").await.unwrap_err();
    user_error(&e);
    assert!(e.to_string().contains("8 to 64 hex"), "{e}");
    let e = reg.artifact("zzzzzzzzzz").await.unwrap_err();
    assert!(matches!(e, RegistryError::Invalid { .. }), "{e}");
    let e = reg.artifact(&"f".repeat(64)).await.unwrap_err();
    assert!(matches!(e, RegistryError::NotFound { .. }), "{e}");
    user_error(&e);
    let e = reg
        .put_artifact(ArtifactKind::Model, "bad", "{not json", json!({}), "alice")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not valid JSON"), "{e}");
    let e = reg
        .put_artifact(ArtifactKind::Policy, "bad", "x = = 1", json!({}), "alice")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not valid TOML"), "{e}");
    // The same text cannot be two kinds (policies and specs are both TOML).
    let e = reg
        .put_artifact(ArtifactKind::FeatureSpec, "s", policy, json!({}), "alice")
        .await
        .unwrap_err();
    user_error(&e);
    assert!(e.to_string().contains("already stored as a policy"), "{e}");
    let e = reg
        .put_artifact(ArtifactKind::Model, "p", policy, json!({}), "alice")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("already stored as a policy"), "{e}");
    // A model is JSON, LightGBM text, or a TOML online card; anything else is refused.
    let e = reg
        .put_artifact(ArtifactKind::Model, "m", "not a model", json!({}), "alice")
        .await
        .unwrap_err();
    user_error(&e);
    assert!(e.to_string().contains("neither a JSON model file"), "{e}");
    let e = reg
        .put_artifact(ArtifactKind::Model, "x", "{}", json!({}), "")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("actor"), "{e}");
    reg.close().await;
}

async fn artifact_prefix_ambiguity(db: Db) {
    // Find two model bodies whose ids share their first 8 hex characters (a 32-bit birthday
    // search: about 65k hashes).
    let mut seen: HashMap<String, u32> = HashMap::new();
    let (a, b) = (0u32..)
        .find_map(|n| {
            let prefix = sha256_hex(&model(n))[..8].to_string();
            seen.insert(prefix, n).map(|m| (m, n))
        })
        .unwrap();
    let reg = open(&db).await;
    let ida = put_model(&reg, a).await;
    let idb = put_model(&reg, b).await;
    assert_eq!(ida[..8], idb[..8]);
    let e = reg.artifact(&ida[..8]).await.unwrap_err();
    user_error(&e);
    match &e {
        RegistryError::Ambiguous { matches, .. } => {
            assert_eq!(matches.len(), 2);
            assert!(matches.contains(&ida) && matches.contains(&idb));
        }
        other => panic!("expected Ambiguous, got {other}"),
    }
    assert!(e.to_string().contains("ambiguous"), "{e}");
    // A longer prefix settles it (unless they share more, which is astronomically unlikely).
    let common = ida
        .chars()
        .zip(idb.chars())
        .take_while(|(x, y)| x == y)
        .count();
    assert_eq!(reg.artifact(&ida[..common + 1]).await.unwrap().meta.id, ida);
    reg.close().await;
}

async fn promoting_a_champion_archives_the_previous_one(db: Db) {
    let reg = open(&db).await;
    let a = put_model(&reg, 1).await;
    let b = put_model(&reg, 2).await;
    let c = put_model(&reg, 3).await;
    let e = reg.deployment("card-fraud").await.unwrap_err();
    assert!(matches!(e, RegistryError::NotFound { .. }), "{e}");

    reg.set_stage("card-fraud", &a, Stage::Champion, "alice")
        .await
        .unwrap();
    reg.set_stage(
        "card-fraud",
        &b[..12],
        Stage::Challenger { pct: 10.0 },
        "alice",
    )
    .await
    .unwrap();
    reg.set_stage("card-fraud", &c, Stage::Shadow, "alice")
        .await
        .unwrap();
    let d = reg.deployment("card-fraud").await.unwrap();
    assert_eq!(d.champion.as_deref(), Some(a.as_str()));
    assert_eq!(d.challengers.len(), 1);
    assert_eq!(
        (d.challengers[0].artifact.as_str(), d.challengers[0].pct),
        (b.as_str(), 10.0)
    );
    assert_eq!(d.shadows, vec![c.clone()]);

    // The challenger wins.
    reg.set_stage("card-fraud", &b, Stage::Champion, "bob")
        .await
        .unwrap();
    let d = reg.deployment("card-fraud").await.unwrap();
    assert_eq!(d.champion.as_deref(), Some(b.as_str()));
    assert!(d.challengers.is_empty());
    assert_eq!(d.shadows, vec![c.clone()]);
    let history = reg.history("card-fraud").await.unwrap();
    let archived = history
        .iter()
        .find(|h| h.artifact == a && h.after == "archived")
        .expect("old champion archived in history");
    assert_eq!(archived.op, "superseded");
    assert_eq!(archived.before.as_deref(), Some("champion"));
    assert_eq!(archived.actor, "bob");

    // Audited with actor, before and after.
    let tail = reg.audit_tail(2).await.unwrap();
    assert!(tail
        .iter()
        .all(|r| r.action == "stage.set" && r.actor == "bob"));
    assert_eq!(
        tail[0].before,
        Some(json!({"artifact": a, "stage": "champion"}))
    );
    assert_eq!(
        tail[0].after,
        Some(json!({"artifact": a, "stage": "archived"}))
    );
    assert_eq!(
        tail[1].before,
        Some(json!({"artifact": b, "stage": "challenger", "pct": 10.0}))
    );
    assert_eq!(
        tail[1].after,
        Some(json!({"artifact": b, "stage": "champion"}))
    );

    // The champion cannot be demoted on its own; models only; other deployments separate.
    let e = reg
        .set_stage("card-fraud", &b, Stage::Shadow, "bob")
        .await
        .unwrap_err();
    user_error(&e);
    assert!(e.to_string().contains("is the champion"), "{e}");
    let p = reg
        .put_artifact(ArtifactKind::Policy, "p", "a = 1", json!({}), "alice")
        .await
        .unwrap();
    let e = reg
        .set_stage("card-fraud", &p, Stage::Shadow, "bob")
        .await
        .unwrap_err();
    assert!(matches!(e, RegistryError::WrongKind { .. }), "{e}");
    let e = reg
        .set_stage("card fraud", &a, Stage::Shadow, "bob")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("deployment"), "{e}");
    reg.set_stage("loans", &a, Stage::Champion, "bob")
        .await
        .unwrap();
    assert_eq!(
        reg.deployment("card-fraud")
            .await
            .unwrap()
            .champion
            .as_deref(),
        Some(b.as_str())
    );
    assert_eq!(
        reg.list_deployments().await.unwrap(),
        vec!["card-fraud".to_string(), "loans".to_string()]
    );

    // The database refuses a second champion even if the code did not.
    let two = format!(
        "UPDATE model_stages SET stage = 'champion' WHERE deployment = 'card-fraud' \
         AND artifact_id = '{c}'"
    );
    assert!(
        db.try_exec(&two).await.is_err(),
        "a second champion was accepted"
    );
    reg.close().await;
}

async fn challenger_pct_is_validated(db: Db) {
    let reg = open(&db).await;
    let a = put_model(&reg, 1).await;
    let b = put_model(&reg, 2).await;
    for pct in [0.0, -5.0, 100.5, f64::NAN, f64::INFINITY] {
        let e = reg
            .set_stage("d", &a, Stage::Challenger { pct }, "alice")
            .await
            .unwrap_err();
        user_error(&e);
        assert!(e.to_string().contains("outside (0, 100]"), "{pct}: {e}");
    }
    reg.set_stage("d", &a, Stage::Challenger { pct: 100.0 }, "alice")
        .await
        .unwrap();
    let e = reg
        .set_stage("d", &b, Stage::Challenger { pct: 1.0 }, "alice")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("at most 100%"), "{e}");
    reg.set_stage("d", &a, Stage::Challenger { pct: 60.0 }, "alice")
        .await
        .unwrap();
    reg.set_stage("d", &b, Stage::Challenger { pct: 40.0 }, "alice")
        .await
        .unwrap();
    let d = reg.deployment("d").await.unwrap();
    let total: f64 = d.challengers.iter().map(|c| c.pct).sum();
    assert_eq!(total, 100.0);
    reg.close().await;
}

async fn rollback_walks_back_through_champions_and_policies(db: Db) {
    let reg = open(&db).await;
    let [a, b, c] = [
        put_model(&reg, 1).await,
        put_model(&reg, 2).await,
        put_model(&reg, 3).await,
    ];
    let e = reg.rollback("d", "ops").await.unwrap_err();
    assert!(e.to_string().contains("no previous champion"), "{e}");
    for m in [&a, &b, &c] {
        reg.set_stage("d", m, Stage::Champion, "alice")
            .await
            .unwrap();
    }
    let r0 = reg.revision().await.unwrap();
    assert_eq!(reg.rollback("d", "ops").await.unwrap(), b);
    let d = reg.deployment("d").await.unwrap();
    assert_eq!(d.champion.as_deref(), Some(b.as_str()));
    assert!(reg.revision().await.unwrap() > r0);
    let last = reg.audit_tail(1).await.unwrap().pop().unwrap();
    assert_eq!(last.action, "stage.rollback");
    assert_eq!(last.actor, "ops");
    assert_eq!(last.before.unwrap()["champion"], json!(c));
    assert_eq!(last.after.unwrap()["champion"], json!(b));
    assert_eq!(reg.rollback("d", "ops").await.unwrap(), a);
    let e = reg.rollback("d", "ops").await.unwrap_err();
    user_error(&e);
    assert!(e.to_string().contains("no previous champion"), "{e}");
    // A promotion after rollbacks starts from where we are.
    reg.set_stage("d", &c, Stage::Champion, "alice")
        .await
        .unwrap();
    assert_eq!(reg.rollback("d", "ops").await.unwrap(), a);

    // Policies and the feature spec.
    let p1 = reg
        .put_artifact(ArtifactKind::Policy, "p", "v = 1", json!({}), "alice")
        .await
        .unwrap();
    let p2 = reg
        .put_artifact(ArtifactKind::Policy, "p", "v = 2", json!({}), "alice")
        .await
        .unwrap();
    let s = reg
        .put_artifact(ArtifactKind::FeatureSpec, "s", "w = 1", json!({}), "alice")
        .await
        .unwrap();
    let e = reg.rollback_policy("d", "ops").await.unwrap_err();
    assert!(e.to_string().contains("no previous policy"), "{e}");
    reg.activate_policy("d", &p1, "alice").await.unwrap();
    reg.activate_policy("d", &p2, "alice").await.unwrap();
    reg.set_feature_spec("d", &s, "alice").await.unwrap();
    let e = reg.activate_policy("d", &s, "alice").await.unwrap_err();
    assert!(matches!(e, RegistryError::WrongKind { .. }), "{e}");
    let d = reg.deployment("d").await.unwrap();
    assert_eq!(d.policy.as_deref(), Some(p2.as_str()));
    assert_eq!(d.feature_spec.as_deref(), Some(s.as_str()));
    let last = reg.audit_tail(1).await.unwrap().pop().unwrap();
    assert_eq!(last.action, "feature_spec.set");
    assert_eq!(reg.rollback_policy("d", "ops").await.unwrap(), p1);
    assert_eq!(
        reg.deployment("d").await.unwrap().policy.as_deref(),
        Some(p1.as_str())
    );
    assert!(reg.rollback_policy("d", "ops").await.is_err());
    let last = reg.audit_tail(1).await.unwrap().pop().unwrap();
    assert_eq!(last.action, "policy.rollback");
    assert_eq!(last.before, Some(json!({ "policy": p2 })));
    assert_eq!(last.after, Some(json!({ "policy": p1 })));
    assert!(reg.audit_verify().await.unwrap().ok());
    reg.close().await;
}

async fn revision_moves_on_every_change_and_only_then(db: Db) {
    let reg = open(&db).await;
    let mut rev = reg.revision().await.unwrap();
    assert_eq!(rev, 0);
    async fn moved(reg: &Registry, rev: &mut i64, what: &str) {
        let now = reg.revision().await.unwrap();
        assert!(now > *rev, "{what}: revision {now} did not move past {rev}");
        *rev = now;
    }
    let a = put_model(&reg, 1).await;
    assert_eq!(
        reg.revision().await.unwrap(),
        0,
        "artifacts are immutable: no reload"
    );
    reg.set_stage("d", &a, Stage::Shadow, "u").await.unwrap();
    moved(&reg, &mut rev, "stage").await;
    reg.set_stage("d", &a, Stage::Shadow, "u").await.unwrap();
    assert_eq!(
        reg.revision().await.unwrap(),
        rev,
        "a no-op does not move it"
    );
    reg.put_list_entry("block", "card-1", None, "test", "u")
        .await
        .unwrap();
    moved(&reg, &mut rev, "list put").await;
    reg.delete_list_entry("block", "card-1", "u").await.unwrap();
    moved(&reg, &mut rev, "list delete").await;
    reg.create_key("k", &[Role::Decide], "u").await.unwrap();
    moved(&reg, &mut rev, "key create").await;
    reg.revoke_key("k", "u").await.unwrap();
    moved(&reg, &mut rev, "key revoke").await;
    let p = reg
        .put_artifact(ArtifactKind::Policy, "p", "v = 1", json!({}), "u")
        .await
        .unwrap();
    reg.activate_policy("d", &p, "u").await.unwrap();
    moved(&reg, &mut rev, "policy").await;
    reg.audit_append(&[AuditRecord::now("u", "note", "x", None, None)])
        .await
        .unwrap();
    assert_eq!(
        reg.revision().await.unwrap(),
        rev,
        "audit records do not move it"
    );
    reg.close().await;
}

async fn api_keys_store_only_the_hash(db: Db) {
    let reg = open(&db).await;
    let key = reg
        .create_key(
            "scorer-1",
            &[Role::Decide, Role::Label, Role::Decide],
            "admin",
        )
        .await
        .unwrap();
    assert!(key.starts_with("rsk_") && key.len() == 68, "{key}");
    let other = reg
        .create_key("analyst-1", &[Role::Analyst], "admin")
        .await
        .unwrap();
    assert_ne!(key, other);

    let p = reg.verify_key(&key).await.unwrap().expect("valid key");
    assert_eq!(p.name, "scorer-1");
    assert_eq!(p.roles, vec![Role::Decide, Role::Label]);
    assert!(p.has_role(Role::Decide) && !p.has_role(Role::Admin));
    assert!(reg.verify_key("rsk_nope").await.unwrap().is_none());
    assert!(reg
        .verify_key(&format!("rsk_{}", "0".repeat(64)))
        .await
        .unwrap()
        .is_none());
    assert!(reg.verify_key(&key.to_uppercase()).await.unwrap().is_none());

    // Only sha256(key) is in the table, and the key appears nowhere in the database.
    let rows = db
        .rows("SELECT name, key_hash, roles FROM api_keys ORDER BY name")
        .await;
    assert_eq!(rows.len(), 2);
    let scorer = &rows[1];
    assert_eq!(scorer[0].as_deref(), Some("scorer-1"));
    assert_eq!(scorer[1].as_deref(), Some(sha256_hex(&key).as_str()));
    assert_eq!(scorer[2].as_deref(), Some("decide,label"));
    let audit = db
        .rows("SELECT actor, action, subject, before_json, after_json FROM audit_log")
        .await;
    assert!(audit
        .iter()
        .flatten()
        .flatten()
        .all(|v| !v.contains(&key[4..]) && !v.contains(&sha256_hex(&key))));
    let last = reg.audit_tail(1).await.unwrap().pop().unwrap();
    assert_eq!(
        (last.action.as_str(), last.subject.as_str()),
        ("key.create", "analyst-1")
    );
    assert_eq!(last.after, Some(json!({ "roles": ["analyst"] })));

    // Errors.
    let e = reg
        .create_key("scorer-1", &[Role::Admin], "admin")
        .await
        .unwrap_err();
    user_error(&e);
    assert!(e.to_string().contains("already exists"), "{e}");
    let e = reg.create_key("nobody", &[], "admin").await.unwrap_err();
    assert!(e.to_string().contains("at least one"), "{e}");
    let e = reg.revoke_key("ghost", "admin").await.unwrap_err();
    assert!(matches!(e, RegistryError::NotFound { .. }), "{e}");

    // Revocation.
    reg.revoke_key("scorer-1", "admin").await.unwrap();
    reg.revoke_key("scorer-1", "admin").await.unwrap();
    assert!(reg.verify_key(&key).await.unwrap().is_none());
    assert!(reg.verify_key(&other).await.unwrap().is_some());
    let keys = reg.list_keys().await.unwrap();
    assert_eq!(keys.len(), 2);
    let revoked = keys.iter().find(|k| k.name == "scorer-1").unwrap();
    assert_eq!(revoked.revoked_by.as_deref(), Some("admin"));
    assert!(revoked.revoked_at.is_some());
    let listed = serde_json::to_string(&keys).unwrap();
    assert!(!listed.contains(&sha256_hex(&key)) && !listed.contains(&key[4..]));
    let e = reg
        .create_key("scorer-1", &[Role::Decide], "admin")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("revoked"), "{e}");
    let revokes: Vec<_> = reg
        .audit_tail(10)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.action == "key.revoke")
        .collect();
    assert_eq!(revokes.len(), 1, "revoking twice is audited once");
    reg.close().await;
}

async fn list_entries_expire(db: Db) {
    let reg = open(&db).await;
    let now = now_micros();
    reg.put_list_entry("blocked_cards", "c-1", None, "chargeback", "analyst")
        .await
        .unwrap();
    reg.put_list_entry("blocked_cards", "c-2", Some(now + 400_000), "", "analyst")
        .await
        .unwrap();
    reg.put_list_entry(
        "allowed_merchants",
        "m-9",
        Some(now + 3_600_000_000),
        "vip",
        "analyst",
    )
    .await
    .unwrap();
    assert_eq!(reg.list_entries(None).await.unwrap().len(), 3);
    let cards = reg.list_entries(Some("blocked_cards")).await.unwrap();
    assert_eq!(
        cards.iter().map(|e| e.value.as_str()).collect::<Vec<_>>(),
        ["c-1", "c-2"]
    );
    assert_eq!(cards[0].reason, "chargeback");
    assert_eq!(cards[0].added_by, "analyst");
    assert_eq!(cards[1].expires_at, Some(now + 400_000));

    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let cards = reg.list_entries(Some("blocked_cards")).await.unwrap();
    assert_eq!(cards.len(), 1, "the expired entry is not returned");
    assert_eq!(cards[0].value, "c-1");

    // Updating an entry changes it in place and audits before/after.
    reg.put_list_entry(
        "blocked_cards",
        "c-1",
        Some(now + 3_600_000_000),
        "review",
        "lead",
    )
    .await
    .unwrap();
    let last = reg.audit_tail(1).await.unwrap().pop().unwrap();
    assert_eq!(last.action, "list.put");
    assert_eq!(last.subject, "blocked_cards/c-1");
    assert_eq!(
        last.before,
        Some(json!({"expires_at": null, "reason": "chargeback"}))
    );
    assert_eq!(
        last.after,
        Some(json!({"expires_at": now + 3_600_000_000, "reason": "review"}))
    );

    let e = reg
        .put_list_entry("blocked_cards", "c-3", Some(now - 1), "", "analyst")
        .await
        .unwrap_err();
    user_error(&e);
    assert!(e.to_string().contains("not in the future"), "{e}");
    assert!(reg
        .delete_list_entry("blocked_cards", "c-1", "lead")
        .await
        .unwrap());
    assert!(!reg
        .delete_list_entry("blocked_cards", "c-1", "lead")
        .await
        .unwrap());
    assert!(reg
        .list_entries(Some("blocked_cards"))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(reg.list_entries(None).await.unwrap().len(), 1);
    reg.close().await;
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

fn record(i: usize) -> AuditRecord {
    AuditRecord {
        actor: "scorer-1".into(),
        action: "decision".into(),
        subject: format!("tx-{i}"),
        before: None,
        after: Some(json!({ "score": (i % 1000) as f64 / 1000.0, "action": "allow" })),
        time: 1_700_000_000_000_000 + i as i64,
    }
}

/// The threads of this process whose name starts with `prefix`, with their niceness
/// (`/proc/self/task/*/stat`: the name is field 2, in parentheses; niceness field 19).
#[cfg(target_os = "linux")]
fn threads_named(prefix: &str) -> Vec<i64> {
    let mut out = Vec::new();
    for t in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if stat[open + 1..close].starts_with(prefix) {
            // Fields after the name start at field 3 (state); niceness is field 19.
            let nice = stat[close + 2..]
                .split(' ')
                .nth(16)
                .unwrap()
                .parse()
                .unwrap();
            out.push(nice);
        }
    }
    out
}

/// The service's writer: its own thread at a lower priority, records built there
/// (`send_with`), the chain still one with the registry's other changes; SQLite's
/// connection thread behind the relaxed pool shares the lower priority.
async fn a_writer_on_its_own_thread_keeps_the_chain_at_a_lower_priority(db: Db) {
    let reg = open(&db).await;
    let writer = reg.audit_writer_on_thread(16, true, 7).unwrap();
    let mut acks = Vec::new();
    for i in 0..200 {
        if i % 40 == 0 {
            put_model(&reg, i as u32).await;
        }
        match i % 3 {
            0 => writer.send_with(move || record(i)).await.unwrap(),
            1 => writer.send(record(i)).await.unwrap(),
            _ => acks.push(writer.send_acked(record(i)).await.unwrap()),
        }
    }
    for a in acks {
        riskstream_registry::committed(a).await.unwrap();
    }
    writer.flush().await.unwrap();
    #[cfg(target_os = "linux")]
    {
        // (The test runs on both backends at once: one such thread each.)
        // (Linux keeps 15 bytes of a thread's name.)
        let audit = threads_named("riskstream-audi");
        assert!(
            !audit.is_empty() && audit.iter().all(|&n| n == 7),
            "{audit:?}"
        );
        if db.backend == "sqlite" {
            let sqlite = threads_named("sqlx-sqlite-wor");
            assert!(
                sqlite.contains(&7),
                "SQLite's threads' niceness: {sqlite:?}"
            );
            assert!(
                sqlite.contains(&0),
                "SQLite's threads' niceness: {sqlite:?}"
            );
        }
    }
    writer.close().await.unwrap();
    // `close` returned once the thread had drained the queue and ended.
    assert!(writer.send(record(999)).await.is_err(), "closed");
    reg.sync_to_disk().unwrap();
    drop(reg);

    assert_eq!(decisions_after_reopen(&db).await.len(), 200);
}

/// Reopens the registry, checks its chain whole, and returns the subjects of its decision
/// records.
async fn decisions_after_reopen(db: &Db) -> std::collections::BTreeSet<String> {
    let reg = open(db).await;
    let report = reg.audit_verify().await.unwrap();
    assert!(report.ok(), "{report:?}");
    let tail = reg.audit_tail(1000).await.unwrap();
    assert_eq!(report.checked as usize, tail.len());
    tail.iter()
        .filter(|e| e.action == "decision")
        .map(|e| e.subject.clone())
        .collect()
}

/// A writer whose records the caller logs itself commits them on the registry's relaxed
/// connection (SQLite files): the chain stays one, interleaved with changes, waited-for
/// records and another instance's appends, and every record is read back after a reopen.
async fn a_logged_writer_shares_the_chain_with_synced_changes(db: Db) {
    let reg = open(&db).await;
    let other = open(&db).await;
    let writer = reg.audit_writer_with(16, true);
    let mut acks = Vec::new();
    for i in 0..300 {
        if i % 50 == 0 {
            put_model(&reg, i as u32).await;
        }
        if i % 7 == 0 {
            acks.push(writer.send_acked(record(i)).await.unwrap());
        } else if i % 11 == 0 {
            other.audit_append(&[record(i)]).await.unwrap();
        } else {
            writer.send(record(i)).await.unwrap();
        }
    }
    for a in acks {
        riskstream_registry::committed(a).await.unwrap();
    }
    writer.close().await.unwrap();
    reg.sync_to_disk().unwrap();
    other.sync_to_disk().unwrap();
    drop((reg, other));

    let want: std::collections::BTreeSet<String> = (0..300).map(|i| format!("tx-{i}")).collect();
    assert_eq!(decisions_after_reopen(&db).await, want);
}

async fn audit_chain_verifies_through_both_paths(db: Db) {
    let reg = open(&db).await;
    let report = reg.audit_verify().await.unwrap();
    assert!(report.ok() && report.checked == 0 && report.head_seq == 0);
    reg.audit_append(&[record(0), record(1)]).await.unwrap();
    let writer = reg.audit_writer(64);
    for i in 2..10 {
        writer.try_send(record(i)).unwrap();
    }
    writer.flush().await.unwrap();
    reg.audit_append(&[AuditRecord::now(
        "ops",
        "note",
        "nul\0in subject",
        None,
        None,
    )])
    .await
    .unwrap();
    writer.try_send(record(10)).unwrap();
    writer.close().await.unwrap();
    let e = writer.try_send(record(11)).unwrap_err();
    assert!(matches!(e, AuditSendError::Closed(_)), "{e}");

    let report = reg.audit_verify().await.unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.checked, 12);
    assert_eq!(report.head_seq, 12);
    let tail = reg.audit_tail(100).await.unwrap();
    assert_eq!(tail.len(), 12);
    assert_eq!(
        tail.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (1..=12).collect::<Vec<_>>()
    );
    assert_eq!(tail[0].prev_hash, "0".repeat(64));
    for w in tail.windows(2) {
        assert_eq!(w[1].prev_hash, w[0].hash);
    }
    assert_eq!(tail[11].hash, report.head_hash);
    assert_eq!(tail[10].subject, "nul\u{FFFD}in subject");
    let (got, want) = (&tail[5], record(5));
    assert_eq!(
        (&got.actor, &got.action, &got.subject, &got.after, got.time),
        (
            &want.actor,
            &want.action,
            &want.subject,
            &want.after,
            want.time
        )
    );
    assert_eq!(reg.audit_tail(3).await.unwrap()[0].seq, 10);
    reg.close().await;
}

/// A registry with 20 audit rows.
async fn seeded(db: &Db) -> Registry {
    let reg = open(db).await;
    let records: Vec<_> = (0..20).map(record).collect();
    reg.audit_append(&records).await.unwrap();
    assert!(reg.audit_verify().await.unwrap().ok());
    reg
}

async fn audit_detects_an_edited_row(db: Db) {
    let reg = seeded(&db).await;
    db.exec(
        "UPDATE audit_log SET after_json = '{\"action\":\"block\",\"score\":0.9}' WHERE seq = 7",
    )
    .await;
    let report = reg.audit_verify().await.unwrap();
    let bad = report.first_bad.expect("edit detected");
    assert_eq!(bad.seq, 7);
    assert!(bad.reason.contains("edited"), "{}", bad.reason);
    assert_eq!(report.checked, 6);
    reg.close().await;
}

async fn audit_detects_a_deleted_row(db: Db) {
    let reg = seeded(&db).await;
    db.exec("DELETE FROM audit_log WHERE seq = 5").await;
    let bad = reg
        .audit_verify()
        .await
        .unwrap()
        .first_bad
        .expect("deletion detected");
    assert_eq!(bad.seq, 5);
    assert!(bad.reason.contains("missing"), "{}", bad.reason);
    reg.close().await;
}

async fn audit_detects_swapped_rows(db: Db) {
    let reg = seeded(&db).await;
    db.exec("UPDATE audit_log SET seq = -3 WHERE seq = 3").await;
    db.exec("UPDATE audit_log SET seq = 3 WHERE seq = 4").await;
    db.exec("UPDATE audit_log SET seq = 4 WHERE seq = -3").await;
    let bad = reg
        .audit_verify()
        .await
        .unwrap()
        .first_bad
        .expect("swap detected");
    assert_eq!(bad.seq, 3);
    assert!(bad.reason.contains("reordered"), "{}", bad.reason);
    reg.close().await;
}

async fn audit_detects_rows_removed_or_added_at_the_end(db: Db) {
    let reg = seeded(&db).await;
    let last = reg.audit_tail(1).await.unwrap().pop().unwrap();
    db.exec("DELETE FROM audit_log WHERE seq = 20").await;
    let bad = reg
        .audit_verify()
        .await
        .unwrap()
        .first_bad
        .expect("tail deletion detected");
    assert_eq!(bad.seq, 20);
    assert!(bad.reason.contains("deleted"), "{}", bad.reason);

    // Put it back as it was, then add a row the registry never wrote.
    // PostgreSQL's rows name their tenant (schema 12); a writer outside the registry names
    // it too.
    let (tcol, tval) = if db.backend == "postgres" {
        ("tenant, ", "'default', ")
    } else {
        ("", "")
    };
    let insert = |seq: i64, actor: &str, after: &str, prev: &str, hash: &str| {
        format!(
            "INSERT INTO audit_log ({tcol}seq, time_us, actor, action, subject, before_json, \
             after_json, prev_hash, hash) VALUES ({tval}{seq}, {}, '{actor}', 'decision', \
             'tx-19', NULL, '{after}', '{prev}', '{hash}')",
            last.time
        )
    };
    let after = serde_json::to_string(&last.after).unwrap();
    db.exec(&insert(
        20,
        &last.actor,
        &after,
        &last.prev_hash,
        &last.hash,
    ))
    .await;
    assert!(reg.audit_verify().await.unwrap().ok());
    db.exec(&insert(21, "mallory", "{}", &last.hash, &"ab".repeat(32)))
        .await;
    let bad = reg
        .audit_verify()
        .await
        .unwrap()
        .first_bad
        .expect("tail insertion detected");
    assert_eq!(bad.seq, 21);
    assert!(
        bad.reason.contains("outside the registry"),
        "{}",
        bad.reason
    );
    reg.close().await;
}

async fn audit_writer_under_load_keeps_the_chain(db: Db) {
    const N: usize = 20_000;
    let reg = open(&db).await;
    let a = put_model(&reg, 1).await;
    let writer = reg.audit_writer(1024);
    let producer = {
        let writer = writer.clone();
        tokio::spawn(async move {
            let mut full = 0usize;
            for i in 0..N {
                match writer.try_send(record(i)) {
                    Ok(()) => {}
                    Err(AuditSendError::Full(r)) => {
                        full += 1;
                        writer.send(*r).await.unwrap();
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            full
        })
    };
    // Changes interleave with the writer's batches on the same chain.
    for pct in [1.0, 2.0, 3.0] {
        reg.set_stage("d", &a, Stage::Challenger { pct }, "alice")
            .await
            .unwrap();
    }
    let full = producer.await.unwrap();
    writer.close().await.unwrap();
    let stats = writer.stats();
    assert_eq!(stats.written, N as u64);
    assert_eq!((stats.failed, stats.queued), (0, 0));
    eprintln!("{}: {N} records, queue full {full} times", db.backend);

    let report = reg.audit_verify().await.unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.checked, (N + 4) as u64);
    let decisions = db
        .rows("SELECT subject FROM audit_log WHERE action = 'decision' ORDER BY seq")
        .await;
    assert_eq!(decisions.len(), N);
    assert_eq!(
        decisions[N - 1][0].as_deref(),
        Some(format!("tx-{}", N - 1).as_str())
    );
    reg.close().await;
}

async fn reopening_continues_the_chain(db: Db) {
    let reg = open(&db).await;
    reg.audit_append(&[record(0), record(1)]).await.unwrap();
    let head = reg.audit_verify().await.unwrap();
    reg.close().await;
    drop(reg);

    let reg = open(&db).await;
    let report = reg.audit_verify().await.unwrap();
    assert_eq!(
        (report.head_seq, &report.head_hash),
        (head.head_seq, &head.head_hash)
    );
    reg.audit_append(&[record(2)]).await.unwrap();
    let writer = reg.audit_writer(16);
    writer.try_send(record(3)).unwrap();
    writer.close().await.unwrap();
    let report = reg.audit_verify().await.unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.checked, 4);
    let tail = reg.audit_tail(2).await.unwrap();
    assert_eq!(tail[0].seq, 3);
    assert_eq!(tail[0].prev_hash, head.head_hash);
    reg.close().await;
}

async fn two_instances_share_one_chain(db: Db) {
    // Two handles with separate pools and queues stand for two service instances.
    let one = open(&db).await;
    let two = open(&db).await;
    let (w1, w2) = (one.audit_writer(256), two.audit_writer(256));
    for i in 0..2000 {
        let w = if i % 2 == 0 { &w1 } else { &w2 };
        w.send(record(i)).await.unwrap();
    }
    let (r1, r2) = tokio::join!(w1.close(), w2.close());
    r1.unwrap();
    r2.unwrap();
    one.audit_append(&[record(9999)]).await.unwrap();
    let report = two.audit_verify().await.unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.checked, 2001);
    one.close().await;
    two.close().await;
}

/// sqlx 0.9's `Any` driver declares a NULL f64 as float4 to PostgreSQL; a cached statement
/// first run with a NULL pct then refused a real one (transact-rs/sqlx#4284).
async fn regression_sqlx_4284_null_pct_then_value(db: Db) {
    let reg = open(&db).await;
    let a = put_model(&reg, 1).await;
    let b = put_model(&reg, 2).await;
    reg.set_stage("d", &a, Stage::Champion, "u").await.unwrap();
    // Enough alternations that every pooled connection runs both shapes.
    for i in 0..40 {
        let stage = if i % 2 == 0 {
            Stage::Shadow
        } else {
            Stage::Challenger { pct: f64::from(i) }
        };
        reg.set_stage("d", &b, stage, "u").await.unwrap();
    }
    let d = reg.deployment("d").await.unwrap();
    assert_eq!(d.challengers[0].pct, 39.0);
    let h = reg.history("d").await.unwrap();
    let last = h.last().unwrap();
    assert_eq!((last.before_pct, last.after_pct), (None, Some(39.0)));
    assert_eq!(h[h.len() - 2].before_pct, Some(37.0));
    assert_eq!(h[h.len() - 2].after_pct, None);
    reg.close().await;
}

// Backend-independent checks.

#[tokio::test]
async fn writer_reports_a_full_queue() {
    // On a current-thread runtime the writer task cannot run between two try_sends.
    let reg = Registry::open("sqlite::memory:").await.unwrap();
    let writer = reg.audit_writer(1);
    writer.try_send(record(0)).unwrap();
    match writer.try_send(record(1)) {
        Err(AuditSendError::Full(r)) => assert_eq!(r.subject, "tx-1"),
        other => panic!("expected Full, got {other:?}"),
    }
    writer.flush().await.unwrap();
    assert_eq!(writer.stats().written, 1);
    writer.close().await.unwrap();
    assert_eq!(reg.audit_verify().await.unwrap().checked, 1);
}

#[tokio::test]
async fn in_memory_sqlite_works() {
    let reg = Registry::open("sqlite::memory:").await.unwrap();
    assert_eq!(reg.backend(), "sqlite");
    let id = put_model(&reg, 7).await;
    reg.set_stage("d", &id, Stage::Champion, "u").await.unwrap();
    assert_eq!(reg.deployment("d").await.unwrap().champion, Some(id));
}

#[tokio::test]
async fn open_errors_are_clear_and_hide_passwords() {
    let e = Registry::open("mysql://root@localhost/x")
        .await
        .unwrap_err();
    user_error(&e);
    assert!(e.to_string().contains("expected sqlite://"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/missing/reg.db", dir.path().display());
    let e = Registry::open(&url).await.unwrap_err();
    user_error(&e);
    assert!(e.to_string().contains("does not exist"), "{e}");
    assert!(e.to_string().contains(&url), "{e}");

    // Nothing listens on port 1.
    let e = Registry::open("postgres://alice:hunter2@127.0.0.1:1/reg")
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::External, "{e}");
    let msg = e.to_string();
    assert!(!msg.contains("hunter2"), "{msg}");
    assert!(
        msg.contains("postgres://alice:***@127.0.0.1:1/reg"),
        "{msg}"
    );
    assert!(
        msg.contains("Connection refused"),
        "the cause, not a pool timeout: {msg}"
    );

    if let Ok(admin) = std::env::var(common::PG_ENV) {
        let url = common::with_database(&admin, "rs_no_such_database");
        let e = Registry::open(&url).await.unwrap_err();
        assert_eq!(e.class(), ErrorClass::External, "{e}");
        assert!(e.to_string().contains("does not exist"), "{e}");
    }
}

#[tokio::test]
async fn a_file_registry_is_created_and_uses_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reg.db");
    let url = format!("sqlite://{}", path.display());
    let reg = Registry::open(&url).await.unwrap();
    assert!(path.exists());
    reg.close().await;
    let db = Db {
        url,
        backend: "sqlite",
    };
    let mode = db.rows("PRAGMA journal_mode").await;
    assert_eq!(mode[0][0].as_deref(), Some("wal"));
}

fn new_case(p: u32, offset: u64, outcome: &str) -> NewCase {
    NewCase {
        id: format!("cards:{p}-{offset}"),
        tx_id: format!("tx-{p}-{offset}"),
        outcome: outcome.into(),
        score: (outcome == "decline").then_some(0.95),
        decision: json!({ "tx_id": format!("tx-{p}-{offset}"), "outcome": outcome }).to_string(),
        tx: None,
    }
}

async fn pipeline_commit_is_atomic_and_cases_close_once(db: Db) {
    let reg = open(&db).await;
    assert!(reg.pipeline_progress("cards").await.unwrap().is_empty());
    let cases: Vec<_> = (0..250u64)
        .map(|o| {
            new_case(
                (o % 2) as u32,
                o,
                if o % 3 == 0 { "decline" } else { "review" },
            )
        })
        .collect();
    let audit: Vec<_> = (0..300).map(record).collect();
    let progress = [(0u32, 248u64), (1, 249)].into_iter().collect();
    reg.pipeline_commit("cards", &cases, &audit, &progress)
        .await
        .unwrap();
    assert_eq!(reg.pipeline_progress("cards").await.unwrap(), progress);
    assert!(reg.pipeline_progress("other").await.unwrap().is_empty());
    let rev = reg.revision().await.unwrap();

    // A batch that fails (a case id that already exists) leaves nothing behind: no case, no
    // audit row, no progress.
    let e = reg
        .pipeline_commit(
            "cards",
            &[new_case(0, 1000, "review"), new_case(0, 0, "review")],
            &[record(1000)],
            &[(0u32, 1000u64)].into_iter().collect(),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, RegistryError::Database { .. }), "{e}");
    assert_eq!(reg.pipeline_progress("cards").await.unwrap(), progress);
    assert!(reg.case("cards:0-1000").await.is_err());
    let report = reg.audit_verify().await.unwrap();
    assert!(report.ok() && report.head_seq == 300, "{report:?}");
    assert_eq!(
        reg.revision().await.unwrap(),
        rev,
        "cases do not bump the revision"
    );

    let open_cases = reg
        .cases(&CaseQuery {
            status: Some(CaseStatus::Open),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(open_cases.len(), 250);
    let c = reg.case("cards:1-3").await.unwrap();
    assert_eq!(
        (
            c.source.as_str(),
            c.tx_id.as_str(),
            c.outcome.as_str(),
            c.score
        ),
        ("pipeline:cards", "tx-1-3", "decline", Some(0.95))
    );
    assert_eq!(c.decision["outcome"], "decline");
    let by_tx = reg
        .cases(&CaseQuery {
            tx_id: Some("tx-0-4".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_tx.len(), 1);
    assert_eq!(by_tx[0].id, "cards:0-4");

    let closed = reg
        .close_case(
            "cards:1-3",
            CaseLabel::Fraud,
            "card reported stolen",
            "analyst-1",
        )
        .await
        .unwrap();
    assert_eq!(closed.status, CaseStatus::Closed);
    assert_eq!(closed.label.as_deref(), Some("fraud"));
    assert_eq!(reg.case("cards:1-3").await.unwrap(), closed);
    let again = reg
        .close_case("cards:1-3", CaseLabel::Genuine, "", "analyst-2")
        .await
        .unwrap_err();
    user_error(&again);
    assert!(again.to_string().contains("analyst-1"), "{again}");
    let missing = reg
        .close_case("cards:9-9", CaseLabel::Fraud, "", "analyst-1")
        .await
        .unwrap_err();
    assert!(
        matches!(missing, RegistryError::NotFound { .. }),
        "{missing}"
    );
    user_error(&CaseLabel::parse("maybe").unwrap_err());
    assert_eq!(
        reg.cases(&CaseQuery {
            status: Some(CaseStatus::Open),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .len(),
        249
    );
    let tail = reg.audit_tail(1).await.unwrap();
    assert_eq!(
        (
            tail[0].action.as_str(),
            tail[0].subject.as_str(),
            tail[0].actor.as_str()
        ),
        ("case.close", "cards:1-3", "analyst-1")
    );
    assert!(reg.audit_verify().await.unwrap().ok());
    reg.close().await;
}

/// Credit models are artifacts of their own kind with the fraud models' stage machinery
/// (shadow, challenger with a share, champion, archived, rollback), in a deployment that
/// holds only credit models. No migration: `kind` is plain text in both schemas.
async fn credit_models_take_stages_in_a_deployment_of_their_own(db: Db) {
    let reg = open(&db).await;
    let card = |n: u32| format!(r#"{{"kind":"scorecard","version":2,"n":{n}}}"#);
    let lineage = json!({"kind": "scorecard", "characteristics": ["age"], "version": 2});
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(
            reg.put_artifact(
                ArtifactKind::CreditModel,
                "card",
                &card(n),
                lineage.clone(),
                "alice",
            )
            .await
            .unwrap(),
        );
    }
    let a = reg.artifact(&ids[0]).await.unwrap();
    assert_eq!(a.meta.kind, ArtifactKind::CreditModel);
    assert_eq!(a.meta.lineage, lineage);
    assert_eq!(
        "credit_model".parse::<ArtifactKind>().unwrap(),
        ArtifactKind::CreditModel
    );
    let listed = reg
        .list_artifacts(Some(ArtifactKind::CreditModel), None)
        .await
        .unwrap();
    assert_eq!(listed.len(), 3);
    let e = reg
        .put_artifact(
            ArtifactKind::CreditModel,
            "card",
            "not json",
            json!({}),
            "alice",
        )
        .await
        .unwrap_err();
    user_error(&e);

    reg.set_stage("credit", &ids[0], Stage::Champion, "alice")
        .await
        .unwrap();
    reg.set_stage("credit", &ids[1], Stage::Challenger { pct: 30.0 }, "alice")
        .await
        .unwrap();
    reg.set_stage("credit", &ids[2], Stage::Shadow, "alice")
        .await
        .unwrap();
    let d = reg.deployment("credit").await.unwrap();
    assert_eq!(d.champion.as_deref(), Some(ids[0].as_str()));
    assert_eq!(d.challengers.len(), 1);
    assert_eq!(d.challengers[0].pct, 30.0);
    assert_eq!(d.shadows, vec![ids[2].clone()]);
    reg.set_stage("credit", &ids[1], Stage::Champion, "alice")
        .await
        .unwrap();
    assert_eq!(reg.rollback("credit", "alice").await.unwrap(), ids[0]);
    reg.set_stage("credit", &ids[2], Stage::Archived, "alice")
        .await
        .unwrap();
    let d = reg.deployment("credit").await.unwrap();
    assert_eq!(d.champion.as_deref(), Some(ids[0].as_str()));
    assert!(d.shadows.is_empty() && d.challengers.is_empty(), "{d:?}");

    // One kind per deployment, both ways round.
    let fraud = put_model(&reg, 1).await;
    let e = reg
        .set_stage("credit", &fraud, Stage::Shadow, "alice")
        .await
        .unwrap_err();
    assert!(matches!(e, RegistryError::Conflict(_)), "{e}");
    assert!(e.to_string().contains("one kind"), "{e}");
    reg.set_stage("cards", &fraud, Stage::Champion, "alice")
        .await
        .unwrap();
    let e = reg
        .set_stage("cards", &ids[1], Stage::Shadow, "alice")
        .await
        .unwrap_err();
    assert!(matches!(e, RegistryError::Conflict(_)), "{e}");
    // A policy is still not a model.
    let p = reg
        .put_artifact(
            ArtifactKind::Policy,
            "p",
            "name = \"p\"",
            json!({}),
            "alice",
        )
        .await
        .unwrap();
    let e = reg
        .set_stage("credit", &p, Stage::Shadow, "alice")
        .await
        .unwrap_err();
    assert!(matches!(e, RegistryError::WrongKind { .. }), "{e}");
}

/// The console's queue: every filter, both sorts, pages that add up, assignment audited,
/// cases the service sends twice opened once.
async fn the_queue_filters_sorts_pages_and_assigns(db: Db) {
    let reg = open(&db).await;
    let rules = [
        vec!["amount_over_220"],
        vec!["amount_over_220", "blocked_terminal"],
        vec![],
        vec!["a%b_c"],
    ];
    let cases: Vec<NewCase> = (0..40u64)
        .map(|i| {
            let outcome = if i % 4 == 1 { "decline" } else { "review" };
            let fired = &rules[(i % 4) as usize];
            NewCase {
                id: format!("serve:cards:{i}"),
                tx_id: format!("{i}"),
                outcome: outcome.into(),
                score: (i % 5 != 0).then_some(i as f64 / 40.0),
                decision:
                    json!({ "tx_id": format!("{i}"), "outcome": outcome, "rules_fired": fired })
                        .to_string(),
                tx: Some(
                    json!({ "TRANSACTION_ID": i, "NOTE": "<script>alert(1)</script>" }).to_string(),
                ),
            }
        })
        .collect();
    assert_eq!(
        reg.open_cases("serve:cards", &cases[..30]).await.unwrap(),
        30
    );
    // Sent again with ten new ones: only the new ones are opened.
    assert_eq!(
        reg.open_cases("serve:cards", &cases[20..]).await.unwrap(),
        10
    );
    let q = |f: &dyn Fn(&mut CaseQuery)| {
        let mut q = CaseQuery {
            limit: 100,
            ..Default::default()
        };
        f(&mut q);
        q
    };
    let count = |q: CaseQuery| {
        let reg = reg.clone();
        async move {
            let n = reg.count_cases(&q).await.unwrap();
            let listed = reg.cases(&q).await.unwrap();
            assert_eq!(listed.len() as u64, n, "{q:?}");
            n
        }
    };
    assert_eq!(count(q(&|_| {})).await, 40);
    assert_eq!(count(q(&|q| q.outcome = Some("decline".into()))).await, 10);
    assert_eq!(
        count(q(&|q| q.rule = Some("amount_over_220".into()))).await,
        20
    );
    assert_eq!(
        count(q(&|q| q.rule = Some("blocked_terminal".into()))).await,
        10
    );
    // LIKE's wildcards in a rule name are taken literally.
    assert_eq!(count(q(&|q| q.rule = Some("a%b_c".into()))).await, 10);
    assert_eq!(count(q(&|q| q.rule = Some("amount%".into()))).await, 0);
    assert_eq!(count(q(&|q| q.rule = Some("amount_over".into()))).await, 0);
    // Scores i/40 for i not a multiple of 5: 0.5 ..= 0.75 holds i = 21..=29 without 25.
    assert_eq!(
        count(q(&|q| {
            q.score_min = Some(0.5);
            q.score_max = Some(0.75);
        }))
        .await,
        8
    );
    let t = reg.case("serve:cards:3").await.unwrap();
    assert_eq!(t.tx.as_ref().unwrap()["NOTE"], "<script>alert(1)</script>");
    assert_eq!(t.source, "serve:cards");
    // The second call opened its ten later than the first call's thirty.
    let later = reg.case("serve:cards:35").await.unwrap().created_at;
    assert!(later > t.created_at);
    assert_eq!(count(q(&|q| q.created_from = Some(later))).await, 10);
    assert_eq!(count(q(&|q| q.created_to = Some(0))).await, 0);

    // Sorts: by score, cases without one last; pages add up to the whole.
    let by_score = reg
        .cases(&q(&|q| q.sort = CaseSort::ScoreDesc))
        .await
        .unwrap();
    assert_eq!(by_score[0].id, "serve:cards:39");
    assert!(by_score[31].score.is_some() && by_score[32].score.is_none());
    let asc = reg
        .cases(&q(&|q| q.sort = CaseSort::ScoreAsc))
        .await
        .unwrap();
    assert_eq!(asc[0].id, "serve:cards:1");
    let mut paged = Vec::new();
    for page in 0..3 {
        paged.extend(
            reg.cases(&q(&|q| {
                q.sort = CaseSort::ScoreDesc;
                q.limit = 15;
                q.offset = page * 15;
            }))
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.id),
        );
    }
    assert_eq!(
        paged,
        by_score.iter().map(|c| c.id.clone()).collect::<Vec<_>>()
    );
    let newest = reg.cases(&q(&|q| q.sort = CaseSort::Newest)).await.unwrap();
    let oldest = reg.cases(&q(&|_| {})).await.unwrap();
    assert_eq!(newest.first().map(|c| &c.id), oldest.last().map(|c| &c.id));
    assert_eq!(CaseSort::parse("score_desc"), Some(CaseSort::ScoreDesc));
    assert_eq!(CaseSort::parse("nope"), None);

    // Assignment: "my cases", audited; a closed case is not assigned.
    let a = reg
        .assign_case("serve:cards:7", Some("ana"), "ana")
        .await
        .unwrap();
    assert_eq!(a.assignee.as_deref(), Some("ana"));
    assert_eq!(count(q(&|q| q.assignee = Some("ana".into()))).await, 1);
    let tail = reg.audit_tail(1).await.unwrap();
    assert_eq!(
        (tail[0].action.as_str(), tail[0].actor.as_str()),
        ("case.assign", "ana")
    );
    reg.close_case("serve:cards:7", CaseLabel::Fraud, "seen", "ana")
        .await
        .unwrap();
    user_error(
        &reg.assign_case("serve:cards:7", None, "ana")
            .await
            .unwrap_err(),
    );
    assert!(matches!(
        reg.assign_case("nope", None, "ana").await.unwrap_err(),
        RegistryError::NotFound { .. }
    ));
    assert!(reg.audit_verify().await.unwrap().ok());
    reg.close().await;
}
