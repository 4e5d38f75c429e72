//! `SeaOrmStore` beyond the port contract: SQLite set up for a server, errors mapped onto
//! the port's error kinds, and no writer deadlocks under mixed concurrent load.

#![expect(clippy::unwrap_used, reason = "a test fails loudly where a step does")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, Statement};
use slugbase_application::ports::{
    AttemptRepository, AuditEvent, AuditLog, ChangeEffects, MfaProof, MfaRepository, NewUser,
    SecretDigest, SessionKind, SessionRecord, SessionRepository, StorageHealth, StoreError,
    UserRepository,
};
use slugbase_domain::{
    AttemptPolicy, AuditEventKind, AuditOutcome, DisplayName, Email, EncryptedSecret, LoginMethod,
    TotpStep, UserId,
};
use slugbase_infrastructure::sql::{SeaOrmStore, StoreOptions};
use slugbase_infrastructure::testing::{mysql_url, postgres_url};

fn t(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
}

fn new_user(email: &str) -> NewUser {
    NewUser {
        id: UserId::generate(),
        email: Email::parse(email).unwrap(),
        name: DisplayName::parse("U").unwrap(),
        login: LoginMethod::OidcOnly,
        oidc_provider: None,
        is_admin: false,
        created_at: t(0),
    }
}

async fn sqlite_store(dir: &tempfile::TempDir) -> SeaOrmStore {
    let url = format!("sqlite://{}/data/slugbase.db", dir.path().display());
    let store = SeaOrmStore::connect(&url).await.unwrap();
    store.migrate_with(slugbase_migration::up).await.unwrap();
    store
}

async fn pragma(store: &SeaOrmStore, name: &str) -> String {
    let db = store.connection();
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), format!("PRAGMA {name}")))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<String>(0)
        .or_else(|_| row.try_get_by_index::<i64>(0).map(|n| n.to_string()))
        .unwrap()
}

