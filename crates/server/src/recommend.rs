//! Recommendations in the service: the models of the `[recommend]` deployment as A/B arms,
//! the customers they serve (attributes for eligibility and segments for the cold start),
//! and the acceptance statistics of each arm.
//!
//! ```text
//!  [recommend] customers = file (customer column + attributes), eligibility = rules.toml
//!  registry (recommend deployment: champion, challengers[pct])
//!     │ load: parse the model JSON (`riskstream recommend train`), compile the eligibility
//!     │ rules against its items; a model that fails is left out with the reason
//!     ▼
//!  RecDeployment ──ArcSwap──▶ GET /v1/recommendations/{customer}?k=
//!       arm = xxh3(customer) bucket against the challengers' shares (the credit/fraud rule)
//!       ─▶ eligibility (CEL over the customer's attributes) ─▶ top k without held and
//!          barred items, with reasons ─▶ answer names the arm (model id, stage)
//!  POST /v1/recommendations/feedback ─▶ checked against the arm's model and the customer's
//!       routing ─▶ registry rec_feedback (idempotent by event id) + audit, one transaction
//!  GET /v1/recommendations/arms ◀─ counts per arm ─▶ rates, Wilson intervals, z-test
//! ```
//!
//! Why the arm is a hash of the customer and not random per request: a customer must see
//! one model's recommendations consistently, or acceptance could not be credited to an arm.
//! Feedback is checked against that routing for the same reason: an event naming an arm
//! the customer is not routed to is refused rather than counted in the wrong arm.

use crate::admin::AdminError;
use crate::state::short;
use riskstream_core::{Diagnostic, Diagnostics};
use riskstream_recommend::abtest::{two_proportion_z, wilson};
use riskstream_recommend::{Attr, AttrType, Attributes, Eligibility, ModelFile};
use riskstream_registry::{
    ArtifactKind, FeedbackCount, FeedbackKind, Registry, RegistryError, Stage,
};
use serde_json::{json, Value as Json};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `[recommend]`: recommendation models served by `GET /v1/recommendations/{customer}`.
///
/// ```toml
/// [recommend]
/// deployment = "recommend"        # the registry deployment of the recommendation models
/// customers = "customers.csv"     # customer column + attributes (eligibility, segments)
/// customer_col = "customer_id"    # its customer column (default customer_id)
/// segment_col = "segment"         # its segment column, for the cold start (optional)
/// eligibility = "eligibility.toml" # CEL rules per item or group (optional)
/// max_k = 50                      # largest k a request may ask (default 50)
/// reasons = 3                     # reasons per item (default 3)
/// ```
#[derive(Debug, Clone)]
pub struct RecommendConfig {
    /// The registry deployment whose models are the arms (default `recommend`).
    pub deployment: String,
    /// The customers file, if any.
    pub customers_path: Option<PathBuf>,
    /// Its customer column.
    pub customer_col: String,
    /// Its segment column.
    pub segment_col: Option<String>,
    /// The eligibility rules file, if any.
    pub eligibility_path: Option<PathBuf>,
    /// Its text (compiled against each model's items when the model loads).
    pub eligibility: Option<String>,
    /// Largest `k`.
    pub max_k: usize,
    /// Reasons per item.
    pub reasons: usize,
    /// The customers, read at start-up.
    pub customers: Arc<Customers>,
}

/// `[recommend]` as written.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRecommend {
    deployment: Option<String>,
    customers: Option<String>,
    customer_col: Option<String>,
    segment_col: Option<String>,
    eligibility: Option<String>,
    max_k: Option<i64>,
    reasons: Option<i64>,
}

/// Customers known to the service: attributes by customer id.
#[derive(Debug, Default)]
pub struct Customers {
    /// Attribute columns with their types (every column but the customer column).
    pub types: Vec<(String, AttrType)>,
    /// Attributes per customer id.
    pub by_id: HashMap<String, Attributes>,
    /// The segment column, if any.
    pub segment_col: Option<String>,
}

