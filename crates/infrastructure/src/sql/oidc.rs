//! [`OidcRepository`] over SQL: login flows taken by one conditional delete, links stored
//! with their audit event in one transaction, a session's provider `auth_time`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait as _, Condition, EntityTrait as _, QueryFilter as _, QuerySelect as _, Set,
};
use slugbase_application::ports::{
    AuditEvent, LinkOutcome, NewUser, Notice, OidcFlowRecord, OidcRepository, SecretDigest,
    SessionIdpAuth, StoreError, StoreResult,
};
use slugbase_domain::{User, UserId};

use super::audit::insert_event;
use super::dialect::Engine;
use super::entity::{oidc_flows, oidc_identities, oidc_session_auth, users};
use super::outbox::insert_notice;
use super::users::{insert_user, user_from_model};
use super::{SeaOrmStore, db_err, from_ms, to_ms};

fn flow_from_model(row: oidc_flows::Model) -> StoreResult<OidcFlowRecord> {
    Ok(OidcFlowRecord {
        id_hash: SecretDigest::from_hex(row.id_hash),
        provider: row.provider,
        state: row.state,
        nonce: row.nonce,
        pkce_verifier: row.pkce_verifier,
        return_to: row.return_to,
        created_at: from_ms(row.created_at)?,
        expires_at: from_ms(row.expires_at)?,
    })
}

#[async_trait]
impl OidcRepository for SeaOrmStore {
    async fn create_flow(&self, flow: OidcFlowRecord) -> StoreResult<()> {
        let row = oidc_flows::ActiveModel {
            id_hash: Set(flow.id_hash.as_str().to_owned()),
            provider: Set(flow.provider),
            state: Set(flow.state),
            nonce: Set(flow.nonce),
            pkce_verifier: Set(flow.pkce_verifier),
            return_to: Set(flow.return_to),
            created_at: Set(to_ms(flow.created_at)),
            expires_at: Set(to_ms(flow.expires_at)),
        };
        oidc_flows::Entity::insert(row).exec_without_returning(&self.db).await.map_err(db_err)?;
        Ok(())
    }

    async fn take_flow(&self, id_hash: &SecretDigest) -> StoreResult<Option<OidcFlowRecord>> {
        let row = oidc_flows::Entity::find_by_id(id_hash.as_str().to_owned())
            .one(&self.db)
            .await
            .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        // The delete decides: of concurrent callbacks only the one whose delete removed
        // the row uses the flow.
        let deleted = oidc_flows::Entity::delete_many()
            .filter(oidc_flows::Column::IdHash.eq(id_hash.as_str()))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        if deleted.rows_affected != 1 {
            return Ok(None);
        }
        flow_from_model(row).map(Some)
    }

    async fn delete_expired_flows(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let deleted = oidc_flows::Entity::delete_many()
            .filter(oidc_flows::Column::ExpiresAt.lte(to_ms(now)))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(deleted.rows_affected)
    }

    async fn find_linked_user(&self, provider: &str, subject: &str) -> StoreResult<Option<User>> {
        let link = oidc_identities::Entity::find()
            .filter(oidc_identities::Column::Provider.eq(provider))
            .filter(oidc_identities::Column::Subject.eq(subject))
            .one(self.reads())
            .await
            .map_err(db_err)?;
        let Some(link) = link else { return Ok(None) };
        let row =
            users::Entity::find_by_id(link.user_id).one(self.reads()).await.map_err(db_err)?;
        row.map(user_from_model).transpose()
    }

    async fn link<'a>(
        &self,
        provider: &str,
        subject: &str,
        user: UserId,
        event: AuditEvent,
        notice: Option<&'a Notice>,
    ) -> StoreResult<LinkOutcome> {
        let tx = self.begin_write().await?;
        // The account's row first, locked where rows are locked: concurrent links of one
        // account queue here instead of deadlocking on the identity index (MySQL/MariaDB).
        let mut account = users::Entity::find_by_id(user.to_string());
        if Engine::of(&tx).locks_rows() {
            account = account.lock_exclusive();
        }
        let exists = account.one(&tx).await.map_err(db_err)?.is_some();
        let clash = oidc_identities::Entity::find()
            .filter(oidc_identities::Column::Provider.eq(provider))
            .filter(
                Condition::any()
                    .add(oidc_identities::Column::Subject.eq(subject))
                    .add(oidc_identities::Column::UserId.eq(user.to_string())),
            )
            .one(&tx)
            .await
            .map_err(db_err)?;
        if clash.is_some() || !exists {
            tx.rollback().await.map_err(db_err)?;
            return Ok(LinkOutcome::Refused);
        }
        let row = oidc_identities::ActiveModel {
            provider: Set(provider.to_owned()),
            subject: Set(subject.to_owned()),
            user_id: Set(user.to_string()),
            created_at: Set(to_ms(event.at)),
        };
        match oidc_identities::Entity::insert(row).exec_without_returning(&tx).await.map_err(db_err)
        {
            Ok(_) => {}
            // A concurrent link won the unique index (PostgreSQL reads did not see it yet).
            Err(StoreError::Conflict(_)) => return Ok(LinkOutcome::Refused),
            Err(e) => return Err(e),
        }
        users::Entity::update_many()
            .col_expr(users::Column::OidcProvider, Expr::val(provider))
            .filter(users::Column::Id.eq(user.to_string()))
            .filter(users::Column::OidcProvider.is_null())
            .exec(&tx)
            .await
            .map_err(db_err)?;
        insert_event(&tx, event).await?;
        if let Some(notice) = notice {
            insert_notice(&tx, notice).await?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(LinkOutcome::Linked)
    }

    async fn create_linked_user(
        &self,
        user: NewUser,
        subject: &str,
        event: AuditEvent,
    ) -> StoreResult<User> {
        let Some(provider) = user.oidc_provider.clone() else {
            return Err(StoreError::Other(anyhow::anyhow!("a linked user needs its provider")));
        };
        let tx = self.begin_write().await?;
        let created = insert_user(&tx, user).await?;
        let row = oidc_identities::ActiveModel {
            provider: Set(provider),
            subject: Set(subject.to_owned()),
            user_id: Set(created.id.to_string()),
            created_at: Set(to_ms(created.created_at)),
        };
        oidc_identities::Entity::insert(row).exec_without_returning(&tx).await.map_err(db_err)?;
        insert_event(&tx, event).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(created)
    }

    async fn record_session_auth(
        &self,
        session: &SecretDigest,
        auth: SessionIdpAuth,
    ) -> StoreResult<()> {
        let row = oidc_session_auth::ActiveModel {
            session_hash: Set(session.as_str().to_owned()),
            provider: Set(auth.provider),
            auth_time: Set(to_ms(auth.auth_time)),
        };
        oidc_session_auth::Entity::insert(row)
            .on_conflict(
                OnConflict::column(oidc_session_auth::Column::SessionHash)
                    .update_columns([
                        oidc_session_auth::Column::Provider,
                        oidc_session_auth::Column::AuthTime,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn session_auth(&self, session: &SecretDigest) -> StoreResult<Option<SessionIdpAuth>> {
        let row = oidc_session_auth::Entity::find_by_id(session.as_str().to_owned())
            .one(self.reads())
            .await
            .map_err(db_err)?;
        row.map(|r| Ok(SessionIdpAuth { provider: r.provider, auth_time: from_ms(r.auth_time)? }))
            .transpose()
    }
}
