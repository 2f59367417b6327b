//! The phases of [`Stack::build`](crate::Stack::build), in the order it
//! runs them: the data directory and admin key, the database, NATS, the KMS,
//! then the key service, the gateway and the projector, each adding its
//! routes. Every background task a phase spawns watches `background`, which
//! the stack cancels only after the HTTP front has drained.

use std::{net::SocketAddr, sync::Arc};

use axum::Router;
use keyway_auth::{AuthGuard, GuardSettings};
use keyway_common::Config;
use keyway_gateway::{
    limits::{LimitSettings, Limiter},
    responses::ResponseOwners,
    usage::{publisher::UsagePublisher, settings::PublisherSettings},
};
use keyway_keys::{KeyService, crypto::Kms, identity_follow::Follower};
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    admin_key::{self, AdminKeyOrigin},
    error::StartError,
    gateway_setup::{LocalEviction, build_gateway, credential_sources},
    health::Readiness,
    mock,
    services::Services,
    start::{self, start_key_service},
};

/// What every phase after the first needs.
pub(crate) struct Wiring<'a> {
    pub(crate) config: &'a Config,
    pub(crate) admin_key: &'a str,
    pub(crate) nats: &'a async_nats::Client,
    pub(crate) tasks: &'a TaskTracker,
    /// Stops background work; cancelled after the HTTP front has drained.
    pub(crate) background: &'a CancellationToken,
}

/// Creates the data directory and loads (or, in dev, generates) the admin key.
pub(crate) fn prepare_data_dir(config: &Config) -> Result<(String, AdminKeyOrigin), StartError> {
    std::fs::create_dir_all(&config.data_dir).map_err(StartError::data_dir(&config.data_dir))?;
    admin_key::load_or_generate(config.admin_key.as_deref(), &config.data_dir)
        .map_err(StartError::data_dir(&config.data_dir))
}

/// The key service and the projector own schemas; the gateway needs none.
pub(crate) async fn connect_db(
    config: &Config,
    services: Services,
) -> Result<Option<sqlx::PgPool>, StartError> {
    if !services.needs_db() {
        return Ok(None);
    }
    keyway_common::db::ensure_database(&config.database_url).await?;
    let pool = keyway_common::db::connect(&config.database_url).await?;
    if services.keys {
        keyway_keys::migrate(&pool).await?;
    }
    if services.projector {
        keyway_projector::migrate(&pool).await?;
    }
    Ok(Some(pool))
}

