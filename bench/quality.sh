#!/bin/sh
# Data-quality checks' cost: `riskstream quality` beside `riskstream inspect` on the handbook's
# raw file, then the handbook pipeline over its first N transactions (NDJSON) with
# `[quality] checks` off and on, interleaved.
#   bench/quality.sh <riskstream binary> <raw.csv.gz> [rounds] [records]
set -eu
BIN=$1
RAW=$2
ROUNDS=${3:-3}
N=${4:-500000}
EX=$(cd "$(dirname "$0")/../examples" && pwd)
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
for r in $(seq "$ROUNDS"); do
    /usr/bin/time -f "file inspect %e s" "$BIN" inspect "$RAW" >/dev/null
    /usr/bin/time -f "file quality %e s" "$BIN" quality "$RAW" --checks "$EX/quality/handbook.toml" >/dev/null
done
python3 - "$RAW" "$OUT/tx.ndjson" "$N" <<'PY'
import csv, gzip, json, sys
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with gzip.open(src, "rt") as f, open(dst, "w") as o:
    for i, row in enumerate(csv.DictReader(f)):
        if i >= n:
            break
        d = {}
        for k, v in row.items():
            if not k:
                continue
            d[k] = v if k == "TX_DATETIME" else float(v) if k == "TX_AMOUNT" else int(v)
        o.write(json.dumps(d) + "\n")
PY
for m in off on; do
    mkdir -p "$OUT/$m"
    {
        printf 'name = "hb"\n[source]\nkind = "file"\npath = "%s"\n' "$OUT/tx.ndjson"
        printf '[features]\nspec = "%s"\n[decide]\npolicy = "%s"\n' "$EX/fraud-handbook/features.toml" "$EX/fraud-handbook/policy.toml"
        printf '[sink]\nkind = "file"\npath = "decisions.ndjson"\n[dead_letter]\nkind = "file"\npath = "dead.ndjson"\n[checkpoint]\ndir = "state"\n'
        if [ "$m" = on ]; then printf '[quality]\nchecks = "%s"\n' "$EX/quality/handbook.toml"; fi
    } >"$OUT/$m/p.toml"
done
for r in $(seq "$ROUNDS"); do
    for m in off on; do
        (cd "$OUT/$m" && rm -rf state decisions.ndjson dead.ndjson &&
            "$BIN" run p.toml | head -2 | sed "s/^/pipeline $m: /")
    done
done
