//! Who must have MFA, for how long someone without it may go on as before, and what they
//! may do afterwards (`security.require_mfa`, `security.grace_days`).
//!
//! The rule, in the order it is decided ([`MfaPolicy::standing`]):
//!
//! 1. the policy's scope does not cover the user (`off`; `admins` and the user is not one)
//!    → [`MfaStanding::NotRequired`];
//! 2. MFA is on → [`MfaStanding::Enrolled`];
//! 3. no grace period has started (the user has not signed in since the policy came to
//!    cover them) → [`MfaStanding::GraceNotStarted`]; the next sign-in starts it;
//! 4. the grace period (`grace_days` from its start) is running → [`MfaStanding::InGrace`]:
//!    everything works as before;
//! 5. it is over → [`MfaStanding::Overdue`]: the user may only enrol.
//!
//! A grace period starts once per user and is never moved (GitLab's rule): enrolling ends
//! the need for it, and a user who loses MFA later (an administrator's reset) goes on from
//! the same start. Its length is read from the policy each time, so changing `grace_days`
//! changes the end of every running grace period.

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};

use crate::User;

/// Which users a policy requires MFA of (`security.require_mfa`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MfaScope {
    /// Nobody.
    #[default]
    Off,
    /// Administrators.
    Admins,
    /// Every user.
    All,
}

impl MfaScope {
    /// The configuration's name: `off`, `admins` or `all`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Admins => "admins",
            Self::All => "all",
        }
    }

    /// Whether the scope covers `user`.
    #[must_use]
    pub const fn covers(self, user: &User) -> bool {
        match self {
            Self::Off => false,
            Self::Admins => user.is_admin,
            Self::All => true,
        }
    }
}

impl fmt::Display for MfaScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The grace period when the configuration names none: two weeks, as Microsoft's security
/// defaults give for registering a second factor — long enough for someone away for a week,
/// short enough that a policy takes hold within a month.
pub const DEFAULT_GRACE_DAYS: u32 = 14;

/// The configured MFA policy: who must have MFA, and the grace period before a user
/// without it is held to enrolment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MfaPolicy {
    /// Who must have MFA.
    pub scope: MfaScope,
    /// Days from a user's grace start during which they may go on without MFA; 0: none (the
    /// first sign-in under the policy is already held to enrolment). A length past the end
    /// of the calendar means the grace period never ends.
    pub grace_days: u32,
}

impl Default for MfaPolicy {
    /// Off, with the default grace period ready for when a scope is set.
    fn default() -> Self {
        Self { scope: MfaScope::Off, grace_days: DEFAULT_GRACE_DAYS }
    }
}

/// Where a user stands with the policy at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MfaStanding {
    /// The policy does not cover the user (they may still have MFA).
    NotRequired,
    /// Covered, and MFA is on.
    Enrolled,
    /// Covered, MFA off, and no sign-in since the policy came to cover them: the grace
    /// period starts with the next one.
    GraceNotStarted,
    /// Covered, MFA off, inside the grace period: everything works as before.
    InGrace {
        /// When the grace period started.
        started_at: DateTime<Utc>,
        /// When it ends.
        ends_at: DateTime<Utc>,
        /// Whole days left, rounded up (1 until the last moment of the last day).
        days_left: u32,
    },
    /// Covered, MFA off, grace period over: the user may only enrol.
    Overdue {
        /// When the grace period started.
        started_at: DateTime<Utc>,
        /// When it ended: out of policy since then.
        since: DateTime<Utc>,
    },
}

impl MfaStanding {
    /// Whether the policy requires MFA of the user (whether or not they have it).
    #[must_use]
    pub const fn required(&self) -> bool {
        !matches!(self, Self::NotRequired)
    }

    /// Whether the policy requires MFA of the user and they do not have it.
    #[must_use]
    pub const fn out_of_policy(&self) -> bool {
        matches!(self, Self::GraceNotStarted | Self::InGrace { .. } | Self::Overdue { .. })
    }

