//! The pieces every use case shares: the ports bundle, settings, the caller, and helpers
//! for auditing, minting sessions and checking second factors.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use chrono::{DateTime, TimeDelta, Utc};
use secrecy::{ExposeSecret, SecretString};
use slugbase_domain::{
    ApiTokenId, AuditEventKind, AuditOutcome, EncryptedSecret, MfaPolicy, ProofKind, SecondFactor,
    TotpStep, User, UserId,
};

use crate::attempts::{AttemptLimiter, AttemptLimits};
use crate::error::Unexpected;
use crate::ports::{
    ApiTokenRepository, AttemptRepository, AuditEvent, AuditLog, BackupCodeHasher, Clock, MfaProof,
    MfaRepository, PasswordHasher, Random, SecretCipher, SecretDigest, SessionKind, SessionRecord,
    SessionRepository, StorageHealth, TokenDigest, Totp, UserRepository,
};

/// One shared handle per port: what the use cases run on.
#[derive(Clone)]
pub struct Deps {
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
    /// Storage reachability.
    pub health: Arc<dyn StorageHealth>,
    /// Argon2id.
    pub passwords: Arc<dyn PasswordHasher>,
    /// TOTP.
    pub totp: Arc<dyn Totp>,
    /// TOTP secret encryption.
    pub cipher: Arc<dyn SecretCipher>,
    /// Backup code digests.
    pub backup_codes: Arc<dyn BackupCodeHasher>,
    /// Session id / API token digests.
    pub token_digest: Arc<dyn TokenDigest>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Randomness.
    pub random: Arc<dyn Random>,
}

impl fmt::Debug for Deps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deps").finish_non_exhaustive()
    }
}

/// Security settings the use cases apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthSettings {
    /// Policies such as `require_mfa_for_admins`.
    pub mfa_policy: MfaPolicy,
    /// End the user's other sessions when MFA is disabled or reset (ASVS 5.0 7.4.3).
    pub end_other_sessions_on_mfa_change: bool,
    /// A session unused this long is dead.
    pub session_idle_secs: u32,
    /// A session this old is dead, however active.
    pub session_absolute_secs: u32,
    /// Lifetime of the pending-MFA state after a password login.
    pub pending_mfa_secs: u32,
    /// Wrong codes a pending-MFA state survives before it is dropped.
    pub pending_mfa_max_attempts: u32,
    /// Attempt limits.
    pub limits: AttemptLimits,
    /// Activity is written back at most this often per session / token (saves a write on
    /// every request).
    pub touch_interval_secs: u32,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            mfa_policy: MfaPolicy::default(),
            end_other_sessions_on_mfa_change: true,
            session_idle_secs: 30 * 60,
            session_absolute_secs: 12 * 60 * 60,
            pending_mfa_secs: 5 * 60,
            pending_mfa_max_attempts: 5,
            limits: AttemptLimits::default(),
            touch_interval_secs: 60,
        }
    }
}

/// Where a request comes from (for attempt limits and the audit log).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// Client IP address (the socket peer, or `X-Forwarded-For` from a trusted proxy).
    pub address: Option<String>,
    /// `User-Agent`, cut to 256 characters, control characters removed.
    pub user_agent: Option<String>,
}

/// Longest user agent kept.
const MAX_USER_AGENT_CHARS: usize = 256;

impl ClientInfo {
    /// Builds the info, cleaning the user agent (it is attacker-chosen text headed for logs).
    #[must_use]
    pub fn new(address: Option<String>, user_agent: Option<&str>) -> Self {
        let user_agent = user_agent
            .map(|ua| ua.chars().filter(|c| !c.is_control()).take(MAX_USER_AGENT_CHARS).collect());
        Self { address, user_agent }
    }
}

/// How the caller authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallerAuth {
    /// `slugbase.sid` cookie; the digest of its session id.
    Session(SecretDigest),
    /// `Authorization: Bearer sb_…`.
    ApiToken(ApiTokenId),
}

/// An authenticated caller, with a fresh read of their account.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The account.
    pub user: User,
    /// Cookie or token.
    pub auth: CallerAuth,
}

impl Caller {
    /// The session digest when the caller came with a cookie.
    #[must_use]
    pub const fn session(&self) -> Option<&SecretDigest> {
        match &self.auth {
            CallerAuth::Session(digest) => Some(digest),
            CallerAuth::ApiToken(_) => None,
        }
    }
}

/// A bearer secret shown to the client once (session id, pending-MFA id, API token).
/// `Debug` never prints it.
#[derive(Clone)]
pub struct PlainToken(SecretString);

impl PlainToken {
    /// Wraps a token.
    #[must_use]
    pub fn new(token: String) -> Self {
        Self(SecretString::from(token))
    }

    /// The token, for the cookie or the one-time response.
    #[must_use]
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for PlainToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlainToken([REDACTED])")
    }
}

/// What every use case holds.
pub(crate) struct Core {
    pub(crate) deps: Deps,
    pub(crate) settings: AuthSettings,
    pub(crate) limiter: AttemptLimiter,
}

