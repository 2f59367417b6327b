//! Building and running a stack: the services this process runs, their
//! dependencies, and the HTTP front. `Stack::build` binds the listener (port
//! 0 works, which is how tests run many stacks at once); `run_until_stopped`
//! serves until the shutdown token is cancelled, then drains.

use std::{
    io,
    net::SocketAddr,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use keyway_common::{Config, Environment};
use keyway_gateway::{
    limits::{LimitSettings, Limiter},
    usage::publisher::UsagePublisher,
};
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

pub use crate::admin_key::AdminKeyOrigin;
use crate::{
    admin_key, app,
    gateway_setup::{LocalEviction, build_gateway, credential_sources},
    health::Readiness,
    mock, serve,
    start::{self, build_kms, start_key_service},
};

/// Which services one process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Services {
    pub gateway: bool,
    pub keys: bool,
    pub projector: bool,
}

impl Services {
    pub const ALL: Self = Self {
        gateway: true,
        keys: true,
        projector: true,
    };
    pub const GATEWAY: Self = Self {
        gateway: true,
        keys: false,
        projector: false,
    };
    pub const KEYS: Self = Self {
        gateway: false,
        keys: true,
        projector: false,
    };
    pub const PROJECTOR: Self = Self {
        gateway: false,
        keys: false,
        projector: true,
    };

    pub fn names(self) -> Vec<&'static str> {
        [
            (self.gateway, "gateway"),
            (self.keys, "keys"),
            (self.projector, "projector"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
    }

    fn needs_db(self) -> bool {
        self.keys || self.projector
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("data directory {path}: {source}")]
    DataDir { path: String, source: io::Error },
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
    Keys(String),
    #[error("KMS: {0}")]
    Kms(String),
    #[error("cannot build the webhook client: {0}")]
    WebhookClient(reqwest::Error),
}

/// A built stack, bound and ready to serve.
pub struct Stack {
    listener: TcpListener,
    router: axum::Router,
    tasks: TaskTracker,
    shutdown: CancellationToken,
    /// Stops the in-process upstream only after the HTTP front has drained,
    /// so streams still in flight at SIGTERM can finish.
    upstream_shutdown: CancellationToken,
    grace: Duration,
    pub addr: SocketAddr,
    pub services: Services,
    pub admin_key: String,
    pub admin_key_origin: AdminKeyOrigin,
    /// The in-process mock upstream's address, when it runs.
    pub mock_addr: Option<SocketAddr>,
}

impl Stack {
    pub async fn build(
        config: Config,
        services: Services,
        shutdown: CancellationToken,
    ) -> Result<Self, StartError> {
        let tasks = TaskTracker::new();
        std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::DataDir {
            path: config.data_dir.display().to_string(),
            source,
        })?;
        let (admin_key, admin_key_origin) =
            admin_key::load_or_generate(config.admin_key.as_deref(), &config.data_dir).map_err(|source| {
                StartError::DataDir {
                    path: config.data_dir.display().to_string(),
                    source,
                }
            })?;

        let db = if services.needs_db() {
            keyway_common::db::ensure_database(&config.database_url).await?;
            let pool = keyway_common::db::connect(&config.database_url).await?;
            if services.keys {
                keyway_keys::migrate(&pool).await?;
            }
            if services.projector {
                keyway_projector::migrate(&pool).await?;
            }
            Some(pool)
        } else {
            None
        };

        let nats = keyway_common::nats::connect(&config, "keyway").await?;
        let readiness = Arc::new(Readiness {
            services,
            db,
            nats: Some(nats.clone()),
            streams_ready: Default::default(),
            usage: Default::default(),
        });
        {
            let (readiness, config, shutdown, nats) =
                (readiness.clone(), config.clone(), shutdown.clone(), nats.clone());
            tasks.spawn(async move {
                if keyway_common::nats::ensure_streams_until_ready(&nats, &config, &shutdown).await {
                    readiness.streams_ready.store(true, Ordering::Relaxed);
                }
            });
        }

        // One KMS client for the services of this process: the key service
        // wraps its data keys with it, the projector its webhook secrets.
        let kms = match readiness.db {
            Some(_) => Some(build_kms(&config).await?),
            None => None,
        };
        // The gateway, built below, joins it once it exists.
        let local_eviction = Arc::new(LocalEviction::default());
        let key_service = match (&readiness.db, &kms, services.keys) {
            (Some(pool), Some(kms), true) => {
                let service = start_key_service(
                    &config,
                    pool.clone(),
                    &admin_key,
                    kms.clone(),
                    Some(local_eviction.clone()),
                )
                .await?;
                tasks.spawn(keyway_keys::outbox::run(
                    pool.clone(),
                    nats.clone(),
                    shutdown.clone(),
                ));
                let (keys, stop) = (service.clone(), shutdown.clone());
                tasks.spawn(keyway_common::nats::follow_key_changes(
                    nats.clone(),
                    config.nats_prefix.clone(),
                    stop,
                    move |tenant| keys.evict_tenant(tenant),
                ));
                Some(service)
            }
            _ => None,
        };

