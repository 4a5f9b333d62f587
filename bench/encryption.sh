#!/bin/sh
# Encryption at rest: `riskstream features` on the fraud handbook's raw transactions with
# master keys unset (off) and set (on), interleaved, in one run of this script.
#   bench/encryption.sh <riskstream binary> <raw.csv.gz> [rounds]
# Two shapes: Parquet output with checkpoints every 200,000 rows (the engine state is
# encrypted at each checkpoint) and CSV output (the whole output stream is encrypted).
set -eu
BIN=$1
RAW=$2
ROUNDS=${3:-3}
SPEC=$(dirname "$0")/../examples/fraud-handbook/features.toml
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
KEY="m1:$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
run() { # mode shape
    rm -rf "$OUT/ck" "$OUT"/hb.*
    if [ "$1" = on ]; then export RISKSTREAM_MASTER_KEYS=$KEY; else unset RISKSTREAM_MASTER_KEYS; fi
    case $2 in
    parquet-ckpt) set -- "$1" "$2" --output "$OUT/hb.parquet" --checkpoint-dir "$OUT/ck" --checkpoint-every 200000 ;;
    csv) set -- "$1" "$2" --output "$OUT/hb.csv" ;;
    esac
    mode=$1 shape=$2
    shift 2
    t0=$(date +%s.%N)
    "$BIN" features --spec "$SPEC" --input "$RAW" "$@" >/dev/null 2>&1 || true
    t1=$(date +%s.%N)
    size=$(du -b "$OUT"/hb.* | awk '{s+=$1} END {print s}')
    echo "$shape $mode $(echo "$t1 - $t0" | bc) s, output $size bytes"
}
for r in $(seq "$ROUNDS"); do
    for shape in parquet-ckpt csv; do
        run off $shape
        run on $shape
    done
done
