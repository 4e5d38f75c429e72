//! Logic shared by several use cases, each piece a small struct owning the ports it needs.
//! A use case holds the collaborators it uses, never the whole set of ports.

pub(crate) mod attempt;
pub mod attempt_limiter;
pub mod audit_trail;
pub mod backup_codes;
pub mod both_factors;
pub mod limit_report;
pub mod mfa_policy;
pub mod new_account;
pub mod passkey_ceremonies;
pub mod passkey_use;
pub mod second_factor;
pub mod sessions;
pub mod token_minter;
