//! sea-orm entities, one per table of `slugbase-migration`'s schema: the repositories read
//! and write rows through these types, so a column is named once, here, and a renamed
//! column fails to compile or fails the schema-parity test (`tests/schema_parity.rs`)
//! instead of failing a request at run time.
//!
//! Column types follow the schema conventions: ids are UUID text (`String`: sqlx would bind
//! a `Uuid` as a BLOB on SQLite and as `uuid` on PostgreSQL, neither of which compares with
//! a `TEXT` column), times are Unix milliseconds (`i64`), counters `BIGINT` (`i64`).

pub mod api_tokens;
pub mod attempt_counters;
pub mod audit_events;
pub mod backup_codes;
pub mod imported_accounts;
pub mod instance_setup;
pub mod oidc_flows;
pub mod oidc_identities;
pub mod oidc_session_auth;
pub mod outbox;
pub mod passkeys;
pub mod sessions;
pub mod users;
pub mod webauthn_ceremonies;
