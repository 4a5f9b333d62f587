#!/usr/bin/env bash
# Fuzzes the decision service against its own OpenAPI document with schemathesis
# (https://schemathesis.readthedocs.io, a third-party API fuzzer).
#
# What it does:
#   1. installs schemathesis (pinned, below) into a venv cached under
#      ${XDG_CACHE_HOME:-~/.cache}/riskstream-schemathesis, so only the first run downloads;
#   2. builds `riskstream` as the tests build it (`cargo test --workspace --no-run`, with
#      CARGO_PROFILE_DEV_DEBUG as in .ci/run) and sets up a temporary service: a SQLite
#      registry, the fraud handbook's feature spec, an online model as champion, the
#      handbook policy active, and one admin key with a random name (so the fuzzer cannot
#      guess it and revoke it through DELETE /v1/keys/{name}, which is fuzzed like every
#      other route);
#   3. starts `riskstream serve` on a free loopback port and runs
#        schemathesis run http://127.0.0.1:PORT/openapi.json --checks all
#          -H "Authorization: Bearer <admin key>" --max-examples $MAX_EXAMPLES ...
#      over every operation in the document, all phases (examples, coverage, fuzzing,
#      stateful), positive and negative data;
#   4. fails if schemathesis reports any failure or error.
#
# Checks (all of them): no 5xx; every status, content type and body as documented for the
# route; data the schema forbids refused with a 4xx; data the schema allows accepted (with
# the per-operation exceptions in the config below, each with its reason); the key is not
# ignored (`ignored_auth`: without it or with a wrong one a request must not succeed); 405
# with an Allow header for methods a route does not take.
#
# How long (2 cores): the fuzzing itself takes 8-15 s at the default 25 examples per
# operation (about 1,100 requests over 23 operations) and about 20 s at MAX_EXAMPLES=100
# (about 2,300); with a warm venv and a built binary the whole script takes about 10-20 s.
# The first run adds the pip install (about a minute) and the build of `riskstream`. The run
# is bounded by SCHEMATHESIS_TIMEOUT (default 600 s). A failure prints the case and a curl
# line to reproduce it; SCHEMATHESIS_SEED=<seed from the summary> repeats a run.
#
#   bash .ci/schemathesis.sh                 # as CI runs it
#   MAX_EXAMPLES=100 bash .ci/schemathesis.sh  # longer
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

SCHEMATHESIS_VERSION="${SCHEMATHESIS_VERSION:-4.32.5}"
MAX_EXAMPLES="${MAX_EXAMPLES:-25}"
SCHEMATHESIS_TIMEOUT="${SCHEMATHESIS_TIMEOUT:-600}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/riskstream-schemathesis"
VENV="$CACHE/venv-$SCHEMATHESIS_VERSION"

echo "== schemathesis $SCHEMATHESIS_VERSION (venv $VENV)"
if ! "$VENV/bin/schemathesis" --version >/dev/null 2>&1; then
    mkdir -p "$CACHE"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
"$VENV/bin/schemathesis" --version

echo "== build riskstream"
export CARGO_PROFILE_DEV_DEBUG="${CARGO_PROFILE_DEV_DEBUG:-line-tables-only}"
# The binary the tests use: `cargo test --workspace` builds it with the whole workspace's
# features (dev-dependencies included), so after .ci/run's test step this builds nothing.
# `cargo build -p riskstream` would resolve features for that package alone and rebuild
# the dependencies whose features differ (tokenizers, sqlx and others: minutes on 2 cores).
cargo test --workspace --locked --no-run --quiet
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/riskstream"

WORK=$(mktemp -d /tmp/riskstream-schemathesis.XXXXXX)
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$WORK/service.toml" <<EOF
[server]
listen = "127.0.0.1:$PORT"
metrics_listen = "off"
max_body_bytes = 65536
max_batch = 100

[registry]
url = "sqlite://$WORK/registry.db?mode=rwc"
deployment = "fuzz"
poll_interval = "1s"

[state]
dir = "$WORK/state"
checkpoint_interval = "off"

