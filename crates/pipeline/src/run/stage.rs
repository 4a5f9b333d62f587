//! One stage of a run, as a [`StageRunner`] with a lifecycle:
//!
//! ```text
//!  open ─▶ (restore every owned partition from its checkpoint; open outputs and source)
//!   └─▶ step ─▶ step ─▶ … one record (or one idle poll) each; checkpoints as they fall due
//!        └─▶ finish ─▶ (last watermarks, final checkpoint, the report)
//! ```
//!
//! Why a type and not one long function: each concern (ownership changes, a record of each
//! stage kind, idling, checkpoints) is a method a reader can take in on its own, and the
//! state they share is named in one place.

use super::quality::QualityRun;
#[allow(unused_imports)]
use super::*;
#[allow(unused_imports)]
use super::{checkpoint::*, meters::*, outputs::*, registry_out::*, repartition::*};
use riskstream_connectors::kafka::{FlushFn, Ownership, ResumeFn};
use riskstream_connectors::sink::{Sink, SinkOpen};
use riskstream_connectors::source::SourceOpen;
use riskstream_connectors::Record;
/// Whether [`StageRunner::step`] wants another step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Go on.
    More,
    /// The input ended (a file, or idle past `stop_when_idle`).
    Ended,
}

/// One stage's state between steps.
pub(crate) struct StageRunner {
    cfg: PipelineConfig,
    stage: Stage,
    spec: FeatureSpec,
    /// Entity fields whose features arrive with the record (second stage).
    remote: Vec<usize>,
    dep: Arc<Deployment>,
    lists: Lists,
    meters: Meters,
    parts: BTreeMap<u32, Part>,
    out: Outputs,
    source: Source,
    report: Report,
    rep_report: RepartitionReport,
    t0: Instant,
    last_ckpt: Instant,
    idle_since: Instant,
    poll: Duration,
    /// First stage: what each source partition has forwarded, for the watermarks.
    announce: BTreeMap<u32, Announce>,
    last_announce: Instant,
    released: Vec<Held>,
    /// Checkpoints wait for Kafka's acknowledgements off the hot path, except in a
    /// consumer group: there a revoked partition's late checkpoint could overwrite its
    /// next owner's.
    background: bool,
    pending: Option<PendingCheckpoint>,
    upstream_done: Option<Arc<AtomicBool>>,
    /// `[quality] checks`, on the stages that read the source (not a second stage).
    quality: Option<QualityRun>,
}

fn fresh_announce() -> Announce {
    Announce {
        input_at: Some(Instant::now()),
        ..Announce::default()
    }
}

/// Why a record's payload is not a transaction, if it is not a JSON object.
fn parse_object(payload: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    match serde_json::from_slice::<serde_json::Value>(payload) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        Ok(other) => Err(format!(
            "a transaction must be a JSON object, not {}",
            match other {
                serde_json::Value::Array(_) => "an array",
                serde_json::Value::String(_) => "a string",
                serde_json::Value::Number(_) => "a number",
                serde_json::Value::Bool(_) => "a boolean",
                _ => "null",
            }
        )),
        Err(e) => Err(format!("not valid JSON: {e}")),
    }
}

