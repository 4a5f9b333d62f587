#!/bin/bash
# Recommendations (issue 28): ours beside Spark MLlib ALS and `implicit`, same data, same run.
# One JSON line per measurement on stdout (also appended to $OUT if set).
#
#   SPARK_PY=/work/peers-venv/recommend/bin/python IMPLICIT_PY=/work/peers-venv/recommend/bin/python \
#   OURS=target/release/examples/ml100k nice -n 10 scripts/peers/run_recommend.sh
#
# OURS: the `ml100k` example of riskstream-recommend
#   (cargo build --release -p riskstream-recommend --example ml100k).
#
# CPU time, not only wall time: the machine these run on is shared, and a loaded machine
# stretches wall times unevenly. Each program reports the CPU seconds of its fit from
# /proc (ours and `implicit`: the process, every thread; Spark: its JVM, where the work
# runs). Each command is also wrapped in `/usr/bin/time -f '%U %S'`, which counts the
# process and every child it waited for (the Spark script ends and waits for its JVM), and
# its figures follow as a line {"cpu": label, "user_s", "sys_s", "cpu_s", "wall_s"}. The
# load average is recorded before each command ({"loadavg": …}).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
data="${DATA:-$root/../shared/data/movielens-100k/ratings.csv.gz}"
split="${SPLIT_DIR:-$(mktemp -d)}"
out="${OUT:-/dev/null}"
threads="${PEERS_THREADS:-2}"
say() { echo "$1" | tee -a "$out"; }

# timed LABEL CMD…: runs CMD under /usr/bin/time; passes its stdout lines on, then says the
# load average before it and the CPU seconds it took (the process and its waited-for children).
timed() {
  local label="$1" t0 t1 cpu
  shift
  cpu="$(mktemp)"
  say "{\"loadavg\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"before\": \"$label\"}"
  t0="$(date +%s.%N)"
  /usr/bin/time -f '%U %S' -o "$cpu" "$@" | while read -r l; do say "$l"; done
  t1="$(date +%s.%N)"
  read -r u s < <(tail -n 1 "$cpu")
  say "$(printf '{"cpu": "%s", "user_s": %s, "sys_s": %s, "cpu_s": %.2f, "wall_s": %.2f}' \
    "$label" "$u" "$s" "$(echo "$u + $s" | bc)" "$(echo "$t1 - $t0" | bc)")"
  rm -f "$cpu"
}

# 1. Explicit ALS on the official u1–u5 folds, Spark's settings (rank 10, 10 iterations, reg 0.1).
timed "ours explicit u1-u5 rank 10" "$OURS" explicit 10 0.1 0.1 10 1
if [ -n "${SPARK_PY:-}" ]; then
  PYTHONPATH="${PEERS_DIR:-$root/../shared/peers}" timed "spark explicit u1-u5 rank 10" \
    "$SPARK_PY" "$here/spark_als_folds.py" --input "$data" --rank 10 --iters 10 --reg 0.1
fi
# 2. Explicit ALS at our tuned defaults (the golden test's RMSE).
timed "ours explicit u1-u5 defaults" "$OURS" explicit

# 3. Implicit ALS on a 75/25 split stratified by user: implicit writes the split, both train on it.
if [ -n "${IMPLICIT_PY:-}" ]; then
  for f in ${FACTORS:-64}; do
    timed "implicit factors $f" "$IMPLICIT_PY" "$here/implicit_ml100k.py" --ratings "$data" \
      --out-dir "$split" --factors "$f" --reg "${REG:-50}" --alpha "${ALPHA:-1}" \
      --iters "${ITERS:-15}" --threads "$threads"
    timed "ours implicit factors $f" "$OURS" implicit-files "$split/train.csv" "$split/test.csv" \
      "$f" "${REG:-50}" "${ALPHA:-1}" "${ITERS:-15}" 3
  done
fi
