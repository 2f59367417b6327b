//! The upstream misbehaving (the in-process mock, told per request): it
//! stalls mid-stream or before answering, resets the connection before or
//! during a stream, streams frames that are not JSON, or answers a 10 MB
//! error. Each time the client gets a clean error in its own wire's shape
//! (a status with the error body, or, once a stream is under way, a last
//! event that is an error) within a generous deadline, and the request is
//! billed exactly once.

use std::time::Duration;

use serde_json::{Value, json};

use super::{Tally, events_by_request, reconcile};
use crate::helpers::{TestStack, eventually_within, nats_url};

/// The client wires and a model of each upstream wire: same-wire and
/// translated both ways.
const WIRES: [(&str, &str, bool); 3] = [
    ("/v1/chat/completions", "mock-gpt", false),
    ("/v1/messages", "mock-claude", true),
    ("/v1/chat/completions", "mock-claude", false),
];

fn scenarios() -> Vec<(&'static str, bool, Value)> {
    vec![
        (
            "stalls mid-stream",
            true,
            json!({"chunks": 4, "chunk_delay_ms": 60_000}),
        ),
        ("stalls before answering", false, json!({"latency_ms": 60_000})),
        (
            "resets mid-stream",
            true,
            json!({"chunks": 4, "error_after_chunks": 2}),
        ),
        ("resets before any byte", false, json!({"reset": true})),
        ("resets a stream before any byte", true, json!({"reset": true})),
        ("sends garbage SSE", true, json!({"garbage_sse": true})),
        (
            "sends a 10 MB 500",
            false,
            json!({"error": 500, "error_body_bytes": 10_000_000}),
        ),
        (
            "sends a 10 MB 400",
            false,
            json!({"error": 400, "error_body_bytes": 10_000_000}),
        ),
    ]
}

/// The stable code of an error body in the client's shape, if it is one.
fn error_code(anthropic: bool, body: &Value) -> Option<String> {
    let error = &body["error"];
    let shaped =
        error["message"].is_string() && error["type"].is_string() && (!anthropic || body["type"] == "error");
    shaped
        .then(|| error["keyway_code"].as_str().map(str::to_owned))
        .flatten()
}

/// The last event of a stream, as the client's SDK would read it.
fn last_event(text: &str) -> Option<(Option<String>, Value)> {
    let event = text.trim_end().rsplit("\n\n").next()?;
    let name = event
        .lines()
        .find_map(|l| l.strip_prefix("event: "))
        .map(str::to_owned);
    let data = event.lines().find_map(|l| l.strip_prefix("data: "))?;
    Some((name, serde_json::from_str(data).ok()?))
}

/// Sends one misbehaving request; returns its request id and what was
/// wrong with the answer, if anything.
async fn one(
    stack: &TestStack,
    path: &str,
    model: &str,
    anthropic: bool,
    stream: bool,
    mock: Value,
) -> (String, Option<String>) {
    let mut body = json!({"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}], "mock": mock});
    if stream {
        body["stream"] = json!(true);
    }
    let response = stack
        .http
        .post(stack.url(path))
        .bearer_auth(&stack.admin_key)
        .timeout(Duration::from_secs(90))
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("no answer (a hang or a reset reached the client): {e}"));
    let status = response.status().as_u16();
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = match response.text().await {
        Ok(text) => text,
        Err(e) => {
            return (
                request_id,
                Some(format!("{status}, then the body broke off: {e}")),
            );
        }
    };
    let short: String = text.chars().take(300).collect();
    let problem = if status == 200 {
        match last_event(&text) {
            Some((name, data))
                if error_code(anthropic, &data).is_some()
                    && (!anthropic || name.as_deref() == Some("error")) =>
            {
                None
            }
            _ => Some(format!("200 whose last event is not an error: {short}")),
        }
    } else if !(400..600).contains(&status) || status == 500 {
        Some(format!("{status}: {short}"))
    } else if text.len() > 64 * 1024 {
        Some(format!("{status} with a {} byte body", text.len()))
    } else {
        match serde_json::from_str(&text)
            .ok()
            .and_then(|b| error_code(anthropic, &b))
        {
            Some(_) => None,
            None => Some(format!("{status} not in the wire's shape: {short}")),
        }
    };
    (request_id, problem)
}

#[tokio::test]
async fn a_misbehaving_upstream_gives_clean_errors_billed_once() {
    let stack = TestStack::spawn_with(&[
        ("KEYWAY_UPSTREAM_TIMEOUT_MS", "3000"),
        ("KEYWAY_USAGE_BATCH_MAX", "1"),
    ])
    .await;
    let mut tally = Tally::default();
    let (mut ids, mut problems) = (Vec::new(), Vec::new());
    for (name, stream, mock) in scenarios() {
        for (path, model, anthropic) in WIRES {
            let (id, problem) = one(&stack, path, model, anthropic, stream, mock.clone()).await;
            tally.sent += 1;
            match problem {
                None => tally.served += 1,
                Some(p) => problems.push(format!("{name} ({path}, {model}): {p}")),
            }
            assert!(!id.is_empty(), "{name}: no x-request-id");
            ids.push(id);
        }
    }
    let prefix = stack.isolation.nats_prefix.clone();
    let _ = tokio::time::timeout(Duration::from_secs(60), async {
        eventually_within(Duration::from_secs(60), "every request is billed", || async {
            let events = events_by_request(nats_url(), &prefix).await;
            ids.iter().all(|id| events.contains_key(id))
        })
        .await;
    })
    .await;
    // Late duplicates would come within the batching delay: look again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    reconcile(&mut tally, &ids, &events_by_request(nats_url(), &prefix).await);
    tally.print("upstream");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(
        (tally.served, tally.billed, tally.lost, tally.duplicated),
        (tally.sent, tally.sent, 0, 0)
    );
}
