//! Where the admin CLI finds Keyway and its credential. The CLI reads only
//! these settings, never the server's configuration: it runs on operators'
//! machines that have no database URL or KMS settings.
//!
//! The key is taken from, in order: `--key-file`, `KEYWAY_ADMIN_KEY`, then
//! `<KEYWAY_DATA_DIR or ./data>/admin.key` (where `keyway up` stores the
//! generated dev key). Any key the API accepts works: the platform admin
//! key, or a tenant API key for that tenant's commands. Keys are never
//! taken from the command line, where `ps` and shell history would see them.

use std::{
    fmt,
    path::{Path, PathBuf},
};

use super::error::AdminError;

/// `keyway up`'s default listen address (`KEYWAY_LISTEN`).
pub(crate) const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// The bearer credential. `Debug` and `Display` never show it.
pub(crate) struct ApiCredential {
    secret: String,
    pub(crate) origin: KeyOrigin,
}

/// Where the credential came from, for `keyway admin config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyOrigin {
    KeyFile(PathBuf),
    Env,
    DataDir(PathBuf),
}

impl fmt::Display for KeyOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::KeyFile(path) => write!(f, "--key-file {}", path.display()),
            Self::Env => f.write_str("KEYWAY_ADMIN_KEY"),
            Self::DataDir(path) => write!(f, "{}", path.display()),
        }
    }
}

impl fmt::Debug for ApiCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiCredential(<redacted>, from {})", self.origin)
    }
}

impl ApiCredential {
    pub(crate) fn secret(&self) -> &str {
        &self.secret
    }

    /// Resolves the key from the flag, the environment or the data dir.
    /// `env` stands for the process environment so tests can inject it.
    pub(crate) fn resolve(
        key_file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, AdminError> {
        if let Some(path) = key_file {
            return read_key_file(path, KeyOrigin::KeyFile(path.to_owned()));
        }
        if let Some(secret) = env("KEYWAY_ADMIN_KEY").filter(|k| !k.trim().is_empty()) {
            return Ok(Self {
                secret: secret.trim().to_owned(),
                origin: KeyOrigin::Env,
            });
        }
        let data_dir = env("KEYWAY_DATA_DIR").unwrap_or_else(|| "./data".into());
        let path = Path::new(&data_dir).join("admin.key");
        if path.exists() {
            return read_key_file(&path, KeyOrigin::DataDir(path.clone()));
        }
        Err(AdminError::Usage(format!(
            "no key to call Keyway with: set KEYWAY_ADMIN_KEY, pass --key-file, or run where {} exists (KEYWAY_DATA_DIR)",
            path.display()
        )))
    }
}

fn read_key_file(path: &Path, origin: KeyOrigin) -> Result<ApiCredential, AdminError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| AdminError::Usage(format!("cannot read the key file {}: {e}", path.display())))?;
    let secret = text.trim().to_owned();
    if secret.is_empty() {
        return Err(AdminError::Usage(format!(
            "the key file {} is empty",
            path.display()
        )));
    }
    Ok(ApiCredential { secret, origin })
}

/// The base URL, checked and without a trailing slash.
pub(crate) fn base_url(raw: &str) -> Result<String, AdminError> {
    let url = reqwest::Url::parse(raw)
        .map_err(|e| AdminError::Usage(format!("KEYWAY_URL / --url {raw:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(AdminError::Usage(format!(
            "KEYWAY_URL / --url {raw:?} must be an http(s) URL with a host"
        )));
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn the_env_key_wins_over_the_data_dir_and_is_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("admin.key"), "kw_admin_from_file\n").unwrap();
        let data_dir = dir.path().display().to_string();
        let env = env_of(&[
            ("KEYWAY_ADMIN_KEY", "kw_admin_from_env"),
            ("KEYWAY_DATA_DIR", &data_dir),
        ]);
        let key = ApiCredential::resolve(None, env).unwrap();
        assert_eq!(
            (key.secret(), &key.origin),
            ("kw_admin_from_env", &KeyOrigin::Env)
        );
        assert!(!format!("{key:?}").contains("kw_admin_from_env"));
    }

    #[test]
    fn the_data_dirs_admin_key_is_read_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("admin.key"), "kw_admin_from_file\n").unwrap();
        let data_dir = dir.path().display().to_string();
        let key = ApiCredential::resolve(None, env_of(&[("KEYWAY_DATA_DIR", &data_dir)])).unwrap();
        assert_eq!(key.secret(), "kw_admin_from_file");
        assert_eq!(key.origin, KeyOrigin::DataDir(dir.path().join("admin.key")));
    }

    #[test]
    fn no_key_anywhere_is_a_usage_error_naming_the_places() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().display().to_string();
        let err = ApiCredential::resolve(None, env_of(&[("KEYWAY_DATA_DIR", &data_dir)])).unwrap_err();
        assert!(matches!(&err, AdminError::Usage(m) if m.contains("KEYWAY_ADMIN_KEY")));
    }

    #[test]
    fn urls_are_checked_and_lose_their_trailing_slash() {
        assert_eq!(
            base_url("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert!(base_url("127.0.0.1:8080").is_err());
        assert!(base_url("ftp://example.com").is_err());
    }
}
