//! Usage events from the gateway: one per authenticated request, with the
//! tokens the upstream reported (or an estimate, flagged), the cost from the
//! catalog's prices, and no loss when NATS goes away.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use futures::StreamExt;
use keyway_proto::{
    cloudevents as ce,
    v1::{UsageBatch, UsageEvent},
};
use prost::Message;
use serde_json::json;

use crate::helpers::{TestStack, chat, eventually};

/// Every usage event in the stack's stream, in stream order, with the
/// `Nats-Msg-Id` of its message and whether that message was a `UsageBatch`
/// (the gateway batches by default; `KEYWAY_USAGE_BATCH_MAX=1` turns it off).
pub(crate) async fn usage_events(nats_url: &str, prefix: &str) -> Vec<(UsageEvent, Option<String>, bool)> {
    let js = async_nats::jetstream::new(async_nats::connect(nats_url).await.unwrap());
    let Ok(mut stream) = js.get_stream(format!("{}_USAGE", prefix.to_uppercase())).await else {
        return vec![];
    };
    let last = stream.info().await.unwrap().state.last_sequence;
    let mut events = Vec::new();
    for seq in 1..=last {
        if let Ok(m) = stream.get_raw_message(seq).await {
            let id = m
                .headers
                .get(async_nats::header::NATS_MESSAGE_ID)
                .map(|v| v.to_string());
            let batched = m
                .headers
                .get(ce::TYPE)
                .is_some_and(|t| t.as_str() == ce::USAGE_BATCH_TYPE);
            if batched {
                let batch = UsageBatch::decode(m.payload.as_ref()).unwrap();
                events.extend(batch.events.into_iter().map(|e| (e, id.clone(), true)));
            } else {
                events.push((UsageEvent::decode(m.payload.as_ref()).unwrap(), id, false));
            }
        }
    }
    events
}

