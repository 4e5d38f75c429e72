//! Shared arrangement for the use-case tests: a bundle of mocks, fixtures, and spies.
//!
//! [`MockDeps::new`] fills every port with a fresh mock that has **no expectations**, so
//! any call a test did not arrange panics ("No matching expectation found"). That is how
//! these tests assert that a port is never called: they simply do not arrange it. A test
//! overrides only the ports its path uses. The one exception is the clock, which always
//! reads [`now`]: reading the time is not behaviour worth pinning.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
pub use slugbase_application::UseCases;
use slugbase_application::ports::{
    AttemptRelease, AuditEvent, Background, BackgroundWork, ChangeEffects, EndSessions,
    IdentityProviders, MfaProof, MockApiTokenRepository, MockAttemptRepository, MockAuditLog,
    MockBackupCodeHasher, MockClock, MockCommonPasswords, MockMfaRepository, MockOidcRepository,
    MockOutboxRepository, MockPasskeyRepository, MockPasswordHasher, MockRandom, MockSecretCipher,
    MockSessionRepository, MockStorageHealth, MockTokenDigest, MockTotp, MockUserRepository,
    MockWebAuthn, Notice, Reservation, SecretDigest,
};
use slugbase_application::{AuthSettings, Caller, CallerAuth, ClientInfo, Deps};
use slugbase_domain::{
    ApiTokenId, AttemptCounter, AuditEventKind, AuditOutcome, DisplayName, Email, EncryptedSecret,
    LoginMethod, MfaScope, MfaStanding, MfaState, PasswordHash, ProofKind, Release, TotpSecret,
    TotpStep, User, UserId,
};

// ---------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------

/// The instant every test runs at.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).single().expect("valid fixed instant")
}

/// `now()` shifted by a number of seconds (negative: the past).
pub fn now_plus(secs: i64) -> DateTime<Utc> {
    now() + TimeDelta::seconds(secs)
}

// ---------------------------------------------------------------------------------------
// The mocks bundle
// ---------------------------------------------------------------------------------------

/// One mock per port. Fields are public: a test arranges exactly the ports it expects to be
/// used, then calls [`MockDeps::build`].
pub struct MockDeps {
    pub users: MockUserRepository,
    pub mfa: MockMfaRepository,
    pub sessions: MockSessionRepository,
    pub tokens: MockApiTokenRepository,
    pub audit: MockAuditLog,
    pub attempts: MockAttemptRepository,
    pub health: MockStorageHealth,
    pub outbox: MockOutboxRepository,
    pub passwords: MockPasswordHasher,
    pub common_passwords: MockCommonPasswords,
    pub totp: MockTotp,
    pub cipher: MockSecretCipher,
    pub backup_codes: MockBackupCodeHasher,
    pub token_digest: MockTokenDigest,
    pub clock: MockClock,
    pub random: MockRandom,
    /// OIDC storage: no provider authentication recorded for any session, unless a test
    /// arranges otherwise.
    pub oidc: MockOidcRepository,
    /// Records what [`Self::attempts_allowed`] / [`Self::attempts_with`] saw.
    pub attempt_spy: AttemptSpy,
    /// Holds background work until the test runs it ([`QueuedBackground::run_queued`]).
    pub background: Arc<QueuedBackground>,
    pub passkeys: MockPasskeyRepository,
    pub webauthn: MockWebAuthn,
}

/// [`Background`] that queues work until the test runs it: a test sees the request answered
/// before its background work, and decides when that work happens.
#[derive(Default)]
pub struct QueuedBackground {
    queued: Mutex<Vec<BackgroundWork>>,
}

impl QueuedBackground {
    /// How much work waits.
    pub fn len(&self) -> usize {
        self.queued.lock().expect("queue").len()
    }

    /// Runs the queued work, oldest first, to completion.
    pub async fn run_queued(&self) {
        let queued = std::mem::take(&mut *self.queued.lock().expect("queue"));
        for work in queued {
            work.await;
        }
    }
}

impl Background for QueuedBackground {
    fn run(&self, work: BackgroundWork) {
        self.queued.lock().expect("queue").push(work);
    }
}

