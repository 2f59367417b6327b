//! Rate limits and monthly budgets through the real stack: limits set over
//! the key service's API, enforced by gateways sharing NATS KV counters,
//! refused with 429 + Retry-After in each API's own error shape.

use std::time::Duration;

use serde_json::{Value, json};

use crate::{
    helpers::{TestStack, chat, eventually},
    keys_api::{admin, new_api_key, new_tenant, new_user},
};

/// Minute windows are fixed: wait out the last seconds of a minute so a
/// test's requests all land in one window.
async fn start_of_a_minute() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let second = now.as_secs() % 60;
    if second >= 45 {
        tokio::time::sleep(Duration::from_secs(61 - second)).await;
    }
}

async fn send(stack: &TestStack, key: &str, path: &str, body: Value) -> (u16, Option<String>, Value) {
    let response = stack
        .http
        .post(stack.url(path))
        .bearer_auth(key)
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry_after, response.json().await.unwrap_or(Value::Null))
}

fn claude(text: &str, max_tokens: u64) -> Value {
    json!({"model": "mock-claude", "max_tokens": max_tokens, "messages": [{"role": "user", "content": text}]})
}

#[tokio::test]
async fn an_api_key_request_limit_is_shared_by_two_gateways_and_refused_in_each_shape() {
    use keyway::Services;
    let token = crate::helpers::random_secret("internal-token-");
    let main = TestStack::spawn_with(&[("KEYWAY_INTERNAL_TOKEN", token.as_str())]).await;
    let prefix = main.isolation.nats_prefix.clone();
    // A second gateway process-alike: same NATS prefix, keys over HTTP.
    let other = TestStack::spawn_services(
        Services::GATEWAY,
        &[
            ("KEYWAY_KEYS_URL", main.base.as_str()),
            ("KEYWAY_INTERNAL_TOKEN", token.as_str()),
            ("KEYWAY_NATS_PREFIX", prefix.as_str()),
        ],
    )
    .await;
    let tenant = new_tenant(&main, "starter").await;
    let (status, body) = admin(
        &main,
        "POST",
        &format!("/api/v1/tenants/{tenant}/api-keys"),
        Some(json!({"name": "capped", "role": "member", "limits": {"requests_per_minute": 0}})),
    )
    .await;
    assert_eq!(status, 400, "a zero limit is refused: {body}");
    let (id, key) = new_api_key(
        &main,
        &tenant,
        json!({"name": "capped", "limits": {"requests_per_minute": 6}}),
    )
    .await;

    start_of_a_minute().await;
    let mut statuses = Vec::new();
    for i in 0..6 {
        let gateway = if i % 2 == 0 { &main } else { &other };
        let (status, _, body) = send(gateway, &key, "/v1/chat/completions", chat("mock-gpt", "hi")).await;
        assert_eq!(status, 200, "request {i}: {body}");
        statuses.push(status);
    }
    // The limit is reached on both gateways: together they served 6.
    let (status, retry_after, body) =
        send(&other, &key, "/v1/chat/completions", chat("mock-gpt", "hi")).await;
    assert_eq!(status, 429, "{body}");
    let retry_after: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert_eq!(body["error"]["type"], "rate_limit_error");
    assert_eq!(body["error"]["keyway_code"], "KW-LIMIT-001");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("requests per minute (6)")
    );
    let (status, retry_after, body) = send(&main, &key, "/v1/messages", claude("hi", 16)).await;
    assert_eq!(status, 429, "{body}");
    assert!(retry_after.is_some());
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "rate_limit_error");

    // Lifting the limit reaches the gateways through the key-change event.
    let (status, body) = admin(
        &main,
        "PUT",
        &format!("/api/v1/tenants/{tenant}/api-keys/{id}/limits"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["limits"], json!({}));
    eventually("both gateways serve the key again", || async {
        send(&main, &key, "/v1/chat/completions", chat("mock-gpt", "hi"))
            .await
            .0
            == 200
            && send(&other, &key, "/v1/chat/completions", chat("mock-gpt", "hi"))
                .await
                .0
                == 200
    })
    .await;
}

