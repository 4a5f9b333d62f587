//! Artifacts: immutable, content-addressed texts (model JSON, policy TOML, feature spec TOML,
//! credit model JSON, text model JSON).

use std::str::FromStr;

use sqlx::{AssertSqlSafe, Row};

use crate::db::Conn;
use crate::error::{DbContext, RegistryError, Result};
use crate::{
    check_actor, check_text, sha256_hex, Artifact, ArtifactId, ArtifactKind, ArtifactMeta,
    AuditRecord, Change, Registry,
};

const META_COLUMNS: &str = "id, kind, name, size_bytes, lineage, created_at, created_by";

/// Refuses a body that is not even well-formed, so a typo fails at upload, not at reload.
fn check_body(kind: ArtifactKind, body: &str) -> Result<()> {
    let what = format!("{kind} body");
    check_text(&what, body, usize::MAX, false)?;
    match kind {
        // A model file is JSON; a LightGBM model is text starting with `tree`; an online
        // model card is TOML. Which of them it is, and whether it loads, is the model
        // layer's business: here only well-formedness.
        ArtifactKind::Model if body.trim_start().starts_with('{') => {
            serde_json::from_str::<serde::de::IgnoredAny>(body)
                .map(|_| ())
                .map_err(|e| RegistryError::invalid(what, format!("not valid JSON: {e}")))
        }
        ArtifactKind::Model if body.trim_start().starts_with("tree") => Ok(()),
        ArtifactKind::Model => body.parse::<toml::Table>().map(|_| ()).map_err(|e| {
            RegistryError::invalid(
                what,
                format!("neither a JSON model file nor a TOML online model card: {e}"),
            )
        }),
        // Which credit model it is (scorecard or GBDT) and whether it loads is the credit
        // layer's business, as for fraud models.
        ArtifactKind::CreditModel
        | ArtifactKind::ForecastModel
        | ArtifactKind::RecommendModel
        | ArtifactKind::TextModel => serde_json::from_str::<serde::de::IgnoredAny>(body)
            .map(|_| ())
            .map_err(|e| RegistryError::invalid(what, format!("not valid JSON: {e}"))),
        ArtifactKind::Policy | ArtifactKind::FeatureSpec => body
            .parse::<toml::Table>()
            .map(|_| ())
            .map_err(|e| RegistryError::invalid(what, format!("not valid TOML: {e}"))),
    }
}

/// The start of a body stored encrypted: base64 of a `riskstream_core::crypt` envelope.
const SEALED: &str = "riskstream-sealed:v1:";

/// Model artifacts hold what was learnt from customers' data (tree splits, category lists,
/// item ids, words of complaints); policies, feature specs and published forecast sets
/// (aggregate volumes) do not.
fn sensitive(kind: ArtifactKind) -> bool {
    matches!(
        kind,
        ArtifactKind::Model
            | ArtifactKind::CreditModel
            | ArtifactKind::RecommendModel
            | ArtifactKind::TextModel
    )
}

/// The body as stored: a model's encrypted under the primary master key when master keys
/// are configured (a fresh data key per row, as per file), any other as it is. Why in the
/// registry: every writer (`push` commands, the API's upload routes) and every reader (the
/// service's reloads, the console) goes through [`Registry::put_artifact`] and
/// [`Registry::artifact`], so none of them needs to know.
fn seal_body(kind: ArtifactKind, body: &str) -> Result<String> {
    use base64::Engine;
    match riskstream_core::crypt::env_keys()? {
        Some(keys) if sensitive(kind) => {
            let sealed = riskstream_core::crypt::seal_bytes(&keys, body.as_bytes())?;
            Ok(format!(
                "{SEALED}{}",
                base64::engine::general_purpose::STANDARD.encode(sealed)
            ))
        }
        _ => Ok(body.to_string()),
    }
}

