//! `slugbase import slugbase`: moves a SlugBase deployment's accounts here — users with
//! their bcrypt password hashes, TOTP secrets (re-sealed under our key), unused backup codes,
//! active API tokens and OIDC links — one transaction per account, each with its
//! `account_imported` event. A re-run finds every account it imported by its SlugBase id
//! and changes nothing; it reports what changed at SlugBase since.
//!
//! Opening a TOTP secret costs one scrypt (N = 16384): they run on every core, while the
//! accounts already opened are written. Nothing printed or logged holds a secret: no
//! password hash, code, token, TOTP secret or key, only e-mails, ids and counts.

pub mod mapping;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use futures::StreamExt as _;
use slugbase_application::ports::{
    AccountImport, ApiTokenRepository, Clock, ImportOutcome, SecretCipher, UserRepository,
};
use slugbase_domain::{Email, LoginMethod, MfaState, UserId};
use slugbase_infrastructure::crypto::SlugbaseEnvelope;
use slugbase_infrastructure::slugbase_source::{SlugbaseData, SlugbaseUser, read_slugbase};
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

pub use mapping::{Context, Decision, SOURCE, issuer_key, map_user};

/// `slugbase import …`.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import a SlugBase deployment: users (e-mail, name, administrator), their bcrypt
    /// passwords (replaced by Argon2id at each user's next sign-in), TOTP secrets,
    /// unused backup codes, active API tokens and OIDC links. One transaction per account,
    /// audited `account_imported`; a re-run changes nothing and reports what changed at
    /// SlugBase since. SlugBase's ENCRYPTION_KEY (for the TOTP secrets) comes from
    /// --encryption-key-file, else the SLUGBASE_ENCRYPTION_KEY environment variable, else
    /// the ENCRYPTION_KEY line of --slugbase-env; never from an argument.
    Slugbase {
        /// SlugBase's database: a SQLite file (path or sqlite:// URL, opened read-only) or a
        /// postgres:// URL.
        #[arg(long, value_name = "DATABASE URL")]
        from: String,
        /// SlugBase's environment file (`.env`), for its ENCRYPTION_KEY.
        #[arg(long, value_name = "FILE")]
        slugbase_env: Option<PathBuf>,
        /// A file holding only SlugBase's ENCRYPTION_KEY.
        #[arg(long, value_name = "FILE")]
        encryption_key_file: Option<PathBuf>,
        /// Print what would happen; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// The environment variable that may hold SlugBase's `ENCRYPTION_KEY`.
pub const KEY_ENV: &str = "SLUGBASE_ENCRYPTION_KEY";

/// Where SlugBase's `ENCRYPTION_KEY` comes from, first found wins: a file holding only the
/// key, the environment variable [`KEY_ENV`], the `ENCRYPTION_KEY=` line of SlugBase's
/// `.env`. Never a command-line argument.
#[derive(Clone, Debug, Default)]
pub struct KeySources {
    /// `--encryption-key-file`.
    pub key_file: Option<PathBuf>,
    /// `--slugbase-env`.
    pub env_file: Option<PathBuf>,
}

impl KeySources {
    /// The key, if any source has one.
    ///
    /// # Errors
    /// When a named file cannot be read.
    pub fn load(&self) -> anyhow::Result<Option<Zeroizing<String>>> {
        if let Some(path) = &self.key_file {
            let text = Zeroizing::new(
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?,
            );
            return Ok(Some(Zeroizing::new(text.trim_end_matches(['\n', '\r']).to_owned())));
        }
        if let Ok(key) = std::env::var(KEY_ENV) {
            return Ok(Some(Zeroizing::new(key)));
        }
        match &self.env_file {
            Some(path) => env_file_key(path),
            None => Ok(None),
        }
    }
}

/// `ENCRYPTION_KEY` from a `.env` file (dotenv syntax: `KEY=value`, optional `export `,
/// quotes, `#` comments).
fn env_file_key(path: &Path) -> anyhow::Result<Option<Zeroizing<String>>> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?,
    );
    Ok(env_value(&text, "ENCRYPTION_KEY"))
}