    /// Whether the user may do nothing but enrol (and see what enrolment needs).
    #[must_use]
    pub const fn confines_to_enrolment(&self) -> bool {
        matches!(self, Self::Overdue { .. })
    }

    /// When the grace period started, if it has.
    #[must_use]
    pub const fn grace_started_at(&self) -> Option<DateTime<Utc>> {
        match self {
            Self::InGrace { started_at, .. } | Self::Overdue { started_at, .. } => {
                Some(*started_at)
            }
            Self::NotRequired | Self::Enrolled | Self::GraceNotStarted => None,
        }
    }

    /// When the grace period ends or ended, if it has started.
    #[must_use]
    pub const fn grace_ends_at(&self) -> Option<DateTime<Utc>> {
        match self {
            Self::InGrace { ends_at, .. } => Some(*ends_at),
            Self::Overdue { since, .. } => Some(*since),
            Self::NotRequired | Self::Enrolled | Self::GraceNotStarted => None,
        }
    }

    /// Whole days of grace left: `None` when no grace period applies (not required,
    /// enrolled, or not started), 0 once it is over.
    #[must_use]
    pub const fn grace_days_left(&self) -> Option<u32> {
        match self {
            Self::InGrace { days_left, .. } => Some(*days_left),
            Self::Overdue { .. } => Some(0),
            Self::NotRequired | Self::Enrolled | Self::GraceNotStarted => None,
        }
    }

    /// The stable name the API shows: `not_required`, `enrolled`, `grace_not_started`,
    /// `in_grace` or `overdue`.
    #[must_use]
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::NotRequired => "not_required",
            Self::Enrolled => "enrolled",
            Self::GraceNotStarted => "grace_not_started",
            Self::InGrace { .. } => "in_grace",
            Self::Overdue { .. } => "overdue",
        }
    }
}

/// One day.
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

impl MfaPolicy {
    /// Whether this user must keep (or get) MFA: the policy's scope covers them. What makes
    /// `POST /api/auth/mfa/disable` answer `MFA_REQUIRED_BY_POLICY`.
    #[must_use]
    pub const fn requires_mfa(&self, user: &User) -> bool {
        self.scope.covers(user)
    }

    /// When a grace period that started at `started_at` ends; `None` when that is past the
    /// end of the calendar (it never ends).
    #[must_use]
    pub fn grace_end(&self, started_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        started_at.checked_add_signed(TimeDelta::try_days(i64::from(self.grace_days))?)
    }

    /// Where `user` stands at `now` (the module's rule).
    #[must_use]
    pub fn standing(&self, user: &User, now: DateTime<Utc>) -> MfaStanding {
        if !self.requires_mfa(user) {
            return MfaStanding::NotRequired;
        }
        if user.mfa.is_enabled() {
            return MfaStanding::Enrolled;
        }
        let Some(started_at) = user.mfa_grace_started_at else {
            return MfaStanding::GraceNotStarted;
        };
        match self.grace_end(started_at) {
            Some(ends_at) if now >= ends_at => MfaStanding::Overdue { started_at, since: ends_at },
            Some(ends_at) => {
                let left_ms = (ends_at - now).num_milliseconds();
                let days = left_ms.div_euclid(DAY_MS) + i64::from(left_ms.rem_euclid(DAY_MS) > 0);
                let days_left = u32::try_from(days).unwrap_or(u32::MAX);
                MfaStanding::InGrace { started_at, ends_at, days_left }
            }
            None => MfaStanding::InGrace {
                started_at,
                ends_at: DateTime::<Utc>::MAX_UTC,
                days_left: u32::MAX,
            },
        }
    }

    /// Whether a sign-in of `user` at this moment starts their grace period: the policy
    /// covers them, MFA is off and no grace period has started yet.
    #[must_use]
    pub fn starts_grace(&self, user: &User) -> bool {
        self.requires_mfa(user) && !user.mfa.is_enabled() && user.mfa_grace_started_at.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DisplayName, Email, EncryptedSecret, LoginMethod, MfaState, PasswordHash, UserId};

