//! One stored row that no longer decodes never takes a list down (issue 22, item 3): the
//! row is written straight into the database with SQL — an e-mail address that grew past
//! 254 bytes when an older build lower-cased it, a display name that is empty — and the
//! list still answers, with the other rows intact and the damaged ones marked by their id.
//! On SQLite, PostgreSQL and MariaDB (skipped without a server, except under `CI=true`).

#![expect(clippy::unwrap_used, reason = "a test fails loudly where a step does")]

use chrono::DateTime;
use sea_orm::{ConnectionTrait, Statement, Value};
use slugbase_application::ports::{Listed, NewUser, UserRepository};
use slugbase_domain::{DisplayName, Email, LoginMethod, UserId};
use slugbase_infrastructure::sql::SeaOrmStore;
use slugbase_infrastructure::testing::{mysql_url, postgres_url};

fn new_user(email: &str, secs: i64) -> NewUser {
    NewUser {
        id: UserId::generate(),
        email: Email::parse(email).unwrap(),
        name: DisplayName::parse("U").unwrap(),
        login: LoginMethod::OidcOnly,
        oidc_provider: None,
        is_admin: false,
        created_at: DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap(),
    }
}

/// Overwrites `column` of user `id` with `value`, past every rule of the application.
async fn damage(store: &SeaOrmStore, id: UserId, column: &str, value: &str) {
    let db = store.connection();
    let backend = db.get_database_backend();
    let sql = match backend {
        sea_orm::DatabaseBackend::Postgres => {
            format!("UPDATE users SET {column} = $1 WHERE id = $2")
        }
        _ => format!("UPDATE users SET {column} = ? WHERE id = ?"),
    };
    let values: [Value; 2] = [value.into(), id.to_string().into()];
    let done = db.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await.unwrap();
    assert_eq!(done.rows_affected(), 1);
}

async fn a_damaged_user_row_is_listed_as_damaged_and_the_others_stay(store: SeaOrmStore) {
    store.migrate().await.unwrap();
    let first = store.create(new_user("first@example.com", 1)).await.unwrap();
    let grown = store.create(new_user("grown@example.com", 2)).await.unwrap();
    let nameless = store.create(new_user("nameless@example.com", 3)).await.unwrap();
    let last = store.create(new_user("last@example.com", 4)).await.unwrap();
    // "a@" + "Ⱥ"×100 + ".io" as the former `Email::parse` stored it: 305 bytes.
    let grown_email = format!("a@{}.io", "\u{2c65}".repeat(100));
    damage(&store, grown.id, "email", &grown_email).await;
    damage(&store, nameless.id, "name", "").await;

    let listed = store.list().await.expect("the list answers despite the damaged rows");
    assert_eq!(listed.len(), 4, "{listed:?}");
    assert_eq!(listed[0], Listed::Ok(first.clone()));
    assert_eq!(listed[3], Listed::Ok(last.clone()));
    for (entry, id, problem) in
        [(&listed[1], grown.id, "email"), (&listed[2], nameless.id, "display name")]
    {
        let Listed::Damaged(row) = entry else { panic!("not marked damaged: {entry:?}") };
        assert_eq!(row.id, id.to_string());
        assert_eq!(row.problem, format!("corrupt stored data: {problem}"));
        assert!(!row.problem.contains('\u{2c65}'), "the stored value is never shown");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn on_sqlite_a_damaged_user_row_does_not_fail_the_list() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/slugbase.db", dir.path().display());
    a_damaged_user_row_is_listed_as_damaged_and_the_others_stay(
        SeaOrmStore::connect(&url).await.unwrap(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn on_postgresql_a_damaged_user_row_does_not_fail_the_list() {
    let Some(url) = postgres_url().await else { return };
    a_damaged_user_row_is_listed_as_damaged_and_the_others_stay(
        SeaOrmStore::connect(&url).await.unwrap(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn on_mariadb_a_damaged_user_row_does_not_fail_the_list() {
    let Some(url) = mysql_url().await else { return };
    a_damaged_user_row_is_listed_as_damaged_and_the_others_stay(
        SeaOrmStore::connect(&url).await.unwrap(),
    )
    .await;
}
