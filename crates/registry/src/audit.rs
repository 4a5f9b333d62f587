//! The hash-chained audit log: append, verify, tail, head.
//!
//! Every row is serialised the same way: `tag ‖ prev_hash ‖ "\n" ‖ seq ‖ "\n" ‖ time ‖ "\n" ‖
//! field(actor) ‖ field(action) ‖ field(subject) ‖ field(before) ‖ field(after)`, where
//! `field(s) = len(s) ":" s "\n"` and an absent before/after is `"-\n"`. Length prefixes make
//! the serialisation unambiguous (no field can smuggle a separator), `seq` in the hash makes
//! a moved row fail, and before/after are hashed as the exact JSON text stored, so a
//! database that normalises JSON cannot change a hash. Two schemes hash it (the row's
//! `scheme` column says which):
//!
//! ```text
//!  scheme 1  hash = sha256("riskstream-audit-v1\n" ‖ row)               anyone can recompute
//!  scheme 2  hash = HMAC-SHA256(key, "riskstream-audit-v2\n" ‖ row)     only the key holder can
//!            key_fingerprint = first 8 hex of sha256(key)
//! ```
//!
//! # Why a key
//!
//! Scheme 1 detects edits made through SQL by someone who does not bother to recompute
//! hashes. Whoever can write the database can also rewrite a row, recompute that row's and
//! every later row's hash and the head in `registry_state`, and scheme 1 verifies the result
//! as intact (a test in `tests/registry.rs` does exactly that). Scheme 2 keys the hash with a
//! secret that is **not in the database**: a file of at least 32 bytes, mode 0600, given as
//! [`crate::RegistryOptions::audit_key`] or `RISKSTREAM_AUDIT_KEY_FILE`. Without the key an
//! attacker cannot produce a keyed hash, and cannot downgrade rows to scheme 1 either: a
//! registry never writes an unkeyed row after a keyed one (an append without the key onto a
//! keyed chain is refused), so verify reports such a row as a break. Rows keep the key's
//! fingerprint, so a verify with the wrong key says which key wrote which row; several keys
//! may be given after a rotation.
//!
//! # Anchoring
//!
//! The key does not help whoever verifies without it, and rows written before the key (or a
//! chain whose keyed rows were all replaced, from the first keyed row on, by unkeyed ones)
//! are only as good as scheme 1. The second defence needs no secret: publish the head
//! (`riskstream audit head` → `SEQ:HASH`, [`Registry::audit_head`]) somewhere the database's
//! writers cannot reach (a ticket, a log shipper, a signed e-mail), and verify against it
//! later (`audit verify --head SEQ:HASH`, [`crate::VerifyOptions::anchor`]). Every hash
//! depends on all rows before it, so a rewrite of any row up to the published one changes
//! the hash at that `seq`, and verify fails there.
//!
//! # What verify reports
//!
//! `keyed` rows were checked with their key; `unkeyed` rows with SHA-256 (not tamper-evident
//! beyond a published head); `unverified` keyed rows could not be checked because no key was
//! given, which makes the report not ok, with a note saying how to give the key.

use std::collections::BTreeSet;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use sqlx::{AssertSqlSafe, Row};

use crate::db::{self, Conn, State};
use crate::error::{DbContext, RegistryError, Result};
use crate::{
    AuditAnchor, AuditEntry, AuditKey, AuditRecord, ChainBreak, Change, Registry, VerifyOptions,
    VerifyReport, AUDIT_KEY_ENV,
};

/// `prev_hash` of the first row.
pub(crate) const GENESIS_HASH: &str =
    "0000000000000000000000000000000000000000000000000000000000000000";

/// Unkeyed rows: `sha256("riskstream-audit-v1\n" ‖ …)`.
pub(crate) const SCHEME_UNKEYED: i64 = 1;
/// Keyed rows: `HMAC-SHA256(key, "riskstream-audit-v2\n" ‖ …)`.
pub(crate) const SCHEME_KEYED: i64 = 2;

