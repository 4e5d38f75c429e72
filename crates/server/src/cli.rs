//! The command line: `slugbase [serve]`, `migrate`, `user create|list`, `mfa reset`,
//! `token create`, `keys generate`, `keys rotate`, `import slugbase`.
//!
//! Passwords are never taken from arguments (they would sit in shell history and in
//! `ps`): `user create` prompts on the terminal, or reads one line from standard input
//! when it is not a terminal. Operator commands are audited like their HTTP twins.
#![expect(clippy::print_stdout, reason = "a CLI prints its results on standard output")]

use std::io::{BufRead as _, IsTerminal as _};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand, ValueEnum};
use slugbase_application::ports::{Listed, SecretDigest};
use slugbase_application::use_cases::api_tokens::CreateApiTokenError;
use slugbase_application::{Caller, CallerAuth, ClientInfo, Operator, UseCases};
use slugbase_application::{
    collaborators::new_account::NewAccountInput, use_cases::admin::AdminError,
};
use slugbase_domain::{Email, MfaState, User};

use slugbase_infrastructure::crypto::SystemClock;

use crate::config::{self, LoadOptions, Loaded, Profile};
use crate::import::ImportCommand;
use crate::root::{Root, Stores};
use crate::{Application, telemetry};

/// SlugBase Auth: accounts, sessions, API tokens and TOTP MFA over HTTP.
#[derive(Debug, Parser)]
#[command(name = "slugbase", version)]
pub struct Cli {
    /// Configuration profile: which config/<profile>.toml applies and which checks run.
    #[arg(long, global = true, env = "SLUGBASE_PROFILE", value_enum, default_value_t = Profile::Development)]
    pub profile: Profile,
    /// Extra configuration file (TOML), applied after the profile's and before the
    /// environment.
    #[arg(long, global = true, env = "SLUGBASE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory holding default.toml and the profile files (embedded copies are used for
    /// files it lacks).
    #[arg(
        long,
        global = true,
        env = "SLUGBASE_CONFIG_DIR",
        value_name = "DIR",
        default_value = "config"
    )]
    pub config_dir: PathBuf,
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (the default): migrate, then listen until SIGTERM / Ctrl-C.
    Serve,
    /// Run pending database migrations and exit.
    Migrate,
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Account recovery for second factors.
    #[command(subcommand)]
    Mfa(MfaCommand),
    /// Personal API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Keys for encryption, backup codes and CSRF.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Import accounts from another system.
    #[command(subcommand)]
    Import(ImportCommand),
}

/// `slugbase user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account. The password is prompted for on a terminal, or read as one line
    /// from standard input (`printf '%s\n' "$PW" | slugbase user create …`); never given as
    /// an argument.
    Create {
        /// E-mail address (the login name).
        #[arg(long)]
        email: String,
        /// Display name (default: the part of the e-mail before '@').
        #[arg(long)]
        name: Option<String>,
        /// Make the account an administrator.
        #[arg(long)]
        admin: bool,
        /// No local password: the user signs in through an OIDC provider only.
        #[arg(long)]
        oidc_only: bool,
    },
    /// List every account (id, e-mail, name, administrator, MFA, login method).
    List,
    /// Set a user's password (8–128 characters, not a common one): prompted for on a
    /// terminal, or one line of standard input; never an argument. Ends every session of
    /// the user; audited `password_changed`; the user gets a notice.
    SetPassword {
        /// The user's e-mail.
        #[arg(long)]
        email: String,
    },
}

/// `slugbase mfa …`.
#[derive(Debug, Subcommand)]
pub enum MfaCommand {
    /// Turn MFA off for a user who lost their authenticator and backup codes: erases the
    /// secret and backup codes, clears attempt counters, ends their sessions. Audited as
    /// `mfa_reset_by_admin`. Verify the user's identity out of band first.
    Reset {
        /// The user's e-mail.
        #[arg(long)]
        email: String,
    },
}

/// `slugbase token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a personal API token for a user (service accounts, OIDC-only users) and
    /// print it once on standard output. Only its SHA-256 is stored.
    Create {
        /// The user's e-mail.
        #[arg(long)]
        email: String,
        /// A label for the token.
        #[arg(long)]
        name: String,
    },
}

/// `slugbase keys …`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Print a fresh set of keys (32 random bytes each, base64) on standard output. Needs
    /// no configuration. Store the output as a secret.
    Generate {
        /// Output form.
        #[arg(long, value_enum, default_value_t = KeysFormat::Toml)]
        format: KeysFormat,
        /// Id of the encryption key.
        #[arg(long, default_value = "k1")]
        id: String,
    },
    /// Re-encrypt every stored TOTP secret (enabled and pending) under the current key
    /// (`keys.encryption_current`). Configure the new key and make it current, keep the old
    /// keys configured, run this, then remove the old keys. Safe while servers run and safe
    /// to repeat. Exits non-zero, naming users and key ids, if a secret cannot be opened
    /// with the configured keys.
    Rotate,
}

