//! `keyway config`: the effective configuration — every setting the stack
//! reads, with defaults filled in — as `NAME=value` lines, secrets masked.
//! Each component's section is read exactly as the stack reads it, so an
//! invalid value fails here with the same message as at start.

use keyway_auth::{GuardSettings, oidc::OidcSettings};
use keyway_common::{Config, ConfigError, Environment};
use keyway_gateway::{limits::LimitSettings, responses::ResponseOwners, usage::settings::PublisherSettings};
use keyway_keys::identity_follow::FollowSettings;
use keyway_mock_llm::MockConfig;
use keyway_projector::{ProjectorSettings, webhooks::WebhookSettings};

/// The effective configuration as `NAME=value` lines.
pub fn render(config: &Config) -> Result<String, ConfigError> {
    let mut lines: Vec<(String, String)> = config
        .effective()
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
    lines.extend(sections(config)?);
    Ok(lines
        .into_iter()
        .map(|(name, value)| format!("{name}={value}\n"))
        .collect())
}

fn sections(config: &Config) -> Result<Vec<(String, String)>, ConfigError> {
    let ms = |d: std::time::Duration| d.as_millis().to_string();
    let limits = LimitSettings::from_config(config.vars())?;
    let projector = ProjectorSettings::from_config(config)?;
    let webhooks = WebhookSettings::from_config(config)?;
    let mock = MockConfig::from_vars("KEYWAY_MOCK_", config.vars())?;
    let follow = FollowSettings::from_config(config.vars(), config.env == Environment::Prod)?;
    let guard = GuardSettings::from_config(config.vars())?;
    let metrics = crate::observability::MetricsSettings::from_config(config.vars())?;
    let publisher = PublisherSettings::from_config(config.vars())?;
    let shown = [
        ("KEYWAY_LIMITS_KV_TIMEOUT_MS", ms(limits.kv_timeout)),
        ("KEYWAY_LIMITS_LEASE_MS", ms(limits.lease)),
        (
            "KEYWAY_LIMITS_OUTPUT_RESERVE",
            limits.default_output_reserve.to_string(),
        ),
        (
            "KEYWAY_LIMITS_ON_NATS_DOWN",
            if limits.fail_open { "open" } else { "closed" }.to_owned(),
        ),
        (
            keyway_gateway::responses::TTL_VAR,
            (ResponseOwners::ttl_from_config(config.vars())?.as_secs() / 86_400).to_string(),
        ),
        ("KEYWAY_PROJECTOR_BATCH_SIZE", projector.batch_size.to_string()),
        ("KEYWAY_PROJECTOR_WRITERS", projector.writers.to_string()),
        ("KEYWAY_PROJECTOR_LINGER_MS", ms(projector.linger)),
        (
            "KEYWAY_USAGE_RETENTION_DAYS",
            projector
                .retention_days
                .map_or_else(|| "(keep everything)".to_owned(), |d| d.to_string()),
        ),
        ("KEYWAY_WEBHOOK_BATCH_SIZE", webhooks.batch_size.to_string()),
        ("KEYWAY_WEBHOOK_POLL_MS", ms(webhooks.poll_interval)),
        ("KEYWAY_WEBHOOK_TIMEOUT_MS", ms(webhooks.timeout)),
        ("KEYWAY_WEBHOOK_RETRY_BASE_MS", ms(webhooks.retry_base)),
        ("KEYWAY_WEBHOOK_MAX_BACKOFF_MS", ms(webhooks.max_backoff)),
        ("KEYWAY_WEBHOOK_CONCURRENCY", webhooks.concurrency.to_string()),
        ("KEYWAY_MOCK_REQUIRE_AUTH", mock.require_auth.to_string()),
        // Mock keys are upstream API keys: only their count is shown.
        ("KEYWAY_MOCK_KEYS", format!("({} keys)", mock.keys.len())),
        ("KEYWAY_MOCK_LATENCY_MS", ms(mock.latency)),
        (
            "KEYWAY_MOCK_CHUNKS",
            mock.chunks
                .map_or_else(|| "(one word per delta)".to_owned(), |n| n.to_string()),
        ),
        ("KEYWAY_MOCK_CHUNK_DELAY_MS", ms(mock.chunk_delay)),
        (
            "KEYWAY_METRICS_TOKEN",
            metrics
                .token
                .as_ref()
                .map_or_else(|| "(the admin key)".to_owned(), |_| "********".to_owned()),
        ),
        ("KEYWAY_METRICS_MAX_TENANTS", metrics.max_tenants.to_string()),
    ];
    let console = crate::console::effective(config)?;
    let oidc = match OidcSettings::from_vars(config.vars())? {
        Some(oidc) => oidc.effective(),
        None => vec![(
            "KEYWAY_OIDC_ISSUER",
            "(unset: OIDC tokens are refused)".to_owned(),
        )],
    };
    Ok(guard
        .effective()
        .into_iter()
        .chain(shown)
        .chain(publisher.effective())
        .chain(console)
        .chain(oidc)
        .chain(FollowSettings::effective(follow.as_ref()))
        .map(|(name, value)| (name.to_owned(), value))
        .collect())
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_source(keyway_common::Vars::from_pairs(pairs))
    }

    #[test]
    fn keyway_config_masks_every_secret() {
        let secrets = [
            "admin-secret-value",
            "internal-token-value",
            "db-password",
            "nats-password",
            "aws-secret-value",
            "aws-session-value",
            "sk-upstream-key",
            "keycloak-client-secret",
            "webhook-secret-0123456789abcdef0123456789",
        ];
        let shown = render(
            &config(&[
                ("KEYWAY_ADMIN_KEY", "admin-secret-value"),
                ("KEYWAY_INTERNAL_TOKEN", "internal-token-value"),
                ("KEYWAY_DATABASE_URL", "postgres://app:db-password@db:5432/keyway"),
                ("KEYWAY_NATS_URL", "nats://app:nats-password@nats:4222"),
                ("KEYWAY_KMS", "aws"),
                ("KEYWAY_KMS_KEY_ID", "alias/keyway"),
                ("AWS_SECRET_ACCESS_KEY", "aws-secret-value"),
                ("AWS_SESSION_TOKEN", "aws-session-value"),
                ("KEYWAY_MOCK_KEYS", "sk-upstream-key=alice"),
                ("KEYWAY_OIDC_ISSUER", "https://sso.example.com/realms/acme"),
                ("KEYWAY_OIDC_AUDIENCE", "keyway"),
                ("KEYWAY_KEYCLOAK_CLIENT_ID", "keyway-follower"),
                ("KEYWAY_KEYCLOAK_CLIENT_SECRET", "keycloak-client-secret"),
                (
                    "KEYWAY_KEYCLOAK_WEBHOOK_SECRET",
                    "webhook-secret-0123456789abcdef0123456789",
                ),
            ])
            .unwrap(),
        )
        .unwrap();
        for secret in secrets {
            assert!(!shown.contains(secret), "{secret} is shown:\n{shown}");
        }
        for expected in [
            "KEYWAY_ADMIN_KEY=********",
            "KEYWAY_INTERNAL_TOKEN=********",
            "KEYWAY_DATABASE_URL=postgres://***@db:5432/keyway",
            "KEYWAY_KMS=aws",
            "KEYWAY_KMS_KEY_ID=alias/keyway",
            "AWS_SECRET_ACCESS_KEY=********",
            "KEYWAY_WEBHOOK_CONCURRENCY=8",
            "KEYWAY_KEYCLOAK_REALM=acme",
            "KEYWAY_KEYCLOAK_CLIENT_SECRET=********",
            "KEYWAY_KEYCLOAK_WEBHOOK_SECRET=********",
            "KEYWAY_AUTH=on",
            "KEYWAY_AUTH_FAILURE_LIMIT=5",
            "KEYWAY_CORS_ORIGINS=(off: no CORS headers)",
            "KEYWAY_USAGE_BATCH_MAX=256",
            "KEYWAY_USAGE_QUEUE_CAPACITY=65536",
        ] {
            assert!(shown.contains(expected), "{expected} missing:\n{shown}");
        }
    }

    #[test]
    fn an_invalid_section_value_names_the_variable_and_what_it_may_be() {
        let err = render(&config(&[("KEYWAY_LIMITS_ON_NATS_DOWN", "maybe")]).unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("KEYWAY_LIMITS_ON_NATS_DOWN") && err.contains("open, closed"),
            "{err}"
        );
    }
}
