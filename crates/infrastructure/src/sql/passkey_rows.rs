//! Passkey rows as the MFA changes and the passkey store both touch them: the key a
//! credential id is found by, the counter's compare-and-set, and deleting a user's passkeys.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _, UpdateMany};
use sha2::{Digest as _, Sha256};
use slugbase_application::ports::{PasskeyUse, StoreResult};

use super::entity::passkeys;
use super::{db_err, to_ms};

/// The unique key of a credential id: its SHA-256, lower-case hex (a credential id may be
/// longer than an index can hold).
pub(super) fn credential_key(credential_id: &[u8]) -> String {
    Sha256::digest(credential_id).iter().map(|b| format!("{b:02x}")).collect()
}

/// The compare-and-set that records `used`: stores the new credential, counter, backup
/// state and `last_used_at` only if the counter moves forward — `… WHERE sign_count < :new`
/// (or `= 0` for an authenticator that keeps no counter). Of concurrent uses with one
/// counter, the one that moves it first wins; the others re-read the row under its lock and
/// match nothing. The caller adds who must own it, when that matters.
pub(super) fn use_passkey(used: &PasskeyUse) -> UpdateMany<passkeys::Entity> {
    let count = i64::from(used.sign_count);
    let moves_forward = if used.sign_count == 0 {
        passkeys::Column::SignCount.eq(0_i64)
    } else {
        passkeys::Column::SignCount.lt(count)
    };
    passkeys::Entity::update_many()
        .col_expr(passkeys::Column::Passkey, Expr::val(used.passkey.as_str()))
        .col_expr(passkeys::Column::SignCount, Expr::val(count))
        .col_expr(passkeys::Column::BackupState, Expr::val(used.backup_state))
        .col_expr(passkeys::Column::LastUsedAt, Expr::val(to_ms(used.at)))
        .filter(passkeys::Column::CredentialKey.eq(credential_key(&used.credential_id)))
        .filter(moves_forward)
}

/// Deletes every passkey of `user` (MFA turned off or reset: no second factor stays).
pub(super) async fn delete_passkeys_of<C: ConnectionTrait>(
    conn: &C,
    user: &str,
) -> StoreResult<()> {
    passkeys::Entity::delete_many()
        .filter(passkeys::Column::UserId.eq(user))
        .exec(conn)
        .await
        .map_err(db_err)?;
    Ok(())
}
