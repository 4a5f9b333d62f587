//! The review queue (cases) and the progress of pipelines that write to the registry.
//!
//! ```text
//!  riskstream run ── pipeline_commit(cases, decision audit records, progress) ─┐ one
//!                                                                              │ transaction
//!                         cases ◀── new rows (status open)  ◀──────────────────┤
//!                     audit_log ◀── same chain as every change ◀───────────────┤
//!             pipeline_progress ◀── per partition: last source offset written ◀┘
//!
//!  riskstream serve ── open_cases (queued off the decision path; ON CONFLICT DO NOTHING) ─▶ cases
//!
//!  analyst ── GET /v1/cases ── POST /v1/cases/{id}/close {label, note} ─▶ case.close audited
//!  console ── cases(filters, sort, page) + count_cases ── assign_case ─▶ case.assign audited
//! ```
//!
//! Why progress lives here: a pipeline's exactly-once rule is "replay from the checkpoint
//! and skip what the sink already holds". A database sink can say exactly what it holds if
//! the outputs and the offset that produced them commit together, so after a crash at any
//! point the registry holds every output up to `pipeline_progress` and none after it — no
//! matter whether the crash came before or after the pipeline's own checkpoint.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::{AssertSqlSafe, Row};

use crate::error::{DbContext, RegistryError, Result};
use crate::{check_actor, check_text, AuditRecord, Change, Registry};

/// Rows per INSERT statement (at most 11 parameters each).
const ROWS_PER_INSERT: usize = 100;

/// Stands for "no score" in the score parameter, mapped back with `NULLIF(param, -1)`: a
/// NULL `f64` through sqlx's `Any` driver breaks a cached PostgreSQL statement (see
/// `NULL_PCT` in `deploy.rs`). Scores are probabilities in [0, 1], so -1 is free.
const NO_SCORE: f64 = -1.0;

pub(crate) const COLUMNS: &str = "id, source, tx_id, outcome, score, decision, status, created_at, label, note, closed_at, closed_by, tx, assignee, escalated_at, escalated_by";

/// [`COLUMNS`] named through the `cases` table, for queries that join it to `case_rules`.
pub(crate) const CASES_COLUMNS: &str = "cases.id, cases.source, cases.tx_id, cases.outcome, cases.score, cases.decision, cases.status, cases.created_at, cases.label, cases.note, cases.closed_at, cases.closed_by, cases.tx, cases.assignee, cases.escalated_at, cases.escalated_by";

/// Where a query's rows come from. A query with a rule reads that rule's `case_rules` rows,
/// which carry the case's status, score and opening time (migrations 8 and 9), so the rule
/// with any of those — and any order — is one walk of a `case_rules` index; the case's
/// other columns come from `cases` by primary key, for the rows the walk keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rows {
    /// `cases` alone; a rule is tested by an `EXISTS` on `case_rules`.
    Cases,
    /// The rule's `case_rules` rows (`r`), joined to `cases` when `join` is set.
    RuleRows { join: bool },
}

impl Rows {
    /// `FROM …` for these rows, with a leading space.
    pub(crate) fn from(self) -> &'static str {
        match self {
            Rows::Cases => " FROM cases",
            Rows::RuleRows { join: false } => " FROM case_rules r",
            Rows::RuleRows { join: true } => {
                " FROM case_rules r JOIN cases ON cases.id = r.case_id"
            }
        }
    }

    /// How these rows name a column of `cases`.
    pub(crate) fn col(self, name: &str) -> String {
        match (self, name) {
            (Rows::Cases, _) => name.to_string(),
            (Rows::RuleRows { .. }, "status" | "score" | "created_at") => format!("r.{name}"),
            (Rows::RuleRows { .. }, "id") => "r.case_id".to_string(),
            (Rows::RuleRows { .. }, _) => format!("cases.{name}"),
        }
    }

    /// The columns of a [`Case`], for [`case_from_row`].
    pub(crate) fn columns(self) -> &'static str {
        match self {
            Rows::Cases => COLUMNS,
            Rows::RuleRows { .. } => CASES_COLUMNS,
        }
    }
}