pub(crate) const COLUMNS: &str = "seq, time_us, actor, action, subject, before_json, after_json, \
                       prev_hash, hash, scheme, key_fingerprint";

/// Rows per INSERT statement: 100 × 11 parameters, well under both databases' limits.
const ROWS_PER_INSERT: usize = 100;

/// Rows read per query while verifying.
const VERIFY_PAGE: i64 = 5000;

/// A row ready to insert.
struct Prepared {
    seq: i64,
    time: i64,
    actor: String,
    action: String,
    subject: String,
    before: Option<String>,
    after: Option<String>,
    prev_hash: String,
    hash: String,
}

/// The hashed fields of one row, in hash order.
pub(crate) struct Fields<'a> {
    pub(crate) prev_hash: &'a str,
    pub(crate) seq: i64,
    pub(crate) time: i64,
    pub(crate) actor: &'a str,
    pub(crate) action: &'a str,
    pub(crate) subject: &'a str,
    pub(crate) before: Option<&'a str>,
    pub(crate) after: Option<&'a str>,
}

impl Fields<'_> {
    /// Feeds the canonical serialisation, after the scheme's tag line, to `update`.
    fn feed(&self, tag: &[u8], mut update: impl FnMut(&[u8])) {
        update(tag);
        update(self.prev_hash.as_bytes());
        update(format!("\n{}\n{}\n", self.seq, self.time).as_bytes());
        for field in [
            Some(self.actor),
            Some(self.action),
            Some(self.subject),
            self.before,
            self.after,
        ] {
            match field {
                None => update(b"-\n"),
                Some(s) => {
                    update(format!("{}:", s.len()).as_bytes());
                    update(s.as_bytes());
                    update(b"\n");
                }
            }
        }
    }

    /// Scheme 1: anyone can recompute it.
    pub(crate) fn sha256(&self) -> String {
        let mut h = Sha256::new();
        self.feed(b"riskstream-audit-v1\n", |b| h.update(b));
        hex::encode(h.finalize())
    }

    /// Scheme 2: only a holder of `key` can compute it.
    pub(crate) fn hmac(&self, key: &AuditKey) -> Result<String> {
        // HMAC takes keys of every length, so this error cannot happen in practice.
        let mut mac =
            Hmac::<Sha256>::new_from_slice(key.bytes()).map_err(|e| RegistryError::AuditKey {
                source_name: format!("key {}", key.fingerprint()),
                reason: format!("is refused by HMAC-SHA256: {e}"),
            })?;
        self.feed(b"riskstream-audit-v2\n", |b| mac.update(b));
        Ok(hex::encode(mac.finalize().into_bytes()))
    }
}

/// PostgreSQL cannot store NUL in TEXT; one odd subject must not lose a batch.
pub(crate) fn no_nul(s: &str) -> String {
    if s.contains('\0') {
        s.replace('\0', "\u{FFFD}")
    } else {
        s.to_string()
    }
}

fn json_text(v: &Option<serde_json::Value>) -> Option<String> {
    // Serialising a `Value` cannot fail (its map keys are strings).
    v.as_ref().map(|v| v.to_string())
}

