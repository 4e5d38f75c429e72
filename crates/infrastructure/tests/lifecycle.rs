//! The MFA lifecycle end to end through the use cases, over the real in-memory store and
//! real crypto (Argon2id at test cost, totp-rs, AES-GCM, HMAC), with a manual clock to step
//! through TOTP windows. Codes are computed from the secret enroll-begin returned, as an
//! authenticator app would.

mod mfa_support;

use chrono::TimeDelta;
use mfa_support::{Harness, PASSWORD};
use slugbase_application::Unexpected;
use slugbase_application::collaborators::both_factors::MfaChangeError;
use slugbase_application::collaborators::second_factor::Possession;
use slugbase_application::ports::{AuditLog, AuditQuery, MfaProof, MfaRepository};
use slugbase_application::use_cases::authenticate::AuthError;
use slugbase_application::use_cases::enroll::EnrollConfirmError;
use slugbase_application::use_cases::login::LoginError;
use slugbase_application::use_cases::login::LoginInput;
use slugbase_application::use_cases::login::LoginOutcome;
use slugbase_application::use_cases::verify_login::VerifyLoginError;
use slugbase_domain::{AuditEventKind, AuditOutcome, DisableDenied, MfaState, Password, ProofKind};

#[tokio::test]
async fn the_whole_mfa_lifecycle_with_real_crypto() {
    let h = Harness::new();
    let admin = h.admin().await;
    let (user, session) = h.local_user(&admin, "alice@example.com").await;
    assert_eq!(user.mfa, MfaState::Disabled);

    // Enroll: begin returns a secret and an otpauth URL carrying it.
    let caller = h.caller(&session).await;
    let status = h.uc.mfa_status.execute(&caller).await.unwrap();
    assert!(!status.enabled);
    let enrollment = h.uc.enroll_begin.execute(&caller, &h.client).await.unwrap();
    let secret = enrollment.secret.clone();
    assert_eq!(secret.expose_base32().len(), 32);
    assert!(enrollment.otpauth_url.expose().contains(secret.expose_base32()));
    assert!(!enrollment.qr_png_base64.is_empty());
    let caller = h.caller(&session).await;
    assert!(matches!(caller.user.mfa, MfaState::Pending { .. }));
    // Still off while pending: login asks for no second factor.
    assert!(matches!(h.login("alice@example.com", PASSWORD).await, LoginOutcome::SignedIn { .. }));

    // Confirm with the code the app shows: ten distinct 16-hex backup codes.
    let confirm_code = h.totp_now(&secret);
    let codes =
        h.uc.enroll_confirm.execute(&caller, &h.client, Ok(confirm_code.clone())).await.unwrap();
    let codes: Vec<String> = codes.iter().map(|c| c.expose().to_owned()).collect();
    assert_eq!(codes.len(), 10);
    for code in &codes {
        assert_eq!(code.len(), 16);
        assert!(code.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{code}");
    }
    let mut distinct = codes.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 10);

    let caller = h.caller(&session).await;
    let status = h.uc.mfa_status.execute(&caller).await.unwrap();
    assert!(status.enabled);
    assert_eq!(status.enrolled_at, Some(h.now()));
    assert_eq!(status.backup_codes_remaining, 10);

    // The confirming code was spent: it cannot also sign in.
    let pending = h.login_pending("alice@example.com").await;
    let replay =
        h.uc.verify_login
            .execute(Some(pending.expose()), &h.client, Ok(Possession::Code(confirm_code)))
            .await;
    assert!(matches!(replay, Err(VerifyLoginError::InvalidCode)), "{replay:?}");

    // Login now needs the second factor; a fresh TOTP completes it.
    h.next_step();
    let code = h.totp_now(&secret);
    let (signed_in, session2) =
        h.uc.verify_login
            .execute(Some(pending.expose()), &h.client, Ok(Possession::Code(code.clone())))
            .await
            .unwrap();
    assert_eq!(signed_in.id, user.id);
    assert!(h.uc.authenticate.session(session2.expose()).await.is_ok());
    // The pending state was single-use.
    let again =
        h.uc.verify_login
            .execute(Some(pending.expose()), &h.client, Ok(Possession::Code(code.clone())))
            .await;
    assert!(matches!(again, Err(VerifyLoginError::PendingInvalid)), "{again:?}");

    // The same TOTP (same step) is refused everywhere: verify, disable, regenerate.
    let pending = h.login_pending("alice@example.com").await;
    let replay =
        h.uc.verify_login
            .execute(Some(pending.expose()), &h.client, Ok(Possession::Code(code.clone())))
            .await;
    assert!(matches!(replay, Err(VerifyLoginError::InvalidCode)), "{replay:?}");
    let caller = h.caller(&session).await;
    let both = h.both(&code, Some(PASSWORD));
    let replay = h.uc.disable_mfa.execute(&caller, &h.client, Ok(both.clone())).await;
    assert!(
        matches!(replay, Err(MfaChangeError::Denied(DisableDenied::InvalidCode))),
        "{replay:?}"
    );
    let replay = h.uc.regenerate_backup_codes.execute(&caller, &h.client, Ok(both)).await;
    assert!(
        matches!(replay, Err(MfaChangeError::Denied(DisableDenied::InvalidCode))),
        "{replay:?}"
    );
    assert!(h.caller(&session).await.user.mfa.is_enabled());

    // A backup code works exactly once (upper case and spaces are fine).
    let typed = format!("{} {}", codes[0][..8].to_uppercase(), &codes[0][8..]);
    let (_, _) =
        h.uc.verify_login
            .execute(Some(pending.expose()), &h.client, Ok(Possession::Code(typed)))
            .await
            .unwrap();
    let pending = h.login_pending("alice@example.com").await;
    let reuse =
        h.uc.verify_login
            .execute(Some(pending.expose()), &h.client, Ok(Possession::Code(codes[0].clone())))
            .await;
    assert!(matches!(reuse, Err(VerifyLoginError::InvalidCode)), "{reuse:?}");
    let caller = h.caller(&session).await;
    assert_eq!(h.uc.mfa_status.execute(&caller).await.unwrap().backup_codes_remaining, 9);
    let both = h.both(&codes[0], Some(PASSWORD));
    let reuse = h.uc.disable_mfa.execute(&caller, &h.client, Ok(both)).await;
    assert!(matches!(reuse, Err(MfaChangeError::Denied(DisableDenied::InvalidCode))), "{reuse:?}");

    // Disable with another backup code and the password.
    let both = h.both(&codes[1], Some(PASSWORD));
    h.uc.disable_mfa.execute(&caller, &h.client, Ok(both)).await.unwrap();

    // Off, with the secret and every code gone.
    let caller = h.caller(&session).await;
    assert_eq!(caller.user.mfa, MfaState::Disabled);
    let status = h.uc.mfa_status.execute(&caller).await.unwrap();
    assert!(!status.enabled);
    assert_eq!(status.enrolled_at, None);
    assert_eq!(status.backup_codes_remaining, 0);
    assert_eq!(h.store.backup_codes_remaining(user.id).await.unwrap(), 0);
    let leftover = MfaProof::BackupCode(h.backup_digest(&codes[2]));
    assert!(!h.store.spend_proof(user.id, &leftover, h.now()).await.unwrap());

    // Login no longer asks for MFA.
    assert!(matches!(h.login("alice@example.com", PASSWORD).await, LoginOutcome::SignedIn { .. }));
}

