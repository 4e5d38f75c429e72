//! Administration: only administrators, unique e-mails, no self-deletion.

use slugbase_application::ports::{AuditQuery, EndSessions, StoreError};
use slugbase_application::use_cases::admin::AdminUseCase as _;
use slugbase_application::{
    InputRejected,
    collaborators::new_account::NewAccountInput,
    use_cases::admin::{Admin, AdminError},
};
use slugbase_domain::{AuditEventKind, LoginMethod, MfaState, User, UserId};

use crate::support::*;

fn account(password: Option<&str>) -> Result<NewAccountInput, InputRejected> {
    Ok(NewAccountInput {
        email: " New.User@Example.com ".to_owned(),
        name: "New User".to_owned(),
        password: password.map(str::to_owned),
        is_admin: false,
    })
}

fn admin(deps: MockDeps) -> Admin {
    UseCases::with_operator(deps.build(), settings()).1.admin
}

/// [`admin`] with an OIDC provider configured.
fn admin_with_oidc(deps: MockDeps) -> Admin {
    admin(deps).with_oidc_sign_in(true)
}

/// What a repository's `create` makes of a new user.
fn stored(new: slugbase_application::ports::NewUser) -> User {
    User {
        id: new.id,
        email: new.email,
        name: new.name,
        login: new.login,
        oidc_provider: new.oidc_provider,
        is_admin: new.is_admin,
        mfa: MfaState::Disabled,
        created_at: new.created_at,
        mfa_grace_started_at: None,
    }
}

#[tokio::test]
async fn a_non_admin_is_forbidden_everything_and_nothing_is_touched() {
    // Arrange: every port unarranged.
    let caller = session_caller(local_user());
    let other = UserId::generate();
    let use_case = admin(MockDeps::new());

    // Act
    let results = [
        use_case.create_user(&caller, &client(), account(Some("a long password"))).await.err(),
        use_case.list_users(&caller).await.err(),
        use_case.delete_user(&caller, &client(), other).await.err(),
        use_case.reset_mfa(&caller, &client(), other).await.err(),
        use_case.audit_log(&caller, AuditQuery::default()).await.err(),
    ];

    // Assert
    for result in results {
        assert!(matches!(result, Some(AdminError::Forbidden)), "{result:?}");
    }
}

#[tokio::test]
async fn creating_a_user_with_a_taken_email_is_email_taken() {
    // Arrange
    let caller = session_caller(admin_user());
    let mut deps = MockDeps::new();
    deps.passwords.expect_hash().times(1).returning(|_| Ok(password_hash()));
    deps.users.expect_create().times(1).returning(|_| Err(StoreError::Conflict("users.email")));

    // Act: no audit event (the audit log is unarranged).
    let result =
        admin(deps).create_user(&caller, &client(), account(Some("a long password"))).await;

    // Assert
    assert!(matches!(result, Err(AdminError::EmailTaken)), "{result:?}");
}

#[tokio::test]
async fn a_user_created_without_a_password_is_oidc_only_and_nothing_is_hashed() {
    // Arrange: the hasher is unarranged.
    let caller_user = admin_user();
    let actor = caller_user.id;
    let caller = session_caller(caller_user);
    let mut deps = MockDeps::new();
    deps.users
        .expect_create()
        .times(1)
        .withf(|new| {
            new.email.as_str() == "new.user@example.com"
                && new.login == LoginMethod::OidcOnly
                && !new.is_admin
                && new.created_at == now()
        })
        .returning(|new| Ok(stored(new)));
    let audit = deps.record_audit();

    // Act
    let user = admin_with_oidc(deps)
        .create_user(&caller, &client(), account(None))
        .await
        .expect("created");

    // Assert
    assert_eq!(user.login, LoginMethod::OidcOnly);
    let event = audit.only();
    assert_audit(&event, AuditEventKind::UserCreated, Some(user.id), None, None);
    assert_eq!(event.actor_id, Some(actor));
}

#[tokio::test]
async fn a_user_without_a_password_is_refused_while_no_oidc_provider_is_configured() {
    // Arrange: storage, hasher and audit log unarranged (nothing is stored or recorded).
    let caller = session_caller(admin_user());

    // Act: the use cases as assembled with no identity provider, by an admin and the CLI.
    let by_admin = admin(MockDeps::new()).create_user(&caller, &client(), account(None)).await;
    let by_cli = admin(MockDeps::new()).create_user_unchecked(None, &client(), account(None)).await;

    // Assert
    for result in [by_admin, by_cli] {
        assert!(matches!(result, Err(AdminError::OidcNotConfigured)), "{result:?}");
    }
}