/// An MFA change's effects that only record a `kind` event.
fn audited(user: UserId, kind: AuditEventKind) -> ChangeEffects {
    ChangeEffects::audited(AuditEvent {
        at: t(0),
        user_id: Some(user),
        actor_id: None,
        kind,
        outcome: AuditOutcome::Success,
        proof: None,
        detail: None,
        client_addr: None,
        user_agent: None,
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_creates_its_file_and_runs_with_wal_foreign_keys_and_a_busy_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    assert!(dir.path().join("data/slugbase.db").is_file(), "file and directory created");
    assert_eq!(pragma(&store, "journal_mode").await, "wal");
    assert_eq!(pragma(&store, "foreign_keys").await, "1");
    assert_eq!(pragma(&store, "busy_timeout").await, "5000");
    assert_eq!(pragma(&store, "synchronous").await, "1", "NORMAL");
    store.ping().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unsupported_url_is_refused() {
    let err = SeaOrmStore::connect("oracle://localhost/x").await.unwrap_err();
    assert!(matches!(err, StoreError::Other(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_postgresql_server_that_is_down_is_unavailable_quickly() {
    let started = Instant::now();
    // Port 1 on the loopback: nothing listens there.
    let err = SeaOrmStore::connect("postgres://u:p@127.0.0.1:1/slugbase").await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(15), "took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mysql_server_that_is_down_is_unavailable_quickly() {
    let started = Instant::now();
    let err = SeaOrmStore::connect("mysql://u:p@127.0.0.1:1/slugbase").await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(15), "took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_pool_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    let other = store.clone();
    store.close().await.unwrap();
    let err = other.ping().await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

async fn duplicate_email_is_named(store: &SeaOrmStore) {
    UserRepository::create(store, new_user("dup@example.com")).await.unwrap();
    let err = UserRepository::create(store, new_user("dup@example.com")).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("users.email")), "{err:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_duplicate_email_is_a_conflict_naming_the_rule_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    duplicate_email_is_named(&sqlite_store(&dir).await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_duplicate_email_is_a_conflict_naming_the_rule_on_postgresql() {
    let Some(url) = postgres_url().await else { return };
    let store = SeaOrmStore::connect(&url).await.unwrap();
    store.migrate_with(slugbase_migration::up).await.unwrap();
    duplicate_email_is_named(&store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_duplicate_email_is_a_conflict_naming_the_rule_on_mysql() {
    let Some(url) = mysql_url().await else { return };
    let store = SeaOrmStore::connect(&url).await.unwrap();
    store.migrate_with(slugbase_migration::up).await.unwrap();
    duplicate_email_is_named(&store).await;
    // The binary collation: addresses differing only in accents or trailing spaces are
    // different users, as on SQLite and PostgreSQL (MySQL's default `_ci` collation would
    // call them duplicates). The domain lower-cases addresses itself.
    UserRepository::create(&store, new_user("rene@example.com")).await.unwrap();
    UserRepository::create(&store, new_user("ren\u{e9}@example.com")).await.unwrap();
    assert_eq!(
        store
            .find_by_email(&Email::parse("ren\u{e9}@example.com").unwrap())
            .await
            .unwrap()
            .map(|u| u.email),
        Some(Email::parse("ren\u{e9}@example.com").unwrap())
    );
}

/// Writers of every kind at once, through a small pool: every call succeeds (no
/// `SQLITE_BUSY`, no deadlock), and the counts add up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_writers_of_every_kind_at_once_never_fail() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/load.db", dir.path().display());
    let options = StoreOptions { max_connections: Some(4), ..StoreOptions::default() };
    let store = Arc::new(SeaOrmStore::connect_with(&url, &options).await.unwrap());
    store.migrate_with(slugbase_migration::up).await.unwrap();
    let user = UserRepository::create(&*store, new_user("load@example.com")).await.unwrap();
    let secret = EncryptedSecret::new("k1:x");
    assert!(store.begin_enrollment(user.id, secret.clone()).await.unwrap());
    let codes: Vec<SecretDigest> =
        (0..10).map(|i| SecretDigest::from_hex(format!("{i:064x}"))).collect();
    assert!(
        store
            .confirm_enrollment(
                user.id,
                &secret,
                TotpStep::new(1),
                codes.clone(),
                t(0),
                &audited(user.id, AuditEventKind::MfaEnrollConfirmSuccess)
            )
            .await
            .unwrap()
    );
    // Far above the 40 reservations below: every one of them must be granted and counted.
    let policy = AttemptPolicy { max_failures: 1000, window_secs: 900, lockout_after: None };

    let tasks: Vec<_> = (0..200u64)
        .map(|i| {
            let store = Arc::clone(&store);
            let codes = codes.clone();
            tokio::spawn(async move {
                match i % 5 {
                    0 => store.reserve("addr:load", &policy, t(1)).await.map(|_| ()),
                    1 => {
                        let proof = MfaProof::TotpStep(TotpStep::new(10 + i));
                        store.spend_proof(user.id, &proof, t(1)).await.map(|_| ())
                    }
                    2 => {
                        let proof = MfaProof::BackupCode(codes[(i % 10) as usize].clone());
                        let fresh = codes.clone();
                        let effects = audited(user.id, AuditEventKind::MfaBackupRegenerateSuccess);
                        let regenerated =
                            store.regenerate_with_proof(user.id, &proof, fresh, t(1), &effects);
                        regenerated.await.map(|_| ())
                    }
                    3 => {
                        let record = SessionRecord {
                            id_hash: SecretDigest::from_hex(format!("s{i:063x}")),
                            user_id: user.id,
                            kind: SessionKind::Full,
                            created_at: t(0),
                            last_seen_at: t(0),
                            expires_at: t(100),
                            failed_attempts: 0,
                            client_addr: None,
                            user_agent: None,
                        };
                        SessionRepository::create(&*store, record).await
                    }
                    _ => {
                        let event = AuditEvent {
                            at: t(1),
                            user_id: Some(user.id),
                            actor_id: None,
                            kind: AuditEventKind::LoginFail,
                            outcome: AuditOutcome::Failure("X".into()),
                            proof: None,
                            detail: None,
                            client_addr: None,
                            user_agent: None,
                        };
                        store.record(event).await
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().expect("no storage error under mixed load");
    }
    assert_eq!(store.get("addr:load").await.unwrap().unwrap().failures, 40);
    assert_eq!(store.delete_for_user(user.id, None).await.unwrap(), 40);
}

/// A statement stuck behind a row lock is cancelled by the server's statement timeout and
/// reported as unavailable, not left hanging.
#[tokio::test(flavor = "multi_thread")]
async fn a_postgresql_statement_stuck_on_a_lock_times_out_as_unavailable() {
    use sea_orm::TransactionTrait;
    let Some(url) = postgres_url().await else { return };
    let options = StoreOptions {
        postgres_statement_timeout: Duration::from_millis(300),
        ..StoreOptions::default()
    };
    let store = SeaOrmStore::connect_with(&url, &options).await.unwrap();
    store.migrate_with(slugbase_migration::up).await.unwrap();
    let user = UserRepository::create(&store, new_user("locked@example.com")).await.unwrap();
    let holder = store.connection().begin().await.unwrap();
    holder
        .execute_raw(Statement::from_sql_and_values(
            holder.get_database_backend(),
            "SELECT id FROM users WHERE id = $1 FOR UPDATE",
            [user.id.to_string().into()],
        ))
        .await
        .unwrap();
    let started = Instant::now();
    let proof = MfaProof::TotpStep(TotpStep::new(5));
    let effects = audited(user.id, AuditEventKind::MfaDisableSuccess);
    let err = store.disable_with_proof(user.id, &proof, t(1), &effects).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    holder.rollback().await.unwrap();
}

/// On MySQL/MariaDB the same: a statement waiting for a row lock gives up after the
/// statement timeout (InnoDB's lock wait, in whole seconds) as unavailable.
#[tokio::test(flavor = "multi_thread")]
async fn a_mysql_statement_stuck_on_a_lock_times_out_as_unavailable() {
    use sea_orm::TransactionTrait;
    let Some(url) = mysql_url().await else { return };
    let options = StoreOptions {
        postgres_statement_timeout: Duration::from_secs(1),
        ..StoreOptions::default()
    };
    let store = SeaOrmStore::connect_with(&url, &options).await.unwrap();
    store.migrate_with(slugbase_migration::up).await.unwrap();
    let user = UserRepository::create(&store, new_user("locked@example.com")).await.unwrap();
    let holder = store.connection().begin().await.unwrap();
    holder
        .execute_raw(Statement::from_sql_and_values(
            holder.get_database_backend(),
            "SELECT id FROM users WHERE id = ? FOR UPDATE",
            [user.id.to_string().into()],
        ))
        .await
        .unwrap();
    let started = Instant::now();
    let proof = MfaProof::TotpStep(TotpStep::new(5));
    let effects = audited(user.id, AuditEventKind::MfaDisableSuccess);
    let err = store.disable_with_proof(user.id, &proof, t(1), &effects).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    holder.rollback().await.unwrap();
}

/// Several instances starting at once on one empty database all migrate successfully.
async fn concurrent_migrations_succeed(url: &str) {
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(SeaOrmStore::connect(url).await.unwrap());
    }
    let results =
        futures::future::join_all(stores.iter().map(|s| s.migrate_with(slugbase_migration::up)))
            .await;
    for result in results {
        result.expect("every concurrent migration succeeds");
    }
    let db = stores[0].connection();
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM instance_setup",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<i64>("", "n").unwrap(), 1, "one set-up row");
    assert!(UserRepository::create(&stores[3], new_user("m@example.com")).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_migrating_one_sqlite_file_at_once_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    concurrent_migrations_succeed(&format!("sqlite://{}/m.db", dir.path().display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_migrating_one_postgresql_database_at_once_all_succeed() {
    let Some(url) = postgres_url().await else { return };
    concurrent_migrations_succeed(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_migrating_one_mysql_database_at_once_all_succeed() {
    let Some(url) = mysql_url().await else { return };
    concurrent_migrations_succeed(&url).await;
}
