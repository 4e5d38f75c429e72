//! `slugbase user set-password --email E`: the operator sets a user's password.

use anyhow::{Context as _, bail};
use slugbase_application::use_cases::change_password::ChangePasswordError;
use slugbase_application::{ClientInfo, Operator};
use slugbase_domain::{Email, Password};

/// Sets the password of the user with `email` to `password` (read by the caller from a
/// prompt or stdin) and says so on standard output.
///
/// # Errors
/// An unknown e-mail, a password that breaks the policy, storage failures.
pub(crate) async fn run(
    operator: &Operator,
    email: &str,
    client: &ClientInfo,
    password: String,
) -> anyhow::Result<()> {
    let Ok(email) = Email::parse(email) else { bail!("not an e-mail address: {email:?}") };
    match operator.change_password.set_by_operator(&email, client, Password::new(password)).await {
        Ok(user) => {
            #[expect(clippy::print_stdout, reason = "the command's result")]
            {
                println!(
                    "password set for {} <{}>; their sessions were ended",
                    user.id, user.email
                );
            }
            Ok(())
        }
        Err(ChangePasswordError::NotFound) => bail!("no user with this e-mail"),
        Err(ChangePasswordError::Validation(errors)) => bail!(
            "invalid password: {}",
            errors.0.iter().map(|e| e.message.as_str()).collect::<Vec<_>>().join("; ")
        ),
        Err(other) => Err(other).context("cannot set the password"),
    }
}