impl Customers {
    /// A customer's segment (the segment column's text), if known.
    pub fn segment(&self, customer: &str) -> Option<String> {
        let col = self.segment_col.as_ref()?;
        match self.by_id.get(customer)?.get(col)? {
            Attr::Str(s) => Some(s.clone()),
            Attr::Int(i) => Some(i.to_string()),
            Attr::Float(f) => Some(f.to_string()),
            Attr::Bool(b) => Some(b.to_string()),
        }
    }
}

/// Reads a customers file (CSV, Parquet or NDJSON): one row per customer, `customer_col`
/// the id, every other column an attribute. Types come from the file's schema (declared
/// or inferred): int and timestamp columns are ints (timestamps in µs), float columns
/// doubles, bool columns bools, text and categories strings; an empty cell is an absent
/// attribute. A customer id twice is an error naming both rows.
pub fn read_customers(path: &Path, customer_col: &str) -> Result<Customers, String> {
    use riskstream_core::schema::FieldType;
    use riskstream_io::table::{load, resolve_schema, Column, LoadOptions};
    let ff = riskstream_io::FileFormat::from_path(path).map_err(|e| e.to_string())?;
    let (schema, _) = resolve_schema(None, path, ff).map_err(|e| e.to_string())?;
    let t = load(path, &LoadOptions::default(), &mut |_| {}).map_err(|e| e.to_string())?;
    let ci = t
        .names
        .iter()
        .position(|n| n == customer_col)
        .ok_or_else(|| {
            let mut m = format!("no column `{customer_col}` (the customer column)");
            if let Some(h) = riskstream_core::diag::did_you_mean(
                customer_col,
                t.names.iter().map(String::as_str),
            ) {
                m.push_str(&format!("; {h}"));
            }
            format!("{m}; columns: {}", t.names.join(", "))
        })?;
    let ty_of = |name: &str| schema.fields.iter().find(|f| f.name == name).map(|f| f.ty);
    let mut types = Vec::new();
    for (i, n) in t.names.iter().enumerate() {
        if i == ci {
            continue;
        }
        let ty = match (&t.columns[i], ty_of(n)) {
            (Column::Text(_), _) => AttrType::Str,
            (Column::Time(_), _) => AttrType::Int,
            (Column::Num(_), Some(FieldType::Bool)) => AttrType::Bool,
            (Column::Num(_), Some(FieldType::Float)) => AttrType::Float,
            (Column::Num(v), _) => {
                if v.iter()
                    .all(|x| x.is_nan() || (x.fract() == 0.0 && x.abs() < 9e15))
                {
                    AttrType::Int
                } else {
                    AttrType::Float
                }
            }
        };
        types.push((i, n.clone(), ty));
    }
    let ids: Vec<Option<String>> = match &t.columns[ci] {
        Column::Text(v) => v.clone(),
        Column::Num(v) => v
            .iter()
            .map(|x| (!x.is_nan()).then(|| format!("{}", *x as i64)))
            .collect(),
        Column::Time(v) => v.iter().map(|x| Some(x.to_string())).collect(),
    };
    let mut by_id: HashMap<String, Attributes> = HashMap::with_capacity(t.rows);
    let mut first_row: HashMap<String, usize> = HashMap::new();
    for (r, id) in ids.iter().enumerate() {
        let Some(id) = id.as_ref().filter(|s| !s.is_empty()) else {
            return Err(format!(
                "data row {}: the customer id (`{customer_col}`) is empty",
                r + 1
            ));
        };
        if let Some(f) = first_row.insert(id.clone(), r) {
            return Err(format!(
                "data rows {} and {}: customer `{id}` occurs twice; keep one row per customer",
                f + 1,
                r + 1
            ));
        }
        let mut a = Attributes::new();
        for (i, n, ty) in &types {
            let v = match (&t.columns[*i], ty) {
                (Column::Text(v), _) => v[r].clone().map(Attr::Str),
                (Column::Time(v), _) => (v[r] != i64::MIN).then_some(Attr::Int(v[r])),
                (Column::Num(v), _) if v[r].is_nan() => None,
                (Column::Num(v), AttrType::Bool) => Some(Attr::Bool(v[r] != 0.0)),
                (Column::Num(v), AttrType::Int) => Some(Attr::Int(v[r] as i64)),
                (Column::Num(v), _) => Some(Attr::Float(v[r])),
            };
            if let Some(v) = v {
                a.insert(n.clone(), v);
            }
        }
        by_id.insert(id.clone(), a);
    }
    Ok(Customers {
        types: types.into_iter().map(|(_, n, t)| (n, t)).collect(),
        by_id,
        segment_col: None,
    })
}

