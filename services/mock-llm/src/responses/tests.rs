//! Route tests for the Responses API.
#![expect(clippy::unwrap_used)]

use axum::body::Body;
use axum::http::Request;
use serde_json::{Value, json};

use crate::MockConfig;
use crate::test_support::{post, send};
use crate::{router, test_support::Reply};

const REPLY: &str = "Hello from mock-llm! You said: tell me a joke";

fn request(extra: Value) -> Value {
    let mut body = json!({"model": "gpt-test", "instructions": "be brief", "input": "tell me a joke"});
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    body
}

fn weather_tool() -> Value {
    json!([{"type": "function", "name": "get_weather", "parameters": {"type": "object",
        "properties": {"city": {"type": "string"}}, "required": ["city"]}}])
}

/// Sends several requests through one router, so the store is shared.
async fn send_all(requests: Vec<Request<Body>>) -> Vec<Reply> {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let app = router(MockConfig::default());
    let mut replies = Vec::new();
    for request in requests {
        let response = app.clone().oneshot(request).await.unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        let body = response.into_body().collect().await.unwrap().to_bytes().to_vec();
        replies.push(Reply {
            status,
            headers,
            body,
        });
    }
    replies
}

#[tokio::test]
async fn a_json_response_carries_the_text_and_the_usage_details() {
    let body = request(json!({"mock": {"cached_tokens": 1, "reasoning_tokens": 4}}));
    let reply = send(MockConfig::default(), post("/v1/responses", &body, &[])).await;
    assert_eq!(reply.status, 200);
    let r = reply.json();
    assert!(r["id"].as_str().unwrap().starts_with("resp_mock_"));
    assert_eq!(
        (r["object"].as_str(), r["status"].as_str()),
        (Some("response"), Some("completed"))
    );
    let item = &r["output"][0];
    assert_eq!(
        (item["type"].as_str(), item["role"].as_str()),
        (Some("message"), Some("assistant"))
    );
    assert_eq!(item["content"][0]["type"], "output_text");
    assert_eq!(item["content"][0]["text"], REPLY);
    // 2 instruction words + 4 input words; 9 reply words + 4 reasoning.
    assert_eq!(
        r["usage"],
        json!({"input_tokens": 6, "input_tokens_details": {"cached_tokens": 1}, "output_tokens": 13,
               "output_tokens_details": {"reasoning_tokens": 4}, "total_tokens": 19})
    );
}

#[tokio::test]
async fn offered_tools_get_a_function_call_until_the_output_comes_back() {
    let body = request(json!({"tools": weather_tool()}));
    let reply = send(MockConfig::default(), post("/v1/responses", &body, &[])).await;
    let item = &reply.json()["output"][0];
    assert_eq!(item["type"], "function_call");
    assert_eq!(item["name"], "get_weather");
    assert_eq!(item["arguments"], r#"{"city":"mock"}"#);
    let call_id = item["call_id"].as_str().unwrap();
    let body = request(json!({"tools": weather_tool(), "input": [
        {"role": "user", "content": "weather?"}, item.clone(),
        {"type": "function_call_output", "call_id": call_id, "output": "sunny"}]}));
    let reply = send(MockConfig::default(), post("/v1/responses", &body, &[])).await;
    assert_eq!(
        reply.json()["output"][0]["content"][0]["text"],
        "Hello from mock-llm! You said: weather?"
    );
}

fn names(reply: &Reply) -> Vec<String> {
    reply
        .events()
        .into_iter()
        .map(|(name, _)| name.unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn the_text_stream_sends_the_real_event_sequence() {
    let body = request(json!({"stream": true}));
    let reply = send(MockConfig::default(), post("/v1/responses", &body, &[])).await;
    assert_eq!(reply.headers["content-type"], "text/event-stream");
    let mut expected = vec![
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ];
    expected.extend(["response.output_text.delta"; 9]);
    expected.extend([
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]);
    assert_eq!(names(&reply), expected);
    let events = reply.events();
    for (i, (name, data)) in events.iter().enumerate() {
        assert_eq!(data["type"].as_str(), name.as_deref());
        assert_eq!(data["sequence_number"], i);
    }
    let text: String = events
        .iter()
        .filter_map(|(_, d)| d.get("delta")?.as_str())
        .collect();
    assert_eq!(text, REPLY);
    assert_eq!(events[0].1["response"]["status"], "in_progress");
    let completed = &events.last().unwrap().1["response"];
    assert_eq!(completed["status"], "completed");
    assert_eq!(completed["usage"]["output_tokens"], 9);
    assert_eq!(completed["output"][0]["content"][0]["text"], REPLY);
}

#[tokio::test]
async fn the_function_call_stream_sends_argument_deltas() {
    let body = request(json!({"stream": true, "tools": weather_tool(), "mock": {"chunks": 3}}));
    let reply = send(MockConfig::default(), post("/v1/responses", &body, &[])).await;
    let mut expected = vec![
        "response.created",
        "response.in_progress",
        "response.output_item.added",
    ];
    expected.extend(["response.function_call_arguments.delta"; 3]);
    expected.extend([
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]);
    assert_eq!(names(&reply), expected);
    let events = reply.events();
    let args: String = events
        .iter()
        .filter_map(|(_, d)| d.get("delta")?.as_str())
        .collect();
    assert_eq!(args, r#"{"city":"mock"}"#);
    assert_eq!(events[6].1["arguments"], args);
    assert_eq!(events[7].1["item"]["arguments"], args);
}

#[tokio::test]
async fn a_stored_response_is_retrieved_listed_deleted_and_then_gone() {
    let create = post("/v1/responses", &request(json!({})), &[]);
    let id = "resp_mock_1";
    let get = |uri: String| Request::get(uri).body(Body::empty()).unwrap();
    let delete = Request::delete(format!("/v1/responses/{id}"))
        .body(Body::empty())
        .unwrap();
    let replies = send_all(vec![
        create,
        get(format!("/v1/responses/{id}")),
        get(format!("/v1/responses/{id}/input_items")),
        post(&format!("/v1/responses/{id}/cancel"), &json!({}), &[]),
        delete,
        get(format!("/v1/responses/{id}")),
    ])
    .await;
    assert_eq!(replies[0].json()["id"], id);
    assert_eq!(replies[1].json(), replies[0].json());
    let items = replies[2].json();
    assert_eq!(items["object"], "list");
    assert_eq!(
        items["data"][0]["content"],
        json!([{"type": "input_text", "text": "tell me a joke"}])
    );
    assert_eq!(
        replies[3].status, 400,
        "only background responses can be cancelled"
    );
    assert_eq!(
        replies[4].json(),
        json!({"id": id, "object": "response", "deleted": true})
    );
    assert_eq!(replies[5].status, 404);
    assert_eq!(
        replies[5].json()["error"]["message"],
        format!("No response found with id '{id}'.")
    );
}

#[tokio::test]
async fn a_background_response_can_be_cancelled() {
    let replies = send_all(vec![
        post("/v1/responses", &request(json!({"background": true})), &[]),
        post("/v1/responses/resp_mock_1/cancel", &json!({}), &[]),
    ])
    .await;
    assert_eq!(replies[0].json()["status"], "in_progress");
    assert_eq!(replies[1].json()["status"], "cancelled");
}

#[tokio::test]
async fn input_tokens_counts_the_prompt() {
    let reply = send(
        MockConfig::default(),
        post("/v1/responses/input_tokens", &request(json!({})), &[]),
    )
    .await;
    assert_eq!(
        reply.json(),
        json!({"object": "response.input_tokens", "input_tokens": 6})
    );
}
