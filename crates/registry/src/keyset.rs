//! The review queue paged by key: a page starts after (or ends before) the case a link
//! names, so the last page of a million cases costs what the first does — where `OFFSET`
//! reads and drops every case before the page.
//!
//! ```text
//!  order                 phases (each an index walk)                          index
//!  oldest / newest       all cases: created_at, id (asc / desc)               cases_by_status
//!  score_desc            scored: score DESC, created_at, id ─▶ unscored: created_at, id
//!                                                             cases_by_score_desc, cases_by_status
//!  score_asc             scored: score, created_at, id ─────▶ unscored: created_at, id
//!                                                             cases_by_score_asc, cases_by_status
//! ```
//!
//! With a rule, the same phases walk that rule's `case_rules` rows instead (they carry the
//! case's status, score and opening time: `case_rules_by_time`, `case_rules_by_score_desc`,
//! `case_rules_by_score_asc`, and the `case_rules_all_*` three without a status), joined to
//! `cases` by primary key for the rows a page keeps; a score range is then tested inside
//! the index walk rather than a rule inside a walk of the score range.
//!
//! Cases without a score come last in both score orders, as in [`CaseSort`]. Each phase is
//! its own query with a plain `ORDER BY` the index serves, so both databases walk the index
//! instead of sorting (a `CASE WHEN score IS NULL` key cannot use one). A page that ends a
//! phase is filled from the next. Going backward (the previous page, the last page) walks
//! the same indexes the other way and reverses the rows.
//!
//! The position "after case k" is `(score, created_at, id)` of k: `score < s OR (score = s
//! AND (created_at > c OR (created_at = c AND id > i)))` for `score_desc`, with the
//! redundant `score <= s` beside it so the planner seeks to it in the index.

use sqlx::AssertSqlSafe;

use crate::cases::{bind_all, case_from_row, Param, Rows};
use crate::error::{DbContext, Result};
use crate::{Case, CaseQuery, CaseSort, Registry};

/// Where a page of cases is.
#[derive(Debug, Clone, PartialEq)]
pub enum CasePage {
    /// The first page.
    First,
    /// The page after this case.
    After(CaseCursor),
    /// The page before this case.
    Before(CaseCursor),
    /// The last page.
    Last,
}

/// A case's position in every order: its score, creation time and id.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseCursor {
    /// Its score (`None`: unscored, after every scored case in the score orders).
    pub score: Option<f64>,
    /// When it was opened (µs).
    pub created_at: i64,
    /// Its id.
    pub id: String,
}

impl CaseCursor {
    /// The position of `c`.
    pub fn of(c: &Case) -> CaseCursor {
        CaseCursor {
            score: c.score,
            created_at: c.created_at,
            id: c.id.clone(),
        }
    }

    /// As text for a link: `score~created_at~id` (`-` for no score).
    pub fn encode(&self) -> String {
        let s = self
            .score
            .map_or_else(|| "-".to_string(), |s| format!("{s:?}"));
        format!("{s}~{}~{}", self.created_at, self.id)
    }

    /// Reads [`CaseCursor::encode`]'s text; `None` if it is not one.
    pub fn decode(text: &str) -> Option<CaseCursor> {
        let mut it = text.splitn(3, '~');
        let score = match it.next()? {
            "-" => None,
            s => Some(s.parse::<f64>().ok().filter(|v| v.is_finite())?),
        };
        let created_at = it.next()?.parse().ok()?;
        let id = it.next()?.to_string();
        Some(CaseCursor {
            score,
            created_at,
            id,
        })
    }
}

/// One phase of an order: the cases it holds and their order, column by column
/// (`true`: descending).
struct Phase {
    scored: Option<bool>,
    keys: &'static [(&'static str, bool)],
}

