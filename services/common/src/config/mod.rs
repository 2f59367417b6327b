//! Configuration, read once from `KEYWAY_*` environment variables with
//! embedded defaults, so a fresh checkout runs with no config file at all.
//!
//! Several stacks run side by side on one machine (tests, benches, a
//! developer's own), so everything that could collide — listen address,
//! database, NATS names, data directory — is configurable here.

mod cors;
mod nats;
mod production;
mod show;
mod vars;

use std::{collections::HashMap, net::SocketAddr, path::PathBuf, time::Duration};

pub use cors::{CorsOrigins, CorsSettings};
pub use nats::NatsSettings;
// The KMS choice is the crypto crate's type, so the configuration and the
// code that builds the KMS share one definition.
pub use keyway_crypto::KmsProvider;
pub use show::{MASK, redact_url};
pub use vars::Vars;

/// Where the process runs. Production refuses insecure defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Dev,
    Prod,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dev => "dev",
            Self::Prod => "prod",
        }
    }
}

/// Why a configuration cannot be used. Each variant names the variables
/// involved, so the operator knows what to change.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `got` is the value as shown (quoted), or a description of it when the
    /// value is a secret that must not be echoed.
    #[error("{var} is invalid: expected {expected}, got {got}")]
    Invalid {
        var: String,
        expected: String,
        got: String,
    },
    /// A variable that only works together with another one.
    #[error("{var} needs {needs}")]
    Requires { var: &'static str, needs: &'static str },
    #[error("production mode refuses insecure defaults: {}", .0.join("; "))]
    InsecureInProduction(Vec<&'static str>),
}

impl ConfigError {
    /// `raw` is shown quoted; pass [`ConfigError::Invalid`] directly for a
    /// secret.
    pub fn invalid(var: &str, expected: impl Into<String>, raw: &str) -> Self {
        Self::Invalid {
            var: var.to_owned(),
            expected: expected.into(),
            got: format!("{raw:?}"),
        }
    }
}

/// `KEYWAY_KMS` (and, for `aws`, `KEYWAY_KMS_KEY_ID` and `AWS_ENDPOINT_URL`);
/// an unknown value names the variable and the allowed ones.
fn kms_from_vars(vars: &Vars) -> Result<KmsProvider, ConfigError> {
    let [local, aws] = KmsProvider::NAMES;
    let is_aws = vars.choice(KmsProvider::VARIABLE, false, &[(local, false), (aws, true)])?;
    Ok(if is_aws {
        KmsProvider::Aws {
            key_id: vars.get("KEYWAY_KMS_KEY_ID"),
            endpoint: vars.get("AWS_ENDPOINT_URL"),
        }
    } else {
        KmsProvider::Local
    })
}

