# syntax=docker/dockerfile:1
# Multi-stage build: compile with the Rust toolchain, run on a slim Debian as a non-root user.
# The image ships the `dist` profile (whole-program optimisation; Cargo.toml says why).

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# TLS is rustls and SQLite is bundled; the passkeys' WebAuthn library (webauthn-rs) links
# OpenSSL, so its headers and pkg-config are needed here and libssl3 at run time.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libssl-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --profile dist --locked -p slugbase-server --features all-databases,otlp \
    && cp target/dist/slugbase /usr/local/bin/slugbase

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 slugbase \
    && useradd --system --uid 10001 --gid slugbase --home-dir /app --shell /usr/sbin/nologin slugbase \
    && mkdir -p /app/data \
    && chown -R slugbase:slugbase /app
COPY --from=build /usr/local/bin/slugbase /usr/local/bin/slugbase
COPY config /app/config
WORKDIR /app
USER slugbase:slugbase
# Production by default: the container refuses to start without keys (SLUGBASE__KEYS__…)
# and an https public URL (SLUGBASE__SERVER__PUBLIC_BASE_URL).
ENV SLUGBASE_PROFILE=production \
    SLUGBASE__SERVER__HOST=0.0.0.0 \
    SLUGBASE__SERVER__PORT=8080 \
    SLUGBASE__DATABASE__URL=sqlite:///app/data/slugbase.db?mode=rwc
VOLUME ["/app/data"]
EXPOSE 8080
# No curl in the image: bash's /dev/tcp asks /api/health (200 only when the database answers).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /api/health HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n1 <&3 | grep -q ' 200 '"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["slugbase"]
CMD ["serve"]
