//! One stored row that no longer decodes never takes a list down (issue 22, item 3). Rows are
//! damaged straight in the database with SQL — a user's e-mail that grew past 254 bytes when
//! an older build lower-cased it, an empty display name, an audit event of a kind this build
//! does not know — and the user list and the audit log still answer, with the other rows
//! intact and the damaged ones marked by their id. On SQLite, PostgreSQL and MariaDB (skipped
//! without a server, except under `CI=true`).

#![expect(clippy::unwrap_used, reason = "a test fails loudly where a step does")]

use chrono::DateTime;
use sea_orm::{ConnectionTrait, Statement, Value};
use slugbase_application::ports::{
    AuditEvent, AuditLog, AuditQuery, Listed, NewUser, UserRepository,
};
use slugbase_domain::{AuditEventKind, AuditOutcome, DisplayName, Email, LoginMethod, UserId};
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
    damage_row(store, "users", id.to_string().into(), column, value).await;
}

/// Overwrites `column` of the `table` row with the key `id` with `value`.
async fn damage_row(store: &SeaOrmStore, table: &str, id: Value, column: &str, value: &str) {
    let db = store.connection();
    let backend = db.get_database_backend();
    let sql = match backend {
        sea_orm::DatabaseBackend::Postgres => {
            format!("UPDATE {table} SET {column} = $1 WHERE id = $2")
        }
        _ => format!("UPDATE {table} SET {column} = ? WHERE id = ?"),
    };
    let values: [Value; 2] = [value.into(), id];
    let done = db.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await.unwrap();
    assert_eq!(done.rows_affected(), 1);
}

async fn damaged_rows_are_listed_as_damaged_and_the_others_stay(store: SeaOrmStore) {
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

    // The audit log: an event whose kind this build does not know.
    for kind in [AuditEventKind::LoginSuccess, AuditEventKind::Logout, AuditEventKind::LoginFail] {
        let event = AuditEvent {
            at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            user_id: Some(first.id),
            actor_id: None,
            kind,
            outcome: AuditOutcome::Success,
            proof: None,
            detail: None,
            client_addr: None,
            user_agent: None,
        };
        store.record(event).await.unwrap();
    }
    let page = AuditQuery { limit: 10, ..AuditQuery::default() };
    let events = store.query_listed(page.clone()).await.unwrap();
    let middle = events[1].as_ok().unwrap().id;
    damage_row(&store, "audit_events", middle.into(), "kind", "no_such_kind").await;
    let events = store.query_listed(page.clone()).await.expect("the page answers");
    assert_eq!(events.len(), 3, "{events:?}");
    assert!(events[0].as_ok().is_some() && events[2].as_ok().is_some(), "{events:?}");
    let Listed::Damaged(row) = &events[1] else { panic!("not marked damaged: {events:?}") };
    assert_eq!(row.id, middle.to_string());
    assert_eq!(row.problem, "corrupt stored data: audit event kind");
    // The strict read still refuses it (for the code that needs every event).
    assert!(store.query(page).await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn on_sqlite_damaged_rows_fail_neither_the_user_list_nor_the_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/slugbase.db", dir.path().display());
    damaged_rows_are_listed_as_damaged_and_the_others_stay(
        SeaOrmStore::connect(&url).await.unwrap(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn on_postgresql_damaged_rows_fail_neither_the_user_list_nor_the_audit_log() {
    let Some(url) = postgres_url().await else { return };
    damaged_rows_are_listed_as_damaged_and_the_others_stay(
        SeaOrmStore::connect(&url).await.unwrap(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn on_mariadb_damaged_rows_fail_neither_the_user_list_nor_the_audit_log() {
    let Some(url) = mysql_url().await else { return };
    damaged_rows_are_listed_as_damaged_and_the_others_stay(
        SeaOrmStore::connect(&url).await.unwrap(),
    )
    .await;
}
