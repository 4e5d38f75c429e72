//! The migrations give SQLite, PostgreSQL and MySQL/MariaDB the same schema: same tables, same columns
//! (with nullability and a normalised type class), same indexes (with uniqueness), same
//! foreign keys (with their delete rule) — and running them again on a migrated database
//! changes nothing.
//!
//! And the sea-orm entities match that schema on every backend: every table has an entity,
//! every entity column exists in its table with a compatible type and the same nullability,
//! and every table column has an entity field — so a column renamed on one side fails here,
//! not in a request.

use std::collections::BTreeMap;

use sea_orm::{
    ColumnTrait as _, ColumnType, ConnectionTrait, DatabaseConnection, EntityTrait,
    IdenStatic as _, Iterable as _, Statement,
};
use slugbase_infrastructure::sql::SeaOrmStore;
use slugbase_infrastructure::sql::entity::{
    api_tokens, attempt_counters, audit_events, backup_codes, imported_accounts, instance_setup,
    oidc_flows, oidc_identities, oidc_session_auth, outbox, passkeys, sessions, users,
    webauthn_ceremonies,
};
use slugbase_infrastructure::testing::{mysql_url, postgres_url};

/// table -> what the schema says about it.
type Schema = BTreeMap<String, Table>;

/// column -> (type class, nullable)
type Columns = BTreeMap<String, (String, bool)>;

#[derive(Debug, Default, PartialEq, Eq)]
struct Table {
    columns: Columns,
    /// index name (primary keys excluded: their names are backend-specific) -> unique
    indexes: BTreeMap<String, bool>,
    /// (column, referenced table, referenced column, on delete)
    foreign_keys: Vec<(String, String, String, String)>,
}

/// A backend's type name reduced to what matters for behaviour (MySQL's `BOOLEAN` is
/// `tinyint(1)`; its `VARCHAR(n)` keys are text like the others' `TEXT`).
fn type_class(raw: &str) -> String {
    let t = raw.to_lowercase();
    if t == "tinyint(1)" {
        "boolean".into()
    } else if t.contains("int") {
        "integer".into()
    } else if t.contains("bool") {
        "boolean".into()
    } else if t.contains("char") || t.contains("text") || t.contains("clob") {
        "text".into()
    } else {
        t
    }
}

