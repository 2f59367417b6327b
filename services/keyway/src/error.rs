//! Why a stack, or a maintenance command, could not start: one variant per
//! failing dependency, each keeping its typed source so the caller (and
//! `Error::source`) sees the cause, not a flattened string.

use std::{io, path::PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("configuration: {0}")]
    Config(#[from] keyway_common::ConfigError),
    #[error("data directory {}: {source}", path.display())]
    DataDir { path: PathBuf, source: io::Error },
    #[error("KEYWAY_MODELS={}: {source}", path.display())]
    Models { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Db(#[from] keyway_common::db::DbError),
    #[error("database migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Nats(#[from] keyway_common::nats::NatsError),
    #[error(transparent)]
    Catalog(#[from] keyway_gateway::catalog::CatalogError),
    #[error("cannot listen for the {what}: {source}")]
    Bind { what: &'static str, source: io::Error },
    #[error(transparent)]
    Client(#[from] keyway_gateway::ClientBuildError),
    #[error("cannot build the key service client: {0}")]
    RemoteClient(#[from] reqwest::Error),
    #[error("key service: {0}")]
    Keys(#[from] keyway_keys::error::KeysError),
    #[error("key store: {0}")]
    Store(#[from] keyway_keys::store::StoreError),
    #[error("KMS: {0}")]
    Kms(#[from] keyway_keys::crypto::KmsError),
    #[error("cannot build the webhook client: {0}")]
    WebhookClient(#[source] reqwest::Error),
    #[error("cannot build the OIDC discovery client: {0}")]
    OidcClient(#[source] reqwest::Error),
    #[error("identity follower: {0}")]
    Follower(#[from] keyway_keys::identity_follow::KeycloakError),
    #[error("projector: {0}")]
    Projector(#[from] keyway_projector::ProjectorError),
}

impl StartError {
    pub(crate) fn data_dir(path: &std::path::Path) -> impl FnOnce(io::Error) -> Self + '_ {
        move |source| Self::DataDir {
            path: path.to_owned(),
            source,
        }
    }

    pub(crate) fn bind(what: &'static str) -> impl FnOnce(io::Error) -> Self {
        move |source| Self::Bind { what, source }
    }
}
