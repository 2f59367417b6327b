//! Azure-, Bedrock- and Gemini-shaped models against mock-llm's provider
//! routes, which check each shape (Azure's `api-key` and URL styles,
//! Bedrock's SigV4 signature — recomputed — and event-stream framing,
//! Gemini's bearer token; Bedrock Converse for a non-Anthropic model): the
//! official Python SDKs through `keyway up`,
//! stream and non-stream, billed exactly; and the BYOK providers list and
//! key tests of the providers whose auth is not a bearer token.

use std::{path::Path, process::Command};

use keyway_mock_llm::bedrock::{TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY};
use serde_json::json;

use crate::{
    helpers::{KeywayProcess, TestStack, peers_bin, repo_root},
    keys_api::{call, new_tenant},
};

/// The catalog `tests/sdk/providers_sdk.py` expects (its prices included).
fn write_catalog(dir: &Path) -> String {
    let price = |input: f64, cached: f64, output: f64| {
        format!(
            "{{input_per_mtok: {input}, output_per_mtok: {output}, cached_input_per_mtok: {cached}, currency: USD}}"
        )
    };
    let system = "key_source: [system]\n    api_key_env";
    let yaml = format!(
        r#"models:
  azure-gpt:
    provider: azure
    upstream_model: gpt-4o
    base_url: ${{KEYWAY_MOCK_URL}}
    deployment: gpt4o
    api_version: "2024-10-21"
    {system}: KEYWAY_MOCK_SYSTEM_KEY
    price: {azure}
  azure-gpt-v1:
    provider: azure
    upstream_model: gpt-4o-mini
    base_url: ${{KEYWAY_MOCK_URL}}
    {system}: KEYWAY_MOCK_SYSTEM_KEY
    price: {azure_v1}
  bedrock-claude:
    provider: bedrock
    upstream_model: "anthropic.claude-3-haiku-20240307-v1:0"
    base_url: ${{KEYWAY_MOCK_URL}}
    region: us-east-1
    {system}: KEYWAY_TEST_BEDROCK_KEY
    price: {bedrock}
  bedrock-llama:
    provider: bedrock
    upstream_model: "meta.llama3-1-70b-instruct-v1:0"
    base_url: ${{KEYWAY_MOCK_URL}}
    region: us-east-1
    {system}: KEYWAY_TEST_BEDROCK_KEY
    price: {converse}
  bedrock-bad-key:
    provider: bedrock
    upstream_model: "anthropic.claude-3-haiku-20240307-v1:0"
    base_url: ${{KEYWAY_MOCK_URL}}
    region: us-east-1
    {system}: KEYWAY_TEST_BEDROCK_BAD_KEY
  gemini-flash:
    provider: gemini
    upstream_model: gemini-2.0-flash
    base_url: ${{KEYWAY_MOCK_URL}}/v1beta/openai
    {system}: KEYWAY_MOCK_SYSTEM_KEY
    price: {gemini}
"#,
        azure = price(2.5, 1.25, 10.0),
        azure_v1 = price(0.15, 0.075, 0.6),
        bedrock = price(0.8, 0.08, 4.0),
        converse = price(0.72, 0.0, 0.72),
        gemini = price(0.3, 0.075, 2.5),
    );
    let path = dir.join("providers.yaml");
    std::fs::write(&path, yaml).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn azure_bedrock_and_gemini_models_serve_the_official_sdks_and_are_billed_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = write_catalog(dir.path());
    let good = format!("{TEST_ACCESS_KEY_ID}:{TEST_SECRET_ACCESS_KEY}");
    let bad = format!("{TEST_ACCESS_KEY_ID}:not-the-secret-at-all");
    let process = KeywayProcess::start(&[
        ("KEYWAY_MODELS", catalog.as_str()),
        ("KEYWAY_TEST_BEDROCK_KEY", good.as_str()),
        ("KEYWAY_TEST_BEDROCK_BAD_KEY", bad.as_str()),
    ]);
    let output = Command::new(peers_bin("python"))
        .args([
            "-m",
            "pytest",
            "tests/sdk/providers_sdk.py",
            "-q",
            "-p",
            "no:cacheprovider",
        ])
        .current_dir(repo_root())
        .env("KEYWAY_BASE_URL", &process.base)
        .env("KEYWAY_API_KEY", &process.isolation.admin_key)
        .output()
        .expect("pytest runs");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "provider SDK tests failed:\n{report}\nkeyway logs:\n{}",
        process.logs()
    );
    assert!(
        report.contains("16 passed"),
        "not every provider test ran:\n{report}"
    );
    let logs = process.logs();
    assert!(
        !logs.contains(TEST_SECRET_ACCESS_KEY),
        "the AWS secret reached the logs"
    );
}

