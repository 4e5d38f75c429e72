//! TOTP codes computed from the secret the API returned (RFC 6238: SHA-1, 6 digits, 30 s),
//! the way an authenticator app computes them.

use chrono::{DateTime, Utc};

/// The generator for a Base32 secret.
///
/// # Panics
/// When the secret is not valid Base32 of the right length.
#[must_use]
pub fn from_secret(secret: &str) -> totp_rs::Totp {
    totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_skew(1)
        .with_secret(totp_rs::Secret::try_from_base32(secret).expect("a Base32 secret"))
        .build()
        .expect("a valid TOTP secret")
}

/// The generator for an `otpauth://` URL.
///
/// # Panics
/// When the URL is not a valid `otpauth://totp/…` URL.
#[must_use]
pub fn from_url(otpauth_url: &str) -> totp_rs::Totp {
    totp_rs::Totp::from_url(otpauth_url).expect("a valid otpauth URL")
}

fn unix(at: DateTime<Utc>) -> u64 {
    u64::try_from(at.timestamp()).expect("a time after 1970")
}

/// The code at `at`.
#[must_use]
pub fn code_at(totp: &totp_rs::Totp, at: DateTime<Utc>) -> String {
    totp.generate(unix(at)).to_string()
}

/// The code `steps_ahead` 30-second steps after now (wall clock), for a server on the
/// system clock: it accepts ±1 step and never the same step twice.
#[must_use]
pub fn code_now(totp: &totp_rs::Totp, steps_ahead: u64) -> String {
    totp.generate(unix(Utc::now()) + 30 * steps_ahead).to_string()
}

/// Six digits that are no valid code at `at`, nor one step either side.
///
/// # Panics
/// Never in practice (three codes cannot cover a million).
#[must_use]
pub fn wrong_code_at(totp: &totp_rs::Totp, at: DateTime<Utc>) -> String {
    let now = unix(at);
    let valid: Vec<String> =
        [now - 30, now, now + 30].iter().map(|t| totp.generate(*t).to_string()).collect();
    (0..1_000_000u32)
        .map(|n| format!("{:06}", (n * 7919 + 123_457) % 1_000_000))
        .find(|c| !valid.contains(c))
        .expect("a wrong code")
}
