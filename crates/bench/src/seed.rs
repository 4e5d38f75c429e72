//! Seeding users.
//!
//! Two paths, both on the server's own schema:
//! - **driven users** (the ones the load uses; at most 1 000): created through the storage
//!   ports exactly as the use cases store them — `UserRepository::create`,
//!   `MfaRepository::begin_enrollment` + `confirm_enrollment` (a fresh random TOTP secret per
//!   user, sealed with the real AES-GCM cipher under the server's key, ten HMAC'd backup
//!   codes), `ApiTokenRepository::create` and `SessionRepository::create`. Each keeps its
//!   token, session id and TOTP secret in memory so the client can authenticate and compute
//!   real codes. All users share one Argon2id hash, computed once with the server's
//!   parameters (hashing a million passwords would take hours).
//! - **filler users** (the rest, up to a million): bulk multi-row `INSERT`s through sea-orm
//!   on the same tables (`users`, `api_tokens`, `sessions`), 500 rows a statement, 20 000
//!   rows a transaction. The rows match what the ports write (same columns, same encodings:
//!   UUID text ids, Unix-millisecond times, SHA-256 hex of a random token / session id, the
//!   shared PHC hash); filler users have MFA off. The ports take one transaction per row,
//!   which is what makes them too slow for a million users (≈ 5 round trips a user).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt as _;
use sea_orm::{ConnectionTrait as _, DatabaseConnection, Statement, TransactionTrait as _, Value};
use slugbase_application::Deps;
use slugbase_application::ports::{
    ApiTokenRecord, AuditEvent, ChangeEffects, NewUser, SessionKind, SessionRecord,
};
use slugbase_domain::{
    ApiTokenId, AuditEventKind, AuditOutcome, BackupCode, DisplayName, Email, LoginMethod,
    Password, PasswordHash, ProofKind, TotpStep, UserId,
};

/// The password of every seeded user (the benchmark client sends it).
pub const PASSWORD: &str = "bench-password-correct-horse";

/// A user the load drives: what the client needs to authenticate as them.
#[derive(Clone)]
pub struct DrivenUser {
    /// Login e-mail.
    pub email: String,
    /// `sb_…` API token.
    pub token: String,
    /// `slugbase.sid` value.
    pub session: String,
    /// Base32 TOTP secret (for computing codes).
    pub totp_base32: String,
}

impl std::fmt::Debug for DrivenUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DrivenUser").field("email", &self.email).finish_non_exhaustive()
    }
}

/// What seeding needs: the real adapters (over the same database and keys as the server),
/// the connection for bulk inserts, a run tag keeping e-mails unique, and the shared hash.
#[derive(Clone)]
pub struct Seeder {
    deps: Deps,
    db: DatabaseConnection,
    tag: String,
    hash: PasswordHash,
    /// Users stored so far by this seeder.
    pub seeded: u64,
}

impl std::fmt::Debug for Seeder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Seeder").field("tag", &self.tag).field("seeded", &self.seeded).finish()
    }
}

fn random_b64(deps: &Deps) -> String {
    URL_SAFE_NO_PAD.encode(deps.random.bytes_32())
}

/// Milliseconds since the epoch, as the schema stores times.
fn to_ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

impl Seeder {
    /// A seeder over `deps` / `db`; hashes the shared password once with the server's cost.
    ///
    /// # Errors
    /// When hashing fails.
    pub async fn new(deps: Deps, db: DatabaseConnection) -> anyhow::Result<Self> {
        let hash = deps.passwords.hash(&Password::new(PASSWORD)).await.context("hashing")?;
        let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
        Ok(Self { deps, db, tag, hash, seeded: 0 })
    }

    /// The adapters seeding uses (the server's own kinds, over the same keys).
    #[must_use]
    pub const fn deps(&self) -> &Deps {
        &self.deps
    }

