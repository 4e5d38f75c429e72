//! One stored row that no longer decodes never takes a list down (issue 22, item 3). Rows are
//! damaged straight in the database with SQL — a user's e-mail that grew past 254 bytes when
//! an older build lower-cased it, an empty display name, an audit event of a kind this build
//! does not know — and the user list and the audit log still answer, with the other rows
//! intact and the damaged ones marked by their id. The same for a user's API tokens, a user's
//! sessions and the outbox (a time out of range, a kind this build does not know), and, on
//! SQLite, which stores any type in any column, a value of the wrong type. On SQLite,
//! PostgreSQL and MariaDB (skipped without a server, except under `CI=true`).

#![expect(clippy::unwrap_used, reason = "a test fails loudly where a step does")]

use chrono::DateTime;
use sea_orm::{ConnectionTrait, Statement, Value};
use slugbase_application::ports::{
    ApiTokenRecord, ApiTokenRepository, AuditEvent, AuditLog, AuditQuery, Listed, NewUser, Notice,
    OutboxQuery, OutboxRepository, SecretDigest, SessionKind, SessionRecord, SessionRepository,
    UserRepository,
};
use slugbase_domain::{
    ApiTokenId, AuditEventKind, AuditOutcome, DisplayName, Email, LoginMethod, NoticeId,
    NoticeKind, NoticeStatus, UserId,
};
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
    damage_keyed(store, table, ("id", id), column, value.into()).await;
}

/// Overwrites `column` of the `table` row whose `key.0` is `key.1` with `value`.
async fn damage_keyed(
    store: &SeaOrmStore,
    table: &str,
    key: (&str, Value),
    column: &str,
    value: Value,
) {
    let db = store.connection();
    let backend = db.get_database_backend();
    let (key, id) = key;
    let sql = match backend {
        sea_orm::DatabaseBackend::Postgres => {
            format!("UPDATE {table} SET {column} = $1 WHERE {key} = $2")
        }
        _ => format!("UPDATE {table} SET {column} = ? WHERE {key} = ?"),
    };
    let values: [Value; 2] = [value, id];
    let done = db.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await.unwrap();
    assert_eq!(done.rows_affected(), 1);
}

