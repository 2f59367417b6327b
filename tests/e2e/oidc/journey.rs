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
        .token("acme", json!({"sub": "kc-dana", "organization": ["acme"], "realm_access": {"roles": ["llm-user"]}}))
        .await;

    let (status, models) = get(&stack, &token, "/v1/models").await;
    assert_eq!(status, 200, "{models}");
    let byok = models["data"].as_array().into_iter().flatten().find(|m| m["id"] == "mock-gpt-byok");
    assert_eq!(byok.map(|m| m["keyway"]["key_required"].clone()), Some(json!(true)), "{models}");

    let stored = json!({"key": SECRET, "label": "mine"});
    let (status, body) = call(&stack, &token, "PUT", "/api/v1/byok/keys/openai", Some(stored)).await;
    assert_eq!((status, body["scope"].as_str()), (200, Some("user")), "{body}");

    eventually("the user's own key reaches the upstream", || async {
        let (status, body) = chat_status(&stack, &token, "mock-gpt-byok").await;
        let content = body["choices"][0]["message"]["content"].as_str().unwrap_or_default();
        status == 200 && content.ends_with("[Authenticated as dana-identity]")
    })
    .await;

    eventually("the user reads their own usage", || async {
        let (status, summary) = get(&stack, &token, &format!("/api/v1/usage/summary?tenant_id={tenant}&group_by=model")).await;
        status == 200
            && summary["rows"].as_array().into_iter().flatten().any(|row| row["key"] == "mock-gpt-byok" && row["requests"].as_i64() >= Some(1))
    })
    .await;
}
