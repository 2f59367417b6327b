//! Configuration, read once from `KEYWAY_*` environment variables with
//! embedded defaults, so a fresh checkout runs with no config file at all.
//!
//! Several stacks run side by side on one machine (tests, benches, a
//! developer's own), so everything that could collide — listen address,
//! database, NATS names, data directory — is configurable here.

use std::{collections::HashMap, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

/// Where the process runs. Production refuses insecure defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Dev,
    Prod,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("production mode refuses insecure defaults: {0}")]
    InsecureInProduction(String),
}

/// The whole process configuration. Secrets are held as `String` only as long
/// as needed to hand them to the component that owns them.
#[derive(Clone)]
pub struct Config {
    pub env: Environment,
    pub listen: SocketAddr,
    pub database_url: String,
    pub nats_url: String,
    /// Prefixes every subject, stream, durable consumer and KV bucket.
    pub nats_prefix: String,
    pub data_dir: PathBuf,
    /// The platform-admin bootstrap key; `None` means "generate one in dev".
    pub admin_key: Option<String>,
    /// Path to a model catalog YAML; `None` means the built-in dev catalog.
    pub models_path: Option<PathBuf>,
    /// Run the mock upstream in-process (default on in dev, off in prod).
    pub mock_enabled: bool,
    pub upstream_connect_timeout: Duration,
    /// Bounds both the wait for upstream response headers and each read of a
    /// streamed body, so a stalled upstream becomes a 504, not a hang.
    pub upstream_timeout: Duration,
    pub max_body_bytes: usize,
    pub shutdown_grace: Duration,
    pub otlp_endpoint: Option<String>,
    pub log_format: LogFormat,
    /// `local` (master key file in the data dir) or `aws` (aws-sdk-kms).
    pub kms: String,
    pub kms_key_id: Option<String>,
    /// How long gateways reuse a verified key or a resolved BYOK key;
    /// key-change events from NATS evict sooner.
    pub credential_cache_ttl: Duration,
    /// BYOK and webhook URLs may point at private/loopback addresses.
    pub allow_private_urls: bool,
    /// The usage spool's bound; past it, events are dropped with an error.
    pub spool_max_bytes: u64,
    /// Where a gateway running alone reaches the key service.
    pub keys_url: Option<String>,
    /// Shared secret of the internal gateway → key service routes.
    pub internal_token: Option<String>,
    /// The environment this config was read from, for names the config does
    /// not know in advance (a catalog's `api_key_env`, the mock's settings).
    vars: Arc<HashMap<String, String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

impl std::fmt::Debug for Config {
    // Hand-written so the admin key can never reach a log line through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("env", &self.env)
            .field("listen", &self.listen)
            .field("database_url", &redact_url(&self.database_url))
            .field("nats_url", &redact_url(&self.nats_url))
            .field("nats_prefix", &self.nats_prefix)
            .field("data_dir", &self.data_dir)
            .field("admin_key", &self.admin_key.as_ref().map(|_| "<redacted>"))
            .field("models_path", &self.models_path)
            .field("mock_enabled", &self.mock_enabled)
            .finish_non_exhaustive()
    }
}

