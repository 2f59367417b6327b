//! Key-encryption-key (KEK) providers behind one trait, [`Kms`], with the
//! AWS KMS GenerateDataKey / Decrypt / ReEncrypt semantics: `local` keeps
//! versioned master keys in 0600 files, `aws` calls AWS KMS. Switching
//! between them is configuration only (`KEYWAY_KMS`).

mod aws;
mod counting;
mod local;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use zeroize::Zeroizing;

pub use aws::AwsKms;
use counting::CountingKms;
pub use counting::{DEK_CACHE, KMS_CALLS};
pub use local::LocalKms;

/// Non-secret key/value pairs bound to a wrapped DEK; decrypting needs the
/// same map. A `BTreeMap` so every encoding of it is ordered.
pub type EncryptionContext = BTreeMap<String, String>;

/// A fresh AES-256 data key: the plaintext to use now, and the KMS-wrapped
/// form to store.
pub struct DataKey {
    pub plaintext: Zeroizing<[u8; 32]>,
    pub wrapped: Vec<u8>,
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKey")
            .field("plaintext", &"<redacted>")
            .field("wrapped_len", &self.wrapped.len())
            .finish()
    }
}

/// KMS failures. No variant ever carries key material.
#[derive(Debug, thiserror::Error)]
pub enum KmsError {
    /// Tampered blob, wrong or missing encryption context, or a blob for
    /// another key.
    #[error("wrapped key is invalid or its encryption context does not match")]
    InvalidCiphertext,
    /// The KEK exists but cannot be used now (disabled, pending deletion,
    /// not found, or its key store is down).
    #[error("KMS key unavailable: {0}")]
    KeyUnavailable(String),
    #[error("access to the KMS key was denied")]
    AccessDenied,
    #[error("KMS request failed: {0}")]
    Transport(String),
    #[error("KMS key storage error: {0}")]
    Io(String),
    #[error("KMS configuration error: {0}")]
    Config(String),
}

/// A KEK provider. Implementations are cheap to share behind `Arc<dyn Kms>`.
#[async_trait]
pub trait Kms: Send + Sync + 'static {
    /// Identifier of the current KEK, stored beside each wrapped DEK.
    fn key_ref(&self) -> String;

    /// Makes a new AES-256 DEK wrapped under the current KEK and bound to `ctx`.
    async fn generate_data_key(&self, ctx: &EncryptionContext) -> Result<DataKey, KmsError>;

    /// Unwraps a DEK; a wrong or missing `ctx` or a tampered blob gives
    /// [`KmsError::InvalidCiphertext`].
    async fn decrypt(&self, wrapped: &[u8], ctx: &EncryptionContext)
    -> Result<Zeroizing<[u8; 32]>, KmsError>;

    /// Re-wraps a DEK under the current KEK, keeping `ctx`, without handing the
    /// plaintext to the caller.
    async fn rewrap(&self, wrapped: &[u8], ctx: &EncryptionContext) -> Result<Vec<u8>, KmsError>;

    /// Makes a new KEK current and returns its `key_ref`. Existing blobs stay
    /// decryptable; call [`Kms::rewrap`] on each to move them to the new KEK.
    async fn rotate_kek(&self) -> Result<String, KmsError>;
}

/// Which KMS wraps the data keys (`KEYWAY_KMS`). The one definition: the
/// configuration (`keyway_common::Config::kms`) parses into it and
/// [`build_kms`] builds from it, so no provider name is matched twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KmsProvider {
    /// Versioned master keys in `<data dir>/kms/`.
    Local,
    /// AWS KMS through aws-sdk-kms, which reads its credentials from the
    /// usual `AWS_*` variables itself.
    Aws {
        /// `KEYWAY_KMS_KEY_ID`: key id, ARN or `alias/…`; production
        /// refuses to start without it, and [`build_kms`] cannot build
        /// without it.
        key_id: Option<String>,
        /// `AWS_ENDPOINT_URL`: an emulator or a VPC endpoint.
        endpoint: Option<String>,
    },
}

