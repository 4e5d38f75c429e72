//! The MFA lifecycle around disable: regenerate backup codes, enroll begin and confirm.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use slugbase_application::ports::{MfaProof, SecretDigest};
use slugbase_application::{
    InputRejected, PlainToken,
    collaborators::both_factors::{BothFactorsInput, MfaChangeError},
    use_cases::enroll::{EnrollConfirmError, EnrollError},
};
use slugbase_domain::{AuditEventKind, DisableDenied, Password, ProofKind, TotpStep};

use crate::support::*;

const GOOD_TOTP: &str = "246810";
const GOOD_STEP: u64 = LAST_STEP + 1;

/// Random bytes for backup codes: distinct on every call.
fn random_backup_bytes(deps: &mut MockDeps) {
    let next = AtomicU8::new(0);
    deps.random.expect_bytes_8().returning(move || {
        let i = next.fetch_add(1, Ordering::Relaxed);
        [0xde, 0xad, 0xbe, 0xef, 0x00, 0x11, i, 0xff - i]
    });
}

/// Checks a fresh set of backup codes: 10 distinct codes of 16 lowercase hex characters,
/// whose digests are exactly `stored`, in order.
fn assert_fresh_codes(codes: &[PlainToken], stored: &[SecretDigest]) {
    assert_eq!(codes.len(), 10);
    for code in codes {
        let code = code.expose();
        assert_eq!(code.len(), 16, "{code}");
        assert!(code.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{code}");
    }
    let mut distinct: Vec<_> = codes.iter().map(PlainToken::expose).collect();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 10, "codes are not distinct");
    let expected: Vec<_> = codes.iter().map(|c| backup_digest(c.expose())).collect();
    assert_eq!(stored, expected, "stored digests are not the codes handed out");
}

// ---------------------------------------------------------------------------------------
// RegenerateBackupCodes
// ---------------------------------------------------------------------------------------

fn both(code: &str, password: Option<&str>) -> Result<BothFactorsInput, InputRejected> {
    Ok(BothFactorsInput::with_code(code.to_owned(), password.map(Password::new)))
}

fn password_checked(deps: &mut MockDeps) {
    deps.passwords
        .expect_verify()
        .times(1)
        .withf(|_, hash| *hash == Some(&password_hash()))
        .returning(|password, _| Ok(password.expose() == RIGHT_PASSWORD));
}

#[tokio::test]
async fn regenerating_backup_codes_replaces_them_with_ten_fresh_ones_even_under_the_admin_policy() {
    // Arrange: an admin under require_mfa_for_admins: the policy stops disable, not this.
    let user = with_mfa(admin_user());
    let user_id = user.id;
    let mut deps = MockDeps::new();
    deps.attempts_allowed();
    let attempts = deps.record_attempts();
    password_checked(&mut deps);
    deps.cipher_opens_for(user.id).totp_matches(GOOD_TOTP, GOOD_STEP).backup_digest_is_tagged();
    random_backup_bytes(&mut deps);
    let stored = Arc::new(Mutex::new(Vec::new()));
    let sink = stored.clone();
    let effects = EffectsSpy::default();
    let seen = effects.clone();
    deps.mfa
        .expect_regenerate_with_proof()
        .times(1)
        .withf(move |u, proof, _, at, _| {
            *u == user_id && *proof == MfaProof::TotpStep(TotpStep::new(GOOD_STEP)) && *at == now()
        })
        .returning(move |_, _, digests, _, effects| {
            *sink.lock().expect("lock") = digests;
            seen.saw(effects);
            Ok(true)
        });
    let use_case =
        UseCases::new(deps.build(), settings_requiring_mfa_for_admins()).regenerate_backup_codes;

    // Act
    let codes = use_case
        .execute(&session_caller(user), &client(), both(GOOD_TOTP, Some(RIGHT_PASSWORD)))
        .await
        .expect("regenerate succeeds");

    // Assert
    // With the codes, in one transaction: the event and both attempts given back; no
    // session ends, and nothing (audit log, releases) runs after it.
    assert_fresh_codes(&codes, &stored.lock().expect("lock"));
    let kind = AuditEventKind::MfaBackupRegenerateSuccess;
    assert_eq!(effects.only(), success_effects(kind, user_id, Some(ProofKind::Totp), None));
    assert!(attempts.successes().is_empty() && attempts.given_back().is_empty());
}

