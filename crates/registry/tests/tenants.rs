//! Tenants cannot see each other: the same operations under two tenants of one registry,
//! on SQLite (a file per tenant) and PostgreSQL (shared tables, forced row-level security),
//! and on PostgreSQL a query that names no tenant, run as the service's own role.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

use common::Db;
use riskstream_registry::{
    ArtifactKind, AuditRecord, CaseQuery, NewCase, Registry, RegistryError, RegistryOptions, Role,
    Stage,
};
use serde_json::json;
use sqlx::{Connection, Executor, Row};

on_both_backends!(
    each_tenant_sees_only_its_own,
    names_and_ids_may_repeat_across_tenants_without_a_word,
    bad_tenant_names_are_refused,
);

/// Where the tenants' handles connect. SQLite: the test's file (each tenant gets its own
/// beside it). PostgreSQL: as a role of the test's own, granted by the tables' owner, which
/// row-level security binds (the test's `postgres` user is a superuser, which it does not).
struct Tenants {
    db: Db,
    url: String,
    role: Option<String>,
}

impl Tenants {
    async fn new(db: &Db) -> Tenants {
        if db.backend == "sqlite" {
            return Tenants {
                db: db.clone(),
                url: db.url.clone(),
                role: None,
            };
        }
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let role = format!(
            "rs_app_{}_{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        db.exec(&format!("CREATE ROLE {role} LOGIN")).await;
        // The owner (here the superuser) migrates and grants.
        let owner = Registry::open(&db.url).await.unwrap();
        owner.grant_service_role(&role).await.unwrap();
        owner.close().await;
        let url = db.url.replacen("postgres@", &format!("{role}@"), 1);
        assert_ne!(url, db.url, "the test URL names the postgres user");
        Tenants {
            db: db.clone(),
            url,
            role: Some(role),
        }
    }

    async fn open(&self, tenant: &str) -> Registry {
        let reg = Registry::open_with(
            &self.url,
            RegistryOptions::default().with_tenant(tenant.to_string()),
        )
        .await
        .unwrap_or_else(|e| panic!("open for {tenant}: {e}"));
        assert_eq!(reg.tenant(), tenant);
        reg
    }

    /// Drops the test's role (roles outlive the test's database).
    async fn done(self, handles: &[&Registry]) {
        for h in handles {
            h.close().await;
        }
        if let Some(role) = self.role {
            self.db
                .exec(&format!("DROP OWNED BY {role}; DROP ROLE {role}"))
                .await;
        }
    }
}

const MODEL_A: &str = r#"{"format":"riskstream-model","n":1}"#;

fn case(id: &str) -> NewCase {
    NewCase {
        id: id.into(),
        tx_id: format!("tx-{id}"),
        outcome: "review".into(),
        score: Some(0.9),
        decision: json!({ "tx_id": format!("tx-{id}"), "outcome": "review" }).to_string(),
        tx: None,
    }
}

/// Tenant `a` writes one of everything; tenant `b` then sees none of it, by listing or by
/// asking for it by id, and its own writes do not show up in `a`.
async fn each_tenant_sees_only_its_own(db: Db) {
    let t = Tenants::new(&db).await;
    let a = t.open("a").await;
    let key_a = a
        .create_key("ops-a", &[Role::Admin], "alice")
        .await
        .unwrap();
    let model = a
        .put_artifact(ArtifactKind::Model, "m", MODEL_A, json!({}), "alice")
        .await
        .unwrap();
    a.set_stage("fraud", &model, Stage::Champion, "alice")
        .await
        .unwrap();
    a.put_list_entry("allow", "cust-1", None, "vip", "alice")
        .await
        .unwrap();
    a.open_cases("serve:fraud", &[case("case-a")])
        .await
        .unwrap();
    a.audit_append(&[AuditRecord {
        actor: "alice".into(),
        action: "test.mark".into(),
        subject: "secret-of-a".into(),
        before: None,
        after: None,
        time: 1,
    }])
    .await
    .unwrap();

    let b = t.open("b").await;
    assert!(a.verify_key(&key_a).await.unwrap().is_some());
    assert!(
        b.verify_key(&key_a).await.unwrap().is_none(),
        "a's key is unknown to b"
    );
    assert!(b.list_keys().await.unwrap().is_empty());
    assert!(matches!(
        b.artifact(&model).await,
        Err(RegistryError::NotFound { .. })
    ));
    assert!(b.list_artifacts(None, None).await.unwrap().is_empty());
    assert!(b.list_deployments().await.unwrap().is_empty());
    assert!(b.list_entries(None).await.unwrap().is_empty());
    assert!(matches!(
        b.case("case-a").await,
        Err(RegistryError::NotFound { .. })
    ));
    assert_eq!(b.count_cases(&CaseQuery::default()).await.unwrap(), 0);
    let seen = b.audit_tail(1000).await.unwrap();
    assert!(
        seen.iter().all(|e| !e.subject.contains("secret-of-a")
            && !e.subject.contains("ops-a")
            && !e.subject.contains("cust-1")),
        "{seen:?}"
    );
    assert_eq!(b.revision().await.unwrap(), 0);

    // b's own work, and each chain verifies on its own.
    b.create_key("ops-b", &[Role::Analyst], "bob")
        .await
        .unwrap();
    let names: Vec<String> = a
        .list_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.name)
        .collect();
    assert_eq!(names, ["ops-a"]);
    let ra = a.audit_verify().await.unwrap();
    let rb = b.audit_verify().await.unwrap();
    assert!(ra.checked >= 5, "{ra:?}");
    assert_eq!(rb.checked, 1, "{rb:?}");
    assert!(a.revision().await.unwrap() > 0);
    if db.backend == "sqlite" {
        // A file of b's own beside a's, for its owner only.
        let path = db.url.trim_start_matches("sqlite://");
        let b_file = riskstream_registry::tenant_file(std::path::Path::new(path), "b");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&b_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{}: {mode:o}", b_file.display());
    }
    t.done(&[&a, &b]).await;
}

