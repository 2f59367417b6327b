//! The gateway: the hot path. It authenticates the caller, picks the model
//! and the upstream key, and proxies OpenAI- and Anthropic-compatible
//! traffic, streaming included. It holds no database connection.

mod auth;
mod authn;
mod cache;
pub mod catalog;
pub mod clock;
mod coalesce;
mod cost;
mod credentials;
mod deployment_health;
pub mod drain;
pub mod error;
pub mod error_samples;
mod first_byte;
#[doc(hidden)]
pub mod fuzzing;
mod in_flight;
mod json_scan;
pub mod limits;
mod proxy;
mod read_timeout;
mod remote;
mod request;
pub mod responses;
mod routes;
pub mod routing;
mod splice;
mod translate;
mod upstream;
mod upstream_client;
pub mod usage;

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    body::Body,
    extract::{DefaultBodyLimit, OriginalUri, State},
    http::HeaderMap,
    response::Response,
    routing::{get, post},
};
use keyway_auth::{Authenticator, ProviderKeys};

pub use auth::MAX_HEADER_BYTES;
pub use catalog::Catalog;
use credentials::Credentials;
pub use credentials::SystemKeys;
use error::{Flavor, GatewayError};
pub use remote::RemoteKeys;
use upstream_client::UpstreamClient;
pub use upstream_client::{ClientBuildError, use_pool};

/// Everything a request needs, shared by all handlers.
pub struct Gateway {
    catalog: Catalog,
    /// For the operator's catalog upstreams.
    client: UpstreamClient,
    /// For a BYOK key's own base URL: a tenant chose that host, so in
    /// production it is refused at connect time if it resolves inside.
    custom_client: UpstreamClient,
    authenticator: authn::CachedAuthenticator,
    credentials: Credentials,
    upstream_timeout: Duration,
    max_body_bytes: usize,
    sse_max_event_bytes: usize,
    usage: Option<Arc<dyn usage::UsageSink>>,
    limiter: Option<Arc<limits::Limiter>>,
    /// Who created each Responses API id; without it (no NATS) stored
    /// responses cannot be reached through Keyway.
    response_owners: Option<Arc<responses::ResponseOwners>>,
}

pub struct GatewaySettings {
    /// How long a verified key or a resolved BYOK key is reused without
    /// asking the key service again; key-change events evict sooner.
    pub credential_cache_ttl: Duration,
    pub upstream_connect_timeout: Duration,
    pub upstream_timeout: Duration,
    pub max_body_bytes: usize,
    /// `KEYWAY_ALLOW_PRIVATE_URLS`: a BYOK base URL may reach private
    /// addresses (dev and tests only).
    pub allow_private_urls: bool,
    /// `KEYWAY_SSE_MAX_EVENT_BYTES`: the usage tap's cap on an unfinished
    /// SSE event.
    pub sse_max_event_bytes: usize,
    /// How many upstream connection pools: one per front thread, plus the
    /// main runtime's (`upstream_client::use_pool`).
    pub upstream_pools: usize,
}

impl Gateway {
    pub fn new(
        catalog: Catalog,
        authenticator: Arc<dyn Authenticator>,
        byok: Option<Arc<dyn ProviderKeys>>,
        system_keys: SystemKeys,
        usage: Option<Arc<dyn usage::UsageSink>>,
        settings: GatewaySettings,
    ) -> Result<Self, ClientBuildError> {
        let ttl = settings.credential_cache_ttl;
        let connect = settings.upstream_connect_timeout;
        Ok(Self {
            client: UpstreamClient::new(connect, settings.upstream_timeout, false, settings.upstream_pools)?,
            custom_client: UpstreamClient::new(
                connect,
                settings.upstream_timeout,
                !settings.allow_private_urls,
                settings.upstream_pools,
            )?,
            catalog,
            authenticator: authn::CachedAuthenticator {
                inner: authenticator,
                cache: cache::TenantCache::new(ttl),
            },
            credentials: Credentials {
                system: system_keys,
                byok,
                cache: cache::TenantCache::new(ttl),
            },
            upstream_timeout: settings.upstream_timeout,
            max_body_bytes: settings.max_body_bytes,
            sse_max_event_bytes: settings.sse_max_event_bytes,
            usage,
            limiter: None,
            response_owners: None,
        })
    }

    /// Enforces tenants' and API keys' rate limits and budgets. Without a
    /// limiter (no NATS) limits are not enforced.
    pub fn with_limiter(mut self, limiter: Arc<limits::Limiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// Records who created each Responses API id (see `responses`).
    pub fn with_response_owners(mut self, owners: Arc<responses::ResponseOwners>) -> Self {
        self.response_owners = Some(owners);
        self
    }
}

impl Gateway {
    /// Forgets every cached credential of the tenant (on a key-change event).
    pub fn evict_tenant(&self, tenant: &str) {
        self.authenticator.cache.evict_tenant(tenant);
        self.credentials.cache.evict_tenant(tenant);
    }
}

/// The `/v1/*` routes. Unknown routes and wrong methods answer with a JSON
/// error in the API's own shape rather than an empty body.
pub fn router(gateway: Arc<Gateway>) -> Router {
    let limit = gateway.max_body_bytes;
    Router::new()
        .route("/v1/chat/completions", post(routes::llm::chat_completions))
        .route("/v1/embeddings", post(routes::llm::embeddings))
        .route("/v1/messages", post(routes::llm::messages))
        .merge(routes::responses::router())
        .route("/v1/models", get(routes::models::list_models))
        .layer(DefaultBodyLimit::max(limit))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(gateway)
}

/// Both fallbacks drain the body they refuse, so the connection stays
/// usable (see `drain`).
async fn not_found(
    State(gw): State<Arc<Gateway>>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    refuse(&gw, uri, headers, body, |path, flavor| {
        // The gateway's fallback is the whole process's; `/api/*` paths are
        // the admin and tenant API's, which answer in their own envelope.
        if path.starts_with("/api/") {
            axum::response::IntoResponse::into_response(keyway_common::api::ApiError::no_route())
        } else {
            GatewayError::RouteNotFound(path.to_owned()).into_response_as(flavor)
        }
    })
    .await
}

async fn method_not_allowed(
    State(gw): State<Arc<Gateway>>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    refuse(&gw, uri, headers, body, |path, flavor| {
        let mut response = GatewayError::InvalidRequest(format!("This method is not allowed on {path}."))
            .into_response_as(flavor);
        *response.status_mut() = axum::http::StatusCode::METHOD_NOT_ALLOWED;
        response
    })
    .await
}

async fn refuse(
    gw: &Gateway,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Body,
    answer: impl FnOnce(&str, Flavor) -> Response,
) -> Response {
    drain::discard(&headers, body, gw.max_body_bytes).await;
    answer(uri.path(), Flavor::of(uri.path(), &headers))
}

/// The gateway's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    routes::llm::chat_completions,
    routes::llm::embeddings,
    routes::llm::messages,
    routes::responses::create,
    routes::responses::retrieve,
    routes::responses::delete,
    routes::responses::input_items,
    routes::responses::cancel,
    routes::responses::input_tokens,
    routes::responses::count_tokens,
    routes::responses::completions,
    routes::models::list_models,
))]
pub struct GatewayApi;