#[tokio::test]
async fn regenerating_with_a_wrong_code_stores_nothing_and_counts() {
    // Arrange
    let user = with_mfa(local_user());
    let user_id = user.id;
    let mut deps = MockDeps::new();
    deps.attempts_allowed();
    let attempts = deps.record_attempts();
    let audit = deps.record_audit();
    password_checked(&mut deps);
    deps.cipher_opens_for(user.id).totp_matches(GOOD_TOTP, GOOD_STEP);
    deps.mfa.expect_regenerate_with_proof().times(0);
    let use_case = UseCases::new(deps.build(), settings()).regenerate_backup_codes;

    // Act
    let result = use_case
        .execute(&session_caller(user), &client(), both("111111", Some(RIGHT_PASSWORD)))
        .await;

    // Assert
    assert!(
        matches!(result, Err(MfaChangeError::Denied(DisableDenied::InvalidCode))),
        "{result:?}"
    );
    assert_eq!(attempts.failures(), [second_factor_key(user_id), address_key()]);
    assert_audit(
        &audit.only(),
        AuditEventKind::MfaBackupRegenerateFail,
        Some(user_id),
        Some("INVALID_CODE"),
        Some(ProofKind::Totp),
    );
}

#[tokio::test]
async fn regenerating_without_mfa_is_refused_before_the_password_is_checked() {
    // Arrange
    let user = local_user();
    let mut deps = MockDeps::new();
    deps.attempts_allowed();
    deps.record_audit();
    let use_case = UseCases::new(deps.build(), settings()).regenerate_backup_codes;

    // Act
    let result =
        use_case.execute(&session_caller(user), &client(), both(GOOD_TOTP, Some("wrong"))).await;

    // Assert
    assert!(
        matches!(result, Err(MfaChangeError::Denied(DisableDenied::MfaNotEnabled))),
        "{result:?}"
    );
}

// ---------------------------------------------------------------------------------------
// EnrollBegin
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn enrollment_cannot_begin_while_mfa_is_enabled() {
    // Arrange: TOTP, cipher and MFA repository unarranged.
    let user = with_mfa(local_user());
    let use_case = UseCases::new(MockDeps::new().build(), settings()).enroll_begin;

    // Act
    let result = use_case.execute(&session_caller(user), &client()).await;

    // Assert
    assert!(matches!(result, Err(EnrollError::AlreadyEnabled)), "{result:?}");
}

#[tokio::test]
async fn enrollment_begins_with_a_new_secret_stored_sealed_for_the_user() {
    // Arrange
    let user = local_user();
    let user_id = user.id;
    let email = user.email.clone();
    let mut deps = MockDeps::new();
    deps.totp.expect_generate_secret().times(1).returning(totp_secret);
    deps.cipher
        .expect_encrypt()
        .times(1)
        .withf(move |u, s| *u == user_id && s.expose_base32() == totp_secret().expose_base32())
        .returning(|_, _| Ok(sealed_secret()));
    let url_email = email.clone();
    deps.totp
        .expect_otpauth_url()
        .withf(move |_, account| *account == url_email)
        .returning(|s, a| Ok(format!("otpauth://totp/SlugBase:{a}?secret={}", s.expose_base32())));
    deps.totp.expect_qr_png_base64().returning(|_, _| Ok("iVBORw0KGgo=".to_owned()));
    deps.mfa
        .expect_begin_enrollment()
        .times(1)
        .withf(move |u, sealed| *u == user_id && *sealed == sealed_secret())
        .returning(|_, _| Ok(true));
    let audit = deps.record_audit();
    let use_case = UseCases::new(deps.build(), settings()).enroll_begin;

    // Act
    let enrollment =
        use_case.execute(&session_caller(user), &client()).await.expect("enrollment begins");

    // Assert
    assert_eq!(enrollment.secret.expose_base32(), totp_secret().expose_base32());
    assert!(enrollment.otpauth_url.expose().starts_with("otpauth://totp/SlugBase:ada@"));
    assert_eq!(enrollment.qr_png_base64, "iVBORw0KGgo=");
    assert_audit(&audit.only(), AuditEventKind::MfaEnrollBegin, Some(user_id), None, None);
}

