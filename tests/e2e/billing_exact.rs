//! Billing is exact: a randomized workload through the real gateway — JSON
//! and streamed, OpenAI and Anthropic, upstream errors and clients hanging
//! up — is billed with exactly the tokens the mock upstream reported, and
//! only the hang-ups (which never saw a usage report) are estimated.

use futures::StreamExt;
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::{Value, json};

use crate::{
    helpers::{TestStack, eventually},
    keys_api::{admin, new_api_key, new_tenant},
};

#[derive(Default, Debug, PartialEq)]
struct Tokens {
    input: i64,
    output: i64,
    cached: i64,
}

/// The usage the mock reported in a response the client saw whole.
fn reported(route: &str, body: &str, streamed: bool) -> Tokens {
    let usage_of = |v: &Value| -> Option<Tokens> {
        let u = if route == "/v1/messages" {
            v.get("usage").or_else(|| v.pointer("/message/usage"))?
        } else {
            v.get("usage")?
        };
        if !u.is_object() {
            return None;
        }
        Some(if route == "/v1/messages" {
            let cached = u["cache_read_input_tokens"].as_i64().unwrap_or(0);
            Tokens {
                input: u["input_tokens"].as_i64().unwrap_or(0) + cached,
                output: u["output_tokens"].as_i64().unwrap_or(0),
                cached,
            }
        } else {
            Tokens {
                input: u["prompt_tokens"].as_i64().unwrap_or(0),
                output: u["completion_tokens"].as_i64().unwrap_or(0),
                cached: u["prompt_tokens_details"]["cached_tokens"].as_i64().unwrap_or(0),
            }
        })
    };
    if !streamed {
        return usage_of(&serde_json::from_str(body).unwrap()).unwrap();
    }
    let mut total = Tokens::default();
    for data in body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
    {
        if let Some(t) = usage_of(&serde_json::from_str(data).unwrap()) {
            // Anthropic: message_start has input, message_delta the final output.
            total.input = total.input.max(t.input);
            total.cached = total.cached.max(t.cached);
            total.output = t.output.max(total.output);
        }
    }
    total
}

#[tokio::test]
async fn a_randomized_workload_is_billed_exactly_what_the_upstream_reported() {
    let stack = TestStack::spawn().await;
    let tenant = new_tenant(&stack, "pro").await;
    let (_, key) = new_api_key(&stack, &tenant, json!({"name": "load"})).await;
    let mut rng = StdRng::seed_from_u64(20261122);
    let mut expected = Tokens::default();
    let (mut requests, mut hang_ups) = (0, 0);
    for i in 0..40 {
        let words = (0..rng.random_range(1..12))
            .map(|w| format!("w{i}x{w}"))
            .collect::<Vec<_>>()
            .join(" ");
        let anthropic = rng.random_bool(0.5);
        let streamed = rng.random_bool(0.5);
        let kind = rng.random_range(0..5);
        let (route, mut body) = if anthropic {
            (
                "/v1/messages",
                json!({"model": "mock-claude", "max_tokens": 50, "messages": [{"role": "user", "content": words}]}),
            )
        } else {
            (
                "/v1/chat/completions",
                json!({"model": "mock-gpt", "messages": [{"role": "user", "content": words}]}),
            )
        };
        body["stream"] = json!(streamed);
        body["mock"] = json!({"cached_tokens": rng.random_range(0..3)});
        if streamed && !anthropic && rng.random_bool(0.5) {
            body["stream_options"] = json!({"include_usage": true});
        }
        if kind == 0 {
            body["mock"]["error"] = json!("500");
        }
        let hang_up = streamed && kind == 1;
        if hang_up {
            body["mock"]["chunk_delay_ms"] = json!(200);
        }
        requests += 1;
        let response = stack
            .http
            .post(stack.url(route))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
            .unwrap();
        if kind == 0 {
            assert_eq!(response.status(), 502);
            continue;
        }
        assert_eq!(response.status(), 200);
        if hang_up {
            let mut chunks = response.bytes_stream();
            let _ = chunks.next().await;
            hang_ups += 1;
            continue;
        }
        let text = response.text().await.unwrap();
        let t = if streamed && !anthropic && body.get("stream_options").is_none() {
            // The client did not ask for usage and got none: the mock's
            // count is deterministic (one token per word), so recompute it.
            let mut without = body.clone();
            without["stream"] = json!(false);
            let replay = stack
                .http
                .post(stack.url(route))
                .bearer_auth(&key)
                .json(&without)
                .send()
                .await
                .unwrap();
            requests += 1;
            let again = reported(route, &replay.text().await.unwrap(), false);
            expected.input += again.input;
            expected.output += again.output;
            expected.cached += again.cached;
            again
        } else {
            reported(route, &text, streamed)
        };
        expected.input += t.input;
        expected.output += t.output;
        expected.cached += t.cached;
    }

    assert!(
        hang_ups > 0 && expected.output > 0 && expected.cached > 0,
        "the workload covers every case"
    );
    let path = format!("/api/v1/usage/events?tenant_id={tenant}&limit=1000");
    eventually("every request is in the ledger", || async {
        let (_, page) = admin(&stack, "GET", &path, None).await;
        page["events"].as_array().is_some_and(|e| e.len() == requests)
    })
    .await;
    let (_, page) = admin(&stack, "GET", &path, None).await;
    let events = page["events"].as_array().unwrap();
    let (estimated, exact): (Vec<&Value>, Vec<&Value>) =
        events.iter().partition(|e| e["data"]["estimated"] == true);
    assert_eq!(estimated.len(), hang_ups, "only the hang-ups are estimated");
    assert!(
        estimated
            .iter()
            .all(|e| e["data"]["client_disconnected"] == true || e["data"]["streamed"] == true)
    );
    let sum = |field: &str| {
        exact
            .iter()
            .map(|e| e["data"][field].as_i64().unwrap_or(0))
            .sum::<i64>()
    };
    let billed = Tokens {
        input: sum("input_tokens"),
        output: sum("output_tokens"),
        cached: sum("cached_tokens"),
    };
    assert_eq!(billed, expected, "billed tokens equal what the upstream reported");

    // The billing views agree with the ledger, to the micro-unit.
    let (_, summary) = admin(
        &stack,
        "GET",
        &format!("/api/v1/usage/summary?tenant_id={tenant}&group_by=model"),
        None,
    )
    .await;
    let all = |field: &str| {
        events
            .iter()
            .map(|e| e["data"][field].as_i64().unwrap_or(0))
            .sum::<i64>()
    };
    assert_eq!(summary["totals"]["requests"].as_i64(), Some(requests as i64));
    assert_eq!(
        summary["totals"]["cost_micros"].as_i64(),
        Some(all("cost_micros"))
    );
    assert_eq!(
        summary["totals"]["input_tokens"].as_i64(),
        Some(all("input_tokens"))
    );
}
