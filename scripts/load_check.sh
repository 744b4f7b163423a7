#!/usr/bin/env bash
# HTTP load check of `vasooli serve` with wrk, on loopback only: the defaulter list of one
# office (GET) and durable payment posts (POST /api/v1/commands, one receive_payment each).
#
# It seeds a temporary data directory with `vasooli demo`, creates an officer token for the
# list's office and a finance token for the payments, starts the server on 127.0.0.1 (a free
# port), runs wrk with --latency for each connection count, stops the server with SIGINT,
# and then checks from the log itself that every payment answered 2xx was appended.
#
# Usage: scripts/load_check.sh
# Environment (all optional):
#   CONSUMERS=20000      demo size (`vasooli demo --consumers`)
#   DURATION=15          seconds per wrk run (at most 30)
#   THREADS=2            wrk threads
#   CONNECTIONS="16 64"  connection counts; one list run and one payment run for each
#   LIST_OFFICE=CODE     office of the list (default: the subdivision with the most defaulters)
#   LIST_QUERY=...       query string of the list requests (default none: a default-size page)
#   PAID_ON=YYYY-MM-DD   payment date (default: the day after the demo's last nightly run)
#   VASOOLI_BIN=path     skips the build and uses that binary
#   KEEP=1               keeps the temporary directory (its path is printed)
# Prints a RESULT line per run and a summary table at the end; exits 1 when any request
# failed or a payment answered 2xx is missing from the log.
set -euo pipefail

CONSUMERS=${CONSUMERS:-20000}
DURATION=${DURATION:-15}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-"16 64"}
LIST_QUERY=${LIST_QUERY:-}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOAD="$ROOT/scripts/load"
cd "$ROOT"

die() { echo "load_check: $*" >&2; exit 2; }
[[ "$DURATION" =~ ^[0-9]+$ ]] && ((DURATION >= 1 && DURATION <= 30)) \
    || die "DURATION must be 1..30 seconds"
for tool in wrk curl; do
    command -v "$tool" >/dev/null || die "needs $tool (apt-get install -y $tool)"
done

if [[ -z "${VASOOLI_BIN:-}" ]]; then
    cargo build --release -p vasooli-cli
    BIN="$ROOT/target/release/vasooli"
else
    BIN=$VASOOLI_BIN
fi
[[ -x "$BIN" ]] || die "no binary at $BIN"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vasooli-load.XXXXXX")
DATA="$WORK/data"
SERVER_PID=""

