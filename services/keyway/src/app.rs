//! The HTTP front: merges the routers of the services this process runs and
//! wraps them in the layers every request gets (request id, tracing, CORS,
//! and the client address and brute-force guard of `front`).
//!
//! Tracing records method, path, status and latency — never headers — so
//! keys presented in `Authorization` or `x-api-key` cannot reach a log. The
//! one header read is `traceparent`: with traces exported, the request's
//! span continues the caller's trace.

use std::sync::Arc;

use axum::{Router, http::Request};
use keyway_auth::AuthGuard;
use keyway_common::{config::CorsSettings, telemetry};
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
    trace::{DefaultOnResponse, TraceLayer},
};
use tracing::Level;
use utoipa_swagger_ui::SwaggerUi;

use crate::{
    front,
    health::{self, Readiness},
    observability,
};

pub(crate) fn build(
    services: Vec<Router>,
    readiness: Arc<Readiness>,
    guard: Arc<AuthGuard>,
    cors: &CorsSettings,
) -> Router {
    let mut app = Router::new()
        .merge(health::router(readiness))
        .merge(SwaggerUi::new("/docs").url("/openapi.json", crate::openapi::spec()));
    for service in services {
        app = app.merge(service);
    }
    app = app.layer(axum::middleware::from_fn_with_state(guard, front::identify));
    if let Some(cors) = front::cors(cors) {
        app = app.layer(cors);
    }
    app = app.layer(axum::middleware::from_fn(observability::observe));
    app.layer(
        TraceLayer::new_for_http()
            .make_span_with(|request: &Request<_>| {
                let request_id = request
                    .extensions()
                    .get::<RequestId>()
                    .and_then(|id| id.header_value().to_str().ok())
                    .unwrap_or_default();
                let span = tracing::info_span!(
                    "request",
                    request_id,
                    method = %request.method(),
                    path = %request.uri().path(),
                    otel.kind = "server",
                    // Known when the usage event leaves (see `observability::tokens`).
                    gen_ai.usage.input_tokens = tracing::field::Empty,
                    gen_ai.usage.output_tokens = tracing::field::Empty,
                );
                telemetry::extract_parent(&span, request.headers());
                span
            })
            .on_request(())
            .on_response(DefaultOnResponse::new().level(Level::INFO)),
    )
    .layer(PropagateRequestIdLayer::x_request_id())
    .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}
