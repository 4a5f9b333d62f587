//! Embeddings of every narrative of a complaints file, cached in one binary file so that the
//! examples that tune or score the embedding head embed each text once (minutes on 2 cores).
//!
//! Format: a line `riskstream-embed-cache 1 <model identity> <rows> <dim>`, then the rows'
//! floats as little-endian f32, row after row. A file for another model, another row count
//! or another width is ignored and rewritten.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)] // an example fails loudly

use riskstream_text::embed::Embedder;
use std::path::Path;
use std::time::Instant;

/// Embeddings of `texts` by `e`, read from `cache` when it holds them, else computed and
/// written there. Prints where they came from and, when computed, the texts per second.
pub fn embeddings(e: &Embedder, texts: &[&str], cache: Option<&Path>) -> Vec<Vec<f32>> {
    let head = format!(
        "riskstream-embed-cache 1 {} {} {}\n",
        e.identity(),
        texts.len(),
        e.dim()
    );
    if let Some(p) = cache {
        if let Ok(bytes) = std::fs::read(p) {
            if bytes.starts_with(head.as_bytes())
                && bytes.len() == head.len() + texts.len() * e.dim() * 4
            {
                let floats: Vec<f32> = bytes[head.len()..]
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                eprintln!(
                    "embeddings of {} texts read from {}",
                    texts.len(),
                    p.display()
                );
                return floats.chunks(e.dim()).map(<[f32]>::to_vec).collect();
            }
        }
    }
    let t0 = Instant::now();
    let out = e.embed(texts).expect("embed");
    let s = t0.elapsed().as_secs_f64();
    eprintln!(
        "embedded {} texts in {s:.1} s ({:.2} texts/s)",
        texts.len(),
        texts.len() as f64 / s
    );
    if let Some(p) = cache {
        let mut bytes = head.into_bytes();
        for r in &out {
            for v in r {
                bytes.extend_from_slice(&v.to_le_bytes());
            }
        }
        std::fs::write(p, bytes).expect("write the embedding cache");
    }
    out
}
