//! Use cases and ports of SlugBase Auth.
//!
//! The use cases — above all [`use_cases::disable_mfa::DisableMfa`] — know nothing of HTTP or SQL. They run
//! over the ports in [`ports`], which the infrastructure crate implements (in memory,
//! SQLite, PostgreSQL, Argon2, totp-rs, AES-GCM) and which tests replace with the mockall
//! mocks generated under the `mocks` feature.
//!
//! Each use case ([`use_cases`]) is a plain struct holding only the ports and
//! [`collaborators`] it uses, with an `execute` method (or a few) and its own error enum.
//! Wiring: build a [`Deps`] (one `Arc` per port) and an [`AuthSettings`], then
//! [`UseCases::new`] builds them all; or build one use case with its own `new`.
//!
//! Every type has one path: a use case and its errors at `use_cases::<its module>`, the
//! collaborators at `collaborators::<theirs>`, the ports at [`ports`].

mod assembly;
mod caller;
pub mod collaborators;
#[cfg(feature = "contract")]
pub mod contract;
mod error;
mod plain_token;
pub mod ports;
pub mod use_cases;

pub use assembly::{AuthSettings, Deps, Operator, UseCases};
pub use caller::{Caller, CallerAuth, ClientInfo};
pub use error::{FieldError, InputRejected, Unexpected, ValidationErrors};
pub use plain_token::PlainToken;
