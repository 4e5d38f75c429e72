//! Keys: the `[keys]` settings (base64 values or files), decoding them into [`Keys`],
//! generating development keys into a file only its owner can read, and `Debug` output that
//! never shows a key.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

use super::{ConfigError, invalid};

/// Length of every key, in bytes (AES-256, HMAC-SHA-256, CSRF signing).
pub const KEY_LEN: usize = 32;

/// `[keys]`: base64 values or files, never printed.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySettings {
    /// Id of the encryption key that encrypts new TOTP secrets.
    pub encryption_current: String,
    /// Encryption keys by id (base64).
    #[serde(default)]
    pub encryption: BTreeMap<String, String>,
    /// Encryption keys by id, as files holding the base64.
    #[serde(default)]
    pub encryption_files: BTreeMap<String, PathBuf>,
    /// Backup-code HMAC key (base64).
    #[serde(default)]
    pub backup_code: String,
    /// File holding the backup-code HMAC key.
    #[serde(default)]
    pub backup_code_file: String,
    /// CSRF signing key (base64).
    #[serde(default)]
    pub csrf: String,
    /// File holding the CSRF key.
    #[serde(default)]
    pub csrf_file: String,
    /// Development profile: generate missing keys into `dev_keys_file`.
    pub generate_dev_keys: bool,
    /// Where development keys are generated (mode 0600).
    pub dev_keys_file: PathBuf,
}

impl fmt::Debug for KeySettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySettings")
            .field("encryption_current", &self.encryption_current)
            .field("encryption", &self.encryption.keys().collect::<Vec<_>>())
            .field("encryption_files", &self.encryption_files)
            .field("backup_code_file", &self.backup_code_file)
            .field("csrf_file", &self.csrf_file)
            .field("generate_dev_keys", &self.generate_dev_keys)
            .field("dev_keys_file", &self.dev_keys_file)
            .finish_non_exhaustive()
    }
}

/// The keys, decoded.
#[derive(Clone)]
pub struct Keys {
    /// Current encryption key id.
    pub encryption_current: String,
    /// Every encryption key by id (the current one and older ones for rotation).
    pub encryption: Vec<(String, [u8; KEY_LEN])>,
    /// Backup-code HMAC key.
    pub backup_code: [u8; KEY_LEN],
    /// CSRF key.
    pub csrf: [u8; KEY_LEN],
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keys")
            .field("encryption_current", &self.encryption_current)
            .field("encryption", &self.encryption.iter().map(|(id, _)| id).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Decodes one base64 key (standard or URL-safe alphabet, padding optional).
///
/// # Errors
/// When the text is not base64 of exactly 32 bytes; the message names `key`.
pub fn decode_key(key: &str, text: &str) -> Result<[u8; KEY_LEN], ConfigError> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let text = text.trim();
    let bytes = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
        .ok_or_else(|| invalid(key, "not valid base64"))?;
    <[u8; KEY_LEN]>::try_from(bytes.as_slice())
        .map_err(|_| invalid(key, format!("must decode to {KEY_LEN} bytes, not {}", bytes.len())))
}

/// Encodes a key for configuration files.
#[must_use]
pub fn encode_key(key: &[u8; KEY_LEN]) -> String {
    base64::engine::general_purpose::STANDARD.encode(key)
}

/// A fresh random key.
#[must_use]
pub fn random_key() -> [u8; KEY_LEN] {
    let mut key = [0u8; KEY_LEN];
    rand::fill(&mut key);
    key
}

fn read_key_file(key: &str, path: &Path) -> Result<[u8; KEY_LEN], ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| invalid(key, format!("cannot read {}: {e}", path.display())))?;
    decode_key(key, &text)
}

/// One key from a value or a file; `None` when neither is set.
fn value_or_file_key(
    name: &str,
    value: &str,
    file: &str,
) -> Result<Option<[u8; KEY_LEN]>, ConfigError> {
    let value_key = format!("keys.{name}");
    let file_key = format!("keys.{name}_file");
    match (value.trim().is_empty(), file.trim().is_empty()) {
        (true, true) => Ok(None),
        (false, false) => {
            Err(invalid(&value_key, format!("set either `{value_key}` or `{file_key}`, not both")))
        }
        (false, true) => decode_key(&value_key, value).map(Some),
        (true, false) => read_key_file(&file_key, Path::new(file.trim())).map(Some),
    }
}

impl KeySettings {
    /// Decodes the keys, or names the missing ones.
    ///
    /// # Errors
    /// [`ConfigError::MissingKeys`], or [`ConfigError::Invalid`] for an undecodable key.
    pub fn resolve(&self) -> Result<Keys, ConfigError> {
        let mut missing = Vec::new();
        let mut encryption = Vec::new();
        for (id, value) in &self.encryption {
            if self.encryption_files.contains_key(id) {
                return Err(invalid(
                    &format!("keys.encryption.{id}"),
                    format!(
                        "set either `keys.encryption.{id}` or `keys.encryption_files.{id}`, not both"
                    ),
                ));
            }
            if !value.trim().is_empty() {
                encryption.push((id.clone(), decode_key(&format!("keys.encryption.{id}"), value)?));
            }
        }
        for (id, path) in &self.encryption_files {
            encryption
                .push((id.clone(), read_key_file(&format!("keys.encryption_files.{id}"), path)?));
        }
        let current = self.encryption_current.trim();
        if current.is_empty() {
            return Err(invalid("keys.encryption_current", "must name an encryption key id"));
        }
        if !encryption.iter().any(|(id, _)| id == current) {
            missing.push(format!("keys.encryption.{current}"));
        }
        let backup_code =
            value_or_file_key("backup_code", &self.backup_code, &self.backup_code_file)?;
        if backup_code.is_none() {
            missing.push("keys.backup_code".to_owned());
        }
        let csrf = value_or_file_key("csrf", &self.csrf, &self.csrf_file)?;
        if csrf.is_none() {
            missing.push("keys.csrf".to_owned());
        }
        match (backup_code, csrf) {
            (Some(backup_code), Some(csrf)) if missing.is_empty() => {
                Ok(Keys { encryption_current: current.to_owned(), encryption, backup_code, csrf })
            }
            _ => Err(ConfigError::MissingKeys(missing)),
        }
    }
}

