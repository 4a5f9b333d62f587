//! Writing one decision (sink, registry) or the reason it could not be made (dead letters).

#[allow(unused_imports)]
use super::*;
#[allow(unused_imports)]
use super::{checkpoint::*, meters::*, registry_out::*, repartition::*, stage::*};
use riskstream_connectors::sink::Sink;
/// Decisions or dead letters: any sink kind ([`riskstream_connectors::sink`]).
pub(crate) type Out = riskstream_connectors::sink::AnySink;
/// The pipeline's input: any source kind ([`riskstream_connectors::source`]).
pub(crate) type Source = riskstream_connectors::source::AnySource;

/// The decision as written: everything but the latency (which differs run to run, and an
/// output must be the same whether or not the run was interrupted).
pub(crate) fn decision_value(d: &riskstream_decide::Decision) -> serde_json::Value {
    let mut v = serde_json::to_value(d).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.remove("latency_us");
    }
    v
}

/// A refused record as its dead letter holds it. With `pii` fields in the schema (`pii`),
/// the payload's fields are treated as the decision path treats them
/// (`Decider::protect`: tokens, masks, dropped fields left out; in a forwarded record of a
/// repartition topic, its `tx` too), then every Luhn-valid 13–19 digit run left anywhere
/// in the letter (a payload that is not a JSON object, a reason quoting a value) is starred
/// but its last four, as the features command's dead letters are. Why here: a dead letter
/// is kept to be repaired and replayed, so without this it would be the one place a card
/// number survives in clear. Without `pii` fields the payload is kept exactly.
pub(crate) fn dead_letter_bytes(
    origin: &str,
    reason: &str,
    field: Option<&str>,
    payload: &[u8],
    pii: bool,
    decider: Option<&riskstream_decide::Decider>,
) -> Vec<u8> {
    let treated = match decider.filter(|_| pii) {
        Some(d) => protect_payload(d, payload),
        None => std::borrow::Cow::Borrowed(payload),
    };
    let mut b = serde_json::to_vec(&serde_json::json!({
        "origin": origin,
        "reason": reason,
        "field": field,
        "payload": String::from_utf8_lossy(&treated),
    }))
    .unwrap_or_default();
    if pii {
        // Every value in the letter is a JSON string, so starring digits keeps it JSON.
        riskstream_core::pii::scan::redact_pans(&mut b);
    }
    b
}

/// A JSON object payload with its `pii` fields treated; anything else as it is.
fn protect_payload<'a>(
    d: &riskstream_decide::Decider,
    payload: &'a [u8],
) -> std::borrow::Cow<'a, [u8]> {
    use serde_json::Value;
    let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(payload) else {
        return std::borrow::Cow::Borrowed(payload);
    };
    let mut m = d.protect(&m).into_owned();
    if let Some(Value::Object(tx)) = m.get("tx") {
        let tx = d.protect(tx).into_owned();
        m.insert("tx".into(), Value::Object(tx));
    }
    serde_json::to_vec(&Value::Object(m))
        .map(std::borrow::Cow::Owned)
        .unwrap_or(std::borrow::Cow::Borrowed(payload))
}

/// A stage's outputs: decisions, dead letters and (`[registry]`) cases and audit records.
pub(crate) struct Outputs {
    pub(crate) sink: Out,
    pub(crate) dead: Out,
    pub(crate) reg: Option<RegistryOut>,
    /// Dead letters of partition `p` go to `p + dl_shift` (a second stage numbers its own
    /// after the source's).
    pub(crate) dl_shift: u32,
    /// The schema has `pii` fields: dead letters are treated ([`dead_letter_bytes`]).
    pub(crate) pii: bool,
}

/// Where one output comes from.
pub(crate) struct At<'a> {
    /// The partition.
    pub(crate) p: u32,
    /// The source position it was made from (a second stage: its own output number).
    pub(crate) offset: u64,
    /// Its id in the outputs (`p-offset`).
    pub(crate) id: &'a str,
    /// Where the record came from, for dead letters.
    pub(crate) origin: &'a str,
    /// The record's bytes, for dead letters.
    pub(crate) payload: &'a [u8],
    /// When the broker stored it (latency).
    pub(crate) stored_us: Option<i64>,
    /// Added to `p` for the dead-letter partition.
    pub(crate) dl_shift: u32,
    /// The partition's decider, to treat a refused record's `pii` fields.
    pub(crate) decider: &'a riskstream_decide::Decider,
}

impl Outputs {
    /// Writes a decision (sink, registry) or the reason it could not be made (dead
    /// letters); false when the output was suppressed as already written.
    pub(crate) async fn emit(
        &mut self,
        d: Result<riskstream_decide::Decision, riskstream_decide::DecideError>,
        at: At<'_>,
        report: &mut Report,
        meters: &mut Meters,
    ) -> Result<bool, PipelineError> {
        Ok(match d {
            Ok(d) => {
                meters.observe_latency(at.stored_us);
                let v = decision_value(&d);
                if let Some(r) = &mut self.reg {
                    let (c, a) = r.write(at.p, at.offset, &d, &v).await?;
                    report.cases += c;
                    report.audited += a;
                    meters.cases.increment(c);
                    meters.audited.increment(a);
                }
                let body = serde_json::to_vec(&v).unwrap_or_default();
                let w = self.sink.write(at.p, at.offset, at.id, body).await?;
                report.decisions += u64::from(w);
                meters.decisions.increment(u64::from(w));
                w
            }
            Err(e) => {
                let b = dead_letter_bytes(
                    at.origin,
                    &e.to_string(),
                    e.field(),
                    at.payload,
                    self.pii,
                    Some(at.decider),
                );
                self.dead_letter(at.p + at.dl_shift, at.offset, at.id, b, report, meters)
                    .await?
            }
        })
    }

    /// Writes one dead letter to dead-letter partition `q`; false when suppressed.
    pub(crate) async fn dead_letter(
        &mut self,
        q: u32,
        offset: u64,
        id: &str,
        bytes: Vec<u8>,
        report: &mut Report,
        meters: &mut Meters,
    ) -> Result<bool, PipelineError> {
        let w = self.dead.write(q, offset, id, bytes).await?;
        report.dead_letters += u64::from(w);
        meters.dead_letters.increment(u64::from(w));
        Ok(w)
    }

    /// Makes every output durable: sink, dead letters, registry.
    pub(crate) async fn flush(&mut self) -> Result<(), PipelineError> {
        self.sink.flush().await?;
        self.dead.flush().await?;
        if let Some(r) = &mut self.reg {
            r.flush().await?;
        }
        Ok(())
    }
}
