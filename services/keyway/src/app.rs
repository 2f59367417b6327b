//! The HTTP front: merges the routers of the services this process runs and
//! wraps them in the layers every request gets (request id, tracing).
//!
//! Tracing records method, path, status and latency — never headers — so
//! keys presented in `Authorization` or `x-api-key` cannot reach a log.

use std::sync::Arc;

use axum::{Router, http::Request};
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
    trace::{DefaultOnResponse, TraceLayer},
};
use tracing::Level;
use utoipa_swagger_ui::SwaggerUi;

use crate::health::{self, Readiness};

pub(crate) fn build(services: Vec<Router>, readiness: Arc<Readiness>) -> Router {
    let mut app = Router::new()
        .merge(health::router(readiness))
        .merge(SwaggerUi::new("/docs").url("/openapi.json", crate::openapi::spec()));
    for service in services {
        app = app.merge(service);
    }
    app.layer(
        TraceLayer::new_for_http()
            .make_span_with(|request: &Request<_>| {
                let request_id = request
                    .extensions()
                    .get::<RequestId>()
                    .and_then(|id| id.header_value().to_str().ok())
                    .unwrap_or_default();
                tracing::info_span!("request", request_id, method = %request.method(), path = %request.uri().path())
            })
            .on_request(())
            .on_response(DefaultOnResponse::new().level(Level::INFO)),
    )
    .layer(PropagateRequestIdLayer::x_request_id())
    .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}