impl StageRunner {
    /// Restores every owned partition from its checkpoint (or starts it afresh) and opens
    /// the outputs, then the source after the restored positions. `from` is the source's
    /// entity field with `[repartition]`; `upstream_done` tells a second stage its first
    /// stage in this process has stopped (it stops after that, once idle).
    pub(crate) async fn open(
        cfg: PipelineConfig,
        spec: FeatureSpec,
        dep: Arc<Deployment>,
        stage: Stage,
        from: Option<usize>,
        upstream_done: Option<Arc<AtomicBool>>,
    ) -> Result<Self, PipelineError> {
        let t0 = Instant::now();
        let mut report = Report::default();
        let remote = stage.remote(&spec, from);
        std::fs::create_dir_all(&cfg.checkpoint_dir).map_err(|e| PipelineError::Checkpoint {
            path: cfg.checkpoint_dir.clone(),
            message: e.to_string(),
        })?;
        let owned = cfg.owned_partitions();
        let meters = Meters::new(&cfg.name, &owned)?;
        // Dead letters: the source's partitions, then (second stage) the repartition topic's.
        let n = cfg.partitions();
        let (dl_parts, dl_shift) = match &stage {
            Stage::Forward(f) => (n + f.rep.partitions, 0),
            Stage::Decide(Some(m)) => (m.upstream + n, m.upstream),
            Stage::Decide(None) => (n, 0),
        };

        let mut parts: BTreeMap<u32, Part> = BTreeMap::new();
        let mut sink_rewind = BTreeMap::new();
        let mut dl_rewind = BTreeMap::new();
        for &p in &owned {
            let (part, sink_len, dl_len) = restore(&cfg, &spec, p, &remote)?;
            sink_rewind.insert(p, sink_len);
            dl_rewind.insert(p + dl_shift, dl_len);
            if let Some(o) = part.offset {
                report.restored.push((p, o));
            }
            parts.insert(p, part);
        }
        // Per owned partition: the source offset the checkpoint covers (None: no
        // checkpoint). A second stage numbers its outputs itself (they leave in the
        // merge's order).
        let resume: BTreeMap<u32, Option<u64>> = parts
            .iter()
            .map(|(&p, s)| {
                let o = match &stage {
                    Stage::Decide(Some(_)) => s.merge.outputs.checked_sub(1),
                    _ => s.offset,
                };
                (p, o)
            })
            .collect();
        let sink = match &stage {
            // Nothing is suppressed here: the second stage drops what it already has.
            Stage::Forward(f) => {
                Out::kafka_plain(&f.rep.brokers, &f.rep.topic, f.rep.partitions).await?
            }
            Stage::Decide(_) => {
                cfg.sink
                    .build(SinkOpen {
                        prefix: "decisions",
                        partitions: n,
                        owned: &owned,
                        rewind: &sink_rewind,
                        resume: &resume,
                    })
                    .await?
            }
        };
        let dl_owned: Vec<u32> = owned.iter().map(|p| p + dl_shift).collect();
        let dl_resume: BTreeMap<u32, Option<u64>> =
            resume.iter().map(|(p, o)| (p + dl_shift, *o)).collect();
        let dead = cfg
            .dead_letter
            .build(SinkOpen {
                prefix: "dead-letters",
                partitions: dl_parts,
                owned: &dl_owned,
                rewind: &dl_rewind,
                resume: &dl_resume,
            })
            .await?;
        let reg = match &cfg.registry {
            Some(r) => Some(RegistryOut::open(r, &cfg.name).await?),
            None => None,
        };
        let out = Outputs {
            sink,
            dead,
            reg,
            dl_shift,
            pii: spec.schema.pii_fields().next().is_some(),
        };
        let source = open_source(&cfg, &parts, &owned, &out, &spec.schema).await?;
        let poll = IDLE_POLL.min(match &stage {
            Stage::Forward(f) => f.rep.watermark_interval,
            Stage::Decide(_) => IDLE_POLL,
        });
        let announce = owned.iter().map(|&p| (p, fresh_announce())).collect();
        let quality = match &stage {
            Stage::Decide(Some(_)) => None,
            _ => QualityRun::open(&cfg, &spec)?,
        };
        Ok(Self {
            background: cfg.group.is_none(),
            cfg,
            stage,
            spec,
            remote,
            dep,
            lists: Lists::new(),
            meters,
            parts,
            out,
            source,
            report,
            rep_report: RepartitionReport::default(),
            t0,
            last_ckpt: Instant::now(),
            idle_since: Instant::now(),
            poll,
            announce,
            last_announce: Instant::now(),
            released: Vec::new(),
            pending: None,
            upstream_done,
            quality,
        })
    }

    /// Runs steps until the input ends or `stop` is set, then finishes.
    pub(crate) async fn run(mut self, stop: &AtomicBool) -> Result<Report, PipelineError> {
        let ended = loop {
            if stop.load(Ordering::Relaxed) {
                break false;
            }
            if self.step().await? == Step::Ended {
                break true;
            }
        };
        self.finish(ended).await
    }