/// The rules column of a decision: `,a,b,` for the fired rules (so a filter is one
/// `LIKE '%,name,%'`), `None` when none fired or the decision is not JSON.
fn rules_of(decision: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(decision).ok()?;
    let names: Vec<&str> = v
        .get("rules_fired")?
        .as_array()?
        .iter()
        .filter_map(|r| r.as_str())
        .collect();
    if names.is_empty() {
        return None;
    }
    Some(format!(",{},", names.join(",")).replace('\0', "\u{FFFD}"))
}

/// The id of the model that decided (the decision's `model`), `None` when no model decided
/// or the decision is not JSON.
fn model_of(decision: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(decision).ok()?;
    Some(v.get("model")?.as_str()?.replace('\0', "\u{FFFD}"))
}

/// The longest rule name `case_rules` keeps (characters); a filter compares as many.
pub(crate) const RULE_CHARS: usize = 200;

/// A rule name as `case_rules` keeps it.
pub(crate) fn rule_key(name: &str) -> String {
    name.chars()
        .take(RULE_CHARS)
        .collect::<String>()
        .replace('\0', "\u{FFFD}")
}

/// The distinct names in a decision's `rules_fired`, as `case_rules` keeps them.
fn rule_keys(decision: &str) -> Vec<String> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(decision) else {
        return Vec::new();
    };
    let mut names: Vec<String> = v
        .get("rules_fired")
        .and_then(|r| r.as_array())
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_str())
        .filter(|r| !r.is_empty())
        .map(rule_key)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// `s` with LIKE's wildcards (and the escape character) escaped by `\\`.
pub(crate) fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A case to open.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCase {
    /// Unique and stable: the same decision replayed names the same case.
    pub id: String,
    /// The transaction id.
    pub tx_id: String,
    /// `review` or `decline` (any outcome the writer chose to queue).
    pub outcome: String,
    /// The deciding model's score.
    pub score: Option<f64>,
    /// The decision as JSON text.
    pub decision: String,
    /// The transaction as JSON text, when the writer has it (the service does).
    pub tx: Option<String>,
}

/// Whether a case still needs an analyst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaseStatus {
    /// Waiting for review.
    Open,
    /// Reviewed and labelled.
    Closed,
}

impl CaseStatus {
    /// `open` or `closed`.
    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::Open => "open",
            CaseStatus::Closed => "closed",
        }
    }

    fn parse(s: &str) -> Result<CaseStatus> {
        match s {
            "open" => Ok(CaseStatus::Open),
            "closed" => Ok(CaseStatus::Closed),
            other => Err(RegistryError::Corrupt(format!(
                "case status `{other}` is neither open nor closed"
            ))),
        }
    }
}

/// An analyst's verdict on a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaseLabel {
    /// The transaction was fraudulent.
    Fraud,
    /// The transaction was genuine (a false positive).
    Genuine,
}

impl CaseLabel {
    /// `fraud` or `genuine`.
    pub fn as_str(self) -> &'static str {
        match self {
            CaseLabel::Fraud => "fraud",
            CaseLabel::Genuine => "genuine",
        }
    }

    /// Parses `fraud` / `genuine`; anything else is a user error that says what is allowed.
    pub fn parse(s: &str) -> Result<CaseLabel> {
        match s {
            "fraud" => Ok(CaseLabel::Fraud),
            "genuine" => Ok(CaseLabel::Genuine),
            other => Err(RegistryError::invalid(
                "label",
                format!("`{other}` is not a label; use `fraud` or `genuine`"),
            )),
        }
    }
}

/// A stored case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    /// Its id (`<pipeline>:<partition>-<offset>` for pipeline decisions).
    pub id: String,
    /// Who opened it (`pipeline:<name>`).
    pub source: String,
    /// The transaction id.
    pub tx_id: String,
    /// The decision's outcome.
    pub outcome: String,
    /// The deciding model's score.
    pub score: Option<f64>,
    /// The decision, with its reasons.
    pub decision: serde_json::Value,
    /// Open or closed.
    pub status: CaseStatus,
    /// When it was opened, µs since the Unix epoch.
    pub created_at: i64,
    /// The analyst's label, once closed.
    pub label: Option<String>,
    /// The analyst's note.
    pub note: Option<String>,
    /// When it was closed.
    pub closed_at: Option<i64>,
    /// Who closed it.
    pub closed_by: Option<String>,
    /// The transaction, when the writer stored it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx: Option<serde_json::Value>,
    /// The analyst working the case (a key name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    /// When it was escalated (µs since the Unix epoch); the reason is in its audit trail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalated_at: Option<i64>,
    /// Who escalated it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalated_by: Option<String>,
}

