//! Reading a SlugBase database (SQLite file or PostgreSQL, one schema) for the importer:
//! its users with their credentials as SlugBase stored them, unused backup codes, active API
//! tokens and OIDC providers. Read-only (a SQLite file is opened `mode=ro`); nothing here
//! decrypts, prints or logs a stored value.
//!
//! The schema is SlugBase's (mdg-labs/slugbase c04fa10, `backend/src/db/schema.sql` and its
//! migrations); what each column holds is in the fixture's `FACTS.md`.

use std::collections::HashMap;
use std::fmt;

use anyhow::Context as _;
use chrono::{DateTime, NaiveDateTime, Utc};
use sea_orm::{
    ConnectOptions, ConnectionTrait as _, Database, DatabaseConnection, QueryResult, Statement,
};

/// A SlugBase user row, with what belongs to it.
#[derive(Clone, Default)]
pub struct SlugbaseUser {
    /// `users.id` (UUID text): the import's key.
    pub id: String,
    /// `users.email`, as stored (OIDC-created accounts keep the provider's case).
    pub email: String,
    /// `users.name`.
    pub name: String,
    /// `users.password_hash`: bcrypt, or `None` (OIDC-only or invite pending).
    pub password_hash: Option<String>,
    /// `users.is_admin`.
    pub is_admin: bool,
    /// `users.oidc_provider`: a `provider_key` of `oidc_providers`.
    pub oidc_provider: Option<String>,
    /// `users.oidc_sub`.
    pub oidc_sub: Option<String>,
    /// `users.mfa_enabled`.
    pub mfa_enabled: bool,
    /// `users.mfa_totp_secret_enc`: the envelope (may be set while MFA is off: an
    /// enrolment never confirmed).
    pub mfa_secret_enc: Option<String>,
    /// `users.mfa_enrolled_at`.
    pub mfa_enrolled_at: Option<DateTime<Utc>>,
    /// SHA-256 (hex) of each unused backup code.
    pub unused_backup_codes: Vec<String>,
    /// Tokens not revoked.
    pub tokens: Vec<SlugbaseToken>,
}

impl fmt::Debug for SlugbaseUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlugbaseUser")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("mfa_enabled", &self.mfa_enabled)
            .finish_non_exhaustive()
    }
}

/// An active SlugBase API token (`api_tokens` with `revoked_at IS NULL`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlugbaseToken {
    /// `api_tokens.id`.
    pub id: String,
    /// `api_tokens.name`.
    pub name: String,
    /// SHA-256 (hex) of the whole `sb_…` token.
    pub token_hash: String,
    /// `created_at`, when it parses.
    pub created_at: Option<DateTime<Utc>>,
    /// `last_used_at`, when set and it parses.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// What the importer reads.
#[derive(Debug, Default)]
pub struct SlugbaseData {
    /// Every user, by id order.
    pub users: Vec<SlugbaseUser>,
    /// `oidc_providers`: `provider_key` → `issuer_url`.
    pub providers: HashMap<String, String>,
}

/// The connection URL for `from`: a `sqlite:`/`postgres:` URL, or a path to a SQLite file.
/// SQLite is always opened read-only.
#[must_use]
pub fn source_url(from: &str) -> String {
    if from.starts_with("postgres://") || from.starts_with("postgresql://") {
        return from.to_owned();
    }
    let path =
        from.strip_prefix("sqlite://").or_else(|| from.strip_prefix("sqlite:")).unwrap_or(from);
    let path = path.split('?').next().unwrap_or(path);
    format!("sqlite://{path}?mode=ro")
}

/// Reads a SlugBase database.
///
/// # Errors
/// When the database cannot be opened or is not SlugBase's schema. The message names the
/// table or column, never a value.
pub async fn read_slugbase(from: &str) -> anyhow::Result<SlugbaseData> {
    let mut options = ConnectOptions::new(source_url(from));
    options.max_connections(2).sqlx_logging(false);
    let db = Database::connect(options).await.context("cannot open the SlugBase database")?;
    let data = read_all(&db).await;
    db.close().await.ok();
    data
}

async fn query(db: &DatabaseConnection, sql: &str) -> anyhow::Result<Vec<QueryResult>> {
    let backend = db.get_database_backend();
    db.query_all_raw(Statement::from_string(backend, sql.to_owned())).await.with_context(|| {
        format!("not a SlugBase database? `{}` failed", sql.split(" FROM ").nth(1).unwrap_or(sql))
    })
}