#[tokio::test]
async fn the_byok_providers_list_names_every_provider_with_its_key_format_and_test_endpoint() {
    let stack = TestStack::spawn().await;
    let admin = stack.admin_key.clone();
    let (status, list) = call(&stack, &admin, "GET", "/api/v1/byok/providers", None).await;
    assert_eq!(status, 200, "{list}");
    let list = list.as_array().unwrap();
    let slugs: Vec<&str> = list.iter().map(|p| p["slug"].as_str().unwrap()).collect();
    for slug in [
        "openai",
        "anthropic",
        "groq",
        "together",
        "mistral",
        "deepseek",
        "fireworks",
        "openrouter",
        "perplexity",
        "xai",
        "cohere",
        "huggingface",
        "vllm",
        "ollama",
        "lmstudio",
        "gemini",
        "azure",
        "bedrock",
        "custom-<name>",
    ] {
        assert!(slugs.contains(&slug), "{slug} missing from {slugs:?}");
    }
    for p in list {
        assert!(!p["key_format"].as_str().unwrap().is_empty(), "{p}");
        assert!(p["key_test"].as_str().unwrap().starts_with("GET "), "{p}");
        assert_eq!(p["test_endpoint"], "/api/v1/byok/keys/{provider}/test", "{p}");
    }
    let by = |slug: &str| list.iter().find(|p| p["slug"] == slug).unwrap().clone();
    assert_eq!(
        (by("azure")["key_auth"].clone(), by("azure")["base_url"].clone()),
        (json!("azure_api_key"), json!("required"))
    );
    assert_eq!(
        (by("bedrock")["key_auth"].clone(), by("bedrock")["api"].clone()),
        (json!("sigv4"), json!("anthropic"))
    );
    assert_eq!(
        by("gemini")["default_base_url"],
        "https://generativelanguage.googleapis.com/v1beta/openai"
    );
}

#[tokio::test]
async fn byok_key_tests_use_azures_api_key_and_a_sigv4_signature_bedrock_verifies() {
    let stack = TestStack::spawn().await;
    let tenant = new_tenant(&stack, "starter").await;
    let admin = stack.admin_key.clone();
    let mock = stack.mock_url.clone().unwrap();
    let good = format!("{TEST_ACCESS_KEY_ID}:{TEST_SECRET_ACCESS_KEY}");
    let cases = [
        ("azure", "0123456789abcdef0123456789abcdef".to_owned(), true, None),
        ("bedrock", good, true, None),
        (
            "bedrock",
            format!("{TEST_ACCESS_KEY_ID}:wrong-secret"),
            false,
            Some(403),
        ),
    ];
    for (provider, key, ok, status) in cases {
        let path = format!("/api/v1/byok/keys/{provider}?tenant_id={tenant}&scope=tenant");
        let (code, stored) = call(
            &stack,
            &admin,
            "PUT",
            &path,
            Some(json!({"key": key, "base_url": mock})),
        )
        .await;
        assert_eq!(code, 200, "{provider}: {stored}");
        let test = format!("/api/v1/byok/keys/{provider}/test?tenant_id={tenant}&scope=tenant");
        let (code, result) = call(&stack, &admin, "POST", &test, None).await;
        assert_eq!(code, 200, "{provider}: {result}");
        assert_eq!(result["ok"], ok, "{provider}: {result}");
        if let Some(status) = status {
            assert_eq!(result["status"], status, "{provider}: {result}");
        }
    }
    // A Bedrock key must carry its secret; an Azure key needs the resource URL.
    let path = format!("/api/v1/byok/keys/bedrock?tenant_id={tenant}&scope=tenant");
    let (code, refused) = call(
        &stack,
        &admin,
        "PUT",
        &path,
        Some(json!({"key": "AKIAONLY", "base_url": mock})),
    )
    .await;
    assert_eq!(code, 400, "{refused}");
    let path = format!("/api/v1/byok/keys/azure?tenant_id={tenant}&scope=tenant");
    let (code, refused) = call(&stack, &admin, "PUT", &path, Some(json!({"key": "k-0123456789"}))).await;
    assert_eq!(code, 400, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("needs a base_url"),
        "{refused}"
    );
}