impl MockDeps {
    /// Every port a mock without expectations, except the clock, fixed at [`now`].
    pub fn new() -> Self {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(now());
        Self {
            users: MockUserRepository::new(),
            mfa: MockMfaRepository::new(),
            sessions: MockSessionRepository::new(),
            tokens: MockApiTokenRepository::new(),
            audit: MockAuditLog::new(),
            attempts: MockAttemptRepository::new(),
            health: MockStorageHealth::new(),
            outbox: MockOutboxRepository::new(),
            passwords: MockPasswordHasher::new(),
            common_passwords: {
                // The embedded list holds "password"; nothing else here is on it.
                let mut common = MockCommonPasswords::new();
                common.expect_is_common().returning(|p| p.eq_ignore_ascii_case("password"));
                common
            },
            totp: MockTotp::new(),
            cipher: MockSecretCipher::new(),
            backup_codes: MockBackupCodeHasher::new(),
            token_digest: MockTokenDigest::new(),
            clock,
            random: MockRandom::new(),
            oidc: {
                let mut oidc = MockOidcRepository::new();
                oidc.expect_session_auth().returning(|_| Ok(None));
                oidc
            },
            attempt_spy: AttemptSpy::default(),
            background: Arc::new(QueuedBackground::default()),
            passkeys: MockPasskeyRepository::new(),
            webauthn: MockWebAuthn::new(),
        }
    }

    /// The ports bundle the use cases run on.
    pub fn build(self) -> Deps {
        Deps {
            users: Arc::new(self.users),
            mfa: Arc::new(self.mfa),
            sessions: Arc::new(self.sessions),
            tokens: Arc::new(self.tokens),
            audit: Arc::new(self.audit),
            attempts: Arc::new(self.attempts),
            health: Arc::new(self.health),
            outbox: Arc::new(self.outbox),
            passwords: Arc::new(self.passwords),
            common_passwords: Arc::new(self.common_passwords),
            totp: Arc::new(self.totp),
            cipher: Arc::new(self.cipher),
            backup_codes: Arc::new(self.backup_codes),
            token_digest: Arc::new(self.token_digest),
            clock: Arc::new(self.clock),
            random: Arc::new(self.random),
            oidc: Arc::new(self.oidc),
            identity_providers: IdentityProviders::default(),
            background: self.background,
            passkeys: Arc::new(self.passkeys),
            webauthn: Arc::new(self.webauthn),
        }
    }

    /// Every attempt counter is empty: reservations are granted (up to the policy's limit
    /// within one test) and releases accepted; both are recorded in [`Self::record_attempts`].
    pub fn attempts_allowed(&mut self) -> &mut Self {
        self.arrange_attempts(None)
    }

    /// Attempt counters start at `counter` under `key` and empty elsewhere.
    pub fn attempts_with(&mut self, key: String, counter: AttemptCounter) -> &mut Self {
        self.arrange_attempts(Some((key, counter)))
    }

    fn arrange_attempts(&mut self, preset: Option<(String, AttemptCounter)>) -> &mut Self {
        let counters: Arc<Mutex<HashMap<String, AttemptCounter>>> =
            Arc::new(Mutex::new(preset.into_iter().collect()));
        let spy = self.attempt_spy.clone();
        self.attempts.expect_reserve().returning(move |key, policy, at| {
            let mut counters = counters.lock().expect("counters lock");
            let current = counters.get(key).copied();
            Ok(match AttemptCounter::reserve(current, policy, at) {
                Ok(counter) => {
                    counters.insert(key.to_owned(), counter);
                    spy.reserved.lock().expect("spy lock").push(key.to_owned());
                    Reservation::Granted(counter)
                }
                Err(throttle) => Reservation::Refused(throttle),
            })
        });
        let spy = self.attempt_spy.clone();
        self.attempts.expect_release().returning(move |key, _, outcome| {
            spy.released.lock().expect("spy lock").push((key.to_owned(), outcome));
            Ok(())
        });
        self
    }

    /// What became of the attempts reserved through [`Self::attempts_allowed`] /
    /// [`Self::attempts_with`].
    pub fn record_attempts(&mut self) -> AttemptSpy {
        self.attempt_spy.clone()
    }

