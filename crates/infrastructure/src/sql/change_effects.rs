//! The effects committed with a change (MFA, password, sign-in with a second factor,
//! administrator reset) in SQL, run on the change's own transaction: the audit events, the
//! session it starts, the end of the user's other sessions, the attempt counters given back
//! or forgotten, the e-mail notice in the outbox. The statements are the ones the audit,
//! session and attempt repositories run on their own.

use sea_orm::{ConnectionTrait, EntityTrait as _};
use slugbase_application::ports::{ChangeEffects, StoreResult};
use slugbase_domain::UserId;

use super::attempts::release_update;
use super::audit::insert_event;
use super::entity::attempt_counters;
use super::outbox::insert_notice;
use super::sessions::{delete_sessions_of, insert_session};
use super::{db_err, to_ms};

/// Applies `effects` of a change to `user` on `tx`, which the caller then commits with the
/// change (or rolls back with it).
pub(super) async fn apply_effects<C: ConnectionTrait>(
    tx: &C,
    user: UserId,
    effects: &ChangeEffects,
) -> StoreResult<()> {
    insert_event(tx, effects.audit.clone()).await?;
    for event in &effects.also_audit {
        insert_event(tx, event.clone()).await?;
    }
    if let Some(session) = &effects.start_session {
        insert_session(tx, session).await?;
    }
    if let Some(end) = &effects.end_sessions {
        delete_sessions_of(user, end.keep.as_ref()).exec(tx).await.map_err(db_err)?;
    }
    for release in &effects.releases {
        let update = release_update(&release.key, to_ms(release.reserved_in), release.outcome);
        update.exec(tx).await.map_err(db_err)?;
    }
    for key in &effects.cleared_attempts {
        attempt_counters::Entity::delete_by_id(key.as_str()).exec(tx).await.map_err(db_err)?;
    }
    if let Some(notice) = &effects.notice {
        insert_notice(tx, notice).await?;
    }
    Ok(())
}
