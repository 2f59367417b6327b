//! Bring-your-own-key through the whole stack, as in seed 000: a `[user]`
//! model without a key is refused, the user adds a key and the mock upstream
//! (auth mode) reports exactly that key's identity, the user deletes it and
//! is refused again. Two users never reach the upstream with each other's key.

use serde_json::{Value, json};

use crate::{
    helpers::{TestStack, eventually},
    keys_api::{call, chat_status, new_api_key, new_tenant, new_user},
};

const ALICE_SECRET: &str = "sk-alice-0123456789-secret";
const BOB_SECRET: &str = "sk-bob-9876543210-secret";

async fn byok_stack() -> TestStack {
    let keys = format!("{ALICE_SECRET}=alice-identity,{BOB_SECRET}=bob-identity");
    TestStack::spawn_with(&[("KEYWAY_MOCK_KEYS", keys.as_str())]).await
}

fn content(body: &Value) -> &str {
    body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default()
}

#[tokio::test]
async fn seed_000_flow_key_required_then_the_users_own_key_then_refused_again() {
    let stack = byok_stack().await;
    let tenant = new_tenant(&stack, "starter").await;
    let alice = new_user(&stack, &tenant, "member").await;
    let (_, alice_key) = new_api_key(&stack, &tenant, json!({"name": "alice", "user_id": alice})).await;

    let (status, body) = chat_status(&stack, &alice_key, "mock-gpt-byok").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("key_required")),
        "{body}"
    );
    let (_, models) = call(&stack, &alice_key, "GET", "/v1/models", None).await;
    let byok = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "mock-gpt-byok")
        .unwrap();
    assert_eq!(byok["keyway"]["key_required"], true);

    let (status, stored) = call(
        &stack,
        &alice_key,
        "PUT",
        "/api/v1/byok/keys/openai",
        Some(json!({"key": ALICE_SECRET, "label": "mine"})),
    )
    .await;
    assert_eq!(status, 200, "{stored}");
    assert_eq!(
        (stored["scope"].as_str(), stored["masked"].as_str()),
        (Some("user"), Some("sk-a…cret"))
    );
    assert!(!stored.to_string().contains(ALICE_SECRET));

    eventually("alice's own key reaches the upstream", || async {
        let (status, body) = chat_status(&stack, &alice_key, "mock-gpt-byok").await;
        status == 200 && content(&body).ends_with("[Authenticated as alice-identity]")
    })
    .await;

    let (status, _) = call(&stack, &alice_key, "DELETE", "/api/v1/byok/keys/openai", None).await;
    assert_eq!(status, 204);
    eventually("the deleted key is no longer used", || async {
        let (status, body) = chat_status(&stack, &alice_key, "mock-gpt-byok").await;
        status == 400 && body["error"]["code"] == "key_required"
    })
    .await;
}

