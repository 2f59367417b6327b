//! Showing a configuration without its secrets: the `Debug` form that logs
//! may carry, and the effective settings that `keyway config` prints.

use super::{Config, KmsProvider, LogFormat};

/// What a secret's value is replaced with.
pub const MASK: &str = "********";

/// The AWS SDK reads these itself; they are shown only as set or not.
const AWS_CREDENTIALS: [&str; 3] = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"];

/// Drops any `user:password@` part of a URL before it is shown.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***@{}", &url[..scheme_end], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

fn secret(value: Option<&String>) -> String {
    value.map_or_else(|| "(unset)".to_owned(), |_| MASK.to_owned())
}

fn optional(value: Option<impl std::fmt::Display>) -> String {
    value.map_or_else(|| "(unset)".to_owned(), |v| v.to_string())
}

impl Config {
    /// Every setting this config holds, by variable name, as in effect
    /// (defaults filled in), with secrets masked: the admin key, the
    /// internal token, passwords in the database and NATS URLs, and KMS
    /// credentials.
    pub fn effective(&self) -> Vec<(&'static str, String)> {
        let ms = |d: std::time::Duration| d.as_millis().to_string();
        let mut shown = vec![
            ("KEYWAY_ENV", self.env.as_str().to_owned()),
            ("KEYWAY_LISTEN", self.listen.to_string()),
            ("KEYWAY_DATABASE_URL", redact_url(&self.database_url)),
            ("KEYWAY_NATS_PREFIX", self.nats_prefix.clone()),
            ("KEYWAY_DATA_DIR", self.data_dir.display().to_string()),
            ("KEYWAY_ADMIN_KEY", secret(self.admin_key.as_ref())),
            (
                "KEYWAY_MODELS",
                optional(self.models_path.as_ref().map(|p| p.display())),
            ),
            ("KEYWAY_MOCK", self.mock_enabled.to_string()),
            (
                "KEYWAY_UPSTREAM_CONNECT_TIMEOUT_MS",
                ms(self.upstream_connect_timeout),
            ),
            ("KEYWAY_UPSTREAM_TIMEOUT_MS", ms(self.upstream_timeout)),
            ("KEYWAY_MAX_BODY_BYTES", self.max_body_bytes.to_string()),
            ("KEYWAY_SHUTDOWN_GRACE_MS", ms(self.shutdown_grace)),
            (
                "KEYWAY_OTLP_ENDPOINT",
                optional(self.otlp_endpoint.as_deref().map(redact_url)),
            ),
            (
                "KEYWAY_LOG_FORMAT",
                match self.log_format {
                    LogFormat::Json => "json",
                    LogFormat::Pretty => "pretty",
                }
                .to_owned(),
            ),
            ("KEYWAY_KMS", self.kms.name().to_owned()),
        ];
        if let KmsProvider::Aws { key_id, endpoint } = &self.kms {
            shown.push(("KEYWAY_KMS_KEY_ID", optional(key_id.as_ref())));
            shown.push(("AWS_ENDPOINT_URL", optional(endpoint.as_deref().map(redact_url))));
            for name in AWS_CREDENTIALS {
                shown.push((name, secret(self.vars.get(name).as_ref())));
            }
        }
        shown.extend([
            ("KEYWAY_CREDENTIAL_CACHE_TTL_MS", ms(self.credential_cache_ttl)),
            ("KEYWAY_ALLOW_PRIVATE_URLS", self.allow_private_urls.to_string()),
            ("KEYWAY_SPOOL_MAX_BYTES", self.spool_max_bytes.to_string()),
            ("KEYWAY_SSE_MAX_EVENT_BYTES", self.sse_max_event_bytes.to_string()),
            ("KEYWAY_FRONT_THREADS", self.front_threads.to_string()),
            (
                "KEYWAY_PIN_FRONTS",
                if self.pin_fronts { "on" } else { "off" }.to_owned(),
            ),
            (
                "KEYWAY_WORKER_THREADS",
                self.worker_threads.map_or_else(
                    || "(unset: 1 where front threads serve the gateway, else one per CPU)".to_owned(),
                    |n| n.to_string(),
                ),
            ),
            (
                "KEYWAY_KEYS_URL",
                optional(self.keys_url.as_deref().map(redact_url)),
            ),
            ("KEYWAY_INTERNAL_TOKEN", secret(self.internal_token.as_ref())),
            (
                "KEYWAY_AUTH",
                if self.auth_enabled { "on" } else { "off" }.to_owned(),
            ),
            ("KEYWAY_CORS_ORIGINS", self.cors.describe_origins()),
            (
                "KEYWAY_CORS_ALLOW_CREDENTIALS",
                self.cors.allow_credentials.to_string(),
            ),
        ]);
        shown.extend(self.nats.effective());
        shown
    }
}

impl std::fmt::Debug for Config {
    // Hand-written so the admin key can never reach a log line through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("env", &self.env)
            .field("listen", &self.listen)
            .field("database_url", &redact_url(&self.database_url))
            .field("nats", &self.nats)
            .field("nats_prefix", &self.nats_prefix)
            .field("data_dir", &self.data_dir)
            .field("admin_key", &self.admin_key.as_ref().map(|_| "<redacted>"))
            .field("models_path", &self.models_path)
            .field("mock_enabled", &self.mock_enabled)
            .field("kms", &self.kms.name())
            .field("auth_enabled", &self.auth_enabled)
            .field("cors", &self.cors)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_effective_config_masks_every_secret() {
        let secrets = [
            "admin-secret-1",
            "token-secret-2",
            "dbpass-3",
            "natspass-4",
            "aws-secret-5",
        ];
        let c = Config::from_vars(
            [
                ("KEYWAY_ADMIN_KEY", "admin-secret-1"),
                ("KEYWAY_INTERNAL_TOKEN", "token-secret-2"),
                ("KEYWAY_DATABASE_URL", "postgres://u:dbpass-3@db/keyway"),
                ("KEYWAY_NATS_URL", "nats://n:natspass-4@nats:4222"),
                ("KEYWAY_KMS", "aws"),
                ("AWS_SECRET_ACCESS_KEY", "aws-secret-5"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        )
        .unwrap();
        let shown = format!("{:?}", c.effective());
        for secret in secrets {
            assert!(!shown.contains(secret), "{secret} shown in {shown}");
        }
        assert!(shown.contains("db/keyway") && shown.contains(MASK), "{shown}");
    }
}
