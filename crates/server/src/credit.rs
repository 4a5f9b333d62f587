//! Credit models in the service: a scorecard or a credit GBDT per stage of the `[credit]`
//! deployment, each bound to the configured reason codes, scoring one application.
//!
//! ```text
//!  registry (credit deployment: champion, challengers[pct], shadows)
//!     │ load: parse the JSON (scorecard | credit-gbdt), bind the reasons (a code for every
//!     │ characteristic), left out with the reason when either fails
//!     ▼
//!  CreditDeployment ──ArcSwap──▶ POST /v1/credit/score
//!     application {application_id, characteristic: number | string | null, …}
//!       ─▶ check every key against the loaded models' characteristics and types
//!       ─▶ route by xxh3(application_id) (the fraud challengers' rule)
//!       ─▶ score, PD, decision by the PD cut-offs, reasons for decline/review, unseen
//! ```
//!
//! Why the request is checked against every loaded model and not only the deciding one:
//! a misspelt characteristic would otherwise silently score as "missing", and the answer
//! for one application must not depend on which model its id hashes to.

use crate::config::CreditConfig;
use crate::state::short;
use riskstream_credit::{CreditError, CreditGbdt, Reasons, Scorecard, Value};
use riskstream_registry::{Registry, RegistryError, Stage};
use serde_json::{json, Map, Value as Json};
use std::collections::BTreeMap;

/// A credit model as registered: either kind `riskstream credit train` writes.
#[derive(Debug, Clone)]
pub enum CreditModel {
    /// A points table on binned characteristics.
    Scorecard(Box<Scorecard>),
    /// Gradient-boosted trees, monotone in each characteristic's trend.
    Gbdt(Box<CreditGbdt>),
}

/// What a characteristic takes in a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expects {
    /// A JSON number (or null).
    Number,
    /// A JSON string, or a number for a category written as one (or null).
    Category,
}

/// One application scored by one model.
#[derive(Debug, Clone, PartialEq)]
pub struct CreditScore {
    /// The score: the card's points, or a GBDT's log-odds on the default points scale.
    pub score: i64,
    /// Probability of default (calibrated when the model is).
    pub pd: f64,
    /// `approve`, `review` or `decline`.
    pub decision: &'static str,
    /// Adverse-action reasons (declined and referred applications only).
    pub reasons: Vec<Json>,
    /// Characteristics whose value was not seen in development.
    pub unseen: Vec<String>,
    /// A scorecard's attribute (bin label) per characteristic, in card order; empty for a
    /// GBDT. Audited with the decision, so the console can compare the applications'
    /// attributes with the development sample's (characteristic stability).
    pub attributes: Vec<(String, String)>,
}

impl CreditModel {
    /// Reads a model written by `riskstream credit train`, by its `kind`.
    pub fn parse(text: &str) -> Result<CreditModel, CreditError> {
        let kind = serde_json::from_str::<Json>(text)
            .ok()
            .and_then(|v| v.get("kind").and_then(Json::as_str).map(String::from));
        match kind.as_deref() {
            Some("credit-gbdt") => Ok(CreditModel::Gbdt(Box::new(CreditGbdt::from_json(text)?))),
            _ => Ok(CreditModel::Scorecard(Box::new(Scorecard::from_json(
                text,
            )?))),
        }
    }

    /// `scorecard` or `credit-gbdt`: the name it is registered under.
    pub fn kind(&self) -> &str {
        match self {
            CreditModel::Scorecard(c) => &c.kind,
            CreditModel::Gbdt(g) => &g.kind,
        }
    }

    /// The file format version.
    pub fn version(&self) -> u32 {
        match self {
            CreditModel::Scorecard(c) => c.version,
            CreditModel::Gbdt(g) => g.version,
        }
    }

    /// Characteristics in model order, with what each takes.
    pub fn characteristics(&self) -> Vec<(String, Expects)> {
        use riskstream_credit::binning::Rule;
        let of_rule = |r: &Rule| match r {
            Rule::Numeric { .. } => Expects::Number,
            Rule::Categorical { .. } => Expects::Category,
        };
        match self {
            CreditModel::Scorecard(c) => c
                .characteristics
                .iter()
                .map(|c| (c.name().to_string(), of_rule(&c.binning.rule)))
                .collect(),
            CreditModel::Gbdt(g) => g
                .characteristics
                .iter()
                .map(|f| {
                    let e = match &f.encoding {
                        riskstream_credit::gbdt::Encoding::Raw => Expects::Number,
                        riskstream_credit::gbdt::Encoding::Woe { binning } => {
                            of_rule(&binning.rule)
                        }
                    };
                    (f.name.clone(), e)
                })
                .collect(),
        }
    }

    /// What the registry records as its lineage: kind, characteristics, version.
    pub fn lineage(&self) -> Json {
        let names: Vec<String> = self.characteristics().into_iter().map(|c| c.0).collect();
        json!({ "kind": self.kind(), "characteristics": names, "version": self.version() })
    }

