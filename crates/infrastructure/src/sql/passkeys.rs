//! [`PasskeyRepository`] over SQL: a passkey stored with its effects in one transaction,
//! removed with the proof it spends and its effects in one transaction (the user's row
//! locked first, as every MFA change), a use recorded by one conditional `UPDATE` on the
//! counter, a ceremony taken by one conditional `DELETE`.

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait as _, EntityTrait as _, PaginatorTrait as _, QueryFilter as _, QueryOrder as _, Set,
};
use slugbase_application::ports::{
    CeremonyKind, CeremonyRecord, CeremonyState, ChangeEffects, Listed, MfaProof, MfaTurnOn,
    PasskeyData, PasskeyRecord, PasskeyRemoval, PasskeyRepository, PasskeyUse, PasskeyUseOutcome,
    SecretDigest, StoreResult,
};
use slugbase_domain::{PasskeyId, UserId};

use super::change_effects::apply_effects;
use super::entity::{passkeys, users, webauthn_ceremonies};
use super::listed::{logged, rows_listed};
use super::mfa::{lock_user, replace_codes, spend, updated_one};
use super::passkey_rows::{credential_key, use_passkey};
use super::{SeaOrmStore, corrupt, db_err, from_ms, from_ms_opt, parse_uuid, to_ms};

fn passkey_from_model(row: passkeys::Model) -> StoreResult<PasskeyRecord> {
    Ok(PasskeyRecord {
        id: PasskeyId::from_uuid(parse_uuid(&row.id)?),
        user_id: UserId::from_uuid(parse_uuid(&row.user_id)?),
        credential_id: URL_SAFE_NO_PAD
            .decode(row.credential_id)
            .map_err(|_| corrupt("credential_id"))?,
        passkey: PasskeyData::new(row.passkey),
        name: row.name,
        created_at: from_ms(row.created_at)?,
        last_used_at: from_ms_opt(row.last_used_at)?,
        sign_count: u32::try_from(row.sign_count).map_err(|_| corrupt("sign_count"))?,
        backup_eligible: row.backup_eligible,
        backup_state: row.backup_state,
    })
}

fn passkey_row(record: PasskeyRecord) -> passkeys::ActiveModel {
    passkeys::ActiveModel {
        id: Set(record.id.to_string()),
        user_id: Set(record.user_id.to_string()),
        credential_key: Set(credential_key(&record.credential_id)),
        credential_id: Set(URL_SAFE_NO_PAD.encode(&record.credential_id)),
        passkey: Set(record.passkey.as_str().to_owned()),
        name: Set(record.name),
        created_at: Set(to_ms(record.created_at)),
        last_used_at: Set(record.last_used_at.map(to_ms)),
        sign_count: Set(i64::from(record.sign_count)),
        backup_eligible: Set(record.backup_eligible),
        backup_state: Set(record.backup_state),
    }
}

