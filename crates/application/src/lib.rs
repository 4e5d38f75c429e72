//! Use cases and ports of SlugBase Auth.
//!
//! The use cases — above all [`mfa::DisableMfa`] — know nothing of HTTP or SQL. They run
//! over the ports in [`ports`], which the infrastructure crate implements (in memory,
//! SQLite, PostgreSQL, Argon2, totp-rs, AES-GCM) and which tests replace with the mockall
//! mocks generated under the `mocks` feature.
//!
//! Each use case ([`use_cases`]) is a plain struct holding only the ports and
//! [`collaborators`] it uses, with an `execute` method (or a few) and its own error enum.
//! Wiring: build a [`Deps`] (one `Arc` per port) and an [`AuthSettings`], then
//! [`UseCases::new`] builds them all; or build one use case with its own `new`.
//!
//! [`mfa`], [`auth`], [`accounts`], [`tokens`] and [`rotation`] re-export the use cases
//! under the paths other crates import them by.

pub mod accounts;
mod assembly;
pub mod attempts;
pub mod auth;
mod caller;
pub mod collaborators;
#[cfg(feature = "contract")]
pub mod contract;
pub mod error;
pub mod mfa;
mod plain_token;
pub mod ports;
pub mod rotation;
pub mod tokens;
pub mod use_cases;

pub use assembly::{AuthSettings, Deps, UseCases};
pub use attempts::{AttemptKind, AttemptLimits};
pub use caller::{Caller, CallerAuth, ClientInfo};
pub use error::{FieldError, InputRejected, Unexpected, ValidationErrors};
pub use plain_token::PlainToken;