/// A request refused for want of a key counts against no limit. The keys
/// are found before anything is reserved; an order that reserved first
/// would have to give it all back, the request itself too.
#[tokio::test]
async fn a_request_refused_for_want_of_a_key_uses_none_of_the_limit() {
    let stack = TestStack::spawn().await;
    let tenant = new_tenant(&stack, "starter").await;
    let user = new_user(&stack, &tenant, "member").await;
    let (_, key) = new_api_key(
        &stack,
        &tenant,
        json!({"name": "capped", "user_id": user, "limits": {"requests_per_minute": 2}}),
    )
    .await;

    start_of_a_minute().await;
    // `mock-gpt-byok` takes only the user's own key, which they have not set.
    for i in 0..3 {
        let (status, _, body) = send(&stack, &key, "/v1/chat/completions", chat("mock-gpt-byok", "hi")).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("key_required")),
            "request {i}: {body}"
        );
    }
    for i in 0..2 {
        let (status, _, body) = send(&stack, &key, "/v1/chat/completions", chat("mock-gpt", "hi")).await;
        assert_eq!(status, 200, "request {i} after the refusals: {body}");
    }
    let (status, _, body) = send(&stack, &key, "/v1/chat/completions", chat("mock-gpt", "hi")).await;
    assert_eq!(status, 429, "the limit still holds: {body}");
}