#[tokio::test]
async fn regenerating_with_a_fresh_code_replaces_every_backup_code() {
    let h = Harness::new();
    let admin = h.admin().await;
    let (_, session) = h.local_user(&admin, "rita@example.com").await;
    let (secret, old_codes) = h.enable_mfa(&session).await;
    h.next_step();
    let caller = h.caller(&session).await;
    let both = h.both(&h.totp_now(&secret), Some(PASSWORD));
    let new_codes =
        h.uc.regenerate_backup_codes.execute(&caller, &h.client, Ok(both)).await.unwrap();
    assert_eq!(new_codes.len(), 10);
    assert_eq!(h.uc.mfa_status.execute(&caller).await.unwrap().backup_codes_remaining, 10);
    // An old code is gone; a new one works.
    let pending = h.login_pending("rita@example.com").await;
    let old =
        h.uc.verify_login
            .execute(Some(pending.expose()), &h.client, Ok(Possession::Code(old_codes[3].clone())))
            .await;
    assert!(matches!(old, Err(VerifyLoginError::InvalidCode)), "{old:?}");
    let fresh = new_codes[3].expose().to_owned();
    h.uc.verify_login
        .execute(Some(pending.expose()), &h.client, Ok(Possession::Code(fresh)))
        .await
        .unwrap();
}