/// The order of a case listing (ties broken by creation time, then id).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CaseSort {
    /// Oldest first (the queue's natural order).
    #[default]
    Oldest,
    /// Newest first.
    Newest,
    /// Highest score first (cases without a score last).
    ScoreDesc,
    /// Lowest score first (cases without a score last).
    ScoreAsc,
}

impl CaseSort {
    /// `oldest`, `newest`, `score_desc`, `score_asc`.
    pub fn as_str(self) -> &'static str {
        match self {
            CaseSort::Oldest => "oldest",
            CaseSort::Newest => "newest",
            CaseSort::ScoreDesc => "score_desc",
            CaseSort::ScoreAsc => "score_asc",
        }
    }

    /// Parses [`CaseSort::as_str`]'s names.
    pub fn parse(s: &str) -> Option<CaseSort> {
        [
            CaseSort::Oldest,
            CaseSort::Newest,
            CaseSort::ScoreDesc,
            CaseSort::ScoreAsc,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }

    fn order_by(self) -> &'static str {
        match self {
            CaseSort::Oldest => "created_at, id",
            CaseSort::Newest => "created_at DESC, id DESC",
            CaseSort::ScoreDesc => {
                "CASE WHEN score IS NULL THEN 1 ELSE 0 END, score DESC, created_at, id"
            }
            CaseSort::ScoreAsc => {
                "CASE WHEN score IS NULL THEN 1 ELSE 0 END, score, created_at, id"
            }
        }
    }
}

/// Which cases to list. Every filter left `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaseQuery {
    /// Only cases with this status (`None`: all).
    pub status: Option<CaseStatus>,
    /// Only cases of this transaction.
    pub tx_id: Option<String>,
    /// Only cases with this decision outcome (`review`, `decline`, ...).
    pub outcome: Option<String>,
    /// Only cases scored at least this (cases without a score never match a score bound).
    pub score_min: Option<f64>,
    /// Only cases scored at most this.
    pub score_max: Option<f64>,
    /// Only cases where this rule fired.
    pub rule: Option<String>,
    /// Only cases this model decided (its id, the decision's `model`).
    pub model: Option<String>,
    /// Only escalated cases.
    pub escalated: bool,
    /// Only cases assigned to this analyst (key name).
    pub assignee: Option<String>,
    /// Only cases opened at or after this time (µs since the Unix epoch).
    pub created_from: Option<i64>,
    /// Only cases opened before this time (µs since the Unix epoch).
    pub created_to: Option<i64>,
    /// The order.
    pub sort: CaseSort,
    /// Skip this many matching cases first (pagination).
    pub offset: usize,
    /// At most this many (capped at 10,000).
    pub limit: usize,
}

/// One bound parameter of a query built from filters.
pub(crate) enum Param {
    Text(String),
    Real(f64),
    Int(i64),
}

impl CaseQuery {
    /// Whether counting this query's matches walks an index that holds only matches: the
    /// status with at most one of a score range, an assignee, a model, a transaction or a
    /// time range; or the status with a rule and at most one of a score range or a time
    /// range (the `case_rules` indexes). Other combinations (an outcome, or filters no one index holds
    /// together) read candidates and test each, so a count to 10,000 may read a hundred
    /// times as many; the console counts those only as far as a page.
    pub fn count_is_cheap(&self) -> bool {
        let score = self.score_min.is_some() || self.score_max.is_some();
        let time = self.created_from.is_some() || self.created_to.is_some();
        let others = usize::from(self.assignee.is_some())
            + usize::from(self.escalated)
            + usize::from(self.tx_id.is_some())
            + usize::from(self.model.is_some());
        if self.outcome.is_some() {
            return false;
        }
        if self.rule.is_some() {
            others == 0 && !(score && time)
        } else {
            others + usize::from(score) + usize::from(time) <= 1
        }
    }

