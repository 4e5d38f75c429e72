//! Handler tests: the real actix app (`slugbase_web::app`, every route and middleware) over
//! mocked use cases, no database. They pin the HTTP answer to every variant of every
//! use-case error, and to every way a body is rejected, in the contract's order.

#![expect(clippy::unwrap_used, reason = "a test fails loudly where a step does")]

mod account_security;
mod accounts;
mod auth;
mod mfa;
mod oidc;
mod passkeys;
mod support;