#[tokio::test]
async fn codes_of_a_replaced_or_cancelled_enrollment_do_not_confirm() {
    let h = Harness::new();
    let admin = h.admin().await;
    let (_, session) = h.local_user(&admin, "bob@example.com").await;

    let first = h.uc.enroll_begin.execute(&h.caller(&session).await, &h.client).await.unwrap();
    let stale_caller = h.caller(&session).await; // still sees the first pending secret
    let second = h.uc.enroll_begin.execute(&h.caller(&session).await, &h.client).await.unwrap();
    assert_ne!(first.secret.expose_base32(), second.secret.expose_base32());

    // The replaced secret's code does not match the pending one.
    let caller = h.caller(&session).await;
    let old_code = h.totp_now(&first.secret);
    let result = h.uc.enroll_confirm.execute(&caller, &h.client, Ok(old_code.clone())).await;
    assert!(matches!(result, Err(EnrollConfirmError::InvalidCode)), "{result:?}");
    // Nor does a request that raced the replacement and still carries the first secret:
    // storage only confirms the secret that is pending now.
    let result = h.uc.enroll_confirm.execute(&stale_caller, &h.client, Ok(old_code)).await;
    assert!(matches!(result, Err(EnrollConfirmError::NoPending)), "{result:?}");

    // Cancelled: the second secret's code confirms nothing either.
    h.uc.enroll_cancel.execute(&caller, &h.client).await.unwrap();
    let code = h.totp_now(&second.secret);
    let result = h.uc.enroll_confirm.execute(&caller, &h.client, Ok(code.clone())).await;
    assert!(matches!(result, Err(EnrollConfirmError::NoPending)), "{result:?}");
    let fresh = h.caller(&session).await;
    assert_eq!(fresh.user.mfa, MfaState::Disabled);
    let result = h.uc.enroll_confirm.execute(&fresh, &h.client, Ok(code)).await;
    assert!(matches!(result, Err(EnrollConfirmError::NoPending)), "{result:?}");
    assert!(matches!(h.login("bob@example.com", PASSWORD).await, LoginOutcome::SignedIn { .. }));
}

#[tokio::test]
async fn an_oidc_only_user_disables_with_the_code_alone_or_with_a_bogus_password() {
    let h = Harness::new();
    let admin = h.admin().await;
    let (user, session) = h.oidc_user(&admin, "olga@example.com").await;
    assert!(!user.login.has_password());

    for password in [None, Some("bogus password")] {
        let (secret, _) = h.enable_mfa(&session).await;
        h.next_step();
        let caller = h.caller(&session).await;
        assert!(caller.user.mfa.is_enabled());
        let both = h.both(&h.totp_now(&secret), password);
        h.uc.disable_mfa.execute(&caller, &h.client, Ok(both)).await.unwrap();
        assert_eq!(h.caller(&session).await.user.mfa, MfaState::Disabled, "{password:?}");
        h.next_step();
    }
}

#[tokio::test]
async fn a_local_user_needs_the_right_password_as_well_as_the_code() {
    let h = Harness::new();
    let admin = h.admin().await;
    let (_, session) = h.local_user(&admin, "lena@example.com").await;
    let (secret, _) = h.enable_mfa(&session).await;
    h.next_step();
    let caller = h.caller(&session).await;
    let code = h.totp_now(&secret);

    let missing = h.uc.disable_mfa.execute(&caller, &h.client, Ok(h.both(&code, None))).await;
    assert!(matches!(missing, Err(MfaChangeError::Denied(DisableDenied::PasswordRequired))));
    let wrong = h.both(&code, Some("not the password"));
    let wrong = h.uc.disable_mfa.execute(&caller, &h.client, Ok(wrong)).await;
    assert!(matches!(wrong, Err(MfaChangeError::Denied(DisableDenied::InvalidPassword))));
    // The refused attempts did not spend the code.
    let ok = h.both(&code, Some(PASSWORD));
    h.uc.disable_mfa.execute(&caller, &h.client, Ok(ok)).await.unwrap();
}

#[tokio::test]
async fn disable_ends_the_users_other_sessions_but_not_the_calling_one_nor_api_tokens() {
    let h = Harness::new();
    let admin = h.admin().await;
    let (_, here) = h.local_user(&admin, "carol@example.com").await;
    let LoginOutcome::SignedIn { session: elsewhere, .. } =
        h.login("carol@example.com", PASSWORD).await
    else {
        panic!("no MFA yet")
    };
    let caller = h.caller(&here).await;
    let token = h.uc.api_tokens.create(&caller, &h.client, Ok("ci".into())).await.unwrap();
    let (secret, _) = h.enable_mfa(&here).await;

    h.next_step();
    let caller = h.caller(&here).await;
    let both = h.both(&h.totp_now(&secret), Some(PASSWORD));
    h.uc.disable_mfa.execute(&caller, &h.client, Ok(both)).await.unwrap();

    assert!(h.uc.authenticate.session(here.expose()).await.is_ok(), "calling session survives");
    let ended = h.uc.authenticate.session(elsewhere.expose()).await;
    assert!(matches!(ended, Err(AuthError::Unauthenticated)), "{ended:?}");
    let by_token = h.uc.authenticate.api_token(token.token.expose()).await.unwrap();
    assert_eq!(by_token.user.id, caller.user.id, "API tokens are untouched");
}

