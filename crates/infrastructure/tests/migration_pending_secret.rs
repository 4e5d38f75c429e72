//! Migration 000008 on every engine: a TOTP enrollment pending in the old layout (MFA off, a
//! secret in `mfa_secret`) moves to `mfa_pending_secret` and still reads as pending; an
//! enabled secret stays where it is; running the migrations again changes nothing.

#![expect(clippy::unwrap_used, reason = "a test fails loudly where a step does")]

use std::future::Future;
use std::pin::Pin;

use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr, Statement};
use slugbase_application::ports::UserRepository;
use slugbase_domain::{EncryptedSecret, MfaState, UserId};
use slugbase_infrastructure::sql::SeaOrmStore;
use slugbase_infrastructure::testing::{mysql_url, postgres_url};
use slugbase_migration::MigratorTrait as _;

/// The schema as it was before 000008: the first seven migrations.
fn up_to_seven(
    tx: &DatabaseTransaction,
) -> Pin<Box<dyn Future<Output = Result<(), DbErr>> + Send + '_>> {
    Box::pin(slugbase_migration::Migrator::up(tx, Some(7)))
}

/// Inserts a user row in the pre-000008 layout.
async fn insert(store: &SeaOrmStore, id: UserId, email: &str, enabled: bool, secret: &str) {
    let db = store.connection();
    let (flag, enrolled) = if enabled { ("TRUE", "1800000000000") } else { ("FALSE", "NULL") };
    let sql = format!(
        "INSERT INTO users (id, email, name, password_hash, oidc_provider, is_admin, \
         mfa_enabled, mfa_secret, mfa_enrolled_at, mfa_last_totp_step, created_at) \
         VALUES ('{id}', '{email}', 'N', NULL, 'p', FALSE, {flag}, '{secret}', {enrolled}, \
         NULL, 1800000000000)"
    );
    db.execute_raw(Statement::from_string(db.get_database_backend(), sql)).await.unwrap();
}

async fn pending_moves_and_enabled_stays(store: SeaOrmStore) {
    store.migrate_with(up_to_seven).await.unwrap();
    let (pending, enabled) = (UserId::generate(), UserId::generate());
    insert(&store, pending, "pending@example.com", false, "k1:pending").await;
    insert(&store, enabled, "enabled@example.com", true, "k1:enabled").await;

    store.migrate_with(slugbase_migration::up).await.unwrap();
    for _ in 0..2 {
        let user = store.find_by_id(pending).await.unwrap().unwrap();
        assert_eq!(user.mfa, MfaState::Pending { secret: EncryptedSecret::new("k1:pending") });
        let user = store.find_by_id(enabled).await.unwrap().unwrap();
        let MfaState::Enabled { secret, pending, .. } = user.mfa else { panic!("enabled") };
        assert_eq!((secret, pending), (Some(EncryptedSecret::new("k1:enabled")), None));
        // Again: nothing left to do, nothing changes.
        store.migrate_with(slugbase_migration::up).await.unwrap();
    }
    let db = store.connection();
    let sql = "SELECT COUNT(*) FROM users WHERE mfa_secret IS NOT NULL AND mfa_enabled = FALSE";
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql.to_owned()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get_by_index::<i64>(0).unwrap(), 0, "no pending secret left behind");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pending_enrollment_moves_to_its_own_column_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/data/slugbase.db", dir.path().display());
    pending_moves_and_enabled_stays(SeaOrmStore::connect(&url).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pending_enrollment_moves_to_its_own_column_on_postgresql() {
    let Some(url) = postgres_url().await else { return };
    pending_moves_and_enabled_stays(SeaOrmStore::connect(&url).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pending_enrollment_moves_to_its_own_column_on_mysql() {
    let Some(url) = mysql_url().await else { return };
    pending_moves_and_enabled_stays(SeaOrmStore::connect(&url).await.unwrap()).await;
}
