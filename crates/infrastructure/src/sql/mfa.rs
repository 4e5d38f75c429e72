//! [`MfaRepository`] over SQL: every spend is one conditional statement, every state change
//! that goes with a spend — and the change's effects (audit event, ended sessions, settled
//! attempt counters) — shares its transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait as _, Query, SelectStatement};
use sea_orm::{
    ColumnTrait as _, ConnectionTrait, DatabaseTransaction, EntityTrait as _, PaginatorTrait as _,
    QueryFilter as _, QuerySelect as _, UpdateMany,
};
use slugbase_application::ports::{
    CancelOutcome, ChangeEffects, MfaProof, MfaRepository, ProofSignIn, SecretDigest, SessionKind,
    StoreResult,
};
use slugbase_domain::{EncryptedSecret, TotpStep, UserId};

use super::change_effects::apply_effects;
use super::dialect::Engine;
use super::entity::{backup_codes, passkeys, sessions, users};
use super::passkey_rows::{delete_passkeys_of, use_passkey};
use super::{SeaOrmStore, db_err, insert_codes, to_ms};

/// A TOTP step as stored (`BIGINT`). Steps beyond `i64::MAX` cannot occur for 30-second
/// steps; one that did would never be accepted.
fn step_value(step: TotpStep) -> Option<i64> {
    i64::try_from(step.value()).ok()
}

/// Whether a conditional update changed exactly one row.
pub(super) async fn updated_one<C: ConnectionTrait>(
    conn: &C,
    update: UpdateMany<impl sea_orm::EntityTrait>,
) -> StoreResult<bool> {
    Ok(update.exec(conn).await.map_err(db_err)?.rows_affected == 1)
}

/// `SELECT 1 FROM users WHERE id = :user AND mfa_enabled`: a spend's condition that MFA is
/// on.
fn mfa_on(user: &str) -> SelectStatement {
    Query::select()
        .expr(Expr::val(1))
        .from(users::Entity)
        .and_where(users::Column::Id.eq(user))
        .and_where(users::Column::MfaEnabled.eq(true))
        .to_owned()
}

/// Spends a proof with one conditional statement; whether it was spent.
pub(super) async fn spend<C: ConnectionTrait>(
    conn: &C,
    user: &str,
    proof: &MfaProof,
    at: DateTime<Utc>,
) -> StoreResult<bool> {
    match proof {
        MfaProof::TotpStep(step) => {
            let Some(step) = step_value(*step) else { return Ok(false) };
            // `… WHERE last step IS NULL OR last step < :step`: of two requests with the same
            // code, one moves the step and the other updates nothing.
            let update = users::Entity::update_many()
                .col_expr(users::Column::MfaLastTotpStep, Expr::val(step))
                .filter(users::Column::Id.eq(user))
                .filter(users::Column::MfaEnabled.eq(true))
                .filter(users::Column::MfaSecret.is_not_null())
                .filter(
                    users::Column::MfaLastTotpStep
                        .is_null()
                        .or(users::Column::MfaLastTotpStep.lt(step)),
                );
            updated_one(conn, update).await
        }
        MfaProof::BackupCode(_) | MfaProof::AnyBackupCode { .. } => {
            // Sets `used_at` of an unused row only, and only while MFA is on. A typed code
            // may be ours (keyed digest) or imported from SlugBase (its SHA-256): the row
            // holds one of them, and the one conditional statement spends it.
            let digests: Vec<&str> = proof
                .backup_digests()
                .unwrap_or_default()
                .into_iter()
                .map(|d| d.as_str())
                .collect();
            let update = backup_codes::Entity::update_many()
                .col_expr(backup_codes::Column::UsedAt, Expr::val(to_ms(at)))
                .filter(backup_codes::Column::UserId.eq(user))
                .filter(backup_codes::Column::CodeHash.is_in(digests))
                .filter(backup_codes::Column::UsedAt.is_null())
                .filter(Expr::exists(mfa_on(user)));
            updated_one(conn, update).await
        }
        MfaProof::Passkey(used) => {
            // The passkey's counter compare-and-set, for this user's passkey only, while MFA
            // is on.
            let update = use_passkey(used)
                .filter(passkeys::Column::UserId.eq(user))
                .filter(Expr::exists(mfa_on(user)));
            updated_one(conn, update).await
        }
    }
}

/// Locks the user's row for the rest of the transaction (PostgreSQL, MySQL; SQLite's `IMMEDIATE`
/// transaction already holds the database's write lock). Every multi-statement MFA
/// transaction takes this lock first, so they run one at a time per user: no deadlock
/// between the user row and the code rows, and no transaction works from a snapshot that
/// misses codes another one committed meanwhile.
pub(super) async fn lock_user<C: ConnectionTrait>(conn: &C, user: &str) -> StoreResult<()> {
    if Engine::of(conn).locks_rows() {
        users::Entity::find_by_id(user)
            .select_only()
            .column(users::Column::Id)
            .lock_exclusive()
            .into_tuple::<String>()
            .one(conn)
            .await
            .map_err(db_err)?;
    }
    Ok(())
}