/// The value of `name` in dotenv text.
#[must_use]
pub fn env_value(text: &str, name: &str) -> Option<Zeroizing<String>> {
    let mut found = None;
    for line in text.lines() {
        let line = line.trim_start();
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else { continue };
        if key.trim() != name {
            continue;
        }
        let value = value.trim();
        let unquoted = match value.chars().next() {
            Some(q @ ('"' | '\'')) => value[1..].split(q).next().unwrap_or(""),
            _ => value.split(" #").next().unwrap_or(value).trim_end(),
        };
        found = Some(Zeroizing::new(unquoted.to_owned()));
    }
    found
}

/// What the import runs over.
#[expect(missing_debug_implementations, reason = "holds the cipher and the stores")]
pub struct Importer {
    /// Where accounts go.
    pub store: Arc<dyn AccountImport>,
    /// Our accounts (to compare on a re-run).
    pub users: Arc<dyn UserRepository>,
    /// Our tokens (to compare on a re-run).
    pub tokens: Arc<dyn ApiTokenRepository>,
    /// Seals TOTP secrets under our current key.
    pub cipher: Arc<dyn SecretCipher>,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// Our configured OIDC providers: name → issuer URL.
    pub our_providers: HashMap<String, String>,
    /// Print what would happen, write nothing.
    pub dry_run: bool,
    /// How many TOTP secrets are opened at once (the cores).
    pub workers: usize,
}

/// How one SlugBase user fared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserResult {
    /// Imported now (or, in a dry run, would be).
    Imported { user: UserId, mfa: bool, backup_codes: usize, tokens: usize, oidc: bool },
    /// Imported by an earlier run; what differs at SlugBase since (not applied).
    AlreadyImported { user: UserId, changed: Vec<String> },
    /// Not imported.
    Skipped(String),
}

/// One line of the report.
#[derive(Clone, Debug)]
pub struct UserReport {
    /// SlugBase's id.
    pub source_id: String,
    /// The e-mail as SlugBase has it.
    pub email: String,
    /// What happened.
    pub result: UserResult,
    /// What was left behind (never a secret).
    pub notes: Vec<String>,
}

/// What the import did.
#[derive(Clone, Debug, Default)]
pub struct ImportReport {
    /// One per SlugBase user, in SlugBase id order.
    pub users: Vec<UserReport>,
    /// Whether nothing was written.
    pub dry_run: bool,
}

impl ImportReport {
    /// How many were imported (or would be).
    #[must_use]
    pub fn imported(&self) -> usize {
        self.users.iter().filter(|u| matches!(u.result, UserResult::Imported { .. })).count()
    }

    /// How many an earlier run imported.
    #[must_use]
    pub fn already_imported(&self) -> usize {
        self.users.iter().filter(|u| matches!(u.result, UserResult::AlreadyImported { .. })).count()
    }

    /// How many were not imported.
    #[must_use]
    pub fn skipped(&self) -> usize {
        self.users.iter().filter(|u| matches!(u.result, UserResult::Skipped(_))).count()
    }

    /// The report as printed: a line per user, its notes, then the summary.
    #[must_use]
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let verb = if self.dry_run { "would import" } else { "imported" };
        for user in &self.users {
            let line = match &user.result {
                UserResult::Imported { user: id, mfa, backup_codes, tokens, oidc } => format!(
                    "{verb:<16} {} as {id} (MFA {}, {backup_codes} backup code(s), {tokens} API \
                     token(s){})",
                    user.email,
                    if *mfa { "on" } else { "off" },
                    if *oidc { ", OIDC link" } else { "" }
                ),
                UserResult::AlreadyImported { user: id, changed } if changed.is_empty() => {
                    format!("{:<16} {} as {id}, unchanged", "already imported", user.email)
                }
                UserResult::AlreadyImported { user: id, changed } => format!(
                    "{:<16} {} as {id}; changed at SlugBase since (not applied): {}",
                    "already imported",
                    user.email,
                    changed.join("; ")
                ),
                UserResult::Skipped(why) => {
                    format!(
                        "{:<16} {} (SlugBase id {}): {why}",
                        "skipped", user.email, user.source_id
                    )
                }
            };
            let _ = writeln!(out, "{line}");
            for note in &user.notes {
                let _ = writeln!(out, "{:<16}   note: {note}", "");
            }
        }
        let _ = writeln!(
            out,
            "{} SlugBase user(s): {} {verb}, {} already imported, {} skipped{}",
            self.users.len(),
            self.imported(),
            self.already_imported(),
            self.skipped(),
            if self.dry_run { " (dry run: nothing was written)" } else { "" }
        );
        out
    }
}

