//! The keyed audit chain (scheme 2) and anchoring, against an attacker who can write the
//! database: they edit a row and recompute that row's and every later row's hash the way the
//! unkeyed scheme documents it, straight through sqlx. Run on SQLite and PostgreSQL
//! (`RISKSTREAM_TEST_POSTGRES`, as in `registry.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

use common::Db;
use riskstream_core::{Classify, ErrorClass};
use riskstream_registry::{
    AuditAnchor, AuditKey, AuditRecord, Registry, RegistryError, RegistryOptions, VerifyOptions,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::{Connection, Row};

on_both_backends!(
    attack_on_unkeyed_rows_passes_verify,
    keyed_chain_catches_a_rewrite_with_recomputed_hashes,
    keyed_chain_catches_a_downgrade_to_unkeyed_rows,
    a_published_head_catches_a_rewrite_without_the_key,
    verify_without_the_key_reports_keyed_rows_unverified,
    unkeyed_history_then_keyed_rows_and_key_rotation,
    audit_head_and_anchors,
);

fn key(n: u8) -> AuditKey {
    AuditKey::from_bytes(&[n; 32]).unwrap()
}

/// Opens without reading `RISKSTREAM_AUDIT_KEY_FILE`, with `key` if given.
async fn open(db: &Db, key: Option<&AuditKey>) -> Registry {
    let mut options = RegistryOptions::default();
    if let Some(k) = key {
        options = options.with_audit_key(k.clone());
    }
    Registry::open_with(&db.url, options).await.unwrap()
}

fn record(i: u32) -> AuditRecord {
    AuditRecord {
        actor: "scorer-1".into(),
        action: "decision".into(),
        subject: format!("tx-{i}"),
        before: None,
        after: Some(json!({ "action": "allow", "score": 0.1 })),
        time: 1_700_000_000_000_000 + i64::from(i),
    }
}

/// Six rows, through both append paths.
async fn six_rows(reg: &Registry) {
    reg.audit_append(&[record(1), record(2), record(3)])
        .await
        .unwrap();
    let writer = reg.audit_writer(16);
    for i in 4..=6 {
        writer.try_send(record(i)).unwrap();
    }
    writer.close().await.unwrap();
}

/// The unkeyed hash, as `src/audit.rs` documents it: all an attacker needs.
#[allow(clippy::too_many_arguments)]
fn v1_hash(
    prev: &str,
    seq: i64,
    time: i64,
    actor: &str,
    action: &str,
    subject: &str,
    before: Option<&str>,
    after: Option<&str>,
) -> String {
    let mut h = Sha256::new();
    h.update(format!("riskstream-audit-v1\n{prev}\n{seq}\n{time}\n"));
    for f in [Some(actor), Some(action), Some(subject), before, after] {
        match f {
            None => h.update(b"-\n"),
            Some(s) => h.update(format!("{}:{s}\n", s.len())),
        }
    }
    hex::encode(h.finalize())
}

/// The attack: sets row `seq`'s `after_json` to `after`, then recomputes the unkeyed hash of
/// that row and every later one, relinks `prev_hash` and moves the head in `registry_state`,
/// through a raw connection. `downgrade_from`: rows from there on are also marked unkeyed
/// (scheme 1, no key fingerprint).
async fn rewrite(db: &Db, seq: i64, after: &str, downgrade_from: Option<i64>) {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    let rows = sqlx::query(
        "SELECT seq, time_us, actor, action, subject, before_json, after_json, hash \
         FROM audit_log ORDER BY seq",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut prev = "0".repeat(64);
    for row in &rows {
        let s: i64 = row.get(0);
        let mut after_json: Option<String> = row.get(6);
        if s == seq {
            after_json = Some(after.to_string());
        }
        if s >= seq {
            let before_json: Option<String> = row.get(5);
            let hash = v1_hash(
                &prev,
                s,
                row.get(1),
                &row.get::<String, _>(2),
                &row.get::<String, _>(3),
                &row.get::<String, _>(4),
                before_json.as_deref(),
                after_json.as_deref(),
            );
            sqlx::query(
                "UPDATE audit_log SET after_json = $1, prev_hash = $2, hash = $3 WHERE seq = $4",
            )
            .bind(after_json.clone())
            .bind(prev.clone())
            .bind(hash.clone())
            .bind(s)
            .execute(&mut conn)
            .await
            .unwrap();
            if downgrade_from.is_some_and(|d| s >= d) {
                sqlx::query(
                    "UPDATE audit_log SET scheme = 1, key_fingerprint = NULL WHERE seq = $1",
                )
                .bind(s)
                .execute(&mut conn)
                .await
                .unwrap();
            }
            prev = hash;
        } else {
            prev = row.get(7);
        }
    }
    sqlx::query("UPDATE registry_state SET audit_hash = $1 WHERE id = 1")
        .bind(prev)
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
}

const FORGED: &str = r#"{"action":"allow","score":0.0}"#;

/// Why scheme 2 exists: against unkeyed rows the attack succeeds.
async fn attack_on_unkeyed_rows_passes_verify(db: Db) {
    let reg = open(&db, None).await;
    six_rows(&reg).await;
    rewrite(&db, 3, FORGED, None).await;
    let report = reg.audit_verify().await.unwrap();
    assert!(report.ok(), "the v1 chain cannot tell: {report:?}");
    assert_eq!((report.checked, report.unkeyed, report.keyed), (6, 6, 0));
    assert_eq!(
        reg.audit_tail(6).await.unwrap()[2].after,
        Some(serde_json::from_str(FORGED).unwrap())
    );
    // The report says so, instead of calling it tamper-evident.
    assert!(
        report.notes.iter().any(|n| n.contains("unkeyed")),
        "{:?}",
        report.notes
    );
    reg.close().await;
}

async fn keyed_chain_catches_a_rewrite_with_recomputed_hashes(db: Db) {
    let k = key(7);
    let reg = open(&db, Some(&k)).await;
    six_rows(&reg).await;
    let report = reg.audit_verify().await.unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!((report.checked, report.keyed, report.unkeyed), (6, 6, 0));
    assert!(report.notes.is_empty(), "{:?}", report.notes);
    let tail = reg.audit_tail(6).await.unwrap();
    assert!(tail
        .iter()
        .all(|e| e.scheme == 2 && e.key_fingerprint.as_deref() == Some(k.fingerprint())));

    rewrite(&db, 3, FORGED, None).await;
    let report = reg.audit_verify().await.unwrap();
    let bad = report.first_bad.clone().expect("rewrite detected");
    assert_eq!(bad.seq, 3, "{report:?}");
    assert!(bad.reason.contains("HMAC"), "{}", bad.reason);
    assert_eq!(report.keyed, 2);
    assert!(!report.ok());
    reg.close().await;
}

async fn keyed_chain_catches_a_downgrade_to_unkeyed_rows(db: Db) {
    let k = key(7);
    let reg = open(&db, Some(&k)).await;
    six_rows(&reg).await;
    let head = reg.audit_head().await.unwrap().expect("head");
    // The attacker also marks the rewritten rows unkeyed, so their plain hashes would check.
    rewrite(&db, 3, FORGED, Some(3)).await;
    let bad = reg.audit_verify().await.unwrap().first_bad.expect("caught");
    assert_eq!(bad.seq, 3);
    assert!(
        bad.reason.contains("unkeyed but follows keyed row 2"),
        "{}",
        bad.reason
    );

    // Downgrading the whole chain leaves no keyed row to follow: the counts show it (every
    // row unkeyed, where the operator expects keyed rows), and a published head fails it.
    rewrite(&db, 1, FORGED, Some(1)).await;
    let report = reg.audit_verify().await.unwrap();
    assert_eq!((report.keyed, report.unkeyed), (0, 6), "{report:?}");
    let anchored = reg
        .audit_verify_with(&VerifyOptions::default().with_anchor(head))
        .await
        .unwrap();
    assert_eq!(anchored.first_bad.expect("anchor fails").seq, 6);
    reg.close().await;
}

async fn a_published_head_catches_a_rewrite_without_the_key(db: Db) {
    // Unkeyed rows: the head is the only defence.
    let reg = open(&db, None).await;
    six_rows(&reg).await;
    let head = reg.audit_head().await.unwrap().expect("head");
    assert_eq!(head.seq, Some(6));
    let anchored = |a: AuditAnchor| VerifyOptions::default().with_anchor(a);
    assert!(reg
        .audit_verify_with(&anchored(head.clone()))
        .await
        .unwrap()
        .ok());
    rewrite(&db, 2, FORGED, None).await;
    assert!(reg.audit_verify().await.unwrap().ok(), "v1 alone is fooled");
    let report = reg
        .audit_verify_with(&anchored(head.clone()))
        .await
        .unwrap();
    let bad = report.first_bad.expect("anchor catches it");
    assert_eq!(bad.seq, 6);
    assert!(
        bad.reason.contains("published head") && bad.reason.contains("rewritten"),
        "{}",
        bad.reason
    );
    // The hash alone is enough too.
    let by_hash = AuditAnchor {
        seq: None,
        hash: head.hash.clone(),
    };
    let bad = reg
        .audit_verify_with(&anchored(by_hash))
        .await
        .unwrap()
        .first_bad
        .expect("hash anchor catches it");
    assert!(bad.reason.contains("no row has"), "{}", bad.reason);
    reg.close().await;
}

async fn verify_without_the_key_reports_keyed_rows_unverified(db: Db) {
    let k = key(7);
    let keyed = open(&db, Some(&k)).await;
    six_rows(&keyed).await;
    let head = keyed.audit_head().await.unwrap().expect("head");
    keyed.close().await;

    let plain = open(&db, None).await;
    let report = plain.audit_verify().await.unwrap();
    assert!(
        !report.ok(),
        "keyed rows unchecked must not pass: {report:?}"
    );
    assert!(report.first_bad.is_none());
    assert_eq!((report.checked, report.unverified, report.keyed), (6, 6, 0));
    let note = report.notes.join("\n");
    assert!(
        note.contains("--key-file") && note.contains("RISKSTREAM_AUDIT_KEY_FILE"),
        "{note}"
    );
    assert!(note.contains(k.fingerprint()), "{note}");

    // With the key given to verify only.
    let with_key = plain
        .audit_verify_with(&VerifyOptions::default().with_key(k.clone()))
        .await
        .unwrap();
    assert!(with_key.ok(), "{with_key:?}");
    assert_eq!(with_key.keyed, 6);

    // With the wrong key: which key wrote the row, which was given.
    let wrong = key(8);
    let bad = plain
        .audit_verify_with(&VerifyOptions::default().with_key(wrong.clone()))
        .await
        .unwrap()
        .first_bad
        .expect("wrong key");
    assert_eq!(bad.seq, 1);
    assert!(
        bad.reason.contains(&format!(
            "written with audit key {}, you gave {}",
            k.fingerprint(),
            wrong.fingerprint()
        )),
        "{}",
        bad.reason
    );

    // A rewrite of keyed rows is caught without the key by the published head.
    rewrite(&db, 4, FORGED, None).await;
    let report = plain
        .audit_verify_with(&VerifyOptions::default().with_anchor(head))
        .await
        .unwrap();
    assert_eq!(report.first_bad.expect("anchor").seq, 6);

    // And an unkeyed append onto the keyed chain is refused.
    let e = plain.audit_append(&[record(9)]).await.unwrap_err();
    assert!(matches!(e, RegistryError::AuditKeyRequired { .. }), "{e}");
    plain.close().await;
}

async fn unkeyed_history_then_keyed_rows_and_key_rotation(db: Db) {
    let plain = open(&db, None).await;
    plain
        .audit_append(&[record(1), record(2), record(3)])
        .await
        .unwrap();
    plain.close().await;

    let k1 = key(1);
    let reg = open(&db, Some(&k1)).await;
    assert_eq!(reg.audit_key_fingerprint(), Some(k1.fingerprint()));
    reg.audit_append(&[record(4), record(5), record(6)])
        .await
        .unwrap();
    let report = reg.audit_verify().await.unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!((report.keyed, report.unkeyed), (3, 3));
    assert!(
        report.notes.iter().any(|n| n.contains("rows 1 to 3")),
        "{:?}",
        report.notes
    );
    reg.close().await;

    // Now keyed: a registry without the key must not append (it would look like a rewrite).
    let plain = open(&db, None).await;
    let e = plain.audit_append(&[record(7)]).await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::User);
    let text = e.to_string();
    assert!(
        text.contains("RISKSTREAM_AUDIT_KEY_FILE") && text.contains(k1.fingerprint()),
        "{text}"
    );
    assert_eq!(plain.audit_head().await.unwrap().unwrap().seq, Some(6));
    plain.close().await;

    // Rotation: rows keep the fingerprint of their key; verify takes both keys.
    let k2 = key(2);
    let reg = open(&db, Some(&k2)).await;
    reg.audit_append(&[record(8)]).await.unwrap();
    let bad = reg
        .audit_verify()
        .await
        .unwrap()
        .first_bad
        .expect("old key");
    assert_eq!(bad.seq, 4);
    assert!(bad.reason.contains(k1.fingerprint()), "{}", bad.reason);
    let both = reg
        .audit_verify_with(&VerifyOptions::default().with_key(k1.clone()))
        .await
        .unwrap();
    assert!(both.ok(), "{both:?}");
    assert_eq!((both.keyed, both.unkeyed), (4, 3));
    reg.close().await;
}

async fn audit_head_and_anchors(db: Db) {
    let reg = open(&db, None).await;
    assert_eq!(reg.audit_head().await.unwrap(), None);
    six_rows(&reg).await;
    let head = reg.audit_head().await.unwrap().expect("head");
    let report = reg.audit_verify().await.unwrap();
    assert_eq!(
        (head.seq, head.hash.as_str()),
        (Some(report.head_seq), report.head_hash.as_str())
    );
    let text = head.to_string();
    assert_eq!(text.parse::<AuditAnchor>().unwrap(), head);
    assert_eq!(
        head.hash
            .to_uppercase()
            .parse::<AuditAnchor>()
            .unwrap()
            .hash,
        head.hash
    );
    for bad in ["", "6:", "x:abc", "0:abc", "6:zz"] {
        let e = bad.parse::<AuditAnchor>().unwrap_err();
        assert_eq!(e.class(), ErrorClass::User);
        assert!(e.to_string().contains("SEQ:HASH"), "{e}");
    }
    // A head past the end: rows were deleted.
    let past = AuditAnchor {
        seq: Some(9),
        hash: head.hash.clone(),
    };
    let bad = reg
        .audit_verify_with(&VerifyOptions::default().with_anchor(past))
        .await
        .unwrap()
        .first_bad
        .expect("past the end");
    assert!(bad.reason.contains("chain ends at row 6"), "{}", bad.reason);
    // An earlier head still holds after more rows.
    reg.audit_append(&[record(7)]).await.unwrap();
    let report = reg
        .audit_verify_with(&VerifyOptions::default().with_anchor(head))
        .await
        .unwrap();
    assert!(report.ok(), "{report:?}");
    reg.close().await;
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_registry_files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.db");
    let url = format!("sqlite://{}", path.display());
    let reg = Registry::open_with(&url, RegistryOptions::default())
        .await
        .unwrap();
    reg.audit_append(&[record(1)]).await.unwrap();
    assert!(reg.open_warnings().is_empty(), "{:?}", reg.open_warnings());
    for suffix in ["", "-wal", "-shm"] {
        let p = dir.path().join(format!("registry.db{suffix}"));
        assert!(p.exists(), "{}", p.display());
        assert_eq!(mode(&p), 0o600, "{}", p.display());
    }
    reg.close().await;

    // A file someone made world-readable is tightened on open, with a warning.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let reg = Registry::open_with(&url, RegistryOptions::default())
        .await
        .unwrap();
    assert_eq!(mode(&path), 0o600);
    let warnings = reg.open_warnings().join("\n");
    assert!(
        warnings.contains("0644") && warnings.contains("0600"),
        "{warnings}"
    );
    assert!(reg.audit_verify().await.unwrap().ok());
    reg.close().await;
}
