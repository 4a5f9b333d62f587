//! Deployments: model stages, the active policy and the feature spec, their history and
//! rollback.
//!
//! Invariants: at most one champion per deployment (also a unique index), the champion is
//! only replaced (by a promotion or a rollback), never demoted on its own, so a deployment
//! that once had a champion always has one; challengers take more than 0 and at most 100
//! percent of traffic, and together at most 100.
//!
//! Rollback replays the history as a stack: a `set` to champion (or active) pushes, a
//! rollback pops. Rolling back twice after A → B → C therefore gives B, then A; a promotion
//! after a rollback starts a new branch, like a browser's back button.

use serde_json::json;
use sqlx::Row;

use crate::artifacts::{resolve, resolve_kind};
use crate::db::Conn;
use crate::error::{DbContext, RegistryError, Result};
use crate::{
    check_actor, check_ident, ArtifactId, ArtifactKind, AuditRecord, Challenger, Change,
    DeploymentState, HistoryEntry, Registry, Slot, Stage,
};

const ACTIVE: &str = "active";

/// Stands for NULL in nullable DOUBLE PRECISION parameters, which the SQL maps back with
/// `NULLIF(param, -1)`. sqlx 0.9's `Any` driver declares a NULL `f64` to PostgreSQL as
/// `float4` (transact-rs/sqlx#4284), and a cached statement first run with NULL then fails on
/// a real value ("incorrect binary data format"). Shares are in (0, 100], so -1 is free.
const NULL_PCT: f64 = -1.0;

fn pct_param(pct: Option<f64>) -> f64 {
    pct.unwrap_or(NULL_PCT)
}
const INACTIVE: &str = "inactive";

/// Model stages in a deployment, by artifact id.
async fn model_stages(conn: &mut Conn, deployment: &str) -> Result<Vec<(ArtifactId, Stage)>> {
    const CTX: &str = "reading model stages";
    let rows = sqlx::query(
        "SELECT artifact_id, stage, pct FROM model_stages WHERE deployment = $1 \
         ORDER BY artifact_id",
    )
    .bind(deployment.to_string())
    .fetch_all(&mut *conn)
    .await
    .ctx(CTX)?;
    rows.iter()
        .map(|r| {
            let stage: String = r.try_get(1).ctx(CTX)?;
            Ok((
                r.try_get(0).ctx(CTX)?,
                Stage::from_db(&stage, r.try_get(2).ctx(CTX)?)?,
            ))
        })
        .collect()
}

async fn write_stage(
    change: &mut Change<'_>,
    deployment: &str,
    artifact: &str,
    stage: Stage,
    actor: &str,
) -> Result<()> {
    let now = change.now;
    sqlx::query(sqlx::AssertSqlSafe(crate::tenant::on_conflict(
        crate::db::is_postgres(change.conn()),
        "INSERT INTO model_stages (deployment, artifact_id, stage, pct, updated_at, updated_by) \
         VALUES ($1, $2, $3, NULLIF($4, -1), $5, $6) \
         ON CONFLICT (deployment, artifact_id) DO UPDATE SET stage = excluded.stage, \
         pct = excluded.pct, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
    )))
    .bind(deployment.to_string())
    .bind(artifact.to_string())
    .bind(stage.as_str())
    .bind(pct_param(stage.pct()))
    .bind(now)
    .bind(actor.to_string())
    .execute(change.conn())
    .await
    .ctx("writing a model stage")?;
    Ok(())
}

/// One history row; `before`/`after` are (state, pct).
#[allow(clippy::too_many_arguments)]
async fn write_history(
    change: &mut Change<'_>,
    deployment: &str,
    slot: Slot,
    artifact: &str,
    op: &str,
    before: Option<(&str, Option<f64>)>,
    after: (&str, Option<f64>),
    actor: &str,
) -> Result<()> {
    const CTX: &str = "writing deployment history";
    // Safe without a sequence: every writer holds the registry's write lock.
    let id: i64 = sqlx::query("SELECT COALESCE(MAX(id), 0) + 1 FROM deployment_history")
        .fetch_one(change.conn())
        .await
        .and_then(|r| r.try_get(0))
        .ctx(CTX)?;
    let now = change.now;
    sqlx::query(
        "INSERT INTO deployment_history (id, deployment, slot, artifact_id, op, before_state, \
         before_pct, after_state, after_pct, time_us, actor) \
         VALUES ($1, $2, $3, $4, $5, $6, NULLIF($7, -1), $8, NULLIF($9, -1), $10, $11)",
    )
    .bind(id)
    .bind(deployment.to_string())
    .bind(slot.as_str())
    .bind(artifact.to_string())
    .bind(op.to_string())
    .bind(before.map(|b| b.0.to_string()))
    .bind(pct_param(before.and_then(|b| b.1)))
    .bind(after.0.to_string())
    .bind(pct_param(after.1))
    .bind(now)
    .bind(actor.to_string())
    .execute(change.conn())
    .await
    .ctx(CTX)?;
    Ok(())
}