    /// Records every audit event.
    pub fn record_audit(&mut self) -> AuditSpy {
        let spy = AuditSpy::default();
        let events = spy.0.clone();
        self.audit.expect_record().returning(move |event| {
            events.lock().expect("spy lock").push(event);
            Ok(())
        });
        spy
    }

    /// The cipher opens the fixture's sealed secret for `user` into [`totp_secret`], and
    /// refuses to be called for anyone else.
    pub fn cipher_opens_for(&mut self, user: UserId) -> &mut Self {
        self.cipher
            .expect_decrypt()
            .withf(move |u, sealed| *u == user && *sealed == sealed_secret())
            .returning(|_, _| Ok(totp_secret()));
        self
    }

    /// The TOTP verifier matches `code` (exactly, after parsing) at [`now`] to `step`, and
    /// nothing else.
    pub fn totp_matches(&mut self, code: &'static str, step: u64) -> &mut Self {
        self.totp
            .expect_verify()
            .withf(|secret, _, at| {
                secret.expose_base32() == totp_secret().expose_base32() && *at == now()
            })
            .returning(move |_, presented, _| {
                (presented.expose() == code).then_some(TotpStep::new(step))
            });
        self
    }

    /// Backup codes digest to `hmac:<code>` (so a test can tell which code was hashed).
    pub fn backup_digest_is_tagged(&mut self) -> &mut Self {
        self.backup_codes.expect_digest().returning(|code| backup_digest(code.expose()));
        self.backup_codes
            .expect_imported_digest()
            .returning(|code| imported_backup_digest(code.expose()));
        self
    }

    /// Session ids and tokens digest to `sha:<token>`.
    pub fn token_digest_is_tagged(&mut self) -> &mut Self {
        self.token_digest.expect_digest().returning(token_digest);
        self
    }
}

/// The digest [`MockDeps::backup_digest_is_tagged`] gives a backup code.
pub fn backup_digest(code: &str) -> SecretDigest {
    SecretDigest::from_hex(format!("hmac:{code}"))
}

/// The imported (SlugBase) digest [`MockDeps::backup_digest_is_tagged`] gives a backup code.
pub fn imported_backup_digest(code: &str) -> SecretDigest {
    SecretDigest::from_hex(format!("sha256:{code}"))
}

/// The proof a typed backup code becomes: ours or an imported one, whichever is stored.
pub fn backup_proof(code: &str) -> MfaProof {
    MfaProof::AnyBackupCode { keyed: backup_digest(code), imported: imported_backup_digest(code) }
}

/// The digest [`MockDeps::token_digest_is_tagged`] gives a token.
pub fn token_digest(token: &str) -> SecretDigest {
    SecretDigest::from_hex(format!("sha:{token}"))
}

// ---------------------------------------------------------------------------------------
// Spies
// ---------------------------------------------------------------------------------------

/// Attempt reservations and releases, in call order.
#[derive(Clone, Default)]
pub struct AttemptSpy {
    reserved: Arc<Mutex<Vec<String>>>,
    released: Arc<Mutex<Vec<(String, Release)>>>,
}

impl AttemptSpy {
    /// Keys whose reserved attempt stayed counted (reserved and never given back), in the
    /// order they were reserved.
    pub fn failures(&self) -> Vec<String> {
        let mut released: Vec<String> =
            self.released.lock().expect("spy lock").iter().map(|(k, _)| k.clone()).collect();
        let mut kept = Vec::new();
        for key in self.reserved.lock().expect("spy lock").iter() {
            match released.iter().position(|k| k == key) {
                Some(i) => {
                    released.remove(i);
                }
                None => kept.push(key.clone()),
            }
        }
        kept
    }

    /// Keys given back as a success (the consecutive run ends).
    pub fn successes(&self) -> Vec<String> {
        let released = self.released.lock().expect("spy lock");
        released.iter().filter(|(_, o)| *o == Release::Succeeded).map(|(k, _)| k.clone()).collect()
    }

    /// Keys given back because the request was no guess.
    pub fn given_back(&self) -> Vec<String> {
        let released = self.released.lock().expect("spy lock");
        released.iter().filter(|(_, o)| *o == Release::NotAGuess).map(|(k, _)| k.clone()).collect()
    }
}