async fn read_all(db: &DatabaseConnection) -> anyhow::Result<SlugbaseData> {
    let mut providers = HashMap::new();
    for row in query(db, "SELECT provider_key, issuer_url FROM oidc_providers").await? {
        providers.insert(text(&row, "provider_key")?, text(&row, "issuer_url")?);
    }
    let mut users = Vec::new();
    let mut index = HashMap::new();
    // Ids are read as text whatever their column type (TEXT on SQLite; VARCHAR, or a UUID
    // column on a hand-made PostgreSQL schema).
    let sql = "SELECT CAST(id AS TEXT) AS id, email, name, password_hash, is_admin, oidc_sub, \
               oidc_provider, mfa_enabled, mfa_totp_secret_enc, mfa_enrolled_at FROM users \
               ORDER BY id";
    for row in query(db, sql).await? {
        let user = SlugbaseUser {
            id: text(&row, "id")?,
            email: text(&row, "email")?,
            name: opt_text(&row, "name")?.unwrap_or_default(),
            password_hash: opt_text(&row, "password_hash")?.filter(|h| !h.is_empty()),
            is_admin: flag(&row, "is_admin")?,
            oidc_provider: opt_text(&row, "oidc_provider")?.filter(|p| !p.is_empty()),
            oidc_sub: opt_text(&row, "oidc_sub")?.filter(|s| !s.is_empty()),
            mfa_enabled: flag(&row, "mfa_enabled")?,
            mfa_secret_enc: opt_text(&row, "mfa_totp_secret_enc")?.filter(|s| !s.is_empty()),
            mfa_enrolled_at: time(&row, "mfa_enrolled_at"),
            ..SlugbaseUser::default()
        };
        index.insert(user.id.clone(), users.len());
        users.push(user);
    }
    let sql = "SELECT CAST(user_id AS TEXT) AS user_id, code_hash FROM mfa_backup_codes \
               WHERE used_at IS NULL ORDER BY user_id, code_hash";
    for row in query(db, sql).await? {
        if let Some(&i) = index.get(&text(&row, "user_id")?) {
            users[i].unused_backup_codes.push(text(&row, "code_hash")?);
        }
    }
    let sql = "SELECT CAST(id AS TEXT) AS id, CAST(user_id AS TEXT) AS user_id, name, \
               token_hash, created_at, last_used_at FROM api_tokens WHERE revoked_at IS NULL \
               ORDER BY created_at, id";
    for row in query(db, sql).await? {
        if let Some(&i) = index.get(&text(&row, "user_id")?) {
            users[i].tokens.push(SlugbaseToken {
                id: text(&row, "id")?,
                name: text(&row, "name")?,
                token_hash: text(&row, "token_hash")?,
                created_at: time(&row, "created_at"),
                last_used_at: time(&row, "last_used_at"),
            });
        }
    }
    Ok(SlugbaseData { users, providers })
}

fn text(row: &QueryResult, col: &str) -> anyhow::Result<String> {
    opt_text(row, col)?.with_context(|| format!("SlugBase column {col} is NULL"))
}

fn opt_text(row: &QueryResult, col: &str) -> anyhow::Result<Option<String>> {
    row.try_get::<Option<String>>("", col)
        .with_context(|| format!("SlugBase column {col} is not text"))
}

/// A boolean as SlugBase stores it: INTEGER 0/1 on SQLite, BOOLEAN on PostgreSQL.
fn flag(row: &QueryResult, col: &str) -> anyhow::Result<bool> {
    if let Ok(value) = row.try_get::<Option<bool>>("", col) {
        return Ok(value.unwrap_or(false));
    }
    row.try_get::<Option<i64>>("", col)
        .map(|v| v.unwrap_or(0) != 0)
        .with_context(|| format!("SlugBase column {col} is not a flag"))
}

/// A time as SlugBase stores it: ISO-8601 text on SQLite (`…Z`, or `YYYY-MM-DD HH:MM:SS`;
/// the literal `CURRENT_DATETIME` of its default bug is no time), TIMESTAMP on PostgreSQL.
fn time(row: &QueryResult, col: &str) -> Option<DateTime<Utc>> {
    if let Ok(Some(text)) = row.try_get::<Option<String>>("", col) {
        return parse_time(&text);
    }
    if let Ok(Some(at)) = row.try_get::<Option<DateTime<Utc>>>("", col) {
        return Some(at);
    }
    row.try_get::<Option<NaiveDateTime>>("", col).ok().flatten().map(|at| at.and_utc())
}

/// Parses SlugBase's time texts.
#[must_use]
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).map(|at| at.with_timezone(&Utc)).ok().or_else(|| {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").ok().map(|at| at.and_utc())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_sources_are_opened_read_only() {
        assert_eq!(source_url("/srv/slugbase.db"), "sqlite:///srv/slugbase.db?mode=ro");
        assert_eq!(source_url("sqlite:///srv/s.db?mode=rwc"), "sqlite:///srv/s.db?mode=ro");
        assert_eq!(source_url("postgres://u@h/db"), "postgres://u@h/db");
    }

    #[test]
    fn slugbase_times_parse_and_its_default_bug_is_no_time() {
        assert!(parse_time("2026-12-07T13:48:01.059Z").is_some());
        assert!(parse_time("2026-12-07 13:48:01").is_some());
        assert!(parse_time("CURRENT_DATETIME").is_none());
    }
}
