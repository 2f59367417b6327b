//! What the HTTP front adds around every service's routes for security:
//! who the client is (`ClientIp`, from the socket peer and, behind trusted
//! proxies, `X-Forwarded-For`) and the brute-force guard, both as request
//! extensions that `keyway_auth::authenticate_request` reads on every edge;
//! and CORS, off unless `KEYWAY_CORS_ORIGINS` lists origins.

use std::{
    net::IpAddr,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use axum::http::{HeaderName, HeaderValue, Method, Request, Response, header};
use http_body::Body;
use keyway_auth::{AuthGuard, ClientIp};
use keyway_common::config::{CorsOrigins, CorsSettings};
use tower::Service;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

use crate::unread_body::{self, CloseIfUnread, Watched};

/// One connection's service: identifies the client of each request and
/// hands the guard to the edges, then calls the router (`serve` makes one
/// per connection, with the socket's peer address).
///
/// A service rather than `axum::middleware::from_fn`, and outside the
/// router: its work is done before the router is called, so it calls it in
/// place, with no clone of the inner service, no boxed future and no
/// `ConnectInfo` extension to carry the peer (docs/benchmarks.md).
#[derive(Clone)]
pub(crate) struct Identify<S> {
    inner: S,
    guard: Arc<AuthGuard>,
    peer: IpAddr,
}

impl<S> Identify<S> {
    pub(crate) fn new(inner: S, guard: Arc<AuthGuard>, peer: IpAddr) -> Self {
        Self { inner, guard, peer }
    }
}

impl<S, B, R> Service<Request<B>> for Identify<S>
where
    S: Service<Request<Watched<B>>, Response = Response<R>>,
    B: Body + Unpin + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = CloseIfUnread<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let client = self.guard.client_ip(self.peer, request.headers());
        request.extensions_mut().insert(ClientIp(client));
        request.extensions_mut().insert(self.guard.clone());
        let (request, read) = unread_body::watch(request);
        CloseIfUnread::new(self.inner.call(request), read)
    }
}

/// The CORS layer, or `None` when CORS is off (no CORS header is ever
/// sent). Preflights are answered by the layer itself; request headers are
/// mirrored because SDKs send headers of their own (`x-stainless-*`,
/// `anthropic-version`), which is safe since the origin is what is checked.
pub(crate) fn cors(settings: &CorsSettings) -> Option<CorsLayer> {
    let origin = match &settings.origins {
        CorsOrigins::Off => return None,
        CorsOrigins::Any => AllowOrigin::any(),
        CorsOrigins::List(origins) => {
            AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
        }
    };
    // The config refuses `*` with credentials; never build it regardless.
    let credentials = settings.allow_credentials && settings.origins != CorsOrigins::Any;
    Some(
        CorsLayer::new()
            .allow_origin(origin)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers(AllowHeaders::mirror_request())
            .expose_headers([header::RETRY_AFTER, HeaderName::from_static("x-request-id")])
            .allow_credentials(credentials)
            .max_age(Duration::from_secs(600)),
    )
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use axum::{Router, body::Body, http::HeaderMap, routing::get};
    use tower::ServiceExt;

    use super::*;

    async fn preflight(settings: &CorsSettings, origin: &str) -> HeaderMap {
        let app = Router::new()
            .route("/v1/models", get(|| async { "ok" }))
            .layer(cors(settings).unwrap());
        let request = axum::http::Request::builder()
            .method("OPTIONS")
            .uri("/v1/models")
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .body(Body::empty())
            .unwrap();
        app.oneshot(request).await.unwrap().headers().clone()
    }

    #[tokio::test]
    async fn credentials_are_allowed_only_with_listed_origins() {
        assert!(cors(&CorsSettings::default()).is_none());
        let listed = CorsSettings {
            origins: CorsOrigins::List(vec!["https://app.example.com".into()]),
            allow_credentials: true,
        };
        let headers = preflight(&listed, "https://app.example.com").await;
        assert_eq!(headers["access-control-allow-origin"], "https://app.example.com");
        assert_eq!(headers["access-control-allow-credentials"], "true");
        // Were the config check bypassed, `*` still never goes with credentials.
        let any = CorsSettings {
            origins: CorsOrigins::Any,
            allow_credentials: true,
        };
        let headers = preflight(&any, "https://elsewhere.example").await;
        assert_eq!(headers["access-control-allow-origin"], "*");
        assert!(headers.get("access-control-allow-credentials").is_none());
    }
}
