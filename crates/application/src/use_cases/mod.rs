//! The use cases, one module each (enrollment's three steps share one). Each is a plain
//! struct holding only the ports and collaborators it uses, built by a `new` that names
//! them. The assembly module (`UseCases::new`) builds them all over one set of ports; no
//! use case imports it.

pub mod admin;
pub mod api_tokens;
pub mod authenticate;
pub mod change_password;
pub mod deliver_notices;
pub mod disable_mfa;
pub mod enroll;
pub mod health;
pub mod login;
pub mod logout;
pub mod mfa_status;
pub mod oidc_login;
pub mod passkey_sign_in;
pub mod passkeys;
pub mod regenerate_backup_codes;
pub mod rotate_keys;
pub mod sessions;
pub mod setup;
pub mod verify_login;