/// Appends `records` after the head in `state` (advancing it) inside `tx`: keyed (scheme 2)
/// with `key`, else unkeyed (scheme 1), which is refused after a keyed row.
pub(crate) async fn append(
    tx: &mut Conn,
    state: &mut State,
    records: &[AuditRecord],
    key: Option<&AuditKey>,
) -> Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    if key.is_none() && state.audit_seq > 0 {
        // An unkeyed row after a keyed one is what a rewrite without the key looks like, so
        // verify reports it; refuse to write one rather than break the chain.
        let head = sqlx::query("SELECT scheme, key_fingerprint FROM audit_log WHERE seq = $1")
            .bind(state.audit_seq)
            .fetch_optional(&mut *tx)
            .await
            .ctx("reading the audit head")?;
        if let Some(row) = head {
            let scheme: i64 = row.try_get(0).ctx("reading the audit head")?;
            if scheme != SCHEME_UNKEYED {
                let fingerprint: Option<String> = row.try_get(1).ctx("reading the audit head")?;
                return Err(RegistryError::AuditKeyRequired {
                    seq: state.audit_seq,
                    fingerprint: fingerprint.unwrap_or_else(|| "(none recorded)".into()),
                });
            }
        }
    }
    let (scheme, fingerprint) = match key {
        Some(k) => (SCHEME_KEYED, Some(k.fingerprint().to_string())),
        None => (SCHEME_UNKEYED, None),
    };
    let mut rows = Vec::with_capacity(records.len());
    for r in records {
        let seq = state.audit_seq + 1;
        let (actor, action, subject) = (no_nul(&r.actor), no_nul(&r.action), no_nul(&r.subject));
        let (before, after) = (json_text(&r.before), json_text(&r.after));
        let fields = Fields {
            prev_hash: &state.audit_hash,
            seq,
            time: r.time,
            actor: &actor,
            action: &action,
            subject: &subject,
            before: before.as_deref(),
            after: after.as_deref(),
        };
        let hash = match key {
            Some(k) => fields.hmac(k)?,
            None => fields.sha256(),
        };
        rows.push(Prepared {
            seq,
            time: r.time,
            actor,
            action,
            subject,
            before,
            after,
            prev_hash: std::mem::replace(&mut state.audit_hash, hash.clone()),
            hash,
        });
        state.audit_seq = seq;
    }
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Prepared> = rows.by_ref().take(ROWS_PER_INSERT).collect();
        let sql = format!(
            "INSERT INTO audit_log ({COLUMNS}) VALUES {}",
            db::values_rows_for(tx, chunk.len(), "(?,?,?,?,?,?,?,?,?,?,?)")
        );
        // Full chunks share one prepared statement; a short tail chunk is not cached.
        let mut q = sqlx::query(AssertSqlSafe(sql)).persistent(chunk.len() == ROWS_PER_INSERT);
        // The rows are moved into the query, not copied (a decision's record is kilobytes).
        for r in chunk {
            q = q
                .bind(r.seq)
                .bind(r.time)
                .bind(r.actor)
                .bind(r.action)
                .bind(r.subject)
                .bind(r.before)
                .bind(r.after)
                .bind(r.prev_hash)
                .bind(r.hash)
                .bind(scheme)
                .bind(fingerprint.clone());
        }
        q.execute(&mut *tx)
            .await
            .ctx("appending to the audit log")?;
    }
    Ok(())
}

pub(crate) fn entry_from_row(row: &sqlx::any::AnyRow) -> Result<AuditEntry> {
    const CTX: &str = "reading the audit log";
    let seq: i64 = row.try_get(0).ctx(CTX)?;
    let parse = |text: Option<String>| -> Result<Option<serde_json::Value>> {
        text.map(|t| {
            serde_json::from_str(&t).map_err(|e| {
                RegistryError::Corrupt(format!("audit row {seq}: before/after is not JSON: {e}"))
            })
        })
        .transpose()
    };
    Ok(AuditEntry {
        seq,
        time: row.try_get(1).ctx(CTX)?,
        actor: row.try_get(2).ctx(CTX)?,
        action: row.try_get(3).ctx(CTX)?,
        subject: row.try_get(4).ctx(CTX)?,
        before: parse(row.try_get(5).ctx(CTX)?)?,
        after: parse(row.try_get(6).ctx(CTX)?)?,
        prev_hash: row.try_get(7).ctx(CTX)?,
        hash: row.try_get(8).ctx(CTX)?,
        scheme: row.try_get(9).ctx(CTX)?,
        key_fingerprint: row.try_get(10).ctx(CTX)?,
    })
}

impl Registry {
    /// Appends records to the audit chain in one transaction and returns when they are
    /// committed. For changes made outside the registry; decisions go through
    /// [`Registry::audit_writer`].
    pub async fn audit_append(&self, records: &[AuditRecord]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut change = Change::begin(self).await?;
        change.audit(records).await?;
        change.commit().await
    }

