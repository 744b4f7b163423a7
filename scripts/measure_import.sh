#!/usr/bin/env bash
# Measures importing 1,000,000 payments with the release binary: wall time and peak RSS
# of the first import and of a repeated import (which must skip every row as a duplicate).
#
# Usage: scripts/measure_import.sh [PAYMENTS] [CONSUMERS]
#   PAYMENTS   rows in payments.csv (default 1000000)
#   CONSUMERS  rows in consumers.csv (default 100000)
# Environment: KEEP=1 keeps the temporary directory (its path is printed);
#              VASOOLI_BIN=path skips the build and uses that binary.
set -euo pipefail

PAYMENTS=${1:-1000000}
CONSUMERS=${2:-100000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

if [[ -z "${VASOOLI_BIN:-}" ]]; then
    cargo build --release -p vasooli-cli
    BIN="$ROOT/target/release/vasooli"
else
    BIN=$VASOOLI_BIN
fi
[[ -x /usr/bin/time ]] || { echo "needs GNU time at /usr/bin/time (apt-get install time)" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vasooli-import.XXXXXX")
if [[ "${KEEP:-}" == 1 ]]; then
    echo "work dir: $WORK (kept)"
else
    trap 'rm -rf "$WORK"' EXIT
fi
DATA="$WORK/data"
mkdir -p "$DATA"

cat > "$WORK/offices.csv" <<'CSV'
code,name,level,parent
Z1,Zone One,zone,
C1,Circle One,circle,Z1
D1,Division One,division,C1
S1,Subdivision One,subdivision,D1
CSV

awk -v n="$CONSUMERS" 'BEGIN {
    print "account_no,name,category,subdivision,load_kw,connected_on,mobile,language";
    for (i = 1; i <= n; i++)
        printf "A%06d,Consumer %d,domestic,S1,1.5,2020-01-01,,hi\n", i, i;
}' > "$WORK/consumers.csv"

# Unique receipts; accounts cycle over the consumers; amounts 10.00..5009.99;
# dates spread over 2026 (day 1..28 of months 1..12).
awk -v n="$PAYMENTS" -v c="$CONSUMERS" 'BEGIN {
    print "receipt_no,account_no,amount,paid_on,channel";
    for (i = 1; i <= n; i++) {
        cents = 1000 + (i * 7919) % 500000;
        printf "R%08d,A%06d,%d.%02d,2026-%02d-%02d,upi\n", i, 1 + (i * 7) % c, cents / 100, cents % 100, 1 + i % 12, 1 + i % 28;
    }
}' > "$WORK/payments.csv"
ls -l "$WORK"/*.csv

# run LABEL KIND FILE: imports and prints the command's output, wall time and peak RSS.
run() {
    local label=$1 kind=$2 file=$3 log="$WORK/time-$1.txt"
    local status=0 rows
    rows=$(($(wc -l < "$file") - 1))
    /usr/bin/time -v -o "$log" "$BIN" --data "$DATA" import "$kind" "$file" || status=$?
    local wall rss
    wall=$(sed -n 's/^\s*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$log")
    rss=$(sed -n 's/^\s*Maximum resident set size (kbytes): //p' "$log")
    awk -v label="$label" -v status="$status" -v wall="$wall" -v rss="$rss" -v rows="$rows" 'BEGIN {
        k = split(wall, p, ":"); s = 0;
        for (i = 1; i <= k; i++) s = s * 60 + p[i];
        rate = (s > 0 ? sprintf("%9.0f", rows / s) : sprintf("%9s", "-"));
        printf "%-15s rows %8d  exit %d  wall %7.2f s  %s rows/s  max RSS %7.1f MiB\n",
            label, rows, status, s, rate, rss / 1024;
    }' | tee -a "$WORK/summary.txt"
    [[ $status -eq 0 ]] || { cat "$log" >&2; exit 1; }
}

run offices offices "$WORK/offices.csv"
run consumers consumers "$WORK/consumers.csv"
run payments payments "$WORK/payments.csv"
run payments-again payments "$WORK/payments.csv"
du -sh "$DATA"
echo
cat "$WORK/summary.txt"
