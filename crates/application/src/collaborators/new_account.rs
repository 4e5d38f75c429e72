//! New accounts: validating what was typed and preparing the user record to store.

use std::fmt;
use std::sync::Arc;

use slugbase_domain::{DisplayName, Email, LoginMethod, NewPassword, UserId};

use crate::error::{Unexpected, ValidationErrors};
use crate::ports::{Clock, CommonPasswords, NewUser, PasswordHasher};

/// A new account, as typed.
#[derive(Clone, Debug)]
pub struct NewAccountInput {
    /// E-mail.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Password; `None` makes an OIDC-only account (admin create only).
    pub password: Option<String>,
    /// Administrator.
    pub is_admin: bool,
}

/// Validated parts of a new account.
pub(crate) struct ValidAccount {
    email: Email,
    name: DisplayName,
    password: Option<NewPassword>,
}

/// Validates every field of `input`, naming each one at fault; the password against the one
/// policy (`check_password_policy`, as a password change), `is_common` its list.
fn validate_account(
    input: &NewAccountInput,
    password_required: bool,
    is_common: &dyn Fn(&str) -> bool,
) -> Result<ValidAccount, ValidationErrors> {
    let mut errors = ValidationErrors::default();
    let email = Email::parse(&input.email).map_err(|e| errors.push("email", e.to_string())).ok();
    let name = DisplayName::parse(&input.name).map_err(|e| errors.push("name", e.to_string())).ok();
    let password = match &input.password {
        Some(raw) => NewPassword::parse(raw.clone(), is_common)
            .map_err(|e| errors.push("password", e.to_string()))
            .ok(),
        None if password_required => {
            errors.push("password", "Password is required");
            None
        }
        None => None,
    };
    match (email, name) {
        (Some(email), Some(name)) if errors.is_empty() => {
            Ok(ValidAccount { email, name, password })
        }
        _ => Err(errors),
    }
}

/// Turns a validated account into the user record to store: hashes the password, picks
/// the id, stamps the time.
#[derive(Clone)]
pub struct NewUserFactory {
    passwords: Arc<dyn PasswordHasher>,
    common: Arc<dyn CommonPasswords>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for NewUserFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUserFactory").finish_non_exhaustive()
    }
}

impl NewUserFactory {
    /// A factory hashing with `passwords`, refusing what is on `common`, stamping with
    /// `clock`.
    #[must_use]
    pub fn new(
        passwords: Arc<dyn PasswordHasher>,
        common: Arc<dyn CommonPasswords>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { passwords, common, clock }
    }

    /// Validates every field of `input`, naming each one at fault (the password under
    /// `password`, with the password change's messages).
    pub(crate) fn validate(
        &self,
        input: &NewAccountInput,
        password_required: bool,
    ) -> Result<ValidAccount, ValidationErrors> {
        validate_account(input, password_required, &|p| self.common.is_common(p))
    }

    /// The user record for `account`; without a password the user is OIDC-only.
    pub(crate) async fn build(
        &self,
        account: ValidAccount,
        is_admin: bool,
    ) -> Result<NewUser, Unexpected> {
        let login = match &account.password {
            Some(password) => {
                LoginMethod::Local(self.passwords.hash(password.as_password()).await?)
            }
            None => LoginMethod::OidcOnly,
        };
        Ok(NewUser {
            id: UserId::generate(),
            email: account.email,
            name: account.name,
            login,
            oidc_provider: None,
            is_admin,
            created_at: self.clock.now(),
        })
    }
}
