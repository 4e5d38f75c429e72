//! RFC 6238 TOTP ([`Totp`]) through totp-rs.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use qrcodegen::{QrCode, QrCodeEcc};
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
        let url = Zeroizing::new(self.otpauth_url(secret, account)?);
        // No error of the drawing names the URL (and so the secret).
        let png = qr_png(&url).ok_or_else(|| anyhow::anyhow!("QR code cannot be rendered"))?;
        Ok(BASE64.encode(png))
    }

    fn verify(&self, secret: &TotpSecret, code: &TotpCode, at: DateTime<Utc>) -> Option<TotpStep> {
        let totp = self.totp(secret, None).ok()?;
        let time = u64::try_from(at.timestamp()).ok()?;
        totp.check(code.expose(), time).map(TotpStep::new)
    }
}

/// Pixels per QR module.
const QR_SCALE: usize = 8;
/// Light modules around the code: readers need a quiet zone (the standard asks for four).
const QR_QUIET: usize = 4;

/// `text` as a QR code (error correction M) in an 8-bit grey PNG, eight pixels a module with
/// a four-module quiet zone — the picture totp-rs's `qr` feature draws. `None` if the text is
/// too long for a QR code.
fn qr_png(text: &str) -> Option<Vec<u8>> {
    let qr = QrCode::encode_text(text, QrCodeEcc::Medium).ok()?;
    let modules = usize::try_from(qr.size()).ok()?;
    let side = (modules + 2 * QR_QUIET) * QR_SCALE;
    let mut pixels = vec![u8::MAX; side * side];
    for (y, x) in (0..qr.size()).flat_map(|y| (0..qr.size()).map(move |x| (y, x))) {
        if !qr.get_module(x, y) {
            continue;
        }
        let (column, row) = (usize::try_from(x).ok()?, usize::try_from(y).ok()?);
        for line in 0..QR_SCALE {
            let start =
                ((row + QR_QUIET) * QR_SCALE + line) * side + (column + QR_QUIET) * QR_SCALE;
            pixels[start..start + QR_SCALE].fill(0);
        }
    }
    let side = u32::try_from(side).ok()?;
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header().ok()?.write_image_data(&pixels).ok()?;
    Some(out)
}
