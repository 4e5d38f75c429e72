//! Attempt limiting over the [`AttemptRepository`] port.
//!
//! Every attempt is reserved before it is evaluated, with one conditional write per counter,
//! and given back if it was no failure: the limits hold however many guesses arrive at the
//! same moment. Failures are counted per account and per client address, separately for second-factor
//! attempts (verify, disable, regenerate, enroll confirm) and password attempts (login).
//! Password attempts are keyed by the e-mail that was tried, existing or not, so a 429
//! does not reveal whether an account exists.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use slugbase_domain::{AttemptPolicy, NoticeKind, Release, Throttle, User, UserId};

use crate::caller::ClientInfo;
use crate::collaborators::limit_report;
use crate::error::{InputRejected, Unexpected};
use crate::ports::{AttemptRelease, AttemptRepository, Notice, OutboxRepository, Reservation};

/// What is being guessed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptKind {
    /// A TOTP or backup code (and the password that goes with it in disable / regenerate).
    SecondFactor,
    /// A password at login.
    Password,
}

/// Configured limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttemptLimits {
    /// Second-factor failures per account.
    pub second_factor_account: AttemptPolicy,
    /// Password failures per tried e-mail.
    pub password_account: AttemptPolicy,
    /// Failures of either kind per client address.
    pub address: AttemptPolicy,
    /// Passwordless sign-ins started per client address: each stores a challenge before
    /// anyone is known, so an address may not start them without bound.
    pub sign_in_starts: AttemptPolicy,
}

impl Default for AttemptLimits {
    /// 10 second-factor failures per account per 15 minutes, and an administrator reset
    /// after 100 consecutive ones (NIST SP 800-63B §5.2.2); 10 password failures per e-mail
    /// per 15 minutes (no hard lockout: anyone can type anyone's e-mail); 60 failures per
    /// address per 15 minutes.
    fn default() -> Self {
        Self {
            second_factor_account: AttemptPolicy {
                max_failures: 10,
                window_secs: 900,
                lockout_after: Some(100),
            },
            password_account: AttemptPolicy {
                max_failures: 10,
                window_secs: 900,
                lockout_after: None,
            },
            address: AttemptPolicy { max_failures: 60, window_secs: 900, lockout_after: None },
            sign_in_starts: AttemptPolicy {
                max_failures: 100,
                window_secs: 300,
                lockout_after: None,
            },
        }
    }
}

/// The account an attempt is made against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttemptAccount {
    /// A known user (second-factor attempts).
    User(UserId),
    /// The e-mail typed at login, normalised when it parses (password attempts).
    Email(String),
}

/// Builds the storage keys of the counters — the one place that knows their format
/// (`sf:user:<id>`, `pw:email:<e-mail>`, `addr:<address>`, …). Storage treats them as
/// opaque text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttemptKey;

impl AttemptKey {
    /// Keys of every counter kept for a user's account (deleted with the user).
    #[must_use]
    pub fn of_user(user: UserId) -> Vec<String> {
        let account = AttemptAccount::User(user);
        [AttemptKind::SecondFactor, AttemptKind::Password]
            .into_iter()
            .map(|kind| Self::account(kind, &account))
            .collect()
    }

    /// Key of an account's counter.
    #[must_use]
    pub fn account(kind: AttemptKind, account: &AttemptAccount) -> String {
        match (kind, account) {
            (AttemptKind::SecondFactor, AttemptAccount::User(id)) => format!("sf:user:{id}"),
            (AttemptKind::Password, AttemptAccount::User(id)) => format!("pw:user:{id}"),
            (AttemptKind::SecondFactor, AttemptAccount::Email(e)) => format!("sf:email:{e}"),
            (AttemptKind::Password, AttemptAccount::Email(e)) => format!("pw:email:{e}"),
        }
    }

    /// Key of an address's counter.
    #[must_use]
    pub fn address(address: &str) -> String {
        format!("addr:{address}")
    }

    /// Key of an address's count of passwordless sign-ins started.
    #[must_use]
    pub fn sign_in_starts(address: &str) -> String {
        format!("start:addr:{address}")
    }
}

/// Attempts were refused: too many failures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("too many failed attempts; retry after {retry_after_secs} s")]
pub struct TooManyAttempts {
    /// Seconds to wait (`Retry-After`).
    pub retry_after_secs: u32,
    /// The account waits for an administrator.
    pub locked_out: bool,
}

