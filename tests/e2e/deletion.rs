//! Deleting a user or a tenant bites on the very next `/v1` request when the
//! key service and the gateway share a process (`keyway up`): the deletion
//! evicts the gateway's cached credentials before the DELETE returns,
//! rather than when the key-change event comes back through NATS (issue 9).

use serde_json::json;

use crate::{
    helpers::TestStack,
    keys_api::{admin, chat_status, new_api_key, new_tenant, new_user},
};

/// Each key is used twice first, so the gateway holds it in its cache.
async fn warm(stack: &TestStack, key: &str) {
    for _ in 0..2 {
        assert_eq!(chat_status(stack, key, "mock-gpt").await.0, 200);
    }
}

#[tokio::test]
async fn a_deleted_users_key_is_refused_on_the_first_request() {
    let stack = TestStack::spawn().await;
    let tenant = new_tenant(&stack, "starter").await;
    // Several rounds: the event over NATS is fast, so one could pass by luck.
    for round in 0..5 {
        let user = new_user(&stack, &tenant, "member").await;
        let (_, key) = new_api_key(&stack, &tenant, json!({"name": "u", "user_id": user})).await;
        warm(&stack, &key).await;
        let (status, body) = admin(
            &stack,
            "DELETE",
            &format!("/api/v1/tenants/{tenant}/users/{user}"),
            None,
        )
        .await;
        assert!((200..300).contains(&status), "{status}: {body}");
        let (status, body) = chat_status(&stack, &key, "mock-gpt").await;
        assert_eq!(status, 401, "round {round}: {body}");
    }
}

#[tokio::test]
async fn a_deleted_tenants_key_is_refused_on_the_first_request() {
    let stack = TestStack::spawn().await;
    for round in 0..5 {
        let tenant = new_tenant(&stack, "starter").await;
        let (_, key) = new_api_key(&stack, &tenant, json!({"name": "t"})).await;
        warm(&stack, &key).await;
        let (status, body) = admin(&stack, "DELETE", &format!("/api/v1/tenants/{tenant}"), None).await;
        assert!((200..300).contains(&status), "{status}: {body}");
        let (status, body) = chat_status(&stack, &key, "mock-gpt").await;
        assert_eq!(status, 401, "round {round}: {body}");
    }
}
