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

use keyway_gateway::usage::publisher::UsageStats;

use crate::services::Services;

pub(crate) struct Readiness {
    pub(crate) services: Services,
    pub(crate) db: Option<PgPool>,
    pub(crate) nats: Option<async_nats::Client>,
    pub(crate) streams_ready: AtomicBool,
    /// The gateway's usage publisher, once it runs.
    pub(crate) usage: std::sync::OnceLock<Arc<UsageStats>>,
    /// The gateway's spool directory, for its quarantined spans.
    pub(crate) spool_dir: std::sync::OnceLock<std::path::PathBuf>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct ReadyReport {
    /// `ready`, `degraded` (serving, with a dependency down) or `unavailable`.
    status: &'static str,
    /// The services this process runs.
    services: Vec<&'static str>,
    /// Each dependency's state: `ok`, `down`, `pending` or `not_used`.
    checks: Checks,
    /// Usage events waiting in the local spool for NATS, when the gateway runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage_spool: Option<SpoolReport>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct SpoolReport {
    pending_bytes: u64,
    /// Events refused because the spool was full (`KEYWAY_SPOOL_MAX_BYTES`).
    dropped: u64,
    published: u64,
    /// Events written to the spool since the process started.
    spooled: u64,
    /// Torn or corrupt spans of spool segments, moved aside to
    /// `<data dir>/spool/quarantine/` (the valid records around them were
    /// replayed). Listed until an operator removes the files; they do not
    /// affect readiness.
    quarantined: Vec<QuarantinedSpan>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct QuarantinedSpan {
    /// `<segment>.<start>-<end>.<torn|corrupt>` (byte offsets in the segment).
    file: String,
    pub(crate) bytes: u64,
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
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "ok", body = String, example = json!("ok"))))]
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// Each dependency's state. 503 only when this process cannot serve its role.
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200, description = "Ready or degraded", body = ReadyReport, example = json!({
        "status": "ready", "services": ["gateway", "keys", "projector"],
        "checks": {"postgres": "ok", "nats": "ok", "jetstream_streams": "ok"},
        "usage_spool": {"pending_bytes": 0, "dropped": 0, "published": 21, "spooled": 0, "quarantined": []}})),
    (status = 503, description = "Cannot serve its role", body = ReadyReport, example = json!({
        "status": "unavailable", "services": ["keys"],
        "checks": {"postgres": "down", "nats": "ok", "jetstream_streams": "ok"}}))))]
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
    let quarantined = quarantined_spans(&r).await;
    let usage_spool = r.usage.get().map(|s| SpoolReport {
        pending_bytes: s.spool_bytes.load(Ordering::Relaxed),
        dropped: s.dropped.load(Ordering::Relaxed),
        published: s.published.load(Ordering::Relaxed),
        spooled: s.spooled.load(Ordering::Relaxed),
        quarantined,
    });
    let spooling = usage_spool.as_ref().is_some_and(|s| s.pending_bytes > 0);
    let needs_postgres = !r.services.gateway && (r.services.keys || r.services.projector);
    let (status, code) = if postgres == "down" && needs_postgres {
        ("unavailable", StatusCode::SERVICE_UNAVAILABLE)
    } else if postgres == "down" || nats == "down" || jetstream_streams == "pending" || spooling {
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
        usage_spool,
    };
    (code, Json(report))
}

/// The spool's quarantine directory, listed off the runtime's workers.
pub(crate) async fn quarantined_spans(r: &Readiness) -> Vec<QuarantinedSpan> {
    let Some(dir) = r.spool_dir.get().cloned() else {
        return Vec::new();
    };
    let listed = tokio::task::spawn_blocking(move || keyway_gateway::usage::quarantined(&dir)).await;
    match listed {
        Ok(Ok(spans)) => spans
            .into_iter()
            .map(|q| QuarantinedSpan {
                file: q.file,
                bytes: q.bytes,
            })
            .collect(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot list the usage spool's quarantine");
            Vec::new()
        }
        Err(_) => Vec::new(),
    }
}