/// A fresh key file in the format `keys.dev_keys_file` uses (TOML), for encryption key id
/// `current`.
#[must_use]
pub fn generated_key_toml(current: &str) -> String {
    format!(
        "# Generated by slugbase. Secret: do not share or commit.\n\
         [keys]\n\
         backup_code = \"{}\"\n\
         csrf = \"{}\"\n\n\
         [keys.encryption]\n\
         {current} = \"{}\"\n",
        encode_key(&random_key()),
        encode_key(&random_key()),
        encode_key(&random_key()),
    )
}

/// Writes a new development key file, readable by its owner only. Never overwrites one.
pub(super) fn write_dev_keys(path: &Path, current: &str) -> Result<(), ConfigError> {
    use std::io::Write as _;
    let error = |source| ConfigError::DevKeys { path: path.to_owned(), source };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(error)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(error)?;
    file.write_all(generated_key_toml(current).as_bytes()).map_err(error)?;
    file.sync_all().map_err(error)
}

#[cfg(test)]
mod tests {
    use super::{encode_key, random_key};
    use crate::config::test_support::{all_keys, key, message, options};
    use crate::config::{ConfigError, Profile, load};

    #[test]
    fn missing_keys_are_named_and_stop_the_test_profile() {
        let error = load(&options(Profile::Test, &[])).unwrap_err();
        let text = message(&error);
        for name in ["keys.encryption.k1", "keys.backup_code", "keys.csrf"] {
            assert!(text.contains(name), "{text}");
        }
    }

    #[test]
    fn a_key_of_the_wrong_length_is_refused_naming_it_and_never_echoing_it() {
        let mut vars = all_keys();
        vars[2] = ("SLUGBASE__KEYS__CSRF", "c2hvcnQta2V5".into());
        let error = load(&options(Profile::Test, &vars)).unwrap_err();
        let text = message(&error);
        assert!(text.contains("keys.csrf"), "{text}");
        assert!(!text.contains("c2hvcnQta2V5"), "{text}");
    }

    #[test]
    fn keys_are_read_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("csrf.key");
        let csrf = random_key();
        std::fs::write(&path, format!("{}\n", encode_key(&csrf))).unwrap();
        let mut vars = all_keys();
        vars.remove(2);
        vars.push(("SLUGBASE__KEYS__CSRF_FILE", path.display().to_string()));
        let loaded = load(&options(Profile::Test, &vars)).unwrap();
        assert_eq!(loaded.keys.csrf, csrf);
    }

    #[test]
    fn rotation_keeps_old_encryption_keys_and_uses_the_current_one() {
        let mut vars = all_keys();
        vars.push(("SLUGBASE__KEYS__ENCRYPTION__K2", key()));
        vars.push(("SLUGBASE__KEYS__ENCRYPTION_CURRENT", "k2".into()));
        let loaded = load(&options(Profile::Test, &vars)).unwrap();
        assert_eq!(loaded.keys.encryption_current, "k2");
        assert_eq!(loaded.keys.encryption.len(), 2);
    }

    #[test]
    fn production_refuses_to_start_without_keys_naming_them() {
        let vars =
            vec![("SLUGBASE__SERVER__PUBLIC_BASE_URL", "https://auth.example.com".to_owned())];
        let error = load(&options(Profile::Production, &vars)).unwrap_err();
        assert!(matches!(error, ConfigError::MissingKeys(_)), "{error}");
        assert!(message(&error).contains("keys.csrf"));
    }

    #[test]
    fn development_generates_keys_once_with_owner_only_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data").join("dev-keys.toml");
        let vars = vec![("SLUGBASE__KEYS__DEV_KEYS_FILE", path.display().to_string())];
        let first = load(&options(Profile::Development, &vars)).unwrap();
        assert_eq!(first.generated_keys.as_deref(), Some(path.as_path()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let second = load(&options(Profile::Development, &vars)).unwrap();
        assert!(second.generated_keys.is_none(), "the keys are generated once");
        assert_eq!(first.keys.csrf, second.keys.csrf);
        assert_eq!(first.keys.backup_code, second.keys.backup_code);
        assert_eq!(first.keys.encryption[0].1, second.keys.encryption[0].1);
        assert_ne!(first.keys.csrf, first.keys.backup_code);
    }

    #[test]
    fn settings_debug_output_never_shows_a_key() {
        let vars = all_keys();
        let secret = vars[1].1.clone();
        let loaded = load(&options(Profile::Test, &vars)).unwrap();
        let shown = format!("{loaded:?}");
        assert!(!shown.contains(&secret), "{shown}");
        assert!(!shown.contains(&vars[0].1), "{shown}");
    }
}
