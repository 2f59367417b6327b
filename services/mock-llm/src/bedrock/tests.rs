#![expect(clippy::unwrap_used)]
use std::time::SystemTime;

use aws_smithy_eventstream::frame::read_message_from;
use keyway_common::sigv4::{self, AwsCredentials, Scope};

use super::*;
use crate::config::MockConfig;
use crate::test_support::{post_raw, send};

const PATH: &str = "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke";

fn signed(path: &str, body: &str, secret: &str) -> axum::http::Request<Body> {
    let creds = AwsCredentials::new(TEST_ACCESS_KEY_ID, secret, None);
    let url = format!("http://bedrock.mock.test{path}");
    let added = sigv4::sign(
        "POST",
        &url,
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
    json!({"anthropic_version": VERSION, "max_tokens": 20,
        "messages": [{"role": "user", "content": "hello bedrock"}]})
    .to_string()
}

#[tokio::test]
async fn a_correctly_signed_invoke_answers_anthropic_json() {
    let reply = send(
        MockConfig::default(),
        signed(PATH, &body(), TEST_SECRET_ACCESS_KEY),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let json = reply.json();
    assert_eq!(json["type"], "message");
    assert_eq!(json["model"], "anthropic.claude-3-haiku-20240307-v1:0");
    assert!(json["usage"]["input_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn a_wrong_secret_or_a_tampered_body_is_refused_with_bedrocks_403() {
    let reply = send(MockConfig::default(), signed(PATH, &body(), "not-the-secret")).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.headers["x-amzn-errortype"], "InvalidSignatureException");
    assert!(reply.json()["message"].as_str().unwrap().contains("signature"));

    let mut request = signed(PATH, &body(), TEST_SECRET_ACCESS_KEY);
    *request.body_mut() = Body::from(body().replace("hello", "HELLO"));
    let reply = send(MockConfig::default(), request).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);

    let unsigned = post_raw(PATH, body(), &[("host", "bedrock.mock.test")]);
    assert_eq!(
        send(MockConfig::default(), unsigned).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_body_with_model_or_stream_is_a_validation_error() {
    let bad =
        json!({"anthropic_version": VERSION, "model": "x", "max_tokens": 5, "messages": []}).to_string();
    let reply = send(MockConfig::default(), signed(PATH, &bad, TEST_SECRET_ACCESS_KEY)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.json()["message"].as_str().unwrap().contains("[model]"));
}

#[tokio::test]
async fn the_streaming_invoke_answers_event_stream_frames_of_anthropic_events() {
    let path = "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke-with-response-stream";
    let reply = send(
        MockConfig::default(),
        signed(path, &body(), TEST_SECRET_ACCESS_KEY),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.headers["content-type"],
        "application/vnd.amazon.eventstream"
    );
    let mut buffer = Bytes::from(reply.body);
    let mut types = Vec::new();
    while !buffer.is_empty() {
        let message = read_message_from(&mut buffer).unwrap();
        let payload: Value = serde_json::from_slice(message.payload()).unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(payload["bytes"].as_str().unwrap())
            .unwrap();
        let event: Value = serde_json::from_slice(&raw).unwrap();
        types.push(event["type"].as_str().unwrap().to_owned());
    }
    assert_eq!(types.first().map(String::as_str), Some("message_start"));
    assert_eq!(types.last().map(String::as_str), Some("message_stop"));
    assert!(types.iter().any(|t| t == "content_block_delta"));
}