impl Core {
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.deps.clock.now()
    }

    /// Records an audit event and writes one structured log line for it. The operation has
    /// already happened, so a failed write is logged loudly rather than turned into an
    /// error the client would misread as "nothing changed".
    pub(crate) async fn audit(&self, entry: AuditEntry<'_>) {
        let outcome = match entry.reason {
            None => AuditOutcome::Success,
            Some(reason) => AuditOutcome::Failure(reason.to_owned()),
        };
        tracing::info!(
            target: "audit",
            event = entry.kind.as_str(),
            user.id = entry.user.map(|u| u.to_string()),
            actor.id = entry.actor.map(|u| u.to_string()),
            outcome = if entry.reason.is_none() { "success" } else { "failure" },
            reason = entry.reason,
            proof = entry.proof.map(ProofKind::as_str),
            client.addr = entry.client.address.as_deref(),
            "audit event"
        );
        let event = AuditEvent {
            at: self.now(),
            user_id: entry.user,
            actor_id: entry.actor,
            kind: entry.kind,
            outcome,
            proof: entry.proof,
            client_addr: entry.client.address.clone(),
            user_agent: entry.client.user_agent.clone(),
        };
        if let Err(error) = self.deps.audit.record(event).await {
            tracing::error!(error = %error, event = entry.kind.as_str(), "audit event could not be stored");
        }
    }

    /// A new random bearer secret: 256 bits, base64url without padding.
    pub(crate) fn random_token(&self, prefix: &str) -> PlainToken {
        let bytes = self.deps.random.bytes_32();
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        PlainToken::new(format!("{prefix}{encoded}"))
    }

    /// Creates and stores a session; returns the id for the cookie.
    pub(crate) async fn start_session(
        &self,
        user: UserId,
        kind: SessionKind,
    ) -> Result<PlainToken, Unexpected> {
        let token = self.random_token("");
        let now = self.now();
        let lifetime = match kind {
            SessionKind::Full => self.settings.session_absolute_secs,
            SessionKind::PendingMfa => self.settings.pending_mfa_secs,
        };
        let record = SessionRecord {
            id_hash: self.deps.token_digest.digest(token.expose()),
            user_id: user,
            kind,
            created_at: now,
            last_seen_at: now,
            expires_at: now + TimeDelta::seconds(i64::from(lifetime)),
            failed_attempts: 0,
        };
        self.deps.sessions.create(record).await?;
        Ok(token)
    }

    /// Whether a stored session is alive at `now`.
    pub(crate) fn session_alive(&self, session: &SessionRecord, now: DateTime<Utc>) -> bool {
        let idle = TimeDelta::seconds(i64::from(self.settings.session_idle_secs));
        let idle_ok = session.kind == SessionKind::PendingMfa || now < session.last_seen_at + idle;
        now < session.expires_at && idle_ok
    }

    /// Ends the user's other sessions after a change to their second factor, if configured.
    pub(crate) async fn end_other_sessions(
        &self,
        user: UserId,
        keep: Option<&SecretDigest>,
    ) -> Result<(), Unexpected> {
        if self.settings.end_other_sessions_on_mfa_change {
            let ended = self.deps.sessions.delete_for_user(user, keep).await?;
            tracing::info!(user.id = %user, sessions.ended = ended, "ended other sessions");
        }
        Ok(())
    }

    /// Row 8 of the disable table, shared by every operation that takes a code: turns the
    /// raw `code` into a proof storage can spend, or `None` when it cannot be valid (not a
    /// code, wrong TOTP, a replayed TOTP step). Backup codes are checked by spending them.
    pub(crate) fn proof_for(
        &self,
        user: UserId,
        secret: &EncryptedSecret,
        last_step: Option<TotpStep>,
        raw_code: &str,
    ) -> Result<(Option<ProofKind>, Option<MfaProof>), Unexpected> {
        let Ok(factor) = SecondFactor::parse(raw_code) else {
            return Ok((None, None));
        };
        let kind = Some(factor.kind());
        match factor {
            SecondFactor::Totp(code) => {
                let secret = self.deps.cipher.decrypt(user, secret)?;
                let proof = self
                    .deps
                    .totp
                    .verify(&secret, &code, self.now())
                    .filter(|step| !step.is_replay_after(last_step))
                    .map(MfaProof::TotpStep);
                Ok((kind, proof))
            }
            SecondFactor::Backup(code) => {
                Ok((kind, Some(MfaProof::BackupCode(self.deps.backup_codes.digest(&code)))))
            }
        }
    }

    /// A fresh set of backup codes: the plain codes (shown once) and their digests.
    pub(crate) fn new_backup_codes(&self) -> (Vec<String>, Vec<SecretDigest>) {
        (0..slugbase_domain::BACKUP_CODE_COUNT)
            .map(|_| {
                let code =
                    slugbase_domain::BackupCode::from_random_bytes(self.deps.random.bytes_8());
                (code.expose().to_owned(), self.deps.backup_codes.digest(&code))
            })
            .unzip()
    }
}

