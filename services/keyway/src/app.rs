//! The HTTP front: merges the routers of the services this process runs and
//! wraps them in the layers every request gets (request id, tracing,
//! metrics and CORS). The client address and the brute-force guard are
//! added outside the router, per connection (`serve`, `front::Identify`).
//!
//! Tracing (`observability::Observe`) records method, path, status and
//! latency — never headers — so keys presented in `Authorization` or
//! `x-api-key` cannot reach a log.

use std::sync::Arc;

use axum::{Router, body::Bytes, http::header, routing::get};
use keyway_common::config::CorsSettings;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::{
    front,
    health::{self, Readiness},
    observability,
};

pub(crate) fn build(services: Vec<Router>, readiness: Arc<Readiness>, cors: &CorsSettings) -> Router {
    let mut app = Router::new().merge(health::router(readiness)).merge(docs());
    for service in services {
        app = app.merge(service);
    }
    // One `layer` call for the whole stack, outermost first. Each
    // `Router::layer` wraps every route in a boxed service of its own, and a
    // call clones the boxed service at every level below it: one call per
    // layer cost 33 boxed clones and 13 boxed futures a request, one call
    // for all costs 10 and 8 (docs/benchmarks.md, "the front's layers").
    let stack = ServiceBuilder::new()
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer_fn(observability::Observe::new)
        .option_layer(front::cors(cors));
    app.layer(stack)
}

/// `/openapi.json` and the Swagger UI reading it. The document served is the
/// committed `openapi/keyway.json`, compiled in, which the drift checks
/// (`openapi::tests`, `.ci/run`) hold equal to what the code generates.
/// Generating it at start instead built utoipa's tree of every schema: about
/// 4 MiB of heap, and the code of every schema function paged in, for a
/// document that cannot change while the process runs (docs/benchmarks.md).
fn docs() -> Router {
    let document = get(|| async {
        (
            [(header::CONTENT_TYPE, "application/json")],
            Bytes::from_static(crate::openapi::COMMITTED.as_bytes()),
        )
    });
    Router::new()
        .route("/openapi.json", document)
        .merge(SwaggerUi::new("/docs").config(Config::new(["/openapi.json"])))
}
