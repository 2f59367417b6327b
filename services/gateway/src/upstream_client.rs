//! The HTTP client for upstream calls: hyper-util's pooled client over
//! rustls (HTTP/1.1, and HTTP/2 where TLS negotiates it). An answer comes
//! back as a `reqwest::Response`, so the rest of the gateway reads bodies
//! as it always has.
//!
//! Why not `reqwest::Client`: on every call it parsed the URL twice more
//! (for its redirect policy, and as the response's URL) and went through a
//! retry and a redirect layer that Keyway never uses: it follows no
//! redirect, and its router does the retrying. Leaving it cut the
//! instructions per proxied request by 11% (6% streamed):
//! `bench/instructions.sh`, docs/benchmarks.md.

use std::{
    cell::Cell,
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, header};
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::{
    client::legacy::{
        Client,
        connect::{HttpConnector, dns::Name},
    },
    rt::{TokioExecutor, TokioTimer},
};
use reqwest::{ResponseBuilderExt as _, Url};

/// How long an idle pooled connection is kept, and how many per host.
const POOL_IDLE: Duration = Duration::from_secs(90);
const POOL_MAX_IDLE_PER_HOST: usize = 256;

type Pool = Client<HttpsConnector<HttpConnector<Resolver>>, Full<Bytes>>;

thread_local! {
    /// Which of a client's pools this thread's requests use (`use_pool`).
    static POOL: Cell<usize> = const { Cell::new(0) };
}

/// Makes this thread's requests use pool `index` of every upstream client.
/// A front thread (`KEYWAY_FRONT_THREADS`) runs a runtime of its own, and a
/// pooled connection is driven by the runtime that opened it: with one
/// pool shared, a request on one front would wake another front's thread
/// twice, to send and to answer.
pub fn use_pool(index: usize) {
    POOL.with(|pool| pool.set(index));
}

pub(crate) struct UpstreamClient {
    /// One pool per front thread, and one for the main runtime (index 0).
    pools: Box<[Pool]>,
    /// The longest wait for the next part of an answer's body.
    read_timeout: Duration,
}

/// Why a call got no answer at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// Connecting took longer than the connect timeout.
    Timeout,
    /// No connection: refused, unresolvable, or refused by the public-only
    /// resolver.
    Connect,
    /// The connection failed after it was made (reset, closed, garbage).
    Failed,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot set up TLS for upstream calls: {0}")]
pub struct ClientBuildError(#[from] rustls::Error);

impl UpstreamClient {
    /// `public_only` refuses, at connect time, a host that resolves to an
    /// internal address (for tenants' own base URLs; the operator's catalog
    /// upstreams may be anywhere).
    pub(crate) fn new(
        connect_timeout: Duration,
        read_timeout: Duration,
        public_only: bool,
        pools: usize,
    ) -> Result<Self, ClientBuildError> {
        let mut http = HttpConnector::new_with_resolver(Resolver { public_only });
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())?
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(http);
        let pools = (0..pools.max(1))
            .map(|_| {
                Client::builder(TokioExecutor::new())
                    .pool_idle_timeout(POOL_IDLE)
                    .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
                    .pool_timer(TokioTimer::new())
                    .build(https.clone())
            })
            .collect();
        Ok(Self { pools, read_timeout })
    }

    /// Sends one request. An empty body is sent as none. Follows no
    /// redirect: a 3xx is an answer like any other.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &Url,
        mut headers: HeaderMap,
        body: Bytes,
    ) -> Result<reqwest::Response, Transport> {
        let uri: http::Uri = url.as_str().parse().map_err(|_| Transport::Failed)?;
        // What reqwest sent when a caller did not say.
        headers
            .entry(header::ACCEPT)
            .or_insert(HeaderValue::from_static("*/*"));
        let mut request = http::Request::new(Full::new(body));
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        let pool = &self.pools[POOL.with(Cell::get) % self.pools.len()];
        let answer = pool.request(request).await.map_err(|e| {
            if caused_by_timeout(&e) {
                Transport::Timeout
            } else if e.is_connect() {
                Transport::Connect
            } else {
                Transport::Failed
            }
        })?;
        let (parts, body) = answer.into_parts();
        let body = reqwest::Body::wrap(crate::read_timeout::ReadTimeout::new(body, self.read_timeout));
        // The URL is handed over, so reqwest does not parse a placeholder.
        let mut response = http::Response::builder()
            .url(url.clone())
            .body(body)
            .map_err(|_| Transport::Failed)?;
        *response.status_mut() = parts.status;
        *response.version_mut() = parts.version;
        *response.headers_mut() = parts.headers;
        Ok(reqwest::Response::from(response))
    }
}

/// Whether an I/O timeout is somewhere in the error's causes: the
/// connector reports a connect timeout as a connect error.
fn caused_by_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(e), |cause| cause.source()).any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::TimedOut)
    })
}

/// The system resolver, or with `public_only` the system resolver minus
/// every internal address (`keyway_common::outbound`): the connect-time
/// half of the SSRF guard, which DNS rebinding cannot get past.
#[derive(Clone)]
struct Resolver {
    public_only: bool,
}

impl tower::Service<Name> for Resolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let public_only = self.public_only;
        Box::pin(async move {
            let host = name.as_str();
            let addresses = if public_only {
                keyway_common::outbound::public_addresses(host).await?
            } else {
                tokio::net::lookup_host((host, 0)).await?.collect()
            };
            Ok(addresses.into_iter())
        })
    }
}

#[cfg(test)]
#[expect(clippy::expect_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    /// An error whose cause is `inner`, as the connector wraps an I/O error.
    #[derive(Debug, thiserror::Error)]
    #[error("tcp connect error")]
    struct Wrapped(#[source] io::Error);

    #[test]
    fn a_timeout_is_found_among_the_causes_and_nothing_else_counts() {
        let timed_out = Wrapped(io::Error::new(io::ErrorKind::TimedOut, "connect timeout"));
        assert!(caused_by_timeout(&timed_out));
        let refused = Wrapped(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert!(!caused_by_timeout(&refused));
        assert!(caused_by_timeout(&io::Error::from(io::ErrorKind::TimedOut)));
    }

    #[tokio::test]
    async fn the_public_only_resolver_refuses_a_name_that_resolves_inside() {
        let mut inside = Resolver { public_only: true };
        let name: Name = "localhost".parse().expect("a valid name");
        let refused = tower::Service::call(&mut inside, name.clone()).await;
        assert!(refused.is_err(), "localhost must be refused");
        let mut any = Resolver { public_only: false };
        let found: Vec<SocketAddr> = tower::Service::call(&mut any, name)
            .await
            .expect("the system resolver knows localhost")
            .collect();
        assert!(found.iter().all(|a| a.ip().is_loopback()) && !found.is_empty());
    }
}