fn phases(sort: CaseSort) -> Vec<Phase> {
    const TIME: &[(&str, bool)] = &[("created_at", false), ("id", false)];
    match sort {
        CaseSort::Oldest => vec![Phase {
            scored: None,
            keys: TIME,
        }],
        CaseSort::Newest => vec![Phase {
            scored: None,
            keys: &[("created_at", true), ("id", true)],
        }],
        CaseSort::ScoreDesc | CaseSort::ScoreAsc => vec![
            Phase {
                scored: Some(true),
                keys: if sort == CaseSort::ScoreDesc {
                    &[("score", true), ("created_at", false), ("id", false)]
                } else {
                    &[("score", false), ("created_at", false), ("id", false)]
                },
            },
            Phase {
                scored: Some(false),
                keys: TIME,
            },
        ],
    }
}

/// Which phase a cursor is in.
fn phase_of(phases: &[Phase], c: &CaseCursor) -> usize {
    phases
        .iter()
        .position(|p| p.scored.is_none_or(|s| s == c.score.is_some()))
        .unwrap_or(0)
}

/// The condition "strictly after `c` in `keys`" (`forward`) or "strictly before", its
/// parameters appended to `params`.
fn beyond(
    keys: &[(&str, bool)],
    rows: Rows,
    c: &CaseCursor,
    forward: bool,
    params: &mut Vec<Param>,
) -> String {
    let value = |col: &str| match col {
        "score" => Param::Real(c.score.unwrap_or(0.0)),
        "created_at" => Param::Int(c.created_at),
        _ => Param::Text(c.id.clone()),
    };
    let op = |desc: bool, strict: bool| {
        let greater = desc != forward;
        match (greater, strict) {
            (true, true) => ">",
            (true, false) => ">=",
            (false, true) => "<",
            (false, false) => "<=",
        }
    };
    let slot = |col: &str, params: &mut Vec<Param>| {
        params.push(value(col));
        format!("${}", params.len())
    };
    // Innermost first: c3 op v3, then c2 op v2 OR (c2 = v2 AND (...)), ...
    let mut expr = String::new();
    for (k, &(key, desc)) in keys.iter().enumerate().rev() {
        let a = slot(key, params);
        let col = rows.col(key);
        expr = if k == keys.len() - 1 {
            format!("{col} {} {a}", op(desc, true))
        } else {
            let b = slot(key, params);
            format!("({col} {} {a} OR ({col} = {b} AND {expr}))", op(desc, true))
        };
    }
    // The redundant bound on the first key lets the planner seek in the index.
    let (key, desc) = keys[0];
    let s = slot(key, params);
    format!("{} {} {s} AND {expr}", rows.col(key), op(desc, false))
}

/// A rule with a score range in a time order holding at least this many cases is read by
/// walking the time index and testing the score in it; a sparser one by reading the range
/// from the score index and sorting it (at most this many rows).
const DENSE: u64 = 2_000;

impl Registry {
    /// Whether a page of `q` should walk the rule's time index with the score tested inside
    /// it, rather than read the score range and sort it. Each is fast in its own case and
    /// slow in the other's: over 1,000,000 cases, the rule's 25,000 cases in a score range
    /// take ~40 ms to read and sort, while a page from the time walk reads ~500 index
    /// entries; but a range of 50 cases is read at once, while the time walk would pass the
    /// rule's 250,000 others. The planner cannot tell them apart without statistics; a count
    /// of the range up to [`DENSE`] (at most that many index entries) can.
    async fn walk_time(&self, q: &CaseQuery, rows: Rows) -> Result<bool> {
        let ranged = q.score_min.is_some() || q.score_max.is_some();
        let timed = matches!(q.sort, CaseSort::Oldest | CaseSort::Newest);
        if !(matches!(rows, Rows::RuleRows { .. }) && ranged && timed) {
            return Ok(false);
        }
        let range = CaseQuery {
            status: q.status,
            rule: q.rule.clone(),
            score_min: q.score_min,
            score_max: q.score_max,
            ..Default::default()
        };
        Ok(self.count_cases_up_to(&range, DENSE).await? >= DENSE)
    }

