//! Issue 26, "Done when": the SlugBase fixture (a database written by SlugBase itself, with
//! the environment it ran with and `truth.json`, what it means) imported into SQLite,
//! PostgreSQL and MariaDB, then checked user by user through the real HTTP API: passwords
//! (and their hash becoming Argon2id), TOTP secrets, backup codes (unused once, used
//! never), API tokens (active yes, revoked no), and the OIDC-only user signing in through
//! the real test OpenID provider at SlugBase's issuer. A second import changes nothing.
//!
//! The fixture is read from `$SLUGBASE_IMPORT_FIXTURE`, else the repository's copy in
//! `tests/fixtures/slugbase-import` (as handed over, with its FACTS.md and README.md);
//! without it each test prints a skip line (and fails under `CI=true`). PostgreSQL and MariaDB come from the infrastructure's harnesses
//! (a fresh database per test).
#![expect(clippy::unwrap_used, reason = "tests: a failure is a test failure")]

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use reqwest::StatusCode;
use serde_json::{Value, json};
use slugbase_application::ports::{AuditLog as _, AuditQuery, UserRepository as _};
use slugbase_domain::{AuditEventKind, Email, LoginMethod, PasswordHashKind};
use slugbase_infrastructure::crypto::SystemClock;
use slugbase_infrastructure::testing::{mysql_url, postgres_url};
use slugbase_server::config::{
    LoadOptions, Loaded, OidcProviderSettings, Profile, encode_key, load_adjusted, random_key,
};
use slugbase_server::import::{ImportReport, KeySources, UserResult, import_from};
use slugbase_server::root::{Root, Stores};
use slugbase_testkit::oidc::{
    CLIENT_ID, CLIENT_SECRET, OidcBrowser, OidcProvider, PROVIDER_KEY, callback_url, configure,
    free_port, wait_until_discovered,
};
use slugbase_testkit::{Api, Backend, TestApp, steps};

mod common;

use common::slugbase_fixture as fixture;

/// SlugBase's OIDC provider's issuer in the fixture: the test provider runs there, so the
/// imported link (SlugBase's `corpidp` → that issuer → our provider) is the real one.
const FIXTURE_ISSUER_PORT: u16 = 4461;

/// One test at a time runs the provider on the fixture's port.
static ISSUER_PORT: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The keys and provider both the importer and the service use.
#[derive(Clone)]
struct Shared {
    url: String,
    encryption: String,
    backup_code: String,
    csrf: String,
    issuer: String,
}

impl Shared {
    fn new(url: String) -> Self {
        Self {
            url,
            encryption: encode_key(&random_key()),
            backup_code: encode_key(&random_key()),
            csrf: encode_key(&random_key()),
            issuer: format!("http://127.0.0.1:{FIXTURE_ISSUER_PORT}"),
        }
    }

    fn apply(&self, c: &mut slugbase_server::config::Settings) {
        c.database.url.clone_from(&self.url);
        c.keys.encryption.insert(c.keys.encryption_current.clone(), self.encryption.clone());
        c.keys.backup_code.clone_from(&self.backup_code);
        c.keys.csrf.clone_from(&self.csrf);
        let mut provider = OidcProviderSettings::new(self.issuer.clone(), CLIENT_ID);
        provider.client_secret = CLIENT_SECRET.to_owned();
        c.oidc.providers.insert(PROVIDER_KEY.to_owned(), provider);
    }

    fn loaded(&self, dir: &std::path::Path) -> Loaded {
        let options = LoadOptions {
            profile: Profile::Test,
            config_dir: dir.join("no-config-dir"),
            config_file: None,
            env: Some(std::collections::BTreeMap::new()),
        };
        let shared = self.clone();
        load_adjusted(&options, move |c| shared.apply(c)).expect("test configuration")
    }
}

/// Where the import reads SlugBase from.
#[derive(Clone, Debug)]
enum Source {
    /// A copy of the fixture's SQLite file.
    Sqlite,
    /// The fixture's rows in a PostgreSQL database at this URL, with SlugBase's column types
    /// there (see [`slugbase_in_postgres`]).
    Postgres(String),
}