/// `[recommend]`: a deployment name other than the fraud and credit ones; a customers file
/// that reads, with the segment column in it; eligibility rules that compile against its
/// attributes (items are checked per model when it loads); `max_k` and `reasons` in range.
/// Every problem pushed; `None` when there is one.
pub(crate) fn read_config(
    diags: &mut Diagnostics,
    c: &RawRecommend,
    base: &Path,
    taken: &[(&str, &str)],
) -> Option<RecommendConfig> {
    let before = diags.items.len();
    let deployment = c.deployment.clone().unwrap_or_else(|| "recommend".into());
    if deployment.is_empty()
        || !deployment
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
    {
        diags.push(Diagnostic::new(
            "recommend.deployment",
            format!("`{deployment}`: use letters, digits, '-', '_' and '.' only"),
        ));
    }
    for (key, d) in taken {
        if *d == deployment {
            diags.push(
                Diagnostic::new(
                    "recommend.deployment",
                    format!("`{deployment}` is also {key}"),
                )
                .hint("a deployment's models are all of one kind: give recommendations their own, e.g. \"recommend\""),
            );
        }
    }
    let range =
        |key: &str, v: Option<i64>, default: i64, lo: i64, hi: i64, diags: &mut Diagnostics| {
            let v = v.unwrap_or(default);
            if v < lo || v > hi {
                diags.push(Diagnostic::new(
                    format!("recommend.{key}"),
                    format!("{v} is outside {lo} to {hi}"),
                ));
            }
            v.clamp(lo, hi) as usize
        };
    let max_k = range("max_k", c.max_k, 50, 1, 1000, diags);
    let reasons = range("reasons", c.reasons, 3, 0, 20, diags);
    let customer_col = c
        .customer_col
        .clone()
        .unwrap_or_else(|| "customer_id".into());
    let customers_path = c.customers.as_deref().map(|p| base.join(p));
    let mut customers = Customers::default();
    if let Some(p) = &customers_path {
        match read_customers(p, &customer_col) {
            Ok(cs) => customers = cs,
            Err(e) => diags.push(
                Diagnostic::new("recommend.customers", format!("{}: {e}", p.display()))
                    .hint("paths are taken from the config file's directory"),
            ),
        }
    }
    if let Some(s) = &c.segment_col {
        if customers_path.is_none() {
            diags.push(
                Diagnostic::new("recommend.segment_col", "given without recommend.customers")
                    .hint("segments are read from the customers file"),
            );
        } else if !customers.by_id.is_empty() && !customers.types.iter().any(|t| &t.0 == s) {
            diags.push(Diagnostic::new(
                "recommend.segment_col",
                format!("the customers file has no column `{s}`"),
            ));
        }
        customers.segment_col = Some(s.clone());
    }
    let eligibility_path = c.eligibility.as_deref().map(|p| base.join(p));
    let mut eligibility = None;
    if let Some(p) = &eligibility_path {
        if customers_path.is_none() {
            diags.push(
                Diagnostic::new("recommend.eligibility", "given without recommend.customers").hint(
                    "eligibility rules read customer attributes: add customers = \"customers.csv\"",
                ),
            );
        }
        match std::fs::read_to_string(p) {
            Err(e) => diags.push(
                Diagnostic::new("recommend.eligibility", format!("{}: {e}", p.display()))
                    .hint("paths are taken from the config file's directory"),
            ),
            Ok(text) => {
                // Syntax, attributes and types now; items when each model loads.
                if let Err(e) =
                    Eligibility::parse(&text, &p.display().to_string(), None, &customers.types)
                {
                    diags.push(Diagnostic::new("recommend.eligibility", e.to_string()));
                }
                eligibility = Some(text);
            }
        }
    }
    if diags.items.len() > before {
        return None;
    }
    Some(RecommendConfig {
        deployment,
        customers_path,
        customer_col,
        segment_col: c.segment_col.clone(),
        eligibility_path,
        eligibility,
        max_k,
        reasons,
        customers: Arc::new(customers),
    })
}