/// The body as stored, decrypted when it was stored encrypted (with the environment's
/// master keys; a missing or wrong key, or a damaged value, is an error naming the
/// artifact).
fn open_body(id: &str, stored: String) -> Result<String> {
    use base64::Engine;
    let Some(b64) = stored.strip_prefix(SEALED) else {
        return Ok(stored);
    };
    let origin = format!("artifact {id}");
    let sealed = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| riskstream_core::crypt::CryptError::Damaged {
            path: origin.clone(),
            what: format!("not base64: {e}"),
        })?;
    let keys = riskstream_core::crypt::env_keys()?;
    let plain = riskstream_core::crypt::open_bytes(keys.as_ref(), &sealed, &origin)?;
    String::from_utf8(plain)
        .map_err(|e| RegistryError::Corrupt(format!("{origin}: decrypted body is not UTF-8: {e}")))
}

fn meta_from_row(row: &sqlx::any::AnyRow) -> Result<ArtifactMeta> {
    const CTX: &str = "reading an artifact";
    let id: String = row.try_get(0).ctx(CTX)?;
    let kind: String = row.try_get(1).ctx(CTX)?;
    let kind = ArtifactKind::from_str(&kind)
        .map_err(|_| RegistryError::Corrupt(format!("artifact {id} has unknown kind `{kind}`")))?;
    let lineage: String = row.try_get(4).ctx(CTX)?;
    let lineage = serde_json::from_str(&lineage)
        .map_err(|e| RegistryError::Corrupt(format!("artifact {id}: lineage is not JSON: {e}")))?;
    Ok(ArtifactMeta {
        kind,
        name: row.try_get(2).ctx(CTX)?,
        size_bytes: row.try_get(3).ctx(CTX)?,
        lineage,
        created_at: row.try_get(5).ctx(CTX)?,
        created_by: row.try_get(6).ctx(CTX)?,
        id,
    })
}

/// The full id and kind of the artifact `id` names: a full id or a unique prefix of at
/// least 8 hex characters.
pub(crate) async fn resolve(conn: &mut Conn, id: &str) -> Result<(ArtifactId, ArtifactKind)> {
    let prefix = id.trim().to_ascii_lowercase();
    if !(8..=64).contains(&prefix.len()) || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(RegistryError::invalid(
            "artifact id",
            format!("`{id}` is not an artifact id or a prefix of one (8 to 64 hex characters)"),
        ));
    }
    let rows = if prefix.len() == 64 {
        sqlx::query("SELECT id, kind FROM artifacts WHERE id = $1")
            .bind(prefix.clone())
            .fetch_all(&mut *conn)
            .await
    } else {
        sqlx::query("SELECT id, kind FROM artifacts WHERE id LIKE $1 ORDER BY id LIMIT 6")
            .bind(format!("{prefix}%"))
            .fetch_all(&mut *conn)
            .await
    }
    .ctx("looking up an artifact")?;
    match rows.as_slice() {
        [] => Err(RegistryError::NotFound {
            what: "artifact",
            id: id.to_string(),
        }),
        [row] => {
            let full: String = row.try_get(0).ctx("looking up an artifact")?;
            let kind: String = row.try_get(1).ctx("looking up an artifact")?;
            let kind = ArtifactKind::from_str(&kind).map_err(|_| {
                RegistryError::Corrupt(format!("artifact {full} has unknown kind `{kind}`"))
            })?;
            Ok((full, kind))
        }
        many => Err(RegistryError::Ambiguous {
            prefix,
            matches: many
                .iter()
                .take(5)
                .map(|r| r.try_get::<String, _>(0))
                .collect::<std::result::Result<_, _>>()
                .ctx("looking up an artifact")?,
        }),
    }
}

/// Like [`resolve`], but the artifact must be of kind `expected`.
pub(crate) async fn resolve_kind(
    conn: &mut Conn,
    id: &str,
    expected: ArtifactKind,
) -> Result<ArtifactId> {
    let (id, found) = resolve(conn, id).await?;
    if found != expected {
        return Err(RegistryError::WrongKind {
            id,
            expected,
            found,
        });
    }
    Ok(id)
}