/// The effects an MFA repository operation was asked to commit with its change.
#[derive(Clone, Default)]
pub struct EffectsSpy(Arc<Mutex<Vec<ChangeEffects>>>);

impl EffectsSpy {
    /// Records `effects` (call from the mock's `returning`).
    pub fn saw(&self, effects: &ChangeEffects) {
        self.0.lock().expect("spy lock").push(effects.clone());
    }

    /// The single effects passed, without their notice (its id is fresh each time: see
    /// [`Self::notice`]); fails the test if there were not exactly one.
    pub fn only(&self) -> ChangeEffects {
        let seen = self.0.lock().expect("spy lock").clone();
        assert_eq!(seen.len(), 1, "expected exactly one operation with effects, got {seen:#?}");
        ChangeEffects { notice: None, ..seen.into_iter().next().expect("one") }
    }

    /// The notice the single effects passed carried.
    pub fn notice(&self) -> Option<Notice> {
        let seen = self.0.lock().expect("spy lock").clone();
        seen.into_iter().next().and_then(|e| e.notice)
    }
}

/// What a second-factor change that succeeds commits with it: the `kind` success event
/// with `proof` from the test client at [`now`], both reserved attempts given back (the
/// account's as a success, ending its run; the address's as no guess), and `end_sessions`.
pub fn success_effects(
    kind: AuditEventKind,
    user: UserId,
    proof: Option<ProofKind>,
    end_sessions: Option<EndSessions>,
) -> ChangeEffects {
    ChangeEffects {
        audit: AuditEvent {
            at: now(),
            user_id: Some(user),
            actor_id: None,
            kind,
            outcome: AuditOutcome::Success,
            proof,
            detail: None,
            client_addr: Some(CLIENT_ADDR.to_owned()),
            user_agent: Some(CLIENT_UA.to_owned()),
        },
        also_audit: Vec::new(),
        start_session: None,
        end_sessions,
        releases: vec![
            AttemptRelease {
                key: second_factor_key(user),
                reserved_in: now(),
                outcome: Release::Succeeded,
            },
            AttemptRelease { key: address_key(), reserved_in: now(), outcome: Release::NotAGuess },
        ],
        cleared_attempts: Vec::new(),
        notice: None,
    }
}

/// Audit events recorded, in order.
#[derive(Clone, Default)]
pub struct AuditSpy(Arc<Mutex<Vec<AuditEvent>>>);

impl AuditSpy {
    /// Every event so far.
    pub fn events(&self) -> Vec<AuditEvent> {
        self.0.lock().expect("spy lock").clone()
    }

    /// The single event recorded; fails the test if there is not exactly one.
    pub fn only(&self) -> AuditEvent {
        let events = self.events();
        assert_eq!(events.len(), 1, "expected exactly one audit event, got {events:#?}");
        events.into_iter().next().expect("one event")
    }
}

/// Asserts an audit event's kind, user, outcome and proof, and the client it names.
pub fn assert_audit(
    event: &AuditEvent,
    kind: AuditEventKind,
    user: Option<UserId>,
    reason: Option<&str>,
    proof: Option<ProofKind>,
) {
    assert_eq!(event.kind, kind, "audit kind");
    assert_eq!(event.user_id, user, "audit user");
    let outcome = reason.map_or(AuditOutcome::Success, |r| AuditOutcome::Failure(r.to_owned()));
    assert_eq!(event.outcome, outcome, "audit outcome");
    assert_eq!(event.proof, proof, "audit proof kind");
    assert_eq!(event.at, now(), "audit time");
    assert_eq!(event.client_addr.as_deref(), Some(CLIENT_ADDR), "audit client address");
    assert_eq!(event.user_agent.as_deref(), Some(CLIENT_UA), "audit user agent");
}

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

/// Client address of every request.
pub const CLIENT_ADDR: &str = "203.0.113.7";
/// User agent of every request.
pub const CLIENT_UA: &str = "use-case-tests/1.0";
/// The password the fixture users' hash stands for (the hasher mock decides what matches).
pub const RIGHT_PASSWORD: &str = "correct horse battery staple";
/// The step of the last TOTP code the fixture users had accepted.
pub const LAST_STEP: u64 = 58_800_000;

