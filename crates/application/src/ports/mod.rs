//! Ports: what the use cases need from the outside world.
//!
//! Every port is a `Send + Sync` trait; implementations are shared between request
//! threads. Each has a mockall mock (`MockUserRepository`, …) generated in tests and
//! behind the `mocks` feature, so other crates' test suites can drive the use cases.
//!
//! Storage ports state their contract with MUST; the port contract suite (feature
//! `contract`) checks every storage adapter against it. Anything that must be atomic is one
//! method, and the adapter runs it as one transaction or one conditional statement.

mod attempts;
mod audit;
mod background;
mod caller;
mod environment;
mod hashing;
mod health;
mod import;
mod mail;
mod mfa;
mod oidc;
mod outbox;
mod passkey_use;
mod passkeys;
mod rotation;
mod sessions;
mod storage;
mod store_error;
mod tokens;
mod totp;
mod users;
mod webauthn;

pub use attempts::*;
pub use audit::*;
pub use background::*;
pub use caller::*;
pub use environment::*;
pub use hashing::*;
pub use health::*;
pub use import::*;
pub use mail::*;
pub use mfa::*;
pub use oidc::*;
pub use outbox::*;
pub use passkey_use::*;
pub use passkeys::*;
pub use rotation::*;
pub use sessions::*;
pub use storage::*;
pub use store_error::*;
pub use tokens::*;
pub use totp::*;
pub use users::*;
pub use webauthn::*;
