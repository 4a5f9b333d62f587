//! The BERT encoder of a sentence-embedding model, on candle: token, position and segment
//! embeddings, then `num_hidden_layers` post-norm transformer layers (self-attention over
//! the unpadded tokens, GELU feed-forward). Inference only: no dropout, no pooler.
//!
//! Why our own forward (about a hundred lines) rather than `candle-transformers`' BERT:
//! that crate compiles every model it carries, and its loader cannot say which tensor of a
//! damaged file is missing. The layout follows the Hugging Face `BertModel` names
//! (`embeddings.word_embeddings.weight`, `encoder.layer.N.attention.self.query.weight`, …).

use candle_core::{DType, Device, Module, Result, Tensor, D};
use candle_nn::{embedding, layer_norm, linear, Embedding, LayerNorm, Linear, VarBuilder};

/// The fields of a BERT `config.json` the forward needs.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct BertConfig {
    /// Word-piece vocabulary size.
    pub vocab_size: usize,
    /// Width of every hidden state.
    pub hidden_size: usize,
    /// Transformer layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer (divides `hidden_size`).
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Longest sequence the position table covers.
    pub max_position_embeddings: usize,
    /// Segment types.
    pub type_vocab_size: usize,
    /// Layer-norm epsilon.
    pub layer_norm_eps: f64,
    /// Activation of the feed-forward layer; only `gelu` (the erf form) is supported.
    pub hidden_act: String,
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attn_out: Linear,
    attn_norm: LayerNorm,
    up: Linear,
    down: Linear,
    out_norm: LayerNorm,
}

/// A loaded encoder.
pub(crate) struct Bert {
    words: Embedding,
    positions: Embedding,
    segments: Embedding,
    norm: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
    head_size: usize,
}

impl std::fmt::Debug for Bert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bert")
            .field("layers", &self.layers.len())
            .field("heads", &self.heads)
            .field("head_size", &self.head_size)
            .finish()
    }
}

impl Bert {
    /// Reads every weight the config asks for; a missing or misshapen tensor fails here,
    /// with its name, never at the first text.
    pub(crate) fn load(vb: VarBuilder, c: &BertConfig) -> Result<Self> {
        let vb = if vb.contains_tensor("bert.embeddings.word_embeddings.weight") {
            vb.pp("bert")
        } else {
            vb
        };
        let h = c.hidden_size;
        let e = vb.pp("embeddings");
        let layer = |i: usize| -> Result<Layer> {
            let l = vb.pp(format!("encoder.layer.{i}"));
            let a = l.pp("attention");
            Ok(Layer {
                query: linear(h, h, a.pp("self.query"))?,
                key: linear(h, h, a.pp("self.key"))?,
                value: linear(h, h, a.pp("self.value"))?,
                attn_out: linear(h, h, a.pp("output.dense"))?,
                attn_norm: layer_norm(h, c.layer_norm_eps, a.pp("output.LayerNorm"))?,
                up: linear(h, c.intermediate_size, l.pp("intermediate.dense"))?,
                down: linear(c.intermediate_size, h, l.pp("output.dense"))?,
                out_norm: layer_norm(h, c.layer_norm_eps, l.pp("output.LayerNorm"))?,
            })
        };
        Ok(Bert {
            words: embedding(c.vocab_size, h, e.pp("word_embeddings"))?,
            positions: embedding(c.max_position_embeddings, h, e.pp("position_embeddings"))?,
            segments: embedding(c.type_vocab_size, h, e.pp("token_type_embeddings"))?,
            norm: layer_norm(h, c.layer_norm_eps, e.pp("LayerNorm"))?,
            layers: (0..c.num_hidden_layers)
                .map(layer)
                .collect::<Result<Vec<_>>>()?,
            heads: c.num_attention_heads,
            head_size: h / c.num_attention_heads,
        })
    }

    /// Hidden states `(batch, seq, hidden)` of token ids `(batch, seq)` (u32, segment 0),
    /// `mask` `(batch, seq)` f32 with 1 for a token and 0 for padding.
    pub(crate) fn forward(&self, ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (b, n) = ids.dims2()?;
        let dev = ids.device();
        let pos = Tensor::arange(0u32, n as u32, dev)?;
        let seg = Tensor::zeros((b, n), DType::U32, dev)?;
        let x = self
            .words
            .forward(ids)?
            .add(&self.segments.forward(&seg)?)?
            .broadcast_add(&self.positions.forward(&pos)?)?;
        let mut x = self.norm.forward(&x)?;
        // Padding gets a large negative score before the softmax: (1 - mask) · -10000, as
        // the reference implementation's extended attention mask (f32 minimum there; both
        // give exactly zero weight after the softmax).
        let bias = ((mask.ones_like()? - mask)? * -10_000.0)?.reshape((b, 1, 1, n))?;
        for l in &self.layers {
            x = self.layer(l, &x, &bias, b, n)?;
        }
        Ok(x)
    }

    fn layer(&self, l: &Layer, x: &Tensor, bias: &Tensor, b: usize, n: usize) -> Result<Tensor> {
        let split = |t: Tensor| -> Result<Tensor> {
            t.reshape((b, n, self.heads, self.head_size))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = split(l.query.forward(x)?)?;
        let k = split(l.key.forward(x)?)?;
        let v = split(l.value.forward(x)?)?;
        let scores = (q.matmul(&k.t()?)? / (self.head_size as f64).sqrt())?.broadcast_add(bias)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let ctx = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .flatten_from(D::Minus2)?;
        let a = l.attn_norm.forward(&(l.attn_out.forward(&ctx)? + x)?)?;
        let f = l.down.forward(&l.up.forward(&a)?.gelu_erf()?)?;
        l.out_norm.forward(&(f + a)?)
    }
}

/// The device every embedding runs on (CPU; candle's matrix products use all the threads
/// `RAYON_NUM_THREADS` allows, by default every core).
pub(crate) fn device() -> Device {
    Device::Cpu
}