    /// The reason codes bound to this model: every characteristic needs one.
    pub fn bind_reasons(
        &self,
        cfg: &riskstream_credit::ReasonConfig,
    ) -> Result<Reasons, CreditError> {
        match self {
            CreditModel::Scorecard(c) => cfg.bind(c),
            CreditModel::Gbdt(g) => cfg.bind_names(&g.characteristic_names()),
        }
    }

    /// Scores one application (values in model order) and decides by the PD cut-offs;
    /// reasons only for declined and referred applications, as `riskstream credit score`.
    pub fn score(
        &self,
        values: &[Value<'_>],
        reasons: &Reasons,
        cfg: &CreditConfig,
    ) -> Result<CreditScore, CreditError> {
        let reason = |code: &str, text: &str, characteristic: &str| json!({ "code": code, "text": text, "characteristic": characteristic });
        let mut attributes = Vec::new();
        let (score, pd, unseen, why) = match self {
            CreditModel::Scorecard(c) => {
                let s = c.score(values);
                let why: Vec<Json> = reasons
                    .explain(&s)
                    .iter()
                    .map(|r| reason(&r.code, &r.text, &r.characteristic))
                    .collect();
                attributes = c
                    .characteristics
                    .iter()
                    .zip(&s.bins)
                    .filter_map(|(ch, &b)| {
                        let bin = ch.binning.bins.get(b)?;
                        Some((ch.name().to_string(), bin.label.clone()))
                    })
                    .collect();
                (s.score, s.pd, s.unseen, why)
            }
            CreditModel::Gbdt(g) => {
                let s = g.score(values);
                let why: Vec<Json> = g
                    .reasons(values, reasons)?
                    .iter()
                    .map(|r| reason(&r.code, &r.text, &r.characteristic))
                    .collect();
                (gbdt_score(s.log_odds), s.pd, s.unseen, why)
            }
        };
        let decision = cfg.decision(pd);
        Ok(CreditScore {
            score,
            pd,
            decision,
            reasons: if decision == "approve" {
                Vec::new()
            } else {
                why
            },
            unseen,
            attributes,
        })
    }
}

/// A GBDT's points: its log-odds on the default scorecard scale (600 points at 50:1
/// good:bad odds, 20 points to double them), as `riskstream credit score` gives them.
pub fn gbdt_score(log_odds: f64) -> i64 {
    let s = riskstream_credit::Scaling::default();
    (s.offset() - s.factor() * log_odds).round() as i64
}

/// A loaded credit model in its slot.
#[derive(Debug, Clone)]
pub struct CreditSlot {
    /// Registry id.
    pub id: String,
    /// Registered name.
    pub name: String,
    /// The model.
    pub model: CreditModel,
    /// Reasons bound to it.
    pub reasons: Reasons,
    /// Its characteristics with what each takes, in model order.
    pub characteristics: Vec<(String, Expects)>,
}

/// The credit models in force.
#[derive(Debug, Clone, Default)]
pub struct CreditDeployment {
    /// The champion, if one loaded.
    pub champion: Option<CreditSlot>,
    /// Challengers with their shares, in the registry's order.
    pub challengers: Vec<(CreditSlot, f64)>,
    /// Shadows.
    pub shadows: Vec<CreditSlot>,
    /// Staged models that did not load, with why.
    pub problems: Vec<String>,
}

impl CreditDeployment {
    /// Every loaded slot: champion, challengers, shadows.
    pub fn slots(&self) -> impl Iterator<Item = &CreditSlot> {
        self.champion
            .iter()
            .chain(self.challengers.iter().map(|c| &c.0))
            .chain(self.shadows.iter())
    }

    /// Every characteristic of a loaded model with what it takes (the first model's word
    /// when two disagree).
    pub fn characteristics(&self) -> BTreeMap<&str, Expects> {
        let mut m = BTreeMap::new();
        for s in self.slots() {
            for (n, e) in &s.characteristics {
                m.entry(n.as_str()).or_insert(*e);
            }
        }
        m
    }

    /// The challenger an application id routes to, and its bucket in [0, 100): the fraud
    /// challengers' rule, disjoint ranges [0, p1), [p1, p1 + p2), … of
    /// `xxh3(application_id) mod 10000 / 100`.
    pub fn route(&self, application_id: &str) -> (Option<&CreditSlot>, f64) {
        let b = (xxhash_rust::xxh3::xxh3_64(application_id.as_bytes()) % 10_000) as f64 / 100.0;
        let mut lo = 0.0;
        for (c, pct) in &self.challengers {
            if *pct > 0.0 && b >= lo && b < lo + pct {
                return (Some(c), b);
            }
            lo += pct.max(0.0);
        }
        (None, b)
    }
}

/// Why an application was refused: the message and the field at fault.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    /// What is wrong.
    pub message: String,
    /// The field at fault.
    pub field: String,
}

/// A checked application: its id and its values by characteristic.
#[derive(Debug, Clone)]
pub struct Application {
    /// `application_id` as sent.
    pub id: String,
    /// Characteristic values as sent (absent = missing).
    pub values: Map<String, Json>,
}