/// Creates the JetStream streams in the background, retrying until NATS
/// answers; readiness reports them once they exist.
pub(crate) fn spawn_stream_setup(wiring: &Wiring<'_>, readiness: &Arc<Readiness>) {
    let (readiness, config, stop, nats) = (
        readiness.clone(),
        wiring.config.clone(),
        wiring.background.clone(),
        wiring.nats.clone(),
    );
    wiring.tasks.spawn(async move {
        if keyway_common::nats::ensure_streams_until_ready(&nats, &config, &stop).await {
            readiness
                .streams_ready
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    });
}

/// Starts the key service, its outbox relay, its cache eviction on key
/// changes published by other instances, and — when configured — the
/// Keycloak identity follower, which is returned for its webhook route.
pub(crate) async fn start_keys(
    wiring: &Wiring<'_>,
    pool: &sqlx::PgPool,
    kms: Arc<dyn Kms>,
    eviction: Arc<LocalEviction>,
) -> Result<(Arc<KeyService>, Option<Arc<Follower>>), StartError> {
    let service =
        start_key_service(wiring.config, pool.clone(), wiring.admin_key, kms, Some(eviction)).await?;
    wiring.tasks.spawn(keyway_keys::outbox::run(
        pool.clone(),
        wiring.nats.clone(),
        wiring.background.clone(),
    ));
    let keys = service.clone();
    follow_key_changes(wiring, move |tenant| keys.evict_tenant(tenant));
    let follower = match start::follow_settings(wiring.config)? {
        Some(settings) => {
            let follower = Follower::new(service.clone(), settings)?;
            wiring
                .tasks
                .spawn(follower.clone().run(wiring.background.clone()));
            Some(follower)
        }
        None => None,
    };
    Ok((service, follower))
}

fn follow_key_changes(wiring: &Wiring<'_>, evict: impl Fn(&str) + Send + 'static) {
    wiring.tasks.spawn(keyway_common::nats::follow_key_changes(
        wiring.nats.clone(),
        wiring.config.nats_prefix.clone(),
        wiring.background.clone(),
        evict,
    ));
}

/// Starts the gateway with its in-process upstream (dev), usage publisher
/// and rate limiter; returns its routes and the upstream's address.
pub(crate) async fn start_gateway(
    wiring: &Wiring<'_>,
    readiness: &Readiness,
    key_service: Option<Arc<KeyService>>,
    eviction: &LocalEviction,
) -> Result<(Router, Option<SocketAddr>), StartError> {
    let config = wiring.config;
    let in_process_mock = if config.mock_enabled {
        Some(mock::start(config, wiring.tasks, wiring.background).await?)
    } else {
        None
    };
    let spool = config.data_dir.join("spool");
    let (publisher, publishing) = UsagePublisher::start(
        wiring.nats.clone(),
        config.nats_prefix.clone(),
        &spool,
        config.spool_max_bytes,
        PublisherSettings::from_config(config.vars())?,
        wiring.background.clone(),
    )
    .map_err(StartError::data_dir(&spool))?;
    wiring.tasks.spawn(publishing);
    let _ = readiness.usage.set(publisher.stats.clone());
    let _ = readiness.spool_dir.set(spool);
    let limits = LimitSettings {
        kv_replicas: config.nats.replicas,
        ..LimitSettings::from_config(config.vars())?
    };
    let kv_timeout = limits.kv_timeout;
    let limiter = Limiter::new(wiring.nats.clone(), &config.stream_name("limits"), limits);
    // Once stopped, the sweeper gives its unused leases back.
    wiring
        .tasks
        .spawn(limiter.clone().run_sweeper(wiring.background.clone()));
    let owners = ResponseOwners::new(
        wiring.nats.clone(),
        config.stream_name("responses"),
        ResponseOwners::ttl_from_config(config.vars())?,
        kv_timeout,
        config.nats.replicas,
    );
    let gateway = build_gateway(
        config,
        wiring.admin_key,
        key_service,
        in_process_mock.as_ref(),
        publisher,
        (limiter, Arc::new(owners)),
    )?;
    eviction.serve(gateway.clone());
    let evicting = gateway.clone();
    follow_key_changes(wiring, move |tenant| evicting.evict_tenant(tenant));
    Ok((keyway_gateway::router(gateway), in_process_mock.map(|m| m.addr)))
}

/// Starts the projector's consumer and webhook delivery; returns the usage
/// API's routes.
pub(crate) fn start_projector(
    wiring: &Wiring<'_>,
    pool: &sqlx::PgPool,
    kms: Arc<dyn Kms>,
    key_service: Option<Arc<KeyService>>,
) -> Result<Router, StartError> {
    let (authenticator, _) = credential_sources(wiring.config, wiring.admin_key, key_service)?;
    let running = start::projector(
        wiring.config,
        pool,
        wiring.nats,
        kms,
        wiring.tasks,
        wiring.background,
    )?;
    Ok(keyway_projector::http::router(
        pool.clone(),
        authenticator,
        running,
    ))
}

/// The key service's public routes, its internal ones when a token lets
/// separately run gateways call them, and the identity webhook when set.
pub(crate) fn key_routes(
    config: &Config,
    service: Arc<KeyService>,
    follower: Option<Arc<Follower>>,
) -> Vec<Router> {
    let mut routes = Vec::new();
    routes.extend(follower.and_then(keyway_keys::identity_follow::webhook::router));
    if let Some(token) = &config.internal_token {
        routes.push(keyway_keys::http::internal::router(service.clone(), token));
    }
    routes.push(keyway_keys::http::router(service));
    routes
}

/// The brute-force guard every edge authenticates through: failures are
/// counted in the `<PREFIX>_AUTH_FAILURES` KV bucket shared by every
/// process on the NATS prefix. With `KEYWAY_AUTH=off` (dev only; production
/// refuses it at config time) it lets everyone in as the platform admin.
pub(crate) fn auth_guard(config: &Config, nats: &async_nats::Client) -> Result<Arc<AuthGuard>, StartError> {
    if !config.auth_enabled {
        tracing::warn!(
            "AUTHENTICATION IS OFF (KEYWAY_AUTH=off): every request acts as the platform admin; dev only"
        );
        return Ok(Arc::new(AuthGuard::auth_off()));
    }
    let settings = GuardSettings::from_config(config.vars())?;
    let bucket = AuthGuard::bucket(nats.clone(), &config.stream_name("auth"), &settings)
        .with_replicas(config.nats.replicas);
    Ok(Arc::new(AuthGuard::new(settings, Some(bucket))))
}

pub(crate) async fn bind(config: &Config) -> Result<(TcpListener, SocketAddr), StartError> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(StartError::bind("HTTP API"))?;
    let addr = listener.local_addr().map_err(StartError::bind("HTTP API"))?;
    Ok((listener, addr))
}
