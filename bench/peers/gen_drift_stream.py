#!/usr/bin/env python3
"""Write a deterministic drifting classification stream to CSV (river's synth generators).

Three concepts of river's Agrawal generator (classification functions 0 -> 2 -> 4, with
5% perturbation of the numeric attributes), joined by two ConceptDriftStream sigmoid
transitions of width --width centred at 1/3 and 2/3 of the stream. A `ts` column (unix
seconds, one row every --step seconds from 2024-01-01) gives the stream an event time,
so the online evaluator can use day windows and a label delay. Every value is written
with repr(), so a reader that parses the text gets exactly the floats river produced.

Used by riskstream's online-learning golden tests: our Hoeffding tree and river's read
the same file, in file order.

Usage
  python gen_drift_stream.py --out ../peers-data/drift.csv [--rows 300000] [--seed 7]
"""
import argparse
import csv
import itertools


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--rows", type=int, default=300_000)
    ap.add_argument("--width", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--step", type=int, default=30, help="seconds between rows")
    a = ap.parse_args()
    from river.datasets import synth

    third = a.rows // 3
    first = synth.Agrawal(classification_function=0, seed=a.seed, perturbation=0.05)
    second = synth.Agrawal(classification_function=2, seed=a.seed + 1, perturbation=0.05)
    third_c = synth.Agrawal(classification_function=4, seed=a.seed + 2, perturbation=0.05)
    inner = synth.ConceptDriftStream(stream=second, drift_stream=third_c, position=third,
                                     width=a.width, seed=a.seed + 3)
    stream = synth.ConceptDriftStream(stream=first, drift_stream=inner, position=third,
                                      width=a.width, seed=a.seed + 4)
    t0 = 1_704_067_200  # 2024-01-01T00:00:00Z
    with open(a.out, "w", newline="") as fh:
        w = csv.writer(fh)
        header = None
        for i, (x, y) in enumerate(itertools.islice(stream, a.rows)):
            if header is None:
                header = list(x)
                w.writerow(["ts", *header, "label"])
            w.writerow([t0 + i * a.step, *(repr(float(x[k])) for k in header), int(y)])
    print(f"wrote {a.rows} rows to {a.out}")


if __name__ == "__main__":
    main()
