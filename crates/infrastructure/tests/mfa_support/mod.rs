//! Shared set-up of the lifecycle and concurrency tests: the real use cases over the real
//! in-memory store and real crypto, with a manual clock, plus helpers that act like a user
//! with an authenticator app (codes computed from the returned secret with totp-rs).

#![allow(
    dead_code,
    reason = "shared by several test files, each using a different part; `allow`, not `expect`: a file that used every helper would leave the expectation unfulfilled"
)]
#![expect(clippy::unwrap_used, reason = "a test fails loudly where a step does")]

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use slugbase_application::collaborators::both_factors::BothFactorsInput;
use slugbase_application::collaborators::new_account::NewAccountInput;
use slugbase_application::ports::{
    NewUser, SecretDigest, SessionKind, SessionRecord, SessionRepository, UserRepository,
};
use slugbase_application::use_cases::login::{LoginInput, LoginOutcome};
use slugbase_application::{AuthSettings, Caller, ClientInfo, PlainToken, UseCases};
use slugbase_domain::{
    BackupCode, DisplayName, Email, LoginMethod, Password, TotpSecret, User, UserId,
};
use slugbase_infrastructure::crypto::{HmacBackupCodeHasher, ManualClock, Sha256TokenDigest};
use slugbase_infrastructure::memory::InMemoryStore;
use slugbase_infrastructure::testing::wiring::{CryptoConfig, build_deps};

/// Start of every test: the middle of a 30-second step (1 800 000 000 is a step boundary).
pub const START: i64 = 1_800_000_015;

/// The password every local test user has.
pub const PASSWORD: &str = "correct horse battery";

/// The whole service, in memory.
pub struct Harness {
    pub store: Arc<InMemoryStore>,
    pub clock: Arc<ManualClock>,
    pub uc: UseCases,
    /// The backup-code key the service uses (to compute digests in assertions).
    pub backup_codes: HmacBackupCodeHasher,
    pub client: ClientInfo,
}

impl Harness {
    pub fn new() -> Self {
        Self::with_settings(AuthSettings::default())
    }

