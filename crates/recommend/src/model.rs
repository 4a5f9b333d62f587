//! One recommender, whatever learnt it: id maps, the scorer, the training histories and
//! the popularity fallback, with the business rules applied when it answers.
//!
//! ```text
//!  who ─┬─ known user ─────────────▶ stored factors / history ─┐
//!       ├─ new user with a history ─▶ fold in (exact row solve) ┼─▶ scores of every item
//!       └─ nobody known ────────────▶ popularity in segment ───┘        │
//!   exclude held / seen items and any the caller names ◀───────────────┘
//!   top k by score (ties: lower item index) ─▶ reasons: the held items that contributed most
//! ```
//!
//! The training histories travel with the model because two business rules need them at
//! answer time: "do not offer what the customer already holds" and "say which holdings
//! led to this offer".

use crate::common::Progress;
use crate::data::{Csr, Interactions};
use crate::error::{RecommendError, Result};
use crate::explicit::{ExplicitAlsParams, ExplicitModel};
use crate::ids::IdMap;
use crate::implicit::{ImplicitAlsParams, ImplicitModel};
use crate::knn::{ItemKnnModel, ItemKnnParams};
use crate::popularity::Popularity;

/// Hyper-parameters of any learner, tagged by kind (`{"kind": "implicit_als", "params": {…}}`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "params", rename_all = "snake_case")]
pub enum Params {
    /// Explicit ratings: ALS with biases.
    ExplicitAls(ExplicitAlsParams),
    /// Implicit feedback: Hu–Koren–Volinsky ALS.
    ImplicitAls(ImplicitAlsParams),
    /// Item–item similarity.
    ItemKnn(ItemKnnParams),
    /// Popularity only.
    Popularity,
}

impl Params {
    /// The kind's name.
    pub fn kind(&self) -> &'static str {
        match self {
            Params::ExplicitAls(_) => "explicit_als",
            Params::ImplicitAls(_) => "implicit_als",
            Params::ItemKnn(_) => "item_knn",
            Params::Popularity => "popularity",
        }
    }

    /// Refuses out-of-range values before any data is read.
    pub fn check(&self) -> Result<()> {
        match self {
            Params::ExplicitAls(p) => p.check(),
            Params::ImplicitAls(p) => p.check(),
            Params::ItemKnn(p) => p.check(),
            Params::Popularity => Ok(()),
        }
    }

    /// Fits a recommender. `segment_of[u]` (optional) names each user's segment for the
    /// cold-start popularity; `rating_range` clips explicit predictions.
    pub fn fit(
        &self,
        users: IdMap,
        items: IdMap,
        data: &Interactions,
        segment_of: Option<&[Option<String>]>,
        rating_range: Option<(f64, f64)>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Recommender> {
        self.check()?;
        if users.len() != data.n_users {
            return Err(RecommendError::LengthMismatch {
                what: "user ids",
                expected: data.n_users,
                got: users.len(),
            });
        }
        let scorer = match self {
            Params::ExplicitAls(p) => Scorer::ExplicitAls(p.fit(data, &items, progress)?),
            Params::ImplicitAls(p) => Scorer::ImplicitAls(p.fit(data, &items, progress)?),
            Params::ItemKnn(p) => Scorer::ItemKnn(p.fit(data)?),
            Params::Popularity => {
                if data.nnz() == 0 {
                    return Err(RecommendError::Empty {
                        what: "the training data".into(),
                    });
                }
                Scorer::Popularity
            }
        };
        Ok(Recommender {
            popularity: Popularity::fit(data, segment_of),
            users,
            items,
            scorer,
            history: data.by_user.clone(),
            rating_range,
        })
    }
}

/// The fitted scorer of a recommender.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "model", rename_all = "snake_case")]
pub enum Scorer {
    /// Explicit ALS.
    ExplicitAls(ExplicitModel),
    /// Implicit ALS.
    ImplicitAls(ImplicitModel),
    /// Item–item similarity.
    ItemKnn(ItemKnnModel),
    /// Popularity only.
    Popularity,
}

impl Scorer {
    /// The kind's name.
    pub fn kind(&self) -> &'static str {
        match self {
            Scorer::ExplicitAls(_) => "explicit_als",
            Scorer::ImplicitAls(_) => "implicit_als",
            Scorer::ItemKnn(_) => "item_knn",
            Scorer::Popularity => "popularity",
        }
    }
}