#[tokio::test]
async fn enrollment_that_races_a_confirm_reports_already_enabled() {
    // Arrange: storage refuses because MFA went on meanwhile.
    let user = local_user();
    let mut deps = MockDeps::new();
    deps.totp.expect_generate_secret().returning(totp_secret);
    deps.cipher.expect_encrypt().returning(|_, _| Ok(sealed_secret()));
    deps.totp.expect_otpauth_url().returning(|_, _| Ok("otpauth://totp/x".to_owned()));
    deps.totp.expect_qr_png_base64().returning(|_, _| Ok(String::new()));
    deps.mfa.expect_begin_enrollment().times(1).returning(|_, _| Ok(false));
    let use_case = UseCases::new(deps.build(), settings()).enroll_begin;

    // Act
    let result = use_case.execute(&session_caller(user), &client()).await;

    // Assert: no audit event (the audit log is unarranged).
    assert!(matches!(result, Err(EnrollError::AlreadyEnabled)), "{result:?}");
}

// ---------------------------------------------------------------------------------------
// EnrollConfirm
// ---------------------------------------------------------------------------------------

fn code(raw: &str) -> Result<String, InputRejected> {
    Ok(raw.to_owned())
}

#[tokio::test]
async fn confirming_without_a_pending_enrollment_gets_no_pending() {
    // Arrange: the throttle is read; cipher, TOTP and MFA repository are not.
    let user = local_user();
    let mut deps = MockDeps::new();
    deps.attempts_allowed();
    let use_case = UseCases::new(deps.build(), settings()).enroll_confirm;

    // Act
    let result = use_case.execute(&session_caller(user), &client(), code(GOOD_TOTP)).await;

    // Assert
    assert!(matches!(result, Err(EnrollConfirmError::NoPending)), "{result:?}");
}

#[tokio::test]
async fn confirming_while_mfa_is_enabled_gets_already_enabled() {
    // Arrange
    let user = with_mfa(local_user());
    let mut deps = MockDeps::new();
    deps.attempts_allowed();
    let use_case = UseCases::new(deps.build(), settings()).enroll_confirm;

    // Act
    let result = use_case.execute(&session_caller(user), &client(), code(GOOD_TOTP)).await;

    // Assert
    assert!(matches!(result, Err(EnrollConfirmError::AlreadyEnabled)), "{result:?}");
}

#[tokio::test]
async fn confirming_over_the_attempt_limit_is_refused_first() {
    // Arrange
    let user = with_pending_mfa(local_user());
    let mut deps = MockDeps::new();
    deps.attempts_with(second_factor_key(user.id), counter(10));
    let use_case = UseCases::new(deps.build(), settings()).enroll_confirm;

    // Act
    let result = use_case.execute(&session_caller(user), &client(), code(GOOD_TOTP)).await;

    // Assert
    assert!(matches!(result, Err(EnrollConfirmError::TooManyAttempts(_))), "{result:?}");
}

