//! The key service over HTTP, for gateways that run apart from it
//! (`keyway run gateway` with `KEYWAY_KEYS_URL`). Same contracts as the
//! in-process service; results are cached by the same gateway caches.

use std::time::Duration;

use keyway_auth::{AuthError, Authenticator, Caller, KeyScope, ProviderKey, ProviderKeys};
use keyway_common::telemetry;
use keyway_proto::internal::{
    AUTHENTICATE_PATH, AuthenticateRequest, PROVIDER_KEY_PATH, ProviderKeyRequest, ProviderKeyResponse,
    SCOPE_TENANT, SCOPE_USER, TOKEN_HEADER,
};
use serde::Serialize;
use tracing::Instrument;

pub struct RemoteKeys {
    http: reqwest::Client,
    base_url: String,
    token: String,
}

impl RemoteKeys {
    pub fn new(base_url: &str, token: &str) -> Result<Self, reqwest::Error> {
        Ok(Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(Duration::from_secs(2))
                .timeout(Duration::from_secs(5))
                .build()?,
            base_url: base_url.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        })
    }

    /// One internal call, as a client span whose `traceparent` goes along,
    /// so the key service's work joins the request's trace.
    async fn post(&self, path: &str, body: &impl Serialize) -> Result<reqwest::Response, AuthError> {
        let span = tracing::info_span!(
            target: telemetry::TRACE_TARGET,
            "key service call",
            otel.name = format_args!("POST {path}"),
            otel.kind = "client",
            url.path = path,
            http.response.status_code = tracing::field::Empty,
        );
        let mut request = self
            .http
            .post(format!("{}{path}", self.base_url))
            .header(TOKEN_HEADER, &self.token)
            .json(body);
        if let Some(trace) = telemetry::trace_headers(&span) {
            request = request.headers(trace);
        }
        let response = request.send().instrument(span.clone()).await.map_err(|e| {
            tracing::warn!(error = %e.without_url(), "key service unreachable");
            AuthError::Unavailable
        })?;
        span.record("http.response.status_code", i64::from(response.status().as_u16()));
        Ok(response)
    }
}

#[async_trait::async_trait]
impl Authenticator for RemoteKeys {
    async fn authenticate(&self, presented: &str) -> Result<Caller, AuthError> {
        if presented.is_empty() {
            return Err(AuthError::Missing);
        }
        let response = self
            .post(AUTHENTICATE_PATH, &AuthenticateRequest { key: presented })
            .await?;
        match response.status().as_u16() {
            200 => response.json().await.map_err(|_| AuthError::Unavailable),
            401 => Err(refusal(response).await),
            status => {
                tracing::warn!(status, "key service refused an internal call");
                Err(AuthError::Unavailable)
            }
        }
    }
}

#[async_trait::async_trait]
impl ProviderKeys for RemoteKeys {
    async fn provider_key(
        &self,
        caller: &Caller,
        scope: KeyScope,
        provider: &str,
    ) -> Result<Option<ProviderKey>, AuthError> {
        let scope = match scope {
            KeyScope::User => SCOPE_USER,
            KeyScope::Tenant => SCOPE_TENANT,
        };
        let body = ProviderKeyRequest {
            caller,
            scope,
            provider,
        };
        let response = self.post(PROVIDER_KEY_PATH, &body).await?;
        match response.status().as_u16() {
            200 => {
                let key: ProviderKeyResponse = response.json().await.map_err(|_| AuthError::Unavailable)?;
                Ok(Some(ProviderKey {
                    secret: key.secret.into(),
                    base_url: key.base_url,
                }))
            }
            404 => Ok(None),
            401 => Err(refusal(response).await),
            _ => Err(AuthError::Unavailable),
        }
    }
}

/// A 401 from the key service: an invalid key, or (told by its code) a
/// valid key whose user's identity is not confirmed recently enough.
async fn refusal(response: reqwest::Response) -> AuthError {
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    if body["error"]["code"] == keyway_common::codes::AUTH_IDENTITY_UNCONFIRMED {
        AuthError::IdentityUnconfirmed
    } else {
        AuthError::Invalid
    }
}
