#!/bin/bash
# Recommendations (issue 28): ours beside Spark MLlib ALS and `implicit`, same data, same run.
# One JSON line per measurement on stdout (also appended to $OUT if set).
#
#   SPARK_PY=/work/peers-venv/spark/bin/python IMPLICIT_PY=/work/peers-venv/rec/bin/python \
#   OURS=target/release/examples/ml100k scripts/peers/run_recommend.sh
#
# OURS: the `ml100k` example of riskstream-recommend
#   (cargo build --release -p riskstream-recommend --example ml100k).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
data="${DATA:-$root/../shared/data/movielens-100k/ratings.csv.gz}"
split="${SPLIT_DIR:-$(mktemp -d)}"
out="${OUT:-/dev/null}"
threads="${PEERS_THREADS:-2}"
say() { echo "$1" | tee -a "$out"; }

# 1. Explicit ALS on the official u1–u5 folds, Spark's settings (rank 10, 10 iterations, reg 0.1).
say "$("$OURS" explicit 10 0.1 0.1 10 1)"
if [ -n "${SPARK_PY:-}" ]; then
  PYTHONPATH="${PEERS_DIR:-$root/../shared/peers}" "$SPARK_PY" "$here/spark_als_folds.py" --input "$data" \
      --rank 10 --iters 10 --reg 0.1 | while read -r l; do say "$l"; done
fi
# 2. Explicit ALS at our tuned defaults (the golden test's RMSE).
say "$("$OURS" explicit)"

# 3. Implicit ALS on a 75/25 split stratified by user: implicit writes the split, both train on it.
if [ -n "${IMPLICIT_PY:-}" ]; then
  for f in ${FACTORS:-64}; do
    say "$("$IMPLICIT_PY" "$here/implicit_ml100k.py" --ratings "$data" --out-dir "$split" \
        --factors "$f" --reg "${REG:-50}" --alpha "${ALPHA:-1}" --iters "${ITERS:-15}" --threads "$threads")"
    say "$("$OURS" implicit-files "$split/train.csv" "$split/test.csv" "$f" "${REG:-50}" "${ALPHA:-1}" "${ITERS:-15}" 3)"
  done
fi