/// What [`Core::audit`] records.
pub(crate) struct AuditEntry<'a> {
    pub(crate) kind: AuditEventKind,
    pub(crate) user: Option<UserId>,
    pub(crate) actor: Option<UserId>,
    pub(crate) reason: Option<&'a str>,
    pub(crate) proof: Option<ProofKind>,
    pub(crate) client: &'a ClientInfo,
}

impl<'a> AuditEntry<'a> {
    pub(crate) const fn new(
        kind: AuditEventKind,
        user: Option<UserId>,
        client: &'a ClientInfo,
    ) -> Self {
        Self { kind, user, actor: None, reason: None, proof: None, client }
    }

    pub(crate) const fn failed(mut self, reason: &'a str) -> Self {
        self.reason = Some(reason);
        self
    }

    pub(crate) const fn proof(mut self, proof: Option<ProofKind>) -> Self {
        self.proof = proof;
        self
    }

    /// Who acted, when not the user themself (`None`: the operator at the command line).
    pub(crate) const fn actor(mut self, actor: Option<UserId>) -> Self {
        self.actor = actor;
        self
    }
}

/// Every use case, built once over one set of ports.
#[derive(Clone)]
pub struct UseCases {
    /// `POST /api/auth/mfa/disable`.
    pub disable_mfa: crate::mfa::DisableMfa,
    /// `GET /api/auth/mfa/status`.
    pub mfa_status: crate::mfa::MfaStatus,
    /// `POST /api/auth/mfa/enroll/begin`.
    pub enroll_begin: crate::mfa::EnrollBegin,
    /// `POST /api/auth/mfa/enroll/confirm`.
    pub enroll_confirm: crate::mfa::EnrollConfirm,
    /// `POST /api/auth/mfa/enroll/cancel`.
    pub enroll_cancel: crate::mfa::EnrollCancel,
    /// `POST /api/auth/mfa/backup/regenerate`.
    pub regenerate_backup_codes: crate::mfa::RegenerateBackupCodes,
    /// `POST /api/auth/login`.
    pub login: crate::auth::Login,
    /// `POST /api/auth/mfa/verify`.
    pub verify_login: crate::auth::VerifyLogin,
    /// `POST /api/auth/logout`.
    pub logout: crate::auth::Logout,
    /// Cookie and Bearer authentication.
    pub authenticate: crate::auth::Authenticate,
    /// `/api/tokens`.
    pub api_tokens: crate::tokens::ApiTokens,
    /// `/api/auth/setup`.
    pub setup: crate::accounts::Setup,
    /// `/api/admin/*`.
    pub admin: crate::accounts::Admin,
    /// `/api/health`.
    pub health: crate::accounts::Health,
}

impl UseCases {
    /// Builds every use case over `deps`.
    #[must_use]
    pub fn new(deps: Deps, settings: AuthSettings) -> Self {
        let limiter = AttemptLimiter::new(deps.attempts.clone(), settings.limits);
        let core = Arc::new(Core { deps, settings, limiter });
        Self {
            disable_mfa: crate::mfa::DisableMfa::from_core(core.clone()),
            mfa_status: crate::mfa::MfaStatus::from_core(core.clone()),
            enroll_begin: crate::mfa::EnrollBegin::from_core(core.clone()),
            enroll_confirm: crate::mfa::EnrollConfirm::from_core(core.clone()),
            enroll_cancel: crate::mfa::EnrollCancel::from_core(core.clone()),
            regenerate_backup_codes: crate::mfa::RegenerateBackupCodes::from_core(core.clone()),
            login: crate::auth::Login::from_core(core.clone()),
            verify_login: crate::auth::VerifyLogin::from_core(core.clone()),
            logout: crate::auth::Logout::from_core(core.clone()),
            authenticate: crate::auth::Authenticate::from_core(core.clone()),
            api_tokens: crate::tokens::ApiTokens::from_core(core.clone()),
            setup: crate::accounts::Setup::from_core(core.clone()),
            admin: crate::accounts::Admin::from_core(core.clone()),
            health: crate::accounts::Health::from_core(core),
        }
    }
}

impl fmt::Debug for UseCases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UseCases").finish_non_exhaustive()
    }
}

/// Declares a use case struct over the shared core, with `new` and `from_core`.
macro_rules! use_case {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone)]
        pub struct $name {
            core: std::sync::Arc<crate::core::Core>,
        }

        impl $name {
            /// Builds the use case over `deps`.
            #[must_use]
            pub fn new(deps: crate::Deps, settings: crate::AuthSettings) -> Self {
                let limiter = crate::attempts::AttemptLimiter::new(deps.attempts.clone(), settings.limits);
                Self::from_core(std::sync::Arc::new(crate::core::Core { deps, settings, limiter }))
            }

            pub(crate) const fn from_core(core: std::sync::Arc<crate::core::Core>) -> Self {
                Self { core }
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(stringify!($name))
            }
        }
    };
}
pub(crate) use use_case;
