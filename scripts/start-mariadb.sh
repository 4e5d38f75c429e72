#!/usr/bin/env bash
# SlugBase Auth: start (or reuse) a throwaway MariaDB server on 127.0.0.1 without systemd, for
# tests and CI (the MySQL/MariaDB contract, schema-parity and two-instance tests use $MYSQL_URL).
# Installs MariaDB from Debian packages (apt-get) when its server binaries are missing.
# Idempotent: a second run finds the running server and just prints the URL again.
#
#   scripts/start-mariadb.sh            -> starts if needed; prints "export MYSQL_URL=mysql://..." (only stdout line)
#   scripts/start-mariadb.sh stop       -> stops the server
#   scripts/start-mariadb.sh destroy    -> stops it and deletes the data directory
#   eval "$(scripts/start-mariadb.sh)"  -> exports MYSQL_URL into the calling shell
#
# Env knobs: MARIADB_PORT (53306), MARIADB_BASE (/tmp/slugbase-mariadb-$MARIADB_PORT),
#            MARIADB_DB (slugbase), MARIADB_USER (slugbase), MARIADB_PASSWORD (slugbase).
# The user may create and drop databases (each test makes its own). Runs as root (the server
# then runs with --user=root) or as any user that owns MARIADB_BASE.
set -euo pipefail

MARIADB_PORT="${MARIADB_PORT:-53306}"
MARIADB_BASE="${MARIADB_BASE:-/tmp/slugbase-mariadb-$MARIADB_PORT}"
MARIADB_DB="${MARIADB_DB:-slugbase}"
MARIADB_USER="${MARIADB_USER:-slugbase}"
MARIADB_PASSWORD="${MARIADB_PASSWORD:-slugbase}"
DATA="$MARIADB_BASE/data"
SOCK="$MARIADB_BASE/mariadb.sock"
PID="$MARIADB_BASE/mariadb.pid"
LOG="$MARIADB_BASE/mariadb.log"

log() { echo "[start-mariadb] $*" >&2; }

find_bin() {
  for dir in /usr/sbin /usr/bin; do
    if [ -x "$dir/$1" ]; then echo "$dir/$1"; return 0; fi
  done
  return 1
}

if ! find_bin mariadbd >/dev/null || ! find_bin mariadb-install-db >/dev/null; then
  if [ "$(id -u)" != 0 ]; then log "MariaDB is not installed and installing it needs root"; exit 1; fi
  log "MariaDB server binaries not found; installing with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  # Keep the package from starting its own server (no systemd here; and not on 3306).
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends mariadb-server mariadb-client >&2
  rm -f /usr/sbin/policy-rc.d
fi
MARIADBD="$(find_bin mariadbd)"
INSTALL_DB="$(find_bin mariadb-install-db)"

USER_ARGS=()
if [ "$(id -u)" = 0 ]; then USER_ARGS=(--user=root); fi

running() { [ -f "$PID" ] && kill -0 "$(cat "$PID")" 2>/dev/null; }

stop() {
  if running; then
    local pid; pid="$(cat "$PID")"
    kill "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
    log "mariadbd $pid did not stop in 30 s"; return 1
  fi
}

url() { echo "mysql://$MARIADB_USER:$MARIADB_PASSWORD@127.0.0.1:$MARIADB_PORT/$MARIADB_DB"; }

case "${1:-start}" in
  stop) stop; exit 0 ;;
  destroy) stop; rm -rf "$MARIADB_BASE"; exit 0 ;;
  start) ;;
  *) log "usage: $0 [start|stop|destroy]"; exit 2 ;;
esac

mkdir -p "$DATA"
chmod 700 "$MARIADB_BASE"

if [ ! -d "$DATA/mysql" ]; then
  log "mariadb-install-db into $DATA"
  "$INSTALL_DB" --no-defaults --datadir="$DATA" --auth-root-authentication-method=normal \
    --skip-test-db "${USER_ARGS[@]}" >&2
fi

if running; then
  log "already running on 127.0.0.1:$MARIADB_PORT"
else
  log "starting on 127.0.0.1:$MARIADB_PORT (log: $LOG)"
  # Throwaway server: durability traded for speed; 127.0.0.1 only.
  setsid "$MARIADBD" --no-defaults --datadir="$DATA" --port="$MARIADB_PORT" \
    --bind-address=127.0.0.1 --socket="$SOCK" --pid-file="$PID" --log-error="$LOG" \
    --skip-name-resolve --skip-log-bin --innodb-flush-log-at-trx-commit=0 \
    --innodb-doublewrite=0 --max-connections=500 "${USER_ARGS[@]}" \
    </dev/null >/dev/null 2>&1 &
fi

# Wait until it accepts connections on its socket, then ensure the user and the database.
client() { mariadb --no-defaults --protocol=socket -S "$SOCK" -uroot "$@"; }
for _ in $(seq 1 120); do
  client -e 'SELECT 1' >/dev/null 2>&1 && break
  sleep 0.5
done
client -e 'SELECT 1' >/dev/null || { tail -n 30 "$LOG" >&2; exit 1; }
client <<SQL
CREATE USER IF NOT EXISTS '$MARIADB_USER'@'127.0.0.1' IDENTIFIED BY '$MARIADB_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO '$MARIADB_USER'@'127.0.0.1';
CREATE DATABASE IF NOT EXISTS \`$MARIADB_DB\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
SQL

echo "export MYSQL_URL=$(url)"
