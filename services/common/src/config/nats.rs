//! The NATS section (`KEYWAY_NATS_*`): which servers, how many replicas of
//! each stream and KV bucket Keyway creates, and how to authenticate.

use std::path::PathBuf;

use super::{ConfigError, Vars};

#[derive(Clone)]
pub struct NatsSettings {
    /// `KEYWAY_NATS_URL`: one server, or a comma-separated list of a
    /// cluster's servers; the client follows the cluster from any of them.
    pub servers: Vec<String>,
    /// `KEYWAY_NATS_REPLICAS`: replicas of the streams and KV buckets that
    /// Keyway creates (3 on a JetStream cluster).
    pub replicas: usize,
    /// `KEYWAY_NATS_CREDS`: a `.creds` file (JWT and nkey seed).
    pub creds_file: Option<PathBuf>,
    /// `KEYWAY_NATS_NKEY`: an nkey seed; a secret.
    pub nkey_seed: Option<String>,
    /// `KEYWAY_NATS_TLS_CA`: a CA bundle; setting it requires TLS.
    pub tls_ca: Option<PathBuf>,
}

impl std::fmt::Debug for NatsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsSettings")
            .field(
                "servers",
                &self
                    .servers
                    .iter()
                    .map(|s| super::redact_url(s))
                    .collect::<Vec<_>>(),
            )
            .field("replicas", &self.replicas)
            .field("creds_file", &self.creds_file)
            .field("nkey_seed", &self.nkey_seed.as_ref().map(|_| super::MASK))
            .field("tls_ca", &self.tls_ca)
            .finish()
    }
}

impl NatsSettings {
    pub(super) fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let raw = vars.string("KEYWAY_NATS_URL", "nats://127.0.0.1:4222");
        let expected = "nats://host:port, comma-separated for a cluster";
        let servers: Vec<String> = raw
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        for server in &servers {
            if server.parse::<async_nats::ServerAddr>().is_err() {
                return Err(ConfigError::invalid(
                    "KEYWAY_NATS_URL",
                    expected,
                    &super::redact_url(server),
                ));
            }
        }
        if servers.is_empty() {
            return Err(ConfigError::invalid("KEYWAY_NATS_URL", expected, &raw));
        }
        let replicas = vars.number("KEYWAY_NATS_REPLICAS", 1, 1..=5)?;
        Ok(Self {
            servers,
            replicas: usize::try_from(replicas).unwrap_or(1),
            creds_file: vars.get("KEYWAY_NATS_CREDS").map(PathBuf::from),
            nkey_seed: vars.get("KEYWAY_NATS_NKEY"),
            tls_ca: vars.get("KEYWAY_NATS_TLS_CA").map(PathBuf::from),
        })
    }

    /// For `keyway config`: passwords in URLs and the nkey seed masked.
    pub(super) fn effective(&self) -> Vec<(&'static str, String)> {
        let shown = |p: &Option<PathBuf>| {
            p.as_ref()
                .map_or_else(|| "(unset)".to_owned(), |p| p.display().to_string())
        };
        vec![
            (
                "KEYWAY_NATS_URL",
                self.servers
                    .iter()
                    .map(|s| super::redact_url(s))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            ("KEYWAY_NATS_REPLICAS", self.replicas.to_string()),
            ("KEYWAY_NATS_CREDS", shown(&self.creds_file)),
            (
                "KEYWAY_NATS_NKEY",
                self.nkey_seed
                    .as_ref()
                    .map_or_else(|| "(unset)".to_owned(), |_| super::MASK.to_owned()),
            ),
            ("KEYWAY_NATS_TLS_CA", shown(&self.tls_ca)),
        ]
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<NatsSettings, ConfigError> {
        NatsSettings::from_vars(&Vars::from_pairs(pairs))
    }

    #[test]
    fn a_cluster_is_a_comma_separated_list() -> Result<(), ConfigError> {
        let cluster = settings(&[
            ("KEYWAY_NATS_URL", "nats://a:4222, nats://b:4222,nats://c:4222"),
            ("KEYWAY_NATS_REPLICAS", "3"),
        ])?;
        assert_eq!(
            cluster.servers,
            ["nats://a:4222", "nats://b:4222", "nats://c:4222"]
        );
        assert_eq!(cluster.replicas, 3);
        assert_eq!(settings(&[])?.servers, ["nats://127.0.0.1:4222"]);
        Ok(())
    }

    #[test]
    fn bad_servers_and_replicas_name_the_variable_and_hide_passwords() {
        let err = settings(&[("KEYWAY_NATS_URL", "nats://a:4222,nats://u:hunter2@b:99999")]).err();
        let shown = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            shown.contains("KEYWAY_NATS_URL") && !shown.contains("hunter2"),
            "{shown}"
        );
        let err = settings(&[("KEYWAY_NATS_REPLICAS", "7")])
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("KEYWAY_NATS_REPLICAS")));
    }

    #[test]
    fn the_nkey_seed_is_masked() -> Result<(), ConfigError> {
        let s = settings(&[(
            "KEYWAY_NATS_NKEY",
            "SUAEL6GG2L2HIF7DUGZJGMRUFKXELGGYFMHF76UO2AYBG3K4YLWR3FKC2Q",
        )])?;
        let shown = format!("{:?} {:?}", s, s.effective());
        assert!(!shown.contains("SUAEL6"), "{shown}");
        Ok(())
    }
}