    /// One record, or one idle poll: finishes a pending checkpoint that is acknowledged,
    /// announces progress (first stage), follows ownership changes, handles the record and
    /// takes a checkpoint when one is due.
    pub(crate) async fn step(&mut self) -> Result<Step, PipelineError> {
        if let Some(pc) = &self.pending {
            if finish_checkpoint(pc, &self.out, &self.meters, &self.source)? {
                self.pending = None;
                self.report.checkpoints += 1;
            }
        }
        if let Stage::Forward(f) = &self.stage {
            if self.last_announce.elapsed() >= f.rep.watermark_interval {
                self.rep_report.watermarks +=
                    announce_progress(f, &mut self.announce, &mut self.out.sink, false).await?;
                self.last_announce = Instant::now();
            }
        }
        let rec = self.source.next_record(self.poll).await?;
        if let (Some(line), Some(part), Some(_)) =
            (self.source.line(), self.parts.get_mut(&0), &rec)
        {
            part.line = line;
        }
        self.follow_ownership()?;
        let Some(rec) = rec else {
            return self.idle().await;
        };
        self.idle_since = Instant::now();
        self.report.records += 1;
        self.meters.records.increment(1);
        let p = rec.partition;
        if !self.parts.contains_key(&p) {
            return Ok(Step::More);
        }
        // Data-quality checks see the record before it is decided; one a quarantine check
        // refuses goes to the dead letters instead.
        // Only with checks configured: the decider parses the record again (a second parse
        // no pipeline without `[quality]` pays).
        let quarantined = match self.quality.as_mut() {
            Some(q) => match parse_object(&rec.payload) {
                Ok(m) => q.observe(&m, &self.spec.schema)?,
                Err(_) => None,
            },
            None => None,
        };
        let written = match &self.stage {
            _ if quarantined.is_some() => {
                let reason = quarantined.map(|q| q.reason).unwrap_or_default();
                self.quarantine(&rec, &reason).await?
            }
            Stage::Decide(None) => self.decide(&rec).await?,
            Stage::Forward(_) => self.forward(&rec).await?,
            Stage::Decide(Some(_)) => self.merge(&rec).await?,
        };
        self.report.suppressed += u64::from(!written);
        self.meters.suppressed.increment(u64::from(!written));
        let Some(part) = self.parts.get_mut(&p) else {
            return Ok(Step::More);
        };
        part.offset = Some(rec.offset);
        part.since += 1;
        let due = part.since >= self.cfg.checkpoint_every;
        if let Some(a) = self.announce.get_mut(&p) {
            a.input_at = Some(Instant::now());
            a.idle_sent = false;
        }
        if due || self.last_ckpt.elapsed() >= self.cfg.checkpoint_interval {
            self.take_checkpoint().await?;
        }
        Ok(Step::More)
    }

    /// Nothing arrived: ends at the end of a file or after `stop_when_idle`, otherwise
    /// takes a checkpoint if one is due.
    async fn idle(&mut self) -> Result<Step, PipelineError> {
        if self.source.ends() {
            return Ok(Step::Ended);
        }
        if self.source.returns_when_idle() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let upstream_running = self
            .upstream_done
            .as_ref()
            .is_some_and(|d| !d.load(Ordering::Relaxed));
        // A second stage whose first stage has stopped drains the topic, then stops.
        let idle_stop = match &self.upstream_done {
            Some(_) => Some(self.cfg.stop_when_idle.unwrap_or(Duration::from_secs(2))),
            None => self.cfg.stop_when_idle,
        };
        if !upstream_running && idle_stop.is_some_and(|idle| self.idle_since.elapsed() >= idle) {
            return Ok(Step::Ended);
        }
        if self.last_ckpt.elapsed() >= self.cfg.checkpoint_interval
            && self.parts.values().any(|s| s.since > 0)
        {
            self.take_checkpoint().await?;
        }
        Ok(Step::More)
    }