/// The same key name, model, deployment, list entry and case id in two tenants: no
/// conflict, so neither can learn from an error that the other has one.
async fn names_and_ids_may_repeat_across_tenants_without_a_word(db: Db) {
    let tenants = Tenants::new(&db).await;
    let mut handles = Vec::new();
    for t in ["a", "b"] {
        let r = tenants.open(t).await;
        r.create_key("ops", &[Role::Admin], "x").await.unwrap();
        let m = r
            .put_artifact(ArtifactKind::Model, "m", MODEL_A, json!({}), "x")
            .await
            .unwrap();
        r.set_stage("fraud", &m, Stage::Champion, "x")
            .await
            .unwrap();
        r.put_list_entry("block", "card-1", None, "stolen", "x")
            .await
            .unwrap();
        assert_eq!(r.open_cases("serve:fraud", &[case("c1")]).await.unwrap(), 1);
        assert_eq!(r.deployment("fraud").await.unwrap().champion.unwrap(), m);
        handles.push(r);
    }
    tenants.done(&handles.iter().collect::<Vec<_>>()).await;
}

async fn bad_tenant_names_are_refused(db: Db) {
    for bad in ["", "A", "../x", "a b"] {
        let e = Registry::open_with(&db.url, RegistryOptions::default().with_tenant(bad))
            .await
            .err()
            .unwrap_or_else(|| panic!("`{bad}` was accepted"));
        assert!(e.to_string().contains("not a tenant name"), "{bad}: {e}");
    }
}