impl Registry {
    /// Stores an artifact and returns its id, `sha256(body)` in hex. Idempotent: the same
    /// body again returns the same id without a new row (the first name and lineage are
    /// kept). The same body under another kind is refused. The body must be well-formed
    /// (JSON for models, TOML otherwise); its meaning is checked by whoever loads it.
    pub async fn put_artifact(
        &self,
        kind: ArtifactKind,
        name: &str,
        body: &str,
        lineage: serde_json::Value,
        actor: &str,
    ) -> Result<ArtifactId> {
        check_text("artifact name", name, 200, false)?;
        check_actor(actor)?;
        check_body(kind, body)?;
        let id = sha256_hex(body.as_bytes());
        let mut change = Change::begin(self).await?;
        let existing = sqlx::query("SELECT kind FROM artifacts WHERE id = $1")
            .bind(id.clone())
            .fetch_optional(change.conn())
            .await
            .ctx("looking up an artifact")?;
        if let Some(row) = existing {
            let stored: String = row.try_get(0).ctx("looking up an artifact")?;
            if stored != kind.as_str() {
                return Err(RegistryError::Conflict(format!(
                    "artifact {id} is already stored as a {stored}; the same body cannot also \
                     be a {kind}"
                )));
            }
            return Ok(id); // nothing changed: the transaction rolls back
        }
        let size = i64::try_from(body.len()).unwrap_or(i64::MAX);
        // The id and size are the plain body's, so pushing a model twice is still one row.
        let stored = seal_body(kind, body)?;
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO artifacts ({META_COLUMNS}, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        )))
        .bind(id.clone())
        .bind(kind.as_str())
        .bind(name.to_string())
        .bind(size)
        .bind(lineage.to_string())
        .bind(change.now)
        .bind(actor.to_string())
        .bind(stored)
        .execute(change.conn())
        .await
        .ctx("storing an artifact")?;
        let record = AuditRecord {
            actor: actor.to_string(),
            action: "artifact.put".into(),
            subject: id.clone(),
            before: None,
            after: Some(serde_json::json!({
                "kind": kind, "name": name, "size_bytes": size, "lineage": lineage,
            })),
            time: change.now,
        };
        change.audit(&[record]).await?;
        change.commit().await?;
        Ok(id)
    }

    /// The artifact with this id or unique id prefix (at least 8 hex characters).
    pub async fn artifact(&self, id: &str) -> Result<Artifact> {
        let mut conn = self.conn().await?;
        let (full, _) = resolve(&mut conn, id).await?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {META_COLUMNS}, body FROM artifacts WHERE id = $1"
        )))
        .bind(full)
        .fetch_one(&mut *conn)
        .await
        .ctx("reading an artifact")?;
        let meta = meta_from_row(&row)?;
        let body = open_body(&meta.id, row.try_get(7).ctx("reading an artifact")?)?;
        Ok(Artifact { meta, body })
    }

    /// Artifacts without their bodies, newest first, optionally of one kind and/or name.
    pub async fn list_artifacts(
        &self,
        kind: Option<ArtifactKind>,
        name: Option<&str>,
    ) -> Result<Vec<ArtifactMeta>> {
        let filter = match (kind, name) {
            (None, None) => "",
            (Some(_), None) => " WHERE kind = $1",
            (None, Some(_)) => " WHERE name = $1",
            (Some(_), Some(_)) => " WHERE kind = $1 AND name = $2",
        };
        let sql =
            format!("SELECT {META_COLUMNS} FROM artifacts{filter} ORDER BY created_at DESC, id");
        let mut query = sqlx::query(AssertSqlSafe(sql));
        if let Some(kind) = kind {
            query = query.bind(kind.as_str());
        }
        if let Some(name) = name {
            query = query.bind(name.to_string());
        }
        let mut conn = self.conn().await?;
        let rows = query.fetch_all(&mut *conn).await.ctx("listing artifacts")?;
        rows.iter().map(meta_from_row).collect()
    }
}