    pub fn with_settings(settings: AuthSettings) -> Self {
        let store = Arc::new(InMemoryStore::new());
        let clock = Arc::new(ManualClock::new(DateTime::from_timestamp(START, 0).unwrap()));
        let crypto = CryptoConfig::for_tests();
        let backup_codes = HmacBackupCodeHasher::new(crypto.backup_code_key);
        let deps = build_deps(store.clone(), crypto, clock.clone()).unwrap();
        let uc = UseCases::new(deps, settings);
        Self {
            store,
            clock,
            uc,
            backup_codes,
            client: ClientInfo::new(Some("192.0.2.10".into()), Some("lifecycle-tests")),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        slugbase_application::ports::Clock::now(&*self.clock)
    }

    /// Moves the clock to the middle of the next TOTP step.
    pub fn next_step(&self) {
        self.clock.advance(TimeDelta::seconds(30));
    }

    /// The TOTP code an authenticator app shows for `secret` now.
    pub fn totp_now(&self, secret: &TotpSecret) -> String {
        totp_at(secret, self.now())
    }

    /// A six-digit string that is no valid code for `secret` anywhere in the ±1 window.
    pub fn wrong_totp(&self, secret: &TotpSecret) -> String {
        let window: Vec<String> = [-30, 0, 30]
            .iter()
            .map(|d| totp_at(secret, self.now() + TimeDelta::seconds(*d)))
            .collect();
        (0..1000).map(|n| format!("{n:06}")).find(|c| !window.contains(c)).unwrap()
    }

    /// The first administrator, signed in.
    pub async fn admin(&self) -> Caller {
        let input = NewAccountInput {
            email: "admin@example.com".into(),
            name: "Admin".into(),
            password: Some(PASSWORD.into()),
            is_admin: true,
        };
        let (_, session) = self.uc.setup.execute(&self.client, Ok(input)).await.unwrap();
        self.caller(&session).await
    }

    /// A local user created by `admin`, signed in with the password.
    pub async fn local_user(&self, admin: &Caller, email: &str) -> (User, PlainToken) {
        let input = NewAccountInput {
            email: email.into(),
            name: "Local User".into(),
            password: Some(PASSWORD.into()),
            is_admin: false,
        };
        self.uc.admin.create_user(admin, &self.client, Ok(input)).await.unwrap();
        match self.login(email, PASSWORD).await {
            LoginOutcome::SignedIn { user, session } => (*user, session),
            LoginOutcome::MfaRequired { .. } => panic!("a new user has no MFA"),
        }
    }

    /// An OIDC-only user created by `admin`, with a session as the OIDC callback would
    /// start it (there is no password to log in with).
    /// An OIDC-only account (no password) with a full session, as a provider's sign-in
    /// leaves it. Stored through the port: no provider is configured here, so the admin use
    /// case would refuse an account without a password (`OIDC_NOT_CONFIGURED`).
    pub async fn oidc_user(&self, _admin: &Caller, email: &str) -> (User, PlainToken) {
        let new_user = NewUser {
            id: UserId::generate(),
            email: Email::parse(email).unwrap(),
            name: DisplayName::parse("Oidc User").unwrap(),
            login: LoginMethod::OidcOnly,
            oidc_provider: Some("test-idp".into()),
            is_admin: false,
            created_at: self.now(),
        };
        let user = UserRepository::create(&*self.store, new_user).await.unwrap();
        let token = PlainToken::new(format!("oidc-session-{}", user.id));
        let digest: SecretDigest =
            slugbase_application::ports::TokenDigest::digest(&Sha256TokenDigest, token.expose());
        let now = self.now();
        let record = SessionRecord {
            id_hash: digest,
            user_id: user.id,
            kind: SessionKind::Full,
            created_at: now,
            last_seen_at: now,
            expires_at: now + TimeDelta::hours(1),
            failed_attempts: 0,
            client_addr: None,
            user_agent: None,
        };
        SessionRepository::create(&*self.store, record).await.unwrap();
        (user, token)
    }

    pub async fn login(&self, email: &str, password: &str) -> LoginOutcome {
        let input = LoginInput { email: email.into(), password: Password::new(password) };
        self.uc.login.execute(&self.client, Ok(input)).await.unwrap()
    }

    /// Logs in with the password and expects to be asked for the second factor.
    pub async fn login_pending(&self, email: &str) -> PlainToken {
        match self.login(email, PASSWORD).await {
            LoginOutcome::MfaRequired { pending } => pending,
            LoginOutcome::SignedIn { .. } => panic!("expected MFA to be required"),
        }
    }

    /// A fresh read of the caller behind a session (the use cases act on this snapshot).
    pub async fn caller(&self, session: &PlainToken) -> Caller {
        self.uc.authenticate.session(session.expose()).await.unwrap()
    }

    /// Begins and confirms enrollment; returns the secret and the ten backup codes. The
    /// clock is left in the step the confirming code used.
    pub async fn enable_mfa(&self, session: &PlainToken) -> (TotpSecret, Vec<String>) {
        let caller = self.caller(session).await;
        let enrollment = self.uc.enroll_begin.execute(&caller, &self.client).await.unwrap();
        let caller = self.caller(session).await;
        let code = self.totp_now(&enrollment.secret);
        let codes = self.uc.enroll_confirm.execute(&caller, &self.client, Ok(code)).await.unwrap();
        (enrollment.secret, codes.iter().map(|c| c.expose().to_owned()).collect())
    }

    pub fn both(&self, code: &str, password: Option<&str>) -> BothFactorsInput {
        BothFactorsInput::with_code(code.to_owned(), password.map(Password::new))
    }

    /// The stored digest of a backup code.
    pub fn backup_digest(&self, code: &str) -> SecretDigest {
        slugbase_application::ports::BackupCodeHasher::digest(
            &self.backup_codes,
            &BackupCode::parse(code).unwrap(),
        )
    }
}

/// The code totp-rs computes for `secret` at `at`.
pub fn totp_at(secret: &TotpSecret, at: DateTime<Utc>) -> String {
    let bytes = totp_rs::Secret::try_from_base32(secret.expose_base32()).unwrap();
    let totp = totp_rs::Builder::new().with_secret(bytes).build().unwrap();
    totp.generate(u64::try_from(at.timestamp()).unwrap()).to_string()
}