    /// [`Registry::audit_append`] for records whose events the caller keeps in a
    /// write-ahead log of its own, from which it writes them again after a crash (the
    /// decision service). On a SQLite file the commit does not wait for the disk
    /// (`synchronous = NORMAL` on a connection of its own): a killed process loses nothing,
    /// a power loss may lose the last commits. Call [`Registry::sync_to_disk`] before
    /// dropping the part of the caller's log that covers them. On PostgreSQL (and in
    /// memory) it is [`Registry::audit_append`].
    ///
    /// Why: at thousands of decisions a second every audit batch's commit synced SQLite's
    /// log, and those syncs queued on the same disk as the service's own log syncs, which
    /// every answer waits for.
    pub async fn audit_append_logged(&self, records: &[AuditRecord]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut change = Change::begin_logged(self).await?;
        change.audit(records).await?;
        change.commit().await
    }

    /// Opens the relaxed connection of [`Registry::audit_append_logged`] now, from the
    /// calling thread (SQLite's connection thread inherits its scheduling priority; see
    /// [`Registry::audit_writer_on_thread`]). The pool keeps that one connection for good.
    /// A failure is left for the first append to report.
    pub async fn warm_logged(&self) {
        if let Some(pool) = &self.inner.relaxed {
            let _ = pool.acquire().await;
        }
    }

    /// Makes every commit so far durable (SQLite file: syncs its write-ahead log and the
    /// database file; PostgreSQL commits are durable already). Blocking.
    pub fn sync_to_disk(&self) -> std::io::Result<()> {
        match &self.inner.file {
            Some(db) => crate::db::sync_files(db),
            None => Ok(()),
        }
    }

    /// Walks the whole chain and recomputes every hash it can, with the registry's audit key
    /// if it has one. See [`Registry::audit_verify_with`].
    pub async fn audit_verify(&self) -> Result<VerifyReport> {
        self.audit_verify_with(&VerifyOptions::default()).await
    }

