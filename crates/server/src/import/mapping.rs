//! One SlugBase user → one account to import, or the reason it is not imported: the pure
//! part of `slugbase import slugbase` (no I/O but the one scrypt the caller's `open` does).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use slugbase_application::ports::{
    ApiTokenRecord, AuditEvent, ImportedAccount, ImportedMfa, NewUser, SecretCipher, SecretDigest,
};
use slugbase_domain::{
    ApiTokenId, AuditEventKind, AuditOutcome, DisplayName, Email, LoginMethod, PasswordHash,
    PasswordHashKind, TotpSecret, UserId, label,
};
use slugbase_infrastructure::slugbase_source::SlugbaseUser;
use zeroize::Zeroizing;

/// The `source` of every account this importer stores.
pub const SOURCE: &str = "slugbase";

/// Longest API token name we keep (as `POST /api/tokens` allows).
const MAX_TOKEN_NAME_CHARS: usize = 100;

/// What the mapping needs besides the user.
#[derive(Clone)]
#[expect(missing_debug_implementations, reason = "holds the cipher, which shows nothing")]
pub struct Context {
    /// SlugBase's `oidc_providers`: `provider_key` → issuer URL.
    pub slugbase_providers: HashMap<String, String>,
    /// Ours: issuer URL (without a trailing `/`) → provider name.
    pub our_providers: HashMap<String, String>,
    /// Seals TOTP secrets under our current key.
    pub cipher: Arc<dyn SecretCipher>,
    /// The import's time.
    pub now: DateTime<Utc>,
}

/// What happens to one SlugBase user.
#[derive(Debug)]
pub enum Decision {
    /// Import it; the notes say what of it is left behind (never a secret).
    Import(Box<ImportedAccount>, Vec<String>),
    /// Not imported, and why.
    Skip(String),
}

/// An issuer URL as compared: without a trailing `/`.
#[must_use]
pub fn issuer_key(issuer: &str) -> String {
    issuer.trim().trim_end_matches('/').to_owned()
}

/// A lower-case SHA-256 hex digest, as SlugBase stores backup codes and tokens.
fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A base32 TOTP secret as otplib makes them (RFC 4648, no padding); at least 128 bits.
fn totp_secret(plain: &str) -> Option<TotpSecret> {
    let compact: Zeroizing<String> = Zeroizing::new(
        plain.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_uppercase(),
    );
    let trimmed = compact.trim_end_matches('=');
    let valid = trimmed.len() >= 26
        && trimmed.bytes().all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b));
    valid.then(|| TotpSecret::from_base32(trimmed.to_owned()))
}