    /// One page (`q.limit` cases, at most 10,000) of the cases matching `q`'s filters in
    /// `q.sort`'s order, at `page`; `q.offset` is ignored. Rows come in the order's
    /// direction whichever way the page was reached.
    pub async fn cases_page(&self, q: &CaseQuery, page: &CasePage) -> Result<Vec<Case>> {
        let phases = phases(q.sort);
        let limit = q.limit.clamp(1, 10_000);
        let forward = matches!(page, CasePage::First | CasePage::After(_));
        // The phases to read, in reading order, and the cursor for the first of them.
        let (order, cursor): (Vec<usize>, Option<&CaseCursor>) = match page {
            CasePage::First => ((0..phases.len()).collect(), None),
            CasePage::Last => ((0..phases.len()).rev().collect(), None),
            CasePage::After(c) => ((phase_of(&phases, c)..phases.len()).collect(), Some(c)),
            CasePage::Before(c) => ((0..=phase_of(&phases, c)).rev().collect(), Some(c)),
        };
        let mut out: Vec<Case> = Vec::new();
        let rows = q.rows(true);
        let walk_time = self.walk_time(q, rows).await?;
        let mut conn = self.conn().await?;
        for (n, &k) in order.iter().enumerate() {
            if out.len() >= limit {
                break;
            }
            let p = &phases[k];
            let (filter, mut params) = q.filter_hinted(rows, walk_time);
            let mut clauses = Vec::new();
            match p.scored {
                Some(true) => clauses.push(format!("{} IS NOT NULL", rows.col("score"))),
                Some(false) => clauses.push(format!("{} IS NULL", rows.col("score"))),
                None => {}
            }
            if let (0, Some(c)) = (n, cursor) {
                clauses.push(beyond(p.keys, rows, c, forward, &mut params));
            }
            let mut sql = format!("SELECT {}{}{filter}", rows.columns(), rows.from());
            if !clauses.is_empty() {
                sql.push_str(if filter.is_empty() {
                    " WHERE "
                } else {
                    " AND "
                });
                sql.push_str(&clauses.join(" AND "));
            }
            let order_by: Vec<String> = p
                .keys
                .iter()
                .map(|&(key, desc)| {
                    let descending = if forward { desc } else { !desc };
                    format!("{}{}", rows.col(key), if descending { " DESC" } else { "" })
                })
                .collect();
            params.push(Param::Int((limit - out.len()) as i64));
            sql.push_str(&format!(
                " ORDER BY {} LIMIT ${}",
                order_by.join(", "),
                params.len()
            ));
            let rows = bind_all(sqlx::query(AssertSqlSafe(sql)), params)
                .fetch_all(&mut *conn)
                .await
                .ctx("reading a page of cases")?;
            for r in &rows {
                out.push(case_from_row(r)?);
            }
        }
        if !forward {
            out.reverse();
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        for c in [
            CaseCursor {
                score: Some(0.93),
                created_at: 17,
                id: "serve:cards:7~x".into(),
            },
            CaseCursor {
                score: None,
                created_at: -3,
                id: String::new(),
            },
        ] {
            assert_eq!(CaseCursor::decode(&c.encode()), Some(c));
        }
        assert_eq!(CaseCursor::decode("x~1~a"), None);
        assert_eq!(CaseCursor::decode("NaN~1~a"), None);
        assert_eq!(CaseCursor::decode("0.5~1"), None);
    }

    #[test]
    fn the_bound_is_lexicographic_with_a_seek_term() {
        let c = CaseCursor {
            score: Some(0.5),
            created_at: 10,
            id: "k".into(),
        };
        let mut p = Vec::new();
        let keys = &[("score", true), ("created_at", false), ("id", false)];
        assert_eq!(
            beyond(keys, Rows::Cases, &c, true, &mut p),
            "score <= $6 AND (score < $4 OR (score = $5 AND (created_at > $2 OR (created_at = $3 AND id > $1))))"
        );
        assert_eq!(p.len(), 6);
        let mut p = Vec::new();
        assert_eq!(
            beyond(keys, Rows::Cases, &c, false, &mut p),
            "score >= $6 AND (score > $4 OR (score = $5 AND (created_at < $2 OR (created_at = $3 AND id < $1))))"
        );
    }
}
