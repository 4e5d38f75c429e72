#!/usr/bin/env bash
# SlugBase Auth: start (or reuse) a throwaway PostgreSQL cluster on 127.0.0.1 without systemd,
# for tests and CI (the PostgreSQL contract and schema-parity tests use $DATABASE_URL).
# Installs PostgreSQL from Debian packages (apt-get) when its server binaries are missing.
# Idempotent: a second run finds the running server and just prints the URL again.
#
#   scripts/start-postgres.sh            -> starts if needed; prints "export DATABASE_URL=postgres://..." (only stdout line)
#   scripts/start-postgres.sh stop       -> stops the cluster (fast shutdown)
#   scripts/start-postgres.sh destroy    -> stops and deletes the data directory
#   eval "$(scripts/start-postgres.sh)"  -> exports DATABASE_URL into the calling shell
#
# Env knobs: PG_PORT (55432), PG_BASE (/tmp/slugbase-pg-$PG_PORT), PG_DB (slugbase),
#            PG_USER (postgres), PG_PASSWORD (postgres).
# Must run as root (uses runuser to act as the 'postgres' OS user) or as the postgres user.
set -euo pipefail

PG_PORT="${PG_PORT:-55432}"
PG_BASE="${PG_BASE:-/tmp/slugbase-pg-$PG_PORT}"
PG_DB="${PG_DB:-slugbase}"
PG_USER="${PG_USER:-postgres}"
PG_PASSWORD="${PG_PASSWORD:-postgres}"
DATA="$PG_BASE/data"
SOCK="$PG_BASE/sock"
LOG="$PG_BASE/postgres.log"

log() { echo "[start-postgres] $*" >&2; }

find_bindir() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1
}

BINDIR="$(find_bindir || true)"
if [ -z "$BINDIR" ] || [ ! -x "$BINDIR/initdb" ]; then
  log "PostgreSQL server binaries not found; installing with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  # Don't let the Debian package create/start its own 'main' cluster on 5432.
  mkdir -p /etc/postgresql-common
  if ! grep -qs '^create_main_cluster' /etc/postgresql-common/createcluster.conf; then
    echo 'create_main_cluster = false' >> /etc/postgresql-common/createcluster.conf
  fi
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends postgresql postgresql-client >&2
  BINDIR="$(find_bindir)"
fi

if [ "$(id -u)" = 0 ]; then
  as_pg() { runuser -u postgres -- "$@"; }
elif [ "$(id -un)" = postgres ]; then
  as_pg() { "$@"; }
else
  log "run as root or as the postgres user"; exit 1
fi

url() { echo "postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"; }

case "${1:-start}" in
  stop)
    if [ -f "$DATA/PG_VERSION" ]; then as_pg "$BINDIR/pg_ctl" -D "$DATA" -m fast -w stop >&2 || true; fi
    exit 0 ;;
  destroy)
    if [ -f "$DATA/PG_VERSION" ]; then as_pg "$BINDIR/pg_ctl" -D "$DATA" -m fast -w stop >&2 || true; fi
    rm -rf "$PG_BASE"; exit 0 ;;
  start) ;;
  *) log "usage: $0 [start|stop|destroy]"; exit 2 ;;
esac

mkdir -p "$PG_BASE" "$SOCK"
chown postgres:postgres "$PG_BASE" "$SOCK" 2>/dev/null || true
chmod 700 "$PG_BASE"

if [ ! -f "$DATA/PG_VERSION" ]; then
  log "initdb into $DATA"
  pwfile="$PG_BASE/pwfile"
  printf '%s\n' "$PG_PASSWORD" > "$pwfile"
  chown postgres:postgres "$pwfile" 2>/dev/null || true
  as_pg "$BINDIR/initdb" -D "$DATA" -U "$PG_USER" --pwfile="$pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >&2
  rm -f "$pwfile"
  # Throwaway cluster: trade durability for speed.
  cat >> "$DATA/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$SOCK'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
EOF
fi

if as_pg "$BINDIR/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
  log "already running on 127.0.0.1:$PG_PORT"
else
  log "starting on 127.0.0.1:$PG_PORT (log: $LOG)"
  as_pg "$BINDIR/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >&2 || { tail -n 30 "$LOG" >&2; exit 1; }
fi

# Wait until it accepts TCP connections, then ensure the database exists.
for _ in $(seq 1 60); do
  "$BINDIR/pg_isready" -h 127.0.0.1 -p "$PG_PORT" -q && break
  sleep 0.5
done
if ! as_pg "$BINDIR/psql" -h "$SOCK" -p "$PG_PORT" -U "$PG_USER" -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'" | grep -q 1; then
  as_pg "$BINDIR/createdb" -h "$SOCK" -p "$PG_PORT" -U "$PG_USER" "$PG_DB" >&2
fi

echo "export DATABASE_URL=$(url)"