/// Drops any `user:password@` part of a URL before it is shown.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***@{}", &url[..scheme_end], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(std::env::vars().collect())
    }

    /// Builds the config from an explicit environment, so tests never mutate
    /// the process environment (which every test thread shares).
    pub fn from_vars(vars: HashMap<String, String>) -> Result<Self, ConfigError> {
        let vars = Arc::new(vars);
        let get = |name: &str| vars.get(name).filter(|v| !v.trim().is_empty()).cloned();
        let env = match get("KEYWAY_ENV").as_deref() {
            None | Some("dev") | Some("development") => Environment::Dev,
            Some("prod") | Some("production") => Environment::Prod,
            Some(other) => {
                return Err(invalid(
                    "KEYWAY_ENV",
                    format!("expected dev or prod, got {other:?}"),
                ));
            }
        };
        let listen = parse(&get, "KEYWAY_LISTEN", "127.0.0.1:8080")?;
        let nats_prefix = get("KEYWAY_NATS_PREFIX").unwrap_or_else(|| "keyway".into());
        validate_prefix(&nats_prefix)?;
        let log_format = match get("KEYWAY_LOG_FORMAT").as_deref() {
            None | Some("json") => LogFormat::Json,
            Some("pretty") => LogFormat::Pretty,
            Some(other) => {
                return Err(invalid(
                    "KEYWAY_LOG_FORMAT",
                    format!("expected json or pretty, got {other:?}"),
                ));
            }
        };
        let config = Self {
            env,
            listen,
            database_url: get("KEYWAY_DATABASE_URL")
                .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/keyway".into()),
            nats_url: get("KEYWAY_NATS_URL").unwrap_or_else(|| "nats://127.0.0.1:4222".into()),
            nats_prefix,
            data_dir: get("KEYWAY_DATA_DIR").unwrap_or_else(|| "./data".into()).into(),
            admin_key: get("KEYWAY_ADMIN_KEY"),
            models_path: get("KEYWAY_MODELS").map(PathBuf::from),
            mock_enabled: parse_bool(&get, "KEYWAY_MOCK", env == Environment::Dev)?,
            upstream_connect_timeout: Duration::from_millis(parse(
                &get,
                "KEYWAY_UPSTREAM_CONNECT_TIMEOUT_MS",
                "5000",
            )?),
            upstream_timeout: Duration::from_millis(parse(&get, "KEYWAY_UPSTREAM_TIMEOUT_MS", "120000")?),
            max_body_bytes: parse(&get, "KEYWAY_MAX_BODY_BYTES", "10485760")?,
            shutdown_grace: Duration::from_millis(parse(&get, "KEYWAY_SHUTDOWN_GRACE_MS", "30000")?),
            otlp_endpoint: get("KEYWAY_OTLP_ENDPOINT").or_else(|| get("OTEL_EXPORTER_OTLP_ENDPOINT")),
            log_format,
            kms: match get("KEYWAY_KMS").as_deref() {
                None | Some("local") => "local".to_owned(),
                Some("aws") => "aws".to_owned(),
                Some(other) => {
                    return Err(invalid(
                        "KEYWAY_KMS",
                        format!("expected local or aws, got {other:?}"),
                    ));
                }
            },
            kms_key_id: get("KEYWAY_KMS_KEY_ID"),
            credential_cache_ttl: Duration::from_millis(parse(
                &get,
                "KEYWAY_CREDENTIAL_CACHE_TTL_MS",
                "10000",
            )?),
            allow_private_urls: parse_bool(&get, "KEYWAY_ALLOW_PRIVATE_URLS", env == Environment::Dev)?,
            spool_max_bytes: parse(&get, "KEYWAY_SPOOL_MAX_BYTES", "1073741824")?,
            keys_url: get("KEYWAY_KEYS_URL"),
            internal_token: get("KEYWAY_INTERNAL_TOKEN"),
            vars: vars.clone(),
        };
        config.refuse_insecure_production()?;
        Ok(config)
    }

    /// Any variable from the environment the config was read from.
    pub fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).filter(|v| !v.is_empty()).cloned()
    }

    /// Production must be configured on purpose; each missing item is named.
    fn refuse_insecure_production(&self) -> Result<(), ConfigError> {
        if self.env != Environment::Prod {
            return Ok(());
        }
        let mut problems = Vec::new();
        if self.admin_key.as_ref().is_none_or(|k| k.len() < 32) {
            problems.push("KEYWAY_ADMIN_KEY must be set to at least 32 characters");
        }
        if self.mock_enabled {
            problems.push("KEYWAY_MOCK must be false (the mock upstream is for dev and tests)");
        }
        if self.allow_private_urls {
            problems.push("KEYWAY_ALLOW_PRIVATE_URLS must be false (it opens an SSRF hole)");
        }
        if self.kms == "aws" && self.kms_key_id.is_none() {
            problems.push("KEYWAY_KMS_KEY_ID must name the KMS key when KEYWAY_KMS=aws");
        }
        if self.internal_token.as_ref().is_some_and(|t| t.len() < 32) {
            problems.push("KEYWAY_INTERNAL_TOKEN must be at least 32 characters");
        }
        if self.models_path.is_none() {
            problems.push("KEYWAY_MODELS must point at a model catalog (the built-in catalog is dev-only)");
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::InsecureInProduction(problems.join("; ")))
        }
    }

    /// The JetStream stream holding `<prefix>.<kind>.v1.>` subjects.
    pub fn stream_name(&self, kind: &str) -> String {
        keyway_proto::subjects::stream(&self.nats_prefix, kind)
    }

    /// The subject root for one kind of event, e.g. `keyway.usage.v1`.
    pub fn subject_root(&self, kind: &str) -> String {
        keyway_proto::subjects::root(&self.nats_prefix, kind)
    }
}