#[tokio::test]
async fn a_wrong_confirmation_code_gets_invalid_code_and_counts_an_attempt() {
    for raw in ["135791", "12345", "0123456789abcdef"] {
        // Arrange: confirm_enrollment is never reached.
        let user = with_pending_mfa(local_user());
        let user_id = user.id;
        let mut deps = MockDeps::new();
        deps.attempts_allowed();
        let attempts = deps.record_attempts();
        let audit = deps.record_audit();
        deps.cipher_opens_for(user.id).totp_matches(GOOD_TOTP, GOOD_STEP);
        deps.mfa.expect_confirm_enrollment().times(0);
        let use_case = UseCases::new(deps.build(), settings()).enroll_confirm;

        // Act
        let result = use_case.execute(&session_caller(user), &client(), code(raw)).await;

        // Assert
        assert!(matches!(result, Err(EnrollConfirmError::InvalidCode)), "{raw}: {result:?}");
        assert_eq!(attempts.failures(), [second_factor_key(user_id), address_key()]);
        assert_audit(
            &audit.only(),
            AuditEventKind::MfaEnrollConfirmFail,
            Some(user_id),
            Some("INVALID_CODE"),
            Some(ProofKind::Totp),
        );
    }
}

#[tokio::test]
async fn a_right_confirmation_code_turns_mfa_on_with_ten_backup_codes() {
    // Arrange
    let user = with_pending_mfa(local_user());
    let user_id = user.id;
    let mut deps = MockDeps::new();
    deps.attempts_allowed();
    let attempts = deps.record_attempts();
    deps.cipher_opens_for(user.id).totp_matches(GOOD_TOTP, GOOD_STEP).backup_digest_is_tagged();
    random_backup_bytes(&mut deps);
    let stored = Arc::new(Mutex::new(Vec::new()));
    let sink = stored.clone();
    let effects = EffectsSpy::default();
    let seen = effects.clone();
    deps.mfa
        .expect_confirm_enrollment()
        .times(1)
        .withf(move |u, pending, step, _, at, _| {
            *u == user_id
                && *pending == sealed_secret()
                && *step == TotpStep::new(GOOD_STEP)
                && *at == now()
        })
        .returning(move |_, _, _, digests, _, effects| {
            *sink.lock().expect("lock") = digests;
            seen.saw(effects);
            Ok(true)
        });
    let use_case = UseCases::new(deps.build(), settings()).enroll_confirm;

    // Act
    let codes = use_case
        .execute(&session_caller(user), &client(), code(" 246 810"))
        .await
        .expect("confirm succeeds");

    // Assert
    // With the codes, in one transaction: the event and both attempts given back; no
    // session ends, and nothing (audit log, releases) runs after it.
    assert_fresh_codes(&codes, &stored.lock().expect("lock"));
    let kind = AuditEventKind::MfaEnrollConfirmSuccess;
    assert_eq!(effects.only(), success_effects(kind, user_id, Some(ProofKind::Totp), None));
    assert!(attempts.successes().is_empty() && attempts.given_back().is_empty());
}

#[tokio::test]
async fn a_confirm_that_loses_the_race_reports_what_the_account_now_is() {
    let cases = [(true, "already enabled"), (false, "no pending")];
    for (other_confirm_won, label) in cases {
        // Arrange: storage refuses; a fresh read tells why.
        let user = with_pending_mfa(local_user());
        let user_id = user.id;
        let now_user = if other_confirm_won { with_mfa(user.clone()) } else { local_user() };
        let mut deps = MockDeps::new();
        deps.attempts_allowed();
        deps.cipher_opens_for(user.id).totp_matches(GOOD_TOTP, GOOD_STEP).backup_digest_is_tagged();
        random_backup_bytes(&mut deps);
        deps.mfa.expect_confirm_enrollment().times(1).returning(|_, _, _, _, _, _| Ok(false));
        deps.users
            .expect_find_by_id()
            .times(1)
            .withf(move |id| *id == user_id)
            .returning(move |_| Ok(Some(now_user.clone())));
        let use_case = UseCases::new(deps.build(), settings()).enroll_confirm;

        // Act: success counters and audit are unarranged.
        let result = use_case.execute(&session_caller(user), &client(), code(GOOD_TOTP)).await;

        // Assert
        let ok = if other_confirm_won {
            matches!(result, Err(EnrollConfirmError::AlreadyEnabled))
        } else {
            matches!(result, Err(EnrollConfirmError::NoPending))
        };
        assert!(ok, "{label}: {result:?}");
    }
}