/// Maps one user. `open` opens a SlugBase TOTP envelope (one scrypt): called only for a
/// user whose MFA is on.
pub fn map_user(
    user: &SlugbaseUser,
    ctx: &Context,
    open: impl FnOnce(&str) -> Result<Zeroizing<String>, String>,
) -> Decision {
    let mut notes = Vec::new();
    let Ok(email) = Email::parse(&user.email) else {
        return Decision::Skip("its e-mail address is not one we accept".to_owned());
    };
    let name = DisplayName::parse(&user.name)
        .or_else(|_| DisplayName::parse(email.as_str().split('@').next().unwrap_or("user")))
        .or_else(|_| DisplayName::parse("SlugBase user"));
    let Ok(name) = name else { return Decision::Skip("no usable display name".to_owned()) };

    // The OIDC link, through SlugBase's provider row to ours, by issuer.
    let mut link = None;
    if let (Some(key), Some(sub)) = (&user.oidc_provider, &user.oidc_sub) {
        match ctx.slugbase_providers.get(key) {
            None => notes.push(format!("its OIDC link names provider {key:?}, which SlugBase does not list")),
            Some(issuer) => match ctx.our_providers.get(&issuer_key(issuer)) {
                Some(ours) => link = Some((ours.clone(), sub.clone())),
                None => notes.push(format!(
                    "its OIDC link (provider {key:?}, issuer {issuer}) is not imported: no configured \
                     provider has that issuer"
                )),
            },
        }
    }

    let login = match &user.password_hash {
        Some(hash) => {
            let hash = PasswordHash::from_phc(hash.clone());
            if hash.kind() != PasswordHashKind::LegacyBcrypt {
                return Decision::Skip("its password hash is not bcrypt".to_owned());
            }
            LoginMethod::Local(hash)
        }
        None if link.is_some() => LoginMethod::OidcOnly,
        None if user.oidc_sub.is_some() => {
            return Decision::Skip(
                "OIDC-only, and its provider is not configured here: configure it and run the \
                 import again"
                    .to_owned(),
            );
        }
        None => {
            return Decision::Skip(
                "invite pending at SlugBase (no password, no OIDC link): nothing to sign in with"
                    .to_owned(),
            );
        }
    };

    let id = UserId::generate();
    let mfa = match (user.mfa_enabled, &user.mfa_secret_enc) {
        (true, Some(envelope)) => {
            let plain = match open(envelope) {
                Ok(plain) => plain,
                Err(why) => {
                    return Decision::Skip(format!("its TOTP secret cannot be opened: {why}"));
                }
            };
            let Some(secret) = totp_secret(&plain) else {
                return Decision::Skip("its TOTP secret is not a base32 secret".to_owned());
            };
            let Ok(sealed) = ctx.cipher.encrypt(id, &secret) else {
                return Decision::Skip("its TOTP secret cannot be sealed under our key".to_owned());
            };
            let codes: Vec<SecretDigest> = user
                .unused_backup_codes
                .iter()
                .filter(|c| is_sha256_hex(c))
                .map(|c| SecretDigest::from_hex(c.clone()))
                .collect();
            if codes.len() != user.unused_backup_codes.len() {
                notes.push("backup codes that are not SHA-256 digests were left out".to_owned());
            }
            Some(ImportedMfa {
                secret: sealed,
                enrolled_at: user.mfa_enrolled_at.unwrap_or(ctx.now),
                backup_codes: codes,
            })
        }
        (true, None) => return Decision::Skip("MFA on without a TOTP secret".to_owned()),
        (false, Some(_)) => {
            notes.push("an MFA enrolment never confirmed at SlugBase is not imported".to_owned());
            None
        }
        (false, None) => None,
    };

    let mut tokens = Vec::new();
    for token in &user.tokens {
        let (Ok(token_id), true) =
            (token.id.parse::<ApiTokenId>(), is_sha256_hex(&token.token_hash))
        else {
            notes.push("an API token that does not read as SlugBase's was left out".to_owned());
            continue;
        };
        let name = label(&token.name, MAX_TOKEN_NAME_CHARS)
            .map_or_else(|_| "imported token".to_owned(), str::to_owned);
        tokens.push(ApiTokenRecord {
            id: token_id,
            user_id: id,
            name,
            token_hash: SecretDigest::from_hex(token.token_hash.clone()),
            created_at: token.created_at.unwrap_or(ctx.now),
            last_used_at: token.last_used_at,
        });
    }

    let (oidc_provider, oidc_subject) = link.map_or((None, None), |(p, s)| (Some(p), Some(s)));
    let audit = AuditEvent {
        at: ctx.now,
        user_id: Some(id),
        actor_id: None,
        kind: AuditEventKind::AccountImported,
        outcome: AuditOutcome::Success,
        proof: None,
        detail: Some(format!("from SlugBase user {}", user.id)),
        client_addr: Some("local-cli".to_owned()),
        user_agent: Some("slugbase-cli".to_owned()),
    };
    let account = ImportedAccount {
        source: SOURCE.to_owned(),
        source_id: user.id.clone(),
        user: NewUser {
            id,
            email,
            name,
            login,
            oidc_provider,
            is_admin: user.is_admin,
            created_at: ctx.now,
        },
        mfa,
        tokens,
        oidc_subject,
        audit,
    };
    Decision::Import(Box::new(account), notes)
}