async fn load_history(
    conn: &mut Conn,
    deployment: &str,
    slot: Option<Slot>,
) -> Result<Vec<HistoryEntry>> {
    const CTX: &str = "reading deployment history";
    let columns = "id, deployment, slot, artifact_id, op, before_state, before_pct, \
                   after_state, after_pct, time_us, actor";
    let rows = match slot {
        None => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {columns} FROM deployment_history WHERE deployment = $1 ORDER BY id"
            )))
            .bind(deployment.to_string())
            .fetch_all(&mut *conn)
            .await
        }
        Some(slot) => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {columns} FROM deployment_history WHERE deployment = $1 AND slot = $2 \
                 ORDER BY id"
            )))
            .bind(deployment.to_string())
            .bind(slot.as_str())
            .fetch_all(&mut *conn)
            .await
        }
    }
    .ctx(CTX)?;
    rows.iter()
        .map(|r| {
            let slot: String = r.try_get(2).ctx(CTX)?;
            Ok(HistoryEntry {
                id: r.try_get(0).ctx(CTX)?,
                deployment: r.try_get(1).ctx(CTX)?,
                slot: Slot::from_db(&slot)?,
                artifact: r.try_get(3).ctx(CTX)?,
                op: r.try_get(4).ctx(CTX)?,
                before: r.try_get(5).ctx(CTX)?,
                before_pct: r.try_get(6).ctx(CTX)?,
                after: r.try_get(7).ctx(CTX)?,
                after_pct: r.try_get(8).ctx(CTX)?,
                time: r.try_get(9).ctx(CTX)?,
                actor: r.try_get(10).ctx(CTX)?,
            })
        })
        .collect()
}

/// The champions (or active artifacts) a rollback walks back through, oldest first; the
/// last is the current one.
fn rollback_stack(history: &[HistoryEntry], active: &str) -> Vec<ArtifactId> {
    let mut stack = Vec::new();
    for h in history {
        match h.op.as_str() {
            "set" if h.after == active => stack.push(h.artifact.clone()),
            "rolled_back" => {
                stack.pop();
            }
            _ => {}
        }
    }
    stack
}

async fn binding(conn: &mut Conn, deployment: &str, slot: Slot) -> Result<Option<ArtifactId>> {
    sqlx::query("SELECT artifact_id FROM deployment_bindings WHERE deployment = $1 AND slot = $2")
        .bind(deployment.to_string())
        .bind(slot.as_str())
        .fetch_optional(&mut *conn)
        .await
        .and_then(|r| r.map(|r| r.try_get(0)).transpose())
        .ctx("reading deployment bindings")
}

async fn write_binding(
    change: &mut Change<'_>,
    deployment: &str,
    slot: Slot,
    artifact: &str,
    actor: &str,
) -> Result<()> {
    let now = change.now;
    sqlx::query(sqlx::AssertSqlSafe(crate::tenant::on_conflict(
        crate::db::is_postgres(change.conn()),
        "INSERT INTO deployment_bindings (deployment, slot, artifact_id, updated_at, updated_by) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (deployment, slot) DO UPDATE SET artifact_id = excluded.artifact_id, \
         updated_at = excluded.updated_at, updated_by = excluded.updated_by",
    )))
    .bind(deployment.to_string())
    .bind(slot.as_str())
    .bind(artifact.to_string())
    .bind(now)
    .bind(actor.to_string())
    .execute(change.conn())
    .await
    .ctx("writing a deployment binding")?;
    Ok(())
}