/// The fixture's auth tables copied into a fresh PostgreSQL database, typed as SlugBase's
/// `schema.sql` creates them on PostgreSQL: the SQLite file's declared types are that
/// file's rewrite of them (`TIMESTAMP` → `DATETIME`), so `BOOLEAN` stays BOOLEAN (true and
/// false, not 0 and 1), `DATETIME`/`TIMESTAMP` become TIMESTAMP (SQLite's literal
/// `'CURRENT_DATETIME'` is no time: NULL), `VARCHAR(n)` and `TEXT` stay. `None` without
/// PostgreSQL.
async fn slugbase_in_postgres(fixture: &std::path::Path) -> Option<String> {
    use sea_orm::{ConnectionTrait as _, Database, DbBackend, Statement, Value as SqlValue};

    let url = postgres_url().await?;
    let db = Database::connect(&url).await.unwrap();
    let sqlite = rusqlite::Connection::open_with_flags(
        fixture.join("slugbase.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    for table in ["users", "mfa_backup_codes", "api_tokens", "oidc_providers"] {
        let mut info = sqlite.prepare(&format!("PRAGMA table_info({table})")).unwrap();
        let columns: Vec<(String, String)> = info
            .query_map([], |row| Ok((row.get::<_, String>(1)?, row.get::<_, String>(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .map(|(name, declared)| {
                let pg = match declared.to_uppercase().as_str() {
                    "BOOLEAN" => "BOOLEAN".to_owned(),
                    "DATETIME" | "TIMESTAMP" => "TIMESTAMP".to_owned(),
                    "INTEGER" => "INTEGER".to_owned(),
                    other if other.starts_with("VARCHAR") => other.to_owned(),
                    _ => "TEXT".to_owned(),
                };
                (name, pg)
            })
            .collect();
        let definition =
            columns.iter().map(|(name, pg)| format!("{name} {pg}")).collect::<Vec<_>>().join(", ");
        db.execute_unprepared(&format!("CREATE TABLE {table} ({definition})")).await.unwrap();
        let names = columns.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>().join(", ");
        let placeholders = columns
            .iter()
            .enumerate()
            .map(|(i, (_, pg))| format!("CAST(${} AS {pg})", i + 1))
            .collect::<Vec<_>>()
            .join(", ");
        let insert = format!("INSERT INTO {table} ({names}) VALUES ({placeholders})");
        let mut rows = sqlite.prepare(&format!("SELECT {names} FROM {table}")).unwrap();
        let rows: Vec<Vec<SqlValue>> = rows
            .query_map([], |row| {
                Ok(columns
                    .iter()
                    .enumerate()
                    .map(|(i, (_, pg))| {
                        let value: rusqlite::types::Value = row.get(i).unwrap();
                        let text = match value {
                            rusqlite::types::Value::Null => None,
                            rusqlite::types::Value::Integer(n) if pg == "BOOLEAN" => {
                                Some((n != 0).to_string())
                            }
                            rusqlite::types::Value::Integer(n) => Some(n.to_string()),
                            rusqlite::types::Value::Text(text)
                                if pg == "TIMESTAMP"
                                    && slugbase_infrastructure::slugbase_source::parse_time(
                                        &text,
                                    )
                                    .is_none() =>
                            {
                                None
                            }
                            rusqlite::types::Value::Text(text) => Some(text),
                            other => panic!("{table}: unexpected {other:?}"),
                        };
                        SqlValue::String(text)
                    })
                    .collect())
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for values in rows {
            db.execute_raw(Statement::from_sql_and_values(DbBackend::Postgres, &insert, values))
                .await
                .unwrap();
        }
    }
    db.close().await.unwrap();
    Some(url)
}

/// Imports the fixture from `source` as `slugbase import slugbase` does, over the
/// configuration `shared`.
async fn import(
    shared: &Shared,
    fixture: &std::path::Path,
    work: &std::path::Path,
    source: &Source,
) -> ImportReport {
    let from = match source {
        Source::Sqlite => {
            let copy = work.join("slugbase-copy.db");
            std::fs::copy(fixture.join("slugbase.db"), &copy).unwrap();
            copy.to_str().unwrap().to_owned()
        }
        Source::Postgres(url) => url.clone(),
    };
    let loaded = shared.loaded(work);
    let store = slugbase_server::connect_storage(&loaded).await.unwrap();
    slugbase_server::migrate(&store).await.unwrap();
    let root = Root::new(loaded, Stores::over(Arc::new(store)), Arc::new(SystemClock), None);
    let keys = KeySources { key_file: None, env_file: Some(fixture.join("secrets.env")) };
    import_from(&root.importer(false).unwrap(), &from, &keys).await.unwrap()
}

fn truth(fixture: &std::path::Path) -> Vec<Value> {
    let text = std::fs::read_to_string(fixture.join("truth.json")).unwrap();
    let truth: Value = serde_json::from_str(&text).unwrap();
    truth["users"].as_array().unwrap().clone()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map_or_else(Vec::new, |a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
}

async fn stored_hash_kind(app: &TestApp, email: &str) -> Option<PasswordHashKind> {
    let email = Email::parse(email).unwrap();
    let user = app.operator.admin.find_by_email(&email).await.unwrap().expect("imported");
    match user.login {
        LoginMethod::Local(hash) => Some(hash.kind()),
        LoginMethod::OidcOnly => None,
    }
}

/// A fresh login's pending-MFA state for `email`, answered with `code`.
async fn second_step(
    app: &TestApp,
    email: &str,
    password: &str,
    code: &str,
) -> slugbase_testkit::Reply {
    let api = Api::new(&app.address);
    steps::login_pending(&api, email, password).await;
    steps::verify(&api, code).await
}

/// Refused second steps count in the account's window: each check of a code that must fail
/// starts in a window of its own.
fn next_window(app: &TestApp) {
    app.clock.advance(TimeDelta::seconds(901));
}

async fn check_every_user(app: &TestApp, provider: &OidcProvider, users: &[Value]) {
    for user in users {
        let email = user["email"].as_str().unwrap();
        if let Some(password) = user["password"].as_str() {
            assert_eq!(stored_hash_kind(app, email).await, Some(PasswordHashKind::LegacyBcrypt));
            if let Some(secret) = user["totp_secret"].as_str() {
                // The password, then the TOTP secret's current code.
                let code = app.fresh_code(secret);
                let reply = second_step(app, email, password, &code).await;
                let body = reply.expect(StatusCode::OK);
                assert_eq!(body["email"], email, "{body}");
                for code in strings(&user["backup_codes_unused"]) {
                    second_step(app, email, password, &code).await.expect(StatusCode::OK);
                    next_window(app);
                    let again = second_step(app, email, password, &code).await;
                    assert_eq!(again.status, StatusCode::UNAUTHORIZED, "{email}: a code twice");
                }
                for code in strings(&user["backup_codes_used"])
                    .into_iter()
                    .chain(strings(&user["backup_codes_invalidated"]))
                {
                    next_window(app);
                    let used = second_step(app, email, password, &code).await;
                    assert_eq!(used.status, StatusCode::UNAUTHORIZED, "{email}: a spent code");
                }
            } else {
                assert!(user["mfa_enabled"] == false);
                steps::login(&app.address, email, password).await;
            }
            assert_eq!(
                stored_hash_kind(app, email).await,
                Some(PasswordHashKind::Argon2id),
                "{email}: the sign-in replaced the imported hash"
            );
        }
        for token in user["api_tokens"].as_array().unwrap() {
            let reply = app.bearer(token["token"].as_str().unwrap()).get("/api/auth/me").await;
            if token["revoked"] == true {
                assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{email}: revoked token");
            } else {
                assert_eq!(reply.expect(StatusCode::OK)["email"], email);
            }
        }
        if let Some(oidc) = user["oidc"].as_object() {
            provider
                .next_login(json!({
                    "sub": oidc["sub"],
                    "email": oidc["email_at_idp"],
                    "email_verified": true,
                    "name": user["name"],
                }))
                .await;
            let browser = OidcBrowser::new(&app.address);
            browser.login_lands_on("/").await;
            let me = browser.api.get("/api/auth/me").await.expect(StatusCode::OK);
            assert_eq!(me["email"], email, "{me}");
            let email = Email::parse(email).unwrap();
            let imported = app.operator.admin.find_by_email(&email).await.unwrap().unwrap();
            assert_eq!(me["id"], imported.id.to_string(), "the imported account, not a new one");
        }
    }
}

async fn scenario(url: String, source: Source) {
    let Some(fixture) = fixture() else { return };
    let _port = ISSUER_PORT.lock().await;
    let work = tempfile::tempdir().unwrap();
    let shared = Shared::new(url);
    let users = truth(&fixture);

    let report = import(&shared, &fixture, work.path(), &source).await;
    assert_eq!(report.imported(), users.len(), "{}", report.render());
    assert_eq!(report.skipped(), 0, "{}", report.render());
    let rendered = report.render();
    for user in &users {
        for secret in [&user["password"], &user["totp_secret"]] {
            if let Some(secret) = secret.as_str() {
                assert!(!rendered.contains(secret), "the report shows a secret");
            }
        }
    }

    // The service over the imported database, with the test provider at SlugBase's issuer.
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let Some(provider) = OidcProvider::start_on(FIXTURE_ISSUER_PORT, &[callback_url(&base)]).await
    else {
        return;
    };
    let applied = shared.clone();
    let app = configure(TestApp::builder(), port, &provider.issuer)
        .backend(Backend::Url(shared.url.clone()))
        .with_config(move |c| applied.apply(c))
        .spawn()
        .await;
    wait_until_discovered(&app.address, Duration::from_secs(20)).await;

    // Re-running changes nothing (before any sign-in).
    let again = import(&shared, &fixture, work.path(), &source).await;
    assert_eq!(again.already_imported(), users.len(), "{}", again.render());
    assert!(again.users.iter().all(|u| matches!(&u.result, UserResult::AlreadyImported { changed, .. } if changed.is_empty())), "{}", again.render());

    check_every_user(&app, &provider, &users).await;

    // And after every sign-in: the same accounts, one `account_imported` event each.
    let last = import(&shared, &fixture, work.path(), &source).await;
    assert_eq!(last.already_imported(), users.len(), "{}", last.render());
    let store = slugbase_server::connect_storage(&shared.loaded(work.path())).await.unwrap();
    assert_eq!(store.count().await.unwrap(), users.len() as u64);
    let query = AuditQuery {
        kind: Some(AuditEventKind::AccountImported),
        limit: 100,
        ..Default::default()
    };
    assert_eq!(store.query(query).await.unwrap().len(), users.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fixture_imports_into_sqlite_and_every_credential_works() {
    let dir = tempfile::tempdir().unwrap();
    scenario(
        format!("sqlite://{}?mode=rwc", dir.path().join("imported.db").display()),
        Source::Sqlite,
    )
    .await;
}

/// SlugBase also runs on PostgreSQL, with the same schema: the same fixture, read from there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fixture_imports_from_a_slugbase_on_postgresql_and_every_credential_works() {
    let Some(fixture) = fixture() else { return };
    let Some(source) = slugbase_in_postgres(&fixture).await else { return };
    let dir = tempfile::tempdir().unwrap();
    scenario(
        format!("sqlite://{}?mode=rwc", dir.path().join("imported.db").display()),
        Source::Postgres(source),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fixture_imports_into_postgresql_and_every_credential_works() {
    let Some(url) = postgres_url().await else { return };
    scenario(url, Source::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fixture_imports_into_mariadb_and_every_credential_works() {
    let Some(url) = mysql_url().await else { return };
    scenario(url, Source::Sqlite).await;
}
