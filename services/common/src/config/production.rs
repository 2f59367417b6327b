//! What a configuration may not do: `KEYWAY_ENV=prod` refuses every
//! insecure default at once, each named, so an operator fixes them in one
//! pass rather than one restart each; and one combination (CORS `*` with
//! credentials) is refused in every environment.

use super::{Config, ConfigError, Environment, KmsProvider};

impl Config {
    pub(super) fn refuse_insecure(&self) -> Result<(), ConfigError> {
        if self.env != Environment::Prod {
            if self.cors.is_wildcard_with_credentials() {
                return Err(ConfigError::Invalid {
                    var: "KEYWAY_CORS_ALLOW_CREDENTIALS".to_owned(),
                    expected:
                        "false while KEYWAY_CORS_ORIGINS is * (list exact origins to allow credentials)"
                            .to_owned(),
                    got: "true".to_owned(),
                });
            }
            return Ok(());
        }
        let problems = self.production_problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::InsecureInProduction(problems))
        }
    }

    /// Production must be configured on purpose; each insecure item is named.
    fn production_problems(&self) -> Vec<&'static str> {
        let mut problems = Vec::new();
        if self.admin_key.as_ref().is_none_or(|k| k.len() < 32) {
            problems.push("KEYWAY_ADMIN_KEY must be set to at least 32 characters");
        }
        if !self.auth_enabled {
            problems.push("KEYWAY_AUTH must be on (authentication can be turned off only in dev)");
        }
        if self.mock_enabled {
            problems.push("KEYWAY_MOCK must be false (the mock upstream is for dev and tests)");
        }
        if self.allow_private_urls {
            problems.push("KEYWAY_ALLOW_PRIVATE_URLS must be false (it opens an SSRF hole)");
        }
        match self.kms {
            KmsProvider::Aws { key_id: None, .. } => {
                problems.push("KEYWAY_KMS_KEY_ID must name the KMS key when KEYWAY_KMS=aws");
            }
            // A gateway run alone (`KEYWAY_KEYS_URL`) unwraps nothing.
            KmsProvider::Local
                if self.keys_url.is_none()
                    && !keyway_crypto::LocalKms::has_master_key(&self.data_dir.join("kms")) =>
            {
                problems.push(
                    "KEYWAY_KMS=local needs an existing master key in <KEYWAY_DATA_DIR>/kms/ (production never \
                     generates one, which would be lost with the data dir: provision master-v1.key and back it \
                     up, or use KEYWAY_KMS=aws)",
                );
            }
            _ => {}
        }
        if self.internal_token.as_ref().is_some_and(|t| t.len() < 32) {
            problems.push("KEYWAY_INTERNAL_TOKEN must be at least 32 characters");
        }
        if self.models_path.is_none() {
            problems.push("KEYWAY_MODELS must point at a model catalog (the built-in catalog is dev-only)");
        }
        if self.cors.is_wildcard_with_credentials() {
            problems.push(
                "KEYWAY_CORS_ORIGINS=* must not be combined with KEYWAY_CORS_ALLOW_CREDENTIALS=true (list exact origins)",
            );
        }
        if self
            .vars
            .get("KEYWAY_OIDC_ISSUER")
            .is_some_and(|raw| has_insecure_issuer(&raw))
        {
            problems.push("KEYWAY_OIDC_ISSUER must use https for hosts other than loopback");
        }
        problems
    }
}

/// Any of the comma-separated issuers over plain http to a host other than
/// loopback: its signing keys could be swapped in transit. Read from the raw
/// value so it is reported with the other problems, before OIDC is set up.
fn has_insecure_issuer(raw: &str) -> bool {
    raw.split(',').map(str::trim).any(|issuer| {
        url::Url::parse(issuer).is_ok_and(|u| {
            let loopback = match u.host() {
                Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            u.scheme() == "http" && !loopback
        })
    })
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_source(crate::Vars::from_pairs(pairs))
    }

    #[test]
    fn production_names_every_insecure_setting_at_once() {
        let empty = tempfile::tempdir().unwrap();
        let dir = empty.path().display().to_string();
        let err = config(&[
            ("KEYWAY_ENV", "prod"),
            ("KEYWAY_DATA_DIR", &dir),
            ("KEYWAY_MOCK", "true"),
            ("KEYWAY_AUTH", "off"),
            ("KEYWAY_CORS_ORIGINS", "*"),
            ("KEYWAY_CORS_ALLOW_CREDENTIALS", "true"),
            (
                "KEYWAY_OIDC_ISSUER",
                "https://sso.example.com/realms/a,http://sso.example.com/realms/b",
            ),
        ])
        .unwrap_err()
        .to_string();
        for name in [
            "KEYWAY_ADMIN_KEY",
            "KEYWAY_AUTH",
            "KEYWAY_MOCK",
            "KEYWAY_KMS=local",
            "KEYWAY_MODELS",
            "KEYWAY_CORS_ORIGINS=*",
            "KEYWAY_OIDC_ISSUER",
        ] {
            assert!(err.contains(name), "{name} not named in: {err}");
        }
    }

    #[test]
    fn a_provisioned_production_passes_and_loopback_issuers_may_be_http() {
        let data = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(data.path().join("kms")).unwrap();
        std::fs::write(data.path().join("kms/master-v1.key"), [7u8; 32]).unwrap();
        let dir = data.path().display().to_string();
        let admin = "a".repeat(32);
        let base = [
            ("KEYWAY_ENV", "prod"),
            ("KEYWAY_DATA_DIR", dir.as_str()),
            ("KEYWAY_ADMIN_KEY", admin.as_str()),
            ("KEYWAY_MODELS", "/etc/keyway/models.yaml"),
            ("KEYWAY_CORS_ORIGINS", "https://app.example.com"),
            ("KEYWAY_CORS_ALLOW_CREDENTIALS", "true"),
            ("KEYWAY_OIDC_ISSUER", "http://127.0.0.1:8081/realms/a"),
        ];
        let c = config(&base).unwrap();
        assert!(c.auth_enabled);
        // Without the master key only the KMS is named; a lone gateway needs none.
        let empty = tempfile::tempdir().unwrap();
        let empty_dir = empty.path().display().to_string();
        let mut no_key = base.to_vec();
        no_key.push(("KEYWAY_DATA_DIR", &empty_dir));
        let err = config(&no_key).unwrap_err().to_string();
        assert!(
            err.contains("KEYWAY_KMS=local") && !err.contains("KEYWAY_ADMIN_KEY"),
            "{err}"
        );
        no_key.push(("KEYWAY_KEYS_URL", "http://keys.internal:8080"));
        assert!(config(&no_key).is_ok());
    }

    #[test]
    fn cors_wildcard_with_credentials_is_refused_in_dev_too_and_auth_off_is_allowed_there() {
        let err = config(&[
            ("KEYWAY_CORS_ORIGINS", "*"),
            ("KEYWAY_CORS_ALLOW_CREDENTIALS", "true"),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("KEYWAY_CORS_ALLOW_CREDENTIALS"), "{err}");
        assert!(!config(&[("KEYWAY_AUTH", "off")]).unwrap().auth_enabled);
        assert!(config(&[("KEYWAY_CORS_ORIGINS", "*")]).is_ok());
    }
}
