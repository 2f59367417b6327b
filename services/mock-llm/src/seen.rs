//! `GET /mock/requests`: what this instance has received, for tests that
//! check where a router sent its traffic and in which provider's shape.
//! It answers `{"requests": n, "paths": {"<path>?<query>": n}, "auth":
//! {"<header>": n}}`: every request but health checks and the `/mock/` reports, counted by path with its query (an Azure `api-version` shows) and
//! by the auth header it carried (`authorization`, `api-key`, `x-api-key`;
//! names only, never a key).

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use axum::{
    Json, Router,
    extract::Request,
    middleware::{self, Next},
    routing::get,
};
use serde_json::{Value, json};

pub(crate) const PATH: &str = "/mock/requests";

/// The auth headers a provider shape may use, in the order reported.
const AUTH_HEADERS: [&str; 3] = ["authorization", "api-key", "x-api-key"];

#[derive(Default)]
struct Seen {
    requests: u64,
    paths: BTreeMap<String, u64>,
    auth: BTreeMap<&'static str, u64>,
}

/// Adds the report's route and the layer that counts every other request.
pub(crate) fn attach(routes: Router) -> Router {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let report = seen.clone();
    routes
        .route(PATH, get(move || async move { Json(snapshot(&report)) }))
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            let path = request.uri().path();
            if !(path.starts_with("/mock/") || path == "/healthz") {
                note(&seen, &request);
            }
            next.run(request)
        }))
}

fn note(seen: &Mutex<Seen>, request: &Request) {
    let uri = request.uri();
    let path = match uri.query() {
        Some(q) => format!("{}?{q}", uri.path()),
        None => uri.path().to_owned(),
    };
    let mut seen = seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    seen.requests += 1;
    *seen.paths.entry(path).or_default() += 1;
    for name in AUTH_HEADERS {
        if request.headers().contains_key(name) {
            *seen.auth.entry(name).or_default() += 1;
        }
    }
}

fn snapshot(seen: &Mutex<Seen>) -> Value {
    let seen = seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    json!({"requests": seen.requests, "paths": seen.paths, "auth": seen.auth})
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use crate::{MockConfig, router};

    #[tokio::test]
    async fn the_report_counts_paths_with_their_query_and_auth_header_names() {
        let app = router(MockConfig::default());
        let chat = |uri: &str, header: (&str, &str)| {
            Request::post(uri)
                .header(header.0, header.1)
                .header("content-type", "application/json")
                .body(Body::from(
                    r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#,
                ))
                .unwrap()
        };
        let azure = "/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21";
        for request in [
            chat("/v1/chat/completions", ("authorization", "Bearer sk-1")),
            chat(azure, ("api-key", "az-1")),
            Request::get("/healthz").body(Body::empty()).unwrap(),
        ] {
            let reply = app.clone().oneshot(request).await.unwrap();
            assert!(reply.status().is_success(), "{}", reply.status());
        }
        let reply = app
            .oneshot(Request::get(super::PATH).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let body = reply.into_body().collect().await.unwrap().to_bytes();
        let report: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            report,
            serde_json::json!({"requests": 2,
                "paths": {"/v1/chat/completions": 1, azure: 1},
                "auth": {"authorization": 1, "api-key": 1}})
        );
        assert!(!report.to_string().contains("sk-1") && !report.to_string().contains("az-1"));
    }
}
