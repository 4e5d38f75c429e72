//! The composition root: the one place that builds every adapter and every use case, for
//! `slugbase serve` and for every CLI command.
//!
//! [`Root::new`] only takes the open storage: it builds nothing that costs. Each part is
//! built the first time it is asked for, so a command asks only for what it needs —
//! `user list` reads [`Root::stores`] and never computes the Argon2 dummy hash;
//! `keys rotate` builds the cipher and nothing else.

use std::fmt;
use std::sync::{Arc, OnceLock};

use anyhow::Context as _;
use slugbase_application::collaborators::audit_trail::AuditTrail;
use slugbase_application::ports::{
    AccountImport, ApiTokenRepository, AttemptRepository, AuditLog, Clock, ConfiguredProvider,
    IdentityProviders, MfaRepository, OidcRepository, OutboxRepository, PasskeyRepository,
    ProviderPolicy, SecretRotation, SessionRepository, Storage, StorageHealth, UserRepository,
};
use slugbase_application::use_cases::deliver_notices::DeliverNotices;
use slugbase_application::use_cases::rotate_keys::RotateKeys;
use slugbase_application::{AuthSettings, Deps, Operator, UseCases};
use slugbase_infrastructure::background::TokioBackground;
use slugbase_infrastructure::crypto::{
    AesGcmSecretCipher, Argon2Params, Argon2PasswordHasher, EncryptionKeys, HmacBackupCodeHasher,
    OsRandom, RfcTotp, Sha256TokenDigest,
};
use slugbase_infrastructure::mail::EmbeddedCommonPasswords;
use slugbase_infrastructure::oidc::{OpenIdProvider, OpenIdProviderConfig};
use slugbase_infrastructure::webauthn::WebauthnRelyingParty;

use crate::config::{self, Loaded};
use crate::{delivery, maintenance};

/// Every storage port, over one store: cheap to build (no crypto, no network).
#[derive(Clone)]
pub struct Stores {
    /// Accounts.
    pub users: Arc<dyn UserRepository>,
    /// MFA state changes.
    pub mfa: Arc<dyn MfaRepository>,
    /// Sessions.
    pub sessions: Arc<dyn SessionRepository>,
    /// API tokens.
    pub tokens: Arc<dyn ApiTokenRepository>,
    /// Audit log.
    pub audit: Arc<dyn AuditLog>,
    /// Attempt counters.
    pub attempts: Arc<dyn AttemptRepository>,
    /// OIDC flows and links.
    pub oidc: Arc<dyn OidcRepository>,
    /// The notice outbox.
    pub outbox: Arc<dyn OutboxRepository>,
    /// Storage reachability.
    pub health: Arc<dyn StorageHealth>,
    /// TOTP secrets, for key rotation.
    pub secrets: Arc<dyn SecretRotation>,
    /// Passkeys and WebAuthn ceremonies.
    pub passkeys: Arc<dyn PasskeyRepository>,
    /// Accounts imported from SlugBase.
    pub imports: Arc<dyn AccountImport>,
}

impl Stores {
    /// Every port served by `store`.
    #[must_use]
    pub fn over<S: Storage + SecretRotation>(store: Arc<S>) -> Self {
        Self {
            users: store.clone(),
            mfa: store.clone(),
            sessions: store.clone(),
            tokens: store.clone(),
            audit: store.clone(),
            attempts: store.clone(),
            oidc: store.clone(),
            outbox: store.clone(),
            health: store.clone(),
            passkeys: store.clone(),
            imports: store.clone(),
            secrets: store,
        }
    }
}

impl fmt::Debug for Stores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stores").finish_non_exhaustive()
    }
}

/// The composition root over one configuration, one store and one clock. Parts are built
/// on first use and kept.
pub struct Root {
    loaded: Loaded,
    stores: Stores,
    clock: Arc<dyn Clock>,
    auth: AuthSettings,
    /// The configured providers (built, not yet discovering).
    providers: OnceLock<Vec<Arc<OpenIdProvider>>>,
    /// The Argon2 hasher, once built.
    argon2: OnceLock<Arc<Argon2PasswordHasher>>,
    deps: OnceLock<Deps>,
    use_cases: OnceLock<(UseCases, Operator)>,
}

impl fmt::Debug for Root {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Root")
            .field("adapters_built", &self.deps.get().is_some())
            .field("use_cases_built", &self.use_cases.get().is_some())
            .finish_non_exhaustive()
    }
}