/// The full id of the model `artifact` names, refusing what is not a model (fraud or
/// credit) and a model of the other kind than those `deployment` already stages: the
/// service loads a deployment's models as one kind, so credit models live in a deployment
/// of their own (`[credit] deployment`).
async fn resolve_model(conn: &mut Conn, deployment: &str, artifact: &str) -> Result<ArtifactId> {
    const CTX: &str = "reading the kinds of staged models";
    let (id, kind) = resolve(conn, artifact).await?;
    if !kind.is_staged() {
        return Err(RegistryError::WrongKind {
            id,
            expected: ArtifactKind::Model,
            found: kind,
        });
    }
    let rows = sqlx::query(
        "SELECT DISTINCT a.kind FROM model_stages s JOIN artifacts a ON a.id = s.artifact_id \
         WHERE s.deployment = $1 ORDER BY 1",
    )
    .bind(deployment.to_string())
    .fetch_all(&mut *conn)
    .await
    .ctx(CTX)?;
    for r in &rows {
        let other: String = r.try_get(0).ctx(CTX)?;
        if other != kind.as_str() {
            return Err(RegistryError::Conflict(format!(
                "deployment `{deployment}` stages {other} artifacts and {id} is a {kind}; a \
                 deployment's models are all of one kind: stage it in another deployment \
                 (credit models go to the service's `[credit] deployment`)"
            )));
        }
    }
    Ok(id)
}

fn stage_json(artifact: &str, stage: Stage) -> serde_json::Value {
    match stage.pct() {
        Some(pct) => json!({ "artifact": artifact, "stage": stage.as_str(), "pct": pct }),
        None => json!({ "artifact": artifact, "stage": stage.as_str() }),
    }
}

fn check_pct(stage: Stage) -> Result<()> {
    if let Stage::Challenger { pct } = stage {
        if !(pct.is_finite() && pct > 0.0 && pct <= 100.0) {
            return Err(RegistryError::invalid(
                "challenger pct",
                format!(
                    "{pct} is outside (0, 100]: a challenger takes more than 0 and at most 100 \
                     percent of traffic"
                ),
            ));
        }
    }
    Ok(())
}

impl Registry {
    /// Puts a model (fraud or credit; one kind per deployment) into a stage within
    /// `deployment` (created on first use). Promoting a
    /// champion archives the previous one; the champion itself cannot be demoted (promote
    /// another model or roll back instead). Setting the stage a model already has is a
    /// no-op. Recorded in the history and the audit log; bumps the revision.
    pub async fn set_stage(
        &self,
        deployment: &str,
        artifact: &str,
        stage: Stage,
        actor: &str,
    ) -> Result<()> {
        check_ident("deployment", deployment)?;
        check_actor(actor)?;
        check_pct(stage)?;
        let mut change = Change::begin(self).await?;
        let id = resolve_model(change.conn(), deployment, artifact).await?;
        let stages = model_stages(change.conn(), deployment).await?;
        let current = stages.iter().find(|(a, _)| *a == id).map(|(_, s)| *s);
        if current == Some(stage) {
            return Ok(());
        }
        if current == Some(Stage::Champion) {
            return Err(RegistryError::Conflict(format!(
                "model {id} is the champion of `{deployment}`; promote another model (the \
                 champion is then archived) or roll back instead of demoting it"
            )));
        }
        let mut records = Vec::new();
        match stage {
            Stage::Challenger { pct } => {
                let others: f64 = stages
                    .iter()
                    .filter(|(a, _)| *a != id)
                    .filter_map(|(_, s)| s.pct())
                    .sum();
                if others + pct > 100.0 + 1e-9 {
                    return Err(RegistryError::invalid(
                        "challenger pct",
                        format!(
                            "challengers of `{deployment}` would take {}% of traffic ({others}% \
                             already); together they may take at most 100%",
                            others + pct
                        ),
                    ));
                }
            }
            Stage::Champion => {
                if let Some((old, _)) = stages.iter().find(|(_, s)| *s == Stage::Champion) {
                    write_stage(&mut change, deployment, old, Stage::Archived, actor).await?;
                    write_history(
                        &mut change,
                        deployment,
                        Slot::Model,
                        old,
                        "superseded",
                        Some(("champion", None)),
                        ("archived", None),
                        actor,
                    )
                    .await?;
                    records.push(AuditRecord {
                        actor: actor.to_string(),
                        action: "stage.set".into(),
                        subject: deployment.to_string(),
                        before: Some(stage_json(old, Stage::Champion)),
                        after: Some(stage_json(old, Stage::Archived)),
                        time: change.now,
                    });
                }
            }
            Stage::Shadow | Stage::Archived => {}
        }
        write_stage(&mut change, deployment, &id, stage, actor).await?;
        write_history(
            &mut change,
            deployment,
            Slot::Model,
            &id,
            "set",
            current.map(|s| (s.as_str(), s.pct())),
            (stage.as_str(), stage.pct()),
            actor,
        )
        .await?;
        records.push(AuditRecord {
            actor: actor.to_string(),
            action: "stage.set".into(),
            subject: deployment.to_string(),
            before: current.map(|s| stage_json(&id, s)),
            after: Some(stage_json(&id, stage)),
            time: change.now,
        });
        change.audit(&records).await?;
        change.bump();
        change.commit().await
    }

