//! HTTP tests of the web adapter: the service on 127.0.0.1 over a real SQLite file (the
//! test kit's `TestApp`, with a manual clock), driven by the test kit's HTTP client (one
//! test binary, z2p style).

#![expect(clippy::unwrap_used, reason = "a test fails loudly where a step does")]

mod account;
mod disable;
mod edges;
mod enrollment;
mod lifecycle;
mod malformed;
mod mfa_policy;
mod notices;
mod openapi;
mod passkey_only;
mod passkey_proof;
mod passkeys;
mod rate_limit;
mod test_app;
mod timeouts;