    /// The shared password hash every seeded user has.
    #[must_use]
    pub const fn hash(&self) -> &PasswordHash {
        &self.hash
    }

    fn email(&self, i: u64) -> String {
        format!("bench-{}-{i}@example.com", self.tag)
    }

    /// One driven user through the ports.
    async fn driven_user(&self, i: u64) -> anyhow::Result<DrivenUser> {
        let d = &self.deps;
        let now = d.clock.now();
        let id = UserId::generate();
        let email = self.email(i);
        d.users
            .create(NewUser {
                id,
                email: Email::parse(&email).context("e-mail")?,
                name: DisplayName::parse(&format!("Bench user {i}")).context("name")?,
                login: LoginMethod::Local(self.hash.clone()),
                oidc_provider: None,
                is_admin: false,
                created_at: now,
            })
            .await?;
        let secret = d.totp.generate_secret();
        let sealed = d.cipher.encrypt(id, &secret)?;
        anyhow::ensure!(d.mfa.begin_enrollment(id, sealed.clone()).await?, "enrollment refused");
        // The enrollment "used" a step five minutes ago, so every code from now on is new.
        #[expect(clippy::cast_sign_loss, reason = "the clock is after 1970")]
        let step = (now.timestamp() / 30 - 10).max(0) as u64;
        let codes = (0..10)
            .map(|_| d.backup_codes.digest(&BackupCode::from_random_bytes(d.random.bytes_8())))
            .collect();
        // Seeded as a real confirm would leave it: with its audit event.
        let effects = ChangeEffects::audited(AuditEvent {
            at: now,
            user_id: Some(id),
            actor_id: None,
            kind: AuditEventKind::MfaEnrollConfirmSuccess,
            outcome: AuditOutcome::Success,
            proof: Some(ProofKind::Totp),
            detail: None,
            client_addr: None,
            user_agent: None,
        });
        anyhow::ensure!(
            d.mfa
                .confirm_enrollment(id, &sealed, TotpStep::new(step), codes, now, &effects)
                .await?,
            "confirmation refused"
        );
        let token = format!("sb_{}", random_b64(d));
        d.tokens
            .create(ApiTokenRecord {
                id: ApiTokenId::generate(),
                user_id: id,
                name: "bench".to_owned(),
                token_hash: d.token_digest.digest(&token),
                created_at: now,
                last_used_at: None,
            })
            .await?;
        let session = random_b64(d);
        d.sessions
            .create(SessionRecord {
                id_hash: d.token_digest.digest(&session),
                user_id: id,
                kind: SessionKind::Full,
                created_at: now,
                last_seen_at: now,
                expires_at: now + TimeDelta::hours(12),
                failed_attempts: 0,
                client_addr: None,
                user_agent: None,
            })
            .await?;
        Ok(DrivenUser { email, token, session, totp_base32: secret.expose_base32().to_owned() })
    }

    /// Seeds `count` driven users through the ports, 16 at a time.
    ///
    /// # Errors
    /// The first port failure.
    pub async fn driven(&mut self, count: u64) -> anyhow::Result<Vec<DrivenUser>> {
        let start = self.seeded;
        let this = Arc::new(self.clone());
        let users: Vec<anyhow::Result<DrivenUser>> = futures::stream::iter(start..start + count)
            .map(|i| {
                let this = this.clone();
                async move { this.driven_user(i).await }
            })
            .buffered(16)
            .collect()
            .await;
        let users = users.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
        self.seeded += count;
        Ok(users)
    }