    /// Where this query's rows come from: a rule's `case_rules` rows when it names a rule
    /// (joined to `cases` when `join`, or when a filter needs a column only `cases` has).
    pub(crate) fn rows(&self, join: bool) -> Rows {
        if self.rule.is_none() {
            return Rows::Cases;
        }
        let needs_cases = self.tx_id.is_some()
            || self.escalated
            || self.outcome.is_some()
            || self.assignee.is_some()
            || self.model.is_some();
        Rows::RuleRows {
            join: join || needs_cases,
        }
    }

    /// The WHERE clause (empty or starting with a space) and its parameters, `$1` on, over
    /// `cases` alone.
    pub(crate) fn filter(&self) -> (String, Vec<Param>) {
        self.filter_on(Rows::Cases)
    }

    /// [`CaseQuery::filter`] over `rows`.
    pub(crate) fn filter_on(&self, rows: Rows) -> (String, Vec<Param>) {
        self.filter_hinted(rows, false)
    }

    /// [`CaseQuery::filter_on`]; with `score_unindexed` the score range is written `+score`,
    /// which no index serves (in both databases), so the planner walks the index of the
    /// order and tests the score there instead of reading the range and sorting it.
    pub(crate) fn filter_hinted(&self, rows: Rows, score_unindexed: bool) -> (String, Vec<Param>) {
        let c = |name: &str| rows.col(name);
        let score = if score_unindexed {
            format!("+{}", c("score"))
        } else {
            c("score")
        };
        let mut clauses = Vec::new();
        let mut params = Vec::new();
        let mut add = |clause: &str, p: Param| {
            params.push(p);
            clauses.push(clause.replace('?', &format!("${}", params.len())));
        };
        if let Some(s) = self.status {
            add(
                &format!("{} = ?", c("status")),
                Param::Text(s.as_str().into()),
            );
        }
        if let Some(t) = &self.tx_id {
            add(&format!("{} = ?", c("tx_id")), Param::Text(t.clone()));
        }
        if let Some(o) = &self.outcome {
            add(&format!("{} = ?", c("outcome")), Param::Text(o.clone()));
        }
        if let Some(v) = self.score_min {
            add(&format!("{score} >= ?"), Param::Real(v));
        }
        if let Some(v) = self.score_max {
            add(&format!("{score} <= ?"), Param::Real(v));
        }
        if let Some(r) = &self.rule {
            let clause = match rows {
                Rows::Cases => {
                    "EXISTS (SELECT 1 FROM case_rules r WHERE r.case_id = cases.id AND r.rule = ?)"
                }
                Rows::RuleRows { .. } => "r.rule = ?",
            };
            add(clause, Param::Text(rule_key(r)));
        }
        if let Some(a) = &self.assignee {
            add(&format!("{} = ?", c("assignee")), Param::Text(a.clone()));
        }
        if let Some(m) = &self.model {
            add(&format!("{} = ?", c("model")), Param::Text(m.clone()));
        }
        if let Some(t) = self.created_from {
            add(&format!("{} >= ?", c("created_at")), Param::Int(t));
        }
        if let Some(t) = self.created_to {
            add(&format!("{} < ?", c("created_at")), Param::Int(t));
        }
        if self.escalated {
            clauses.push(format!("{} IS NOT NULL", c("escalated_at")));
        }
        let filter = if clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", clauses.join(" AND "))
        };
        (filter, params)
    }
}

pub(crate) fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    params: Vec<Param>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    for p in params {
        q = match p {
            Param::Text(s) => q.bind(s),
            Param::Real(v) => q.bind(v),
            Param::Int(v) => q.bind(v),
        };
    }
    q
}

/// The case `id` as the change `change` sees it (a change that moves a case reads it
/// inside its own transaction); not found is [`RegistryError::NotFound`].
pub(crate) async fn case_in(change: &mut Change<'_>, id: &str) -> Result<Case> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM cases WHERE id = $1"
    )))
    .bind(id.to_string())
    .fetch_optional(change.conn())
    .await
    .ctx("reading a case")?;
    match row {
        Some(row) => case_from_row(&row),
        None => Err(RegistryError::NotFound {
            what: "case",
            id: id.to_string(),
        }),
    }
}