/// A loaded recommendation model in its slot.
#[derive(Debug)]
pub struct RecSlot {
    /// Registry id.
    pub id: String,
    /// Registered name (the model kind).
    pub name: String,
    /// The model.
    pub model: ModelFile,
    /// Eligibility compiled against its items.
    pub eligibility: Option<Eligibility>,
}

/// The recommendation models in force: the A/B arms.
#[derive(Debug, Default)]
pub struct RecDeployment {
    /// The champion, if one loaded.
    pub champion: Option<RecSlot>,
    /// Challengers with their shares, in the registry's order.
    pub challengers: Vec<(RecSlot, f64)>,
    /// Staged models that did not load, with why.
    pub problems: Vec<String>,
}

impl RecDeployment {
    /// The arm serving `customer` (`None` without a champion), its stage name and the
    /// customer's bucket in [0, 100): `xxh3(customer) mod 10000 / 100` against the
    /// challengers' disjoint ranges, as credit and fraud challengers route.
    pub fn route(&self, customer: &str) -> Option<(&RecSlot, &'static str, f64)> {
        let b = (xxhash_rust::xxh3::xxh3_64(customer.as_bytes()) % 10_000) as f64 / 100.0;
        let mut lo = 0.0;
        for (c, pct) in &self.challengers {
            if *pct > 0.0 && b >= lo && b < lo + pct {
                return Some((c, "challenger", b));
            }
            lo += pct.max(0.0);
        }
        self.champion.as_ref().map(|c| (c, "champion", b))
    }

    /// Every arm with its stage (and share for challengers).
    pub fn arms(&self) -> Vec<(&RecSlot, &'static str, Option<f64>)> {
        self.champion
            .iter()
            .map(|c| (c, "champion", None))
            .chain(
                self.challengers
                    .iter()
                    .map(|(c, p)| (c, "challenger", Some(*p))),
            )
            .collect()
    }

    /// The arm with this model id (or unique prefix of at least 8 characters).
    pub fn arm(&self, id: &str) -> Option<(&RecSlot, &'static str)> {
        let arms = self.arms();
        let hits: Vec<_> = arms
            .iter()
            .filter(|(s, _, _)| s.id == id || (id.len() >= 8 && s.id.starts_with(id)))
            .collect();
        match hits.as_slice() {
            [(s, stage, _)] => Some((*s, *stage)),
            _ => None,
        }
    }
}

/// Parses and checks a model file body (JSON from `riskstream recommend train`).
pub fn parse_model(text: &str, origin: &str) -> Result<ModelFile, String> {
    let f = ModelFile::from_slice(text.as_bytes(), origin).map_err(|e| e.to_string())?;
    f.model.validate().map_err(|e| format!("{origin}: {e}"))?;
    Ok(f)
}

