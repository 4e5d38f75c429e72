//! [`MfaRepository`] over SQL: every spend is one conditional statement, every state change
//! that goes with a spend shares its transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend};
use slugbase_application::ports::{
    CancelOutcome, MfaProof, MfaRepository, SecretDigest, StoreResult,
};
use slugbase_domain::{EncryptedSecret, TotpStep, UserId};

use super::{SeaOrmStore, count, db_err, exec, get, insert_codes, query_one, to_ms};

/// A TOTP step as stored (`BIGINT`). Steps beyond `i64::MAX` cannot occur for 30-second
/// steps; one that did would never be accepted.
fn step_value(step: TotpStep) -> Option<i64> {
    i64::try_from(step.value()).ok()
}

/// Spends a proof with one conditional statement; whether it was spent.
async fn spend<C: ConnectionTrait>(
    conn: &C,
    user: &str,
    proof: &MfaProof,
    at: DateTime<Utc>,
) -> StoreResult<bool> {
    let result = match proof {
        MfaProof::TotpStep(step) => {
            let Some(step) = step_value(*step) else { return Ok(false) };
            exec(
                conn,
                "UPDATE users SET mfa_last_totp_step = $2 \
                 WHERE id = $1 AND mfa_enabled = TRUE \
                 AND (mfa_last_totp_step IS NULL OR mfa_last_totp_step < $2)",
                [user.into(), step.into()],
            )
            .await?
        }
        MfaProof::BackupCode(digest) => {
            exec(
                conn,
                "UPDATE backup_codes SET used_at = $3 \
                 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL \
                 AND EXISTS (SELECT 1 FROM users WHERE id = $1 AND mfa_enabled = TRUE)",
                [user.into(), digest.as_str().into(), to_ms(at).into()],
            )
            .await?
        }
    };
    Ok(result.rows_affected() == 1)
}

/// Locks the user's row for the rest of the transaction (PostgreSQL; SQLite's `IMMEDIATE`
/// transaction already holds the database's write lock). Every multi-statement MFA
/// transaction takes this lock first, so they run one at a time per user: no deadlock
/// between the user row and the code rows, and no transaction works from a snapshot that
/// misses codes another one committed meanwhile.
async fn lock_user<C: ConnectionTrait>(conn: &C, user: &str) -> StoreResult<()> {
    if conn.get_database_backend() == DbBackend::Postgres {
        query_one(conn, "SELECT id FROM users WHERE id = $1 FOR UPDATE", [user.into()]).await?;
    }
    Ok(())
}

/// Replaces every backup code of a user.
async fn replace_codes<C: ConnectionTrait>(
    conn: &C,
    user: &str,
    codes: &[SecretDigest],
    at: DateTime<Utc>,
) -> StoreResult<()> {
    exec(conn, "DELETE FROM backup_codes WHERE user_id = $1", [user.into()]).await?;
    insert_codes(conn, user, codes, at).await
}

/// SQL that turns MFA off and clears its secret and replay state.
const CLEAR_MFA: &str = "UPDATE users SET mfa_enabled = FALSE, mfa_secret = NULL, \
     mfa_enrolled_at = NULL, mfa_last_totp_step = NULL WHERE id = $1";

#[async_trait]
impl MfaRepository for SeaOrmStore {
    async fn begin_enrollment(&self, user: UserId, secret: EncryptedSecret) -> StoreResult<bool> {
        let updated = exec(
            &self.db,
            "UPDATE users SET mfa_secret = $2 WHERE id = $1 AND mfa_enabled = FALSE",
            [user.to_string().into(), secret.as_str().into()],
        )
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    async fn cancel_enrollment(&self, user: UserId) -> StoreResult<CancelOutcome> {
        let id = user.to_string();
        let updated = exec(
            &self.db,
            "UPDATE users SET mfa_secret = NULL WHERE id = $1 AND mfa_enabled = FALSE",
            [id.clone().into()],
        )
        .await?;
        if updated.rows_affected() == 1 {
            return Ok(CancelOutcome::Cancelled);
        }
        let row =
            query_one(&self.db, "SELECT mfa_enabled FROM users WHERE id = $1", [id.into()]).await?;
        match row {
            Some(row) if get::<bool>(&row, "mfa_enabled")? => Ok(CancelOutcome::AlreadyEnabled),
            _ => Ok(CancelOutcome::Cancelled),
        }
    }

    async fn confirm_enrollment(
        &self,
        user: UserId,
        pending: &EncryptedSecret,
        step: TotpStep,
        backup_codes: Vec<SecretDigest>,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let Some(step) = step_value(step) else { return Ok(false) };
        let id = user.to_string();
        let tx = self.begin_write().await?;
        // Compare-and-set: only the confirm that still finds MFA off and this pending
        // secret flips the flag; the others update nothing and store no codes.
        let updated = exec(
            &tx,
            "UPDATE users SET mfa_enabled = TRUE, mfa_enrolled_at = $3, mfa_last_totp_step = $4 \
             WHERE id = $1 AND mfa_enabled = FALSE AND mfa_secret = $2",
            [id.clone().into(), pending.as_str().into(), to_ms(at).into(), step.into()],
        )
        .await?;
        if updated.rows_affected() != 1 {
            tx.rollback().await.map_err(db_err)?;
            return Ok(false);
        }
        replace_codes(&tx, &id, &backup_codes, at).await?;
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

    async fn disable_with_proof(
        &self,
        user: UserId,
        proof: &MfaProof,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let id = user.to_string();
        let tx = self.begin_write().await?;
        lock_user(&tx, &id).await?;
        if !spend(&tx, &id, proof, at).await? {
            tx.rollback().await.map_err(db_err)?;
            return Ok(false);
        }
        exec(&tx, CLEAR_MFA, [id.clone().into()]).await?;
        exec(&tx, "DELETE FROM backup_codes WHERE user_id = $1", [id.into()]).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn regenerate_with_proof(
        &self,
        user: UserId,
        proof: &MfaProof,
        backup_codes: Vec<SecretDigest>,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let id = user.to_string();
        let tx = self.begin_write().await?;
        lock_user(&tx, &id).await?;
        if !spend(&tx, &id, proof, at).await? {
            tx.rollback().await.map_err(db_err)?;
            return Ok(false);
        }
        replace_codes(&tx, &id, &backup_codes, at).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn reset(&self, user: UserId) -> StoreResult<bool> {
        let id = user.to_string();
        let tx = self.begin_write().await?;
        lock_user(&tx, &id).await?;
        let updated = exec(
            &tx,
            "UPDATE users SET mfa_enabled = FALSE, mfa_secret = NULL, mfa_enrolled_at = NULL, \
             mfa_last_totp_step = NULL \
             WHERE id = $1 AND (mfa_enabled = TRUE OR mfa_secret IS NOT NULL)",
            [id.clone().into()],
        )
        .await?;
        exec(&tx, "DELETE FROM backup_codes WHERE user_id = $1", [id.into()]).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(updated.rows_affected() == 1)
    }

    async fn backup_codes_remaining(&self, user: UserId) -> StoreResult<u32> {
        let n = count(
            &self.db,
            "SELECT COUNT(*) AS n FROM backup_codes WHERE user_id = $1 AND used_at IS NULL",
            [user.to_string().into()],
        )
        .await?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }
}
