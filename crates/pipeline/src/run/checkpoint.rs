//! Per-partition checkpoint files: the format, restore, and taking one (in line or in
//! the background while Kafka acknowledges).

#[allow(unused_imports)]
use super::*;
#[allow(unused_imports)]
use super::{meters::*, outputs::*, registry_out::*, repartition::*, stage::*};
use riskstream_connectors::sink::Sink;
pub(crate) const MAGIC: &[u8; 8] = b"RSPIPECK";
/// 2: adds the second stage's merge state (`[repartition]`).
pub(crate) const VERSION: u16 = 2;

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Checkpoint {
    pub(crate) name: String,
    pub(crate) partition: u32,
    pub(crate) offset: Option<u64>,
    pub(crate) line: u64,
    pub(crate) sink_len: Option<u64>,
    pub(crate) dead_letter_len: Option<u64>,
    pub(crate) decider: Vec<u8>,
    pub(crate) merge: Merge,
}

pub(crate) fn frame(c: &Checkpoint) -> Result<Vec<u8>, String> {
    let payload = postcard::to_stdvec(c).map_err(|e| e.to_string())?;
    Ok(riskstream_core::frame::seal(MAGIC, VERSION, &payload))
}

pub(crate) fn unframe(bytes: &[u8]) -> Result<Checkpoint, String> {
    let body =
        riskstream_core::frame::open(MAGIC, VERSION, "riskstream pipeline checkpoint", bytes)?;
    postcard::from_bytes(body).map_err(|e| format!("payload does not decode: {e}"))
}

/// Where an HTTP source keeps its intake log unless the config names one.
pub fn intake_log_path(cfg: &PipelineConfig) -> PathBuf {
    cfg.checkpoint_dir
        .join(format!("{}.intake.ndjson", cfg.name))
}

/// The checkpoint file of partition `p`.
pub fn checkpoint_path(cfg: &PipelineConfig, p: u32) -> PathBuf {
    cfg.checkpoint_dir.join(format!("{}.p{p}.ckpt", cfg.name))
}

pub(crate) struct Part {
    pub(crate) decider: Decider,
    pub(crate) offset: Option<u64>,
    pub(crate) line: u64,
    pub(crate) since: u64,
    /// Second stage of a repartition: the merge (empty otherwise).
    pub(crate) merge: Merge,
}

/// Partition `p` as its checkpoint left it (or new), with the file sinks' lengths to rewind
/// to (`Some(0)` without a checkpoint: outputs of an earlier, lost run would be duplicated).
pub(crate) fn restore(
    cfg: &PipelineConfig,
    spec: &FeatureSpec,
    p: u32,
    remote: &[usize],
) -> Result<(Part, Option<u64>, Option<u64>), PipelineError> {
    let path = checkpoint_path(cfg, p);
    let settle = |mut d: Decider| {
        d.set_remote_entities(remote);
        d.set_include_features(cfg.include_features);
        d.set_max_ahead(
            cfg.max_ahead
                .map(|m| i64::try_from(m.as_micros()).unwrap_or(i64::MAX)),
        );
        d
    };
    if !path.is_file() {
        let part = Part {
            decider: settle(Decider::new(spec)),
            offset: None,
            line: 1,
            since: 0,
            merge: Merge::default(),
        };
        return Ok((part, Some(0), Some(0)));
    }
    let bytes =
        riskstream_core::crypt::read_file(&path).map_err(|e| PipelineError::Checkpoint {
            path: path.clone(),
            message: e.to_string(),
        })?;
    let refuse = |m: String| PipelineError::Checkpoint {
        path: path.clone(),
        message: format!("{m}; move it away to start this partition from the beginning"),
    };
    let c = unframe(&bytes).map_err(refuse)?;
    if c.partition != p || c.name != cfg.name {
        return Err(refuse(format!(
            "written for pipeline `{}` partition {}",
            c.name, c.partition
        )));
    }
    let decider = settle(Decider::restore(spec, &c.decider).map_err(|e| refuse(e.to_string()))?);
    // A state an earlier version let a far-future event into would refuse every real one
    // as late: say so instead of running.
    decider.check_state_time().map_err(|e| {
        refuse(format!(
            "{e} (a far-future event accepted before the guard existed)"
        ))
    })?;
    let part = Part {
        decider,
        offset: c.offset,
        line: c.line,
        since: 0,
        merge: c.merge,
    };
    Ok((part, c.sink_len, c.dead_letter_len))
}

/// The offset partition `p`'s checkpoint covers, for a consumer group's assignment (an
/// unreadable checkpoint reads as none here; restoring it then stops the run with the reason).
pub(crate) fn checkpointed_offset(cfg: &PipelineConfig, p: u32) -> Option<u64> {
    let bytes = riskstream_core::crypt::read_file(&checkpoint_path(cfg, p)).ok()?;
    unframe(&bytes).ok()?.offset
}

