//! Remembers the last W3C `traceparent` the mock received, so a test can
//! check that a gateway propagated its trace context upstream:
//! `GET /mock/last-traceparent` answers `{"traceparent": "00-…"}` (`null`
//! before any). Requests without the header cost one header lookup.

use std::sync::{Arc, Mutex, PoisonError};

use axum::{
    Json, Router,
    extract::{Request, State},
    middleware::{self, Next},
    response::Response,
    routing::get,
};
use serde_json::{Value, json};

pub(crate) const PATH: &str = "/mock/last-traceparent";

#[derive(Clone, Default)]
struct LastTraceparent(Arc<Mutex<Option<String>>>);

/// Adds the route and the layer that records the header on every request.
pub(crate) fn attach(router: Router) -> Router {
    let last = LastTraceparent::default();
    router
        .route(PATH, get(show).with_state(last.clone()))
        .layer(middleware::from_fn_with_state(last, remember))
}

async fn remember(State(last): State<LastTraceparent>, request: Request, next: Next) -> Response {
    if let Some(value) = request.headers().get("traceparent").and_then(|v| v.to_str().ok()) {
        *last.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(value.to_owned());
    }
    next.run(request).await
}

async fn show(State(last): State<LastTraceparent>) -> Json<Value> {
    let value = last.0.lock().unwrap_or_else(PoisonError::into_inner).clone();
    Json(json!({ "traceparent": value }))
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use axum::{body::Body, http::Request};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    async fn last(app: &Router) -> Value {
        let response = app
            .clone()
            .oneshot(Request::get(PATH).body(Body::empty()).unwrap())
            .await
            .unwrap();
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap()
    }

    #[tokio::test]
    async fn the_last_traceparent_received_is_shown() {
        let app = attach(Router::new().route("/x", get(|| async { "ok" })));
        assert_eq!(last(&app).await, json!({"traceparent": null}));
        let parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let request = Request::get("/x")
            .header("traceparent", parent)
            .body(Body::empty());
        app.clone().oneshot(request.unwrap()).await.unwrap();
        app.clone()
            .oneshot(Request::get("/x").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(last(&app).await, json!({"traceparent": parent}));
    }
}
