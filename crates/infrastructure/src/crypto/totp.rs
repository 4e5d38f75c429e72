//! RFC 6238 TOTP ([`Totp`]) through totp-rs.

use chrono::{DateTime, Utc};
use slugbase_application::ports::Totp;
use slugbase_domain::{Email, TotpCode, TotpSecret, TotpStep};
use zeroize::Zeroizing;

use super::random::fill_random;

/// Bytes in a TOTP secret: 160 bits, as RFC 4226 recommends (32 Base32 characters).
const TOTP_SECRET_BYTES: usize = 20;

/// RFC 6238 TOTP through totp-rs: SHA-1, 6 digits, 30-second steps, ±1 step of drift.
#[derive(Clone, Debug)]
pub struct RfcTotp {
    issuer: String,
}

impl RfcTotp {
    /// A TOTP adapter whose otpauth URLs name `issuer` (e.g. `SlugBase`).
    ///
    /// # Errors
    /// If the issuer is empty or contains `:` (the otpauth label separator).
    pub fn new(issuer: impl Into<String>) -> anyhow::Result<Self> {
        let issuer = issuer.into();
        anyhow::ensure!(!issuer.trim().is_empty(), "TOTP issuer must not be empty");
        anyhow::ensure!(!issuer.contains(':'), "TOTP issuer must not contain ':'");
        Ok(Self { issuer })
    }

    /// The totp-rs instance for a secret (and, for URLs, an account).
    fn totp(&self, secret: &TotpSecret, account: Option<&Email>) -> anyhow::Result<totp_rs::Totp> {
        let bytes = totp_rs::Secret::try_from_base32(secret.expose_base32())
            .map_err(|_| anyhow::anyhow!("TOTP secret is not Base32"))?;
        let mut builder = totp_rs::Builder::new()
            .with_algorithm(totp_rs::Algorithm::SHA1)
            .with_digits(6)
            .with_step_duration(30)
            .with_skew(1)
            .with_secret(bytes)
            .with_issuer(Some(self.issuer.as_str()));
        if let Some(account) = account {
            // `:` separates issuer and account in the otpauth label and may appear in neither;
            // an e-mail's local part may hold one. The label is only what the app displays.
            builder = builder.with_account_name(account.as_str().replace(':', "_"));
        }
        // totp-rs errors can echo the account name but never the secret.
        builder.build().map_err(|e| anyhow::anyhow!("TOTP parameters rejected: {e}"))
    }
}

impl Totp for RfcTotp {
    fn generate_secret(&self) -> TotpSecret {
        let mut bytes = Zeroizing::new([0u8; TOTP_SECRET_BYTES]);
        fill_random(bytes.as_mut());
        let secret = totp_rs::Secret::from(*bytes);
        TotpSecret::from_base32(secret.to_base32())
    }

    fn otpauth_url(&self, secret: &TotpSecret, account: &Email) -> anyhow::Result<String> {
        self.totp(secret, Some(account))?
            .to_url()
            .map_err(|e| anyhow::anyhow!("otpauth URL cannot be built: {e}"))
    }

    fn qr_png_base64(&self, secret: &TotpSecret, account: &Email) -> anyhow::Result<String> {
        self.totp(secret, Some(account))?
            .to_qr_base64()
            // The error of an over-long URL carries the URL (and so the secret): drop it.
            .map_err(|_| anyhow::anyhow!("QR code cannot be rendered"))
    }

    fn verify(&self, secret: &TotpSecret, code: &TotpCode, at: DateTime<Utc>) -> Option<TotpStep> {
        let totp = self.totp(secret, None).ok()?;
        let time = u64::try_from(at.timestamp()).ok()?;
        totp.check(code.expose(), time).map(TotpStep::new)
    }
}