        let upstream_shutdown = CancellationToken::new();
        let mut mock_addr = None;
        let mut routers = Vec::new();
        if services.gateway {
            let in_process_mock = if config.mock_enabled {
                Some(mock::start(&config, &tasks, &upstream_shutdown).await?)
            } else {
                None
            };
            mock_addr = in_process_mock.as_ref().map(|m| m.addr);
            // Stopped with the upstream, after the HTTP front has drained, so
            // requests still in flight at SIGTERM are recorded too.
            let (publisher, publishing) = UsagePublisher::start(
                nats.clone(),
                config.nats_prefix.clone(),
                &config.data_dir.join("spool"),
                config.spool_max_bytes,
                upstream_shutdown.clone(),
            )
            .map_err(|source| StartError::DataDir {
                path: config.data_dir.join("spool").display().to_string(),
                source,
            })?;
            tasks.spawn(publishing);
            let _ = readiness.usage.set(publisher.stats.clone());
            let limits = LimitSettings::from_vars(|name| config.var(name)).map_err(StartError::Config)?;
            let limiter = Limiter::new(nats.clone(), &config.stream_name("limits"), limits);
            // Like the publisher, it stops after the HTTP front has drained,
            // and then gives its unused leases back.
            tasks.spawn(limiter.clone().run_sweeper(upstream_shutdown.clone()));
            let gateway = build_gateway(
                &config,
                &admin_key,
                key_service.clone(),
                in_process_mock.as_ref(),
                publisher,
                limiter,
            )?;
            local_eviction.serve(gateway.clone());
            let (evicting, stop) = (gateway.clone(), shutdown.clone());
            tasks.spawn(keyway_common::nats::follow_key_changes(
                nats.clone(),
                config.nats_prefix.clone(),
                stop,
                move |tenant| evicting.evict_tenant(tenant),
            ));
            routers.push(keyway_gateway::router(gateway));
        } else {
            // Without the gateway's fallback, unknown routes still get the
            // `/api/v1` envelope rather than an empty 404.
            routers.push(axum::Router::new().fallback(keyway_common::api::not_found));
        }
        if let (Some(pool), Some(kms), true) = (&readiness.db, kms, services.projector) {
            let (authenticator, _) = credential_sources(&config, &admin_key, key_service.clone())?;
            let running = start::projector(&config, pool, &nats, kms, &tasks, &shutdown)?;
            routers.push(keyway_projector::http::router(
                pool.clone(),
                authenticator,
                running,
            ));
        }
        if let Some(service) = key_service {
            if let Some(token) = &config.internal_token {
                routers.push(keyway_keys::http::internal::router(service.clone(), token));
            }
            routers.push(keyway_keys::http::router(service));
        }

        let router = app::build(routers, readiness);
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| StartError::Bind {
                what: "HTTP API",
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            what: "HTTP API",
            source,
        })?;
        if config.env == Environment::Dev && admin_key_origin != AdminKeyOrigin::Configured {
            tracing::warn!("dev mode: using a generated admin key; set KEYWAY_ADMIN_KEY in production");
        }
        Ok(Self {
            listener,
            router,
            tasks,
            shutdown,
            upstream_shutdown,
            grace: config.shutdown_grace,
            addr,
            services,
            admin_key,
            admin_key_origin,
            mock_addr,
        })
    }

    /// Serves until the shutdown token is cancelled, then lets in-flight
    /// requests and streams finish within the grace period.
    pub async fn run_until_stopped(self) -> io::Result<()> {
        let Stack {
            listener,
            router,
            tasks,
            shutdown,
            upstream_shutdown,
            grace,
            ..
        } = self;
        let server = tokio::spawn(serve::serve(listener, router, shutdown.clone()));
        shutdown.cancelled().await;
        tasks.close();
        let served = match tokio::time::timeout(grace, server).await {
            Ok(joined) => joined.map_err(io::Error::other),
            Err(_) => {
                tracing::warn!(
                    grace_ms = grace.as_millis() as u64,
                    "grace period over; closing open connections"
                );
                Ok(())
            }
        };
        upstream_shutdown.cancel();
        if tokio::time::timeout(Duration::from_secs(5), tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("background tasks did not stop in time");
        }
        served?;
        Ok(())
    }
}
