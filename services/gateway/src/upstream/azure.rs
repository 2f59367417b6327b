//! Azure OpenAI: the `api-key` header, and the two URL styles under the
//! resource URL (`https://<resource>.openai.azure.com`):
//! - with a `deployment`, `/openai/deployments/{deployment}/{route}?api-version=…`;
//! - without, the v1 API, `/openai/v1/{route}` (`upstream_model` names the deployment).
//!
//! Azure's content filter answers 400 with `code: content_filter` (the
//! prompt) and details under `innererror`; that becomes its own client
//! error rather than a bare pass-through.

use axum::http::{HeaderMap, StatusCode};
use reqwest::Url;
use serde_json::Value;

use crate::{catalog::ProviderOptions, error::GatewayError};

/// The route families a URL can end in, longest first where one holds another.
const ROUTES: [&str; 4] = ["/chat/completions", "/embeddings", "/responses", "/completions"];

pub(super) fn headers(headers: HeaderMap, key: &str) -> Result<HeaderMap, GatewayError> {
    super::named(headers, "api-key", key)
}

/// Puts the Azure prefix between the base URL's own path and the route,
/// unless the base already carries one (a BYOK base URL naming the full
/// `/openai/…` path), and adds `api-version`.
pub(super) fn url(mut url: Url, options: &ProviderOptions) -> Url {
    let path = url.path().to_owned();
    if !path.contains("/openai/")
        && let Some(at) = ROUTES.iter().find_map(|r| path.find(r))
    {
        let (base, route) = path.split_at(at);
        let prefix = match &options.deployment {
            Some(deployment) => format!("/openai/deployments/{deployment}"),
            None => "/openai/v1".to_owned(),
        };
        url.set_path(&format!("{base}{prefix}{route}"));
    }
    if let Some(version) = &options.api_version
        && !url.query_pairs().any(|(k, _)| k == "api-version")
    {
        url.query_pairs_mut().append_pair("api-version", version);
    }
    url
}

/// Azure's content-filter refusal, as a clear client error naming the
/// categories that tripped.
pub(super) fn content_filter(status: StatusCode, body: &Value) -> Option<GatewayError> {
    let error = body.get("error")?;
    let code = error.get("code").and_then(Value::as_str);
    let inner = error.pointer("/innererror/code").and_then(Value::as_str);
    if status != StatusCode::BAD_REQUEST
        || !(code == Some("content_filter") || inner == Some("ResponsibleAIPolicyViolation"))
    {
        return None;
    }
    let mut categories: Vec<String> = error
        .pointer("/innererror/content_filter_result")
        .and_then(Value::as_object)
        .map(|results| {
            results
                .iter()
                .filter(|(_, r)| r.get("filtered").and_then(Value::as_bool) == Some(true))
                .map(|(name, _)| name.clone())
                .collect()
        })
        .unwrap_or_default();
    categories.sort();
    Some(GatewayError::ContentFiltered { categories })
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn opts(deployment: Option<&str>, version: Option<&str>) -> ProviderOptions {
        ProviderOptions {
            deployment: deployment.map(str::to_owned),
            api_version: version.map(str::to_owned),
            ..Default::default()
        }
    }

    #[test]
    fn deployment_style_puts_the_deployment_and_api_version_in_the_url() {
        let u = url(
            Url::parse("https://x.openai.azure.com/chat/completions").unwrap(),
            &opts(Some("gpt4o"), Some("2024-10-21")),
        );
        assert_eq!(
            u.as_str(),
            "https://x.openai.azure.com/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21"
        );
    }

    #[test]
    fn v1_style_keeps_a_base_path_and_sends_no_version_unless_given() {
        let u = url(
            Url::parse("http://127.0.0.1:9/azure/embeddings").unwrap(),
            &opts(None, None),
        );
        assert_eq!(u.as_str(), "http://127.0.0.1:9/azure/openai/v1/embeddings");
        let u = url(
            Url::parse("https://x.openai.azure.com/openai/v1/responses").unwrap(),
            &opts(None, Some("preview")),
        );
        assert_eq!(
            u.as_str(),
            "https://x.openai.azure.com/openai/v1/responses?api-version=preview"
        );
    }

    #[test]
    fn content_filter_errors_name_the_tripped_categories() {
        let body = json!({"error": {"code": "content_filter", "message": "filtered", "status": 400,
            "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": {
                "violence": {"filtered": true, "severity": "high"},
                "hate": {"filtered": true, "severity": "medium"},
                "sexual": {"filtered": false, "severity": "safe"}}}}});
        let Some(GatewayError::ContentFiltered { categories }) =
            content_filter(StatusCode::BAD_REQUEST, &body)
        else {
            panic!("not mapped");
        };
        assert_eq!(categories, ["hate", "violence"]);
        let other = json!({"error": {"code": "invalid_api_key", "message": "no"}});
        assert!(content_filter(StatusCode::BAD_REQUEST, &other).is_none());
        assert!(content_filter(StatusCode::UNAUTHORIZED, &body).is_none());
    }
}