fn invalid(name: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        name,
        reason: reason.into(),
    }
}

fn parse<T>(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: &str,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let raw = get(name).unwrap_or_else(|| default.to_owned());
    raw.trim()
        .parse()
        .map_err(|e| invalid(name, format!("{raw:?}: {e}")))
}

fn parse_bool(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match get(name).map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None => Ok(default),
        Some("1" | "true" | "yes" | "on") => Ok(true),
        Some("0" | "false" | "no" | "off") => Ok(false),
        Some(other) => Err(invalid(name, format!("expected true or false, got {other:?}"))),
    }
}

/// Subjects, streams and consumers are built from the prefix, so it must be
/// a single NATS token.
fn validate_prefix(prefix: &str) -> Result<(), ConfigError> {
    let ok = !prefix.is_empty()
        && prefix.len() <= 32
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "KEYWAY_NATS_PREFIX",
            format!("{prefix:?} must be 1-32 characters of [A-Za-z0-9_-]"),
        ))
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_vars(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn defaults_give_a_runnable_dev_stack() {
        let c = config(&[]).unwrap();
        assert_eq!(c.env, Environment::Dev);
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.nats_prefix, "keyway");
        assert!(c.mock_enabled);
        assert_eq!(c.stream_name("usage"), "KEYWAY_USAGE");
        assert_eq!(c.subject_root("keys"), "keyway.keys.v1");
    }

    #[test]
    fn production_names_every_insecure_default() {
        let err = config(&[("KEYWAY_ENV", "prod"), ("KEYWAY_MOCK", "true")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("KEYWAY_ADMIN_KEY"), "{err}");
        assert!(err.contains("KEYWAY_MOCK"), "{err}");
        assert!(err.contains("KEYWAY_MODELS"), "{err}");
    }

    #[test]
    fn a_prefix_with_dots_is_refused() {
        let err = config(&[("KEYWAY_NATS_PREFIX", "a.b")]).unwrap_err().to_string();
        assert!(err.contains("KEYWAY_NATS_PREFIX"), "{err}");
    }

    #[test]
    fn a_bad_number_names_the_variable() {
        let err = config(&[("KEYWAY_UPSTREAM_TIMEOUT_MS", "soon")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("KEYWAY_UPSTREAM_TIMEOUT_MS"), "{err}");
    }

    #[test]
    fn debug_output_hides_the_admin_key_and_db_password() {
        let c = config(&[
            ("KEYWAY_ADMIN_KEY", "super-secret-admin-key"),
            ("KEYWAY_DATABASE_URL", "postgres://u:hunter2@db/keyway"),
        ])
        .unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("super-secret-admin-key"));
        assert!(!shown.contains("hunter2"));
    }
}