/// A fitted recommender.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Recommender {
    /// User ids ↔ indices.
    pub users: IdMap,
    /// Item ids ↔ indices.
    pub items: IdMap,
    /// What scores items.
    pub scorer: Scorer,
    /// Each training user's items and values.
    pub history: Csr,
    /// Popularity overall and per segment.
    pub popularity: Popularity,
    /// Declared rating range: explicit predictions are clipped to it.
    pub rating_range: Option<(f64, f64)>,
}

/// Whom to recommend for.
#[derive(Debug, Clone, Copy)]
pub enum Who<'a> {
    /// A user the model was trained on (index).
    Known(u32),
    /// A user known only by their interactions (item index, value): folded in.
    History(&'a [(u32, f64)]),
    /// Nobody known: popularity (in `TopOptions::segment` if given).
    Cold,
}

/// Business rules and sizes of a top-k answer.
#[derive(Debug, Clone, Copy)]
pub struct TopOptions<'a> {
    /// How many items.
    pub k: usize,
    /// Leave out what the user already holds or has seen.
    pub exclude_seen: bool,
    /// Further items to leave out (e.g. not eligible).
    pub exclude: &'a [u32],
    /// Reasons per item (held items that contributed most); 0 for none.
    pub reasons: usize,
    /// The user's segment, for the cold-start fallback.
    pub segment: Option<&'a str>,
}

impl Default for TopOptions<'_> {
    fn default() -> Self {
        TopOptions {
            k: 10,
            exclude_seen: true,
            exclude: &[],
            reasons: 0,
            segment: None,
        }
    }
}

/// Where a top-k list came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The model's stored user.
    Model,
    /// The model, with the user folded in from their history.
    FoldedIn,
    /// Popularity within the named segment (cold start).
    SegmentPopularity(String),
    /// Overall popularity (cold start, or a popularity model).
    Popularity,
}

impl Source {
    /// A short label for output files.
    pub fn label(&self) -> String {
        match self {
            Source::Model => "model".into(),
            Source::FoldedIn => "folded_in".into(),
            Source::SegmentPopularity(s) => format!("popularity:{s}"),
            Source::Popularity => "popularity".into(),
        }
    }
}

/// One recommended item.
#[derive(Debug, Clone, PartialEq)]
pub struct Recommended {
    /// Item index.
    pub item: u32,
    /// Score (a predicted rating for explicit ALS).
    pub score: f64,
    /// (held item index, contribution), largest first.
    pub reasons: Vec<(u32, f64)>,
}

/// A top-k answer.
#[derive(Debug, Clone, PartialEq)]
pub struct TopList {
    /// Items, best first.
    pub items: Vec<Recommended>,
    /// Where they came from.
    pub source: Source,
}

/// A user's representation for scoring.
enum UserVec {
    Explicit(Vec<f64>, f64),
    Implicit(Vec<f64>),
    None,
}

/// What a pair prediction had to fall back on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PredictNote {
    /// Both ids known.
    Known,
    /// The user is unknown: the item's bias (explicit) or 0.
    UnknownUser,
    /// The item is unknown: the user's bias (explicit) or 0.
    UnknownItem,
    /// Neither is known: the global mean (explicit) or 0.
    UnknownBoth,
}

impl PredictNote {
    /// Text for output files ("" when known).
    pub fn text(self) -> &'static str {
        match self {
            PredictNote::Known => "",
            PredictNote::UnknownUser => "unknown user",
            PredictNote::UnknownItem => "unknown item",
            PredictNote::UnknownBoth => "unknown user and item",
        }
    }
}

impl Recommender {
    /// A user's training items and values.
    pub fn user_history(&self, u: u32) -> (&[u32], &[f64]) {
        self.history.row(u as usize)
    }

    fn clip(&self, v: f64) -> f64 {
        match (&self.scorer, self.rating_range) {
            (Scorer::ExplicitAls(_), Some((lo, hi))) => v.clamp(lo, hi),
            _ => v,
        }
    }

