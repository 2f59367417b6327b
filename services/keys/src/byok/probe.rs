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
        let base = key
            .base_url
            .as_deref()
            .or(providers::default_base_url(provider))
            .unwrap_or_default();
        let entry = providers::validate_slug(provider)?;
        // A key's own URL may have been stored under an older rule, or its
        // name re-pointed since: the guard applies to the URL as it is now.
        // A local server's default (`http://localhost:…`) is refused in
        // production the same way.
        if key.base_url.is_some() || entry.base_url == providers::BaseUrlRule::Optional {
            providers::validate_base_url(base, self.service.settings.base_url_policy).await?;
        }
        let request = key_test_request(&self.service.http, entry, base, secret.secret.as_str())?;
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

/// The registry's key test: `GET {base}/models` with the provider's own
/// auth, Azure's `/openai/v1/models`, or Bedrock's signed
/// `ListFoundationModels` on the control-plane host of the key's region.
fn key_test_request(
    http: &reqwest::Client,
    entry: &providers::Provider,
    base: &str,
    secret: &str,
) -> Result<reqwest::RequestBuilder, KeysError> {
    use keyway_common::providers::{ANTHROPIC_VERSION, KeyAuth};
    Ok(match entry.key_auth {
        KeyAuth::Bearer => http.get(format!("{base}/models")).bearer_auth(secret),
        KeyAuth::XApiKey => http
            .get(format!("{base}/models"))
            .header("x-api-key", secret)
            .header("anthropic-version", ANTHROPIC_VERSION),
        KeyAuth::AzureApiKey => http
            .get(format!("{base}/openai/v1/models"))
            .header("api-key", secret),
        KeyAuth::Sigv4 => {
            use keyway_common::sigv4::{self, AwsCredentials, Scope};
            let (url, region) = bedrock_control_plane(base);
            let credentials =
                AwsCredentials::from_key(secret, |_| None).map_err(|e| KeysError::Invalid(e.to_string()))?;
            let signed = sigv4::sign(
                "GET",
                &url,
                &[],
                b"",
                &Scope {
                    credentials: &credentials,
                    region: &region,
                    service: "bedrock",
                    time: std::time::SystemTime::now(),
                },
            )
            .map_err(|e| KeysError::Invalid(e.to_string()))?;
            signed
                .into_iter()
                .fold(http.get(url), |r, (name, value)| r.header(name, value))
        }
    })
}

/// `https://bedrock-runtime.<region>.amazonaws.com` → the control plane's
/// `https://bedrock.<region>.amazonaws.com/foundation-models` and the
/// region; any other base (a VPC endpoint, a test double) keeps its host and
/// signs for `us-east-1`.
pub(crate) fn bedrock_control_plane(base: &str) -> (String, String) {
    let host = base
        .strip_prefix("https://")
        .unwrap_or_default()
        .trim_end_matches('/');
    match host
        .strip_prefix("bedrock-runtime.")
        .and_then(|rest| rest.strip_suffix(".amazonaws.com"))
    {
        Some(region) if !region.is_empty() && !region.contains(['/', '.']) => (
            format!("https://bedrock.{region}.amazonaws.com/foundation-models"),
            region.to_owned(),
        ),
        _ => (format!("{base}/foundation-models"), "us-east-1".to_owned()),
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