    /// Makes the previous champion (from the history) champion again and archives the
    /// current one; returns the restored model's id. Fails when there is no earlier
    /// champion to go back to.
    pub async fn rollback(&self, deployment: &str, actor: &str) -> Result<ArtifactId> {
        check_ident("deployment", deployment)?;
        check_actor(actor)?;
        let mut change = Change::begin(self).await?;
        let history = load_history(change.conn(), deployment, Some(Slot::Model)).await?;
        let stack = rollback_stack(&history, "champion");
        let stages = model_stages(change.conn(), deployment).await?;
        let current = stages
            .iter()
            .find(|(_, s)| *s == Stage::Champion)
            .map(|(a, _)| a.clone());
        let [.., target, top] = stack.as_slice() else {
            return Err(RegistryError::Conflict(format!(
                "deployment `{deployment}` has no previous champion to roll back to"
            )));
        };
        if current.as_ref() != Some(top) {
            return Err(RegistryError::Corrupt(format!(
                "the stage history of `{deployment}` ends with champion {top} but the current \
                 champion is {current:?}"
            )));
        }
        let target_stage = stages
            .iter()
            .find(|(a, _)| a == target)
            .map(|(_, s)| *s)
            .unwrap_or(Stage::Archived);
        write_stage(&mut change, deployment, top, Stage::Archived, actor).await?;
        write_history(
            &mut change,
            deployment,
            Slot::Model,
            top,
            "rolled_back",
            Some(("champion", None)),
            ("archived", None),
            actor,
        )
        .await?;
        write_stage(&mut change, deployment, target, Stage::Champion, actor).await?;
        write_history(
            &mut change,
            deployment,
            Slot::Model,
            target,
            "rollback",
            Some((target_stage.as_str(), target_stage.pct())),
            ("champion", None),
            actor,
        )
        .await?;
        let record = AuditRecord {
            actor: actor.to_string(),
            action: "stage.rollback".into(),
            subject: deployment.to_string(),
            before: Some(json!({ "champion": top, target.as_str(): target_stage.as_str() })),
            after: Some(json!({ "champion": target, top.as_str(): "archived" })),
            time: change.now,
        };
        change.audit(&[record]).await?;
        change.bump();
        let target = target.clone();
        change.commit().await?;
        Ok(target)
    }

    /// Makes a policy artifact the active policy of `deployment`. The previous one stays in
    /// the history for [`Registry::rollback_policy`]. Audited; bumps the revision.
    pub async fn activate_policy(
        &self,
        deployment: &str,
        policy_artifact: &str,
        actor: &str,
    ) -> Result<()> {
        self.bind(deployment, Slot::Policy, policy_artifact, actor)
            .await
    }

    /// Makes the previously active policy active again; returns its id.
    pub async fn rollback_policy(&self, deployment: &str, actor: &str) -> Result<ArtifactId> {
        self.rollback_binding(deployment, Slot::Policy, actor).await
    }

    /// Sets the feature spec `deployment` computes features with. Audited; bumps the
    /// revision.
    pub async fn set_feature_spec(
        &self,
        deployment: &str,
        spec_artifact: &str,
        actor: &str,
    ) -> Result<()> {
        self.bind(deployment, Slot::FeatureSpec, spec_artifact, actor)
            .await
    }

