//! [`UserRepository`] over SQL.

use async_trait::async_trait;
use sea_orm::{ConnectionTrait, QueryResult, Value};
use slugbase_application::attempts::{AttemptAccount, AttemptKey, AttemptKind};
use slugbase_application::ports::{NewUser, StoreError, StoreResult, UserRepository};
use slugbase_domain::{
    DisplayName, Email, EncryptedSecret, LoginMethod, MfaState, PasswordHash, TotpStep, User,
    UserId,
};

use super::{
    SeaOrmStore, corrupt, count, exec, from_ms, from_ms_opt, get, parse_uuid, query_all, query_one,
    stored_time, to_ms,
};

/// Columns of a [`User`], in the order [`user_from_row`] reads them.
pub(crate) const USER_COLUMNS: &str = "id, email, name, password_hash, oidc_provider, is_admin, \
     mfa_enabled, mfa_secret, mfa_enrolled_at, mfa_last_totp_step, created_at";

/// A stored user.
pub(crate) fn user_from_row(row: &QueryResult) -> StoreResult<User> {
    let id: String = get(row, "id")?;
    let email: String = get(row, "email")?;
    let name: String = get(row, "name")?;
    let password_hash: Option<String> = get(row, "password_hash")?;
    let enabled: bool = get(row, "mfa_enabled")?;
    let secret: Option<String> = get(row, "mfa_secret")?;
    let enrolled_at = from_ms_opt(get(row, "mfa_enrolled_at")?)?;
    let last_step: Option<i64> = get(row, "mfa_last_totp_step")?;
    let last_totp_step = last_step
        .map(|s| u64::try_from(s).map(TotpStep::new).map_err(|_| corrupt("totp step")))
        .transpose()?;
    let mfa = match (enabled, secret, enrolled_at) {
        (true, Some(secret), Some(enrolled_at)) => {
            MfaState::Enabled { secret: EncryptedSecret::new(secret), enrolled_at, last_totp_step }
        }
        (true, _, _) => return Err(corrupt("MFA enabled without secret or enrollment time")),
        (false, Some(secret), _) => MfaState::Pending { secret: EncryptedSecret::new(secret) },
        (false, None, _) => MfaState::Disabled,
    };
    Ok(User {
        id: UserId::from_uuid(parse_uuid(&id)?),
        email: Email::parse(&email).map_err(|_| corrupt("email"))?,
        name: DisplayName::parse(&name).map_err(|_| corrupt("display name"))?,
        login: password_hash
            .map_or(LoginMethod::OidcOnly, |h| LoginMethod::Local(PasswordHash::from_phc(h))),
        oidc_provider: get(row, "oidc_provider")?,
        is_admin: get(row, "is_admin")?,
        mfa,
        created_at: from_ms(get(row, "created_at")?)?,
    })
}

/// Inserts a new user (MFA disabled) and returns it as a read would.
async fn insert_user<C: ConnectionTrait>(conn: &C, user: NewUser) -> StoreResult<User> {
    let password_hash = match &user.login {
        LoginMethod::Local(hash) => Some(hash.as_str().to_owned()),
        LoginMethod::OidcOnly => None,
    };
    exec(
        conn,
        "INSERT INTO users (id, email, name, password_hash, oidc_provider, is_admin, \
         mfa_enabled, mfa_secret, mfa_enrolled_at, mfa_last_totp_step, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, FALSE, NULL, NULL, NULL, $7)",
        [
            user.id.to_string().into(),
            user.email.as_str().into(),
            user.name.as_str().into(),
            password_hash.into(),
            user.oidc_provider.clone().into(),
            user.is_admin.into(),
            to_ms(user.created_at).into(),
        ],
    )
    .await?;
    Ok(User {
        id: user.id,
        email: user.email,
        name: user.name,
        login: user.login,
        oidc_provider: user.oidc_provider,
        is_admin: user.is_admin,
        mfa: MfaState::Disabled,
        created_at: stored_time(user.created_at),
    })
}

fn id_value(id: UserId) -> Value {
    id.to_string().into()
}

#[async_trait]
impl UserRepository for SeaOrmStore {
    async fn create(&self, user: NewUser) -> StoreResult<User> {
        insert_user(&self.db, user).await
    }

    async fn create_first_admin(&self, user: NewUser) -> StoreResult<Option<User>> {
        let tx = self.begin_write().await?;
        // Writing the singleton row first takes its lock (PostgreSQL) or the write lock
        // (SQLite, already held by BEGIN IMMEDIATE): concurrent set-ups run one by one, and
        // each sees the users the previous one committed.
        let claimed = exec(
            &tx,
            "UPDATE instance_setup SET last_setup_at = $1 WHERE id = 1",
            [to_ms(user.created_at).into()],
        )
        .await?;
        if claimed.rows_affected() != 1 {
            return Err(StoreError::Other(anyhow::anyhow!(
                "the instance_setup row is missing: run the migrations"
            )));
        }
        if count(&tx, "SELECT COUNT(*) AS n FROM users", []).await? > 0 {
            tx.rollback().await.map_err(super::db_err)?;
            return Ok(None);
        }
        let created = insert_user(&tx, user).await?;
        tx.commit().await.map_err(super::db_err)?;
        Ok(Some(created))
    }

    async fn find_by_id(&self, id: UserId) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        query_one(&self.db, &sql, [id_value(id)]).await?.as_ref().map(user_from_row).transpose()
    }

    async fn find_by_email(&self, email: &Email) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1");
        query_one(&self.db, &sql, [email.as_str().into()])
            .await?
            .as_ref()
            .map(user_from_row)
            .transpose()
    }

    async fn list(&self) -> StoreResult<Vec<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY created_at, id");
        query_all(&self.db, &sql, []).await?.iter().map(user_from_row).collect()
    }

    async fn count(&self) -> StoreResult<u64> {
        count(&self.db, "SELECT COUNT(*) AS n FROM users", []).await
    }

    async fn delete(&self, id: UserId) -> StoreResult<bool> {
        let tx = self.begin_write().await?;
        // Sessions, API tokens, backup codes and OIDC identities go by ON DELETE CASCADE;
        // attempt counters are keyed by text, so they are deleted here, in the same
        // transaction. Audit events stay.
        let deleted = exec(&tx, "DELETE FROM users WHERE id = $1", [id_value(id)]).await?;
        let account = AttemptAccount::User(id);
        exec(
            &tx,
            "DELETE FROM attempt_counters WHERE key IN ($1, $2)",
            [
                AttemptKey::account(AttemptKind::SecondFactor, &account).into(),
                AttemptKey::account(AttemptKind::Password, &account).into(),
            ],
        )
        .await?;
        tx.commit().await.map_err(super::db_err)?;
        Ok(deleted.rows_affected() == 1)
    }

    async fn set_password(&self, id: UserId, hash: PasswordHash) -> StoreResult<bool> {
        let updated = exec(
            &self.db,
            "UPDATE users SET password_hash = $1 WHERE id = $2",
            [hash.as_str().into(), id_value(id)],
        )
        .await?;
        Ok(updated.rows_affected() == 1)
    }
}
