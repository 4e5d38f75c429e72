//! [`UserRepository`] over SQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait as _, ConnectionTrait, EntityTrait as _, PaginatorTrait as _, QueryFilter as _,
    QueryOrder as _, QuerySelect as _, Set,
};
use slugbase_application::ports::{
    ChangeEffects, Listed, NewUser, StoreError, StoreResult, UserRepository,
};
use slugbase_domain::{
    DisplayName, Email, EncryptedSecret, LoginMethod, MfaState, PasswordHash, TotpStep, User,
    UserId,
};

use super::entity::{attempt_counters, instance_setup, users};
use super::listed::{logged, rows_listed};
use super::{SeaOrmStore, corrupt, db_err, from_ms, from_ms_opt, parse_uuid, stored_time, to_ms};

/// A stored user.
pub(crate) fn user_from_model(row: users::Model) -> StoreResult<User> {
    let enrolled_at = from_ms_opt(row.mfa_enrolled_at)?;
    let last_totp_step = row
        .mfa_last_totp_step
        .map(|s| u64::try_from(s).map(TotpStep::new).map_err(|_| corrupt("totp step")))
        .transpose()?;
    let pending = row.mfa_pending_secret.map(EncryptedSecret::new);
    let mfa = match (row.mfa_enabled, enrolled_at, pending) {
        (true, Some(enrolled_at), pending) => MfaState::Enabled {
            secret: row.mfa_secret.map(EncryptedSecret::new),
            enrolled_at,
            last_totp_step,
            pending,
        },
        (true, None, _) => return Err(corrupt("MFA enabled without enrollment time")),
        (false, _, Some(secret)) => MfaState::Pending { secret },
        (false, _, None) => MfaState::Disabled,
    };
    Ok(User {
        id: UserId::from_uuid(parse_uuid(&row.id)?),
        email: Email::parse(&row.email).map_err(|_| corrupt("email"))?,
        name: DisplayName::from_stored(&row.name).map_err(|_| corrupt("display name"))?,
        login: row
            .password_hash
            .map_or(LoginMethod::OidcOnly, |h| LoginMethod::Local(PasswordHash::from_phc(h))),
        oidc_provider: row.oidc_provider,
        is_admin: row.is_admin,
        mfa,
        created_at: from_ms(row.created_at)?,
        mfa_grace_started_at: from_ms_opt(row.mfa_grace_started_at)?,
    })
}

