#!/usr/bin/env bash
# Same outputs before and after a change: runs two riskstream binaries on the same real data
# and compares what they write — the handbook's feature table byte for byte, a trained GBDT
# model file (all but its card's training time, duration and input path), the decisions and
# dead letters of a file pipeline byte for byte (both sides decide with the old side's model
# file, so the model id in each decision is the same) — then runs the handbook bench of
# each, old / new / old, on the same machine in one go.
#
#   scripts/same-outputs.sh OLD_BINARY NEW_BINARY [DATA_DIR]
#
# DATA_DIR defaults to ../shared/data (the fraud handbook's raw transactions are read from
# it). Build the old binary from the earlier commit, e.g.
#   git worktree add /tmp/rs-old <rev> && CARGO_TARGET_DIR=/tmp/rs-old-target \
#     cargo build --release -p riskstream --manifest-path /tmp/rs-old/Cargo.toml
# Exit status 0 when every output is identical.
set -euo pipefail
# A step that fails shows its log instead of ending the script silently.
trap 'echo "failed at line $LINENO; logs in $work" >&2; for f in "$work"/*/*.log; do echo "== $f" >&2; tail -5 "$f" >&2; done' ERR
old=$(realpath "$1")
new=$(realpath "$2")
repo=$(cd "$(dirname "$0")/.." && pwd)
data=$(realpath "${3:-$repo/../shared/data}")
raw=$(ls "$data"/fraud-handbook-simulated/raw/transactions_*.csv.gz | head -1)
work=$(mktemp -d)
trap 'rc=$?; [ $rc = 0 ] && rm -rf "$work"' EXIT
status=0

same() { # label file-a file-b
    if cmp -s "$2" "$3"; then
        echo "same      $1 ($(stat -c %s "$2") bytes)"
    else
        echo "DIFFERENT $1: $2 vs $3"
        status=1
    fi
}

for side in old new; do
    bin=${!side}
    out=$work/$side
    mkdir -p "$out/pipeline"
    echo "== $side: $bin"
    "$bin" features --input "$raw" \
        --spec "$repo/examples/fraud-handbook/features.toml" \
        --output "$out/features.parquet" >"$out/features.log" 2>&1
    "$bin" train --input "$out/features.parquet" --label TX_FRAUD --features TX_AMOUNT \
        --spec "$repo/examples/fraud-handbook/features.toml" --time-col TX_DATETIME \
        --from 2018-07-25 --to 2018-07-31 --algorithm gbdt --output "$out/model.json" \
        >"$out/train.log" 2>&1
    "$bin" produce --input "$raw" --schema fraud-handbook-raw \
        --output "$out/pipeline/transactions.ndjson" --limit 200000 >/dev/null 2>&1
    cat >"$out/pipeline/pipeline.toml" <<EOF
name = "same-outputs"
[source]
kind = "file"
path = "transactions.ndjson"
[features]
spec = "$repo/examples/fraud-handbook/features.toml"
[decide]
policy = "$repo/examples/fraud-handbook/policy.toml"
model = "$work/old/model.json"
max_ahead = "off"
[sink]
kind = "file"
path = "decisions.ndjson"
[checkpoint]
dir = "state"
EOF
    "$bin" run "$out/pipeline/pipeline.toml" >"$out/run.log" 2>&1
done

echo "== outputs"
same "handbook feature table" "$work/old/features.parquet" "$work/new/features.parquet"
# A model file's card records when, how long and from which path it was trained; the rest
# (parameters, trees, feature names, spec hash, data fingerprint, metrics) must match.
if python3 - "$work/old/model.json" "$work/new/model.json" "$work" <<'PY'
import json, sys
def strip(o):
    if isinstance(o, dict):
        return {k: strip(v) for k, v in o.items() if k not in ("trained_at", "train_seconds", "model_id")}
    if isinstance(o, list):
        return [strip(x) for x in o]
    if isinstance(o, str) and o.startswith(sys.argv[3]):
        return "<work>" + o[len(sys.argv[3]):].replace("/old/", "/").replace("/new/", "/")
    return o
a, b = (strip(json.load(open(p))) for p in sys.argv[1:3])
sys.exit(0 if a == b else 1)
PY
then
    echo "same      model file but its card's time, duration and path ($(stat -c %s "$work/new/model.json") bytes)"
else
    echo "DIFFERENT model file: $work/old/model.json vs $work/new/model.json"
    status=1
fi
same "pipeline decisions" "$work/old/pipeline/decisions.ndjson" "$work/new/pipeline/decisions.ndjson"
same "pipeline dead letters" "$work/old/pipeline/state/same-outputs.dead-letter.p0.ndjson" \
    "$work/new/pipeline/state/same-outputs.dead-letter.p0.ndjson"

echo "== bench handbook (old, then new, then old again)"
for bin in "$old" "$new" "$old"; do
    "$bin" bench handbook --input "$raw" --peers "" --runs 3 --out-dir "$work/bench" 2>/dev/null \
        | grep -E "^(system|riskstream)" || true
    echo "--"
done
exit $status