/// How `keys generate` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum KeysFormat {
    /// A `[keys]` TOML block, for a `--config` file.
    Toml,
    /// `SLUGBASE__KEYS__…=…` lines, for an environment file.
    Env,
}

/// Client info recorded in the audit log for operator commands.
fn cli_client() -> ClientInfo {
    ClientInfo::new(Some("local-cli".to_owned()), Some("slugbase-cli"))
}

/// Loads configuration and starts logging.
fn load_config_and_start_logging(cli: &Cli) -> anyhow::Result<Loaded> {
    let loaded = load_config(cli)?;
    start_logging(&loaded, None);
    Ok(loaded)
}

/// Loads configuration.
fn load_config(cli: &Cli) -> anyhow::Result<Loaded> {
    let options = LoadOptions {
        profile: cli.profile,
        config_dir: cli.config_dir.clone(),
        config_file: cli.config.clone(),
        env: None,
    };
    Ok(config::load(&options)?)
}

/// Starts logging (and exporting spans with `traces`).
fn start_logging(loaded: &Loaded, traces: Option<telemetry::TracesLayer>) {
    telemetry::init(loaded.settings.log.format, &loaded.settings.log.filter, traces);
    if let Some(path) = &loaded.generated_keys {
        tracing::warn!(
            path = %path.display(),
            "generated development keys (mode 0600); keep this file to keep existing TOTP \
             secrets and backup codes usable; never use it in production"
        );
    }
}

/// `serve`: the HTTP service until SIGTERM, exporting traces when `traces.otlp_endpoint`
/// names a collector (the spans still unsent go out before the process ends).
async fn serve(cli: &Cli) -> anyhow::Result<()> {
    let loaded = load_config(cli)?;
    #[cfg(feature = "otlp")]
    let export = crate::traces::TraceExport::start(&loaded.settings.traces)?;
    #[cfg(feature = "otlp")]
    start_logging(&loaded, export.as_ref().map(crate::traces::TraceExport::layer));
    #[cfg(not(feature = "otlp"))]
    start_logging(&loaded, None);
    let served = match Application::build(loaded).await {
        Ok(app) => app.run_until_stopped().await,
        Err(error) => Err(error),
    };
    #[cfg(feature = "otlp")]
    if let Some(export) = export {
        // Blocks until the last batch is posted (or the exporter gives up).
        let _ = tokio::task::spawn_blocking(move || export.shutdown()).await;
    }
    served
}

/// Runs the parsed command line.
///
/// # Errors
/// Configuration refused, storage unreachable, or the command failed; the message says why.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Some(Command::Keys(KeysCommand::Generate { format, id })) => {
            print!("{}", generate_keys(*format, id)?);
            Ok(())
        }
        Some(Command::Keys(KeysCommand::Rotate)) => rotate_keys(&cli).await,
        None | Some(Command::Serve) => serve(&cli).await,
        Some(Command::Migrate) => {
            let loaded = load_config_and_start_logging(&cli)?;
            let store = crate::connect_storage(&loaded).await?;
            crate::migrate(&store).await
        }
        Some(Command::User(UserCommand::Create { email, name, admin, oidc_only })) => {
            let root = operator_root(&cli).await?;
            create_user(root.operator()?, email, name.as_deref(), *admin, *oidc_only).await
        }
        Some(Command::User(UserCommand::List)) => list_users(&operator_root(&cli).await?).await,
        Some(Command::User(UserCommand::SetPassword { email })) => {
            let root = operator_root(&cli).await?;
            crate::set_password::run(root.operator()?, email, &cli_client(), read_password()?).await
        }
        Some(Command::Mfa(MfaCommand::Reset { email })) => {
            let root = operator_root(&cli).await?;
            reset_mfa(root.operator()?, email).await
        }
        Some(Command::Import(ImportCommand::Slugbase {
            from,
            slugbase_env,
            encryption_key_file,
            dry_run,
        })) => {
            let root = operator_root(&cli).await?;
            let keys = crate::import::KeySources {
                key_file: encryption_key_file.clone(),
                env_file: slugbase_env.clone(),
            };
            let report = crate::import::import_from(&root.importer(*dry_run)?, from, &keys).await?;
            print!("{}", report.render());
            Ok(())
        }
        Some(Command::Token(TokenCommand::Create { email, name })) => {
            let root = operator_root(&cli).await?;
            create_token(root.use_cases()?, root.operator()?, email, name).await
        }
    }
}

