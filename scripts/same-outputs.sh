#!/usr/bin/env bash
# Same outputs before and after a change: runs two riskstream binaries on the same real data
# and compares what they write byte for byte — the handbook's feature table, a trained model
# file, the decisions and dead letters of a file pipeline — and the handbook bench of each.
#
#   scripts/same-outputs.sh OLD_BINARY NEW_BINARY [DATA_DIR]
#
# DATA_DIR defaults to ../shared/data (the fraud handbook's raw transactions are read from
# it). Build the old binary from the earlier commit, e.g.
#   git worktree add /tmp/rs-old <rev> && CARGO_TARGET_DIR=/tmp/rs-old-target \
#     cargo build --release -p riskstream --manifest-path /tmp/rs-old/Cargo.toml
# Exit status 0 when every output is identical.
set -euo pipefail
old=$(realpath "$1")
new=$(realpath "$2")
repo=$(cd "$(dirname "$0")/.." && pwd)
data=$(realpath "${3:-$repo/../shared/data}")
raw=$(ls "$data"/fraud-handbook-simulated/raw/transactions_*.csv.gz | head -1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
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
    "$bin" features --input "$raw" --schema fraud-handbook-raw \
        --spec "$repo/examples/fraud-handbook/features.toml" \
        --output "$out/features.parquet" >"$out/features.log" 2>&1
    "$bin" train --input "$out/features.parquet" --label TX_FRAUD \
        --algorithm gbdt --output "$out/model.json" >"$out/train.log" 2>&1
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
model = "../model.json"
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
same "model file" "$work/old/model.json" "$work/new/model.json"
same "pipeline decisions" "$work/old/pipeline/decisions.ndjson" "$work/new/pipeline/decisions.ndjson"
same "pipeline dead letters" "$work/old/pipeline/state/same-outputs.dead-letter.p0.ndjson" \
    "$work/new/pipeline/state/same-outputs.dead-letter.p0.ndjson"

echo "== bench handbook (old, then new, then old again)"
for bin in "$old" "$new" "$old"; do
    "$bin" bench handbook --data "$data" 2>/dev/null | grep -iE "riskstream|engine|events/s" | head -4 || true
    echo "--"
done
exit $status
