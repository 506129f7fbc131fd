#!/usr/bin/env bash
# Runs schemathesis (property-based API tests from the OpenAPI document)
# against `knooppunt serve` on a generated sample lake: once with a
# dashboard token (data endpoints) and once with a privacy officer's token
# (audit endpoints). Installs schemathesis from PyPI into a virtualenv
# outside the clone. Usage: scripts/schemathesis.sh [path/to/knooppunt]
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/knooppunt/target}"
BIN="${1:-$CARGO_TARGET_DIR/debug/knooppunt}"
SCHEMATHESIS_VERSION="4.32.5"
VENV="${KNOOPPUNT_VENV:-$HOME/.cache/knooppunt/venv}"

if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill -TERM "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

"$BIN" synth --out "$WORK/exports" --scale 0.02 --seed 3 >/dev/null
# 64 hex digits: random key material without whitespace (which the key
# loader would trim).
head -c 32 /dev/urandom | od -An -tx1 | tr -d " \n" >"$WORK/pseudonym.key"
"$BIN" ingest --exports "$WORK/exports" --lake "$WORK/lake" --key-file "$WORK/pseudonym.key" >/dev/null
token() {
    "$BIN" token create --tokens "$WORK/tokens.json" --role "$1" --scope GM0034 --name "schemathesis $1" --subject "schemathesis-$1"
}
DASHBOARD="$(token dashboard)"
OFFICER="$(token privacy_officer)"

"$BIN" serve --lake "$WORK/lake" --tokens "$WORK/tokens.json" --bind 127.0.0.1:0 \
    --audit-log "$WORK/audit" --rate-limit off >"$WORK/serve.out" 2>"$WORK/serve.err" &
SERVER_PID=$!
for _ in $(seq 1 600); do
    if grep -q "listening on" "$WORK/serve.out" 2>/dev/null; then break; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then cat "$WORK/serve.err"; exit 1; fi
    sleep 0.1
done
URL="$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$WORK/serve.out")"
echo "schemathesis against $URL"

run() {
    local token="$1" purpose="$2"; shift 2
    "$VENV/bin/schemathesis" run "$URL/v1/openapi.json" \
        --checks all \
        --header "Authorization: Bearer $token" \
        --header "X-Purpose: $purpose" \
        --max-examples "${SCHEMATHESIS_EXAMPLES:-25}" \
        --seed 1 \
        --workers 2 \
        --warnings off \
        "$@"
}
run "$DASHBOARD" gebiedsanalyse --exclude-path-regex '^/v1/(audit|budgets)'
run "$OFFICER" toezicht --include-path-regex '^/v1/(audit|budgets)'