    /// The prediction for a (user, item) pair of ids, with what it fell back on.
    pub fn predict(&self, user: &str, item: &str) -> (f64, PredictNote) {
        let u = self.users.get(user);
        let i = self.items.get(item);
        let note = match (u, i) {
            (Some(_), Some(_)) => PredictNote::Known,
            (None, Some(_)) => PredictNote::UnknownUser,
            (Some(_), None) => PredictNote::UnknownItem,
            (None, None) => PredictNote::UnknownBoth,
        };
        let v = match &self.scorer {
            Scorer::ExplicitAls(m) => m.predict(u.map(|x| x as usize), i.map(|x| x as usize)),
            Scorer::ImplicitAls(m) => match (u, i) {
                (Some(u), Some(i)) => {
                    let k = m.rank;
                    let (u, i) = (u as usize, i as usize);
                    crate::linalg::dot(
                        &m.user_factors[u * k..(u + 1) * k],
                        &m.item_factors[i * k..(i + 1) * k],
                    )
                }
                _ => 0.0,
            },
            Scorer::ItemKnn(m) => match (u, i) {
                (Some(u), Some(i)) => {
                    let (idx, val) = self.user_history(u);
                    m.explain(idx, val, &[i]).iter().flatten().sum()
                }
                _ => 0.0,
            },
            Scorer::Popularity => i.map_or(0.0, |i| self.popularity.overall[i as usize]),
        };
        (self.clip(v), note)
    }

    /// A new user's representation from their history alone (item index, value): the
    /// exact solve a full ALS step does for that row. `None` for models without user
    /// factors (item similarity and popularity score the history directly).
    pub fn fold_in(&self, idx: &[u32], val: &[f64]) -> Result<Option<(Vec<f64>, f64)>> {
        Ok(match &self.scorer {
            Scorer::ExplicitAls(m) => Some(m.solve_user(idx, val)?),
            Scorer::ImplicitAls(m) => Some((m.solve_user(idx, val)?, 0.0)),
            Scorer::ItemKnn(_) | Scorer::Popularity => None,
        })
    }

    /// The top `opts.k` items for `who`, under the business rules in `opts`.
    pub fn top(&self, who: Who<'_>, opts: &TopOptions<'_>) -> Result<TopList> {
        if let Who::Known(u) = who {
            if u as usize >= self.users.len() {
                return Err(RecommendError::Unknown {
                    what: "user",
                    id: format!("#{u}"),
                });
            }
        }
        // The history as sorted (item, value), duplicates summed, unknown items refused.
        let folded: Option<(Vec<u32>, Vec<f64>)> = match who {
            Who::History(h) => {
                let mut h: Vec<(u32, f64)> = h.to_vec();
                if let Some(&(i, _)) = h.iter().find(|p| p.0 as usize >= self.items.len()) {
                    return Err(RecommendError::Unknown {
                        what: "item",
                        id: format!("#{i}"),
                    });
                }
                h.sort_by_key(|p| p.0);
                let mut idx: Vec<u32> = Vec::with_capacity(h.len());
                let mut val: Vec<f64> = Vec::with_capacity(h.len());
                for (i, v) in h {
                    if idx.last() == Some(&i) {
                        if let Some(last) = val.last_mut() {
                            *last += v;
                        }
                    } else {
                        idx.push(i);
                        val.push(v);
                    }
                }
                Some((idx, val))
            }
            _ => None,
        };
        let (idx, val): (&[u32], &[f64]) = match (&who, &folded) {
            (Who::Known(u), _) => self.user_history(*u),
            (_, Some((i, v))) => (i.as_slice(), v.as_slice()),
            _ => (&[], &[]),
        };
        let cold = idx.is_empty() || matches!(self.scorer, Scorer::Popularity);
        if cold {
            return Ok(self.popular(idx, opts));
        }
        let source = if folded.is_some() {
            Source::FoldedIn
        } else {
            Source::Model
        };
        let n = self.items.len();
        let user = match (&self.scorer, who) {
            (Scorer::ExplicitAls(m), Who::Known(u)) => {
                let (k, u) = (m.rank, u as usize);
                UserVec::Explicit(m.user_factors[u * k..(u + 1) * k].to_vec(), m.user_bias[u])
            }
            (Scorer::ExplicitAls(m), _) => {
                let (x, b) = m.solve_user(idx, val)?;
                UserVec::Explicit(x, b)
            }
            (Scorer::ImplicitAls(m), Who::Known(u)) => {
                let (k, u) = (m.rank, u as usize);
                UserVec::Implicit(m.user_factors[u * k..(u + 1) * k].to_vec())
            }
            (Scorer::ImplicitAls(m), _) => UserVec::Implicit(m.solve_user(idx, val)?),
            _ => UserVec::None,
        };
        let scores = match (&self.scorer, &user) {
            (Scorer::ExplicitAls(m), UserVec::Explicit(x, b)) => {
                m.scores(x, *b).into_iter().map(|v| self.clip(v)).collect()
            }
            (Scorer::ImplicitAls(m), UserVec::Implicit(x)) => m.scores(x),
            (Scorer::ItemKnn(m), _) => m.scores(idx, val, n),
            _ => vec![0.0; n],
        };
        let chosen = select_top(&scores, idx, opts);
        let reasons = if opts.reasons > 0 && !chosen.is_empty() {
            match &self.scorer {
                Scorer::ExplicitAls(m) => m.explain(idx, val, &chosen)?,
                Scorer::ImplicitAls(m) => m.explain(idx, val, &chosen)?,
                Scorer::ItemKnn(m) => m.explain(idx, val, &chosen),
                Scorer::Popularity => Vec::new(),
            }
        } else {
            Vec::new()
        };
        let items = chosen
            .iter()
            .enumerate()
            .map(|(r, &i)| Recommended {
                item: i,
                score: scores[i as usize],
                reasons: reasons
                    .get(r)
                    .map(|c| top_reasons(idx, c, opts.reasons))
                    .unwrap_or_default(),
            })
            .collect();
        Ok(TopList { items, source })
    }

