//! Seeds 000 and 004 with a Keycloak token alone: a user lists the models
//! with their key state, stores their own BYOK key, chats through it, and
//! reads their own usage.

use serde_json::json;

use super::{OidcPeer, get, oidc_stack, tenant_for};
use crate::{
    helpers::eventually,
    keys_api::{call, chat_status},
};

const SECRET: &str = "sk-dana-0123456789-secret";

#[tokio::test]
async fn a_user_does_everything_with_their_keycloak_token_alone() {
    let peer = OidcPeer::start("acme");
    let mock_keys = format!("{SECRET}=dana-identity");
    let stack = oidc_stack(&peer.issuer("acme"), &[("KEYWAY_MOCK_KEYS", mock_keys.as_str())]).await;
    let tenant = tenant_for(&stack, "acme", json!({})).await;
    let token = peer
        .token(
            "acme",
            json!({"sub": "kc-dana", "organization": ["acme"], "realm_access": {"roles": ["llm-user"]}}),
        )
        .await;

    let (status, models) = get(&stack, &token, "/v1/models").await;
    assert_eq!(status, 200, "{models}");
    let byok = models["data"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["id"] == "mock-gpt-byok");
    assert_eq!(
        byok.map(|m| m["keyway"]["key_required"].clone()),
        Some(json!(true)),
        "{models}"
    );

    let stored = json!({"key": SECRET, "label": "mine"});
    let (status, body) = call(&stack, &token, "PUT", "/api/v1/byok/keys/openai", Some(stored)).await;
    assert_eq!((status, body["scope"].as_str()), (200, Some("user")), "{body}");

    eventually("the user's own key reaches the upstream", || async {
        let (status, body) = chat_status(&stack, &token, "mock-gpt-byok").await;
        let content = body["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or_default();
        status == 200 && content.ends_with("[Authenticated as dana-identity]")
    })
    .await;

    eventually("the user reads their own usage", || async {
        let (status, summary) = get(
            &stack,
            &token,
            &format!("/api/v1/usage/summary?tenant_id={tenant}&group_by=model"),
        )
        .await;
        status == 200
            && summary["rows"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|row| row["key"] == "mock-gpt-byok" && row["requests"].as_i64() >= Some(1))
    })
    .await;
}

#[tokio::test]
async fn a_gateway_running_apart_accepts_tokens_through_the_key_service() {
    use keyway::Services;
    let peer = OidcPeer::start("acme");
    let issuer = peer.issuer("acme");
    let token_secret = crate::helpers::random_secret("internal-token-");
    let oidc = [
        ("KEYWAY_OIDC_ISSUER", issuer.as_str()),
        ("KEYWAY_OIDC_AUDIENCE", "keyway"),
        ("KEYWAY_OIDC_ROLE_MAP", super::ROLE_MAP),
        ("KEYWAY_INTERNAL_TOKEN", token_secret.as_str()),
    ];
    let keys = crate::helpers::TestStack::spawn_services(Services::KEYS, &oidc).await;
    let (prefix, keys_url) = (keys.isolation.nats_prefix.clone(), keys.base.clone());
    let gateway_env = [
        ("KEYWAY_KEYS_URL", keys_url.as_str()),
        ("KEYWAY_INTERNAL_TOKEN", token_secret.as_str()),
        ("KEYWAY_NATS_PREFIX", prefix.as_str()),
    ];
    let gateway = crate::helpers::TestStack::spawn_services(Services::GATEWAY, &gateway_env).await;
    tenant_for(&keys, "acme", json!({})).await;
    let token = peer
        .token(
            "acme",
            json!({"sub": "kc-remote", "organization": ["acme"], "realm_access": {"roles": ["llm-user"]}}),
        )
        .await;
    let (status, body) = chat_status(&gateway, &token, "mock-gpt").await;
    assert_eq!(status, 200, "{body}");
    let forged = peer
        .sign_raw(
            "acme",
            json!({}),
            json!({"iss": issuer, "aud": "keyway", "sub": "x", "exp": 4_000_000_000_i64}),
            "stranger",
        )
        .await;
    assert_eq!(chat_status(&gateway, &forged, "mock-gpt").await.0, 401);
}