async fn rows(db: &DatabaseConnection, sql: &str) -> Vec<sea_orm::QueryResult> {
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn text(row: &sea_orm::QueryResult, col: &str) -> String {
    row.try_get::<String>("", col).unwrap_or_else(|e| panic!("{col}: {e}"))
}

fn int(row: &sea_orm::QueryResult, col: &str) -> i64 {
    row.try_get::<i64>("", col).unwrap_or_else(|e| panic!("{col}: {e}"))
}

async fn sqlite_schema(db: &DatabaseConnection) -> Schema {
    let mut schema = Schema::new();
    let tables = rows(
        db,
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    )
    .await;
    for t in tables {
        let name = text(&t, "name");
        let mut table = Table::default();
        for c in rows(db, &format!("PRAGMA table_info('{name}')")).await {
            let nullable = int(&c, "notnull") == 0 && int(&c, "pk") == 0;
            table.columns.insert(text(&c, "name"), (type_class(&text(&c, "type")), nullable));
        }
        for i in rows(db, &format!("PRAGMA index_list('{name}')")).await {
            if text(&i, "origin") == "pk" {
                continue;
            }
            table.indexes.insert(text(&i, "name"), int(&i, "unique") == 1);
        }
        for f in rows(db, &format!("PRAGMA foreign_key_list('{name}')")).await {
            table.foreign_keys.push((
                text(&f, "from"),
                text(&f, "table"),
                text(&f, "to"),
                text(&f, "on_delete").to_uppercase(),
            ));
        }
        table.foreign_keys.sort();
        schema.insert(name, table);
    }
    schema
}

async fn postgres_schema(db: &DatabaseConnection) -> Schema {
    let mut schema = Schema::new();
    let tables = rows(
        db,
        "SELECT table_name::text AS name FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    )
    .await;
    for t in tables {
        let name = text(&t, "name");
        let mut table = Table::default();
        let columns = rows(
            db,
            &format!(
                "SELECT column_name::text AS name, data_type::text AS type, \
                 is_nullable::text AS nullable FROM information_schema.columns \
                 WHERE table_schema = 'public' AND table_name = '{name}'"
            ),
        )
        .await;
        for c in columns {
            let nullable = text(&c, "nullable") == "YES";
            table.columns.insert(text(&c, "name"), (type_class(&text(&c, "type")), nullable));
        }
        let indexes = rows(
            db,
            &format!(
                "SELECT i.relname::text AS name, x.indisunique AS is_unique FROM pg_index x \
                 JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid \
                 JOIN pg_namespace n ON n.oid = t.relnamespace \
                 WHERE n.nspname = 'public' AND t.relname = '{name}' AND NOT x.indisprimary"
            ),
        )
        .await;
        for i in indexes {
            let unique = i.try_get::<bool>("", "is_unique").expect("is_unique");
            table.indexes.insert(text(&i, "name"), unique);
        }
        let fks = rows(
            db,
            &format!(
                "SELECT kcu.column_name::text AS col, ccu.table_name::text AS ref_table, \
                 ccu.column_name::text AS ref_col, rc.delete_rule::text AS on_delete \
                 FROM information_schema.referential_constraints rc \
                 JOIN information_schema.key_column_usage kcu \
                   ON kcu.constraint_name = rc.constraint_name \
                  AND kcu.constraint_schema = rc.constraint_schema \
                 JOIN information_schema.constraint_column_usage ccu \
                   ON ccu.constraint_name = rc.unique_constraint_name \
                  AND ccu.constraint_schema = rc.unique_constraint_schema \
                 WHERE kcu.table_schema = 'public' AND kcu.table_name = '{name}'"
            ),
        )
        .await;
        for f in fks {
            table.foreign_keys.push((
                text(&f, "col"),
                text(&f, "ref_table"),
                text(&f, "ref_col"),
                text(&f, "on_delete").to_uppercase(),
            ));
        }
        table.foreign_keys.sort();
        schema.insert(name, table);
    }
    schema
}

async fn mysql_schema(db: &DatabaseConnection) -> Schema {
    let mut schema = Schema::new();
    // Raw: catalogue queries; CAST because MariaDB reports some catalogue columns as binary.
    let tables = rows(
        db,
        "SELECT CAST(table_name AS CHAR) AS name FROM information_schema.tables \
         WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'",
    )
    .await;
    for t in tables {
        let name = text(&t, "name");
        let mut table = Table::default();
        let columns = rows(
            db,
            &format!(
                "SELECT CAST(column_name AS CHAR) AS name, CAST(column_type AS CHAR) AS type, \
                 CAST(is_nullable AS CHAR) AS nullable FROM information_schema.columns \
                 WHERE table_schema = DATABASE() AND table_name = '{name}'"
            ),
        )
        .await;
        for c in columns {
            let nullable = text(&c, "nullable") == "YES";
            table.columns.insert(text(&c, "name"), (type_class(&text(&c, "type")), nullable));
        }
        let fks = rows(
            db,
            &format!(
                "SELECT CAST(k.column_name AS CHAR) AS col, \
                 CAST(k.referenced_table_name AS CHAR) AS ref_table, \
                 CAST(k.referenced_column_name AS CHAR) AS ref_col, \
                 CAST(r.delete_rule AS CHAR) AS on_delete, \
                 CAST(k.constraint_name AS CHAR) AS constraint_name \
                 FROM information_schema.key_column_usage k \
                 JOIN information_schema.referential_constraints r \
                   ON r.constraint_schema = k.constraint_schema \
                  AND r.constraint_name = k.constraint_name \
                 WHERE k.table_schema = DATABASE() AND k.table_name = '{name}' \
                   AND k.referenced_table_name IS NOT NULL"
            ),
        )
        .await;
        let mut fk_names = Vec::new();
        for f in fks {
            fk_names.push(text(&f, "constraint_name"));
            table.foreign_keys.push((
                text(&f, "col"),
                text(&f, "ref_table"),
                text(&f, "ref_col"),
                text(&f, "on_delete").to_uppercase(),
            ));
        }
        table.foreign_keys.sort();
        let indexes = rows(
            db,
            &format!(
                "SELECT DISTINCT CAST(index_name AS CHAR) AS name, non_unique \
                 FROM information_schema.statistics \
                 WHERE table_schema = DATABASE() AND table_name = '{name}' \
                   AND index_name <> 'PRIMARY'"
            ),
        )
        .await;
        for i in indexes {
            let index = text(&i, "name");
            // InnoDB's own index for a foreign key no other index covers, named after the
            // constraint: an engine requirement, not part of the schema.
            if fk_names.contains(&index) {
                continue;
            }
            table.indexes.insert(index, int(&i, "non_unique") == 0);
        }
        schema.insert(name, table);
    }
    schema
}

/// The migrator's own bookkeeping table, which has no entity.
const MIGRATIONS_TABLE: &str = "seaql_migrations";

/// An entity's column type reduced to the classes of [`type_class`].
fn entity_type_class(ty: &ColumnType) -> String {
    match ty {
        ColumnType::TinyInteger
        | ColumnType::SmallInteger
        | ColumnType::Integer
        | ColumnType::BigInteger => "integer".into(),
        ColumnType::Boolean => "boolean".into(),
        ColumnType::Text | ColumnType::String(_) | ColumnType::Char(_) => "text".into(),
        other => format!("{other:?}"),
    }
}

/// An entity's table name and its columns as (type class, nullable).
fn entity_table<E: EntityTrait>() -> (String, Columns) {
    let columns = E::Column::iter()
        .map(|col| {
            let def = col.def();
            (col.as_str().to_owned(), (entity_type_class(def.get_column_type()), def.is_null()))
        })
        .collect();
    (E::default().table_name().to_owned(), columns)
}

/// Every entity of the storage adapter.
fn entities() -> Vec<(String, Columns)> {
    vec![
        entity_table::<users::Entity>(),
        entity_table::<oidc_identities::Entity>(),
        entity_table::<oidc_flows::Entity>(),
        entity_table::<oidc_session_auth::Entity>(),
        entity_table::<backup_codes::Entity>(),
        entity_table::<sessions::Entity>(),
        entity_table::<api_tokens::Entity>(),
        entity_table::<audit_events::Entity>(),
        entity_table::<attempt_counters::Entity>(),
        entity_table::<instance_setup::Entity>(),
        entity_table::<outbox::Entity>(),
        entity_table::<passkeys::Entity>(),
        entity_table::<webauthn_ceremonies::Entity>(),
        entity_table::<imported_accounts::Entity>(),
    ]
}

/// Where the entities and a migrated schema disagree; empty when they match.
fn entity_mismatches(schema: &Schema) -> Vec<String> {
    let mut problems = Vec::new();
    let entities = entities();
    for (table, columns) in &entities {
        let Some(live) = schema.get(table) else {
            problems.push(format!("entity table {table} does not exist"));
            continue;
        };
        for (col, shape) in columns {
            match live.columns.get(col) {
                None => problems.push(format!("entity column {table}.{col} does not exist")),
                Some(found) if found != shape => problems.push(format!(
                    "{table}.{col}: entity says {shape:?}, the table {found:?} (type, nullable)"
                )),
                Some(_) => {}
            }
        }
        for col in live.columns.keys().filter(|col| !columns.contains_key(*col)) {
            problems.push(format!("column {table}.{col} has no entity field"));
        }
    }
    for table in schema.keys().filter(|t| *t != MIGRATIONS_TABLE) {
        if !entities.iter().any(|(name, _)| name == table) {
            problems.push(format!("table {table} has no entity"));
        }
    }
    problems
}

/// Migrates twice (the second run must be a no-op) through two separate connections.
async fn migrated_twice(url: &str) -> SeaOrmStore {
    let first = SeaOrmStore::connect(url).await.expect("connect");
    first.migrate_with(slugbase_migration::up).await.expect("migrate an empty database");
    first.close().await.expect("close");
    let second = SeaOrmStore::connect(url).await.expect("reconnect");
    second.migrate_with(slugbase_migration::up).await.expect("migrate a migrated database");
    second.migrate_with(slugbase_migration::up).await.expect("and again");
    second
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_postgresql_and_mysql_get_the_same_tables_columns_indexes_and_keys() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite_url = format!("sqlite://{}/schema.db", dir.path().display());
    let sqlite = migrated_twice(&sqlite_url).await;
    let lite = sqlite_schema(sqlite.connection()).await;

    for table in [
        "users",
        "oidc_identities",
        "backup_codes",
        "sessions",
        "api_tokens",
        "audit_events",
        "attempt_counters",
        "instance_setup",
        "outbox",
    ] {
        assert!(lite.contains_key(table), "{table} exists");
    }
    let cascades = ["oidc_identities", "backup_codes", "sessions", "api_tokens"];
    for table in cascades {
        assert_eq!(
            lite[table].foreign_keys,
            [("user_id".into(), "users".into(), "id".into(), "CASCADE".into())],
            "{table} cascades from users"
        );
    }
    assert!(lite["audit_events"].foreign_keys.is_empty(), "audit events outlive users");
    assert!(lite["imported_accounts"].foreign_keys.is_empty(), "import records outlive users");
    assert_eq!(lite["imported_accounts"].indexes.get("ux_imported_accounts_source"), Some(&true));
    assert_eq!(lite["users"].indexes.get("ux_users_email"), Some(&true));
    assert_eq!(lite["users"].columns["password_hash"], ("text".into(), true));
    assert_eq!(lite["users"].columns["mfa_last_totp_step"], ("integer".into(), true));

    if let Some(pg_url) = postgres_url().await {
        let postgres = migrated_twice(&pg_url).await;
        let pg = postgres_schema(postgres.connection()).await;
        assert_eq!(lite, pg, "SQLite (left) and PostgreSQL (right) schemas differ");
    }
    if let Some(my_url) = mysql_url().await {
        let mysql = migrated_twice(&my_url).await;
        let my = mysql_schema(mysql.connection()).await;
        assert_eq!(lite, my, "SQLite (left) and MySQL/MariaDB (right) schemas differ");
    }
}

/// On MySQL/MariaDB every table compares text byte for byte (binary, no-pad collation), as
/// SQLite and PostgreSQL do: e-mail uniqueness and the id order mean the same everywhere.
#[tokio::test(flavor = "multi_thread")]
async fn every_mysql_table_compares_text_byte_for_byte() {
    let Some(url) = mysql_url().await else { return };
    let store = migrated_twice(&url).await;
    let tables = rows(
        store.connection(),
        "SELECT CAST(table_name AS CHAR) AS name, CAST(table_collation AS CHAR) AS collation, \
         CAST(engine AS CHAR) AS engine FROM information_schema.tables \
         WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' \
           AND table_name <> 'seaql_migrations'",
    )
    .await;
    assert_eq!(
        tables.len(),
        14,
        "every table (8 initial, OIDC flows and session auth, outbox, passkeys and their \
         ceremonies, imported accounts)"
    );
    for t in tables {
        let name = text(&t, "name");
        assert!(
            ["utf8mb4_nopad_bin", "utf8mb4_0900_bin"].contains(&text(&t, "collation").as_str()),
            "{name}: {}",
            text(&t, "collation")
        );
        assert_eq!(text(&t, "engine"), "InnoDB", "{name}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_entities_match_the_migrated_schema_on_sqlite_postgresql_and_mysql() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = migrated_twice(&format!("sqlite://{}/entities.db", dir.path().display())).await;
    let lite = sqlite_schema(sqlite.connection()).await;
    assert_eq!(entity_mismatches(&lite), Vec::<String>::new(), "SQLite");

    if let Some(pg_url) = postgres_url().await {
        let postgres = migrated_twice(&pg_url).await;
        let pg = postgres_schema(postgres.connection()).await;
        assert_eq!(entity_mismatches(&pg), Vec::<String>::new(), "PostgreSQL");
    }
    if let Some(my_url) = mysql_url().await {
        let mysql = migrated_twice(&my_url).await;
        let my = mysql_schema(mysql.connection()).await;
        assert_eq!(entity_mismatches(&my), Vec::<String>::new(), "MySQL/MariaDB");
    }
}

/// The check itself: a column renamed in the schema (or, the same seen from the other side,
/// in an entity), a changed type, a changed nullability and a new table are all reported.
#[tokio::test(flavor = "multi_thread")]
async fn a_renamed_retyped_or_unmapped_column_is_reported() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = migrated_twice(&format!("sqlite://{}/drift.db", dir.path().display())).await;
    let mut schema = sqlite_schema(sqlite.connection()).await;
    let users = schema.get_mut("users").expect("users");
    let flag = users.columns.remove("mfa_enabled").expect("mfa_enabled");
    users.columns.insert("mfa_on".into(), flag);
    users.columns.insert("created_at".into(), ("text".into(), false));
    let sessions = schema.get_mut("sessions").expect("sessions");
    sessions.columns.insert("expires_at".into(), ("integer".into(), true));
    schema.insert("webhooks".into(), Table::default());

    let problems = entity_mismatches(&schema);
    for expected in [
        "entity column users.mfa_enabled does not exist",
        "column users.mfa_on has no entity field",
        "users.created_at: entity says",
        "sessions.expires_at: entity says",
        "table webhooks has no entity",
    ] {
        assert!(problems.iter().any(|p| p.starts_with(expected)), "{expected}: {problems:#?}");
    }
    assert_eq!(problems.len(), 5, "{problems:#?}");
}
