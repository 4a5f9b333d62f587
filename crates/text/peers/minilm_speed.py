#!/usr/bin/env python3
"""Peer of `examples/embed_cfpb.rs`: sentence-transformers embedding the same texts with the same
all-MiniLM-L6-v2 directory, limited to the same number of threads.

Reads a JSON list of texts (written by the example), embeds them with batch size 32 (the
default of both sides) after one warm-up batch, and prints one JSON line: texts, threads,
wall seconds, texts per second, and the embeddings of the first three texts (the example
checks they equal ours).
  python3 minilm_speed.py --model DIR --texts texts.json --threads 2
"""
import argparse
import json
import os
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--texts", required=True)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[v] = str(a.threads)
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(a.threads)
    with open(a.texts) as f:
        texts = json.load(f)
    model = SentenceTransformer(a.model, device="cpu")
    model.encode(texts[:32], batch_size=32)  # warm-up, as ours has loaded its weights
    t0 = time.perf_counter()
    emb = model.encode(texts, batch_size=32, convert_to_numpy=True)
    s = time.perf_counter() - t0
    print(json.dumps({
        "texts": len(texts),
        "threads": torch.get_num_threads(),
        "seconds": s,
        "texts_per_second": len(texts) / s,
        "torch": torch.__version__,
        "first": [[float(x) for x in e] for e in emb[:3]],
    }))


if __name__ == "__main__":
    main()