/// Inserts a new user (MFA disabled) and returns it as a read would.
pub(super) async fn insert_user<C: ConnectionTrait>(conn: &C, user: NewUser) -> StoreResult<User> {
    let password_hash = match &user.login {
        LoginMethod::Local(hash) => Some(hash.as_str().to_owned()),
        LoginMethod::OidcOnly => None,
    };
    let row = users::ActiveModel {
        id: Set(user.id.to_string()),
        email: Set(user.email.as_str().to_owned()),
        name: Set(user.name.as_str().to_owned()),
        password_hash: Set(password_hash),
        oidc_provider: Set(user.oidc_provider.clone()),
        is_admin: Set(user.is_admin),
        mfa_enabled: Set(false),
        mfa_secret: Set(None),
        mfa_pending_secret: Set(None),
        mfa_enrolled_at: Set(None),
        mfa_last_totp_step: Set(None),
        created_at: Set(to_ms(user.created_at)),
        mfa_grace_started_at: Set(None),
    };
    users::Entity::insert(row).exec_without_returning(conn).await.map_err(db_err)?;
    Ok(User {
        id: user.id,
        email: user.email,
        name: user.name,
        login: user.login,
        oidc_provider: user.oidc_provider,
        is_admin: user.is_admin,
        mfa: MfaState::Disabled,
        created_at: stored_time(user.created_at),
        mfa_grace_started_at: None,
    })
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
        let claimed = instance_setup::Entity::update_many()
            .col_expr(instance_setup::Column::LastSetupAt, Expr::val(to_ms(user.created_at)))
            .filter(instance_setup::Column::Id.eq(1))
            .exec(&tx)
            .await
            .map_err(db_err)?;
        if claimed.rows_affected != 1 {
            return Err(StoreError::Other(anyhow::anyhow!(
                "the instance_setup row is missing: run the migrations"
            )));
        }
        if users::Entity::find().count(&tx).await.map_err(db_err)? > 0 {
            tx.rollback().await.map_err(db_err)?;
            return Ok(None);
        }
        let created = insert_user(&tx, user).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(Some(created))
    }

    async fn find_by_id(&self, id: UserId) -> StoreResult<Option<User>> {
        let row =
            users::Entity::find_by_id(id.to_string()).one(self.reads()).await.map_err(db_err)?;
        row.map(user_from_model).transpose()
    }

    async fn find_by_email(&self, email: &Email) -> StoreResult<Option<User>> {
        let row = users::Entity::find()
            .filter(users::Column::Email.eq(email.as_str()))
            .one(self.reads())
            .await
            .map_err(db_err)?;
        row.map(user_from_model).transpose()
    }

    async fn list(&self) -> StoreResult<Vec<Listed<User>>> {
        let select = users::Entity::find()
            .order_by_asc(users::Column::CreatedAt)
            .order_by_asc(users::Column::Id);
        rows_listed(self.reads(), select, "id", user_from_model, logged("users")).await
    }

    async fn count(&self) -> StoreResult<u64> {
        users::Entity::find().count(self.reads()).await.map_err(db_err)
    }

    async fn delete(&self, id: UserId, attempt_keys: &[String]) -> StoreResult<bool> {
        let tx = self.begin_write().await?;
        // Sessions, API tokens, backup codes and OIDC identities go by ON DELETE CASCADE;
        // attempt counters are keyed by text (the application's keys), so they are deleted
        // here, in the same transaction. Audit events stay.
        let deleted =
            users::Entity::delete_by_id(id.to_string()).exec(&tx).await.map_err(db_err)?;
        attempt_counters::Entity::delete_many()
            .filter(attempt_counters::Column::Key.is_in(attempt_keys.iter().map(String::as_str)))
            .exec(&tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(deleted.rows_affected == 1)
    }

    async fn set_password(&self, id: UserId, hash: PasswordHash) -> StoreResult<bool> {
        let updated = users::Entity::update_many()
            .col_expr(users::Column::PasswordHash, Expr::val(hash.as_str()))
            .filter(users::Column::Id.eq(id.to_string()))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(updated.rows_affected == 1)
    }

    async fn start_mfa_grace(
        &self,
        id: UserId,
        at: DateTime<Utc>,
    ) -> StoreResult<Option<DateTime<Utc>>> {
        // One conditional write: a start once stored is never moved, whoever races.
        users::Entity::update_many()
            .col_expr(users::Column::MfaGraceStartedAt, Expr::val(to_ms(at)))
            .filter(users::Column::Id.eq(id.to_string()))
            .filter(users::Column::MfaGraceStartedAt.is_null())
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        // Read back on the writing pool: the start that won (this one or an earlier one).
        let stored: Option<Option<i64>> = users::Entity::find_by_id(id.to_string())
            .select_only()
            .column(users::Column::MfaGraceStartedAt)
            .into_tuple()
            .one(&self.db)
            .await
            .map_err(db_err)?;
        from_ms_opt(stored.flatten())
    }

    async fn change_password(
        &self,
        id: UserId,
        hash: PasswordHash,
        effects: &ChangeEffects,
    ) -> StoreResult<bool> {
        self.change_password_with_effects(id, hash, effects).await
    }

    async fn upgrade_password_hash(
        &self,
        id: UserId,
        old: &PasswordHash,
        new: PasswordHash,
        effects: &ChangeEffects,
    ) -> StoreResult<bool> {
        self.upgrade_password_hash_with_effects(id, old, new, effects).await
    }
}
