//! Deployments, retries, fallbacks and cooldowns (`docs/routing.md`),
//! through `keyway up` in front of several mock-llm processes, each a
//! deployment with an instance-wide fault: a refused port, 429 with
//! `Retry-After`, 500, slow (past the upstream timeout), a stream that
//! breaks after its first chunk.

mod byok_fallback;
mod fleet;
mod mixed;

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};

use crate::helpers::{KeywayProcess, chat, eventually_within};
use fleet::{Mock, closed_port, gateway, ledger, model};

async fn ask(process: &KeywayProcess, http: &reqwest::Client, model: &str) -> (u16, Value) {
    let response = http
        .post(format!("{}/v1/chat/completions", process.base))
        .bearer_auth(&process.isolation.admin_key)
        .json(&chat(model, "hello there"))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn retries_and_fallbacks_give_one_clean_answer_billed_at_the_serving_price() {
    let (r500, r429, slow, good) = (
        Mock::start(&[("ERROR", "500")]).await,
        Mock::start(&[("ERROR", "429")]).await,
        Mock::start(&[("LATENCY_MS", "20000")]).await,
        Mock::start(&[]).await,
    );
    let refused = closed_port();
    let deployments = format!(
        "deployments:\n  - {{name: refused, base_url: '{refused}/v1'}}\n  - {{name: r500, base_url: '{}/v1'}}\n  \
         - {{name: r429, base_url: '{}/v1'}}\n  - {{name: slow, base_url: '{}/v1'}}\n  - {{name: good, base_url: '{}/v1'}}\n\
         retry: {{attempts: 5}}\ncooldown: {{failures: 1000}}\nprice: {{input_per_mtok: 1, output_per_mtok: 1, currency: USD}}\n",
        r500.url, r429.url, slow.url, good.url
    );
    let broken = format!(
        "deployments:\n  - {{name: refused, base_url: '{refused}/v1'}}\n  - {{name: r500, base_url: '{}/v1'}}\n\
         fallbacks: [backup-claude]\nprice: {{input_per_mtok: 1, output_per_mtok: 1, currency: USD}}\n",
        r500.url
    );
    let backup = format!(
        "base_url: '{}/v1'\nprice: {{input_per_mtok: 7, output_per_mtok: 11, currency: USD}}\n",
        good.url
    );
    let catalog = format!(
        "models:\n{}{}{}",
        model("flaky", "openai", &deployments),
        model("broken", "openai", &broken),
        model("backup-claude", "anthropic", &backup),
    );
    let (process, _catalog) = gateway(&catalog, &[("KEYWAY_UPSTREAM_TIMEOUT_MS", "1500")]);
    let http = reqwest::Client::new();

    for _ in 0..12 {
        let (status, body) = ask(&process, &http, "flaky").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["object"], "chat.completion", "one clean answer: {body}");
        assert!(body["choices"][0]["message"]["content"].is_string(), "{body}");
    }
    let rows = ledger(&process, "flaky", 12).await;
    assert_eq!(rows.len(), 12, "one usage event per request");
    assert!(
        rows.iter().all(|r| r.deployment == "good" && r.status == 200),
        "{rows:?}"
    );
    assert!(rows.iter().all(|r| (1..=5).contains(&r.attempts)), "{rows:?}");
    assert!(
        rows.iter().any(|r| r.attempts > 1),
        "some requests were retried: {rows:?}"
    );
    assert!(r500.requests().await > 0 && r429.requests().await > 0 && slow.requests().await > 0);

    // Every deployment of `broken` fails: its fallback, an Anthropic model,
    // answers through translation, in the caller's OpenAI shape.
    let (status, body) = ask(&process, &http, "broken").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "chat.completion", "{body}");
    let rows = ledger(&process, "broken", 1).await;
    let row = &rows[0];
    assert_eq!(
        (row.fallback_model.as_str(), row.deployment.as_str()),
        ("backup-claude", "default")
    );
    assert_eq!(
        row.attempts, 3,
        "two deployments of broken, then the fallback: {row:?}"
    );
    assert!(row.input_tokens > 0 && row.output_tokens > 0, "{row:?}");
    assert_eq!(
        row.cost_micros,
        row.input_tokens * 7 + row.output_tokens * 11,
        "billed at the fallback's price: {row:?}"
    );
}