async fn damaged_rows_are_listed_as_damaged_and_the_others_stay(store: SeaOrmStore) {
    store.migrate_with(slugbase_migration::up).await.unwrap();
    let first = UserRepository::create(&store, new_user("first@example.com", 1)).await.unwrap();
    let grown = UserRepository::create(&store, new_user("grown@example.com", 2)).await.unwrap();
    let nameless =
        UserRepository::create(&store, new_user("nameless@example.com", 3)).await.unwrap();
    let last = UserRepository::create(&store, new_user("last@example.com", 4)).await.unwrap();
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

fn at(secs: i64) -> DateTime<chrono::Utc> {
    DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
}

fn token(user: UserId, name: &str, secs: i64) -> ApiTokenRecord {
    ApiTokenRecord {
        id: ApiTokenId::generate(),
        user_id: user,
        name: name.to_owned(),
        token_hash: SecretDigest::from_hex(format!("{:064x}", secs)),
        created_at: at(secs),
        last_used_at: None,
    }
}

fn session(user: UserId, secs: i64) -> SessionRecord {
    SessionRecord {
        id_hash: SecretDigest::from_hex(format!("{:064x}", 1000 + secs)),
        user_id: user,
        kind: SessionKind::Full,
        created_at: at(secs),
        last_seen_at: at(secs),
        expires_at: at(secs + 3600),
        failed_attempts: 0,
        client_addr: None,
        user_agent: None,
    }
}

fn notice(user: UserId, secs: i64) -> Notice {
    Notice {
        id: NoticeId::generate(),
        kind: NoticeKind::PasswordChanged,
        user_id: Some(user),
        recipient: "owner@example.com".to_owned(),
        at: at(secs),
        client_addr: None,
        user_agent: None,
        codes_left: None,
        subject: None,
    }
}

/// Tokens, sessions and notices: three each, the middle one damaged by `damage` (given the
/// table, its key column and the row's key); the list answers with the first and last intact
/// and the middle one marked by its key, and the strict read refuses it.
async fn other_lists_survive_a_damaged_row(store: &SeaOrmStore, column_damage: Damage) {
    let owner = UserRepository::create(store, new_user("owner@example.com", 10)).await.unwrap();
    let tokens = [token(owner.id, "a", 1), token(owner.id, "b", 2), token(owner.id, "c", 3)];
    for t in &tokens {
        ApiTokenRepository::create(store, t.clone()).await.unwrap();
    }
    let key = tokens[1].id.to_string();
    column_damage.apply(store, "api_tokens", ("id", key.clone().into())).await;
    let listed = store.list_for_user_listed(owner.id).await.expect("the token list answers");
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert_eq!(listed[0], Listed::Ok(tokens[0].clone()));
    assert_eq!(listed[2], Listed::Ok(tokens[2].clone()));
    let Listed::Damaged(row) = &listed[1] else { panic!("not marked damaged: {listed:?}") };
    assert_eq!(row.id, key, "a token is named by its row id, never its hash");
    assert_eq!(row.problem, column_damage.problem());
    assert!(store.list_for_user(owner.id).await.is_err(), "the strict read refuses it");

    let sessions = [session(owner.id, 1), session(owner.id, 2), session(owner.id, 3)];
    for s in &sessions {
        SessionRepository::create(store, s.clone()).await.unwrap();
    }
    let key = sessions[1].id_hash.as_str().to_owned();
    column_damage.apply(store, "sessions", ("id_hash", key.clone().into())).await;
    let listed = store.sessions_of_listed(owner.id).await.expect("the session list answers");
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert_eq!(listed[0], Listed::Ok(sessions[0].clone()));
    assert_eq!(listed[2], Listed::Ok(sessions[2].clone()));
    let Listed::Damaged(row) = &listed[1] else { panic!("not marked damaged: {listed:?}") };
    // The stored digest, for the application to turn into the public handle (not logged).
    assert_eq!(row.id, key);
    assert_eq!(row.problem, column_damage.session_problem());
    assert!(store.sessions_of(owner.id).await.is_err(), "the strict read refuses it");

    let notices = [notice(owner.id, 1), notice(owner.id, 2), notice(owner.id, 3)];
    for n in &notices {
        store.enqueue(n.clone()).await.unwrap();
    }
    let key = notices[1].id.to_string();
    column_damage.apply(store, "outbox", ("id", key.clone().into())).await;
    let page = OutboxQuery { status: None, limit: 10, offset: 0 };
    let listed = store.list_notices_listed(page.clone()).await.expect("the outbox answers");
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert_eq!(listed[0].as_ok().map(|m| m.notice.id), Some(notices[2].id));
    assert_eq!(listed[2].as_ok().map(|m| m.notice.id), Some(notices[0].id));
    let Listed::Damaged(row) = &listed[1] else { panic!("not marked damaged: {listed:?}") };
    assert_eq!(row.id, key);
    assert_eq!(row.problem, column_damage.notice_problem());
    assert!(!row.problem.contains("owner@"), "never the recipient");
    assert!(store.list_notices(page.clone()).await.is_err(), "the strict read refuses it");

    // Delivery: the damaged notice does not fail the batch (which would stop all delivery);
    // it is marked failed and leaves every later batch.
    if matches!(column_damage, Damage::Values) {
        let claimed = store.claim_due(at(100), at(160), 10).await.expect("the claim answers");
        let ids: Vec<NoticeId> = claimed.iter().map(|m| m.notice.id).collect();
        assert_eq!(ids, [notices[0].id, notices[2].id]);
        // Within the lease: the two are still claimed, and the damaged one is no longer pending.
        assert!(store.claim_due(at(150), at(210), 10).await.unwrap().is_empty());
        let failed = OutboxQuery { status: Some(NoticeStatus::Failed), limit: 10, offset: 0 };
        let failed = store.list_notices_listed(failed).await.unwrap();
        assert!(matches!(&failed[..], [Listed::Damaged(row)] if row.id == key), "{failed:?}");
    }
}

/// How a row is damaged.
#[derive(Clone, Copy)]
enum Damage {
    /// Values the domain refuses: a time out of range (tokens), a kind this build does not
    /// know (sessions, notices). Every engine.
    Values,
    /// Text in an integer column (SQLite only: it stores any type in any column).
    WrongType,
}

impl Damage {
    async fn apply(self, store: &SeaOrmStore, table: &str, key: (&str, Value)) {
        let (column, value): (&str, Value) = match (self, table) {
            (Self::Values, "api_tokens") => ("last_used_at", i64::MAX.into()),
            (Self::Values, _) => ("kind", "no_such_kind".into()),
            // Not a column the list is ordered by: the row keeps its place.
            (Self::WrongType, "api_tokens") => ("last_used_at", "soon".into()),
            (Self::WrongType, "sessions") => ("last_seen_at", "soon".into()),
            (Self::WrongType, _) => ("attempts", "many".into()),
        };
        damage_keyed(store, table, key, column, value).await;
    }

    fn problem(self) -> &'static str {
        match self {
            Self::Values => "corrupt stored data: time out of range",
            Self::WrongType => "corrupt stored data: a column holds a value of the wrong type",
        }
    }

    fn session_problem(self) -> &'static str {
        match self {
            Self::Values => "corrupt stored data: session kind",
            Self::WrongType => self.problem(),
        }
    }

    fn notice_problem(self) -> &'static str {
        match self {
            Self::Values => "corrupt stored data: notice kind",
            Self::WrongType => self.problem(),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn on_sqlite_a_damaged_token_session_or_notice_fails_none_of_their_lists() {
    for damage in [Damage::Values, Damage::WrongType] {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/slugbase.db", dir.path().display());
        let store = SeaOrmStore::connect(&url).await.unwrap();
        store.migrate_with(slugbase_migration::up).await.unwrap();
        other_lists_survive_a_damaged_row(&store, damage).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn on_postgresql_a_damaged_token_session_or_notice_fails_none_of_their_lists() {
    let Some(url) = postgres_url().await else { return };
    let store = SeaOrmStore::connect(&url).await.unwrap();
    store.migrate_with(slugbase_migration::up).await.unwrap();
    other_lists_survive_a_damaged_row(&store, Damage::Values).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn on_mariadb_a_damaged_token_session_or_notice_fails_none_of_their_lists() {
    let Some(url) = mysql_url().await else { return };
    let store = SeaOrmStore::connect(&url).await.unwrap();
    store.migrate_with(slugbase_migration::up).await.unwrap();
    other_lists_survive_a_damaged_row(&store, Damage::Values).await;
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

/// SQLite stores any type in any column: a user whose stored time is text is one damaged
/// row, not a driver error for the whole list.
#[tokio::test(flavor = "multi_thread")]
async fn on_sqlite_a_value_of_the_wrong_type_is_one_damaged_user_not_a_failed_list() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/slugbase.db", dir.path().display());
    let store = SeaOrmStore::connect(&url).await.unwrap();
    store.migrate_with(slugbase_migration::up).await.unwrap();
    let first = UserRepository::create(&store, new_user("first@example.com", 1)).await.unwrap();
    let odd = UserRepository::create(&store, new_user("odd@example.com", 2)).await.unwrap();
    damage_keyed(
        &store,
        "users",
        ("id", odd.id.to_string().into()),
        "mfa_enrolled_at",
        "soon".into(),
    )
    .await;
    let listed = store.list().await.expect("the list answers");
    assert_eq!(listed[0], Listed::Ok(first));
    let Listed::Damaged(row) = &listed[1] else { panic!("not marked damaged: {listed:?}") };
    assert_eq!(row.id, odd.id.to_string());
    assert_eq!(row.problem, "corrupt stored data: a column holds a value of the wrong type");
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