#[tokio::test]
async fn two_users_each_reach_the_upstream_with_their_own_key() {
    let stack = byok_stack().await;
    let tenant = new_tenant(&stack, "pro").await;
    let (alice, bob) = (
        new_user(&stack, &tenant, "member").await,
        new_user(&stack, &tenant, "tenant-admin").await,
    );
    let (_, alice_key) = new_api_key(&stack, &tenant, json!({"name": "a", "user_id": alice})).await;
    let (_, bob_key) = new_api_key(
        &stack,
        &tenant,
        json!({"name": "b", "user_id": bob, "role": "tenant-admin"}),
    )
    .await;
    for (key, secret) in [(&alice_key, ALICE_SECRET), (&bob_key, BOB_SECRET)] {
        let (status, body) = call(
            &stack,
            key,
            "PUT",
            "/api/v1/byok/keys/openai",
            Some(json!({"key": secret})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    for _ in 0..3 {
        let (_, a) = chat_status(&stack, &alice_key, "mock-gpt-byok").await;
        let (_, b) = chat_status(&stack, &bob_key, "mock-gpt-byok").await;
        assert!(content(&a).ends_with("[Authenticated as alice-identity]"), "{a}");
        assert!(content(&b).ends_with("[Authenticated as bob-identity]"), "{b}");
    }
    // Bob is a tenant admin, yet his listing shows only his own user key.
    let (_, listed) = call(&stack, &bob_key, "GET", "/api/v1/byok/keys", None).await;
    let owners: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(owners, [bob.as_str()]);
    // A tenant service key has no user, so a [user] model has no key for it.
    let (_, service_key) = new_api_key(&stack, &tenant, json!({"name": "svc"})).await;
    let (status, body) = chat_status(&stack, &service_key, "mock-gpt-byok").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("key_required"))
    );
    let (_, stats) = call(&stack, &bob_key, "GET", "/api/v1/byok/stats", None).await;
    assert_eq!(
        (
            stats["user_keys"].as_i64(),
            stats["by_provider"]["openai"].as_i64()
        ),
        (Some(2), Some(2))
    );
}

#[tokio::test]
async fn byok_needs_a_paid_plan_and_valid_input() {
    let stack = byok_stack().await;
    let free = new_tenant(&stack, "free").await;
    let user = new_user(&stack, &free, "member").await;
    let (_, key) = new_api_key(&stack, &free, json!({"name": "u", "user_id": user})).await;
    let (status, body) = call(
        &stack,
        &key,
        "PUT",
        "/api/v1/byok/keys/openai",
        Some(json!({"key": ALICE_SECRET})),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("KW-PLAN-001")),
        "{body}"
    );

    let paid = new_tenant(&stack, "starter").await;
    let user = new_user(&stack, &paid, "member").await;
    let (_, key) = new_api_key(&stack, &paid, json!({"name": "u", "user_id": user})).await;
    let cases = [
        ("nope", json!({"key": "k-123456789"}), "unknown provider"),
        ("openai", json!({"key": ""}), "key must be"),
        (
            "openai",
            json!({"key": "sk-123456789", "base_url": "http://x"}),
            "only for custom",
        ),
        ("custom-acme", json!({"key": "sk-123456789"}), "needs a base_url"),
        (
            "openai",
            json!({"key": "sk-123456789", "scope": "tenant"}),
            "tenant-admin",
        ),
    ];
    for (provider, body, needle) in cases {
        let (status, answer) = call(
            &stack,
            &key,
            "PUT",
            &format!("/api/v1/byok/keys/{provider}"),
            Some(body),
        )
        .await;
        assert!(status == 400 || status == 403, "{provider}: {status} {answer}");
        assert!(
            answer["error"]["message"].as_str().unwrap().contains(needle),
            "{provider}: {answer}"
        );
    }
    let (status, providers) = call(&stack, &key, "GET", "/api/v1/byok/providers", None).await;
    assert_eq!(status, 200);
    assert!(
        providers
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["slug"] == "huggingface")
    );
}

#[tokio::test]
async fn the_test_endpoint_calls_the_providers_own_validation_route() {
    let stack = byok_stack().await;
    let tenant = new_tenant(&stack, "starter").await;
    let user = new_user(&stack, &tenant, "member").await;
    let (_, key) = new_api_key(&stack, &tenant, json!({"name": "u", "user_id": user})).await;
    let base_url = format!("{}/v1", stack.mock_url.clone().unwrap());
    let (status, body) = call(
        &stack,
        &key,
        "PUT",
        "/api/v1/byok/keys/custom-mock",
        Some(json!({"key": ALICE_SECRET, "base_url": base_url})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, result) = call(&stack, &key, "POST", "/api/v1/byok/keys/custom-mock/test", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        (result["ok"].as_bool(), result["status"].as_u64()),
        (Some(true), Some(200)),
        "{result}"
    );

    // Pointing at an address with nothing listening reports the failure, not a 500.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (status, _) = call(
        &stack,
        &key,
        "PUT",
        "/api/v1/byok/keys/custom-gone",
        Some(json!({"key": ALICE_SECRET, "base_url": format!("http://{closed}/v1")})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, result) = call(&stack, &key, "POST", "/api/v1/byok/keys/custom-gone/test", None).await;
    assert_eq!((status, result["ok"].as_bool()), (200, Some(false)), "{result}");
    assert!(!result.to_string().contains(ALICE_SECRET));
}