    /// A consumer group moved partitions: restore the assigned ones from their
    /// checkpoints, forget the revoked ones.
    fn follow_ownership(&mut self) -> Result<(), PipelineError> {
        for change in self.source.take_ownership_changes() {
            match change {
                Ownership::Assigned(given) => {
                    for (p, after) in given {
                        let (part, _, _) = restore(&self.cfg, &self.spec, p, &self.remote)?;
                        if part.offset != after {
                            return Err(PipelineError::Checkpoint {
                                path: checkpoint_path(&self.cfg, p),
                                message: format!(
                                    "changed while partition {p} was being assigned (another worker still writes it?); restart this worker"
                                ),
                            });
                        }
                        // The first stage's repartition output suppresses nothing.
                        if !matches!(self.stage, Stage::Forward(_)) {
                            self.out.sink.adopt(p)?;
                        }
                        self.out.dead.adopt(p + self.out.dl_shift)?;
                        self.announce.insert(p, fresh_announce());
                        self.meters.track(&self.cfg.name, p);
                        if let Some(o) = part.offset {
                            self.report.restored.push((p, o));
                        }
                        self.parts.insert(p, part);
                    }
                }
                Ownership::Revoked(ps) => {
                    for p in ps {
                        self.parts.remove(&p);
                        self.out.sink.release(p);
                        self.out.dead.release(p + self.out.dl_shift);
                        self.announce.remove(&p);
                    }
                }
            }
        }
        Ok(())
    }

    /// A pipeline without `[repartition]`: decide and write. False when suppressed.
    async fn decide(&mut self, rec: &Record) -> Result<bool, PipelineError> {
        let p = rec.partition;
        let id = format!("{p}-{}", rec.offset);
        let Some(part) = self.parts.get_mut(&p) else {
            return Ok(true);
        };
        let d = match parse_object(&rec.payload) {
            Ok(m) => Ok(part.decider.decide(&m, &self.dep, &self.lists)),
            Err(reason) => Err(reason),
        };
        match d {
            Ok(d) => {
                let at = At {
                    p,
                    offset: rec.offset,
                    id: &id,
                    origin: &rec.origin,
                    payload: &rec.payload,
                    stored_us: rec.stored_us,
                    dl_shift: 0,
                    decider: &part.decider,
                };
                self.out
                    .emit(d, at, &mut self.report, &mut self.meters)
                    .await
            }
            Err(reason) => self.bad_record(rec, &id, &reason).await,
        }
    }

    /// A record a data-quality check refused: to the dead letters with the check's reason,
    /// its `pii` fields treated as the decider treats them.
    async fn quarantine(&mut self, rec: &Record, reason: &str) -> Result<bool, PipelineError> {
        let p = rec.partition;
        let id = format!("{p}-{}", rec.offset);
        let decider = self.parts.get(&p).map(|part| &part.decider);
        let b = dead_letter_bytes(
            &rec.origin,
            reason,
            None,
            &rec.payload,
            self.out.pii,
            decider,
        );
        self.out
            .dead_letter(p, rec.offset, &id, b, &mut self.report, &mut self.meters)
            .await
    }

    /// A record that is not a JSON object goes to the dead letters.
    async fn bad_record(
        &mut self,
        rec: &Record,
        id: &str,
        reason: &str,
    ) -> Result<bool, PipelineError> {
        // Not a JSON object: nothing to treat field by field, card numbers still starred.
        let b = dead_letter_bytes(&rec.origin, reason, None, &rec.payload, self.out.pii, None);
        self.out
            .dead_letter(
                rec.partition,
                rec.offset,
                id,
                b,
                &mut self.report,
                &mut self.meters,
            )
            .await
    }