[features]
spec = "$ROOT/examples/fraud-handbook/features.toml"
EOF

echo "== service on 127.0.0.1:$PORT ($WORK)"
export USER="${USER:-ci}"
"$BIN" model push --config "$WORK/service.toml" "$ROOT/examples/fraud-handbook/online-lr.toml" --stage champion
"$BIN" policy push --config "$WORK/service.toml" "$ROOT/examples/fraud-handbook/policy.toml" --activate
KEY_NAME="fuzz-admin-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
KEY=$("$BIN" keys create --config "$WORK/service.toml" --name "$KEY_NAME" --role admin | grep -o 'rsk_[A-Za-z0-9_-]*' | head -1)
[ -n "$KEY" ] || { echo "could not create the admin key" >&2; exit 1; }

RUST_LOG=warn "$BIN" serve --config "$WORK/service.toml" >"$WORK/serve.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/serve.log" >&2; exit 1; }
    sleep 0.2
done
curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null

# Per-operation exceptions to `positive_data_acceptance` (a request valid by the schema
# must get 2xx, 401, 403, 404, 409 or 429). These routes refuse some schema-valid requests
# for reasons no JSON Schema constraint can state; each refusal is a documented 4xx:
cat >"$WORK/schemathesis.toml" <<'EOF'
# A transaction is any JSON object in the document (its fields come from the feature spec
# the service is started with); one that does not fit the spec is 400, one timed more than
# features.max_ahead ahead of the clock is 422. The same per item of a batch is answered
# inside a 200.
[[operations]]
include-path-regex = "^/v1/decisions$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "422", "429", "5xx"]

# A label's time must be RFC 3339, not before its transaction (400), not ahead of the clock
# (422); tx_id is at most 256 bytes (the schema counts characters).
[[operations]]
include-path-regex = "^/v1/labels$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "422", "429", "5xx"]

# A model or a policy is any text in the document; only a usable one is registered (422
# says what is wrong).
[[operations]]
include-path-regex = "^/v1/(models|policies)$"
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "422", "429", "5xx"]

# A page of the review queue takes at most one of after, before and last (400 says so); no
# schema for query parameters can say "at most one of".
[[operations]]
include-path-regex = "^/v1/cases$"
include-method = "GET"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429", "5xx"]

# expires_at must be RFC 3339, in the future and at most 366 days ahead (400).
[[operations]]
include-path-regex = "^/v1/lists/"
include-method = "PUT"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "422", "429", "5xx"]

# A stage change names an artifact that may be a policy, activating one that may be a
# model (both 422: the id pattern cannot tell the kinds apart); a case closes once (the
# second close is 422, the message says by whom).
[[operations]]
include-path-regex = "^/v1/(models/[^/]+/stage|policies/[^/]+/activate|cases/[^/]+/(close|comment|escalate))$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422", "429", "5xx"]
EOF

echo "== schemathesis run (max $MAX_EXAMPLES examples per operation, at most ${SCHEMATHESIS_TIMEOUT}s)"
set +e
# Run from the temporary directory: schemathesis keeps a `.schemathesis/` cache in the
# working directory, which does not belong in the repository.
(cd "$WORK" && timeout --signal=INT "$SCHEMATHESIS_TIMEOUT" \
    "$VENV/bin/schemathesis" --config-file "$WORK/schemathesis.toml" run \
    "http://127.0.0.1:$PORT/openapi.json" \
    --checks all \
    -H "Authorization: Bearer $KEY" \
    --max-examples "$MAX_EXAMPLES" \
    --request-timeout 10 \
    --seed "${SCHEMATHESIS_SEED:-$RANDOM}" \
    --generation-database none \
    --no-color)
rc=$?
set -e
if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "the service died during the run:" >&2
    tail -50 "$WORK/serve.log" >&2
    exit 1
fi
if [ "$rc" -ne 0 ]; then
    echo "schemathesis reported failures (exit $rc); the service log:" >&2
    grep -E ' (ERROR|WARN) ' "$WORK/serve.log" | tail -20 >&2 || true
    exit "$rc"
fi
echo "schemathesis: no failures"
