#![expect(clippy::unwrap_used)]
use std::time::SystemTime;

use aws_smithy_eventstream::frame::read_message_from;
use keyway_common::sigv4::{self, AwsCredentials, Scope};

use super::*;
use crate::bedrock_sigv4::TEST_SECRET_ACCESS_KEY;
use crate::config::MockConfig;
use crate::test_support::{post_raw, send};

const PATH: &str = "/model/meta.llama3-1-70b-instruct-v1%3A0/converse";

fn signed(path: &str, body: &str, secret: &str) -> axum::http::Request<Body> {
    let creds = AwsCredentials::new(TEST_ACCESS_KEY_ID, secret, None);
    let added = sigv4::sign(
        "POST",
        &format!("http://bedrock.mock.test{path}"),
        &[("content-type", "application/json")],
        body.as_bytes(),
        &Scope {
            credentials: &creds,
            region: "us-east-1",
            service: "bedrock",
            time: SystemTime::now(),
        },
    )
    .unwrap();
    let mut headers: Vec<(&str, &str)> = vec![("host", "bedrock.mock.test")];
    headers.extend(added.iter().map(|(n, v)| (*n, v.as_str())));
    post_raw(path, body.to_owned(), &headers)
}

fn body() -> String {
    json!({"system": [{"text": "be brief"}], "inferenceConfig": {"maxTokens": 20},
        "messages": [{"role": "user", "content": [{"text": "hello converse"}]}]})
    .to_string()
}

#[tokio::test]
async fn a_signed_converse_answers_converse_json_with_usage() {
    let reply = send(
        MockConfig::default(),
        signed(PATH, &body(), TEST_SECRET_ACCESS_KEY),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let json = reply.json();
    let text = json["output"]["message"]["content"][0]["text"].as_str().unwrap();
    assert!(!text.is_empty());
    assert_eq!(json["stopReason"], "end_turn");
    let usage = &json["usage"];
    assert_eq!(usage["inputTokens"], 4, "system and prompt words: {json}");
    assert_eq!(
        usage["totalTokens"].as_u64(),
        Some(usage["inputTokens"].as_u64().unwrap() + usage["outputTokens"].as_u64().unwrap())
    );
}

#[tokio::test]
async fn unsigned_wrongly_signed_or_openai_shaped_bodies_are_refused() {
    let unsigned = post_raw(PATH, body(), &[("host", "bedrock.mock.test")]);
    assert_eq!(
        send(MockConfig::default(), unsigned).await.status,
        StatusCode::FORBIDDEN
    );
    let wrong = send(MockConfig::default(), signed(PATH, &body(), "wrong")).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    for (bad, named) in [
        (json!({"model": "m", "messages": []}), "[model]"),
        (
            json!({"messages": [{"role": "user", "content": "plain string"}]}),
            "must be a list",
        ),
    ] {
        let reply = send(
            MockConfig::default(),
            signed(PATH, &bad.to_string(), TEST_SECRET_ACCESS_KEY),
        )
        .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert!(
            reply.json()["message"].as_str().unwrap().contains(named),
            "{}",
            reply.text()
        );
    }
}

#[tokio::test]
async fn converse_stream_answers_event_stream_frames_ending_in_usage() {
    let path = "/model/meta.llama3-1-70b-instruct-v1%3A0/converse-stream";
    let reply = send(
        MockConfig::default(),
        signed(path, &body(), TEST_SECRET_ACCESS_KEY),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(
        reply.headers["content-type"],
        "application/vnd.amazon.eventstream"
    );
    let mut buffer = Bytes::from(reply.body);
    let (mut kinds, mut text, mut last) = (Vec::new(), String::new(), Value::Null);
    while !buffer.is_empty() {
        let message = read_message_from(&mut buffer).unwrap();
        let kind = message
            .headers()
            .iter()
            .find(|h| h.name().as_str() == ":event-type")
            .map(|h| h.value().as_string().unwrap().as_str().to_owned())
            .unwrap();
        let payload: Value = serde_json::from_slice(message.payload()).unwrap();
        if let Some(t) = payload["delta"]["text"].as_str() {
            text.push_str(t);
        }
        kinds.push(kind);
        last = payload;
    }
    assert_eq!(kinds.first().map(String::as_str), Some("messageStart"));
    assert_eq!(&kinds[kinds.len() - 2..], ["messageStop", "metadata"]);
    assert!(kinds.iter().any(|k| k == "contentBlockDelta") && !text.is_empty());
    assert_eq!(last["usage"]["inputTokens"], 4);
    assert!(last["usage"]["outputTokens"].as_u64().unwrap() > 0);
}