impl Application {
    /// Checks a request body against the loaded models: `application_id` a non-empty
    /// string; every other key a characteristic of some loaded model (all unknown ones
    /// named at once); every value a number, a string or null, and a number where a
    /// model bins the characteristic as numeric.
    pub fn check(
        mut body: Map<String, Json>,
        d: &CreditDeployment,
    ) -> Result<Application, Refused> {
        let id = match body.remove("application_id") {
            Some(Json::String(s)) if !s.is_empty() && s.len() <= 256 => s,
            Some(Json::String(_)) => {
                return Err(Refused {
                    message: "`application_id` must be 1 to 256 bytes".into(),
                    field: "application_id".into(),
                })
            }
            Some(other) => {
                return Err(Refused {
                    message: format!(
                        "`application_id` must be a string, not {}",
                        json_type(&other)
                    ),
                    field: "application_id".into(),
                })
            }
            None => {
                return Err(Refused {
                    message: "`application_id` is missing: every application needs an id (audit subject and challenger routing)".into(),
                    field: "application_id".into(),
                })
            }
        };
        let known = d.characteristics();
        let unknown: Vec<&str> = body
            .keys()
            .map(String::as_str)
            .filter(|k| !known.contains_key(k))
            .collect();
        if let Some(first) = unknown.first() {
            let names: Vec<&str> = known.keys().copied().collect();
            let hint = riskstream_core::diag::did_you_mean(first, names.iter().copied())
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            return Err(Refused {
                message: format!(
                    "not a characteristic of any credit model in force: {}{hint}; the characteristics are {}",
                    unknown
                        .iter()
                        .map(|u| format!("`{u}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    names.join(", ")
                ),
                field: (*first).to_string(),
            });
        }
        for (k, v) in &body {
            let expects = known.get(k.as_str()).copied();
            let ok = match v {
                Json::Null | Json::Number(_) => true,
                Json::String(_) => expects != Some(Expects::Number),
                Json::Bool(_) | Json::Array(_) | Json::Object(_) => false,
            };
            if !ok {
                let want = match expects {
                    Some(Expects::Number) => "a number (or null for missing)",
                    _ => "a string or a number (or null for missing)",
                };
                return Err(Refused {
                    message: format!("`{k}` must be {want}, not {}", json_type(v)),
                    field: k.clone(),
                });
            }
        }
        Ok(Application { id, values: body })
    }

    /// The values of `slot`'s characteristics, in its order (absent or null = missing).
    pub fn values_for<'a>(&'a self, slot: &CreditSlot) -> Vec<Value<'a>> {
        slot.characteristics
            .iter()
            .map(|(n, e)| match (self.values.get(n), e) {
                (None | Some(Json::Null), Expects::Number) => Value::Num(f64::NAN),
                (None | Some(Json::Null), Expects::Category) => Value::Cat(None),
                (Some(Json::Number(x)), _) => Value::Num(x.as_f64().unwrap_or(f64::NAN)),
                (Some(Json::String(s)), _) => Value::Cat(Some(s.as_str())),
                // Refused by `check`.
                (Some(_), _) => Value::Cat(None),
            })
            .collect()
    }
}

fn json_type(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// Builds the credit deployment from the registry. A model that does not parse or whose
/// characteristics lack a reason code is left out, and why is kept in `problems`.
pub async fn load(
    registry: &Registry,
    cfg: &CreditConfig,
) -> Result<CreditDeployment, RegistryError> {
    let st = match registry.deployment(&cfg.deployment).await {
        Ok(s) => s,
        Err(RegistryError::NotFound { .. }) => return Ok(CreditDeployment::default()),
        Err(e) => return Err(e),
    };
    let mut d = CreditDeployment::default();
    let mut staged: Vec<(Stage, &str)> = Vec::new();
    if let Some(c) = &st.champion {
        staged.push((Stage::Champion, c));
    }
    for c in &st.challengers {
        staged.push((Stage::Challenger { pct: c.pct }, &c.artifact));
    }
    for s in &st.shadows {
        staged.push((Stage::Shadow, s));
    }
    for (stage, id) in staged {
        let a = registry.artifact(id).await?;
        let slot = CreditModel::parse(&a.body)
            .and_then(|m| {
                let reasons = m.bind_reasons(&cfg.reasons)?;
                Ok(CreditSlot {
                    id: a.meta.id.clone(),
                    name: a.meta.name.clone(),
                    characteristics: m.characteristics(),
                    model: m,
                    reasons,
                })
            })
            .map_err(|e| {
                format!(
                    "credit model {} ({stage}) left out: {e} (reasons from {})",
                    short(id),
                    cfg.reasons_path.display()
                )
            });
        match (slot, stage) {
            (Err(why), _) => d.problems.push(why),
            (Ok(s), Stage::Champion) => d.champion = Some(s),
            (Ok(s), Stage::Challenger { pct }) => d.challengers.push((s, pct)),
            (Ok(s), _) => d.shadows.push(s),
        }
    }
    Ok(d)
}