async fn wait_for_events(nats_url: &str, prefix: &str, n: usize) -> Vec<UsageEvent> {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let events = usage_events(nats_url, prefix).await;
        if events.len() >= n || std::time::Instant::now() > deadline {
            assert_eq!(events.len(), n, "usage events in the stream");
            for (e, id, batched) in &events {
                let id = id.as_deref().unwrap_or_default();
                if *batched {
                    assert!(id.starts_with("kwb-"), "a batch's Nats-Msg-Id: {id}");
                } else {
                    assert_eq!(id, e.event_id, "a single event's Nats-Msg-Id is the event id");
                }
            }
            return events.into_iter().map(|(e, _, _)| e).collect();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn every_request_emits_one_event_with_the_reported_tokens_and_exact_cost() {
    let stack = TestStack::spawn().await;
    let prefix = stack.isolation.nats_prefix.clone();
    // 1: JSON chat, "hello there" = 2 input words; reply has 10 words.
    assert_eq!(
        stack
            .post("/v1/chat/completions", chat("mock-gpt", "hello there"))
            .await
            .status(),
        200
    );
    // 2: a stream without include_usage: Keyway asks for usage, and strips it.
    let mut streamed = chat("mock-gpt", "one two three");
    streamed["stream"] = json!(true);
    let text = stack
        .post("/v1/chat/completions", streamed)
        .await
        .text()
        .await
        .unwrap();
    // The usage chunk is removed; the others carry `"usage": null`, as
    // OpenAI's do once usage is asked for, and pass as they are.
    assert!(
        !text.contains("prompt_tokens") && text.contains("\"usage\":null"),
        "the client did not ask for usage: {text}"
    );
    // 3: Anthropic stream with cached tokens.
    let anthropic = json!({"model": "mock-claude", "max_tokens": 9, "stream": true,
        "messages": [{"role": "user", "content": "a b c d e"}], "mock": {"cached_tokens": 2}});
    let _ = stack
        .post("/v1/messages", anthropic.clone())
        .await
        .text()
        .await
        .unwrap();
    // 4: an upstream failure and 5: an unknown model are events too.
    let mut broken = chat("mock-gpt", "x");
    broken["mock"] = json!({"error": "500"});
    assert_eq!(stack.post("/v1/chat/completions", broken).await.status(), 502);
    assert_eq!(
        stack
            .post("/v1/chat/completions", chat("nope", "x"))
            .await
            .status(),
        404
    );
    // Unauthenticated requests bill nobody and emit nothing.
    let _ = stack
        .http
        .post(stack.url("/v1/chat/completions"))
        .json(&chat("mock-gpt", "x"))
        .send()
        .await;

    let events = wait_for_events(crate::helpers::nats_url(), &prefix, 5).await;
    let by_route = |i: usize| &events[i];
    let json_chat = by_route(0);
    assert_eq!(
        (
            json_chat.input_tokens,
            json_chat.output_tokens,
            json_chat.streamed
        ),
        (2, 10, false)
    );
    assert_eq!(json_chat.tenant_id, "platform");
    assert_eq!(
        (json_chat.model.as_str(), json_chat.upstream_model.as_str()),
        ("mock-gpt", "mock-model")
    );
    // 2 × 0.15 + 10 × 0.60 micro-units per token = 6.3 → 6.
    assert_eq!((json_chat.cost_micros, json_chat.currency.as_str()), (6, "USD"));
    assert_eq!(json_chat.price.as_ref().unwrap().output_micros_per_mtok, 600_000);
    let stream_chat = by_route(1);
    assert_eq!(
        (
            stream_chat.input_tokens,
            stream_chat.output_tokens,
            stream_chat.streamed
        ),
        (3, 11, true)
    );
    assert!(!stream_chat.estimated);
    let claude = by_route(2);
    // Keyway's input includes cached tokens: 5 words, 2 of them cached.
    assert_eq!(
        (claude.input_tokens, claude.cached_tokens, claude.output_tokens),
        (5, 2, 13)
    );
    // 3 × 3.00 + 2 × 0.30 + 13 × 15.00 = 204.6 → 205.
    assert_eq!(claude.cost_micros, 205);
    assert_eq!(
        (
            by_route(3).status,
            by_route(3).error_code.as_str(),
            by_route(3).cost_micros
        ),
        (502, "KW-UP-002", 0)
    );
    assert_eq!(
        (by_route(4).status, by_route(4).error_code.as_str()),
        (404, "KW-MODEL-001")
    );
    let ids: std::collections::HashSet<_> = events.iter().map(|e| e.event_id.clone()).collect();
    assert_eq!(ids.len(), 5);
}

#[tokio::test]
async fn a_client_that_hangs_up_mid_stream_is_still_billed_and_missing_usage_is_estimated() {
    let stack = TestStack::spawn().await;
    let prefix = stack.isolation.nats_prefix.clone();
    let mut slow = chat("mock-gpt", "please stream slowly");
    slow["stream"] = json!(true);
    slow["mock"] = json!({"chunks": 8, "chunk_delay_ms": 300});
    let response = stack.post("/v1/chat/completions", slow).await;
    let mut body = response.bytes_stream();
    let _first = body.next().await.unwrap().unwrap();
    let _second = body.next().await.unwrap().unwrap();
    drop(body);

    let mut silent = chat("mock-gpt", "count these words please");
    silent["mock"] = json!({"omit_usage": true});
    assert_eq!(stack.post("/v1/chat/completions", silent).await.status(), 200);

    let events = wait_for_events(crate::helpers::nats_url(), &prefix, 2).await;
    let hung_up = events
        .iter()
        .find(|e| e.client_disconnected)
        .expect("a disconnect event");
    assert!(hung_up.streamed && hung_up.estimated, "{hung_up:?}");
    assert!(hung_up.input_tokens > 0 && hung_up.cost_micros >= 0);
    let estimated = events.iter().find(|e| !e.client_disconnected).unwrap();
    assert!(estimated.estimated);
    // cl100k_base: "count these words please" is 4 tokens; the reply is longer.
    assert_eq!(estimated.input_tokens, 4);
    assert!(estimated.output_tokens > 4);
}

/// A private NATS server: this test stops it, never the shared one.
pub(crate) struct PrivateNats {
    child: Option<Child>,
    port: u16,
    store: tempfile::TempDir,
}

impl PrivateNats {
    pub(crate) fn start() -> Self {
        // Restarted on the same port after an outage: one the kernel never
        // hands to a client socket meanwhile.
        let port = crate::ports::server_port();
        let mut nats = Self {
            child: None,
            port,
            store: tempfile::tempdir().unwrap(),
        };
        nats.up();
        nats
    }

    pub(crate) fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub(crate) fn up(&mut self) {
        // Debian installs it in /usr/sbin, which is not on every PATH.
        let bin = if std::path::Path::new("/usr/sbin/nats-server").exists() {
            "/usr/sbin/nats-server"
        } else {
            "nats-server"
        };
        let child = Command::new(bin)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js", "-sd"])
            .arg(self.store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server (apt-get install nats-server) starts");
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "private nats-server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn down(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        self.down();
    }
}

#[tokio::test]
async fn events_spool_while_nats_is_down_and_replay_without_loss_or_duplicates() {
    let mut nats = PrivateNats::start();
    let url = nats.url();
    let stack = TestStack::spawn_with(&[("KEYWAY_NATS_URL", url.as_str())]).await;
    let prefix = stack.isolation.nats_prefix.clone();
    for i in 0..5 {
        assert_eq!(
            stack
                .post("/v1/chat/completions", chat("mock-gpt", &format!("before {i}")))
                .await
                .status(),
            200
        );
    }
    wait_for_events(&url, &prefix, 5).await;

    nats.down();
    for i in 0..20 {
        let status = stack
            .post("/v1/chat/completions", chat("mock-gpt", &format!("during {i}")))
            .await
            .status();
        assert_eq!(status, 200, "traffic keeps flowing while NATS is down");
    }
    eventually("readyz reports the spool", || async {
        let r: serde_json::Value = stack
            .http
            .get(stack.url("/readyz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["status"] == "degraded" && r["usage_spool"]["pending_bytes"].as_u64().unwrap_or(0) > 0
    })
    .await;

    nats.up();
    for i in 0..5 {
        let _ = stack
            .post("/v1/chat/completions", chat("mock-gpt", &format!("after {i}")))
            .await;
    }
    let events = wait_for_events(&url, &prefix, 30).await;
    let ids: std::collections::HashSet<_> = events.iter().map(|e| e.event_id.clone()).collect();
    assert_eq!(ids.len(), 30, "no event lost, none duplicated");
    let during: Vec<u64> = events
        .iter()
        .filter(|e| e.input_tokens == 2)
        .map(|e| e.occurred_at_unix_ms as u64)
        .collect();
    assert_eq!(during.len(), 30, "every event has the reported tokens");
}

#[tokio::test]
async fn gateway_traffic_reaches_the_billing_views_and_the_keys_last_used_at() {
    use crate::keys_api::{admin, new_api_key, new_tenant};
    let stack = TestStack::spawn().await;
    let tenant = new_tenant(&stack, "starter").await;
    let (key_id, key) = new_api_key(&stack, &tenant, json!({"name": "billing"})).await;
    for _ in 0..3 {
        let response = stack
            .http
            .post(stack.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&chat("mock-gpt", "hello there"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let summary_path = format!("/api/v1/usage/summary?tenant_id={tenant}&group_by=model");
    eventually("three requests are in the billing views", || async {
        let (_, s) = admin(&stack, "GET", &summary_path, None).await;
        s["totals"]["requests"] == 3
    })
    .await;
    let (_, summary) = admin(&stack, "GET", &summary_path, None).await;
    let totals = &summary["totals"];
    // Each: 2 input and 10 output tokens, 6 micro-USD (see the test above).
    assert_eq!(
        (totals["input_tokens"].as_i64(), totals["output_tokens"].as_i64()),
        (Some(6), Some(30)),
        "{summary}"
    );
    assert_eq!(
        (totals["cost_micros"].as_i64(), totals["currency"].as_str()),
        (Some(18), Some("USD")),
        "{summary}"
    );
    assert_eq!(summary["rows"][0]["key"], "mock-gpt");

    let key_path = format!("/api/v1/tenants/{tenant}/api-keys/{key_id}");
    eventually("the key's last_used_at comes from its usage events", || async {
        let (_, k) = admin(&stack, "GET", &key_path, None).await;
        k["last_used_at"].is_string()
    })
    .await;
}
