//! Complaint text analytics: route each complaint to the right team, with the words that
//! decided it, and find the templated letters.
//!
//! ```text
//!  narrative ─▶ token::Tokenizer (XXXX → <redacted>, XX/XX/2023 → <date>, {$1.00} → <amount>)
//!     ─▶ features: hashed word 1–2-grams (+ character n-grams when asked) ─▶ sublinear
//!        tf · idf, word and character parts L2-normalised apart ─▶ sparse vector
//!     ─▶ train::fit: linear model per class by SGD (hinge or softmax, L2, seeded order),
//!        temperature fitted on the last rows, held out of the first epochs
//!        ─▶ model::TextModel ─▶ file::ModelFile (JSON, hashed, versioned)
//!  TextModel::predict ─▶ label, calibrated probability, reasons (top tokens by x · w)
//!  protocol: time split, accuracy and macro-F1 with and without exact duplicates of
//!        training texts; dedup: MinHash near-duplicate groups
//!  topics: NMF on TF-IDF words ─▶ top words per topic, texts per topic per week, emerging
//!  sentiment: VADER (vader-sentimental) + banking terms ─▶ compound score and the terms
//!  escalation: the same classifier, softmax loss, on relief / no relief (CFPB company
//!        response) ─▶ risk = calibrated P(relief) and the phrases that raised it
//!  multilabel: one-vs-rest hinge with a per-label threshold chosen on the last rows
//!  complaint::Reader: label, score, reasons, sentiment, escalation of one text
//! ```
//!
//! Why our own classifier (fastText's recipe, not a wrapped library): it must be
//! deterministic, explain itself in words, ship as a hashed file the registry can hold,
//! and train and predict in well under a second on a few thousand texts on one core —
//! a linear model over hashed n-grams does all four, and on short, jargon-heavy complaint
//! text it is as accurate as the TF-IDF + linear SVM baseline it is measured against.
//! Why a crate of its own (layer 2, beside `learn`): the input is text, not a table of
//! numbers, and the features are sparse and hashed; `learn`'s dense `Dataset` does not fit.
//!
//! Bad input has documented, panic-free behaviour:
//!
//! | input | training | prediction |
//! |---|---|---|
//! | empty, blank or punctuation-only text | row skipped, counted in [`FitReport`] | class priors (bias only), no reasons, `no_features` set |
//! | bytes that are not UTF-8 ([`TextModel::predict_bytes`], [`read::read_csv`]) | each invalid sequence read as a space, rows counted | the same, counted in `invalid_utf8` |
//! | a very long text (1 MB) | first `max_tokens` tokens (default 20,000), counted | the same, `truncated` set |
//! | a blank label | row skipped, counted | — |
//! | one class only | error: needs two | — |
//! | a test label the model never saw | — | always a miss; enters macro-F1 with F1 = 0 ([`metrics`]) |
//! | a damaged, edited or newer model file | — | refused with the reason ([`ModelFile::load`]) |

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod b64;
pub mod complaint;
pub mod dedup;
pub mod embed;
pub mod error;
pub mod escalation;
pub mod features;
pub mod file;
pub mod head;
pub mod metrics;
pub mod model;
pub mod multilabel;
pub mod protocol;
pub mod read;
pub mod sentiment;
mod sgd;
pub mod token;
pub mod topics;
pub mod train;

pub use complaint::{Classified, LabelScore, Reader};
pub use dedup::{near_duplicates, DuplicateParams};
pub use error::{Result, TextError};
pub use escalation::{fit_escalation, relief_label, Escalation, EscalationEvaluation};
pub use features::FeatureParams;
pub use file::{Card, ModelFile};
pub use model::{Loss, Prediction, Reason, Scratch, TextModel};
pub use multilabel::{fit_multilabel, MultiLabelReport};
pub use protocol::{evaluate, time_split, Evaluation, Scores};
pub use sentiment::{Sentiment, SentimentParams, SentimentScorer};
pub use token::{TokenKind, Tokenizer, TokenizerParams, Tokens};
pub use topics::{topics, trend, TopicParams, Topics, TrendRow};
pub use train::{fit, ClassWeight, ClassifierParams, FitReport};
