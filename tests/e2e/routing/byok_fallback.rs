//! The BYOK fallback rule (`docs/routing.md`, step 6): when a model's own
//! deployments fail, a fallback never silently moves a BYOK tenant onto the
//! platform's key — only a fallback model that lists `system` in its
//! `key_source` may serve the tenant with it.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::fleet::{Mock, closed_port, gateway, ledger};
use crate::helpers::{KeywayProcess, chat};

const TENANT_OPENAI: &str = "sk-tenant-0123456789-openai";
const TENANT_GROQ: &str = "gsk_tenant0123456789groqkey";
const PLATFORM: &str = "sk-platform-0123456789-key";

async fn send(process: &KeywayProcess, key: &str, method: &str, path: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .request(method.parse().unwrap(), format!("{}{path}", process.base))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A primary on a refused port, tenant keys only, with one fallback.
fn primary(name: &str, down: &str, fallback: &str) -> String {
    format!(
        "  {name}:\n    provider: openai\n    upstream_model: mock-model\n    key_source: [tenant]\n    base_url: '{down}/v1'\n    fallbacks: [{fallback}]\n"
    )
}

/// A fallback of another provider (groq) whose system key the platform holds.
fn fallback(name: &str, up: &str, sources: &str) -> String {
    format!(
        "  {name}:\n    provider: groq\n    upstream_model: mock-model\n    key_source: {sources}\n    api_key_env: PLATFORM_KEY\n    base_url: '{up}/v1'\n    price: {{input_per_mtok: 1, output_per_mtok: 1, currency: USD}}\n"
    )
}

fn identity(body: &Value) -> &str {
    let text = body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default();
    text.rsplit("[Authenticated as ")
        .next()
        .unwrap_or_default()
        .trim_end_matches(']')
}

#[tokio::test]
async fn a_fallback_moves_a_byok_tenant_onto_the_platform_key_only_when_it_lists_system() {
    let keys = format!("{PLATFORM}=platform,{TENANT_GROQ}=tenant-groq");
    let up = Mock::start(&[("REQUIRE_AUTH", "true"), ("KEYS", &keys)]).await;
    let down = closed_port();
    let catalog = format!(
        "models:\n{}{}{}{}",
        primary("strict", &down, "strict-fb"),
        fallback("strict-fb", &up.url, "[tenant]"),
        primary("open", &down, "open-fb"),
        fallback("open-fb", &up.url, "[tenant, system]"),
    );
    let (process, _catalog) = gateway(&catalog, &[("PLATFORM_KEY", PLATFORM)]);
    let admin = process.isolation.admin_key.clone();
    let (status, tenant) = send(
        &process,
        &admin,
        "POST",
        "/api/v1/tenants",
        json!({"name": "byok fallback", "plan": "starter"}),
    )
    .await;
    assert_eq!(status, 201, "{tenant}");
    let tenant = tenant["id"].as_str().unwrap().to_owned();
    let (status, key) = send(
        &process,
        &admin,
        "POST",
        &format!("/api/v1/tenants/{tenant}/api-keys"),
        json!({"name": "svc"}),
    )
    .await;
    assert_eq!(status, 201, "{key}");
    let key = key["key"].as_str().unwrap().to_owned();
    let byok = |provider: &str| format!("/api/v1/byok/keys/{provider}?tenant_id={tenant}&scope=tenant");
    let (status, stored) = send(
        &process,
        &admin,
        "PUT",
        &byok("openai"),
        json!({"key": TENANT_OPENAI}),
    )
    .await;
    assert_eq!(status, 200, "{stored}");

    // `strict-fb` lists only `tenant`, and the tenant has no groq key: the
    // fallback is skipped, the primary's failure comes back, and the
    // platform key is never used.
    let (status, body) = send(
        &process,
        &key,
        "POST",
        "/v1/chat/completions",
        chat("strict", "hi"),
    )
    .await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(up.requests().await, 0, "the platform key was used");

    // `open-fb` lists `system`: the tenant is served with the platform key.
    let (status, body) = send(&process, &key, "POST", "/v1/chat/completions", chat("open", "hi")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(identity(&body), "platform", "{body}");

    // With its own groq key the tenant reaches `strict-fb`, on that key.
    let (status, stored) = send(
        &process,
        &admin,
        "PUT",
        &byok("groq"),
        json!({"key": TENANT_GROQ}),
    )
    .await;
    assert_eq!(status, 200, "{stored}");
    // The key-change event evicts the cached "no groq key" shortly.
    let (mut strict_requests, deadline) = (1, Instant::now() + Duration::from_secs(30));
    let body = loop {
        let (status, body) = send(
            &process,
            &key,
            "POST",
            "/v1/chat/completions",
            chat("strict", "hi"),
        )
        .await;
        strict_requests += 1;
        if status == 200 {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "the tenant's groq key never served: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(identity(&body), "tenant-groq", "{body}");

    let open = ledger(&process, "open", 1).await;
    assert_eq!(
        (open[0].status, open[0].fallback_model.as_str()),
        (200, "open-fb"),
        "{open:?}"
    );
    let strict = ledger(&process, "strict", strict_requests).await;
    assert_eq!(strict.len(), strict_requests, "{strict:?}");
    assert_eq!(strict[0].fallback_model, "", "{strict:?}");
    assert_eq!(strict.last().unwrap().fallback_model, "strict-fb", "{strict:?}");
}
