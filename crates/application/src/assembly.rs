//! The assembly: builds every use case, with the collaborators they share, over one set of
//! ports and one set of settings. No use case imports this module.

use std::fmt;
use std::sync::Arc;

use slugbase_domain::MfaPolicy;

use crate::collaborators::attempt_limiter::{AttemptLimiter, AttemptLimits};
use crate::collaborators::both_factors::ReauthPolicy;
use crate::ports::{
    ApiTokenRepository, AttemptRepository, AuditLog, Background, BackupCodeHasher, Clock,
    CommonPasswords, IdentityProviders, MfaRepository, OidcRepository, OutboxRepository,
    PasskeyRepository, PasswordHasher, Random, SecretCipher, SessionRepository, StorageHealth,
    TokenDigest, Totp, UserRepository, WebAuthn,
};
use crate::use_cases::admin::{Admin, AdminUseCase};
use crate::use_cases::api_tokens::{ApiTokens, ApiTokensUseCase};
use crate::use_cases::authenticate::{Authenticate, AuthenticateUseCase};
use crate::use_cases::change_password::{ChangePassword, ChangePasswordUseCase};
use crate::use_cases::disable_mfa::{DisableMfa, DisableMfaUseCase};
use crate::use_cases::enroll::{
    EnrollBegin, EnrollBeginUseCase, EnrollCancel, EnrollCancelUseCase, EnrollConfirm,
    EnrollConfirmUseCase,
};
use crate::use_cases::health::{Health, HealthUseCase};
use crate::use_cases::login::{Login, LoginUseCase};
use crate::use_cases::logout::{Logout, LogoutUseCase};
use crate::use_cases::mfa_status::{MfaStatus, MfaStatusUseCase};
use crate::use_cases::oidc_login::{OidcLogin, OidcLoginUseCase};
use crate::use_cases::passkey_sign_in::{PasskeySignIn, PasskeySignInUseCase};
use crate::use_cases::passkeys::{Passkeys, PasskeysUseCase};
use crate::use_cases::regenerate_backup_codes::{
    RegenerateBackupCodes, RegenerateBackupCodesUseCase,
};
use crate::use_cases::sessions::{ManageSessions, ManageSessionsUseCase};
use crate::use_cases::setup::{Setup, SetupUseCase};
use crate::use_cases::verify_login::{VerifyLogin, VerifyLoginUseCase};
use crate::{
    collaborators::audit_trail::AuditTrail,
    collaborators::backup_codes::BackupCodeIssuer,
    collaborators::both_factors::BothFactorsCheck,
    collaborators::mfa_policy::MfaPolicyCheck,
    collaborators::new_account::NewUserFactory,
    collaborators::passkey_ceremonies::PasskeyCeremonies,
    collaborators::second_factor::SecondFactorCheck,
    collaborators::sessions::{SessionExpiry, SessionIssuer, SessionLifetimes, SessionRevoker},
    collaborators::token_minter::TokenMinter,
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
    /// The notice outbox.
    pub outbox: Arc<dyn OutboxRepository>,
    /// Storage reachability.
    pub health: Arc<dyn StorageHealth>,
    /// Argon2id.
    pub passwords: Arc<dyn PasswordHasher>,
    /// The list of common passwords.
    pub common_passwords: Arc<dyn CommonPasswords>,
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
    /// OIDC flows, links and sessions' provider authentication.
    pub oidc: Arc<dyn OidcRepository>,
    /// The configured OpenID providers (none unless configured).
    pub identity_providers: IdentityProviders,
    /// Where authentication's throttled activity writes run, off the request's path.
    pub background: Arc<dyn Background>,
    /// Passkeys and WebAuthn ceremonies in progress.
    pub passkeys: Arc<dyn PasskeyRepository>,
    /// The WebAuthn relying party.
    pub webauthn: Arc<dyn WebAuthn>,
}

impl fmt::Debug for Deps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deps").finish_non_exhaustive()
    }
}

/// Security settings the use cases apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthSettings {
    /// Who must have MFA and their grace period (`security.require_mfa`,
    /// `security.grace_days`; `require_mfa_for_admins` is the `admins` scope).
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
    /// An OIDC-only user's MFA disable needs a session whose provider authentication
    /// (`auth_time`) is younger than this many seconds; 0: off.
    pub oidc_reauth_max_age_secs: u32,
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
            oidc_reauth_max_age_secs: 0,
        }
    }
}