    /// The cold-start answer: popularity in the segment, else overall.
    fn popular(&self, held: &[u32], opts: &TopOptions<'_>) -> TopList {
        let (scores, seg) = self.popularity.scores(opts.segment);
        let chosen = select_top(scores, held, opts);
        TopList {
            items: chosen
                .into_iter()
                .map(|i| Recommended {
                    item: i,
                    score: scores[i as usize],
                    reasons: Vec::new(),
                })
                .collect(),
            source: match seg {
                Some(s) => Source::SegmentPopularity(s.to_string()),
                None => Source::Popularity,
            },
        }
    }

    /// Checks sizes and values of a model read from a file.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let (nu, ni) = (self.users.len(), self.items.len());
        self.history.validate(nu, ni)?;
        self.popularity.validate(ni)?;
        match &self.scorer {
            Scorer::ExplicitAls(m) => m.validate(nu, ni),
            Scorer::ImplicitAls(m) => m.validate(nu, ni),
            Scorer::ItemKnn(m) => m.neighbours.validate(ni, ni),
            Scorer::Popularity => Ok(()),
        }
    }
}

/// Indices of the `k` best finite scores, skipping `held` (when asked) and `opts.exclude`;
/// ties go to the lower index, so answers are deterministic.
fn select_top(scores: &[f64], held: &[u32], opts: &TopOptions<'_>) -> Vec<u32> {
    let mut banned = vec![false; scores.len()];
    if opts.exclude_seen {
        for &i in held {
            if let Some(b) = banned.get_mut(i as usize) {
                *b = true;
            }
        }
    }
    for &i in opts.exclude {
        if let Some(b) = banned.get_mut(i as usize) {
            *b = true;
        }
    }
    let mut cand: Vec<u32> = (0..scores.len() as u32)
        .filter(|&i| !banned[i as usize] && scores[i as usize].is_finite())
        .collect();
    let by = |a: &u32, b: &u32| {
        scores[*b as usize]
            .total_cmp(&scores[*a as usize])
            .then(a.cmp(b))
    };
    if opts.k == 0 {
        return Vec::new();
    }
    if cand.len() > opts.k {
        cand.select_nth_unstable_by(opts.k - 1, by);
        cand.truncate(opts.k);
    }
    cand.sort_by(by);
    cand
}

/// The `n` held items with the largest positive contributions.
fn top_reasons(idx: &[u32], contrib: &[f64], n: usize) -> Vec<(u32, f64)> {
    let mut r: Vec<(u32, f64)> = idx
        .iter()
        .copied()
        .zip(contrib.iter().copied())
        .filter(|p| p.1 > 0.0)
        .collect();
    r.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    r.truncate(n);
    r
}