/// The composition root over the configured (and migrated) database, without HTTP: each
/// command then asks it for what it needs.
async fn operator_root(cli: &Cli) -> anyhow::Result<Root> {
    let loaded = load_config_and_start_logging(cli)?;
    let store = crate::connect_storage(&loaded).await?;
    crate::migrate(&store).await?;
    Ok(Root::new(loaded, Stores::over(Arc::new(store)), Arc::new(SystemClock), None))
}

/// `keys rotate`: re-seals every stored TOTP secret under the current key and says what it
/// did; fails (after doing what it can) when a secret cannot be opened.
async fn rotate_keys(cli: &Cli) -> anyhow::Result<()> {
    let report =
        operator_root(cli).await?.rotate_keys()?.execute().await.context("key rotation failed")?;
    let current = &report.current_key_id;
    println!(
        "key rotation to {current:?}: {} TOTP secret(s) examined, {} re-encrypted ({} enabled, \
         {} pending), {} already under {current:?}",
        report.examined,
        report.resealed(),
        report.resealed_enabled,
        report.resealed_pending,
        report.already_current,
    );
    for failure in &report.failures {
        eprintln!(
            "user {} ({}): {}",
            failure.user_id,
            if failure.enabled { "MFA enabled" } else { "enrollment pending" },
            failure.problem
        );
    }
    if !report.failures.is_empty() {
        bail!(
            "{} TOTP secret(s) could not be re-encrypted and still need their old key: keep \
             it configured, fix the keys named above, and run `slugbase keys rotate` again",
            report.failures.len()
        );
    }
    if report.changed_meanwhile > 0 {
        bail!(
            "{} TOTP secret(s) changed while the rotation ran and were left alone; run \
             `slugbase keys rotate` again",
            report.changed_meanwhile
        );
    }
    println!("every stored TOTP secret is under {current:?}; keys no longer in use may be removed");
    Ok(())
}

/// `keys generate`'s output.
///
/// # Errors
/// When the key id is empty or not a simple identifier.
pub fn generate_keys(format: KeysFormat, id: &str) -> anyhow::Result<String> {
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        bail!("--id must be letters, digits, '_' or '-'");
    }
    let [encryption, backup_code, csrf] =
        [config::random_key(), config::random_key(), config::random_key()]
            .map(|k| config::encode_key(&k));
    Ok(match format {
        KeysFormat::Toml => format!(
            "[keys]\nencryption_current = \"{id}\"\nbackup_code = \"{backup_code}\"\ncsrf = \"{csrf}\"\n\n\
             [keys.encryption]\n{id} = \"{encryption}\"\n"
        ),
        KeysFormat::Env => format!(
            "SLUGBASE__KEYS__ENCRYPTION_CURRENT={id}\nSLUGBASE__KEYS__ENCRYPTION__{}={encryption}\n\
             SLUGBASE__KEYS__BACKUP_CODE={backup_code}\nSLUGBASE__KEYS__CSRF={csrf}\n",
            id.to_uppercase()
        ),
    })
}

/// Reads the new password: a hidden prompt (twice) on a terminal, else one line of stdin.
pub(crate) fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").context("cannot read the password")?;
        let second =
            rpassword::prompt_password("Repeat password: ").context("cannot read the password")?;
        if first != second {
            bail!("the passwords differ");
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from stdin")?;
        Ok(line.trim_end_matches(['\n', '\r']).to_owned())
    }
}

fn validation_message(errors: &slugbase_application::ValidationErrors) -> String {
    errors.0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; ")
}

async fn create_user(
    operator: &Operator,
    email: &str,
    name: Option<&str>,
    admin: bool,
    oidc_only: bool,
) -> anyhow::Result<()> {
    let name =
        name.map_or_else(|| email.split('@').next().unwrap_or(email).to_owned(), str::to_owned);
    let password = if oidc_only { None } else { Some(read_password()?) };
    let input = NewAccountInput { email: email.to_owned(), name, password, is_admin: admin };
    match operator.admin.create_user_unchecked(None, &cli_client(), Ok(input)).await {
        Ok(user) => {
            println!(
                "created user {} <{}>{}",
                user.id,
                user.email,
                if admin { " (administrator)" } else { "" }
            );
            Ok(())
        }
        Err(AdminError::Validation(errors)) => {
            bail!("invalid input: {}", validation_message(&errors))
        }
        Err(AdminError::EmailTaken) => bail!("a user with this e-mail exists already"),
        Err(AdminError::OidcNotConfigured) => bail!(
            "no OIDC provider is configured ([oidc.providers.*]), so a user created with \
             --oidc-only could never sign in: configure a provider first, or give a password"
        ),
        Err(other) => Err(other).context("cannot create the user"),
    }
}