/// Either a refusal or an unexpected failure.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// Over the limit.
    #[error(transparent)]
    TooMany(#[from] TooManyAttempts),
    /// Storage failed.
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

/// One counter's place taken by a reservation.
#[derive(Debug)]
struct Place {
    /// `account` or `address`, as the limit report names it.
    name: &'static str,
    key: String,
    window_start: DateTime<Utc>,
    /// This attempt, if it fails, is the one that reaches the account's lockout.
    locks_out: bool,
}

/// An attempt reserved by [`AttemptLimiter::reserve`]. It counts as a failure unless it is
/// handed back with [`AttemptLimiter::release`] or [`AttemptLimiter::succeeded`]; dropping
/// it (a refused guess, or an error on the way) keeps the failure counted.
#[derive(Debug)]
#[must_use = "a reserved attempt is a failure unless released or marked succeeded"]
pub struct AttemptTicket {
    kind: AttemptKind,
    account: Place,
    address: Option<Place>,
}

impl AttemptTicket {
    fn places(&self) -> impl Iterator<Item = &Place> {
        std::iter::once(&self.account).chain(self.address.as_ref())
    }

    /// The attempt was evaluated and failed: it stays counted.
    pub fn failed(self) {}

    /// What [`AttemptLimiter::succeeded`] would give back, for storage to apply in the
    /// transaction of the change the attempt succeeded at
    /// ([`ChangeEffects::releases`](crate::ports::ChangeEffects)).
    pub(crate) fn success_releases(&self) -> Vec<AttemptRelease> {
        let release = |place: &Place, outcome| AttemptRelease {
            key: place.key.clone(),
            reserved_in: place.window_start,
            outcome,
        };
        // The address counts failures only; its run is not the account's to end.
        std::iter::once(release(&self.account, Release::Succeeded))
            .chain(self.address.as_ref().map(|place| release(place, Release::NotAGuess)))
            .collect()
    }

    /// Storage committed [`Self::success_releases`] with the change: nothing is left to do
    /// but to say so in the request's limit report.
    pub(crate) fn released_with_change(self) {
        self.places().for_each(|place| limit_report::given_back(place.name));
    }
}

/// Applies [`AttemptLimits`] through the attempt repository.
#[derive(Clone)]
pub struct AttemptLimiter {
    store: Arc<dyn AttemptRepository>,
    limits: AttemptLimits,
    /// Where the notice of a second-factor lockout goes, if anywhere.
    lockout_notices: Option<Arc<dyn OutboxRepository>>,
}

impl std::fmt::Debug for AttemptLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttemptLimiter").field("limits", &self.limits).finish_non_exhaustive()
    }
}

impl AttemptLimiter {
    /// A limiter over a store.
    #[must_use]
    pub fn new(store: Arc<dyn AttemptRepository>, limits: AttemptLimits) -> Self {
        Self { store, limits, lockout_notices: None }
    }

    /// The same limiter, telling the account's owner by e-mail (a notice in `outbox`) when a
    /// failed second-factor attempt reaches the lockout.
    #[must_use]
    pub fn with_lockout_notices(mut self, outbox: Arc<dyn OutboxRepository>) -> Self {
        self.lockout_notices = Some(outbox);
        self
    }

    /// The reserved attempt on `user`'s account was evaluated and failed: it stays counted.
    /// If it is a second-factor attempt that reached the lockout (the account now waits for
    /// an administrator), the owner is sent a notice. The run was committed when the attempt
    /// was reserved; the notice is written now that the attempt is known to have failed (a
    /// failed write is logged: the refusal stands either way).
    pub async fn failed(
        &self,
        ticket: AttemptTicket,
        user: &User,
        client: &ClientInfo,
        now: DateTime<Utc>,
    ) {
        let locks_out = ticket.kind == AttemptKind::SecondFactor && ticket.account.locks_out;
        ticket.failed();
        if !locks_out {
            return;
        }
        if let Some(outbox) = &self.lockout_notices {
            let notice = Notice::about(NoticeKind::SecondFactorLockout, user, client, now);
            if let Err(error) = outbox.enqueue(notice).await {
                tracing::error!(%error, user.id = %user.id, "lockout notice could not be stored");
            }
        }
    }

    const fn account_policy(&self, kind: AttemptKind) -> &AttemptPolicy {
        match kind {
            AttemptKind::SecondFactor => &self.limits.second_factor_account,
            AttemptKind::Password => &self.limits.password_account,
        }
    }

