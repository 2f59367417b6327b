//! `GET /metrics`: the Prometheus text format, behind a bearer token
//! (`KEYWAY_METRICS_TOKEN`, or the admin key when unset) compared in
//! constant time, behind the same brute-force guard as every other edge.
//! Gauges that describe state elsewhere — the usage spool and its
//! quarantine, the key outbox, the projector's backlog — are read at scrape
//! time.

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    extract::{Request, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use keyway_auth::{AdminKeyAuthenticator, AuthError, Rejection};
use keyway_common::{api::ApiError, codes, metrics as metric};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::health::Readiness;

/// How long one scrape waits for Postgres or NATS before leaving a gauge as
/// it was: a scrape must answer even when a dependency hangs.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) struct Scrape {
    pub(crate) handle: PrometheusHandle,
    /// The metrics token (or the admin key), checked like an admin key.
    pub(crate) token: AdminKeyAuthenticator,
    pub(crate) readiness: Arc<Readiness>,
    /// The usage stream and the projector's consumer, when this process
    /// runs the projector.
    pub(crate) projector: Option<(String, String)>,
}

pub(crate) fn router(scrape: Arc<Scrape>) -> Router {
    Router::new().route("/metrics", get(metrics)).with_state(scrape)
}

/// Prometheus metrics (text exposition format); see docs/observability.md.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses(
        (status = 200, description = "Metrics in the Prometheus text format", content_type = "text/plain", body = String,
            example = json!("# TYPE keyway_http_requests_total counter\nkeyway_http_requests_total{route=\"/v1/chat/completions\",method=\"POST\",status=\"200\",model=\"gpt-4o-mini\"} 42\n")),
        (status = 401, description = "Missing or wrong token (`KW-AUTH-001`, `KW-AUTH-002`)", body = keyway_common::api::ErrorBody,
            example = json!({"error": {"code": "KW-AUTH-002", "message": "the API key is invalid, revoked or expired"}})),
        (status = 429, description = "Too many failed authentications from this address (`KW-AUTH-006`)", body = keyway_common::api::ErrorBody,
            example = json!({"error": {"code": "KW-AUTH-006", "message": "too many failed authentications from this address; retry in 60 s"}})),
    ),
    security(("bearer" = [])))]
pub(crate) async fn metrics(State(s): State<Arc<Scrape>>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    // Through the brute-force guard: by default the token is the admin key.
    if let Err(refused) = keyway_auth::authenticate_request(&parts, &s.token).await {
        return refusal(refused);
    }
    refresh_gauges(&s).await;
    s.handle.run_upkeep();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        s.handle.render(),
    )
        .into_response()
}

fn refusal(refused: Rejection) -> Response {
    let error = match refused {
        Rejection::TooManyFailures { retry_after_secs } => {
            let mut response = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                codes::AUTH_BLOCKED,
                "too many failed authentications from this address",
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after_secs.into());
            return response;
        }
        Rejection::Credential(AuthError::Missing) => ApiError::new(
            StatusCode::UNAUTHORIZED,
            codes::AUTH_MISSING,
            "send the metrics token as a bearer token",
        ),
        Rejection::Credential(_) => ApiError::new(
            StatusCode::UNAUTHORIZED,
            codes::AUTH_INVALID,
            "the metrics token is not valid",
        ),
    };
    error.into_response()
}

async fn refresh_gauges(s: &Scrape) {
    if let Some(usage) = s.readiness.usage.get() {
        use std::sync::atomic::Ordering::Relaxed;
        metrics::gauge!(metric::SPOOL_BYTES).set(usage.spool_bytes.load(Relaxed) as f64);
        metrics::counter!(metric::SPOOL_EVENTS).absolute(usage.spooled.load(Relaxed));
        metrics::counter!(metric::USAGE_PUBLISHED).absolute(usage.published.load(Relaxed));
        metrics::counter!(metric::USAGE_DROPPED).absolute(usage.dropped.load(Relaxed));
        let quarantined = crate::health::quarantined_spans(&s.readiness).await;
        metrics::gauge!(metric::SPOOL_QUARANTINED).set(quarantined.len() as f64);
        let bytes: u64 = quarantined.iter().map(|q| q.bytes).sum();
        metrics::gauge!(metric::SPOOL_QUARANTINED_BYTES).set(bytes as f64);
    }
    if s.readiness.services.keys
        && let Some(pool) = &s.readiness.db
    {
        let query = sqlx::query_as::<_, (i64, Option<f64>)>(
            "SELECT count(*), EXTRACT(EPOCH FROM now() - min(occurred_at))::float8 FROM key_outbox",
        )
        .fetch_one(pool);
        if let Ok(Ok((pending, age))) = tokio::time::timeout(PROBE_TIMEOUT, query).await {
            metrics::gauge!(metric::OUTBOX_PENDING).set(pending as f64);
            metrics::gauge!(metric::OUTBOX_AGE).set(age.unwrap_or(0.0));
        }
    }
    if let (Some((stream, consumer)), Some(nats)) = (&s.projector, &s.readiness.nats) {
        let js = async_nats::jetstream::new(nats.clone());
        let pending = async {
            let mut consumer = js
                .get_consumer_from_stream::<async_nats::jetstream::consumer::pull::Config, _, _>(
                    consumer, stream,
                )
                .await
                .ok()?;
            consumer.info().await.ok().map(|i| i.num_pending)
        };
        if let Ok(Some(pending)) = tokio::time::timeout(PROBE_TIMEOUT, pending).await {
            metrics::gauge!(metric::PROJECTOR_PENDING).set(pending as f64);
        }
    }
}
