//! Builds `DisableMfa` from outside the application crate, over its mocks (feature `mocks`).

use slugbase_application::use_cases::disable_mfa::DisableMfaUseCase as _;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use slugbase_application::collaborators::attempt_limiter::AttemptLimiter;
use slugbase_application::ports::{
    Clock, EndSessions, MfaProof, MockAttemptRepository, MockAuditLog, MockBackupCodeHasher,
    MockClock, MockMfaRepository, MockPasswordHasher, MockSecretCipher, MockTotp, Reservation,
};
use slugbase_application::{AuthSettings, Caller, CallerAuth, ClientInfo};
use slugbase_application::{
    collaborators::audit_trail::AuditTrail, collaborators::both_factors::BothFactorsCheck,
    collaborators::second_factor::SecondFactorCheck, collaborators::sessions::SessionRevoker,
};
use slugbase_application::{
    collaborators::both_factors::{BothFactorsInput, MfaChangeError},
    use_cases::disable_mfa::DisableMfa,
};
use slugbase_domain::{
    ApiTokenId, AttemptCounter, AuditEventKind, DisableDenied, DisplayName, Email, EncryptedSecret,
    LoginMethod, MfaStanding, MfaState, Password, Release, TotpSecret, TotpStep, User, UserId,
};

/// Mocks for the ports disable touches; the password hasher and backup-code hasher are
/// mocks without expectations (a call panics): this user is OIDC-only and types a TOTP.
/// Sessions are no port of disable: the MFA repository ends them in its transaction.
struct Mocks {
    mfa: MockMfaRepository,
    audit: MockAuditLog,
    attempts: MockAttemptRepository,
    totp: MockTotp,
    cipher: MockSecretCipher,
}

impl Mocks {
    /// The throttle allows, the audit log accepts, the sealed secret opens, and the TOTP
    /// verifier matches "123456" to step 1001 (the user last used step 1000).
    fn arranged() -> Self {
        let mut attempts = MockAttemptRepository::new();
        // Every reservation is granted (the ClientInfo carries no address: one per request).
        attempts.expect_reserve().times(1).returning(|_, _, at| {
            Ok(Reservation::Granted(AttemptCounter {
                window_start: at,
                failures: 1,
                consecutive: 1,
            }))
        });
        let mut audit = MockAuditLog::new();
        audit.expect_record().returning(|_| Ok(()));
        let mut cipher = MockSecretCipher::new();
        cipher.expect_decrypt().returning(|_, _| Ok(TotpSecret::from_base32("JBSWY3DPEHPK3PXP")));
        let mut totp = MockTotp::new();
        totp.expect_verify()
            .returning(|_, code, _| (code.expose() == "123456").then_some(TotpStep::new(1001)));
        Self { mfa: MockMfaRepository::new(), audit, attempts, totp, cipher }
    }

    /// `DisableMfa` built by its named constructor over exactly the ports it holds: no
    /// users, tokens, health, token digest or randomness are needed.
    fn use_case(self) -> DisableMfa {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap());
        let clock: Arc<dyn Clock> = Arc::new(clock);
        let settings = AuthSettings::default();
        let audit = AuditTrail::new(Arc::new(self.audit), clock.clone());
        let second_factor = SecondFactorCheck::new(
            Arc::new(self.cipher),
            Arc::new(self.totp),
            Arc::new(MockBackupCodeHasher::new()),
            clock.clone(),
        );
        let check = BothFactorsCheck::new(
            AttemptLimiter::new(Arc::new(self.attempts), settings.limits),
            Arc::new(MockPasswordHasher::new()),
            second_factor,
            audit,
            clock.clone(),
            settings.mfa_policy,
        );
        let revoker = SessionRevoker::new(true);
        DisableMfa::new(check, Arc::new(self.mfa), clock, revoker)
    }
}

/// An OIDC-only user with MFA on, calling with an API token (no password involved).
fn caller() -> Caller {
    let user = User {
        id: UserId::generate(),
        email: Email::parse("oidc@example.com").expect("valid e-mail"),
        name: DisplayName::parse("Oidc").expect("valid name"),
        login: LoginMethod::OidcOnly,
        oidc_provider: Some("idp".to_owned()),
        is_admin: false,
        mfa: MfaState::Enabled {
            secret: Some(EncryptedSecret::new("k1:sealed")),
            enrolled_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            last_totp_step: Some(TotpStep::new(1000)),
            pending: None,
        },
        created_at: Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap(),
        mfa_grace_started_at: None,
    };
    Caller {
        user,
        auth: CallerAuth::ApiToken(ApiTokenId::generate()),
        backup_codes_remaining: 10,
        mfa_standing: MfaStanding::NotRequired,
    }
}

fn body(code: &str) -> Result<BothFactorsInput, slugbase_application::InputRejected> {
    Ok(BothFactorsInput::with_code(code.to_owned(), Some(Password::new("ignored"))))
}

#[tokio::test]
async fn an_outside_crate_disables_mfa_over_the_mocks() {
    // Arrange
    let caller = caller();
    let user_id = caller.user.id;
    let mut mocks = Mocks::arranged();
    mocks
        .mfa
        .expect_disable_with_proof()
        .times(1)
        // One transaction: the change, its success event, every session of the (token)
        // caller ended, the reserved attempt given back as a success.
        .withf(move |u, proof, _, effects| {
            *u == user_id
                && *proof == MfaProof::TotpStep(TotpStep::new(1001))
                && effects.audit.user_id == Some(user_id)
                && effects.audit.kind == AuditEventKind::MfaDisableSuccess
                && effects.end_sessions == Some(EndSessions { keep: None })
                && effects.releases.len() == 1
                && effects.releases.iter().all(|r| r.outcome == Release::Succeeded)
        })
        .returning(|_, _, _, _| Ok(true));
    // Nothing is released after the commit.
    mocks.attempts.expect_release().times(0);

    // Act
    let result = mocks.use_case().execute(&caller, &ClientInfo::default(), body("123456")).await;

    // Assert
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn an_outside_crate_sees_a_wrong_code_refused_without_a_disable() {
    // Arrange
    let caller = caller();
    let mut mocks = Mocks::arranged();
    mocks.mfa.expect_disable_with_proof().times(0);
    // The reserved attempt stays counted: no release.
    mocks.attempts.expect_release().times(0);

    // Act
    let result = mocks.use_case().execute(&caller, &ClientInfo::default(), body("654321")).await;

    // Assert
    assert!(
        matches!(result, Err(MfaChangeError::Denied(DisableDenied::InvalidCode))),
        "{result:?}"
    );
}