    /// Walks the whole chain and recomputes every hash: unkeyed rows with SHA-256, keyed rows
    /// with HMAC-SHA256 under the key whose fingerprint they carry (the registry's own or one
    /// of `options.keys`). The report says how many rows were checked and, if the chain is
    /// broken, the first bad `seq` and why: an edited row (its hash no longer matches), a
    /// deleted row (a gap, or a head the table no longer reaches), a reordered or inserted row
    /// (`prev_hash` does not link), rows added past the head, an unkeyed row after keyed ones
    /// (rewritten without the key), a row written with a key not given, or a chain that does
    /// not contain `options.anchor`. Keyed rows without a key to check them are counted as
    /// `unverified` and make the report not [`VerifyReport::ok`]. Rows appended while it runs
    /// are not checked.
    pub async fn audit_verify_with(&self, options: &VerifyOptions) -> Result<VerifyReport> {
        let mut keys: Vec<&AuditKey> = self.inner.audit_key.iter().collect();
        keys.extend(options.keys.iter());
        let mut walk = Walk {
            keys,
            anchor: options.anchor.as_ref(),
            anchor_found: false,
            last_keyed: None,
            unkeyed: None,
            unverified: None,
            unverified_keys: BTreeSet::new(),
        };
        let mut conn = self.conn().await?;
        let head = db::read_state(&mut conn).await?;
        let mut report = VerifyReport {
            checked: 0,
            keyed: 0,
            unkeyed: 0,
            unverified: 0,
            head_seq: head.audit_seq,
            head_hash: head.audit_hash.clone(),
            anchor: options.anchor.clone(),
            first_bad: None,
            notes: Vec::new(),
        };
        let mut expected = 1_i64;
        let mut prev = GENESIS_HASH.to_string();
        'pages: while expected <= head.audit_seq {
            let rows = sqlx::query(AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM audit_log WHERE seq >= $1 AND seq <= $2 \
                 ORDER BY seq LIMIT $3"
            )))
            .bind(expected)
            .bind(head.audit_seq)
            .bind(VERIFY_PAGE)
            .fetch_all(&mut *conn)
            .await
            .ctx("reading the audit log")?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                if let Some(b) = walk.check_row(row, expected, &prev, &mut report)? {
                    report.first_bad = Some(b);
                    break 'pages;
                }
                report.checked += 1;
                prev = row.try_get(8).ctx("reading the audit log")?;
                expected += 1;
            }
        }
        if report.first_bad.is_none() && expected <= head.audit_seq {
            report.first_bad = Some(ChainBreak {
                seq: expected,
                reason: format!(
                    "row {expected} is missing: the registry's head is row {}, so rows at the \
                     end of the log were deleted",
                    head.audit_seq
                ),
            });
        }
        if report.first_bad.is_none() && head.audit_seq > 0 && prev != head.audit_hash {
            report.first_bad = Some(ChainBreak {
                seq: head.audit_seq,
                reason: "the last row's hash differs from the head the registry recorded: the \
                         chain was rewritten"
                    .into(),
            });
        }
        if report.first_bad.is_none() {
            // Rows past the head were not written by the registry (it moves both together).
            let max: Option<i64> = sqlx::query("SELECT MAX(seq) FROM audit_log")
                .fetch_one(&mut *conn)
                .await
                .and_then(|r| r.try_get(0))
                .ctx("reading the audit log")?;
            let now = db::read_state(&mut conn).await?;
            if let Some(max) = max.filter(|&m| m > now.audit_seq) {
                report.first_bad = Some(ChainBreak {
                    seq: now.audit_seq + 1,
                    reason: format!(
                        "rows {} to {max} lie past the registry's head (row {}): they were \
                         inserted outside the registry",
                        now.audit_seq + 1,
                        now.audit_seq
                    ),
                });
            }
        }
        if report.first_bad.is_none() {
            if let Some(b) = walk.anchor_missing(head.audit_seq) {
                report.first_bad = Some(b);
            }
        }
        walk.notes(&mut report);
        Ok(report)
    }

    /// The current head of the chain (`None` for an empty log), as recorded in the registry:
    /// publish it (`SEQ:HASH`) somewhere the database's writers cannot reach, and later
    /// [`VerifyOptions::with_anchor`] proves the history up to it was not rewritten.
    pub async fn audit_head(&self) -> Result<Option<AuditAnchor>> {
        let mut conn = self.conn().await?;
        let state = db::read_state(&mut conn).await?;
        Ok((state.audit_seq > 0).then_some(AuditAnchor {
            seq: Some(state.audit_seq),
            hash: state.audit_hash,
        }))
    }

    /// The last `n` audit rows, oldest first.
    pub async fn audit_tail(&self, n: usize) -> Result<Vec<AuditEntry>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.conn().await?;
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM audit_log ORDER BY seq DESC LIMIT $1"
        )))
        .bind(i64::try_from(n).unwrap_or(i64::MAX))
        .fetch_all(&mut *conn)
        .await
        .ctx("reading the audit log")?;
        let mut out = rows
            .iter()
            .map(entry_from_row)
            .collect::<Result<Vec<_>>>()?;
        out.reverse();
        Ok(out)
    }
}

/// What a verify walk knows besides the previous row's hash.
struct Walk<'a> {
    keys: Vec<&'a AuditKey>,
    anchor: Option<&'a AuditAnchor>,
    anchor_found: bool,
    /// The last keyed row seen: no unkeyed row may follow it.
    last_keyed: Option<i64>,
    /// First and last unkeyed row.
    unkeyed: Option<(i64, i64)>,
    /// First and last keyed row no key was given for.
    unverified: Option<(i64, i64)>,
    unverified_keys: BTreeSet<String>,
}

fn extend(range: &mut Option<(i64, i64)>, seq: i64) {
    *range = Some(range.map_or((seq, seq), |(first, _)| (first, seq)));
}