pub(crate) fn case_from_row(row: &sqlx::any::AnyRow) -> Result<Case> {
    const CTX: &str = "reading cases";
    let id: String = row.try_get(0).ctx(CTX)?;
    let decision: String = row.try_get(5).ctx(CTX)?;
    let status: String = row.try_get(6).ctx(CTX)?;
    Ok(Case {
        decision: serde_json::from_str(&decision).map_err(|e| {
            RegistryError::Corrupt(format!("case {id}: the decision is not JSON: {e}"))
        })?,
        source: row.try_get(1).ctx(CTX)?,
        tx_id: row.try_get(2).ctx(CTX)?,
        outcome: row.try_get(3).ctx(CTX)?,
        score: row.try_get(4).ctx(CTX)?,
        status: CaseStatus::parse(&status)?,
        created_at: row.try_get(7).ctx(CTX)?,
        label: row.try_get(8).ctx(CTX)?,
        note: row.try_get(9).ctx(CTX)?,
        closed_at: row.try_get(10).ctx(CTX)?,
        closed_by: row.try_get(11).ctx(CTX)?,
        tx: {
            let t: Option<String> = row.try_get(12).ctx(CTX)?;
            match t {
                Some(t) => Some(serde_json::from_str(&t).map_err(|e| {
                    RegistryError::Corrupt(format!("case {id}: the transaction is not JSON: {e}"))
                })?),
                None => None,
            }
        },
        assignee: row.try_get(13).ctx(CTX)?,
        escalated_at: row.try_get(14).ctx(CTX)?,
        escalated_by: row.try_get(15).ctx(CTX)?,
        id,
    })
}

fn offset_i64(partition: u32, offset: u64) -> Result<i64> {
    i64::try_from(offset).map_err(|_| {
        RegistryError::invalid(
            "progress",
            format!("partition {partition}: offset {offset} does not fit a BIGINT"),
        )
    })
}

/// Inserts `cases` opened by `source` at `now`; `on_conflict` is appended to each INSERT.
async fn insert_cases(
    change: &mut Change<'_>,
    source: &str,
    cases: &[NewCase],
    now: i64,
    on_conflict: &str,
) -> Result<u64> {
    let mut inserted = 0;
    for chunk in cases.chunks(ROWS_PER_INSERT) {
        let sql = crate::tenant::on_conflict(
            crate::db::is_postgres(change.conn()),
            &format!(
                "INSERT INTO cases (id, source, tx_id, outcome, score, decision, status, created_at, tx, rules, model) VALUES {}{on_conflict}",
                crate::db::values_rows_for(change.conn(), chunk.len(), "(?,?,?,?,NULLIF(?,-1),?,?,?,?,?,?)")
            ),
        );
        let mut q = sqlx::query(AssertSqlSafe(sql)).persistent(chunk.len() == ROWS_PER_INSERT);
        for c in chunk {
            q = q
                .bind(c.id.replace('\0', "\u{FFFD}"))
                .bind(source.to_string())
                .bind(c.tx_id.replace('\0', "\u{FFFD}"))
                .bind(c.outcome.clone())
                .bind(c.score.unwrap_or(NO_SCORE))
                .bind(c.decision.replace('\0', "\u{FFFD}"))
                .bind(CaseStatus::Open.as_str())
                .bind(now)
                .bind(c.tx.as_ref().map(|t| t.replace('\0', "\u{FFFD}")))
                .bind(rules_of(&c.decision))
                .bind(model_of(&c.decision));
        }
        inserted += q
            .execute(change.conn())
            .await
            .ctx("opening cases")?
            .rows_affected();
        let rules: Vec<(String, String, f64)> = chunk
            .iter()
            .flat_map(|c| {
                let id = c.id.replace('\0', "\u{FFFD}");
                let score = c.score.unwrap_or(NO_SCORE);
                rule_keys(&c.decision)
                    .into_iter()
                    .map(move |r| (id.clone(), r, score))
            })
            .collect();
        for part in rules.chunks(ROWS_PER_INSERT) {
            // A replayed case keeps its rows (and their status) as they are.
            let sql = format!(
                "INSERT INTO case_rules (case_id, rule, status, score, created_at) VALUES {} \
                 ON CONFLICT DO NOTHING",
                crate::db::values_rows_for(change.conn(), part.len(), "(?,?,?,NULLIF(?,-1),?)")
            );
            let mut q = sqlx::query(AssertSqlSafe(sql)).persistent(part.len() == ROWS_PER_INSERT);
            for (id, rule, score) in part {
                q = q
                    .bind(id.clone())
                    .bind(rule.clone())
                    .bind(CaseStatus::Open.as_str())
                    .bind(*score)
                    .bind(now);
            }
            q.execute(change.conn())
                .await
                .ctx("recording the rules of cases")?;
        }
    }
    Ok(inserted)
}

