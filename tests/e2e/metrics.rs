//! `/metrics` through a real stack: behind a token, parseable by a
//! Prometheus text parser, and counting what the requests before it did —
//! requests by route, status and model, the gateway's overhead (also as a
//! header when asked), upstream latency and time to first token, tokens by
//! tenant, the usage publisher, and KMS calls.

use std::time::Duration;

use prometheus_parse::{Scrape, Value};
use serde_json::json;

use crate::helpers::{TestStack, chat, eventually_within};

async fn scrape(stack: &TestStack) -> Scrape {
    let response = stack
        .http
        .get(stack.url("/metrics"))
        .bearer_auth(&stack.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(!text.contains(&stack.admin_key), "no secret in the metrics");
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

/// The value of the first sample of `name` whose labels include `labels`.
pub(crate) fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<Value> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| s.value.clone())
}

pub(crate) fn count(value: Option<Value>) -> f64 {
    match value {
        Some(Value::Counter(n) | Value::Gauge(n) | Value::Untyped(n)) => n,
        Some(Value::Histogram(buckets)) => buckets.iter().map(|b| b.count).fold(0.0, f64::max),
        _ => 0.0,
    }
}

#[tokio::test]
async fn metrics_need_the_token_and_count_requests_overhead_latency_and_tokens() {
    let stack = TestStack::spawn().await;
    for (auth, code) in [
        (None, "KW-AUTH-001"),
        (Some("wrong-token-0123456789"), "KW-AUTH-002"),
    ] {
        let mut request = stack.http.get(stack.url("/metrics"));
        if let Some(token) = auth {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{body}");
    }

    let asked = stack
        .http
        .post(stack.url("/v1/chat/completions"))
        .bearer_auth(&stack.admin_key)
        .header("x-keyway-overhead", "1")
        .json(&chat("mock-gpt", "how much do you add?"))
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), 200);
    let overhead: u64 = asked.headers()["x-keyway-overhead-us"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(overhead > 0);
    asked.bytes().await.unwrap();
    let unasked = stack
        .post("/v1/chat/completions", chat("mock-gpt", "and now?"))
        .await;
    assert!(unasked.headers().get("x-keyway-overhead-us").is_none());
    unasked.bytes().await.unwrap();
    let streamed = stack
        .post(
            "/v1/chat/completions",
            json!({"model": "mock-gpt", "stream": true, "messages": [{"role": "user", "content": "stream"}]}),
        )
        .await;
    assert_eq!(streamed.status(), 200);
    streamed.bytes().await.unwrap();

    let route = [("route", "/v1/chat/completions")];
    eventually_within(Duration::from_secs(30), "tokens are counted", || async {
        let s = scrape(&stack).await;
        count(value(
            &s,
            "keyway_tokens_total",
            &[("tenant", "platform"), ("model", "mock-gpt"), ("kind", "input")],
        )) > 0.0
    })
    .await;
    let s = scrape(&stack).await;
    let served = [
        ("route", "/v1/chat/completions"),
        ("status", "200"),
        ("model", "mock-gpt"),
    ];
    assert!(count(value(&s, "keyway_http_requests_total", &served)) >= 3.0);
    assert!(count(value(&s, "keyway_gateway_overhead_seconds", &route)) >= 3.0);
    assert!(count(value(&s, "keyway_http_request_duration_seconds", &route)) >= 3.0);
    let model = [("model", "mock-gpt")];
    assert!(count(value(&s, "keyway_upstream_latency_seconds", &model)) >= 3.0);
    assert!(count(value(&s, "keyway_upstream_time_to_first_token_seconds", &model)) >= 1.0);
    assert!(count(value(&s, "keyway_kms_calls_total", &[("result", "ok")])) >= 1.0);
    for gauge in [
        "keyway_usage_spool_bytes",
        "keyway_keys_outbox_pending_events",
        "keyway_projector_pending_events",
    ] {
        assert!(value(&s, gauge, &[]).is_some(), "{gauge} is exported");
    }
    // An unknown route is one series, not one per path; an invented
    // method, one series, not one per method.
    let _ = stack
        .http
        .get(stack.url("/no/such/path/123"))
        .send()
        .await
        .unwrap();
    let invented = reqwest::Method::from_bytes(b"BREW123").unwrap();
    let _ = stack
        .http
        .request(invented, stack.url("/v1/models"))
        .send()
        .await
        .unwrap();
    let s = scrape(&stack).await;
    assert!(value(&s, "keyway_http_requests_total", &[("route", "unmatched")]).is_some());
    assert!(value(&s, "keyway_http_requests_total", &[("method", "other")]).is_some());
    assert!(!s.samples.iter().any(|x| {
        x.labels.get("route") == Some("/no/such/path/123") || x.labels.get("method") == Some("BREW123")
    }));
}