#[tokio::test]
async fn ten_wrong_codes_lock_the_second_factor_until_the_window_passes() {
    let h = Harness::new();
    let admin = h.admin().await;
    let (_, session) = h.local_user(&admin, "dave@example.com").await;
    let (secret, backup) = h.enable_mfa(&session).await;
    h.next_step();
    let caller = h.caller(&session).await;

    for i in 0..10 {
        let both = h.both(&h.wrong_totp(&secret), Some(PASSWORD));
        let result = h.uc.disable_mfa.execute(&caller, &h.client, Ok(both)).await;
        assert!(
            matches!(result, Err(MfaChangeError::Denied(DisableDenied::InvalidCode))),
            "attempt {i}: {result:?}"
        );
    }
    // Now even correct proofs are refused, here and at login.
    let good = h.both(&h.totp_now(&secret), Some(PASSWORD));
    let blocked = h.uc.disable_mfa.execute(&caller, &h.client, Ok(good)).await;
    let Err(MfaChangeError::TooManyAttempts(limit)) = blocked else {
        panic!("expected TooManyAttempts, got {blocked:?}")
    };
    assert!(!limit.locked_out);
    assert!(limit.retry_after_secs > 0 && limit.retry_after_secs <= 900);
    let pending = h.login_pending("dave@example.com").await;
    let blocked =
        h.uc.verify_login
            .execute(Some(pending.expose()), &h.client, Ok(Possession::Code(backup[0].clone())))
            .await;
    assert!(matches!(blocked, Err(VerifyLoginError::TooManyAttempts(_))), "{blocked:?}");
    assert!(h.caller(&session).await.user.mfa.is_enabled());

    // Just before the window ends: still refused. After it: the correct code works.
    h.clock.advance(TimeDelta::seconds(i64::from(limit.retry_after_secs) - 1));
    let good = h.both(&h.totp_now(&secret), Some(PASSWORD));
    let blocked = h.uc.disable_mfa.execute(&caller, &h.client, Ok(good)).await;
    assert!(matches!(blocked, Err(MfaChangeError::TooManyAttempts(_))), "{blocked:?}");
    h.clock.advance(TimeDelta::seconds(1));
    let good = h.both(&h.totp_now(&secret), Some(PASSWORD));
    h.uc.disable_mfa.execute(&caller, &h.client, Ok(good)).await.unwrap();
    assert_eq!(h.caller(&session).await.user.mfa, MfaState::Disabled);
}

#[tokio::test]
async fn disable_outcomes_are_audited_with_the_proof_kind_and_never_a_code() {
    let h = Harness::new();
    let admin = h.admin().await;
    let (user, session) = h.local_user(&admin, "erin@example.com").await;
    let (secret, backup) = h.enable_mfa(&session).await;
    h.next_step();
    let caller = h.caller(&session).await;

    let unknown_backup = "ffffffffffffffff";
    assert!(!backup.iter().any(|c| c == unknown_backup));
    let fail_backup = h.both(unknown_backup, Some(PASSWORD));
    assert!(h.uc.disable_mfa.execute(&caller, &h.client, Ok(fail_backup)).await.is_err());
    let wrong_totp = h.wrong_totp(&secret);
    let fail_totp = h.both(&wrong_totp, Some(PASSWORD));
    assert!(h.uc.disable_mfa.execute(&caller, &h.client, Ok(fail_totp)).await.is_err());
    let good_code = h.totp_now(&secret);
    let fail_password = h.both(&good_code, Some("wrong password!"));
    assert!(h.uc.disable_mfa.execute(&caller, &h.client, Ok(fail_password)).await.is_err());
    let good = h.both(&good_code, Some(PASSWORD));
    h.uc.disable_mfa.execute(&caller, &h.client, Ok(good)).await.unwrap();

    let query =
        AuditQuery { user_id: Some(user.id), kind: None, limit: 100, ..AuditQuery::default() };
    let events = h.store.query(query).await.unwrap();
    let disable: Vec<_> = events
        .iter()
        .rev() // oldest first
        .filter(|e| {
            matches!(
                e.event.kind,
                AuditEventKind::MfaDisableSuccess | AuditEventKind::MfaDisableFail
            )
        })
        .map(|e| (e.event.kind, e.event.outcome.clone(), e.event.proof))
        .collect();
    let fail = |reason: &str| AuditOutcome::Failure(reason.to_owned());
    assert_eq!(
        disable,
        [
            (AuditEventKind::MfaDisableFail, fail("INVALID_CODE"), Some(ProofKind::BackupCode)),
            (AuditEventKind::MfaDisableFail, fail("INVALID_CODE"), Some(ProofKind::Totp)),
            (AuditEventKind::MfaDisableFail, fail("INVALID_PASSWORD"), None),
            (AuditEventKind::MfaDisableSuccess, AuditOutcome::Success, Some(ProofKind::Totp)),
        ]
    );
    for event in &events {
        assert_eq!(event.event.client_addr.as_deref(), Some("192.0.2.10"));
    }

    // Nothing secret anywhere in the log, whatever the event.
    let all = h.store.query(AuditQuery { limit: 1000, ..AuditQuery::default() }).await.unwrap();
    // Every text the events carry (ids and times are typed values that cannot hold a code,
    // and a 6-digit code could appear in a timestamp's digits by chance).
    let text: String = all
        .iter()
        .map(|e| {
            let outcome = match &e.event.outcome {
                AuditOutcome::Success => "success",
                AuditOutcome::Failure(reason) => reason.as_str(),
            };
            format!(
                "{} {outcome} {:?} {:?} {:?}\n",
                e.event.kind, e.event.proof, e.event.client_addr, e.event.user_agent
            )
        })
        .collect();
    let mut secrets = vec![unknown_backup.to_owned(), wrong_totp, good_code, PASSWORD.to_owned()];
    secrets.push(secret.expose_base32().to_owned());
    secrets.extend(backup);
    for s in &secrets {
        assert!(!text.contains(s.as_str()), "audit log contains a secret");
    }
}