/// Deletes every backup code of a user.
async fn delete_codes<C: ConnectionTrait>(conn: &C, user: &str) -> StoreResult<()> {
    backup_codes::Entity::delete_many()
        .filter(backup_codes::Column::UserId.eq(user))
        .exec(conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// Replaces every backup code of a user.
pub(super) async fn replace_codes<C: ConnectionTrait>(
    conn: &C,
    user: &str,
    codes: &[SecretDigest],
    at: DateTime<Utc>,
) -> StoreResult<()> {
    delete_codes(conn, user).await?;
    insert_codes(conn, user, codes, at).await
}

/// An update that turns MFA off and clears its secrets (confirmed and pending) and replay
/// state.
fn clear_mfa(user: &str) -> UpdateMany<users::Entity> {
    users::Entity::update_many()
        .col_expr(users::Column::MfaEnabled, Expr::val(false))
        .col_expr(users::Column::MfaSecret, Expr::val(Option::<String>::None))
        .col_expr(users::Column::MfaPendingSecret, Expr::val(Option::<String>::None))
        .col_expr(users::Column::MfaEnrolledAt, Expr::val(Option::<i64>::None))
        .col_expr(users::Column::MfaLastTotpStep, Expr::val(Option::<i64>::None))
        .filter(users::Column::Id.eq(user))
}

impl SeaOrmStore {
    /// Opens the write transaction of a change that spends `proof`, with the user's row
    /// locked and the proof spent; `None` (and nothing left open) when it cannot be spent.
    async fn spent(
        &self,
        user: &str,
        proof: &MfaProof,
        at: DateTime<Utc>,
    ) -> StoreResult<Option<DatabaseTransaction>> {
        let tx = self.begin_write().await?;
        lock_user(&tx, user).await?;
        if spend(&tx, user, proof, at).await? {
            return Ok(Some(tx));
        }
        tx.rollback().await.map_err(db_err)?;
        Ok(None)
    }
}

/// `mfa_enabled = FALSE OR mfa_secret IS NULL`: no confirmed TOTP secret, so a TOTP
/// enrollment may begin, be cancelled or be confirmed.
fn without_totp() -> sea_orm::Condition {
    sea_orm::Condition::any()
        .add(users::Column::MfaEnabled.eq(false))
        .add(users::Column::MfaSecret.is_null())
}

/// Applies a change's `effects` in its transaction `tx` and commits: the change happened.
async fn commit_with(
    tx: DatabaseTransaction,
    user: UserId,
    effects: &ChangeEffects,
) -> StoreResult<bool> {
    apply_effects(&tx, user, effects).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(true)
}

#[async_trait]
impl MfaRepository for SeaOrmStore {
    async fn begin_enrollment(&self, user: UserId, secret: EncryptedSecret) -> StoreResult<bool> {
        let update = users::Entity::update_many()
            .col_expr(users::Column::MfaPendingSecret, Expr::val(secret.as_str()))
            .filter(users::Column::Id.eq(user.to_string()))
            .filter(without_totp());
        updated_one(&self.db, update).await
    }

    async fn cancel_enrollment(&self, user: UserId) -> StoreResult<CancelOutcome> {
        let id = user.to_string();
        let update = users::Entity::update_many()
            .col_expr(users::Column::MfaPendingSecret, Expr::val(Option::<String>::None))
            .filter(users::Column::Id.eq(id.as_str()))
            .filter(without_totp());
        if updated_one(&self.db, update).await? {
            return Ok(CancelOutcome::Cancelled);
        }
        let totp_on = users::Entity::find_by_id(id)
            .select_only()
            .column(users::Column::Id)
            .filter(users::Column::MfaEnabled.eq(true))
            .filter(users::Column::MfaSecret.is_not_null())
            .into_tuple::<String>()
            .one(&self.db)
            .await
            .map_err(db_err)?;
        Ok(if totp_on.is_some() { CancelOutcome::AlreadyEnabled } else { CancelOutcome::Cancelled })
    }

    async fn confirm_enrollment(
        &self,
        user: UserId,
        pending: &EncryptedSecret,
        step: TotpStep,
        backup_codes: Vec<SecretDigest>,
        at: DateTime<Utc>,
        effects: &ChangeEffects,
    ) -> StoreResult<bool> {
        let Some(step) = step_value(step) else { return Ok(false) };
        let id = user.to_string();
        let tx = self.begin_write().await?;
        lock_user(&tx, &id).await?;
        // Compare-and-set: only the confirm that still finds no confirmed TOTP secret and
        // this pending one confirms it; the others update nothing and store no codes. MFA
        // off: it turns on now. On with passkeys alone: it stays on, since its first passkey.
        let confirm = || {
            users::Entity::update_many()
                .col_expr(users::Column::MfaSecret, Expr::val(pending.as_str()))
                .col_expr(users::Column::MfaPendingSecret, Expr::val(Option::<String>::None))
                .col_expr(users::Column::MfaLastTotpStep, Expr::val(step))
                .filter(users::Column::Id.eq(id.as_str()))
                .filter(users::Column::MfaPendingSecret.eq(pending.as_str()))
        };
        let turned_on = confirm()
            .col_expr(users::Column::MfaEnabled, Expr::val(true))
            .col_expr(users::Column::MfaEnrolledAt, Expr::val(to_ms(at)))
            .filter(users::Column::MfaEnabled.eq(false));
        let confirmed = updated_one(&tx, turned_on).await? || {
            let beside_passkeys = confirm()
                .filter(users::Column::MfaEnabled.eq(true))
                .filter(users::Column::MfaSecret.is_null());
            updated_one(&tx, beside_passkeys).await?
        };
        if !confirmed {
            tx.rollback().await.map_err(db_err)?;
            return Ok(false);
        }
        replace_codes(&tx, &id, &backup_codes, at).await?;
        apply_effects(&tx, user, effects).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn spend_proof(
        &self,
        user: UserId,
        proof: &MfaProof,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        spend(&self.db, &user.to_string(), proof, at).await
    }

    async fn sign_in_with_proof(
        &self,
        user: UserId,
        pending: &SecretDigest,
        proof: &MfaProof,
        at: DateTime<Utc>,
        effects: &ChangeEffects,
    ) -> StoreResult<ProofSignIn> {
        let id = user.to_string();
        let tx = self.begin_write().await?;
        lock_user(&tx, &id).await?;
        // The pending state first: of concurrent sign-ins with it one deletes it, and the
        // others spend nothing.
        let ended = sessions::Entity::delete_many()
            .filter(sessions::Column::IdHash.eq(pending.as_str()))
            .filter(sessions::Column::UserId.eq(id.as_str()))
            .filter(sessions::Column::Kind.eq(SessionKind::PendingMfa.as_str()))
            .exec(&tx)
            .await
            .map_err(db_err)?;
        if ended.rows_affected != 1 {
            tx.rollback().await.map_err(db_err)?;
            return Ok(ProofSignIn::PendingGone);
        }
        if !spend(&tx, &id, proof, at).await? {
            tx.rollback().await.map_err(db_err)?;
            return Ok(ProofSignIn::ProofRefused);
        }
        apply_effects(&tx, user, effects).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(ProofSignIn::SignedIn)
    }

    async fn spend_proof_with(
        &self,
        user: UserId,
        proof: &MfaProof,
        at: DateTime<Utc>,
        effects: &ChangeEffects,
    ) -> StoreResult<bool> {
        let id = user.to_string();
        let Some(tx) = self.spent(&id, proof, at).await? else { return Ok(false) };
        commit_with(tx, user, effects).await
    }

    async fn disable_with_proof(
        &self,
        user: UserId,
        proof: &MfaProof,
        at: DateTime<Utc>,
        effects: &ChangeEffects,
    ) -> StoreResult<bool> {
        let id = user.to_string();
        let Some(tx) = self.spent(&id, proof, at).await? else { return Ok(false) };
        clear_mfa(&id).exec(&tx).await.map_err(db_err)?;
        delete_codes(&tx, &id).await?;
        delete_passkeys_of(&tx, &id).await?;
        commit_with(tx, user, effects).await
    }

    async fn regenerate_with_proof(
        &self,
        user: UserId,
        proof: &MfaProof,
        backup_codes: Vec<SecretDigest>,
        at: DateTime<Utc>,
        effects: &ChangeEffects,
    ) -> StoreResult<bool> {
        let id = user.to_string();
        let Some(tx) = self.spent(&id, proof, at).await? else { return Ok(false) };
        replace_codes(&tx, &id, &backup_codes, at).await?;
        commit_with(tx, user, effects).await
    }

    async fn reset(&self, user: UserId, effects: &ChangeEffects) -> StoreResult<bool> {
        let id = user.to_string();
        let tx = self.begin_write().await?;
        lock_user(&tx, &id).await?;
        let update = clear_mfa(&id).filter(
            sea_orm::Condition::any()
                .add(users::Column::MfaEnabled.eq(true))
                .add(users::Column::MfaSecret.is_not_null())
                .add(users::Column::MfaPendingSecret.is_not_null()),
        );
        let updated = updated_one(&tx, update).await?;
        delete_codes(&tx, &id).await?;
        delete_passkeys_of(&tx, &id).await?;
        apply_effects(&tx, user, effects).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(updated)
    }

    async fn backup_codes_remaining(&self, user: UserId) -> StoreResult<u32> {
        let n = backup_codes::Entity::find()
            .filter(backup_codes::Column::UserId.eq(user.to_string()))
            .filter(backup_codes::Column::UsedAt.is_null())
            .count(self.reads())
            .await
            .map_err(db_err)?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }
}
