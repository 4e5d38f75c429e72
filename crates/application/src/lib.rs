//! Use cases and ports of SlugBase Auth.
//!
//! The use cases — above all [`mfa::DisableMfa`] — know nothing of HTTP or SQL. They run
//! over the ports in [`ports`], which the infrastructure crate implements (in memory,
//! SQLite, PostgreSQL, Argon2, totp-rs, AES-GCM) and which tests replace with the mockall
//! mocks generated under the `mocks` feature.
//!
//! Wiring: build a [`Deps`] (one `Arc` per port) and an [`AuthSettings`], then
//! [`UseCases::new`]. Each use case is a struct with an `execute` method and its own error
//! enum.

pub mod accounts;
pub mod attempts;
pub mod auth;
#[cfg(feature = "contract")]
pub mod contract;
mod core;
pub mod error;
pub mod mfa;
pub mod ports;
pub mod rotation;
pub mod tokens;

pub use crate::core::{AuthSettings, Caller, CallerAuth, ClientInfo, Deps, PlainToken, UseCases};
pub use attempts::{AttemptKind, AttemptLimits};
pub use error::{FieldError, Unexpected, ValidationErrors};
