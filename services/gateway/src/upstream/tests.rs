#![expect(clippy::unwrap_used)]
use serde_json::json;

use super::*;
use crate::catalog::Catalog;

const CATALOG: &str = r#"
models:
  groq:
    {provider: groq, upstream_model: llama, base_url: "https://api.groq.com/openai/v1", key_source: [user]}
  claude:
    {provider: anthropic, upstream_model: c, base_url: "https://api.anthropic.com/v1", key_source: [user]}
  az:
    {provider: azure, upstream_model: gpt-4o, base_url: "https://x.openai.azure.com", deployment: gpt4o, key_source: [user]}
  br:
    {provider: bedrock, upstream_model: "anthropic.claude-3-haiku-20240307-v1:0", base_url: "https://bedrock-runtime.eu-west-1.amazonaws.com", region: eu-west-1, key_source: [user]}
  gem:
    {provider: gemini, upstream_model: gemini-2.0-flash, base_url: "https://generativelanguage.googleapis.com/v1beta/openai", key_source: [user]}
"#;

fn call(model: &str, path: &str, body: Value, key: &str, inbound: &HeaderMap) -> Outbound {
    let catalog = Catalog::parse(CATALOG, |_| None).unwrap();
    let model = catalog.get(model).unwrap();
    let url = Url::parse(&format!("{}{path}", model.base_url)).unwrap();
    authorize(
        &model.deployments[0],
        &reqwest::Method::POST,
        url,
        Bytes::from(body.to_string()),
        key,
        inbound,
    )
    .unwrap()
}

fn header<'a>(o: &'a Outbound, name: &str) -> Option<&'a str> {
    o.headers.get(name).and_then(|v| v.to_str().ok())
}

#[test]
fn openai_compatible_and_gemini_keys_go_as_sensitive_bearer_tokens() {
    for (model, path) in [("groq", "/chat/completions"), ("gem", "/chat/completions")] {
        let o = call(model, path, json!({}), "k-1", &HeaderMap::new());
        assert_eq!(header(&o, "authorization"), Some("Bearer k-1"));
        assert!(o.headers["authorization"].is_sensitive());
        assert_eq!(o.answer, Answer::AsIs);
    }
    let gem = call("gem", "/chat/completions", json!({}), "k", &HeaderMap::new());
    assert_eq!(
        gem.url.as_str(),
        "https://generativelanguage.googleapis.com/v1beta/openai/chat/completions"
    );
}

#[test]
fn anthropic_keys_go_as_x_api_key_with_the_clients_version() {
    let mut inbound = HeaderMap::new();
    inbound.insert("anthropic-beta", HeaderValue::from_static("b1"));
    let o = call("claude", "/messages", json!({}), "sk-ant", &inbound);
    assert_eq!(header(&o, "x-api-key"), Some("sk-ant"));
    assert_eq!(
        header(&o, "anthropic-version"),
        Some(keyway_common::providers::ANTHROPIC_VERSION)
    );
    assert_eq!(header(&o, "anthropic-beta"), Some("b1"));
    assert!(o.headers.get("authorization").is_none());
}

#[test]
fn azure_keys_go_as_api_key_to_the_deployment_url() {
    let o = call("az", "/chat/completions", json!({}), "azkey", &HeaderMap::new());
    assert_eq!(header(&o, "api-key"), Some("azkey"));
    assert!(o.headers.get("authorization").is_none());
    assert_eq!(
        o.url.as_str(),
        format!(
            "https://x.openai.azure.com/openai/deployments/gpt4o/chat/completions?api-version={}",
            keyway_common::providers::AZURE_API_VERSION
        )
    );
}

#[test]
fn bedrock_calls_are_signed_invoke_model_requests() {
    let o = call(
        "br",
        "/messages",
        json!({"model": "anthropic.claude-3-haiku-20240307-v1:0", "stream": true, "max_tokens": 3, "messages": []}),
        "AKIDTEST:secret",
        &HeaderMap::new(),
    );
    assert_eq!(o.answer, Answer::EventStream);
    assert_eq!(
        o.url.path(),
        "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke-with-response-stream"
    );
    let auth = header(&o, "authorization").unwrap();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDTEST/")
            && auth.contains("/eu-west-1/bedrock/aws4_request")
            && auth.contains("SignedHeaders=accept;content-type;host;x-amz-date"),
        "{auth}"
    );
    assert!(o.headers["authorization"].is_sensitive());
    assert!(header(&o, "x-amz-date").is_some());
    let body: Value = serde_json::from_slice(&o.body).unwrap();
    assert!(body.get("model").is_none() && body.get("stream").is_none());
}

#[test]
fn bedrock_refuses_routes_it_lacks_with_a_404_so_counts_happen_locally() {
    let catalog = Catalog::parse(CATALOG, |_| None).unwrap();
    let model = catalog.get("br").unwrap();
    let url = Url::parse(&format!("{}/messages/count_tokens", model.base_url)).unwrap();
    let err = authorize(
        &model.deployments[0],
        &reqwest::Method::POST,
        url,
        Bytes::from_static(b"{}"),
        "A:B",
        &HeaderMap::new(),
    )
    .err()
    .unwrap();
    assert_eq!(err.status(), StatusCode::NOT_FOUND);
}

#[test]
fn each_deployment_of_a_mixed_model_is_called_its_own_way() {
    let yaml = r#"
models:
  gpt-main:
    provider: openai
    upstream_model: gpt-4o
    key_source: [system]
    deployments:
      - {name: primary, base_url: "https://api.openai.com/v1", api_key_env: A, weight: 3}
      - {name: azure-eu, provider: azure, base_url: "https://x.openai.azure.com", deployment: gpt4o, api_version: "2024-10-21", api_key_env: B}
"#;
    let catalog = Catalog::parse(yaml, |_| None).unwrap();
    let model = catalog.get("gpt-main").unwrap();
    let sent = |i: usize| {
        let d = &model.deployments[i];
        authorize(
            d,
            &reqwest::Method::POST,
            d.upstream_url.clone(),
            Bytes::from_static(b"{}"),
            "k",
            &HeaderMap::new(),
        )
        .unwrap()
    };
    let (openai, azure) = (sent(0), sent(1));
    assert_eq!(header(&openai, "authorization"), Some("Bearer k"));
    assert_eq!(openai.url.as_str(), "https://api.openai.com/v1/chat/completions");
    assert_eq!(header(&azure, "api-key"), Some("k"));
    assert!(azure.headers.get("authorization").is_none());
    assert_eq!(
        azure.url.as_str(),
        "https://x.openai.azure.com/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21"
    );
}

#[test]
fn error_messages_are_read_from_each_providers_shape() {
    assert_eq!(
        error_message(&json!({"error": {"message": "openai"}})),
        Some("openai")
    );
    assert_eq!(error_message(&json!({"message": "bedrock"})), Some("bedrock"));
    assert_eq!(error_message(&json!({"Message": "aws"})), Some("aws"));
    assert_eq!(error_message(&json!({"error": {"message": ""}})), None);
}