#[tokio::test]
async fn a_switched_off_store_is_unavailable_until_switched_back_on() {
    let h = Harness::new();
    let admin = h.admin().await;
    let (_, session) = h.local_user(&admin, "frank@example.com").await;
    h.uc.health.check().await.unwrap();

    h.store.set_available(false);
    let health = h.uc.health.check().await;
    assert!(matches!(health, Err(Unexpected::Unavailable(_))), "{health:?}");
    let auth = h.uc.authenticate.session(session.expose()).await;
    assert!(matches!(auth, Err(AuthError::Unexpected(Unexpected::Unavailable(_)))), "{auth:?}");
    let input = LoginInput { email: "frank@example.com".into(), password: Password::new(PASSWORD) };
    let login = h.uc.login.execute(&h.client, Ok(input)).await;
    assert!(matches!(login, Err(LoginError::Unexpected(Unexpected::Unavailable(_)))), "{login:?}");

    h.store.set_available(true);
    h.uc.health.check().await.unwrap();
    assert!(h.uc.authenticate.session(session.expose()).await.is_ok());
}

#[tokio::test]
async fn deleting_a_user_ends_their_sessions_tokens_and_codes_but_keeps_the_audit_trail() {
    let h = Harness::new();
    let admin = h.admin().await;
    let (user, session) = h.local_user(&admin, "gina@example.com").await;
    let caller = h.caller(&session).await;
    let token = h.uc.api_tokens.create(&caller, &h.client, Ok("laptop".into())).await.unwrap();
    let (_, codes) = h.enable_mfa(&session).await;
    let pending = h.login_pending("gina@example.com").await;

    h.uc.admin.delete_user(&admin, &h.client, user.id).await.unwrap();

    let by_session = h.uc.authenticate.session(session.expose()).await;
    assert!(matches!(by_session, Err(AuthError::Unauthenticated)), "{by_session:?}");
    let by_token = h.uc.authenticate.api_token(token.token.expose()).await;
    assert!(matches!(by_token, Err(AuthError::Unauthenticated)), "{by_token:?}");
    let verify =
        h.uc.verify_login
            .execute(Some(pending.expose()), &h.client, Ok(Possession::Code(codes[0].clone())))
            .await;
    assert!(matches!(verify, Err(VerifyLoginError::PendingInvalid)), "{verify:?}");
    assert_eq!(h.store.backup_codes_remaining(user.id).await.unwrap(), 0);

    let query =
        AuditQuery { user_id: Some(user.id), kind: None, limit: 100, ..AuditQuery::default() };
    let kinds: Vec<_> = h.store.query(query).await.unwrap().iter().map(|e| e.event.kind).collect();
    assert!(kinds.contains(&AuditEventKind::MfaEnrollConfirmSuccess), "{kinds:?}");
    assert_eq!(kinds.first(), Some(&AuditEventKind::UserDeleted));
}