#[tokio::test]
async fn an_admin_cannot_reset_their_own_mfa_and_the_refusal_is_audited() {
    // Arrange: the MFA repository and the user lookup are unarranged (nothing is touched).
    let me = with_mfa(admin_user());
    let my_id = me.id;
    let caller = session_caller(me);
    let mut deps = MockDeps::new();
    let audit = deps.record_audit();

    // Act
    let result = admin(deps).reset_mfa(&caller, &client(), my_id).await;

    // Assert
    assert!(matches!(result, Err(AdminError::CannotResetOwnMfa)), "{result:?}");
    let event = audit.only();
    assert_audit(
        &event,
        AuditEventKind::MfaResetByAdminFail,
        Some(my_id),
        Some("ADMIN_SELF_RESET_FORBIDDEN"),
        None,
    );
    assert_eq!(event.actor_id, Some(my_id));
}

#[tokio::test]
async fn an_invalid_account_is_a_validation_error_naming_every_bad_field() {
    // Arrange
    let caller = session_caller(admin_user());
    let input = Ok(NewAccountInput {
        email: "not an email".to_owned(),
        name: " ".to_owned(),
        password: Some("short".to_owned()),
        is_admin: false,
    });

    // Act
    let result = admin(MockDeps::new()).create_user(&caller, &client(), input).await;

    // Assert
    match result {
        Err(AdminError::Validation(errors)) => {
            let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(fields, ["email", "name", "password"]);
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[tokio::test]
async fn an_admin_cannot_delete_their_own_account() {
    // Arrange: the user repository is unarranged.
    let me = admin_user();
    let my_id = me.id;
    let caller = session_caller(me);

    // Act
    let result = admin(MockDeps::new()).delete_user(&caller, &client(), my_id).await;

    // Assert
    assert!(matches!(result, Err(AdminError::CannotDeleteSelf)), "{result:?}");
}

#[tokio::test]
async fn deleting_a_user_clears_their_attempt_counters_and_is_audited() {
    // Arrange
    let caller_user = admin_user();
    let actor = caller_user.id;
    let caller = session_caller(caller_user);
    let victim = UserId::generate();
    let mut deps = MockDeps::new();
    // The counters' keys go to storage with the user, to be deleted in the same operation.
    let counters = vec![format!("sf:user:{victim}"), format!("pw:user:{victim}")];
    deps.users
        .expect_delete()
        .times(1)
        .withf(move |id, keys| *id == victim && keys == counters.as_slice())
        .returning(|_, _| Ok(true));
    let audit = deps.record_audit();

    // Act
    let result = admin(deps).delete_user(&caller, &client(), victim).await;

    // Assert
    assert!(result.is_ok(), "{result:?}");
    let event = audit.only();
    assert_audit(&event, AuditEventKind::UserDeleted, Some(victim), None, None);
    assert_eq!(event.actor_id, Some(actor));
}

#[tokio::test]
async fn deleting_an_unknown_user_is_not_found() {
    // Arrange
    let caller = session_caller(admin_user());
    let mut deps = MockDeps::new();
    deps.users.expect_delete().times(1).returning(|_, _| Ok(false));

    // Act
    let result = admin(deps).delete_user(&caller, &client(), UserId::generate()).await;

    // Assert
    assert!(matches!(result, Err(AdminError::NotFound)), "{result:?}");
}

#[tokio::test]
async fn an_admin_mfa_reset_erases_mfa_ends_every_session_and_is_audited() {
    // Arrange
    let caller_user = admin_user();
    let actor = caller_user.id;
    let caller = session_caller(caller_user);
    let target = with_mfa(local_user());
    let target_id = target.id;
    let mut deps = MockDeps::new();
    deps.users.expect_find_by_id().returning(move |_| Ok(Some(target.clone())));
    // Attempt counters, sessions and the audit log are unarranged: the reset's own
    // transaction forgets the counters, ends the sessions and stores the event.
    let effects = EffectsSpy::default();
    let seen = effects.clone();
    deps.mfa.expect_reset().times(1).withf(move |id, _| *id == target_id).returning(
        move |_, effects| {
            seen.saw(effects);
            Ok(true)
        },
    );

    // Act
    let result = admin(deps).reset_mfa(&caller, &client(), target_id).await;

    // Assert: every session ends (none kept), both of the user's counters are forgotten.
    assert!(result.is_ok(), "{result:?}");
    let committed = effects.only();
    assert_audit(&committed.audit, AuditEventKind::MfaResetByAdmin, Some(target_id), None, None);
    assert_eq!(committed.audit.actor_id, Some(actor));
    assert_eq!(committed.end_sessions, Some(EndSessions { keep: None }));
    assert!(committed.releases.is_empty());
    let cleared = [format!("sf:user:{target_id}"), format!("pw:user:{target_id}")];
    assert_eq!(committed.cleared_attempts, cleared);
    let notice = effects.notice().expect("the reset notice commits with it");
    assert_eq!(notice.kind, slugbase_domain::NoticeKind::MfaResetByAdmin);
    assert_eq!(notice.user_id, Some(target_id));
}
