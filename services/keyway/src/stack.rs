//! Building and running a stack: the services this process runs, their
//! dependencies, and the HTTP front. `Stack::build` binds the listener (port
//! 0 works, which is how tests run many stacks at once); `run_until_stopped`
//! serves until the shutdown token is cancelled, then stops in order.
//!
//! Shutdown order: first the HTTP front stops accepting and drains the
//! requests and streams in flight (within `KEYWAY_SHUTDOWN_GRACE_MS`); only
//! then is background work stopped — the usage publisher, the limiter's
//! sweeper, the key service's outbox, key-change followers, the projector,
//! webhook delivery and the in-process upstream — so that what the draining
//! requests produce is still published, and streams still in flight can
//! finish against their upstream.

use std::{io, net::SocketAddr, sync::Arc, time::Duration};

use keyway_auth::AuthGuard;
use keyway_common::{Config, Environment};
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

pub use crate::admin_key::AdminKeyOrigin;
use crate::{
    accept, app,
    error::StartError,
    fronts::Fronts,
    gateway_setup::LocalEviction,
    health::Readiness,
    observability,
    phases::{self, Wiring},
    serve,
    services::Services,
    start::build_kms,
};

/// How long background work gets to flush once it is told to stop.
const BACKGROUND_STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// A built stack, bound and ready to serve.
pub struct Stack {
    listener: TcpListener,
    router: axum::Router,
    /// The brute-force guard, which `serve` hands each request with its client.
    guard: Arc<AuthGuard>,
    tasks: TaskTracker,
    /// The caller's token: stops the HTTP front.
    shutdown: CancellationToken,
    /// Stops background work, after the HTTP front has drained.
    background: CancellationToken,
    grace: Duration,
    /// `KEYWAY_FRONT_THREADS` and `KEYWAY_PIN_FRONTS`: see `crate::fronts`.
    front_threads: usize,
    pin_fronts: bool,
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
        // The recorder first, so what the services do while starting (the
        // key service's KMS calls) is counted too.
        let metrics = observability::handle();
        let (tasks, background) = (TaskTracker::new(), CancellationToken::new());
        let (admin_key, admin_key_origin) = phases::prepare_data_dir(&config)?;
        let db = phases::connect_db(&config, services).await?;
        let nats = keyway_common::nats::connect(&config, "keyway").await?;
        let readiness = Arc::new(Readiness {
            services,
            db,
            nats: Some(nats.clone()),
            streams_ready: Default::default(),
            usage: Default::default(),
            spool_dir: Default::default(),
        });
        let wiring = Wiring {
            config: &config,
            admin_key: &admin_key,
            nats: &nats,
            tasks: &tasks,
            background: &background,
        };
        phases::spawn_stream_setup(&wiring, &readiness);
        let (routers, mock_addr) = start_services(&wiring, services, &readiness).await?;
        let guard = phases::auth_guard(&config, &nats)?;
        let mut routers = routers;
        routers.push(observability::router(observability::scrape(
            &config,
            services,
            &admin_key,
            readiness.clone(),
            metrics,
        )?));
        let router = app::build(routers, readiness, &config.cors);
        let (listener, addr) = phases::bind(&config).await?;
        if config.env == Environment::Dev && admin_key_origin != AdminKeyOrigin::Configured {
            tracing::warn!("dev mode: using a generated admin key; set KEYWAY_ADMIN_KEY in production");
        }
        Ok(Self {
            listener,
            router,
            guard,
            tasks,
            shutdown,
            background,
            grace: config.shutdown_grace,
            front_threads: config.front_threads,
            pin_fronts: config.pin_fronts,
            addr,
            services,
            admin_key,
            admin_key_origin,
            mock_addr,
        })
    }

    /// Serves until the shutdown token is cancelled, lets in-flight
    /// requests and streams finish within the grace period, and only then
    /// stops background work (see the module header for the order).
    pub async fn run_until_stopped(self) -> io::Result<()> {
        let Stack {
            listener,
            router,
            guard,
            tasks,
            shutdown,
            background,
            grace,
            front_threads,
            pin_fronts,
            ..
        } = self;
        let handler = Arc::new(serve::Handler::new(router, guard, shutdown.clone()));
        let fronts = Fronts::start(front_threads, pin_fronts, &handler).map(Arc::new);
        let server = tokio::spawn(accept::serve(listener, handler, fronts.clone(), shutdown.clone()));
        shutdown.cancelled().await;
        // Phase 1: the HTTP front drains.
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
        // Phase 2: background work stops and flushes.
        tasks.close();
        background.cancel();
        if tokio::time::timeout(BACKGROUND_STOP_TIMEOUT, tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("background tasks did not stop in time");
        }
        // Last: background work may still have been using what a front's
        // runtime drives (a pooled connection opened by a request).
        if let Some(fronts) = fronts {
            fronts.stop();
        }
        served?;
        Ok(())
    }
}

/// Starts the services this process runs, in dependency order: the key
/// service first (the gateway and the projector verify keys with it), then
/// the gateway, then the projector. Returns their routes.
async fn start_services(
    wiring: &Wiring<'_>,
    services: Services,
    readiness: &Readiness,
) -> Result<(Vec<axum::Router>, Option<SocketAddr>), StartError> {
    // One KMS client for the services of this process: the key service
    // wraps its data keys with it, the projector its webhook secrets.
    let kms = match &readiness.db {
        Some(_) => Some(build_kms(wiring.config).await?),
        None => None,
    };
    // The gateway, built below, joins it once it exists.
    let eviction = Arc::new(LocalEviction::default());
    let (key_service, follower) = match (&readiness.db, &kms, services.keys) {
        (Some(pool), Some(kms), true) => {
            let (service, follower) = phases::start_keys(wiring, pool, kms.clone(), eviction.clone()).await?;
            (Some(service), follower)
        }
        _ => (None, None),
    };
    let mut routers = Vec::new();
    let mut mock_addr = None;
    if services.gateway {
        let (routes, addr) = phases::start_gateway(wiring, readiness, key_service.clone(), &eviction).await?;
        routers.push(routes);
        mock_addr = addr;
    } else {
        // Without the gateway's fallback, unknown routes still get the
        // `/api/v1` envelope rather than an empty 404.
        routers.push(axum::Router::new().fallback(keyway_common::api::not_found));
    }
    if let (Some(pool), Some(kms), true) = (&readiness.db, kms, services.projector) {
        routers.push(phases::start_projector(wiring, pool, kms, key_service.clone())?);
    }
    if let Some(service) = key_service {
        routers.extend(phases::key_routes(wiring.config, service.clone(), follower));
        routers.extend(crate::console::mount(wiring.config, services, service, &routers)?);
    }
    Ok((routers, mock_addr))
}
