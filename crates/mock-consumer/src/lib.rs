//! Nothing to see here: this crate exists for its test, which builds the disable-MFA use
//! case over `slugbase-application`'s mockall mocks with only the `mocks` feature enabled —
//! exactly what an outside test suite does.