    fn t(day: i64, secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + day * 86_400 + secs, 0).unwrap()
    }

    fn user(is_admin: bool, mfa: bool, grace_started_at: Option<DateTime<Utc>>) -> User {
        let mfa = if mfa {
            MfaState::Enabled {
                secret: Some(EncryptedSecret::new("k1:sealed")),
                enrolled_at: t(0, 0),
                last_totp_step: None,
                pending: None,
            }
        } else {
            MfaState::Disabled
        };
        User {
            id: UserId::generate(),
            email: Email::parse("u@example.com").unwrap(),
            name: DisplayName::parse("U").unwrap(),
            login: LoginMethod::Local(PasswordHash::from_phc("$argon2id$...")),
            oidc_provider: None,
            is_admin,
            mfa,
            created_at: t(0, 0),
            mfa_grace_started_at: grace_started_at,
        }
    }

    fn policy(scope: MfaScope, grace_days: u32) -> MfaPolicy {
        MfaPolicy { scope, grace_days }
    }

    #[test]
    fn off_covers_nobody_admins_covers_administrators_and_all_covers_everyone() {
        let (admin, member) = (user(true, false, None), user(false, false, None));
        let covered = |scope: MfaScope| (scope.covers(&admin), scope.covers(&member));
        assert_eq!(covered(MfaScope::Off), (false, false));
        assert_eq!(covered(MfaScope::Admins), (true, false));
        assert_eq!(covered(MfaScope::All), (true, true));
        for scope in [MfaScope::Off, MfaScope::Admins, MfaScope::All] {
            assert_eq!(policy(scope, 0).requires_mfa(&admin), scope.covers(&admin));
        }
        let names: Vec<_> = [MfaScope::Off, MfaScope::Admins, MfaScope::All]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(names, ["off", "admins", "all"]);
    }

    #[test]
    fn the_default_policy_is_off_with_a_two_week_grace_period() {
        assert_eq!(MfaPolicy::default(), policy(MfaScope::Off, 14));
        let someone = user(true, false, Some(t(0, 0)));
        assert_eq!(MfaPolicy::default().standing(&someone, t(100, 0)), MfaStanding::NotRequired);
    }

    #[test]
    fn a_user_outside_the_scope_is_not_required_whatever_their_state() {
        let p = policy(MfaScope::Admins, 14);
        for u in
            [user(false, false, None), user(false, true, None), user(false, false, Some(t(0, 0)))]
        {
            let standing = p.standing(&u, t(400, 0));
            assert_eq!(standing, MfaStanding::NotRequired);
            assert!(!standing.required());
            assert!(!standing.out_of_policy() && !standing.confines_to_enrolment());
        }
    }

    #[test]
    fn an_enrolled_user_is_in_policy_even_long_after_their_grace_period() {
        let p = policy(MfaScope::All, 14);
        let standing = p.standing(&user(false, true, Some(t(0, 0))), t(400, 0));
        assert_eq!(standing, MfaStanding::Enrolled);
        assert!(standing.required() && !standing.out_of_policy());
        assert_eq!(standing.grace_days_left(), None);
    }

    #[test]
    fn without_a_start_the_grace_period_has_not_begun_and_the_next_sign_in_starts_it() {
        let p = policy(MfaScope::All, 14);
        let waiting = user(false, false, None);
        let standing = p.standing(&waiting, t(5, 0));
        assert_eq!(standing, MfaStanding::GraceNotStarted);
        assert!(standing.out_of_policy() && !standing.confines_to_enrolment());
        assert_eq!((standing.grace_started_at(), standing.grace_ends_at()), (None, None));
        assert!(p.starts_grace(&waiting));
        // Started already, enrolled, or not covered: nothing to start.
        assert!(!p.starts_grace(&user(false, false, Some(t(0, 0)))));
        assert!(!p.starts_grace(&user(false, true, None)));
        assert!(!policy(MfaScope::Admins, 14).starts_grace(&waiting));
    }

    #[test]
    fn days_left_count_down_rounded_up_until_the_last_moment_of_the_grace_period() {
        let p = policy(MfaScope::All, 14);
        let u = user(false, false, Some(t(0, 0)));
        let end = t(14, 0);
        let days_left_at = |now| p.standing(&u, now).grace_days_left();
        assert_eq!(days_left_at(t(0, 0)), Some(14));
        assert_eq!(days_left_at(t(0, 1)), Some(14), "a started day counts as a whole one");
        assert_eq!(days_left_at(t(1, 0)), Some(13));
        assert_eq!(days_left_at(t(13, 0)), Some(1));
        assert_eq!(days_left_at(t(13, 86_399)), Some(1), "one second left");
        assert_eq!(
            p.standing(&u, t(13, 86_399)),
            MfaStanding::InGrace { started_at: t(0, 0), ends_at: end, days_left: 1 }
        );
        let overdue = p.standing(&u, end);
        assert_eq!(overdue, MfaStanding::Overdue { started_at: t(0, 0), since: end });
        assert!(overdue.out_of_policy() && overdue.confines_to_enrolment());
        assert_eq!(overdue.grace_days_left(), Some(0));
        assert_eq!(overdue.grace_ends_at(), Some(end));
        assert_eq!(p.standing(&u, t(300, 0)), overdue, "the end does not move");
    }

    #[test]
    fn a_grace_of_zero_days_holds_the_first_sign_in_to_enrolment() {
        let p = policy(MfaScope::All, 0);
        let u = user(false, false, Some(t(3, 0)));
        assert_eq!(
            p.standing(&u, t(3, 0)),
            MfaStanding::Overdue { started_at: t(3, 0), since: t(3, 0) }
        );
    }

    #[test]
    fn a_longer_grace_period_configured_later_moves_the_end_of_a_running_one() {
        let u = user(true, false, Some(t(0, 0)));
        assert!(policy(MfaScope::Admins, 7).standing(&u, t(10, 0)).confines_to_enrolment());
        assert_eq!(policy(MfaScope::Admins, 30).standing(&u, t(10, 0)).grace_days_left(), Some(20));
    }

    #[test]
    fn a_grace_period_past_the_end_of_the_calendar_never_ends() {
        let p = policy(MfaScope::All, u32::MAX);
        let u = user(false, false, Some(t(0, 0)));
        assert_eq!(p.grace_end(t(0, 0)), None);
        let standing = p.standing(&u, t(1_000_000, 0));
        assert!(!standing.confines_to_enrolment());
        assert_eq!(standing.grace_days_left(), Some(u32::MAX));
    }

    #[test]
    fn standings_have_stable_names() {
        let names = [
            MfaStanding::NotRequired,
            MfaStanding::Enrolled,
            MfaStanding::GraceNotStarted,
            MfaStanding::InGrace { started_at: t(0, 0), ends_at: t(1, 0), days_left: 1 },
            MfaStanding::Overdue { started_at: t(0, 0), since: t(1, 0) },
        ]
        .map(|s| s.as_str());
        assert_eq!(names, ["not_required", "enrolled", "grace_not_started", "in_grace", "overdue"]);
    }

    #[test]
    fn an_account_with_passkeys_alone_counts_as_enrolled() {
        let mut u = user(true, false, Some(t(0, 0)));
        u.mfa = MfaState::Enabled {
            secret: None,
            enrolled_at: t(1, 0),
            last_totp_step: None,
            pending: Some(EncryptedSecret::new("k1:pending")),
        };
        let all = policy(MfaScope::All, 0);
        assert_eq!(all.standing(&u, t(30, 0)), MfaStanding::Enrolled);
        assert!(!all.starts_grace(&u));
    }
}
