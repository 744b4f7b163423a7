#!/usr/bin/env bash
# Fuzzes the HTTP API against its own OpenAPI document with schemathesis: builds the binary,
# seeds a small demo utility in a fresh data directory, makes an admin and an officer token,
# starts the server on a free loopback port, runs schemathesis once with each token, and
# stops the server. Exit status: schemathesis's (0 when it found nothing).
#
#   scripts/schemathesis.sh                 # 50 examples per operation and token
#   EXAMPLES=200 scripts/schemathesis.sh
#
# schemathesis comes from PyPI into target/schemathesis-venv unless it is already on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

EXAMPLES="${EXAMPLES:-50}"
CONSUMERS="${CONSUMERS:-200}"
SEED="${SEED:-1}"
REPORT_DIR="${REPORT_DIR:-target/schemathesis}"

if command -v schemathesis >/dev/null 2>&1; then
    ST=schemathesis
else
    if [ ! -x target/schemathesis-venv/bin/schemathesis ]; then
        python3 -m venv target/schemathesis-venv
        target/schemathesis-venv/bin/pip install --quiet schemathesis
    fi
    ST=target/schemathesis-venv/bin/schemathesis
fi

cargo build --quiet -p vasooli-cli
BIN=target/debug/vasooli

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

DATA="$WORK/data"
"$BIN" --data "$DATA" demo --consumers "$CONSUMERS" --months 6 --seed "$SEED" >/dev/null
ADMIN="$("$BIN" --data "$DATA" tokens create --role admin --name fuzz-admin)"

"$BIN" --data "$DATA" serve --addr 127.0.0.1:0 >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER_PID=$!
BASE=""
for _ in $(seq 1 100); do
    BASE="$(sed -n 's/^listening on //p' "$WORK/server.out")"
    [ -n "$BASE" ] && break
    sleep 0.1
done
[ -n "$BASE" ] || { echo "the server did not start:" >&2; cat "$WORK/server.err" >&2; exit 1; }

# The officer gets the first subdivision the admin token sees. Tokens live in the data
# directory, so one made while the server runs is known to it at once.
SUBDIVISION="$(python3 - "$BASE" "$ADMIN" <<'PY'
import json, sys, urllib.request
request = urllib.request.Request(sys.argv[1] + "/api/v1/me",
                                 headers={"Authorization": "Bearer " + sys.argv[2]})
me = json.load(urllib.request.urlopen(request))
print(next(o["code"] for o in me["offices"] if o["level"] == "subdivision"))
PY
)"
OFFICER="$("$BIN" --data "$DATA" tokens create --role officer --office "$SUBDIVISION" --name fuzz-officer 2>/dev/null || true)"
if [ -z "$OFFICER" ]; then
    # The store is held by the running server: stop it, make the token, start it again.
    kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
    OFFICER="$("$BIN" --data "$DATA" tokens create --role officer --office "$SUBDIVISION" --name fuzz-officer)"
    "$BIN" --data "$DATA" serve --addr "${BASE#http://}" >"$WORK/server.out" 2>"$WORK/server.err" &
    SERVER_PID=$!
    for _ in $(seq 1 100); do
        grep -q '^listening on ' "$WORK/server.out" && break
        sleep 0.1
    done
fi

mkdir -p "$REPORT_DIR"
status=0
for who in admin officer; do
    if [ "$who" = admin ]; then TOKEN="$ADMIN"; else TOKEN="$OFFICER"; fi
    echo "== schemathesis as $who ($EXAMPLES examples per operation)"
    "$ST" --config-file scripts/schemathesis.toml run "$BASE/api/openapi.json" \
        --header "Authorization: Bearer $TOKEN" \
        --checks all \
        --max-examples "$EXAMPLES" \
        --seed "$SEED" \
        --workers 2 \
        --suppress-health-check all \
        --report junit \
        --report-junit-path "$REPORT_DIR/$who.xml" \
        || status=$?
done
exit "$status"