    async fn bind(&self, deployment: &str, slot: Slot, artifact: &str, actor: &str) -> Result<()> {
        check_ident("deployment", deployment)?;
        check_actor(actor)?;
        let mut change = Change::begin(self).await?;
        let id = resolve_kind(change.conn(), artifact, slot.kind()).await?;
        let current = binding(change.conn(), deployment, slot).await?;
        if current.as_ref() == Some(&id) {
            return Ok(());
        }
        write_binding(&mut change, deployment, slot, &id, actor).await?;
        if let Some(old) = &current {
            write_history(
                &mut change,
                deployment,
                slot,
                old,
                "superseded",
                Some((ACTIVE, None)),
                (INACTIVE, None),
                actor,
            )
            .await?;
        }
        write_history(
            &mut change,
            deployment,
            slot,
            &id,
            "set",
            None,
            (ACTIVE, None),
            actor,
        )
        .await?;
        let record = AuditRecord {
            actor: actor.to_string(),
            action: format!("{}.set", slot.as_str()),
            subject: deployment.to_string(),
            before: current.map(|c| json!({ slot.as_str(): c })),
            after: Some(json!({ slot.as_str(): id })),
            time: change.now,
        };
        change.audit(&[record]).await?;
        change.bump();
        change.commit().await
    }

    async fn rollback_binding(
        &self,
        deployment: &str,
        slot: Slot,
        actor: &str,
    ) -> Result<ArtifactId> {
        check_ident("deployment", deployment)?;
        check_actor(actor)?;
        let mut change = Change::begin(self).await?;
        let history = load_history(change.conn(), deployment, Some(slot)).await?;
        let stack = rollback_stack(&history, ACTIVE);
        let [.., target, top] = stack.as_slice() else {
            return Err(RegistryError::Conflict(format!(
                "deployment `{deployment}` has no previous {} to roll back to",
                slot.kind()
            )));
        };
        let current = binding(change.conn(), deployment, slot).await?;
        if current.as_ref() != Some(top) {
            return Err(RegistryError::Corrupt(format!(
                "the {} history of `{deployment}` ends with {top} but the active one is \
                 {current:?}",
                slot.kind()
            )));
        }
        write_binding(&mut change, deployment, slot, target, actor).await?;
        write_history(
            &mut change,
            deployment,
            slot,
            top,
            "rolled_back",
            Some((ACTIVE, None)),
            (INACTIVE, None),
            actor,
        )
        .await?;
        write_history(
            &mut change,
            deployment,
            slot,
            target,
            "rollback",
            Some((INACTIVE, None)),
            (ACTIVE, None),
            actor,
        )
        .await?;
        let record = AuditRecord {
            actor: actor.to_string(),
            action: format!("{}.rollback", slot.as_str()),
            subject: deployment.to_string(),
            before: Some(json!({ slot.as_str(): top })),
            after: Some(json!({ slot.as_str(): target })),
            time: change.now,
        };
        change.audit(&[record]).await?;
        change.bump();
        let target = target.clone();
        change.commit().await?;
        Ok(target)
    }

    /// What `deployment` serves: champion, challengers, shadows, policy and feature spec.
    /// `NotFound` if nothing was ever set for it.
    pub async fn deployment(&self, deployment: &str) -> Result<DeploymentState> {
        let mut conn = self.conn().await?;
        let stages = model_stages(&mut conn, deployment).await?;
        let policy = binding(&mut conn, deployment, Slot::Policy).await?;
        let feature_spec = binding(&mut conn, deployment, Slot::FeatureSpec).await?;
        if stages.is_empty() && policy.is_none() && feature_spec.is_none() {
            return Err(RegistryError::NotFound {
                what: "deployment",
                id: deployment.to_string(),
            });
        }
        let mut state = DeploymentState {
            deployment: deployment.to_string(),
            policy,
            feature_spec,
            ..DeploymentState::default()
        };
        for (artifact, stage) in stages {
            match stage {
                Stage::Champion => state.champion = Some(artifact),
                Stage::Challenger { pct } => state.challengers.push(Challenger { artifact, pct }),
                Stage::Shadow => state.shadows.push(artifact),
                Stage::Archived => {}
            }
        }
        Ok(state)
    }

    /// Names of all deployments, sorted.
    pub async fn list_deployments(&self) -> Result<Vec<String>> {
        let mut conn = self.conn().await?;
        let rows = sqlx::query(
            "SELECT deployment FROM model_stages UNION SELECT deployment FROM deployment_bindings \
             ORDER BY 1",
        )
        .fetch_all(&mut *conn)
        .await
        .ctx("listing deployments")?;
        rows.iter()
            .map(|r| r.try_get(0).ctx("listing deployments"))
            .collect()
    }

    /// Every stage, policy and feature-spec change of `deployment`, oldest first.
    pub async fn history(&self, deployment: &str) -> Result<Vec<HistoryEntry>> {
        let mut conn = self.conn().await?;
        load_history(&mut conn, deployment, None).await
    }
}