/// The whole process configuration. Secrets are held as `String` only as long
/// as needed to hand them to the component that owns them.
#[derive(Clone)]
pub struct Config {
    pub env: Environment,
    pub listen: SocketAddr,
    pub database_url: String,
    pub nats: NatsSettings,
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
    pub kms: KmsProvider,
    /// How long gateways reuse a verified key or a resolved BYOK key;
    /// key-change events from NATS evict sooner.
    pub credential_cache_ttl: Duration,
    /// BYOK and webhook URLs may point at private/loopback addresses.
    pub allow_private_urls: bool,
    /// The usage spool's bound; past it, events are dropped with an error.
    pub spool_max_bytes: u64,
    /// The largest unfinished SSE event the usage tap holds; an upstream
    /// that goes past it without framing an event gets its stream ended.
    pub sse_max_event_bytes: usize,
    /// `KEYWAY_FRONT_THREADS`: threads with a runtime of their own that
    /// serve the HTTP connections (default: one per CPU); 0 serves them on
    /// the main runtime.
    pub front_threads: usize,
    /// `KEYWAY_PIN_FRONTS` (default on): with one front thread per CPU the
    /// process may run on, each is pinned to its own CPU.
    pub pin_fronts: bool,
    /// `KEYWAY_WORKER_THREADS`: workers of the main runtime, which runs the
    /// background work (usage publishing, NATS, the projector, the outbox)
    /// and, without front threads, the connections. Unset, it is chosen by
    /// what the process serves (`keyway` `cli::main_workers`).
    pub worker_threads: Option<usize>,
    /// Where a gateway running alone reaches the key service.
    pub keys_url: Option<String>,
    /// Shared secret of the internal gateway → key service routes.
    pub internal_token: Option<String>,
    /// `KEYWAY_AUTH` (default on). Off, every request acts as the platform
    /// admin; dev only, with a warning at start.
    pub auth_enabled: bool,
    /// `KEYWAY_CORS_*`: off unless origins are listed.
    pub cors: CorsSettings,
    /// The variables this config was read from: each component reads its
    /// own section from them (the gateway's limits, the projector, the
    /// mock), and the catalog names its system keys' variables itself.
    vars: Vars,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(Vars::from_process())
    }

    /// Builds the config from an explicit environment, so tests never mutate
    /// the process environment (which every test thread shares).
    pub fn from_vars(vars: HashMap<String, String>) -> Result<Self, ConfigError> {
        Self::from_source(Vars::new(vars))
    }

    pub fn from_source(vars: Vars) -> Result<Self, ConfigError> {
        let env = vars.choice(
            "KEYWAY_ENV",
            Environment::Dev,
            &[
                ("dev", Environment::Dev),
                ("development", Environment::Dev),
                ("prod", Environment::Prod),
                ("production", Environment::Prod),
            ],
        )?;
        let dev = env == Environment::Dev;
        let nats_prefix = vars.string("KEYWAY_NATS_PREFIX", "keyway");
        validate_prefix(&nats_prefix)?;
        let any = 0..=u64::MAX;
        let config = Self {
            env,
            listen: vars.parse(
                "KEYWAY_LISTEN",
                SocketAddr::from(([127, 0, 0, 1], 8080)),
                "host:port",
            )?,
            database_url: vars.string("KEYWAY_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/keyway"),
            nats: NatsSettings::from_vars(&vars)?,
            nats_prefix,
            data_dir: vars.string("KEYWAY_DATA_DIR", "./data").into(),
            admin_key: vars.get("KEYWAY_ADMIN_KEY"),
            models_path: vars.get("KEYWAY_MODELS").map(PathBuf::from),
            mock_enabled: vars.flag("KEYWAY_MOCK", dev)?,
            upstream_connect_timeout: vars.millis(
                "KEYWAY_UPSTREAM_CONNECT_TIMEOUT_MS",
                5_000,
                any.clone(),
            )?,
            upstream_timeout: vars.millis("KEYWAY_UPSTREAM_TIMEOUT_MS", 120_000, any.clone())?,
            max_body_bytes: vars.parse("KEYWAY_MAX_BODY_BYTES", 10_485_760, "a whole number of bytes")?,
            shutdown_grace: vars.millis("KEYWAY_SHUTDOWN_GRACE_MS", 30_000, any.clone())?,
            otlp_endpoint: vars
                .get("KEYWAY_OTLP_ENDPOINT")
                .or_else(|| vars.get("OTEL_EXPORTER_OTLP_ENDPOINT")),
            log_format: vars.choice(
                "KEYWAY_LOG_FORMAT",
                LogFormat::Json,
                &[("json", LogFormat::Json), ("pretty", LogFormat::Pretty)],
            )?,
            kms: kms_from_vars(&vars)?,
            credential_cache_ttl: vars.millis("KEYWAY_CREDENTIAL_CACHE_TTL_MS", 10_000, any.clone())?,
            allow_private_urls: vars.flag("KEYWAY_ALLOW_PRIVATE_URLS", dev)?,
            spool_max_bytes: vars.number("KEYWAY_SPOOL_MAX_BYTES", 1 << 30, any)?,
            sse_max_event_bytes: vars.number("KEYWAY_SSE_MAX_EVENT_BYTES", 1 << 20, 1024..=1 << 30)? as usize,
            front_threads: vars.number("KEYWAY_FRONT_THREADS", cpus() as u64, 0..=256)? as usize,
            pin_fronts: vars.flag("KEYWAY_PIN_FRONTS", true)?,
            worker_threads: vars
                .number_opt("KEYWAY_WORKER_THREADS", 1..=256)?
                .map(|n| n as usize),
            keys_url: vars.get("KEYWAY_KEYS_URL"),
            internal_token: vars.get("KEYWAY_INTERNAL_TOKEN"),
            auth_enabled: vars.flag("KEYWAY_AUTH", true)?,
            cors: CorsSettings::from_vars(&vars)?,
            vars,
        };
        config.refuse_insecure()?;
        Ok(config)
    }

    /// The variables this config was read from, for the sections other
    /// components read themselves.
    pub fn vars(&self) -> &Vars {
        &self.vars
    }

    /// Any variable from the environment the config was read from, for names
    /// the config does not know in advance (a catalog's `api_key_env`).
    pub fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name)
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

/// The CPUs this process may run on (its affinity, and a cgroup's quota).
pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
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
        Err(ConfigError::invalid(
            "KEYWAY_NATS_PREFIX",
            "1-32 characters of [A-Za-z0-9_-]",
            prefix,
        ))
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_source(super::Vars::from_pairs(pairs))
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
    fn the_kms_is_a_typed_choice_and_a_bad_one_names_the_variable_and_the_values() {
        assert_eq!(config(&[]).unwrap().kms, KmsProvider::Local);
        let aws = config(&[("KEYWAY_KMS", "AWS"), ("KEYWAY_KMS_KEY_ID", "alias/k")]).unwrap();
        assert_eq!(
            aws.kms,
            KmsProvider::Aws {
                key_id: Some("alias/k".into()),
                endpoint: None
            }
        );
        let err = config(&[("KEYWAY_KMS", "vault")]).unwrap_err().to_string();
        assert!(
            err.contains("KEYWAY_KMS") && err.contains("local, aws") && err.contains("vault"),
            "{err}"
        );
    }

    #[test]
    fn a_prefix_with_dots_is_refused() {
        let err = config(&[("KEYWAY_NATS_PREFIX", "a.b")]).unwrap_err().to_string();
        assert!(err.contains("KEYWAY_NATS_PREFIX"), "{err}");
    }

    #[test]
    fn worker_threads_are_chosen_unless_set_and_zero_is_refused() {
        assert_eq!(config(&[]).unwrap().worker_threads, None);
        let three = config(&[("KEYWAY_WORKER_THREADS", "3")]).unwrap();
        assert_eq!(three.worker_threads, Some(3));
        let err = config(&[("KEYWAY_WORKER_THREADS", "0")]).unwrap_err().to_string();
        assert!(err.contains("KEYWAY_WORKER_THREADS"), "{err}");
    }

    #[test]
    fn fronts_are_pinned_unless_turned_off_and_a_bad_flag_is_refused() {
        assert!(config(&[]).unwrap().pin_fronts);
        assert!(!config(&[("KEYWAY_PIN_FRONTS", "off")]).unwrap().pin_fronts);
        let err = config(&[("KEYWAY_PIN_FRONTS", "sometimes")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("KEYWAY_PIN_FRONTS"), "{err}");
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