impl Importer {
    /// Imports every user of `data`, opening TOTP envelopes with `envelope`.
    ///
    /// # Errors
    /// Storage failures (the accounts committed before stay committed: one transaction per
    /// account), or a user with MFA on while no `ENCRYPTION_KEY` was given.
    pub async fn run(
        &self,
        data: SlugbaseData,
        envelope: Option<Arc<SlugbaseEnvelope>>,
    ) -> anyhow::Result<ImportReport> {
        if envelope.is_none() && data.users.iter().any(|u| u.mfa_enabled) {
            bail!(
                "SlugBase users have MFA on, and no ENCRYPTION_KEY was given (--slugbase-env, \
                 --encryption-key-file or {KEY_ENV}): their TOTP secrets cannot be opened"
            );
        }
        let ctx = Arc::new(Context {
            slugbase_providers: data.providers.clone(),
            our_providers: self
                .our_providers
                .iter()
                .map(|(name, issuer)| (issuer_key(issuer), name.clone()))
                .collect(),
            cipher: Arc::clone(&self.cipher),
            now: self.clock.now(),
        });
        // Accounts an earlier run imported, read once: a re-run opens no envelope.
        let imported = self.store.imported_from(SOURCE).await?;
        let permits = Arc::new(Semaphore::new(self.workers.max(1)));
        // Accounts in progress at once, finished in any order: enough that the cores always
        // have an envelope to open while finished accounts wait for the write connection.
        let in_flight = self.workers.max(1) * 16;
        let mut results: Vec<(usize, anyhow::Result<UserReport>)> =
            futures::stream::iter(data.users.into_iter().enumerate())
                .map(|(index, user)| {
                    let earlier = imported.get(&user.id).copied();
                    let (ctx, envelope, permits) =
                        (Arc::clone(&ctx), envelope.clone(), Arc::clone(&permits));
                    async move { (index, self.one(user, earlier, ctx, envelope, permits).await) }
                })
                .buffer_unordered(in_flight)
                .collect()
                .await;
        results.sort_unstable_by_key(|(index, _)| *index);
        let users =
            results.into_iter().map(|(_, result)| result).collect::<anyhow::Result<Vec<_>>>()?;
        Ok(ImportReport { users, dry_run: self.dry_run })
    }

    /// Imports `user`, unless an earlier run did (`earlier`: the account it stored).
    async fn one(
        &self,
        user: SlugbaseUser,
        earlier: Option<UserId>,
        ctx: Arc<Context>,
        envelope: Option<Arc<SlugbaseEnvelope>>,
        permits: Arc<Semaphore>,
    ) -> anyhow::Result<UserReport> {
        let mut report = UserReport {
            source_id: user.id.clone(),
            email: user.email.clone(),
            result: UserResult::Skipped(String::new()),
            notes: Vec::new(),
        };
        if let Some(id) = earlier {
            let changed = self.changes_since(id, &user).await?;
            report.result = UserResult::AlreadyImported { user: id, changed };
            return Ok(report);
        }
        // The scrypt (if any) and the sealing, on a blocking thread, as many at once as
        // there are cores.
        let permit = permits.acquire_owned().await.context("import workers closed")?;
        let decision = tokio::task::spawn_blocking(move || {
            let decision = map_user(&user, &ctx, |sealed| match &envelope {
                Some(envelope) => envelope.open(sealed).or_else(|e| match e {
                    // SlugBase itself uses a value that is no envelope as it is.
                    slugbase_infrastructure::crypto::EnvelopeError::NotAnEnvelope => {
                        Ok(Zeroizing::new(sealed.to_owned()))
                    }
                    other => Err(other.to_string()),
                }),
                None => Err("no ENCRYPTION_KEY given".to_owned()),
            });
            drop(permit);
            decision
        })
        .await
        .context("an import worker failed")?;
        let (account, notes) = match decision {
            Decision::Skip(why) => {
                report.result = UserResult::Skipped(why);
                return Ok(report);
            }
            Decision::Import(account, notes) => (account, notes),
        };
        report.notes = notes;
        let imported = UserResult::Imported {
            user: account.user.id,
            mfa: account.mfa.is_some(),
            backup_codes: account.mfa.as_ref().map_or(0, |m| m.backup_codes.len()),
            tokens: account.tokens.len(),
            oidc: account.oidc_subject.is_some(),
        };
        if self.dry_run {
            let taken = self.users.find_by_email(&account.user.email).await?.is_some();
            report.result = if taken { UserResult::Skipped(taken_message()) } else { imported };
            return Ok(report);
        }
        report.result = match self.store.import_account(&account).await? {
            ImportOutcome::Imported(_) => {
                tracing::info!(
                    target: "audit",
                    event = "account_imported",
                    user_id = %account.user.id,
                    source_id = %account.source_id,
                    "account imported from SlugBase"
                );
                imported
            }
            ImportOutcome::AlreadyImported(id) => {
                UserResult::AlreadyImported { user: id, changed: Vec::new() }
            }
            ImportOutcome::EmailTaken => UserResult::Skipped(taken_message()),
            ImportOutcome::OidcSubjectTaken => UserResult::Skipped(
                "another account here is linked to its OIDC subject (not merged)".to_owned(),
            ),
        };
        Ok(report)
    }

