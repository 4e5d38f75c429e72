//! HTTP tests of the web adapter: the real server on 127.0.0.1 over a real SQLite file,
//! driven by a real HTTP client (one test binary, z2p style).

#![expect(clippy::unwrap_used, reason = "a test fails loudly where a step does")]

mod disable;
mod enrollment;
mod helpers;
mod lifecycle;
mod malformed;
mod openapi;
mod timeouts;