fn rows(range: Option<(i64, i64)>) -> String {
    match range {
        Some((a, b)) if a == b => format!("row {a}"),
        Some((a, b)) => format!("rows {a} to {b}"),
        None => "no rows".into(),
    }
}

impl Walk<'_> {
    /// The reason `row` breaks the chain, if it does; counts it in `report` otherwise.
    fn check_row(
        &mut self,
        row: &sqlx::any::AnyRow,
        expected: i64,
        prev: &str,
        report: &mut VerifyReport,
    ) -> Result<Option<ChainBreak>> {
        const CTX: &str = "reading the audit log";
        let seq: i64 = row.try_get(0).ctx(CTX)?;
        let broken = |reason: String| Ok(Some(ChainBreak { seq, reason }));
        if seq != expected {
            return Ok(Some(ChainBreak {
                seq: expected,
                reason: format!(
                    "row {expected} is missing (the next row is {seq}): rows were deleted"
                ),
            }));
        }
        let prev_hash: String = row.try_get(7).ctx(CTX)?;
        if prev_hash != prev {
            return broken(format!(
                "prev_hash does not match the hash of row {}: rows were inserted, deleted or \
                 reordered",
                seq - 1
            ));
        }
        let (actor, action, subject): (String, String, String) = (
            row.try_get(2).ctx(CTX)?,
            row.try_get(3).ctx(CTX)?,
            row.try_get(4).ctx(CTX)?,
        );
        let before: Option<String> = row.try_get(5).ctx(CTX)?;
        let after: Option<String> = row.try_get(6).ctx(CTX)?;
        let fields = Fields {
            prev_hash: &prev_hash,
            seq,
            time: row.try_get(1).ctx(CTX)?,
            actor: &actor,
            action: &action,
            subject: &subject,
            before: before.as_deref(),
            after: after.as_deref(),
        };
        let stored: String = row.try_get(8).ctx(CTX)?;
        let scheme: i64 = row.try_get(9).ctx(CTX)?;
        let fingerprint: Option<String> = row.try_get(10).ctx(CTX)?;
        match scheme {
            SCHEME_UNKEYED => {
                if let Some(keyed) = self.last_keyed {
                    return broken(format!(
                        "row {seq} is unkeyed but follows keyed row {keyed}: the registry never \
                         writes an unkeyed row after a keyed one, so this row was written or \
                         rewritten without the audit key"
                    ));
                }
                if fields.sha256() != stored {
                    return broken(
                        "the row's contents do not match its hash: the row was edited".into(),
                    );
                }
                extend(&mut self.unkeyed, seq);
                report.unkeyed += 1;
            }
            SCHEME_KEYED => {
                self.last_keyed = Some(seq);
                let Some(fingerprint) = fingerprint else {
                    return broken("the keyed row names no key fingerprint: it was edited".into());
                };
                if self.keys.is_empty() {
                    extend(&mut self.unverified, seq);
                    self.unverified_keys.insert(fingerprint);
                    report.unverified += 1;
                } else {
                    let Some(key) = self.keys.iter().find(|k| k.fingerprint() == fingerprint)
                    else {
                        let given: Vec<&str> = self.keys.iter().map(|k| k.fingerprint()).collect();
                        return broken(format!(
                            "row {seq} was written with audit key {fingerprint}, you gave {}: \
                             give that key too (--key-file, once per key) — or, if no such key \
                             was ever used, the row's key fingerprint was altered",
                            given.join(", ")
                        ));
                    };
                    if fields.hmac(key)? != stored {
                        return broken(format!(
                            "the row's contents do not match its HMAC under audit key \
                             {fingerprint}: the row was edited or its hash recomputed without \
                             the key"
                        ));
                    }
                    report.keyed += 1;
                }
            }
            other => {
                return broken(format!(
                    "the row's scheme is {other}; this release writes 1 (unkeyed) and 2 (keyed): \
                     the row was edited, or written by a newer release"
                ));
            }
        }
        if let Some(anchor) = self.anchor {
            match anchor.seq {
                Some(a) if a == seq && anchor.hash != stored => {
                    return broken(format!(
                        "row {seq}'s hash is {stored}, but the published head {anchor} says \
                         otherwise: the history up to row {seq} was rewritten"
                    ));
                }
                Some(a) if a == seq => self.anchor_found = true,
                None if anchor.hash == stored => self.anchor_found = true,
                _ => {}
            }
        }
        Ok(None)
    }

    /// After a walk without a break: the published head, if given and not met.
    fn anchor_missing(&self, head_seq: i64) -> Option<ChainBreak> {
        let anchor = self.anchor.filter(|_| !self.anchor_found)?;
        Some(match anchor.seq {
            Some(seq) => ChainBreak {
                seq,
                reason: format!(
                    "the published head is row {seq} but the chain ends at row {head_seq}: rows \
                     were deleted (or the head was published from another registry)"
                ),
            },
            None => ChainBreak {
                seq: head_seq.max(1),
                reason: format!(
                    "no row has the published hash {}: the history before it was rewritten (or \
                     the hash was published from another registry)",
                    anchor.hash
                ),
            },
        })
    }

    fn notes(&self, report: &mut VerifyReport) {
        if report.unverified > 0 {
            let keys: Vec<&str> = self.unverified_keys.iter().map(String::as_str).collect();
            report.notes.push(format!(
                "{} ({} keyed rows, audit key {}) could not be checked: no audit key was given. \
                 Give it with `riskstream audit verify --key-file FILE` or {AUDIT_KEY_ENV}=FILE",
                rows(self.unverified),
                report.unverified,
                keys.join(", ")
            ));
        }
        if report.unkeyed > 0 {
            report.notes.push(format!(
                "{} ({} rows) are unkeyed: anyone who can write the database could rewrite them \
                 and recompute their hashes. They are tamper-evident only up to a head published \
                 elsewhere (`riskstream audit head`, then `audit verify --head SEQ:HASH`); rows \
                 appended with an audit key are keyed",
                rows(self.unkeyed),
                report.unkeyed
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn fields<'a>(
        actor: &'a str,
        action: &'a str,
        before: Option<&'a str>,
        seq: i64,
    ) -> Fields<'a> {
        Fields {
            prev_hash: GENESIS_HASH,
            seq,
            time: 5,
            actor,
            action,
            subject: "s",
            before,
            after: None,
        }
    }

    #[test]
    fn hash_separates_fields_and_absence() {
        let a = fields("ab", "c", None, 1).sha256();
        assert_ne!(a, fields("a", "bc", None, 1).sha256());
        assert_ne!(a, fields("ab", "c", Some(""), 1).sha256());
        assert_ne!(a, fields("ab", "c", None, 2).sha256());
        assert_eq!(a, fields("ab", "c", None, 1).sha256());
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn hmac_depends_on_the_key_and_differs_from_the_plain_hash() {
        let k1 = AuditKey::from_bytes(&[1; 32]).unwrap();
        let k2 = AuditKey::from_bytes(&[2; 32]).unwrap();
        let f = fields("ab", "c", None, 1);
        let h1 = f.hmac(&k1).unwrap();
        assert_ne!(h1, f.hmac(&k2).unwrap());
        assert_ne!(h1, f.sha256());
        assert_eq!(h1, fields("ab", "c", None, 1).hmac(&k1).unwrap());
        assert_eq!(h1.len(), 64);
    }

    #[test]
    fn v1_serialisation_is_unchanged() {
        // Rows written before keyed chains existed must keep verifying: this is the hash
        // the old `row_hash` gave for these fields.
        let mut h = Sha256::new();
        h.update(b"riskstream-audit-v1\n");
        h.update(GENESIS_HASH.as_bytes());
        h.update(b"\n1\n5\n2:ab\n1:c\n1:s\n-\n-\n");
        assert_eq!(
            fields("ab", "c", None, 1).sha256(),
            hex::encode(h.finalize())
        );
    }
}
