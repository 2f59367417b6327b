//! Traces: with `KEYWAY_OTLP_ENDPOINT` set, one request is one trace from
//! the caller's `traceparent` through Keyway to the upstream. The test runs
//! its own OTLP/gRPC receiver and the real `keyway up`.

use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::{KeyValue, any_value::Value},
    trace::v1::{Span, span::SpanKind},
};

use crate::helpers::{KeywayProcess, chat, eventually};

/// Every span exported to it, in arrival order.
#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<Vec<Span>>>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let spans = request
            .into_inner()
            .resource_spans
            .into_iter()
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans);
        self.0.lock().unwrap().extend(spans);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Receiver {
    async fn start() -> (String, Self) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let receiver = Self::default();
        let server = tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(receiver.clone()))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener));
        tokio::spawn(server);
        (endpoint, receiver)
    }

    fn spans_of(&self, trace_id: &[u8]) -> Vec<Span> {
        let spans = self.0.lock().unwrap();
        spans.iter().filter(|s| s.trace_id == trace_id).cloned().collect()
    }
}

fn attribute<'a>(span: &'a Span, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|KeyValue { key: k, .. }| k == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn text(span: &Span, key: &str) -> Option<String> {
    match attribute(span, key)? {
        Value::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

fn number(span: &Span, key: &str) -> Option<i64> {
    match attribute(span, key)? {
        Value::IntValue(n) => Some(*n),
        _ => None,
    }
}

/// The address of the in-process mock, from the banner on stderr.
fn mock_url(process: &KeywayProcess) -> String {
    let logs = process.logs();
    let rest = logs
        .split("mock upstream (in-process): ")
        .nth(1)
        .expect("the banner names the mock upstream");
    let url = rest.split_whitespace().next().unwrap();
    url.trim_end_matches("/v1").to_owned()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn a_chat_is_one_trace_from_the_caller_through_keyway_to_the_upstream() {
    let (endpoint, receiver) = Receiver::start().await;
    let process = KeywayProcess::start(&[
        ("KEYWAY_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ]);
    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let caller_span = "00f067aa0ba902b7";
    let response = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", process.base))
        .bearer_auth(&process.isolation.admin_key)
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .json(&chat("mock-gpt", "trace me"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let answer: serde_json::Value = response.json().await.unwrap();
    let usage = &answer["usage"];

    // What the upstream received: the same trace, and a span of Keyway's.
    let seen: serde_json::Value = reqwest::get(format!("{}/mock/last-traceparent", mock_url(&process)))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let upstream_parent = seen["traceparent"]
        .as_str()
        .expect("the mock received a traceparent");
    let parts: Vec<&str> = upstream_parent.split('-').collect();
    assert_eq!(parts.len(), 4, "{upstream_parent}");
    assert_eq!(
        parts[1], trace_id,
        "the upstream call continues the caller's trace"
    );
    assert_ne!(
        parts[2], caller_span,
        "Keyway's own span is the upstream's parent"
    );

    let trace_bytes: Vec<u8> = (0..32)
        .step_by(2)
        .map(|i| u8::from_str_radix(&trace_id[i..i + 2], 16).unwrap())
        .collect();
    let names = [
        "request",
        "authenticate",
        "resolve credential",
        "chat mock-model",
        "publish usage event",
    ];
    eventually("the request's spans reach the receiver", || {
        let spans = receiver.spans_of(&trace_bytes);
        async move { names.iter().all(|n| spans.iter().any(|s| s.name == *n)) }
    })
    .await;
    let spans = receiver.spans_of(&trace_bytes);
    let named = |name: &str| spans.iter().find(|s| s.name == name).unwrap();

    let upstream = named("chat mock-model");
    assert_eq!(
        hex(&upstream.span_id),
        parts[2],
        "the traceparent the upstream got names the upstream call's span"
    );
    assert_eq!(upstream.kind, SpanKind::Client as i32);
    assert_eq!(text(upstream, "gen_ai.operation.name").as_deref(), Some("chat"));
    assert_eq!(
        text(upstream, "gen_ai.request.model").as_deref(),
        Some("mock-model")
    );
    assert_eq!(text(upstream, "gen_ai.provider.name").as_deref(), Some("openai"));
    assert_eq!(number(upstream, "http.response.status_code"), Some(200));

    let request = named("request");
    assert_eq!(
        hex(&request.parent_span_id),
        caller_span,
        "Keyway's server span continues the caller's"
    );
    assert_eq!(request.kind, SpanKind::Server as i32);
    assert_eq!(
        number(request, "gen_ai.usage.input_tokens"),
        usage["prompt_tokens"].as_i64()
    );
    assert_eq!(
        number(request, "gen_ai.usage.output_tokens"),
        usage["completion_tokens"].as_i64()
    );
    for child in ["authenticate", "resolve credential", "chat mock-model"] {
        assert_eq!(
            named(child).parent_span_id,
            request.span_id,
            "{child} is a child of the request"
        );
    }
    assert!(spans.iter().all(|s| s.trace_id == trace_bytes));
}

/// Issues a tenant and an API key on the key service with its admin key.
async fn issue_api_key(keys: &KeywayProcess) -> String {
    let http = reqwest::Client::new();
    let admin = &keys.isolation.admin_key;
    let tenant: serde_json::Value = http
        .post(format!("{}/api/v1/tenants", keys.base))
        .bearer_auth(admin)
        .json(&serde_json::json!({"name": "Traced", "plan": "starter"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tenant = tenant["id"].as_str().expect("tenant created");
    let key: serde_json::Value = http
        .post(format!("{}/api/v1/tenants/{tenant}/api-keys", keys.base))
        .bearer_auth(admin)
        .json(&serde_json::json!({"name": "traced"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    key["key"].as_str().expect("API key issued").to_owned()
}

#[tokio::test]
async fn a_gateway_running_apart_carries_the_trace_into_the_key_service() {
    let (endpoint, receiver) = Receiver::start().await;
    let token = crate::helpers::random_secret("internal-token-");
    let tracing_env = [
        ("KEYWAY_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("KEYWAY_INTERNAL_TOKEN", token.as_str()),
    ];
    let keys = KeywayProcess::start_args(&["run", "keys"], &tracing_env);
    let prefix = keys.isolation.nats_prefix.clone();
    let mut gateway_env = tracing_env.to_vec();
    gateway_env.extend([
        ("KEYWAY_KEYS_URL", keys.base.as_str()),
        ("KEYWAY_NATS_PREFIX", prefix.as_str()),
    ]);
    let gateway = KeywayProcess::start_args(&["run", "gateway"], &gateway_env);
    let key = issue_api_key(&keys).await;

    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let response = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", gateway.base))
        .bearer_auth(&key)
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .json(&chat("mock-gpt", "across processes"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());

    let trace_bytes: Vec<u8> = (0..32)
        .step_by(2)
        .map(|i| u8::from_str_radix(&trace_id[i..i + 2], 16).unwrap())
        .collect();
    // The key service's request span is the child of the gateway's client
    // span for the same internal call: one trace across both processes.
    eventually("the key service's span joins the gateway's trace", || {
        let spans = receiver.spans_of(&trace_bytes);
        async move {
            spans
                .iter()
                .filter(|s| s.name == "POST /internal/v1/authenticate" && s.kind == SpanKind::Client as i32)
                .any(|client| {
                    spans.iter().any(|s| {
                        s.name == "request"
                            && s.parent_span_id == client.span_id
                            && text(s, "path").as_deref() == Some("/internal/v1/authenticate")
                    })
                })
        }
    })
    .await;
}
