//! Attempt limiting over the [`AttemptRepository`] port.
//!
//! Failures are counted per account and per client address, separately for second-factor
//! attempts (verify, disable, regenerate, enroll confirm) and password attempts (login).
//! Password attempts are keyed by the e-mail that was tried, existing or not, so a 429
//! does not reveal whether an account exists.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use slugbase_domain::{AttemptPolicy, Throttle, UserId};

use crate::error::Unexpected;
use crate::ports::AttemptRepository;

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

/// Storage keys of the counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptKey;

impl AttemptKey {
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

/// Applies [`AttemptLimits`] through the attempt repository.
#[derive(Clone)]
pub struct AttemptLimiter {
    store: Arc<dyn AttemptRepository>,
    limits: AttemptLimits,
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
        Self { store, limits }
    }

    const fn account_policy(&self, kind: AttemptKind) -> &AttemptPolicy {
        match kind {
            AttemptKind::SecondFactor => &self.limits.second_factor_account,
            AttemptKind::Password => &self.limits.password_account,
        }
    }

    /// Refuses the attempt if the account or the address is over its limit.
    ///
    /// # Errors
    /// [`LimitError::TooMany`] over a limit; [`LimitError::Unexpected`] if storage fails.
    pub async fn check(
        &self,
        kind: AttemptKind,
        account: &AttemptAccount,
        address: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), LimitError> {
        let account_key = AttemptKey::account(kind, account);
        let mut throttle = match self.store.get(&account_key).await.map_err(Unexpected::from)? {
            Some(counter) => counter.throttle(self.account_policy(kind), now),
            None => Throttle::Allowed,
        };
        if let Some(address) = address {
            let key = AttemptKey::address(address);
            if let Some(counter) = self.store.get(&key).await.map_err(Unexpected::from)? {
                throttle = throttle.max(counter.throttle(&self.limits.address, now));
            }
        }
        match throttle {
            Throttle::Allowed => Ok(()),
            Throttle::Blocked { retry_after_secs, locked_out } => {
                Err(TooManyAttempts { retry_after_secs, locked_out }.into())
            }
        }
    }

    /// Counts a failure against the account and the address.
    ///
    /// # Errors
    /// If storage fails.
    pub async fn failed(
        &self,
        kind: AttemptKind,
        account: &AttemptAccount,
        address: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), Unexpected> {
        let key = AttemptKey::account(kind, account);
        self.store.record_failure(&key, self.account_policy(kind), now).await?;
        if let Some(address) = address {
            let key = AttemptKey::address(address);
            self.store.record_failure(&key, &self.limits.address, now).await?;
        }
        Ok(())
    }

    /// Ends the account's run of consecutive failures.
    ///
    /// # Errors
    /// If storage fails.
    pub async fn succeeded(
        &self,
        kind: AttemptKind,
        account: &AttemptAccount,
    ) -> Result<(), Unexpected> {
        self.store.record_success(&AttemptKey::account(kind, account)).await?;
        Ok(())
    }

    /// Forgets every counter of a user (administrator reset).
    ///
    /// # Errors
    /// If storage fails.
    pub async fn clear_user(&self, user: UserId) -> Result<(), Unexpected> {
        for kind in [AttemptKind::SecondFactor, AttemptKind::Password] {
            self.store.clear(&AttemptKey::account(kind, &AttemptAccount::User(user))).await?;
        }
        Ok(())
    }
}