#[tokio::test]
async fn a_stream_that_breaks_after_its_first_chunk_is_not_retried_and_is_billed_once() {
    // The pause lets the first chunks reach the gateway (and the client)
    // before the break, as a crash mid-answer would.
    let breaker = Mock::start(&[("ERROR_AFTER_CHUNKS", "2"), ("CHUNK_DELAY_MS", "300")]).await;
    let catalog = format!(
        "models:\n{}",
        model(
            "streamy",
            "openai",
            &format!(
                "base_url: '{}/v1'\nretry: {{attempts: 3}}\nprice: {{input_per_mtok: 1, output_per_mtok: 1, currency: USD}}\n",
                breaker.url
            )
        )
    );
    let (process, _catalog) = gateway(&catalog, &[]);
    let http = reqwest::Client::new();
    let key = &process.isolation.admin_key;

    let mut openai = chat("streamy", "tell me a long story please");
    openai["stream"] = json!(true);
    let response = http
        .post(format!("{}/v1/chat/completions", process.base))
        .bearer_auth(key)
        .json(&openai)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = read_all(response).await;
    let last = text.trim_end().lines().last().unwrap_or_default().to_owned();
    assert!(
        last.starts_with("data: {\"error\""),
        "OpenAI-shaped error event last: {text}"
    );
    assert!(
        text.contains("chat.completion.chunk"),
        "the first chunk arrived: {text}"
    );

    let anthropic = json!({"model": "streamy", "max_tokens": 50, "stream": true,
        "messages": [{"role": "user", "content": "tell me a long story please"}]});
    let response = http
        .post(format!("{}/v1/messages", process.base))
        .header("x-api-key", key)
        .header("anthropic-version", "2023-06-01")
        .json(&anthropic)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = read_all(response).await;
    assert!(
        text.contains("event: error"),
        "Anthropic-shaped error event: {text}"
    );
    assert!(!text.contains("message_stop"), "{text}");

    assert_eq!(breaker.requests().await, 2, "neither stream was retried");
    let rows = ledger(&process, "streamy", 2).await;
    assert_eq!(rows.len(), 2, "one event each: {rows:?}");
    assert!(
        rows.iter()
            .all(|r| r.attempts == 1 && r.status == 502 && r.deployment == "default"),
        "{rows:?}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(ledger(&process, "streamy", 2).await.len(), 2, "billed once each");
}

async fn read_all(response: reqwest::Response) -> String {
    let mut stream = response.bytes_stream();
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => text.push_str(&String::from_utf8_lossy(&bytes)),
            Err(_) => break,
        }
    }
    text
}

#[tokio::test]
async fn weights_split_the_traffic_and_a_cooled_down_deployment_rests_then_is_probed() {
    let (a, b) = (Mock::start(&[]).await, Mock::start(&[]).await);
    let (x, failing) = (Mock::start(&[]).await, Mock::start(&[("ERROR", "500")]).await);
    let weighted = format!(
        "deployments:\n  - {{name: a, base_url: '{}/v1', weight: 3}}\n  - {{name: b, base_url: '{}/v1'}}\n",
        a.url, b.url
    );
    let cooling = format!(
        "deployments:\n  - {{name: x, base_url: '{}/v1'}}\n  - {{name: failing, base_url: '{}/v1'}}\n\
         retry: {{attempts: 2}}\ncooldown: {{failures: 1, seconds: 12}}\n",
        x.url, failing.url
    );
    let catalog = format!(
        "models:\n{}{}",
        model("weighted", "openai", &weighted),
        model("cooling", "openai", &cooling)
    );
    let (process, _catalog) = gateway(&catalog, &[]);
    let http = reqwest::Client::new();

    let statuses: Vec<u16> = futures::stream::iter(0..4_000)
        .map(|_| {
            let (process, http) = (&process, &http);
            async move { ask(process, http, "weighted").await.0 }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 200));
    let (on_a, on_b) = (a.requests().await as f64, b.requests().await as f64);
    assert_eq!(on_a + on_b, 4_000.0);
    let ratio = on_a / on_b;
    assert!((2.85..=3.15).contains(&ratio), "3:1 within 5%: {on_a} to {on_b}");

    // The first request that reaches `failing` cools it down (one failure)
    // and is answered by x.
    let mut hit = None;
    for _ in 0..20 {
        let (status, body) = ask(&process, &http, "cooling").await;
        assert_eq!(status, 200, "{body}");
        if failing.requests().await > 0 {
            hit = Some(Instant::now());
            break;
        }
    }
    let hit = hit.expect("failing got a request among 20 at weight 1:1");
    let seen = failing.requests().await;
    // Well inside its 12 s cooldown, whatever the box's speed.
    let mut during = 0;
    while hit.elapsed() < Duration::from_secs(4) {
        assert_eq!(ask(&process, &http, "cooling").await.0, 200);
        during += 1;
    }
    assert!(during > 0);
    assert_eq!(
        failing.requests().await,
        seen,
        "no traffic during the cooldown ({during} requests)"
    );
    tokio::time::sleep(Duration::from_secs(9)).await;
    eventually_within(
        Duration::from_secs(60),
        "failing is probed after its cooldown",
        || {
            let (process, http, failing) = (&process, &http, &failing);
            async move {
                assert_eq!(ask(process, http, "cooling").await.0, 200);
                failing.requests().await > seen
            }
        },
    )
    .await;
}