fn mfa_label(user: &User) -> &'static str {
    match user.mfa {
        MfaState::Disabled => "off",
        MfaState::Pending { .. } => "pending",
        MfaState::Enabled { .. } => "on",
    }
}

/// `user list`: the user repository alone (no use case, no password hasher).
pub(crate) async fn list_users(root: &Root) -> anyhow::Result<()> {
    let users = root.stores().users.list().await.context("cannot list users")?;
    println!(
        "{:<36}  {:<32}  {:<24}  {:<5}  {:<7}  {:<13}  provider",
        "id", "email", "name", "admin", "mfa", "login"
    );
    for listed in &users {
        let user = match listed {
            Listed::Ok(user) => user,
            Listed::Damaged(row) => {
                // Logged by the store; listed so that the operator sees it (never its content).
                println!("{:<36}  DAMAGED ({})", row.id, row.problem);
                continue;
            }
        };
        println!(
            "{:<36}  {:<32}  {:<24}  {:<5}  {:<7}  {:<13}  {}",
            user.id.to_string(),
            user.email.as_str(),
            user.name.as_str(),
            if user.is_admin { "yes" } else { "no" },
            mfa_label(user),
            user.login_method(),
            user.oidc_provider.as_deref().unwrap_or("-"),
        );
    }
    Ok(())
}

async fn find_user(operator: &Operator, email: &str) -> anyhow::Result<User> {
    let parsed = Email::parse(email).map_err(|e| anyhow::anyhow!("invalid e-mail: {e}"))?;
    operator
        .admin
        .find_by_email(&parsed)
        .await
        .context("cannot look the user up")?
        .ok_or_else(|| anyhow::anyhow!("no user with e-mail {email}"))
}

async fn reset_mfa(operator: &Operator, email: &str) -> anyhow::Result<()> {
    let user = find_user(operator, email).await?;
    operator
        .admin
        .reset_mfa_unchecked(None, &cli_client(), user.id)
        .await
        .context("cannot reset MFA")?;
    println!("MFA reset for {} <{}> (audited as mfa_reset_by_admin)", user.id, user.email);
    Ok(())
}

async fn create_token(
    use_cases: &UseCases,
    operator: &Operator,
    email: &str,
    name: &str,
) -> anyhow::Result<()> {
    let user = find_user(operator, email).await?;
    // The operator acts for the user; no session exists, so the caller carries an empty
    // session digest that matches no stored session; creating a token reads no backup-code
    // count (only the MFA status does).
    let caller = Caller {
        mfa_standing: use_cases.mfa_status.standing(&user),
        user,
        auth: CallerAuth::Session(SecretDigest::from_hex(String::new())),
        backup_codes_remaining: 0,
    };
    match use_cases.api_tokens.create(&caller, &cli_client(), Ok(name.to_owned())).await {
        Ok(created) => {
            eprintln!(
                "API token {} ({}) created for {}; it is shown once, store it now:",
                created.view.id, created.view.name, caller.user.email
            );
            println!("{}", created.token.expose());
            Ok(())
        }
        Err(CreateApiTokenError::Validation(errors)) => {
            bail!("invalid input: {}", validation_message(&errors))
        }
        Err(other) => Err(other).context("cannot create the token"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subcommand_has_help_and_the_definition_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
        let command = Cli::command();
        for sub in command.get_subcommands() {
            assert!(sub.get_about().is_some(), "{} has no help", sub.get_name());
        }
    }

    #[test]
    fn generated_keys_decode_to_32_bytes_and_differ() {
        let toml = generate_keys(KeysFormat::Toml, "k2").unwrap();
        let values: Vec<&str> = toml
            .lines()
            .filter_map(|l| l.split_once(" = \""))
            .map(|(_, v)| v.trim_end_matches('"'))
            .collect();
        let keys: Vec<_> = values
            .iter()
            .filter(|v| v.len() > 8)
            .map(|v| config::decode_key("k", v).unwrap())
            .collect();
        assert_eq!(keys.len(), 3);
        assert_ne!(keys[0], keys[1]);
        assert_ne!(keys[1], keys[2]);
        let env = generate_keys(KeysFormat::Env, "k2").unwrap();
        assert!(env.contains("SLUGBASE__KEYS__ENCRYPTION__K2="));
        assert!(generate_keys(KeysFormat::Env, "a b").is_err());
    }

    #[test]
    fn user_create_takes_no_password_argument() {
        use clap::CommandFactory as _;
        let command = Cli::command();
        let user = command.find_subcommand("user").unwrap();
        let create = user.find_subcommand("create").unwrap();
        assert!(create.get_arguments().all(|a| a.get_id() != "password"));
        assert!(
            Cli::try_parse_from([
                "slugbase",
                "user",
                "create",
                "--email",
                "a@b.c",
                "--password",
                "x"
            ])
            .is_err()
        );
    }
}