/// Every use case, built once over one set of ports.
#[derive(Clone)]
pub struct UseCases {
    /// `POST /api/auth/mfa/disable`.
    pub disable_mfa: Arc<dyn DisableMfaUseCase>,
    /// `GET /api/auth/mfa/status`.
    pub mfa_status: Arc<dyn MfaStatusUseCase>,
    /// `POST /api/auth/mfa/enroll/begin`.
    pub enroll_begin: Arc<dyn EnrollBeginUseCase>,
    /// `POST /api/auth/mfa/enroll/confirm`.
    pub enroll_confirm: Arc<dyn EnrollConfirmUseCase>,
    /// `POST /api/auth/mfa/enroll/cancel`.
    pub enroll_cancel: Arc<dyn EnrollCancelUseCase>,
    /// `POST /api/auth/mfa/backup/regenerate`.
    pub regenerate_backup_codes: Arc<dyn RegenerateBackupCodesUseCase>,
    /// `POST /api/auth/login`.
    pub login: Arc<dyn LoginUseCase>,
    /// `POST /api/auth/mfa/verify`.
    pub verify_login: Arc<dyn VerifyLoginUseCase>,
    /// `POST /api/auth/logout`.
    pub logout: Arc<dyn LogoutUseCase>,
    /// Cookie and Bearer authentication.
    pub authenticate: Arc<dyn AuthenticateUseCase>,
    /// `/api/tokens`.
    pub api_tokens: Arc<dyn ApiTokensUseCase>,
    /// `/api/auth/setup`.
    pub setup: Arc<dyn SetupUseCase>,
    /// `/api/admin/*`.
    pub admin: Arc<dyn AdminUseCase>,
    /// `/api/health`.
    pub health: Arc<dyn HealthUseCase>,
    /// `/api/auth/providers`, `/api/auth/{provider}[/callback]`.
    pub oidc_login: Arc<dyn OidcLoginUseCase>,
    /// `POST /api/auth/password`, `slugbase user set-password`.
    pub change_password: Arc<dyn ChangePasswordUseCase>,
    /// `/api/auth/sessions`.
    pub sessions: Arc<dyn ManageSessionsUseCase>,
    /// `/api/auth/passkeys`.
    pub passkeys: Arc<dyn PasskeysUseCase>,
    /// `/api/auth/passkeys/sign-in/*`: a passkey alone.
    pub passkey_sign_in: Arc<dyn PasskeySignInUseCase>,
}

/// What only an operator calls (the `slugbase` CLI, with a shell on the host): the admin and
/// password use cases themselves, whose unchecked operations no trait — and so no route —
/// offers. The same instances as in [`UseCases`], over the same ports.
#[derive(Clone, Debug)]
pub struct Operator {
    /// `user create`, `user reset-mfa`, finding a user by e-mail.
    pub admin: Admin,
    /// `user set-password`.
    pub change_password: ChangePassword,
}

impl UseCases {
    /// Builds every use case over `deps`, applying `settings`.
    #[must_use]
    pub fn new(deps: Deps, settings: AuthSettings) -> Self {
        Self::with_operator(deps, settings).0
    }