impl Registry {
    /// Opens `cases` on behalf of `source` (e.g. `serve:cards`); a case whose id is already
    /// stored is left as it is, so a writer may send a case again after a retry. Not
    /// audited here: the decision's own audit record is the trail. Returns how many were new.
    pub async fn open_cases(&self, source: &str, cases: &[NewCase]) -> Result<u64> {
        self.open_cases_with(source, cases, false).await
    }

    /// [`Registry::open_cases`] for cases whose decisions the caller keeps in a write-ahead
    /// log of its own and opens again from it after a crash (the decision service): on a
    /// SQLite file the commit is not synced (see [`Registry::audit_append_logged`]).
    pub async fn open_cases_logged(&self, source: &str, cases: &[NewCase]) -> Result<u64> {
        self.open_cases_with(source, cases, true).await
    }

    async fn open_cases_with(&self, source: &str, cases: &[NewCase], logged: bool) -> Result<u64> {
        if cases.is_empty() {
            return Ok(0);
        }
        check_text("source", source, 256, false)?;
        let mut change = if logged {
            Change::begin_logged(self).await?
        } else {
            Change::begin(self).await?
        };
        let now = change.now;
        let n = insert_cases(
            &mut change,
            source,
            cases,
            now,
            " ON CONFLICT (id) DO NOTHING",
        )
        .await?;
        change.commit().await?;
        Ok(n)
    }

    /// How many cases match `q` (its sort, offset and limit do not matter).
    pub async fn count_cases(&self, q: &CaseQuery) -> Result<u64> {
        let (filter, params) = q.filter();
        let query = bind_all(
            sqlx::query(AssertSqlSafe(format!("SELECT COUNT(*) FROM cases{filter}"))),
            params,
        );
        let mut conn = self.conn().await?;
        let row = query.fetch_one(&mut *conn).await.ctx("counting cases")?;
        let n: i64 = row.try_get(0).ctx("counting cases")?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// How many cases match `q`, counting no further than `cap`: a page can say "more than
    /// 10,000" without scanning a million index entries for the exact figure.
    pub async fn count_cases_up_to(&self, q: &CaseQuery, cap: u64) -> Result<u64> {
        // A rule (with its status, a score or a time range) is a walk of a `case_rules`
        // index alone; other filters join the cases it names.
        let rows = q.rows(false);
        let (filter, params) = q.filter_on(rows);
        let n = params.len();
        let query = bind_all(
            sqlx::query(AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM (SELECT 1{}{filter} LIMIT ${}) AS capped",
                rows.from(),
                n + 1
            ))),
            params,
        )
        .bind(i64::try_from(cap).unwrap_or(i64::MAX));
        let mut conn = self.conn().await?;
        let row = query.fetch_one(&mut *conn).await.ctx("counting cases")?;
        let n: i64 = row.try_get(0).ctx("counting cases")?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Assigns an open case to `assignee` (a key name), or unassigns it (`None`); audited
    /// as `case.assign` with the assignee before and after.
    pub async fn assign_case(&self, id: &str, assignee: Option<&str>, actor: &str) -> Result<Case> {
        self.assign_case_because(id, assignee, "", actor).await
    }