    /// What differs between the SlugBase user and the account imported from it (names of
    /// fields and counts, never a value that is a secret).
    async fn changes_since(&self, id: UserId, user: &SlugbaseUser) -> anyhow::Result<Vec<String>> {
        let Some(ours) = self.users.find_by_id(id).await? else {
            return Ok(vec!["the imported account was deleted here".to_owned()]);
        };
        let mut changed = Vec::new();
        if Email::parse(&user.email).ok().as_ref() != Some(&ours.email) {
            changed.push("e-mail address".to_owned());
        }
        if user.is_admin != ours.is_admin {
            changed.push("administrator flag".to_owned());
        }
        if let (Some(hash), LoginMethod::Local(stored)) = (&user.password_hash, &ours.login) {
            let still_imported = stored.kind() == slugbase_domain::PasswordHashKind::LegacyBcrypt;
            if still_imported && stored.as_str() != hash {
                changed.push("password".to_owned());
            }
        }
        let enabled_here = matches!(ours.mfa, MfaState::Enabled { .. });
        if user.mfa_enabled && !enabled_here {
            changed.push("MFA is on at SlugBase, off here".to_owned());
        }
        let ours_tokens: Vec<String> = self
            .tokens
            .list_for_user(id)
            .await?
            .into_iter()
            .map(|t| t.token_hash.as_str().to_owned())
            .collect();
        let new_tokens =
            user.tokens.iter().filter(|t| !ours_tokens.contains(&t.token_hash)).count();
        if new_tokens > 0 {
            changed.push(format!("{new_tokens} API token(s) created at SlugBase since"));
        }
        Ok(changed)
    }
}

fn taken_message() -> String {
    "another account here has its e-mail address (not merged)".to_owned()
}

/// Reads the SlugBase database at `from` and imports it with `importer`.
///
/// # Errors
/// The database cannot be read, the key cannot be loaded, or storage fails.
pub async fn import_from(
    importer: &Importer,
    from: &str,
    keys: &KeySources,
) -> anyhow::Result<ImportReport> {
    let data = read_slugbase(from).await?;
    let envelope = match keys.load()? {
        Some(key) => Some(Arc::new(
            tokio::task::spawn_blocking(move || SlugbaseEnvelope::from_encryption_key(&key))
                .await
                .context("key derivation failed")??,
        )),
        None => None,
    };
    importer.run(data, envelope).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_read_from_dotenv_lines() {
        let text = "# c\nNODE_ENV=production\nexport ENCRYPTION_KEY=\"abc def\"\nX=1\n";
        assert_eq!(env_value(text, "ENCRYPTION_KEY").unwrap().as_str(), "abc def");
        let text = "ENCRYPTION_KEY=plain # comment\n";
        assert_eq!(env_value(text, "ENCRYPTION_KEY").unwrap().as_str(), "plain");
        assert!(env_value("OTHER=1", "ENCRYPTION_KEY").is_none());
    }
}