#[tokio::test]
async fn concurrent_requests_never_spend_past_the_tenant_budget() {
    let stack = TestStack::spawn().await;
    let tenant = new_tenant(&stack, "starter").await;
    // mock-claude costs 3 µ per input and 15 µ per output token. Each
    // request reserves its prompt and 64 output tokens (about 1,000 µ).
    let budget = 5_000;
    let (status, body) = admin(
        &stack,
        "PATCH",
        &format!("/api/v1/tenants/{tenant}"),
        Some(json!({"limits": {"monthly_budget_micros": budget}})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["limits"]["monthly_budget_micros"], budget);
    let (_, key) = new_api_key(&stack, &tenant, json!({"name": "spender"})).await;

    let requests = (0..100).map(|i| {
        let (stack, key) = (&stack, key.clone());
        async move {
            send(
                stack,
                &key,
                "/v1/messages",
                claude(&format!("request number {i}"), 64),
            )
            .await
        }
    });
    let outcomes = futures::future::join_all(requests).await;
    let served = outcomes.iter().filter(|(s, ..)| *s == 200).count();
    let refused: Vec<_> = outcomes.iter().filter(|(s, ..)| *s == 429).collect();
    assert!(served > 0, "some requests fit in the budget");
    assert_eq!(served + refused.len(), 100, "only 200s and 429s: {outcomes:?}");
    // Refused while the served requests' reservations were in flight:
    // those settle within seconds, so the advice is to retry in one.
    let (_, retry_after, body) = refused[0];
    assert_eq!(body["error"]["type"], "rate_limit_error");
    assert_eq!(body["error"]["keyway_code"], "KW-LIMIT-002");
    assert_eq!(retry_after.as_deref(), Some("1"), "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("reserved by requests in flight"), "{message}");

    // The billing views, fed by the usage events, show what was spent.
    let summary = |stack: &TestStack| {
        let url = stack.url(&format!("/api/v1/usage/summary?tenant_id={tenant}"));
        let request = stack.http.get(url).bearer_auth(&stack.admin_key);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    eventually("every request is in the billing views", || async {
        summary(&stack).await["totals"]["requests"] == 100
    })
    .await;
    let totals = summary(&stack).await["totals"].clone();
    let spent = totals["cost_micros"].as_i64().unwrap();
    assert!(
        spent > 0 && spent <= budget,
        "spent {spent} of {budget}: {totals}"
    );

    // A request whose reservation (about 60,000 µ) is over the whole
    // budget is refused outright, and told why.
    let (status, retry_after, body) = send(&stack, &key, "/v1/messages", claude("big", 4_000)).await;
    assert_eq!(status, 429, "{body}");
    let month_end: u64 = retry_after.as_deref().unwrap().parse().unwrap();
    assert!((2..=31 * 86_400).contains(&month_end), "{month_end}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("smaller than this request's reservation"),
        "{body}"
    );
}

#[tokio::test]
async fn a_tokens_per_minute_limit_counts_prompt_and_max_tokens_and_settles_to_real_usage() {
    let stack = TestStack::spawn().await;
    let tenant = new_tenant(&stack, "starter").await;
    let (_, key) = new_api_key(
        &stack,
        &tenant,
        json!({"name": "tpm", "limits": {"tokens_per_minute": 1000}}),
    )
    .await;
    start_of_a_minute().await;
    // Each request reserves its prompt plus 400 output tokens, but the mock
    // answers with a few dozen: settling gives the rest back, so many more
    // than two requests fit in 1,000 tokens.
    let mut served = 0;
    for i in 0..6 {
        let (status, _, body) = send(&stack, &key, "/v1/messages", claude("hi", 400)).await;
        assert_eq!(status, 200, "request {i}: {body}");
        served += 1;
    }
    assert_eq!(served, 6);
    // Three such reservations in flight at once cannot all fit. The mock
    // holds each answer for half a second, so all three are reserved before
    // any settles: without that, on a busy machine the first could settle
    // before the third arrived, and all three would fit.
    let held = || {
        let mut body = claude("hi", 400);
        body["mock"] = json!({"latency_ms": 500});
        body
    };
    let burst = (0..3).map(|_| send(&stack, &key, "/v1/messages", held()));
    let outcomes = futures::future::join_all(burst).await;
    let refused: Vec<_> = outcomes.iter().filter(|(s, ..)| *s == 429).collect();
    assert!(!refused.is_empty(), "{outcomes:?}");
    let (_, retry_after, body) = refused[0];
    assert_eq!(body["error"]["keyway_code"], "KW-LIMIT-001");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tokens per minute (1000)")
    );
    assert!(retry_after.is_some());
}

/// Issue 9: `max_tokens` = 2^64 − 1 wrapped the reservation to almost
/// nothing, so 30 such requests all passed a 60-token limit, and a 40 µ
/// budget was overspent.
#[tokio::test]
async fn a_max_tokens_of_two_to_the_64_cannot_slip_past_token_limits_or_budgets() {
    let stack = TestStack::spawn().await;
    let tenant = new_tenant(&stack, "starter").await;
    let (_, key) = new_api_key(
        &stack,
        &tenant,
        json!({"name": "tpm", "limits": {"tokens_per_minute": 60}}),
    )
    .await;
    start_of_a_minute().await;
    let mut openai = chat("mock-gpt", "hi");
    openai["max_tokens"] = json!(u64::MAX);
    let mut completion = chat("mock-gpt", "hi");
    completion["max_completion_tokens"] = json!(1u64 << 63);
    let cases = [
        ("/v1/chat/completions", openai),
        ("/v1/chat/completions", completion),
        ("/v1/messages", claude("hi", u64::MAX)),
    ];
    for (path, request) in &cases {
        for i in 0..10 {
            let (status, _, body) = send(&stack, &key, path, request.clone()).await;
            assert_eq!(status, 429, "{path} request {i}: {body}");
            assert_eq!(body["error"]["keyway_code"], "KW-LIMIT-001", "{body}");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(message.contains("tokens per minute (60)"), "{message}");
        }
    }
    // The key itself is fine: a request that fits is served.
    let (status, _, body) = send(&stack, &key, "/v1/messages", claude("hi", 16)).await;
    assert_eq!(status, 200, "{body}");
    // Not a whole number in range: refused before any reservation.
    let mut float = chat("mock-gpt", "hi");
    float["max_tokens"] = json!(1.8446744073709552e19);
    let (status, _, body) = send(&stack, &key, "/v1/chat/completions", float).await;
    assert_eq!(
        (status, body["error"]["keyway_code"].as_str()),
        (400, Some("KW-REQ-002"))
    );

    let poor = new_tenant(&stack, "starter").await;
    let (status, body) = admin(
        &stack,
        "PATCH",
        &format!("/api/v1/tenants/{poor}"),
        Some(json!({"limits": {"monthly_budget_micros": 40}})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, key) = new_api_key(&stack, &poor, json!({"name": "spender"})).await;
    for i in 0..10 {
        let (status, _, body) = send(&stack, &key, "/v1/messages", claude("hi", u64::MAX)).await;
        assert_eq!(status, 429, "request {i}: {body}");
        assert_eq!(body["error"]["keyway_code"], "KW-LIMIT-002", "{body}");
    }
    let summary = || {
        let url = stack.url(&format!("/api/v1/usage/summary?tenant_id={poor}"));
        let request = stack.http.get(url).bearer_auth(&stack.admin_key);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    eventually("every request is in the billing views", || async {
        summary().await["totals"]["requests"] == 10
    })
    .await;
    assert_eq!(summary().await["totals"]["cost_micros"], 0, "nothing was spent");
}