/// Where requests come from.
pub fn client() -> ClientInfo {
    ClientInfo::new(Some(CLIENT_ADDR.to_owned()), Some(CLIENT_UA))
}

/// Default settings (policy off, other sessions ended on MFA changes).
pub fn settings() -> AuthSettings {
    AuthSettings::default()
}

/// Settings with `require_mfa_for_admins` on (`require_mfa = "admins"`).
pub fn settings_requiring_mfa_for_admins() -> AuthSettings {
    let mut settings = AuthSettings::default();
    settings.mfa_policy.scope = MfaScope::Admins;
    settings
}

/// The stored hash of the fixture users' password.
pub fn password_hash() -> PasswordHash {
    PasswordHash::from_phc("$argon2id$v=19$m=19456,t=2,p=1$fixture-salt$fixture-hash")
}

/// The TOTP secret the fixture's sealed secret opens to.
pub fn totp_secret() -> TotpSecret {
    TotpSecret::from_base32("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
}

/// The fixture users' sealed TOTP secret.
pub fn sealed_secret() -> EncryptedSecret {
    EncryptedSecret::new("k1:bm9uY2Utbm9uY2U:Y2lwaGVydGV4dC1jaXBoZXJ0ZXh0")
}

/// A local user (password), not an admin, MFA off.
pub fn local_user() -> User {
    User {
        id: UserId::generate(),
        email: Email::parse("ada@example.com").expect("valid e-mail"),
        name: DisplayName::parse("Ada").expect("valid name"),
        login: LoginMethod::Local(password_hash()),
        oidc_provider: None,
        is_admin: false,
        mfa: MfaState::Disabled,
        created_at: now_plus(-86_400),
        mfa_grace_started_at: None,
    }
}

/// An OIDC-only user (no password), MFA off.
pub fn oidc_user() -> User {
    User {
        email: Email::parse("grace@example.com").expect("valid e-mail"),
        login: LoginMethod::OidcOnly,
        oidc_provider: Some("example-idp".to_owned()),
        ..local_user()
    }
}

/// A local administrator, MFA off.
pub fn admin_user() -> User {
    User {
        email: Email::parse("root@example.com").expect("valid e-mail"),
        is_admin: true,
        ..local_user()
    }
}

/// `user` with MFA enabled: the fixture's sealed secret, last accepted step [`LAST_STEP`].
pub fn with_mfa(user: User) -> User {
    User {
        mfa: MfaState::Enabled {
            secret: Some(sealed_secret()),
            enrolled_at: now_plus(-3_600),
            last_totp_step: Some(TotpStep::new(LAST_STEP)),
            pending: None,
        },
        ..user
    }
}

/// `user` with an enrollment begun but not confirmed.
pub fn with_pending_mfa(user: User) -> User {
    User { mfa: MfaState::Pending { secret: sealed_secret() }, ..user }
}

/// The session the cookie callers use.
pub fn caller_session() -> SecretDigest {
    SecretDigest::from_hex("sha:callers-own-session")
}

/// `user` calling with a `slugbase.sid` cookie.
pub fn session_caller(user: User) -> Caller {
    Caller {
        user,
        auth: CallerAuth::Session(caller_session()),
        backup_codes_remaining: 0,
        mfa_standing: MfaStanding::NotRequired,
    }
}

/// `user` calling with an API token.
pub fn token_caller(user: User) -> Caller {
    Caller {
        user,
        auth: CallerAuth::ApiToken(ApiTokenId::generate()),
        backup_codes_remaining: 0,
        mfa_standing: MfaStanding::NotRequired,
    }
}

/// Attempt-counter key of a user's second-factor attempts.
pub fn second_factor_key(user: UserId) -> String {
    format!("sf:user:{user}")
}

/// Attempt-counter key of the test client's address.
pub fn address_key() -> String {
    format!("addr:{CLIENT_ADDR}")
}

/// A counter at (or past) `failures` failures in a window that began a minute ago.
pub fn counter(failures: u32) -> AttemptCounter {
    AttemptCounter { window_start: now_plus(-60), failures, consecutive: failures }
}