    /// [`Registry::assign_case`] with why (a batch assignment's note), kept in the audit
    /// record's `after` as `note` when not empty (at most 4,096 bytes).
    pub async fn assign_case_because(
        &self,
        id: &str,
        assignee: Option<&str>,
        note: &str,
        actor: &str,
    ) -> Result<Case> {
        check_actor(actor)?;
        check_text("note", note, 4096, true)?;
        if let Some(a) = assignee {
            check_text("assignee", a, 256, false)?;
        }
        let mut change = Change::begin(self).await?;
        let mut case = case_in(&mut change, id).await?;
        if case.status == CaseStatus::Closed {
            return Err(RegistryError::invalid(
                "case",
                format!("`{id}` is closed; only open cases are assigned"),
            ));
        }
        sqlx::query("UPDATE cases SET assignee = $1 WHERE id = $2")
            .bind(assignee.map(str::to_string))
            .bind(id.to_string())
            .execute(change.conn())
            .await
            .ctx("assigning a case")?;
        let record = AuditRecord {
            actor: actor.to_string(),
            action: "case.assign".into(),
            subject: id.to_string(),
            before: Some(serde_json::json!({ "assignee": case.assignee })),
            after: Some(if note.is_empty() {
                serde_json::json!({ "assignee": assignee })
            } else {
                serde_json::json!({ "assignee": assignee, "note": note })
            }),
            time: change.now,
        };
        change.audit(&[record]).await?;
        change.commit().await?;
        case.assignee = assignee.map(str::to_string);
        Ok(case)
    }

    /// When pipeline `pipeline` last committed its outputs here (µs since the Unix epoch,
    /// the latest over its partitions); `None` if it never has.
    pub async fn pipeline_last_commit(&self, pipeline: &str) -> Result<Option<i64>> {
        let mut conn = self.conn().await?;
        let row = sqlx::query("SELECT MAX(updated_at) FROM pipeline_progress WHERE pipeline = $1")
            .bind(pipeline.to_string())
            .fetch_one(&mut *conn)
            .await
            .ctx("reading pipeline progress")?;
        row.try_get::<Option<i64>, _>(0)
            .ctx("reading pipeline progress")
    }

    /// Per partition, the last source offset whose outputs pipeline `pipeline` committed
    /// here (partitions it never wrote are absent).
    pub async fn pipeline_progress(&self, pipeline: &str) -> Result<BTreeMap<u32, u64>> {
        const CTX: &str = "reading pipeline progress";
        let mut conn = self.conn().await?;
        let rows = sqlx::query(
            "SELECT partition_no, source_offset FROM pipeline_progress WHERE pipeline = $1",
        )
        .bind(pipeline.to_string())
        .fetch_all(&mut *conn)
        .await
        .ctx(CTX)?;
        let mut out = BTreeMap::new();
        for r in &rows {
            let p: i64 = r.try_get(0).ctx(CTX)?;
            let o: i64 = r.try_get(1).ctx(CTX)?;
            let (Ok(p), Ok(o)) = (u32::try_from(p), u64::try_from(o)) else {
                return Err(RegistryError::Corrupt(format!(
                    "pipeline {pipeline}: progress row ({p}, {o}) is out of range"
                )));
            };
            out.insert(p, o);
        }
        Ok(out)
    }

    /// Opens `cases`, appends `audit` to the chain and records `progress` for pipeline
    /// `pipeline`, all in one transaction: either all of it is stored or none of it.
    /// Case ids must be new (a pipeline skips outputs at or below its progress).
    pub async fn pipeline_commit(
        &self,
        pipeline: &str,
        cases: &[NewCase],
        audit: &[AuditRecord],
        progress: &BTreeMap<u32, u64>,
    ) -> Result<()> {
        if cases.is_empty() && audit.is_empty() && progress.is_empty() {
            return Ok(());
        }
        let progress: Vec<(i64, i64)> = progress
            .iter()
            .map(|(&p, &o)| Ok((i64::from(p), offset_i64(p, o)?)))
            .collect::<Result<_>>()?;
        let source = format!("pipeline:{pipeline}");
        let mut change = Change::begin(self).await?;
        let now = change.now;
        insert_cases(&mut change, &source, cases, now, "").await?;
        change.audit(audit).await?;
        for (p, o) in progress {
            sqlx::query(AssertSqlSafe(crate::tenant::on_conflict(
                crate::db::is_postgres(change.conn()),
                "INSERT INTO pipeline_progress (pipeline, partition_no, source_offset, updated_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (pipeline, partition_no) DO UPDATE SET \
                 source_offset = excluded.source_offset, updated_at = excluded.updated_at",
            )))
            .bind(pipeline.to_string())
            .bind(p)
            .bind(o)
            .bind(now)
            .execute(change.conn())
            .await
            .ctx("recording pipeline progress")?;
        }
        change.commit().await
    }

