# SlugBase Auth tasks. `just` alone lists them.

# List the recipes.
default:
    @just --list

# Serve on 127.0.0.1:8080 over ./data/slugbase.db (development profile; keys generated once).
run *ARGS:
    cargo run --release --features all-databases,otlp -- {{ARGS}}

# Every test (PostgreSQL / MariaDB tests skip without a server; `just test-all-db` provides both).
test:
    cargo test --workspace

# Every test, with a throwaway local PostgreSQL cluster for the storage tests.
test-pg:
    #!/usr/bin/env bash
    set -euo pipefail
    eval "$(bash scripts/start-postgres.sh)"
    export DATABASE_URL
    cargo test --workspace

# Every test, with throwaway local PostgreSQL and MariaDB servers (what .ci/run provides).
test-all-db:
    #!/usr/bin/env bash
    set -euo pipefail
    eval "$(bash scripts/start-postgres.sh)"
    eval "$(bash scripts/start-mariadb.sh)"
    export DATABASE_URL MYSQL_URL
    cargo test --workspace

# Formatting check and clippy with warnings as errors.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Format the code.
fmt:
    cargo fmt --all

# Benchmarks (speed targets live there, never in tests).
bench *ARGS:
    cargo run -p slugbase-bench --profile dist -- {{ARGS}}

# Build the container image.
docker-build:
    docker build -t slugbase:latest .

# Print a fresh set of keys as environment lines (for .env / docker compose).
keys:
    cargo run --release -- keys generate --format env