#[async_trait]
impl PasskeyRepository for SeaOrmStore {
    async fn create_passkey(
        &self,
        record: PasskeyRecord,
        effects: &ChangeEffects,
    ) -> StoreResult<()> {
        let user = record.user_id;
        let tx = self.begin_write().await?;
        // A taken credential id fails the insert on the unique key: the transaction is
        // dropped (rolled back) with none of the effects.
        passkeys::Entity::insert(passkey_row(record))
            .exec_without_returning(&tx)
            .await
            .map_err(db_err)?;
        apply_effects(&tx, user, effects).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn create_first_passkey(
        &self,
        record: PasskeyRecord,
        effects: &ChangeEffects,
        turn_on: &MfaTurnOn,
    ) -> StoreResult<bool> {
        let user = record.user_id;
        let id = user.to_string();
        let tx = self.begin_write().await?;
        // The user's row first, as every MFA change: of concurrent first registrations one
        // finds MFA off and turns it on; the others find it on and store their passkey only.
        lock_user(&tx, &id).await?;
        passkeys::Entity::insert(passkey_row(record))
            .exec_without_returning(&tx)
            .await
            .map_err(db_err)?;
        apply_effects(&tx, user, effects).await?;
        let flip = users::Entity::update_many()
            .col_expr(users::Column::MfaEnabled, Expr::val(true))
            .col_expr(users::Column::MfaEnrolledAt, Expr::val(to_ms(turn_on.at)))
            .col_expr(users::Column::MfaLastTotpStep, Expr::val(Option::<i64>::None))
            .filter(users::Column::Id.eq(id.as_str()))
            .filter(users::Column::MfaEnabled.eq(false));
        let turned_on = updated_one(&tx, flip).await?;
        if turned_on {
            replace_codes(&tx, &id, &turn_on.backup_codes, turn_on.at).await?;
            apply_effects(&tx, user, &turn_on.effects).await?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(turned_on)
    }

    async fn passkeys_of(&self, user: UserId) -> StoreResult<Vec<Listed<PasskeyRecord>>> {
        let select = passkeys::Entity::find()
            .filter(passkeys::Column::UserId.eq(user.to_string()))
            .order_by_asc(passkeys::Column::CreatedAt)
            .order_by_asc(passkeys::Column::Id);
        rows_listed(self.reads(), select, "id", passkey_from_model, logged("passkeys")).await
    }

    async fn find_passkey(&self, credential_id: &[u8]) -> StoreResult<Option<PasskeyRecord>> {
        let row = passkeys::Entity::find()
            .filter(passkeys::Column::CredentialKey.eq(credential_key(credential_id)))
            .one(self.reads())
            .await
            .map_err(db_err)?;
        row.map(passkey_from_model).transpose()
    }

    async fn rename_passkey(&self, user: UserId, id: PasskeyId, name: &str) -> StoreResult<bool> {
        let updated = passkeys::Entity::update_many()
            .col_expr(passkeys::Column::Name, Expr::val(name))
            .filter(passkeys::Column::Id.eq(id.to_string()))
            .filter(passkeys::Column::UserId.eq(user.to_string()))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(updated.rows_affected == 1)
    }

    async fn remove_passkey(
        &self,
        user: UserId,
        id: PasskeyId,
        proof: &MfaProof,
        at: DateTime<Utc>,
        effects: &ChangeEffects,
    ) -> StoreResult<PasskeyRemoval> {
        let owner = user.to_string();
        let tx = self.begin_write().await?;
        // The user's row first, as every MFA change: concurrent removals (and spends) of one
        // user queue here, so the one that comes second finds the passkey gone.
        lock_user(&tx, &owner).await?;
        let mine = passkeys::Entity::find()
            .filter(passkeys::Column::Id.eq(id.to_string()))
            .filter(passkeys::Column::UserId.eq(owner.as_str()))
            .count(&tx)
            .await
            .map_err(db_err)?;
        if mine != 1 {
            tx.rollback().await.map_err(db_err)?;
            return Ok(PasskeyRemoval::NotFound);
        }
        // The last second factor stays: MFA on with passkeys alone and no other passkey.
        let passkeys_alone = users::Entity::find_by_id(owner.as_str())
            .filter(users::Column::MfaEnabled.eq(true))
            .filter(users::Column::MfaSecret.is_null())
            .count(&tx)
            .await
            .map_err(db_err)?
            == 1;
        if passkeys_alone {
            let all = passkeys::Entity::find()
                .filter(passkeys::Column::UserId.eq(owner.as_str()))
                .count(&tx)
                .await
                .map_err(db_err)?;
            if all <= 1 {
                tx.rollback().await.map_err(db_err)?;
                return Ok(PasskeyRemoval::LastFactor);
            }
        }
        if !spend(&tx, &owner, proof, at).await? {
            tx.rollback().await.map_err(db_err)?;
            return Ok(PasskeyRemoval::ProofRefused);
        }
        passkeys::Entity::delete_many()
            .filter(passkeys::Column::Id.eq(id.to_string()))
            .filter(passkeys::Column::UserId.eq(owner.as_str()))
            .exec(&tx)
            .await
            .map_err(db_err)?;
        apply_effects(&tx, user, effects).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(PasskeyRemoval::Removed)
    }

    async fn record_passkey_use(&self, used: &PasskeyUse) -> StoreResult<PasskeyUseOutcome> {
        let key = credential_key(&used.credential_id);
        let updated = use_passkey(used).exec(&self.db).await.map_err(db_err)?;
        if updated.rows_affected == 1 {
            return Ok(PasskeyUseOutcome::Recorded);
        }
        let exists = passkeys::Entity::find()
            .filter(passkeys::Column::CredentialKey.eq(key))
            .count(&self.db)
            .await
            .map_err(db_err)?;
        Ok(if exists == 0 {
            PasskeyUseOutcome::NotFound
        } else {
            PasskeyUseOutcome::CounterRegressed
        })
    }

    async fn put_ceremony(&self, ceremony: CeremonyRecord) -> StoreResult<()> {
        let row = webauthn_ceremonies::ActiveModel {
            id_hash: Set(ceremony.id_hash.as_str().to_owned()),
            user_id: Set(ceremony.user_id.map(|u| u.to_string())),
            kind: Set(ceremony.kind.as_str().to_owned()),
            state: Set(ceremony.state.as_str().to_owned()),
            created_at: Set(to_ms(ceremony.created_at)),
            expires_at: Set(to_ms(ceremony.expires_at)),
        };
        webauthn_ceremonies::Entity::insert(row)
            .exec_without_returning(&self.db)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn take_ceremony(
        &self,
        id_hash: &SecretDigest,
        user: Option<UserId>,
        kind: CeremonyKind,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<CeremonyState>> {
        let owner = match user {
            Some(user) => webauthn_ceremonies::Column::UserId.eq(user.to_string()),
            None => webauthn_ceremonies::Column::UserId.is_null(),
        };
        let row = webauthn_ceremonies::Entity::find_by_id(id_hash.as_str().to_owned())
            .filter(owner.clone())
            .filter(webauthn_ceremonies::Column::Kind.eq(kind.as_str()))
            .one(&self.db)
            .await
            .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        // The delete decides: of concurrent takes only the one whose delete removed the row
        // uses the state. An expired one is removed all the same, and given to nobody.
        let deleted = webauthn_ceremonies::Entity::delete_many()
            .filter(webauthn_ceremonies::Column::IdHash.eq(id_hash.as_str()))
            .filter(owner)
            .filter(webauthn_ceremonies::Column::Kind.eq(kind.as_str()))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        if deleted.rows_affected != 1 || row.expires_at <= to_ms(now) {
            return Ok(None);
        }
        Ok(Some(CeremonyState::new(row.state)))
    }

    async fn delete_expired_ceremonies(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let deleted = webauthn_ceremonies::Entity::delete_many()
            .filter(webauthn_ceremonies::Column::ExpiresAt.lte(to_ms(now)))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(deleted.rows_affected)
    }
}