    /// First stage of a repartition: the source entity's features, forwarded to the
    /// repartition partition of the other entity. False when suppressed.
    async fn forward(&mut self, rec: &Record) -> Result<bool, PipelineError> {
        let p = rec.partition;
        let id = format!("{p}-{}", rec.offset);
        let Stage::Forward(f) = &self.stage else {
            return Ok(true);
        };
        let Some(part) = self.parts.get_mut(&p) else {
            return Ok(true);
        };
        let m = match parse_object(&rec.payload) {
            Ok(m) => m,
            Err(reason) => return self.bad_record(rec, &id, &reason).await,
        };
        let x = match part.decider.features(&m, Some(f.by)) {
            Ok(x) => x,
            Err(e) => {
                let at = At {
                    p,
                    offset: rec.offset,
                    id: &id,
                    origin: &rec.origin,
                    payload: &rec.payload,
                    stored_us: None,
                    dl_shift: 0,
                    decider: &part.decider,
                };
                return self
                    .out
                    .emit(Err(e), at, &mut self.report, &mut self.meters)
                    .await;
            }
        };
        let q = x.key.as_deref().map_or(0, |k| {
            (xxhash_rust::xxh3::xxh3_64(k.as_bytes()) % u64::from(f.rep.partitions)) as u32
        });
        let body = Forwarded::Transaction(ForwardedTx {
            spec: f.spec.clone(),
            from: p,
            offset: rec.offset,
            time: x.time,
            order: x.order,
            stored: rec.stored_us,
            features: f
                .feats
                .iter()
                .map(|(i, name)| {
                    let v = x.values[*i];
                    (name.clone(), v.is_finite().then_some(v))
                })
                .collect(),
            tx: m,
        });
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        self.out.sink.write(q, rec.offset, &id, bytes).await?;
        self.rep_report.forwarded += 1;
        if let Some(a) = self.announce.get_mut(&p) {
            a.last = Some((x.time, x.order, rec.offset));
            a.sent = false;
        }
        Ok(true)
    }

    /// Second stage of a repartition: take the forwarded record into the merge, then
    /// decide every transaction the merge releases (in event-time order). A record the
    /// merge refuses goes to the dead letters. False when that dead letter was suppressed.
    async fn merge(&mut self, rec: &Record) -> Result<bool, PipelineError> {
        let p = rec.partition;
        let Stage::Decide(Some(ms)) = &self.stage else {
            return Ok(true);
        };
        let Some(part) = self.parts.get_mut(&p) else {
            return Ok(true);
        };
        self.rep_report.received += 1;
        let dl_shift = self.out.dl_shift;
        let mut written = true;
        let taken = parse_object(&rec.payload)
            .and_then(|m| {
                serde_json::from_value::<Forwarded>(serde_json::Value::Object(m))
                    .map_err(|e| format!("not a record of a repartition topic: {e}"))
            })
            .and_then(|r| part.merge.take(r, rec.origin.clone(), ms));
        match taken {
            Ok(true) => {}
            Ok(false) => self.rep_report.duplicates += 1,
            Err(reason) => {
                let k = part.merge.outputs;
                part.merge.outputs += 1;
                let b = dead_letter_bytes(
                    &rec.origin,
                    &reason,
                    None,
                    &rec.payload,
                    self.out.pii,
                    Some(&part.decider),
                );
                written = self
                    .out
                    .dead_letter(
                        p + dl_shift,
                        k,
                        &format!("{p}-{k}"),
                        b,
                        &mut self.report,
                        &mut self.meters,
                    )
                    .await?;
            }
        }
        let early = part.merge.released_early;
        while let Some(h) = part.merge.release(ms.upstream, ms.max_held) {
            self.released.push(h);
        }
        self.meters
            .released_early
            .increment(part.merge.released_early - early);
        self.meters.held.set(part.merge.held() as f64);
        for h in self.released.drain(..) {
            let k = part.merge.outputs;
            part.merge.outputs += 1;
            let remote: Vec<(usize, f64)> = ms
                .feats
                .iter()
                .copied()
                .zip(h.remote.iter().copied())
                .collect();
            let d = part
                .decider
                .decide_with(&h.tx, &remote, &self.dep, &self.lists);
            // The transaction's text is needed only for a dead letter.
            let payload = if d.is_err() {
                serde_json::to_vec(&h.tx).unwrap_or_default()
            } else {
                Vec::new()
            };
            let at = At {
                p,
                offset: k,
                id: &format!("{p}-{k}"),
                origin: &h.origin,
                payload: &payload,
                stored_us: h.stored,
                dl_shift,
                decider: &part.decider,
            };
            let w = self
                .out
                .emit(d, at, &mut self.report, &mut self.meters)
                .await?;
            self.report.suppressed += u64::from(!w);
            self.meters.suppressed.increment(u64::from(!w));
        }
        Ok(written)
    }