impl Root {
    /// A root over `stores` and `clock`, applying `auth` (or the settings derived from
    /// `[security]`). Builds nothing yet.
    #[must_use]
    pub fn new(
        loaded: Loaded,
        stores: Stores,
        clock: Arc<dyn Clock>,
        auth: Option<AuthSettings>,
    ) -> Self {
        let auth = auth.unwrap_or_else(|| loaded.settings.security.auth_settings());
        Self {
            loaded,
            stores,
            clock,
            auth,
            providers: OnceLock::new(),
            argon2: OnceLock::new(),
            deps: OnceLock::new(),
            use_cases: OnceLock::new(),
        }
    }

    /// The configuration the root was built from.
    #[must_use]
    pub const fn loaded(&self) -> &Loaded {
        &self.loaded
    }

    /// The storage ports alone.
    #[must_use]
    pub const fn stores(&self) -> &Stores {
        &self.stores
    }

    /// Whether the adapters (and with them the Argon2 dummy hash) have been built.
    #[must_use]
    pub fn adapters_built(&self) -> bool {
        self.deps.get().is_some()
    }

    /// Every port: the stores, the crypto adapters (computing the Argon2 dummy hash once, at
    /// full cost) and the configured identity providers.
    ///
    /// # Errors
    /// When an adapter refuses its configuration: Argon2 parameters, TOTP issuer, keys, an
    /// OIDC provider's URLs or client secret.
    pub fn deps(&self) -> anyhow::Result<&Deps> {
        if let Some(deps) = self.deps.get() {
            return Ok(deps);
        }
        let built = self.build_deps().context("cannot build the adapters")?;
        Ok(self.deps.get_or_init(|| built))
    }

    /// Every use case, each behind its trait, over [`Root::deps`].
    ///
    /// # Errors
    /// As [`Root::deps`].
    pub fn use_cases(&self) -> anyhow::Result<&UseCases> {
        Ok(&self.built()?.0)
    }

    /// The operator's use cases (the CLI's unchecked operations), the same instances as in
    /// [`Root::use_cases`].
    ///
    /// # Errors
    /// As [`Root::deps`].
    pub fn operator(&self) -> anyhow::Result<&Operator> {
        Ok(&self.built()?.1)
    }

    fn built(&self) -> anyhow::Result<&(UseCases, Operator)> {
        if let Some(built) = self.use_cases.get() {
            return Ok(built);
        }
        let built = UseCases::with_operator(self.deps()?.clone(), self.auth.clone());
        Ok(self.use_cases.get_or_init(|| built))
    }

