//! An MFA change's effects in SQL, run on the change's own transaction: the audit events,
//! the session it starts, the end of the user's other sessions, the attempt counters given
//! back or forgotten, the e-mail notice in the outbox (a password change commits the same
//! effects). The
//! statements are the ones the audit, session and attempt repositories run on their own.

use sea_orm::EntityTrait as _;
use slugbase_application::ports::{MfaChangeEffects, StoreResult};
use slugbase_domain::UserId;

use super::attempts::release_update;
use super::audit::insert_event;
use super::entity::attempt_counters;
use super::outbox::insert_notice;
use super::sessions::{delete_sessions_of, insert_session};
use super::sync_writes::{Writer, execute};
use super::to_ms;

/// Applies `effects` of a change to `user` on `tx`, which the caller then commits with the
/// change (or rolls back with it).
pub(super) async fn apply_effects<W: Writer + ?Sized>(
    tx: &W,
    user: UserId,
    effects: &MfaChangeEffects,
) -> StoreResult<()> {
    insert_event(tx, effects.audit.clone()).await?;
    for event in &effects.also_audit {
        insert_event(tx, event.clone()).await?;
    }
    if let Some(session) = &effects.start_session {
        insert_session(tx, session).await?;
    }
    if let Some(end) = &effects.end_sessions {
        execute(tx, &delete_sessions_of(user, end.keep.as_ref())).await?;
    }
    for release in &effects.releases {
        let update = release_update(&release.key, to_ms(release.reserved_in), release.outcome);
        execute(tx, &update).await?;
    }
    for key in &effects.cleared_attempts {
        execute(tx, &attempt_counters::Entity::delete_by_id(key.as_str())).await?;
    }
    if let Some(notice) = &effects.notice {
        insert_notice(tx, notice).await?;
    }
    Ok(())
}