/// What the registry records as a recommendation model's lineage.
pub fn lineage(f: &ModelFile, origin: &str) -> Json {
    json!({
        "kind": f.card.kind, "model_id": f.card.model_id, "users": f.model.users.len(),
        "items": f.model.items.len(), "trained_at": f.card.trained_at, "origin": origin,
    })
}

/// A registered recommendation model: its id and name (the model's kind).
#[derive(Debug)]
pub struct RegisteredRecommendModel {
    /// Registry id (sha-256 of the text).
    pub id: String,
    /// The model's kind (`implicit-als`, `popularity`, …), its artifact name.
    pub name: String,
}

/// Checks a recommendation model and registers it as [`ArtifactKind::RecommendModel`] with
/// its lineage; the registry audits it. `origin` names the text in messages. The route
/// `POST /v1/recommend/models` and `riskstream recommend push` both call this, so a file
/// one refuses the other refuses too.
pub async fn register(
    registry: &Registry,
    text: &str,
    origin: &str,
    actor: &str,
) -> Result<RegisteredRecommendModel, AdminError> {
    let f = parse_model(text, origin).map_err(AdminError::NotARecommendModel)?;
    let name = f.card.kind.clone();
    let id = registry
        .put_artifact(
            ArtifactKind::RecommendModel,
            &name,
            text,
            lineage(&f, origin),
            actor,
        )
        .await?;
    Ok(RegisteredRecommendModel { id, name })
}

/// Builds the recommendation deployment from the registry. A model that does not parse
/// or whose items the eligibility rules do not match is left out, and why is kept.
pub async fn load(
    registry: &Registry,
    cfg: &RecommendConfig,
) -> Result<RecDeployment, RegistryError> {
    let st = match registry.deployment(&cfg.deployment).await {
        Ok(s) => s,
        Err(RegistryError::NotFound { .. }) => return Ok(RecDeployment::default()),
        Err(e) => return Err(e),
    };
    let mut d = RecDeployment::default();
    let mut staged: Vec<(Stage, &str)> = Vec::new();
    if let Some(c) = &st.champion {
        staged.push((Stage::Champion, c));
    }
    for c in &st.challengers {
        staged.push((Stage::Challenger { pct: c.pct }, &c.artifact));
    }
    for (stage, id) in staged {
        let a = registry.artifact(id).await?;
        let origin = format!("recommendation model {}", short(id));
        let slot = parse_model(&a.body, &origin).and_then(|model| {
            let eligibility = match (&cfg.eligibility, &cfg.eligibility_path) {
                (Some(text), Some(p)) => Some(
                    Eligibility::parse(
                        text,
                        &p.display().to_string(),
                        Some(&model.model.items),
                        &cfg.customers.types,
                    )
                    .map_err(|e| e.to_string())?,
                ),
                _ => None,
            };
            Ok(RecSlot {
                id: a.meta.id.clone(),
                name: a.meta.name.clone(),
                model,
                eligibility,
            })
        });
        match (slot, stage) {
            (Err(why), _) => d
                .problems
                .push(format!("{origin} ({stage}) left out: {why}")),
            (Ok(s), Stage::Champion) => d.champion = Some(s),
            (Ok(s), Stage::Challenger { pct }) => d.challengers.push((s, pct)),
            (Ok(_), _) => {}
        }
    }
    Ok(d)
}

