//! Use-case unit tests over the ports' mockall mocks, in one test binary.
//!
//! Every test arranges only the ports its path may use; an unarranged port panics when
//! called, which is how "never called" is asserted. See [`support`].

mod support;

mod accounts;
mod admin;
mod authenticate;
mod disable_mfa;
mod enrollment;
mod login;
mod mfa_policy;
mod oidc_login;
mod passkey_proof;
mod passkeys;