impl KmsProvider {
    /// The variable that selects the provider.
    pub const VARIABLE: &'static str = "KEYWAY_KMS";
    /// Its allowed values, the default first.
    pub const NAMES: [&'static str; 2] = ["local", "aws"];

    /// The `KEYWAY_KMS` value that selects this provider.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Local => Self::NAMES[0],
            Self::Aws { .. } => Self::NAMES[1],
        }
    }
}

/// Which KMS to build, and where the local one keeps its keys.
#[derive(Debug, Clone)]
pub struct KmsConfig {
    pub provider: KmsProvider,
    /// The local provider keeps its master keys in `<data_dir>/kms/`.
    pub data_dir: PathBuf,
    /// Local only: generate a dev master key when none exists.
    pub allow_generate: bool,
}

/// Builds the configured provider.
pub async fn build_kms(cfg: &KmsConfig) -> Result<Arc<dyn Kms>, KmsError> {
    match &cfg.provider {
        KmsProvider::Local => Ok(Arc::new(CountingKms(LocalKms::open(
            &cfg.data_dir.join("kms"),
            cfg.allow_generate,
        )?))),
        KmsProvider::Aws { key_id, endpoint } => {
            let key_id = key_id.clone().filter(|k| !k.trim().is_empty()).ok_or_else(|| {
                KmsError::Config(
                    "KEYWAY_KMS=aws needs KEYWAY_KMS_KEY_ID (a key id, ARN or alias/…)".to_owned(),
                )
            })?;
            Ok(Arc::new(CountingKms(
                AwsKms::new(key_id, endpoint.clone()).await?,
            )))
        }
    }
}

#[cfg(test)]
mod local_tests;

#[cfg(test)]
mod aws_tests;

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::{DataKey, KmsConfig, KmsError, KmsProvider, LocalKms, build_kms};
    use zeroize::Zeroizing;

    #[test]
    fn data_key_debug_hides_the_plaintext() {
        let key = DataKey {
            plaintext: Zeroizing::new([0xAB; 32]),
            wrapped: vec![1, 2, 3],
        };
        let shown = format!("{key:?}");
        assert_eq!(shown, "DataKey { plaintext: \"<redacted>\", wrapped_len: 3 }");
    }

    fn cfg(provider: KmsProvider, dir: &std::path::Path) -> KmsConfig {
        KmsConfig {
            provider,
            data_dir: dir.to_owned(),
            allow_generate: true,
        }
    }

    #[tokio::test]
    async fn aws_without_a_key_id_is_a_config_error_naming_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        for key_id in [None, Some(" ".to_owned())] {
            let aws = KmsProvider::Aws {
                key_id,
                endpoint: None,
            };
            let Err(KmsError::Config(msg)) = build_kms(&cfg(aws, dir.path())).await else {
                panic!("expected a config error");
            };
            assert!(msg.contains("KEYWAY_KMS_KEY_ID"), "{msg}");
        }
    }

    #[test]
    fn each_provider_is_named_by_its_keyway_kms_value() {
        let aws = KmsProvider::Aws {
            key_id: None,
            endpoint: None,
        };
        assert_eq!([KmsProvider::Local.name(), aws.name()], KmsProvider::NAMES);
    }

    #[tokio::test]
    async fn local_provider_keeps_keys_under_data_dir_kms() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!LocalKms::has_master_key(&dir.path().join("kms")));
        let kms = build_kms(&cfg(KmsProvider::Local, dir.path())).await.unwrap();
        assert_eq!(kms.key_ref(), "local:v1");
        assert!(dir.path().join("kms/master-v1.key").is_file());
        // What the production check asks before it lets a store start.
        assert!(LocalKms::has_master_key(&dir.path().join("kms")));
    }
}
