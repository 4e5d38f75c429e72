//! A change whose transaction fails writes no outbox row (and none of its other effects), on
//! SQLite and PostgreSQL: the notice's own insert is made to fail (its id is taken), inside
//! the change's transaction, and everything rolls back with it.

#![expect(clippy::unwrap_used, reason = "a test fails loudly where a step does")]

use chrono::{DateTime, Utc};
use slugbase_application::ports::{
    AuditEvent, AuditLog as _, AuditQuery, ChangeEffects, EndSessions, MfaProof,
    MfaRepository as _, NewUser, Notice, OutboxQuery, OutboxRepository as _, SecretDigest,
    SessionKind, SessionRecord, SessionRepository, UserRepository,
};
use slugbase_domain::{
    AuditEventKind, AuditOutcome, DisplayName, Email, EncryptedSecret, LoginMethod, NoticeId,
    NoticeKind, PasswordHash, TotpStep, UserId,
};
use slugbase_infrastructure::sql::SeaOrmStore;
use slugbase_infrastructure::testing::postgres_url;

fn t(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
}

fn hex(label: &str) -> SecretDigest {
    let hex: String = label.bytes().map(|b| format!("{b:02x}")).collect();
    SecretDigest::from_hex(format!("{hex:0>64}"))
}

fn event(user: UserId, kind: AuditEventKind) -> AuditEvent {
    AuditEvent {
        at: t(50),
        user_id: Some(user),
        actor_id: None,
        kind,
        outcome: AuditOutcome::Success,
        proof: None,
        client_addr: None,
        user_agent: None,
        detail: None,
    }
}

fn notice(user: UserId, kind: NoticeKind, id: NoticeId) -> Notice {
    Notice {
        id,
        kind,
        user_id: Some(user),
        recipient: "victim@example.com".to_owned(),
        at: t(50),
        client_addr: None,
        user_agent: None,
        codes_left: None,
        subject: None,
    }
}

async fn notices(store: &SeaOrmStore) -> usize {
    store.list_notices(OutboxQuery { status: None, limit: 100, offset: 0 }).await.unwrap().len()
}

async fn events(store: &SeaOrmStore, user: UserId) -> usize {
    let query = AuditQuery { user_id: Some(user), kind: None, limit: 100, ..AuditQuery::default() };
    store.query(query).await.unwrap().len()
}

async fn failed_transactions_write_no_notice(store: SeaOrmStore) {
    let old_hash = PasswordHash::from_phc("$argon2id$v=19$m=8,t=1,p=1$c2FsdA$b2xk");
    let new_user = NewUser {
        id: UserId::generate(),
        email: Email::parse("victim@example.com").unwrap(),
        name: DisplayName::parse("Victim").unwrap(),
        login: LoginMethod::Local(old_hash.clone()),
        oidc_provider: None,
        is_admin: false,
        created_at: t(0),
    };
    let user = UserRepository::create(&store, new_user).await.unwrap();
    let pending = EncryptedSecret::new("k1:atomic".to_owned());
    assert!(store.begin_enrollment(user.id, pending.clone()).await.unwrap());
    let quiet = ChangeEffects::audited(event(user.id, AuditEventKind::MfaEnrollConfirmSuccess));
    let codes = vec![hex("atomic-code")];
    let confirmed =
        store.confirm_enrollment(user.id, &pending, TotpStep::new(1), codes, t(1), &quiet);
    assert!(confirmed.await.unwrap());
    for id in ["keep", "other"] {
        let session = SessionRecord {
            id_hash: hex(id),
            user_id: user.id,
            kind: SessionKind::Full,
            created_at: t(0),
            last_seen_at: t(0),
            expires_at: t(600),
            failed_attempts: 0,
            client_addr: None,
            user_agent: None,
        };
        SessionRepository::create(&store, session).await.unwrap();
    }
    // A notice already stored under the id the next changes will try to use.
    let taken = NoticeId::generate();
    store.enqueue(notice(user.id, NoticeKind::MfaEnabled, taken)).await.unwrap();
    let (rows, logged) = (notices(&store).await, events(&store, user.id).await);

    // Disable: the proof is spent, MFA cleared, sessions ended … then the notice's insert
    // fails, and the whole transaction rolls back.
    let mut effects = ChangeEffects::audited(event(user.id, AuditEventKind::MfaDisableSuccess))
        .with_notice(notice(user.id, NoticeKind::MfaDisabled, taken));
    effects.end_sessions = Some(EndSessions { keep: Some(hex("keep")) });
    let proof = MfaProof::BackupCode(hex("atomic-code"));
    assert!(store.disable_with_proof(user.id, &proof, t(50), &effects).await.is_err());
    assert!(store.find_by_id(user.id).await.unwrap().unwrap().mfa.is_enabled(), "MFA stays on");
    assert_eq!(store.backup_codes_remaining(user.id).await.unwrap(), 1, "the code is unspent");
    assert!(store.find(&hex("other")).await.unwrap().is_some(), "no session ended");
    assert_eq!(notices(&store).await, rows, "no outbox row");
    assert_eq!(events(&store, user.id).await, logged, "no audit event");

    // Password change: likewise.
    let new_hash = PasswordHash::from_phc("$argon2id$v=19$m=8,t=1,p=1$c2FsdA$bmV3");
    let effects = ChangeEffects::audited(event(user.id, AuditEventKind::PasswordChanged))
        .with_notice(notice(user.id, NoticeKind::PasswordChanged, taken));
    assert!(store.change_password(user.id, new_hash, &effects).await.is_err());
    let login = store.find_by_id(user.id).await.unwrap().unwrap().login;
    assert_eq!(login, LoginMethod::Local(old_hash), "the password is unchanged");
    assert_eq!(notices(&store).await, rows, "no outbox row");
    assert_eq!(events(&store, user.id).await, logged, "no audit event");

    // And the same change with a fresh notice commits, notice included.
    let mut effects = ChangeEffects::audited(event(user.id, AuditEventKind::MfaDisableSuccess))
        .with_notice(notice(user.id, NoticeKind::MfaDisabled, NoticeId::generate()));
    effects.end_sessions = Some(EndSessions { keep: Some(hex("keep")) });
    assert!(store.disable_with_proof(user.id, &proof, t(51), &effects).await.unwrap());
    assert_eq!(notices(&store).await, rows + 1);
    assert_eq!(events(&store, user.id).await, logged + 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn on_sqlite_a_failed_transaction_writes_no_outbox_row() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/atomic.db", dir.path().display());
    let store = SeaOrmStore::connect(&url).await.unwrap();
    store.migrate_with(slugbase_migration::up).await.unwrap();
    failed_transactions_write_no_notice(store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn on_postgres_a_failed_transaction_writes_no_outbox_row() {
    let Some(url) = postgres_url().await else { return };
    let store = SeaOrmStore::connect(&url).await.unwrap();
    store.migrate_with(slugbase_migration::up).await.unwrap();
    failed_transactions_write_no_notice(store).await;
}