    /// Starts discovering every configured provider in the background (a provider that is
    /// down is retried, never fatal): what `serve` does, and no CLI command.
    ///
    /// # Errors
    /// As [`Root::deps`].
    pub fn start_discovery(&self) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
        Ok(self.providers()?.iter().map(OpenIdProvider::spawn_discovery).collect())
    }

    /// The maintenance loop over the stores: purges expired sessions, old audit events and
    /// old notices.
    #[must_use]
    pub fn maintenance(&self) -> maintenance::Maintenance {
        let settings = &self.loaded.settings;
        maintenance::Maintenance {
            sessions: self.stores.sessions.clone(),
            audit: self.stores.audit.clone(),
            clock: self.clock.clone(),
            audit_retention_days: settings.audit.retention_days,
            outbox: self.stores.outbox.clone(),
            sent_notice_retention_days: settings.outbox.sent_retention_days,
            failed_notice_retention_days: settings.outbox.failed_retention_days,
            interval: std::time::Duration::from_secs(u64::from(
                settings.maintenance.purge_interval_secs,
            )),
        }
    }

    /// Notice delivery over the outbox through the configured mailer, with its poll
    /// interval; `None` with `mail.transport = "off"`.
    ///
    /// # Errors
    /// When the SMTP settings are refused.
    pub fn notice_delivery(&self) -> anyhow::Result<Option<delivery::DeliveryTask>> {
        let Some(mailer) = crate::mailer(&self.loaded)? else {
            tracing::info!("mail.transport = \"off\": notices stay in the outbox, undelivered");
            return Ok(None);
        };
        let mail = &self.loaded.settings.mail;
        let deliver = DeliverNotices::new(
            self.stores.outbox.clone(),
            mailer,
            AuditTrail::new(self.stores.audit.clone(), self.clock.clone()),
            self.clock.clone(),
            mail.delivery_policy(),
        );
        Ok(Some(delivery::DeliveryTask::spawn(deliver, mail.poll_interval())))
    }

    /// Key rotation (`slugbase keys rotate`): the stored secrets and the cipher, nothing
    /// else.
    ///
    /// # Errors
    /// When the keys are refused (no current key, a bad key id).
    pub fn rotate_keys(&self) -> anyhow::Result<RotateKeys> {
        let cipher = Arc::new(self.cipher().context("the encryption keys are refused")?);
        Ok(RotateKeys::new(self.stores.secrets.clone(), cipher.clone(), cipher))
    }

    /// The SlugBase importer (`slugbase import slugbase`): the stores, the cipher and the
    /// configured OIDC providers' issuers; no password hasher, no network.
    ///
    /// # Errors
    /// When the encryption keys are refused.
    pub fn importer(&self, dry_run: bool) -> anyhow::Result<crate::import::Importer> {
        let cipher = Arc::new(self.cipher().context("the encryption keys are refused")?);
        let our_providers = self
            .loaded
            .settings
            .oidc
            .providers
            .iter()
            .map(|(name, p)| (name.clone(), p.issuer_url.trim().to_owned()))
            .collect();
        Ok(crate::import::Importer {
            store: self.stores.imports.clone(),
            users: self.stores.users.clone(),
            tokens: self.stores.tokens.clone(),
            cipher,
            clock: self.clock.clone(),
            our_providers,
            dry_run,
            workers: std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        })
    }

    fn cipher(&self) -> anyhow::Result<AesGcmSecretCipher> {
        let keys = &self.loaded.keys;
        AesGcmSecretCipher::new(EncryptionKeys {
            current_id: keys.encryption_current.clone(),
            keys: keys.encryption.clone(),
        })
    }

    /// The Argon2 hasher (built once, with its full-cost dummy hash): the password port,
    /// and the metrics' reading of its permits.
    ///
    /// # Errors
    /// When the Argon2 parameters are refused.
    pub fn argon2(&self) -> anyhow::Result<Arc<Argon2PasswordHasher>> {
        if let Some(hasher) = self.argon2.get() {
            return Ok(hasher.clone());
        }
        let settings = &self.loaded.settings;
        let argon2 = Argon2Params {
            memory_kib: settings.argon2.memory_kib,
            iterations: settings.argon2.iterations,
            parallelism: settings.argon2.parallelism,
            max_concurrent: match settings.argon2.max_concurrent {
                0 => Argon2Params::automatic_concurrency(),
                n => n,
            },
        };
        let hasher = Arc::new(Argon2PasswordHasher::new(argon2)?);
        Ok(self.argon2.get_or_init(|| hasher).clone())
    }

    fn build_deps(&self) -> anyhow::Result<Deps> {
        let settings = &self.loaded.settings;
        let Stores {
            users,
            mfa,
            sessions,
            tokens,
            audit,
            attempts,
            oidc,
            outbox,
            health,
            passkeys,
            ..
        } = self.stores.clone();
        Ok(Deps {
            users,
            mfa,
            sessions,
            tokens,
            audit,
            attempts,
            oidc,
            outbox,
            health,
            passwords: self.argon2()?,
            common_passwords: Arc::new(EmbeddedCommonPasswords::new()),
            totp: Arc::new(RfcTotp::new(settings.totp.issuer.trim().to_owned())?),
            cipher: Arc::new(self.cipher()?),
            backup_codes: Arc::new(HmacBackupCodeHasher::new(self.loaded.keys.backup_code)),
            token_digest: Arc::new(Sha256TokenDigest),
            clock: self.clock.clone(),
            random: Arc::new(OsRandom),
            identity_providers: self.identity_providers()?,
            background: Arc::new(TokioBackground),
            passkeys,
            webauthn: Arc::new(self.relying_party()),
        })
    }

    /// The WebAuthn relying party of `server.public_base_url`, named as the TOTP issuer is.
    /// A URL WebAuthn cannot serve (an IP address as host) leaves passkeys unavailable, and
    /// says so once, here; the rest of the service runs as before.
    fn relying_party(&self) -> WebauthnRelyingParty {
        let settings = &self.loaded.settings;
        let base = settings.server.public_base_url.trim();
        let relying_party = WebauthnRelyingParty::new(base, settings.totp.issuer.trim());
        if let Err(reason) = relying_party.availability() {
            tracing::warn!(%reason, "passkeys are unavailable");
        }
        relying_party
    }

    /// The configured providers with their policies.
    fn identity_providers(&self) -> anyhow::Result<IdentityProviders> {
        let mut providers = IdentityProviders::default();
        for (provider, (key, p)) in
            self.providers()?.iter().zip(&self.loaded.settings.oidc.providers)
        {
            let policy = ProviderPolicy {
                display_name: p.display_name(key),
                issuer_url: p.issuer_url.trim().to_owned(),
                auto_create_users: p.auto_create_users,
                default_admin: p.default_role == config::DefaultRole::Admin,
                link_verified_email: p.link_verified_email,
                trust_idp_mfa_amr: p.trust_idp_mfa_amr.clone(),
            };
            let provider = provider.clone();
            providers.0.insert(key.clone(), ConfiguredProvider { policy, provider });
        }
        Ok(providers)
    }

    /// One client per configured provider, in the configuration's order.
    fn providers(&self) -> anyhow::Result<&[Arc<OpenIdProvider>]> {
        if let Some(providers) = self.providers.get() {
            return Ok(providers);
        }
        let settings = &self.loaded.settings;
        let base = settings.server.public_base_url.trim().trim_end_matches('/');
        let secs = |s: u32| std::time::Duration::from_secs(u64::from(s));
        let mut built = Vec::new();
        for (key, p) in &settings.oidc.providers {
            let secret = p.resolve_client_secret(key)?;
            let provider = OpenIdProvider::new(OpenIdProviderConfig {
                key: key.clone(),
                issuer_url: p.issuer_url.trim().to_owned(),
                client_id: p.client_id.trim().to_owned(),
                client_secret: secret.into(),
                redirect_url: format!("{base}/api/auth/{key}/callback"),
                scopes: p.scopes.clone(),
                max_retry: secs(settings.oidc.discovery_retry_max_secs),
                request_timeout: secs(settings.oidc.request_timeout_secs),
                jwks_refresh_min_interval: secs(settings.oidc.jwks_refresh_min_interval_secs),
            })
            .with_context(|| format!("OIDC provider {key}"))?;
            built.push(Arc::new(provider));
        }
        Ok(self.providers.get_or_init(|| built))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use slugbase_infrastructure::crypto::SystemClock;
    use slugbase_infrastructure::memory::InMemoryStore;

    use super::{Root, Stores};
    use crate::config::{self, LoadOptions, Profile};

    /// A root over an empty in-memory store whose Argon2 parameters the hasher refuses: any
    /// path that builds the hasher (and its dummy hash) fails.
    fn root_that_cannot_build_the_hasher() -> Root {
        let dir = tempfile::tempdir().unwrap();
        let env: BTreeMap<String, String> = [
            "SLUGBASE__KEYS__ENCRYPTION__K1",
            "SLUGBASE__KEYS__BACKUP_CODE",
            "SLUGBASE__KEYS__CSRF",
        ]
        .into_iter()
        .map(|key| (key.to_owned(), config::encode_key(&config::random_key())))
        .collect();
        let options = LoadOptions {
            profile: Profile::Test,
            config_dir: dir.path().join("none"),
            config_file: None,
            env: Some(env),
        };
        let mut loaded = config::load(&options).unwrap();
        loaded.settings.argon2.memory_kib = 1;
        let store = Arc::new(InMemoryStore::new());
        Root::new(loaded, Stores::over(store), Arc::new(SystemClock), None)
    }

    #[tokio::test]
    async fn user_list_builds_no_password_hasher() {
        let root = root_that_cannot_build_the_hasher();
        crate::cli::list_users(&root).await.unwrap();
        assert!(!root.adapters_built());
        // The same root would have failed had the listing touched the hasher.
        let refused = root.use_cases().unwrap_err();
        assert!(format!("{refused:#}").contains("argon2"), "{refused:#}");
    }

    #[test]
    fn key_rotation_builds_no_password_hasher() {
        let root = root_that_cannot_build_the_hasher();
        root.rotate_keys().unwrap();
        assert!(!root.adapters_built());
    }
}
