//! [`AccountImport`] over SQL: one write transaction per account — the user, its MFA, its
//! backup codes, tokens and OIDC link, the `imported_accounts` row that a re-run finds and
//! the `account_imported` event — committed together or not at all.

use std::collections::HashMap;

use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait as _, ConnectionTrait, DatabaseTransaction, EntityTrait as _, QueryFilter as _,
    QuerySelect as _, Set,
};
use slugbase_application::ports::{AccountImport, ImportOutcome, ImportedAccount, StoreResult};
use slugbase_domain::UserId;

use super::audit::insert_event;
use super::entity::{api_tokens, imported_accounts, oidc_identities, users};
use super::tokens::token_row;
use super::users::insert_user;
use super::{SeaOrmStore, db_err, insert_codes, parse_uuid, to_ms};

/// The user an earlier import stored for `(source, source_id)`.
async fn imported_user<C: ConnectionTrait>(
    conn: &C,
    source: &str,
    source_id: &str,
) -> StoreResult<Option<UserId>> {
    let user: Option<String> = imported_accounts::Entity::find()
        .select_only()
        .column(imported_accounts::Column::UserId)
        .filter(imported_accounts::Column::Source.eq(source))
        .filter(imported_accounts::Column::SourceId.eq(source_id))
        .into_tuple()
        .one(conn)
        .await
        .map_err(db_err)?;
    user.map(|id| parse_uuid(&id).map(UserId::from_uuid)).transpose()
}

/// Why the account cannot be stored as it is, if it cannot.
async fn collision<C: ConnectionTrait>(
    conn: &C,
    account: &ImportedAccount,
) -> StoreResult<Option<ImportOutcome>> {
    if let Some(id) = imported_user(conn, &account.source, &account.source_id).await? {
        return Ok(Some(ImportOutcome::AlreadyImported(id)));
    }
    let email = users::Entity::find()
        .select_only()
        .column(users::Column::Id)
        .filter(users::Column::Email.eq(account.user.email.as_str()))
        .into_tuple::<String>()
        .one(conn)
        .await
        .map_err(db_err)?;
    if email.is_some() {
        return Ok(Some(ImportOutcome::EmailTaken));
    }
    if let (Some(provider), Some(subject)) = (&account.user.oidc_provider, &account.oidc_subject) {
        let linked = oidc_identities::Entity::find()
            .filter(oidc_identities::Column::Provider.eq(provider.as_str()))
            .filter(oidc_identities::Column::Subject.eq(subject.as_str()))
            .one(conn)
            .await
            .map_err(db_err)?;
        if linked.is_some() {
            return Ok(Some(ImportOutcome::OidcSubjectTaken));
        }
    }
    Ok(None)
}

/// Writes every part of the account in `tx`.
async fn write(tx: &DatabaseTransaction, account: &ImportedAccount) -> StoreResult<ImportOutcome> {
    let id = account.user.id.to_string();
    let mut created = insert_user(tx, account.user.clone()).await?;
    if let Some(mfa) = &account.mfa {
        users::Entity::update_many()
            .col_expr(users::Column::MfaEnabled, Expr::val(true))
            .col_expr(users::Column::MfaSecret, Expr::val(mfa.secret.as_str()))
            .col_expr(users::Column::MfaEnrolledAt, Expr::val(to_ms(mfa.enrolled_at)))
            .filter(users::Column::Id.eq(id.as_str()))
            .exec(tx)
            .await
            .map_err(db_err)?;
        if !mfa.backup_codes.is_empty() {
            insert_codes(tx, &id, &mfa.backup_codes, account.user.created_at).await?;
        }
        created.mfa = slugbase_domain::MfaState::Enabled {
            secret: Some(mfa.secret.clone()),
            enrolled_at: super::stored_time(mfa.enrolled_at),
            last_totp_step: None,
            pending: None,
        };
    }
    if !account.tokens.is_empty() {
        api_tokens::Entity::insert_many(account.tokens.iter().cloned().map(token_row))
            .exec_without_returning(tx)
            .await
            .map_err(db_err)?;
    }
    if let (Some(provider), Some(subject)) = (&account.user.oidc_provider, &account.oidc_subject) {
        let row = oidc_identities::ActiveModel {
            provider: Set(provider.clone()),
            subject: Set(subject.clone()),
            user_id: Set(id.clone()),
            created_at: Set(to_ms(account.audit.at)),
        };
        oidc_identities::Entity::insert(row).exec_without_returning(tx).await.map_err(db_err)?;
    }
    let row = imported_accounts::ActiveModel {
        user_id: Set(id),
        source: Set(account.source.clone()),
        source_id: Set(account.source_id.clone()),
        imported_at: Set(to_ms(account.audit.at)),
    };
    imported_accounts::Entity::insert(row).exec_without_returning(tx).await.map_err(db_err)?;
    insert_event(tx, account.audit.clone()).await?;
    Ok(ImportOutcome::Imported(Box::new(created)))
}

#[async_trait]
impl AccountImport for SeaOrmStore {
    async fn imported_from(&self, source: &str) -> StoreResult<HashMap<String, UserId>> {
        let rows: Vec<(String, String)> = imported_accounts::Entity::find()
            .select_only()
            .column(imported_accounts::Column::SourceId)
            .column(imported_accounts::Column::UserId)
            .filter(imported_accounts::Column::Source.eq(source))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(db_err)?;
        rows.into_iter()
            .map(|(source_id, user)| Ok((source_id, UserId::from_uuid(parse_uuid(&user)?))))
            .collect()
    }

    async fn import_account(&self, account: &ImportedAccount) -> StoreResult<ImportOutcome> {
        let tx = self.begin_write().await?;
        if let Some(outcome) = collision(&tx, account).await? {
            tx.rollback().await.map_err(db_err)?;
            return Ok(outcome);
        }
        let written = write(&tx, account).await;
        let committed = match written {
            Ok(outcome) => tx.commit().await.map_err(db_err).map(|()| outcome),
            Err(e) => {
                tx.rollback().await.map_err(db_err)?;
                Err(e)
            }
        };
        match committed {
            Ok(outcome) => Ok(outcome),
            // A concurrent import of the same account (or of the e-mail, or the subject)
            // committed between the check and the writes (PostgreSQL, MariaDB): what it
            // stored is the answer.
            Err(error) => match collision(&self.db, account).await? {
                Some(outcome) => Ok(outcome),
                None => Err(error),
            },
        }
    }
}