    /// Bulk-inserts filler users until `total` users were seeded; returns how long it took.
    ///
    /// # Errors
    /// The first database failure.
    pub async fn fill_to(&mut self, total: u64) -> anyhow::Result<Duration> {
        const ROWS_PER_STATEMENT: u64 = 500;
        const ROWS_PER_TRANSACTION: u64 = 20_000;
        let started = Instant::now();
        let backend = self.db.get_database_backend();
        while self.seeded < total {
            let tx_end = total.min(self.seeded + ROWS_PER_TRANSACTION);
            let tx = self.db.begin().await?;
            while self.seeded < tx_end {
                let end = tx_end.min(self.seeded + ROWS_PER_STATEMENT);
                let [users, tokens, sessions] = self.filler_rows(self.seeded, end);
                for (sql, values) in [users, tokens, sessions] {
                    let sql = placeholders_for(backend, sql);
                    tx.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
                }
                self.seeded = end;
            }
            tx.commit().await?;
        }
        Ok(started.elapsed())
    }

    /// Three multi-row `INSERT`s (users, api_tokens, sessions) for users `from..to`, with
    /// PostgreSQL/SQLite placeholders (`$1`, `$2`, …; see [`placeholders_for`]).
    fn filler_rows(&self, from: u64, to: u64) -> [(String, Vec<Value>); 3] {
        let now = self.deps.clock.now();
        let now_ms = to_ms(now);
        let expires_ms = to_ms(now + TimeDelta::hours(12));
        let mut users = (
            String::from(
                "INSERT INTO users (id, email, name, password_hash, oidc_provider, is_admin, \
                 mfa_enabled, mfa_secret, mfa_enrolled_at, mfa_last_totp_step, created_at) VALUES ",
            ),
            Vec::new(),
        );
        let mut tokens = (
            String::from(
                "INSERT INTO api_tokens (id, user_id, name, token_hash, created_at, last_used_at, \
                 revoked_at) VALUES ",
            ),
            Vec::new(),
        );
        let mut sessions = (
            String::from(
                "INSERT INTO sessions (id_hash, user_id, kind, created_at, last_seen_at, \
                 expires_at, failed_attempts) VALUES ",
            ),
            Vec::new(),
        );
        for (row, i) in (from..to).enumerate() {
            let id = uuid::Uuid::new_v4().to_string();
            let sep = if row == 0 { "" } else { ", " };
            let n = users.1.len();
            users.0.push_str(&format!(
                "{sep}(${}, ${}, ${}, ${}, NULL, FALSE, FALSE, NULL, NULL, NULL, ${})",
                n + 1,
                n + 2,
                n + 3,
                n + 4,
                n + 5
            ));
            users.1.extend([
                id.clone().into(),
                self.email(i).into(),
                format!("Bench user {i}").into(),
                self.hash.as_str().into(),
                now_ms.into(),
            ]);
            let n = tokens.1.len();
            tokens.0.push_str(&format!(
                "{sep}(${}, ${}, 'bench', ${}, ${}, NULL, NULL)",
                n + 1,
                n + 2,
                n + 3,
                n + 4
            ));
            let token = format!("sb_{}", random_b64(&self.deps));
            tokens.1.extend([
                uuid::Uuid::new_v4().to_string().into(),
                id.clone().into(),
                self.deps.token_digest.digest(&token).as_str().into(),
                now_ms.into(),
            ]);
            let n = sessions.1.len();
            sessions.0.push_str(&format!(
                "{sep}(${}, ${}, 'full', ${}, ${}, ${}, 0)",
                n + 1,
                n + 2,
                n + 3,
                n + 4,
                n + 5
            ));
            sessions.1.extend([
                self.deps.token_digest.digest(&random_b64(&self.deps)).as_str().into(),
                id.into(),
                now_ms.into(),
                now_ms.into(),
                expires_ms.into(),
            ]);
        }
        [users, tokens, sessions]
    }
}

/// `sql` with its numbered placeholders (`$1`, `$2`, …, in order) as `backend` writes them:
/// unchanged for PostgreSQL and SQLite, `?` for MySQL/MariaDB. The filler statements hold no
/// other `$`.
fn placeholders_for(backend: sea_orm::DbBackend, sql: String) -> String {
    if backend != sea_orm::DbBackend::MySql {
        return sql;
    }
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}
