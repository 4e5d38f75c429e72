//! The one way SlugBase's own test suites (and anyone's) run the service and talk to it:
//!
//! - [`TestApp`]: the service exactly as `slugbase serve` builds it
//!   ([`slugbase_server::Application::builder`]), on a free port of 127.0.0.1, over a
//!   SQLite file in a temporary directory (or the in-memory store, or any database URL), with
//!   a [`ManualClock`] so tests step through TOTP and attempt-limit windows instead of
//!   waiting. Settings are given the way an operator gives them (`server.trusted_proxies`,
//!   `security.limits.address.max_failures`, …) or as [`AuthSettings`].
//! - [`Api`]: one HTTP client — cookie jar, CSRF token, Bearer token — whose [`Reply`] is
//!   the whole response, read once: status, headers, `Retry-After`, cookies, JSON body.
//! - The usual flows — first administrator, user, login with or without MFA, API token,
//!   MFA enrollment — written once ([`steps`]; [`TestApp`] wraps them with its clock).
//! - TOTP codes from a secret or an `otpauth://` URL ([`totp`]), and the contract's error
//!   shape as an assertion ([`assert_seed_shape`], [`detail_fields`]).
//!
//! - Raw HTTP/1.1 over a socket for stalled and malformed requests ([`raw`]).
//! - A real OpenID provider (npm `oidc-provider`, `tests/oidc-provider/`) on a free port,
//!   and a browser that follows the OIDC redirects by hand ([`oidc`]).
//!
//! - HAProxy in front of three instances, with the repository's own configuration, drained
//!   and readied through its runtime API ([`haproxy`]).
//!
//! - Real Chromium through the account pages, one journey of `tests/browser/journeys.mjs`
//!   at a time, with the TOTP codes computed here from what the browser read ([`browser`]).
//!
//! Tests of the real binary (crash, shutdown, CLI) start the process themselves and use
//! [`Api`] to talk to it.
//!
//! [`ManualClock`]: slugbase_infrastructure::testing::ManualClock
//! [`AuthSettings`]: slugbase_application::AuthSettings

mod app;
pub mod browser;
mod client;
pub mod haproxy;
pub mod oidc;
mod prerequisite;
pub mod raw;
mod shape;
pub mod smtp;
pub mod steps;
pub mod totp;

pub use app::{Backend, TestApp, TestAppBuilder};
pub use client::{Api, Reply};
pub use shape::{assert_seed_shape, detail_fields};
pub use smtp::{ReceivedMail, SmtpServer};