/// Acceptance per arm: counts, rates, Wilson 95 % intervals, and each challenger (and
/// every model no longer staged) against the champion by the two-proportion z-test.
/// Models with feedback that are no longer staged are listed with stage `retired`.
pub fn arm_stats(d: &RecDeployment, counts: &[FeedbackCount], items: &[FeedbackCount]) -> Json {
    let mut by_model: BTreeMap<&str, [u64; 3]> = BTreeMap::new();
    for c in counts {
        let k = FeedbackKind::ALL
            .iter()
            .position(|k| *k == c.kind)
            .unwrap_or(0);
        by_model.entry(c.model.as_str()).or_default()[k] += c.n;
    }
    let mut rows: Vec<(String, String, &'static str, Option<f64>)> = d
        .arms()
        .into_iter()
        .map(|(s, stage, pct)| (s.id.clone(), s.name.clone(), stage, pct))
        .collect();
    for m in by_model.keys() {
        if !rows.iter().any(|r| r.0 == *m) {
            rows.push((m.to_string(), String::new(), "retired", None));
        }
    }
    let champion = d.champion.as_ref().map(|c| c.id.as_str());
    let champ_counts = champion
        .and_then(|c| by_model.get(c))
        .copied()
        .unwrap_or_default();
    let arms: Vec<Json> = rows
        .iter()
        .map(|(id, name, stage, pct)| {
            let [shown, clicked, accepted] = by_model.get(id.as_str()).copied().unwrap_or_default();
            let rate = |a: u64| (shown > 0).then(|| a as f64 / shown as f64);
            let ci = wilson(accepted, shown, 1.96).map(|(lo, hi)| json!([lo, hi]));
            let test = (Some(id.as_str()) != champion)
                .then(|| two_proportion_z(accepted, shown, champ_counts[2], champ_counts[0]))
                .flatten()
                .map(|t| {
                    json!({
                        "against": champion, "test": "two-proportion z-test (pooled, two-sided)",
                        "difference": t.difference, "z": t.z, "p_value": t.p_value,
                        "approximation_ok": t.approximate_ok,
                    })
                });
            let mut top: Vec<(&str, u64, u64)> = Vec::new();
            for c in items.iter().filter(|c| c.model == *id) {
                let item = c.item.as_deref().unwrap_or_default();
                let e = match top.iter_mut().find(|t| t.0 == item) {
                    Some(e) => e,
                    None => {
                        top.push((item, 0, 0));
                        let n = top.len() - 1;
                        &mut top[n]
                    }
                };
                match c.kind {
                    FeedbackKind::Shown => e.1 += c.n,
                    FeedbackKind::Accepted => e.2 += c.n,
                    FeedbackKind::Clicked => {}
                }
            }
            top.sort_by(|a, b| b.2.cmp(&a.2).then(b.1.cmp(&a.1)).then(a.0.cmp(b.0)));
            top.truncate(10);
            json!({
                "model": id, "name": name, "stage": stage, "pct": pct,
                "shown": shown, "clicked": clicked, "accepted": accepted,
                "click_rate": rate(clicked), "acceptance_rate": rate(accepted),
                "acceptance_ci95": ci, "test": test,
                "top_items": top.iter().map(|(i, s, a)| json!({"item": i, "shown": s, "accepted": a})).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "deployment_problems": d.problems, "arms": arms })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn customers_file_types_and_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.csv");
        std::fs::write(
            &p,
            "customer_id,age,income,in_arrears,segment\n1,40,52000.5,false,mass\n2,19,,true,student\n",
        )
        .unwrap();
        let c = read_customers(&p, "customer_id").unwrap();
        let ty: BTreeMap<_, _> = c.types.iter().cloned().collect();
        assert_eq!(ty["age"], AttrType::Int);
        assert_eq!(ty["income"], AttrType::Float);
        assert_eq!(ty["in_arrears"], AttrType::Bool);
        assert_eq!(ty["segment"], AttrType::Str);
        assert_eq!(c.by_id["2"].get("in_arrears"), Some(&Attr::Bool(true)));
        assert_eq!(c.by_id["2"].get("income"), None);
        std::fs::write(&p, "customer_id,age\n1,40\n1,41\n").unwrap();
        let e = read_customers(&p, "customer_id").unwrap_err();
        assert!(e.contains("rows 1 and 2") && e.contains("twice"), "{e}");
        let e = read_customers(&p, "customer").unwrap_err();
        assert!(e.contains("no column `customer`"), "{e}");
    }
}