/// A checkpoint taken but not yet written: its files wait until every Kafka output queued
/// before it is acknowledged, while the pipeline goes on. A checkpoint must never cover an
/// output the sink might not hold; waiting for the acknowledgements in line (as a blocking
/// checkpoint does) stops the stream for as long as the broker's slowest ack.
pub(crate) struct PendingCheckpoint {
    pub(crate) sink: Option<u64>,
    pub(crate) dead: Option<u64>,
    pub(crate) files: Vec<(PathBuf, Vec<u8>)>,
    pub(crate) started: Instant,
}

/// Every partition's checkpoint bytes, now (the outputs they cover must be made durable
/// before the files are written); resets the per-partition counters.
pub(crate) fn snapshot_all(
    cfg: &PipelineConfig,
    parts: &mut BTreeMap<u32, Part>,
    out: &Outputs,
    meters: &Meters,
) -> Result<Vec<(PathBuf, Vec<u8>)>, PipelineError> {
    let mut files = Vec::with_capacity(parts.len());
    for (&p, part) in parts.iter_mut() {
        let path = checkpoint_path(cfg, p);
        let err = |m: String| PipelineError::Checkpoint {
            path: path.clone(),
            message: m,
        };
        let c = Checkpoint {
            name: cfg.name.clone(),
            partition: p,
            offset: part.offset,
            line: part.line,
            sink_len: out.sink.len(p),
            dead_letter_len: out.dead.len(p + out.dl_shift),
            decider: part.decider.snapshot().map_err(|e| err(e.to_string()))?,
            merge: std::mem::take(&mut part.merge),
        };
        let framed = frame(&c);
        part.merge = c.merge;
        files.push((path.clone(), framed.map_err(&err)?));
        part.since = 0;
        if let (Some(g), Some(o)) = (meters.offset.get(&p), part.offset) {
            g.set(o as f64);
        }
    }
    Ok(files)
}

pub(crate) fn write_checkpoints(
    files: &[(PathBuf, Vec<u8>)],
    meters: &Meters,
    lag: BTreeMap<u32, u64>,
    started: Instant,
) -> Result<(), PipelineError> {
    for (path, bytes) in files {
        riskstream_core::crypt::write_file(path, bytes).map_err(|e| PipelineError::Checkpoint {
            path: path.clone(),
            message: e.to_string(),
        })?;
    }
    for (p, l) in lag {
        if let Some(g) = meters.lag.get(&p) {
            g.set(l as f64);
        }
    }
    meters.checkpoints.increment(1);
    meters
        .checkpoint_seconds
        .record(started.elapsed().as_secs_f64());
    meters.last_checkpoint.set(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0),
    );
    Ok(())
}

/// Flushes the outputs (sink, dead letters, registry), then writes every partition's
/// checkpoint; updates the checkpoint, offset and lag metrics. Supersedes a pending one.
pub(crate) async fn checkpoint(
    cfg: &PipelineConfig,
    parts: &mut BTreeMap<u32, Part>,
    out: &mut Outputs,
    meters: &Meters,
    lag: BTreeMap<u32, u64>,
) -> Result<(), PipelineError> {
    let t0 = Instant::now();
    out.flush().await?;
    let files = snapshot_all(cfg, parts, out, meters)?;
    write_checkpoints(&files, meters, lag, t0)
}

/// Takes a checkpoint without waiting for Kafka's acknowledgements: files, NATS and the
/// registry are made durable now (they answer quickly); Kafka outputs get a ticket, and
/// [`finish_checkpoint`] writes the files once both tickets are delivered.
pub(crate) async fn begin_checkpoint(
    cfg: &PipelineConfig,
    parts: &mut BTreeMap<u32, Part>,
    out: &mut Outputs,
    meters: &Meters,
) -> Result<PendingCheckpoint, PipelineError> {
    let started = Instant::now();
    let ticket = async |o: &mut Out| -> Result<Option<u64>, PipelineError> {
        match o.ticket() {
            Some(t) => Ok(Some(t)),
            None => o.flush().await.map(|()| None).map_err(PipelineError::from),
        }
    };
    let sink_t = ticket(&mut out.sink).await?;
    let dead_t = ticket(&mut out.dead).await?;
    if let Some(r) = &mut out.reg {
        r.flush().await?;
    }
    let files = snapshot_all(cfg, parts, out, meters)?;
    Ok(PendingCheckpoint {
        sink: sink_t,
        dead: dead_t,
        files,
        started,
    })
}

/// Writes a pending checkpoint if everything it covers is acknowledged; true when written.
pub(crate) fn finish_checkpoint(
    pc: &PendingCheckpoint,
    out: &Outputs,
    meters: &Meters,
    source: &Source,
) -> Result<bool, PipelineError> {
    for (o, t) in [(&out.sink, pc.sink), (&out.dead, pc.dead)] {
        if let Some(t) = t {
            if !o.delivered(t)? {
                return Ok(false);
            }
        }
    }
    write_checkpoints(&pc.files, meters, source.lag(), pc.started)?;
    Ok(true)
}
