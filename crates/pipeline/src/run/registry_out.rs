//! The `[registry]` output: cases and decision audit records, committed in batches.

#[allow(unused_imports)]
use super::*;
#[allow(unused_imports)]
use super::{checkpoint::*, meters::*, outputs::*, repartition::*, stage::*};

/// Cases and audit records bound for the registry, committed in batches together with the
/// source offset that produced them (`Registry::pipeline_commit`). One batch commits in the
/// background while the next fills; a checkpoint waits for both, so a checkpoint never
/// covers an output the registry does not hold.
pub(crate) struct RegistryOut {
    pub(crate) reg: riskstream_registry::Registry,
    pub(crate) name: String,
    pub(crate) actor: String,
    pub(crate) audit: bool,
    /// Open a case for outcomes approve / review / decline.
    pub(crate) review: [bool; 3],
    /// Per partition: outputs from offsets up to this are already in the registry.
    pub(crate) already: BTreeMap<u32, u64>,
    pub(crate) cases: Vec<riskstream_registry::NewCase>,
    pub(crate) records: Vec<riskstream_registry::AuditRecord>,
    pub(crate) progress: BTreeMap<u32, u64>,
    pub(crate) pending:
        Option<tokio::task::JoinHandle<Result<(), riskstream_registry::RegistryError>>>,
}

/// Outputs per registry transaction.
pub(crate) const REGISTRY_BATCH: usize = 2000;

impl RegistryOut {
    pub(crate) async fn open(
        cfg: &crate::config::RegistrySinkConfig,
        name: &str,
    ) -> Result<RegistryOut, PipelineError> {
        let mut options = riskstream_registry::RegistryOptions::from_env().map_err(registry_err)?;
        if let Some(t) = &cfg.tenant {
            options = options.with_tenant(t.clone());
        }
        let reg = riskstream_registry::Registry::open_with(&cfg.url, options)
            .await
            .map_err(registry_err)?;
        let already = reg.pipeline_progress(name).await.map_err(registry_err)?;
        let on = |o: &str| cfg.review.iter().any(|r| r == o);
        Ok(RegistryOut {
            reg,
            name: name.to_string(),
            actor: format!("pipeline:{name}"),
            audit: cfg.audit,
            review: [on("approve"), on("review"), on("decline")],
            already,
            cases: Vec::new(),
            records: Vec::new(),
            progress: BTreeMap::new(),
            pending: None,
        })
    }

    /// Queues the registry's outputs of one decision: (cases opened, audit records); both
    /// zero when the registry already holds them.
    pub(crate) async fn write(
        &mut self,
        p: u32,
        offset: u64,
        d: &riskstream_decide::Decision,
        body: &serde_json::Value,
    ) -> Result<(u64, u64), PipelineError> {
        if self.already.get(&p).is_some_and(|&a| offset <= a) {
            return Ok((0, 0));
        }
        let outcome = d.outcome.as_str();
        let case = match outcome {
            "approve" => self.review[0],
            "review" => self.review[1],
            _ => self.review[2],
        };
        if case {
            self.cases.push(riskstream_registry::NewCase {
                id: format!("{}:{p}-{offset}", self.name),
                tx_id: d.tx_id.clone(),
                outcome: outcome.to_string(),
                score: d.score,
                decision: body.to_string(),
                tx: None,
            });
        }
        if self.audit {
            self.records.push(riskstream_registry::AuditRecord::now(
                self.actor.clone(),
                "decision",
                d.tx_id.clone(),
                None,
                Some(body.clone()),
            ));
        }
        if case || self.audit {
            self.progress.insert(p, offset);
            if self.cases.len() + self.records.len() >= REGISTRY_BATCH {
                self.send().await?;
            }
        }
        Ok((u64::from(case), u64::from(self.audit)))
    }

    /// Waits for the batch in flight, then starts committing the queued one.
    pub(crate) async fn send(&mut self) -> Result<(), PipelineError> {
        self.wait().await?;
        if self.progress.is_empty() {
            return Ok(());
        }
        let (reg, name) = (self.reg.clone(), self.name.clone());
        let cases = std::mem::take(&mut self.cases);
        let records = std::mem::take(&mut self.records);
        let progress = std::mem::take(&mut self.progress);
        self.pending = Some(tokio::spawn(async move {
            reg.pipeline_commit(&name, &cases, &records, &progress)
                .await
        }));
        Ok(())
    }

    pub(crate) async fn wait(&mut self) -> Result<(), PipelineError> {
        if let Some(h) = self.pending.take() {
            h.await
                .map_err(|e| PipelineError::Config(format!("registry writer stopped: {e}")))?
                .map_err(registry_err)?;
        }
        Ok(())
    }

    /// Commits everything queued and waits for it.
    pub(crate) async fn flush(&mut self) -> Result<(), PipelineError> {
        self.send().await?;
        self.wait().await
    }
}

pub(crate) fn registry_err(e: riskstream_registry::RegistryError) -> PipelineError {
    PipelineError::Registry(e)
}