    /// A checkpoint now: in line in a consumer group, otherwise begun in the background
    /// (unless one is pending already).
    async fn take_checkpoint(&mut self) -> Result<(), PipelineError> {
        if !self.background {
            checkpoint(
                &self.cfg,
                &mut self.parts,
                &mut self.out,
                &self.meters,
                self.source.lag(),
            )
            .await?;
            self.report.checkpoints += 1;
            self.last_ckpt = Instant::now();
        } else if self.pending.is_none() {
            self.pending = Some(
                begin_checkpoint(&self.cfg, &mut self.parts, &mut self.out, &self.meters).await?,
            );
            self.last_ckpt = Instant::now();
        }
        Ok(())
    }

    /// The last watermarks (first stage), the final checkpoint, and the report.
    /// `ended_by_input`: the input ended, so every partition is idle.
    pub(crate) async fn finish(mut self, ended_by_input: bool) -> Result<Report, PipelineError> {
        // The final checkpoint covers more than a pending one: that one is dropped.
        self.pending = None;
        if let Stage::Forward(f) = &self.stage {
            self.rep_report.watermarks +=
                announce_progress(f, &mut self.announce, &mut self.out.sink, ended_by_input)
                    .await?;
        }
        checkpoint(
            &self.cfg,
            &mut self.parts,
            &mut self.out,
            &self.meters,
            self.source.lag(),
        )
        .await?;
        let mut report = self.report;
        report.checkpoints += 1;
        report.seconds = self.t0.elapsed().as_secs_f64();
        report.busy_seconds = if report.records > 0 {
            self.idle_since.duration_since(self.t0).as_secs_f64()
        } else {
            0.0
        };
        report.latency_ms = self.meters.quantiles();
        report.lag = self.source.lag();
        self.source.stop();
        if let Some(q) = self.quality.as_mut() {
            // Windows still open are judged only when the input ended, not at a stop.
            q.finish(ended_by_input)?;
            report.quality = Some(super::QualityReport {
                windows: q.windows,
                fired: q.fired_results,
                report: q.path().to_path_buf(),
            });
        }
        if !matches!(self.stage, Stage::Decide(None)) {
            let mut rep = self.rep_report;
            rep.held = self.parts.values().map(|p| p.merge.held()).sum();
            rep.released_early = self.parts.values().map(|p| p.merge.released_early).sum();
            report.repartition = Some(rep);
        }
        Ok(report)
    }
}

/// Opens the source after the restored positions; in a consumer group, assigned
/// partitions resume from their checkpoints and the Kafka outputs are flushed before a
/// partition is handed over.
async fn open_source(
    cfg: &PipelineConfig,
    parts: &BTreeMap<u32, Part>,
    owned: &[u32],
    out: &Outputs,
    schema: &riskstream_core::Schema,
) -> Result<Source, PipelineError> {
    let after: BTreeMap<u32, u64> = parts
        .iter()
        .filter_map(|(&p, s)| s.offset.map(|o| (p, o)))
        .collect();
    let file_position = parts
        .get(&0)
        .map_or((0, 1), |s| (s.offset.unwrap_or(0), s.line));
    let group = match (&cfg.group, &cfg.source) {
        (Some(group), SourceConfig::Kafka { .. }) => {
            let flushers: Vec<_> = [&out.sink, &out.dead]
                .into_iter()
                .filter_map(Out::kafka_flusher)
                .collect();
            let c = cfg.clone();
            let resume: ResumeFn = Box::new(move |p| checkpointed_offset(&c, p));
            let flush: FlushFn = Box::new(move || flushers.iter().for_each(|f| f()));
            Some((group.clone(), resume, flush))
        }
        _ => None,
    };
    Ok(cfg
        .source
        .build(SourceOpen {
            owned,
            after,
            file_position,
            default_log: intake_log_path(cfg),
            schema: Some(schema),
            group,
        })
        .await?)
}
