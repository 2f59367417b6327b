//! `/healthz` (the process is up) and `/readyz` (can it serve its role).
//! `/readyz` answers 503 only when the role cannot be served at all; a NATS
//! outage is `degraded` with a 200 so gateways stay in the load balancer.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use axum::{Json, Router, extract::State, http::StatusCode, routing::get};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

use crate::stack::Services;

pub(crate) struct Readiness {
    pub(crate) services: Services,
    pub(crate) db: Option<PgPool>,
    pub(crate) nats: Option<async_nats::Client>,
    pub(crate) streams_ready: AtomicBool,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct ReadyReport {
    /// `ready`, `degraded` (serving, with a dependency down) or `unavailable`.
    status: &'static str,
    /// The services this process runs.
    services: Vec<&'static str>,
    /// Each dependency's state: `ok`, `down`, `pending` or `not_used`.
    checks: Checks,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Checks {
    postgres: &'static str,
    nats: &'static str,
    jetstream_streams: &'static str,
}

pub(crate) fn router(readiness: Arc<Readiness>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(readiness)
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "ok", body = String)))]
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// Each dependency's state. 503 only when this process cannot serve its role.
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200, description = "Ready or degraded", body = ReadyReport),
    (status = 503, description = "Cannot serve its role", body = ReadyReport)))]
pub(crate) async fn readyz(State(r): State<Arc<Readiness>>) -> (StatusCode, Json<ReadyReport>) {
    let postgres = match &r.db {
        None => "not_used",
        Some(pool) if keyway_common::db::ping(pool).await => "ok",
        Some(_) => "down",
    };
    let nats = match &r.nats {
        None => "not_used",
        Some(client) if keyway_common::nats::is_connected(client) => "ok",
        Some(_) => "down",
    };
    let jetstream_streams = match (&r.nats, r.streams_ready.load(Ordering::Relaxed)) {
        (None, _) => "not_used",
        (Some(_), true) => "ok",
        (Some(_), false) => "pending",
    };
    // Keys and projector need Postgres to do anything at all; the gateway
    // (alone or in the whole stack) keeps serving without it or NATS.
    let needs_postgres = !r.services.gateway && (r.services.keys || r.services.projector);
    let (status, code) = if postgres == "down" && needs_postgres {
        ("unavailable", StatusCode::SERVICE_UNAVAILABLE)
    } else if postgres == "down" || nats == "down" || jetstream_streams == "pending" {
        ("degraded", StatusCode::OK)
    } else {
        ("ready", StatusCode::OK)
    };
    let report = ReadyReport {
        status,
        services: r.services.names(),
        checks: Checks {
            postgres,
            nats,
            jetstream_streams,
        },
    };
    (code, Json(report))
}