/// PostgreSQL, as the service's own role (not the tables' owner): a query that names no
/// tenant sees only the current tenant's rows, one with no tenant set sees nothing, and a
/// row of another tenant cannot be written, changed or deleted. A role that bypasses
/// row-level security may not open the registry for a tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_query_that_forgets_the_tenant_sees_only_the_current_one() {
    common::on_postgres("forgets_the_tenant", |db| async move {
        let t = Tenants::new(&db).await;
        let a = t.open("a").await;
        a.create_key("k1", &[Role::Decide], "x").await.unwrap();
        a.create_key("k2", &[Role::Decide], "x").await.unwrap();
        a.open_cases("s", &[case("c1"), case("c2"), case("c3")])
            .await
            .unwrap();
        let b = t.open("b").await;
        b.create_key("k1", &[Role::Decide], "x").await.unwrap();
        b.open_cases("s", &[case("c9")]).await.unwrap();

        // The superuser would see every tenant's rows: refused for a tenant, and for the
        // default one once other tenants exist.
        let e = Registry::open_with(&db.url, RegistryOptions::default().with_tenant("a"))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("bypasses row-level security"), "{e}");
        let e = Registry::open(&db.url).await.unwrap_err().to_string();
        assert!(e.contains("2 tenant(s) besides the default one"), "{e}");
        let e = a.grant_service_role("postgres").await.unwrap_err();
        assert!(e.to_string().contains("superuser"), "{e}");

        // Every index leads with the tenant (but the keys' hashes: unique across tenants).
        for row in db
            .rows(
                "SELECT indexname::text, indexdef FROM pg_indexes \
                 WHERE schemaname = current_schema() AND tablename <> '_sqlx_migrations'",
            )
            .await
        {
            let (name, def) = (row[0].clone().unwrap(), row[1].clone().unwrap());
            if name != "api_keys_key_hash_key" {
                assert!(def.contains("(tenant, "), "{def}");
            }
        }

        let mut conn = sqlx::AnyConnection::connect(&t.url).await.unwrap();
        // No tenant set: nothing.
        let n: i64 = sqlx::query("SELECT count(*) FROM cases")
            .fetch_one(&mut conn)
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 0);
        conn.execute("SELECT set_config('riskstream.tenant', 'a', false)")
            .await
            .unwrap();
        let a_records = i64::try_from(a.audit_verify().await.unwrap().checked).unwrap();
        for (sql, want) in [
            ("SELECT count(*) FROM cases", 3i64),
            ("SELECT count(*) FROM api_keys", 2),
            ("SELECT count(*) FROM audit_log", a_records),
            ("SELECT count(*) FROM registry_state", 1),
        ] {
            let n: i64 = sqlx::query(sql).fetch_one(&mut conn).await.unwrap().get(0);
            assert_eq!(n, want, "{sql}");
        }
        // Another tenant's rows cannot be written, updated or deleted.
        let e = conn
            .execute(
                "INSERT INTO list_entries (tenant, list_name, value, expires_at, reason, added_at, added_by) \
                 VALUES ('b', 'allow', 'x', NULL, 'r', 0, 'x')",
            )
            .await
            .unwrap_err();
        assert!(e.to_string().contains("row-level security"), "{e}");
        let r = conn
            .execute("UPDATE cases SET status = 'closed' WHERE id = 'c9'")
            .await
            .unwrap();
        assert_eq!(r.rows_affected(), 0);
        let r = conn.execute("DELETE FROM api_keys").await.unwrap();
        assert_eq!(r.rows_affected(), 2, "only a's two keys");
        conn.close().await.unwrap();
        assert_eq!(b.list_keys().await.unwrap().len(), 1, "b's key is still there");
        let before = b.audit_verify().await.unwrap().checked;
        b.put_list_entry("allow", "c", None, "r", "x").await.unwrap();
        assert_eq!(b.audit_verify().await.unwrap().checked, before + 1);
        assert_eq!(b.count_cases(&CaseQuery::default()).await.unwrap(), 1);
        t.done(&[&a, &b]).await;
    })
    .await;
}