    /// Reserves one attempt against the account and the address **before** it is
    /// evaluated: each counter takes the attempt as a failure in one conditional write, or
    /// refuses it once its limit is reached. However many attempts arrive at once, on one
    /// instance or several, at most the configured number are granted per window.
    ///
    /// The returned ticket says what became of the attempt: [`AttemptTicket`] kept (or
    /// dropped) it stays a failure; [`Self::release`] gives it back when the request never
    /// came to a guess; [`Self::succeeded`] gives it back and ends the account's run of
    /// consecutive failures.
    ///
    /// # Errors
    /// [`LimitError::TooMany`] over a limit (nothing stays counted); [`LimitError::Unexpected`]
    /// if storage fails.
    pub async fn reserve(
        &self,
        kind: AttemptKind,
        account: &AttemptAccount,
        address: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<AttemptTicket, LimitError> {
        let account_key = AttemptKey::account(kind, account);
        let account_policy = self.account_policy(kind);
        let account_place = self.reserve_one("account", account_key, account_policy, now).await?;
        let address_place = match address {
            Some(address) => {
                let key = AttemptKey::address(address);
                let reserved = self.reserve_one("address", key, &self.limits.address, now).await;
                match reserved {
                    Ok(place) => Some(place),
                    Err(refused) => {
                        // The account's place is no longer needed: this attempt goes nowhere.
                        self.give_back(&account_place, Release::NotAGuess).await?;
                        return Err(refused);
                    }
                }
            }
            None => None,
        };
        Ok(AttemptTicket { kind, account: account_place, address: address_place })
    }

    async fn reserve_one(
        &self,
        name: &'static str,
        key: String,
        policy: &AttemptPolicy,
        now: DateTime<Utc>,
    ) -> Result<Place, LimitError> {
        match self.store.reserve(&key, policy, now).await.map_err(Unexpected::from)? {
            Reservation::Granted(counter) => {
                limit_report::granted(name, policy, &counter, now);
                Ok(Place {
                    name,
                    key,
                    window_start: counter.window_start,
                    locks_out: policy.lockout_after.is_some_and(|n| counter.consecutive == n),
                })
            }
            Reservation::Refused(Throttle::Blocked { retry_after_secs, locked_out }) => {
                limit_report::refused(name, policy, retry_after_secs);
                Err(TooManyAttempts { retry_after_secs, locked_out }.into())
            }
            Reservation::Refused(Throttle::Allowed) => Err(Unexpected::from(anyhow::anyhow!(
                "attempt storage refused a reservation without a throttle"
            ))
            .into()),
        }
    }

    async fn give_back(&self, place: &Place, outcome: Release) -> Result<(), Unexpected> {
        self.store.release(&place.key, place.window_start, outcome).await?;
        limit_report::given_back(place.name);
        Ok(())
    }

    /// [`Self::reserve`] a second-factor attempt for `user`, then look at the request's
    /// `input`: a rejected body (malformed, wrong type, too large …) is no guess, so its place
    /// is given back at once and the rejection returned. The order is the contract's: the
    /// attempt limit (row 3) answers before the body (row 4).
    ///
    /// # Errors
    /// Over a limit, storage failures, or the rejected input.
    pub async fn reserve_second_factor<T, E>(
        &self,
        user: UserId,
        address: Option<&str>,
        now: DateTime<Utc>,
        input: Result<T, InputRejected>,
    ) -> Result<(T, AttemptTicket), E>
    where
        E: From<LimitError> + From<Unexpected> + From<InputRejected>,
    {
        let account = AttemptAccount::User(user);
        let ticket = self.reserve(AttemptKind::SecondFactor, &account, address, now).await?;
        match input {
            Ok(input) => Ok((input, ticket)),
            Err(rejected) => {
                self.release(ticket).await?;
                Err(rejected.into())
            }
        }
    }

    /// Counts a passwordless sign-in started from `address` (none: not counted), refusing
    /// it past [`AttemptLimits::sign_in_starts`]. A start is never given back: what is
    /// bounded is the challenges an address makes the service store.
    ///
    /// # Errors
    /// [`LimitError::TooMany`] past the limit; [`LimitError::Unexpected`] if storage fails.
    pub async fn count_sign_in_start(
        &self,
        address: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), LimitError> {
        let Some(address) = address else { return Ok(()) };
        let key = AttemptKey::sign_in_starts(address);
        let policy = &self.limits.sign_in_starts;
        match self.store.reserve(&key, policy, now).await.map_err(Unexpected::from)? {
            Reservation::Granted(_) => Ok(()),
            Reservation::Refused(Throttle::Blocked { retry_after_secs, locked_out }) => {
                Err(TooManyAttempts { retry_after_secs, locked_out }.into())
            }
            Reservation::Refused(Throttle::Allowed) => Err(Unexpected::from(anyhow::anyhow!(
                "attempt storage refused a reservation without a throttle"
            ))
            .into()),
        }
    }

    /// Gives a reserved attempt back: the request never came to a guess (its body was
    /// malformed, or a precondition such as "MFA is enabled" failed).
    ///
    /// # Errors
    /// If storage fails.
    pub async fn release(&self, ticket: AttemptTicket) -> Result<(), Unexpected> {
        for place in ticket.places() {
            self.give_back(place, Release::NotAGuess).await?;
        }
        Ok(())
    }

    /// The reserved attempt succeeded: it is given back, and the account's run of
    /// consecutive failures ends.
    ///
    /// # Errors
    /// If storage fails.
    pub async fn succeeded(&self, ticket: AttemptTicket) -> Result<(), Unexpected> {
        for release in ticket.success_releases() {
            self.store.release(&release.key, release.reserved_in, release.outcome).await?;
        }
        ticket.places().for_each(|place| limit_report::given_back(place.name));
        Ok(())
    }
}
