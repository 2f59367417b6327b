//! `POST /api/v1/byok/keys/{provider}/test`: one request with the stored
//! key to the provider's own validation endpoint. For a custom base URL the
//! tenant chooses where this process connects, so what the answer may say
//! about a failure is deliberately little.

use keyway_auth::{Caller, Role};

use super::{ByokKeys, ByokTestResult, Owner};
use crate::{error::KeysError, providers};

impl ByokKeys<'_> {
    /// Calls the provider's own validation endpoint (`GET <base>/models`)
    /// with the stored key, through the stored or default base URL.
    pub async fn test(
        &self,
        tenant_id: &str,
        owner: Owner,
        provider: &str,
    ) -> Result<ByokTestResult, KeysError> {
        let key = self
            .find(tenant_id, &owner, provider)
            .await?
            .ok_or(KeysError::NotFound("BYOK key"))?;
        let caller = Caller {
            user_id: owner.user_id.clone(),
            ..Caller::in_tenant(tenant_id, Role::Member)
        };
        let secret = self
            .resolve(&caller, owner.scope, provider)
            .await?
            .ok_or(KeysError::NotFound("BYOK key"))?;
        if let Some(custom) = &key.base_url {
            // Stored under an older rule, or its name re-pointed since: the
            // guard applies to the URL as it is now, not as it was.
            providers::validate_base_url(custom, self.service.settings.base_url_policy).await?;
        }
        let base = key
            .base_url
            .as_deref()
            .or(providers::default_base_url(provider))
            .unwrap_or_default();
        let mut request = self.service.http.get(format!("{base}/models"));
        request = if providers::is_anthropic(provider) {
            request
                .header("x-api-key", secret.secret.as_str())
                .header("anthropic-version", "2023-06-01")
        } else {
            request.bearer_auth(secret.secret.as_str())
        };
        Ok(match request.send().await {
            Ok(r) if r.status().is_success() => ByokTestResult {
                ok: true,
                status: Some(r.status().as_u16()),
                message: "the provider accepted the key".into(),
            },
            Ok(r) => ByokTestResult {
                ok: false,
                status: Some(r.status().as_u16()),
                message: format!("the provider refused the key ({})", r.status()),
            },
            Err(e) => {
                let kind = without_url(&e);
                let e = e.without_url();
                tracing::warn!(provider, kind, error = %e, source = ?std::error::Error::source(&e),
                    "BYOK key test: the provider could not be reached");
                // The tenant picks a custom URL's host and port: telling a
                // refused connection from a failed request or a timeout
                // would make this endpoint a port scanner. The detail is
                // logged above, never answered.
                let message = if key.base_url.is_some() {
                    "the provider could not be reached".to_owned()
                } else {
                    format!("the provider could not be reached: {kind}")
                };
                ByokTestResult {
                    ok: false,
                    status: None,
                    message,
                }
            }
        })
    }
}

/// reqwest errors can include the URL; keep only the kind of failure.
fn without_url(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    }
}
