//! The configured MFA policy, applied: where a user stands with it now, and the start of
//! their grace period, stored at their first sign-in — or first request with a session or
//! API token from before the policy — while it requires MFA of them
//! ([`slugbase_domain::mfa_policy`] holds the rule itself).

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use slugbase_domain::{MfaPolicy, MfaStanding, User};

use crate::error::Unexpected;
use crate::ports::{Background, Clock, UserRepository};

/// [`MfaPolicy`] over the users' storage and the clock.
#[derive(Clone)]
pub struct MfaPolicyCheck {
    policy: MfaPolicy,
    users: Arc<dyn UserRepository>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for MfaPolicyCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MfaPolicyCheck").field("policy", &self.policy).finish_non_exhaustive()
    }
}

impl MfaPolicyCheck {
    /// `policy`, judged by the `clock`'s time; grace starts stored in `users`.
    #[must_use]
    pub fn new(policy: MfaPolicy, users: Arc<dyn UserRepository>, clock: Arc<dyn Clock>) -> Self {
        Self { policy, users, clock }
    }

    /// Where `user` stands now (as stored: a grace period not started yet is
    /// [`MfaStanding::GraceNotStarted`]).
    #[must_use]
    pub fn standing(&self, user: &User) -> MfaStanding {
        self.policy.standing(user, self.clock.now())
    }

    /// At a sign-in: starts `user`'s grace period if the policy requires MFA of them, they
    /// have none and no grace period has started yet — stored before the session is
    /// handed out — and updates `user` to the start as stored. Returns where they stand.
    ///
    /// # Errors
    /// Storage failures.
    pub(crate) async fn at_sign_in(&self, user: &mut User) -> Result<MfaStanding, Unexpected> {
        let now = self.clock.now();
        if self.policy.starts_grace(user) {
            let stored = self.users.start_mfa_grace(user.id, now).await?;
            user.mfa_grace_started_at = Some(stored.unwrap_or(now));
        }
        Ok(self.policy.standing(user, now))
    }

    /// On an authenticated request at `now`: where `user` stands. A session or API token
    /// from before the policy covered its owner may reach here before any sign-in under it:
    /// then the grace period starts now, written on `background` (off the request's path,
    /// like the activity writes; a failed write is logged and retried by the next request),
    /// and `user` is updated as if it were stored.
    pub(crate) fn on_request(
        &self,
        user: &mut User,
        now: DateTime<Utc>,
        background: &dyn Background,
    ) -> MfaStanding {
        if self.policy.starts_grace(user) {
            let (users, id) = (Arc::clone(&self.users), user.id);
            background.run(Box::pin(async move {
                if let Err(error) = users.start_mfa_grace(id, now).await {
                    tracing::warn!(%error, user.id = %id, "storing the start of an MFA grace period failed");
                }
            }));
            user.mfa_grace_started_at = Some(now);
        }
        self.policy.standing(user, now)
    }
}
