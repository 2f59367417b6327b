//! After N failed authentications a client is refused with 429 on every
//! edge until the window passes; the count is shared by gateways on one
//! NATS prefix, kept locally without NATS, and keyed by the forwarded
//! client only behind trusted proxies.

use serde_json::Value;

use super::{answer, chat_as};
use crate::helpers::{TestStack, eventually};

/// Three kinds of wrong credential: an API key of the right shape, a
/// JWT-looking token, and a wrong admin key. All count alike.
const WRONG: [&str; 3] = [
    "kw_dev_0000000000000000_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
    "kw_test_admin_wrong",
];

async fn get(stack: &TestStack, path: &str, key: &str) -> (u16, Option<u64>, Value) {
    answer(
        stack
            .http
            .get(stack.url(path))
            .bearer_auth(key)
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn three_failures_block_the_client_on_every_edge_until_the_window_passes() {
    let stack = TestStack::spawn_with(&[
        ("KEYWAY_AUTH_FAILURE_LIMIT", "3"),
        ("KEYWAY_AUTH_FAILURE_WINDOW_MS", "8000"),
    ])
    .await;
    let admin = stack.admin_key.clone();
    // No credential at all guesses nothing and is not counted.
    for _ in 0..5 {
        assert_eq!(answer(chat_as(&stack, None, None).await).await.0, 401);
    }
    for wrong in WRONG {
        assert_eq!(answer(chat_as(&stack, Some(wrong), None).await).await.0, 401);
    }
    // Now even the admin key is refused, in each API's own shape.
    let (status, retry_after, body) = answer(chat_as(&stack, Some(&admin), None).await).await;
    assert_eq!(
        (status, body["error"]["keyway_code"].as_str()),
        (429, Some("KW-AUTH-006"))
    );
    assert_eq!(body["error"]["type"], "rate_limit_error");
    assert!(
        retry_after.is_some_and(|s| (1..=8).contains(&s)),
        "{retry_after:?}"
    );
    let anthropic = stack
        .http
        .post(stack.url("/v1/messages"))
        .header("x-api-key", &admin)
        .json(&serde_json::json!({"model": "mock-claude", "max_tokens": 5, "messages": []}))
        .send()
        .await
        .unwrap();
    let (status, retry_after, body) = answer(anthropic).await;
    assert_eq!((status, body["type"].as_str()), (429, Some("error")));
    assert_eq!(body["error"]["type"], "rate_limit_error");
    assert!(retry_after.is_some());
    for path in ["/api/v1/tenants", "/api/v1/usage/summary"] {
        let (status, retry_after, body) = get(&stack, path, &admin).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (429, Some("KW-AUTH-006")),
            "{path}"
        );
        assert!(retry_after.is_some(), "{path}");
    }
    // Health and docs are not behind authentication, so not behind the block.
    assert_eq!(
        stack
            .http
            .get(stack.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    eventually("the block lifts once the window has passed", || async {
        get(&stack, "/api/v1/tenants", &admin).await.0 == 200
    })
    .await;
}

#[tokio::test]
async fn gateways_on_one_nats_prefix_share_one_count() {
    let limit = [
        ("KEYWAY_AUTH_FAILURE_LIMIT", "3"),
        ("KEYWAY_AUTH_FAILURE_WINDOW_MS", "60000"),
    ];
    let a = TestStack::spawn_with(&limit).await;
    let prefix = a.isolation.nats_prefix.clone();
    let mut shared = limit.to_vec();
    shared.push(("KEYWAY_NATS_PREFIX", &prefix));
    let b = TestStack::spawn_with(&shared).await;
    assert_eq!(answer(chat_as(&a, Some(WRONG[0]), None).await).await.0, 401);
    assert_eq!(answer(chat_as(&a, Some(WRONG[1]), None).await).await.0, 401);
    // The third failure overall happens on B: B refuses the client from now on.
    assert_eq!(answer(chat_as(&b, Some(WRONG[2]), None).await).await.0, 401);
    assert_eq!(answer(chat_as(&b, Some(&b.admin_key), None).await).await.0, 429);
    // A learns of the block on the client's next failure, not a fourth try.
    assert_eq!(answer(chat_as(&a, Some(WRONG[0]), None).await).await.0, 429);
    assert_eq!(answer(chat_as(&a, Some(&a.admin_key), None).await).await.0, 429);
}

#[tokio::test]
async fn without_nats_each_process_still_counts_on_its_own() {
    // Nothing listens on port 1: the shared counters are out of reach.
    let stack = TestStack::spawn_with(&[
        ("KEYWAY_NATS_URL", "nats://127.0.0.1:1"),
        ("KEYWAY_AUTH_FAILURE_LIMIT", "2"),
    ])
    .await;
    for wrong in &WRONG[..2] {
        assert_eq!(answer(chat_as(&stack, Some(wrong), None).await).await.0, 401);
    }
    let (status, ..) = get(&stack, "/api/v1/tenants", &stack.admin_key).await;
    assert_eq!(status, 429);
}

#[tokio::test]
async fn forwarded_clients_are_told_apart_only_behind_trusted_proxies() {
    let limit = ("KEYWAY_AUTH_FAILURE_LIMIT", "2");
    let proxied = TestStack::spawn_with(&[limit, ("KEYWAY_TRUSTED_PROXIES", "127.0.0.1/32")]).await;
    let (attacker, neighbour) = ("198.51.100.1, 203.0.113.7", "203.0.113.8");
    for wrong in &WRONG[..2] {
        let response = chat_as(&proxied, Some(wrong), Some(attacker)).await;
        assert_eq!(answer(response).await.0, 401);
    }
    let admin = proxied.admin_key.clone();
    let refused = chat_as(&proxied, Some(&admin), Some(attacker)).await;
    assert_eq!(answer(refused).await.0, 429);
    // The client is the right-most untrusted hop, whatever the left says.
    let spoofed = chat_as(&proxied, Some(&admin), Some("192.0.2.1, 203.0.113.7")).await;
    assert_eq!(answer(spoofed).await.0, 429);
    for other in [Some(neighbour), None] {
        assert_eq!(answer(chat_as(&proxied, Some(&admin), other).await).await.0, 200);
    }

    // Without trusted proxies the header is ignored: rotating it dodges nothing.
    let direct = TestStack::spawn_with(&[limit]).await;
    for (wrong, xff) in WRONG[..2].iter().zip(["203.0.113.1", "203.0.113.2"]) {
        assert_eq!(
            answer(chat_as(&direct, Some(wrong), Some(xff)).await).await.0,
            401
        );
    }
    let fresh = chat_as(&direct, Some(&direct.admin_key), Some("203.0.113.3")).await;
    assert_eq!(answer(fresh).await.0, 429);
}