    /// Every use case, and the operator's view of the admin and password ones.
    #[must_use]
    pub fn with_operator(deps: Deps, settings: AuthSettings) -> (Self, Operator) {
        let Deps {
            users,
            mfa,
            sessions,
            tokens,
            audit,
            attempts,
            outbox,
            health,
            passwords,
            common_passwords,
            totp,
            cipher,
            backup_codes,
            token_digest,
            clock,
            random,
            oidc,
            identity_providers,
            background,
            passkeys,
            webauthn,
        } = deps;

        // The collaborators, each over the ports it needs.
        let limiter =
            AttemptLimiter::new(attempts, settings.limits).with_lockout_notices(outbox.clone());
        let audit_trail = AuditTrail::new(audit.clone(), clock.clone());
        let minter = TokenMinter::new(random.clone());
        let lifetimes = SessionLifetimes {
            full_secs: settings.session_absolute_secs,
            pending_mfa_secs: settings.pending_mfa_secs,
        };
        let issuer = SessionIssuer::new(
            sessions.clone(),
            token_digest.clone(),
            minter.clone(),
            clock.clone(),
            lifetimes,
        );
        let expiry = SessionExpiry::new(settings.session_idle_secs);
        let revoker = SessionRevoker::new(settings.end_other_sessions_on_mfa_change);
        let ceremonies = PasskeyCeremonies::new(
            passkeys.clone(),
            webauthn,
            minter.clone(),
            token_digest.clone(),
            audit_trail.clone(),
            clock.clone(),
        );
        let second_factor = SecondFactorCheck::new(
            cipher.clone(),
            totp.clone(),
            backup_codes.clone(),
            clock.clone(),
        )
        .with_passkeys(ceremonies.clone());
        let backup_code_issuer = BackupCodeIssuer::new(random, backup_codes);
        let both_factors = BothFactorsCheck::new(
            limiter.clone(),
            passwords.clone(),
            second_factor.clone(),
            audit_trail.clone(),
            clock.clone(),
            settings.mfa_policy,
        )
        .with_reauth(ReauthPolicy::new(oidc.clone(), settings.oidc_reauth_max_age_secs));
        let new_users =
            NewUserFactory::new(passwords.clone(), common_passwords.clone(), clock.clone());
        let policy = MfaPolicyCheck::new(settings.mfa_policy, users.clone(), clock.clone());
        let oidc_sign_in = !identity_providers.0.is_empty();

        let change_password = ChangePassword::new(
            limiter.clone(),
            users.clone(),
            passwords.clone(),
            common_passwords,
            audit_trail.clone(),
            clock.clone(),
        );
        let passkey_store = passkeys.clone();
        let passkeys = Passkeys::new(
            passkeys,
            ceremonies.clone(),
            both_factors.clone(),
            backup_code_issuer.clone(),
            audit_trail.clone(),
            clock.clone(),
        );
        let passkey_sign_in = PasskeySignIn::new(
            ceremonies.clone(),
            users.clone(),
            limiter.clone(),
            mfa.clone(),
            issuer.clone(),
            audit_trail.clone(),
            clock.clone(),
        );
        let manage_sessions = ManageSessions::new(
            sessions.clone(),
            token_digest.clone(),
            expiry,
            audit_trail.clone(),
            clock.clone(),
        );

        let admin = Admin::new(
            users.clone(),
            new_users.clone(),
            mfa.clone(),
            revoker,
            audit,
            audit_trail.clone(),
            outbox,
        )
        .with_oidc_sign_in(oidc_sign_in);
        let operator = Operator { admin: admin.clone(), change_password: change_password.clone() };
        let use_cases = Self {
            disable_mfa: Arc::new(DisableMfa::new(
                both_factors.clone(),
                mfa.clone(),
                clock.clone(),
                revoker,
            )),
            mfa_status: Arc::new(MfaStatus::new(policy.clone(), passkey_store.clone())),
            enroll_begin: Arc::new(EnrollBegin::new(
                totp.clone(),
                cipher.clone(),
                mfa.clone(),
                audit_trail.clone(),
            )),
            enroll_confirm: Arc::new(EnrollConfirm::new(
                limiter.clone(),
                cipher,
                totp,
                backup_code_issuer.clone(),
                mfa.clone(),
                users.clone(),
                audit_trail.clone(),
                clock.clone(),
            )),
            enroll_cancel: Arc::new(EnrollCancel::new(mfa.clone(), audit_trail.clone())),
            regenerate_backup_codes: Arc::new(RegenerateBackupCodes::new(
                both_factors,
                backup_code_issuer,
                mfa.clone(),
                clock.clone(),
            )),
            login: Arc::new(Login::new(
                limiter.clone(),
                users.clone(),
                passwords,
                issuer.clone(),
                audit_trail.clone(),
                clock.clone(),
                policy.clone(),
            )),
            verify_login: Arc::new(
                VerifyLogin::new(
                    token_digest.clone(),
                    sessions.clone(),
                    expiry,
                    settings.pending_mfa_max_attempts,
                    users.clone(),
                    limiter.clone(),
                    second_factor,
                    mfa.clone(),
                    issuer.clone(),
                    audit_trail.clone(),
                    clock.clone(),
                    oidc.clone(),
                )
                .with_passkeys(ceremonies),
            ),
            oidc_login: Arc::new(OidcLogin::new(
                identity_providers,
                oidc,
                users.clone(),
                minter.clone(),
                token_digest.clone(),
                issuer.clone(),
                audit_trail.clone(),
                clock.clone(),
                policy.clone(),
            )),
            logout: Arc::new(Logout::new(
                token_digest.clone(),
                sessions.clone(),
                audit_trail.clone(),
            )),
            authenticate: Arc::new(Authenticate::new(
                token_digest.clone(),
                sessions,
                expiry,
                tokens.clone(),
                clock.clone(),
                settings.touch_interval_secs,
                background,
                policy.clone(),
            )),
            api_tokens: Arc::new(ApiTokens::new(
                minter,
                token_digest,
                tokens,
                audit_trail.clone(),
                clock,
            )),
            setup: Arc::new(Setup::new(
                users.clone(),
                new_users.clone(),
                issuer,
                audit_trail.clone(),
                policy,
            )),
            change_password: Arc::new(change_password),
            sessions: Arc::new(manage_sessions),
            passkeys: Arc::new(passkeys),
            passkey_sign_in: Arc::new(passkey_sign_in),
            admin: Arc::new(admin),
            health: Arc::new(Health::new(health)),
        };
        (use_cases, operator)
    }
}

impl fmt::Debug for UseCases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UseCases").finish_non_exhaustive()
    }
}