    /// Cases matching `q`, in its order, from its offset.
    pub async fn cases(&self, q: &CaseQuery) -> Result<Vec<Case>> {
        let (filter, params) = q.filter();
        let n = params.len();
        let limit = q.limit.clamp(1, 10_000) as i64;
        let offset = i64::try_from(q.offset).unwrap_or(i64::MAX);
        let query = bind_all(
            sqlx::query(AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM cases{filter} ORDER BY {} LIMIT ${} OFFSET ${}",
                q.sort.order_by(),
                n + 1,
                n + 2
            ))),
            params,
        );
        let mut conn = self.conn().await?;
        let rows = query
            .bind(limit)
            .bind(offset)
            .fetch_all(&mut *conn)
            .await
            .ctx("reading cases")?;
        rows.iter().map(case_from_row).collect()
    }

    /// The case with this id.
    pub async fn case(&self, id: &str) -> Result<Case> {
        let mut conn = self.conn().await?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM cases WHERE id = $1"
        )))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .ctx("reading a case")?;
        match row {
            Some(r) => case_from_row(&r),
            None => Err(RegistryError::NotFound {
                what: "case",
                id: id.to_string(),
            }),
        }
    }

    /// Closes an open case with the analyst's label and note; audited as `case.close` in
    /// the same transaction. Closing a closed case is refused and names who closed it.
    pub async fn close_case(
        &self,
        id: &str,
        label: CaseLabel,
        note: &str,
        actor: &str,
    ) -> Result<Case> {
        check_actor(actor)?;
        check_text("note", note, 4096, true)?;
        let mut change = Change::begin(self).await?;
        let mut case = case_in(&mut change, id).await?;
        if case.status == CaseStatus::Closed {
            return Err(RegistryError::invalid(
                "case",
                format!(
                    "`{id}` was already closed as {} by {}",
                    case.label.as_deref().unwrap_or("?"),
                    case.closed_by.as_deref().unwrap_or("?")
                ),
            ));
        }
        let note = (!note.is_empty()).then(|| note.to_string());
        sqlx::query(
            "UPDATE cases SET status = $1, label = $2, note = $3, closed_at = $4, closed_by = $5 \
             WHERE id = $6",
        )
        .bind(CaseStatus::Closed.as_str())
        .bind(label.as_str())
        .bind(note.clone())
        .bind(change.now)
        .bind(actor.to_string())
        .bind(id.to_string())
        .execute(change.conn())
        .await
        .ctx("closing a case")?;
        sqlx::query("UPDATE case_rules SET status = $1 WHERE case_id = $2")
            .bind(CaseStatus::Closed.as_str())
            .bind(id.to_string())
            .execute(change.conn())
            .await
            .ctx("closing a case")?;
        let record = AuditRecord {
            actor: actor.to_string(),
            action: "case.close".into(),
            subject: id.to_string(),
            before: Some(serde_json::json!({ "status": "open", "tx_id": case.tx_id })),
            after: Some(serde_json::json!({
                "status": "closed",
                "label": label.as_str(),
                "note": note,
            })),
            time: change.now,
        };
        change.audit(&[record]).await?;
        let now = change.now;
        change.commit().await?;
        case.status = CaseStatus::Closed;
        case.label = Some(label.as_str().to_string());
        case.note = note;
        case.closed_at = Some(now);
        case.closed_by = Some(actor.to_string());
        Ok(case)
    }
}
