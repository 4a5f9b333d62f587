//! Everything a model file says about one complaint, in one call: the routing label with
//! its calibrated score and reasons (or, for a multi-label model, every label over its
//! threshold), the lexicon sentiment when the model carries it, and the escalation risk
//! with its reasons when the model carries an escalation model. The CLI's `text classify`
//! and the service's `POST /v1/complaints/classify` both answer with this.

use crate::escalation::{escalation, Escalation};
use crate::model::{Reason, Scratch, TextModel};
use crate::sentiment::{Sentiment, SentimentScorer};
use crate::token::Tokenizer;
use serde::Serialize;

/// One label of a multi-label prediction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelScore {
    /// The label.
    pub label: String,
    /// Its raw one-vs-rest score (it is at least the label's threshold).
    pub score: f64,
    /// The phrases that raised it.
    pub reasons: Vec<Reason>,
}

/// The full reading of one complaint.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Classified {
    /// The most likely label (multi-label: the highest-scoring label over its threshold,
    /// or the highest-scoring label when none is).
    pub label: String,
    /// Its calibrated probability (multi-label: its raw score).
    pub score: f64,
    /// The phrases that drove it, largest first.
    pub reasons: Vec<Reason>,
    /// Multi-label models: every label at or over its threshold, highest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<LabelScore>>,
    /// The lexicon sentiment, when the model carries sentiment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sentiment: Option<Sentiment>,
    /// The escalation risk, when the model carries an escalation model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub escalation: Option<Escalation>,
    /// Tokens read.
    pub tokens: usize,
    /// The text was longer than `max_tokens` tokens; the rest was not read.
    pub truncated: bool,
    /// No known word: the label is the class priors'.
    pub no_features: bool,
}

/// Reads complaints with one model; holds the sentiment scorer.
#[derive(Debug)]
pub struct Reader<'a> {
    model: &'a TextModel,
    sentiment: Option<SentimentScorer>,
    scratch: Scratch,
}

impl<'a> Reader<'a> {
    /// A reader of `model`'s outputs.
    pub fn new(model: &'a TextModel) -> Self {
        Reader {
            model,
            sentiment: model
                .sentiment
                .as_ref()
                .map(|_| SentimentScorer::new(Tokenizer::new(model.tokenizer.clone()))),
            scratch: Scratch::default(),
        }
    }

    /// Classifies one text with up to `reasons` reasons per output.
    pub fn read(&mut self, text: &str, reasons: usize) -> Classified {
        self.read_embedded(text, None, reasons)
    }

    /// Classifies one text given its sentence embedding: when the model has an embedding
    /// head the label is the blend's ([`crate::head`]); the caller has checked the embedder
    /// with [`crate::head::Embedded::new`].
    pub fn read_embedded(
        &mut self,
        text: &str,
        embedding: Option<&[f32]>,
        reasons: usize,
    ) -> Classified {
        let m = self.model;
        let p = m.predict_embedded(text, embedding, reasons, &mut self.scratch);
        let mut out = Classified {
            label: m.labels()[p.label].clone(),
            score: p.score,
            reasons: p.reasons,
            labels: None,
            sentiment: None,
            escalation: None,
            tokens: p.tokens,
            truncated: p.truncated,
            no_features: p.no_features,
        };
        if let Some(mut ls) = m.predict_labels(text, reasons, &mut self.scratch) {
            ls.sort_by(|a, b| b.1.total_cmp(&a.1));
            if let Some((c, s, r)) = ls.first() {
                out.label = m.labels()[*c].clone();
                out.score = *s;
                out.reasons = r.clone();
            } else {
                out.score = m.scores(text, &mut self.scratch)[p.label];
            }
            out.labels = Some(
                ls.into_iter()
                    .map(|(c, score, reasons)| LabelScore {
                        label: m.labels()[c].clone(),
                        score,
                        reasons,
                    })
                    .collect(),
            );
        }
        if let Some(s) = &self.sentiment {
            out.sentiment = Some(s.score(text));
        }
        if let Some(e) = &m.escalation {
            out.escalation = Some(escalation(e, text, reasons, &mut self.scratch));
        }
        out
    }
}