stop_server() {
    [[ -n "$SERVER_PID" ]] || return 0
    local pid=$SERVER_PID
    SERVER_PID=""
    kill -INT "$pid" 2>/dev/null || return 0
    # The server finishes the requests in flight and flushes; give it 30 s.
    for _ in $(seq 300); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    echo "load_check: the server did not stop on SIGINT; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    stop_server
    if [[ "${KEEP:-}" == 1 ]]; then
        echo "work dir: $WORK (kept)"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

vasooli() { "$BIN" --data "$DATA" "$@"; }

# ---- data ------------------------------------------------------------------------------------
echo "== seeding: vasooli demo --consumers $CONSUMERS"
vasooli demo --consumers "$CONSUMERS" > "$WORK/demo.txt"
sed -n '1,2p' "$WORK/demo.txt"

vasooli export --out "$WORK/before.jsonl" > /dev/null
EVENTS=$(wc -l < "$WORK/before.jsonl")
ZONES=$(grep -o '"office_registered":{[^}]*"parent":null' "$WORK/before.jsonl" \
    | sed -n 's/.*"code":"\([^"]*\)".*/\1/p')
AS_OF=$(grep -o '"nightly_run_completed":{"as_of":"[0-9-]*"' "$WORK/before.jsonl" | tail -n 1 \
    | grep -o '[0-9]\{4\}-[0-9]\{2\}-[0-9]\{2\}')
rm -f "$WORK/before.jsonl"
[[ -n "$ZONES" && -n "$AS_OF" ]] || die "the demo left no offices or no nightly run"
PAID_ON=${PAID_ON:-$(date -d "$AS_OF + 1 day" +%F)}

# Payments go to the accounts on the defaulter lists of the top offices.
: > "$WORK/accounts.txt"
: > "$WORK/subdivisions.txt"
for zone in $ZONES; do
    vasooli --format csv defaulters --office "$zone" --limit 10000 \
        | tail -n +2 | cut -d, -f1 >> "$WORK/accounts.txt"
    vasooli --format json defaulters --office "$zone" --limit 10000 \
        | sed -n 's/^ *"subdivision": *"\([^"]*\)".*/\1/p' >> "$WORK/subdivisions.txt"
done
ACCOUNTS=$(grep -c . "$WORK/accounts.txt") || die "no defaulters in the demo"
if [[ -z "${LIST_OFFICE:-}" ]]; then
    LIST_OFFICE=$(sort "$WORK/subdivisions.txt" | uniq -c | sort -k1,1nr -k2 | awk 'NR == 1 {print $2}')
fi
LIST_ROWS=$(vasooli --format csv defaulters --office "$LIST_OFFICE" --limit 10000 | tail -n +2 | grep -c .) || true

OFFICER_TOKEN=$(vasooli tokens create --role officer --office "$LIST_OFFICE" --name load-officer)
FINANCE_TOKEN=$(vasooli tokens create --role finance --name load-finance)

# ---- server ----------------------------------------------------------------------------------
VASOOLI_LOG=${VASOOLI_LOG:-warn,vasooli_server=info} "$BIN" --data "$DATA" serve --addr 127.0.0.1:0 > "$WORK/serve.out" 2> "$WORK/serve.err" &
SERVER_PID=$!
ADDR=""
for _ in $(seq 600); do
    ADDR=$(sed -n 's|^listening on http://||p' "$WORK/serve.out")
    [[ -n "$ADDR" ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/serve.err" >&2; die "the server exited"; }
    sleep 0.1
done
[[ -n "$ADDR" ]] || die "the server did not report its address"
[[ "$ADDR" == 127.0.0.1:* ]] || die "the server is not on loopback: $ADDR"
BASE="http://$ADDR"
for _ in $(seq 100); do
    curl -fsS "$BASE/health" > /dev/null 2>&1 && break
    sleep 0.1
done
curl -fsS "$BASE/health" > /dev/null || die "GET /health does not answer"

LIST_URL="$BASE/api/v1/offices/$LIST_OFFICE/defaulters${LIST_QUERY:+?$LIST_QUERY}"
LIST_BYTES=$(curl -fsS -H "Authorization: Bearer $OFFICER_TOKEN" -o /dev/null \
    -w '%{size_download}' "$LIST_URL") || die "GET $LIST_URL failed"
log_position() { curl -fsS "$BASE/metrics" | awk '$1 == "vasooli_log_position" {print $2}'; }

echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo); wrk and the server share them"
echo "== data: $CONSUMERS consumers, $EVENTS events, lists as of $AS_OF"
echo "== list: GET /api/v1/offices/$LIST_OFFICE/defaulters${LIST_QUERY:+?$LIST_QUERY}" \
    "(the list has $LIST_ROWS rows; an answer is $LIST_BYTES bytes of JSON)"
echo "== payments: POST /api/v1/commands, one receive_payment each, paid_on $PAID_ON," \
    "over $ACCOUNTS accounts"

RESULTS="$WORK/results.txt"
: > "$RESULTS"
FAILED=0
RUN_ID=$(date +%s)

# CPU seconds: user and system time of the whole machine, of the server, and of this shell's
# finished children (wrk), so each run can say what else was using the cores. Interrupt time
# (loopback TCP is mostly softirq) belongs to no process and is left out of all three.
TICKS=$(getconf CLK_TCK)
machine_cpu() { awk -v t="$TICKS" '$1 == "cpu" {printf "%.2f\n", ($2 + $3 + $4) / t; exit}' /proc/stat; }
server_cpu() { sed 's/^.*) //' "/proc/$SERVER_PID/stat" | awk -v t="$TICKS" '{printf "%.2f\n", ($12 + $13) / t}'; }
# `times` must run in this shell, not in a $(...) subshell, to see the finished children.
children_cpu() {
    awk 'NR == 2 {
        s = 0
        for (i = 1; i <= 2; i++) { split($i, p, "m"); s += p[1] * 60 + p[2] }
        printf "%.3f\n", s
    }' "$WORK/times.txt"
}

# run LABEL wrk-arguments...: one wrk run; keeps its RESULT line with the load average and
# the cores used by the server, by wrk and by anything else during the run.
run() {
    local label=$1
    shift
    local load t0 m0 s0 c0 t1 m1 s1 c1
    load=$(cut -d' ' -f1 /proc/loadavg)
    echo
    echo "== $label (load average before: $load)"
    times > "$WORK/times.txt"
    t0=$(date +%s.%N) m0=$(machine_cpu) s0=$(server_cpu) c0=$(children_cpu)
    wrk "$@" | tee "$WORK/wrk-$label.txt"
    times > "$WORK/times.txt"
    t1=$(date +%s.%N) m1=$(machine_cpu) s1=$(server_cpu) c1=$(children_cpu)
    local cpu
    cpu=$(awk -v w="$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')" \
        -v machine="$m0 $m1" -v server="$s0 $s1" -v wrk="$c0 $c1" 'BEGIN {
        split(machine, m, " "); split(server, s, " "); split(wrk, c, " ")
        sv = (s[2] - s[1]) / w; wk = (c[2] - c[1]) / w; other = (m[2] - m[1]) / w - sv - wk
        printf "server_cores=%.2f wrk_cores=%.2f other_cores=%.2f", sv, wk, (other > 0 ? other : 0)
    }')
    echo "cpu during the run: $cpu"
    grep '^RESULT ' "$WORK/wrk-$label.txt" | sed "s/\$/ load=$load $cpu/" >> "$RESULTS"
}

# A short unreported warm-up of the list.
wrk -t"$THREADS" -c16 -d2s -H "Authorization: Bearer $OFFICER_TOKEN" "$LIST_URL" > /dev/null

for c in $CONNECTIONS; do
    run "list-c$c" -t"$THREADS" -c"$c" -d"${DURATION}s" --latency \
        -H "Authorization: Bearer $OFFICER_TOKEN" \
        -s "$LOAD/defaulters.lua" "$LIST_URL" -- "list-c$c"
done

TAGS=()
TAG_OK=()
TAG_SENT=()
for c in $CONNECTIONS; do
    tag="LC$RUN_ID-c$c"
    before=$(log_position)
    run "payments-c$c" -t"$THREADS" -c"$c" -d"${DURATION}s" --latency \
        -H "Authorization: Bearer $FINANCE_TOKEN" \
        -s "$LOAD/payments.lua" "$BASE/api/v1/commands" \
        -- "$WORK/accounts.txt" "$tag" "$PAID_ON" "payments-c$c"
    sleep 0.5 # requests still in flight when wrk stopped
    after=$(log_position)
    line=$(grep "^RESULT label=payments-c$c " "$RESULTS")
    ok=$(sed -n 's/.* ok=\([0-9]*\).*/\1/p' <<< "$line")
    sent=$(sed -n 's/.* sent=\([0-9]*\).*/\1/p' <<< "$line")
    TAGS+=("$tag")
    TAG_OK+=("$ok")
    TAG_SENT+=("$sent")
    echo "log position $before -> $after: $((after - before)) events appended;" \
        "$ok answered 2xx, $sent requests started"
    if ((after - before < ok || after - before > sent)); then
        echo "load_check: the log grew by $((after - before)), expected $ok..$sent" >&2
        FAILED=1
    fi
done

# ---- stop and check the log ------------------------------------------------------------------
echo
echo "== stopping the server (SIGINT)"
stop_server
vasooli export --out "$WORK/after.jsonl" > /dev/null
for i in "${!TAGS[@]}"; do
    tag=${TAGS[$i]} ok=${TAG_OK[$i]} sent=${TAG_SENT[$i]}
    in_log=$(grep -c "\"receipt_no\":\"$tag-" "$WORK/after.jsonl") || true
    echo "receipts $tag-*: $ok answered 2xx, $in_log in the log read back after the stop"
    if ((in_log < ok || in_log > sent)); then
        echo "load_check: expected $ok..$sent receipts $tag-* in the log" >&2
        FAILED=1
    fi
done
echo "events in the log: $EVENTS before, $(wc -l < "$WORK/after.jsonl") after"
rm -f "$WORK/after.jsonl"
vasooli verify > "$WORK/verify.txt" || { cat "$WORK/verify.txt" >&2; FAILED=1; }

# ---- summary ---------------------------------------------------------------------------------
echo
echo "== summary ($(nproc) cores shared by wrk and the server; -t$THREADS -d${DURATION}s)"
printf '%-16s %8s %8s %8s %8s %7s %7s %6s %7s %7s %7s\n' \
    scenario 'req/s' 'p50 ms' 'p99 ms' 'max ms' non2xx sockerr load server wrk other
awk '{
    for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    printf "%-16s %8s %8s %8s %8s %7s %7s %6s %7s %7s %7s\n",
        v["label"], v["rps"], v["p50_ms"], v["p99_ms"], v["max_ms"], v["non2xx"],
        v["socket_errors"], v["load"], v["server_cores"], v["wrk_cores"], v["other_cores"]
    if (v["non2xx"] + v["socket_errors"] > 0) bad = 1
} END { exit bad }' "$RESULTS" || FAILED=1
echo "(load: the 1-minute load average before the run; server, wrk, other: cores busy during it)"
echo "targets: list >= 20000 req/s with p99 <= 10 ms; payments >= 5000 req/s with p99 <= 50 ms"
exit "$FAILED"
