#!/usr/bin/env bash
# Instructions per request, counted by valgrind's callgrind in the server process only: the
# same figure whatever else the machine runs (unlike req/s), so a before/after comparison
# can be made on a busy machine. The server serves 100, then (in a second start) 600
# identical requests after 20 warm-up ones; (Ir(600) - Ir(100)) / 500 is one request's cost.
#
#   crates/bench/callgrind-requests.sh target/release/slugbase 47101                 # status, Bearer
#   URLPATH=/api/version crates/bench/callgrind-requests.sh target/release/slugbase 47102
set -euo pipefail
BIN=$(realpath "$1"); PORT=$2; URLPATH=${URLPATH:-/api/auth/mfa/status}
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT; cd "$d"
export SLUGBASE__SERVER__PORT=$PORT SLUGBASE__SERVER__PUBLIC_BASE_URL=http://127.0.0.1:$PORT
export SLUGBASE__DATABASE__URL="sqlite://$d/s.db?mode=rwc" RUST_LOG=warn
"$BIN" migrate >/dev/null 2>&1
printf 'benchpassword1\n' | "$BIN" user create --email u@example.com >/dev/null 2>&1
tok=$("$BIN" token create --email u@example.com --name cg 2>/dev/null | grep -oE 'sb_[A-Za-z0-9_-]+' | head -1)
get() { curl -sf -o /dev/null -H "Authorization: Bearer $tok" "http://127.0.0.1:$PORT$URLPATH"; }
run() {
  valgrind --tool=callgrind --callgrind-out-file="$d/cg.$1" "$BIN" serve >/dev/null 2>&1 &
  local vpid=$!
  until curl -sf -o /dev/null "http://127.0.0.1:$PORT/api/health"; do sleep 0.5; done
  for _ in $(seq 1 20); do get; done
  for _ in $(seq 1 "$1"); do get; done
  kill -TERM $vpid; wait $vpid || true
  awk '/^(summary|totals):/ { print $2; exit }' "$d/cg.$1"
}
a=$(run 100); b=$(run 600)
echo "$URLPATH: Ir(100)=$a Ir(600)=$b per request=$(( (b - a) / 500 ))"
