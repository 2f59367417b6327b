//! The `/v1` success schemas are true to what clients get: every route is
//! called through the gateway against mock-llm (passed through and
//! translated, JSON and SSE), and each body, or each SSE event's `data`, is
//! validated against the schema the document gives for that status and
//! media type. schemathesis (`api_fuzz`) rarely reaches a 200 on `/v1`,
//! because it does not know the catalog's model names; this does.

use futures::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};

use crate::{helpers::TestStack, openapi_coverage::validator};

/// The documented schema of `path`'s answer with `status` as `media`.
fn documented<'a>(doc: &'a Value, method: &Method, path: &str, status: u16, media: &str) -> &'a Value {
    let operation = &doc["paths"][path][method.as_str().to_lowercase()];
    let schema = &operation["responses"][status.to_string()]["content"][media]["schema"];
    assert!(
        !schema.is_null(),
        "{method} {path}: no {status} {media} in the document"
    );
    schema
}

/// The JSON bodies of a response: itself, or each SSE event's `data`.
async fn bodies(response: reqwest::Response) -> (String, Vec<Value>) {
    let media = response.headers()["content-type"].to_str().unwrap();
    let media = media.split(';').next().unwrap().trim().to_owned();
    let mut text = String::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    let values = if media == "text/event-stream" {
        text.lines()
            .filter_map(|line| line.strip_prefix("data: "))
            .filter(|data| *data != "[DONE]")
            .map(|data| serde_json::from_str(data).unwrap())
            .collect()
    } else {
        vec![serde_json::from_str(&text).unwrap()]
    };
    (media, values)
}

struct Call {
    method: Method,
    /// The path as called, and as the document names it.
    path: String,
    template: &'static str,
    body: Option<Value>,
    anthropic: bool,
}

fn post(template: &'static str, body: Value, anthropic: bool) -> Call {
    Call {
        method: Method::POST,
        path: template.to_owned(),
        template,
        body: Some(body),
        anthropic,
    }
}

/// Calls `call` and checks every body against the document; returns the
/// first body (the caller may need an id from it).
async fn check(stack: &TestStack, doc: &Value, call: Call) -> Value {
    let mut request = stack
        .http
        .request(call.method.clone(), stack.url(&call.path))
        .bearer_auth(&stack.admin_key);
    if call.anthropic {
        request = request.header("anthropic-version", "2023-06-01");
    }
    if let Some(body) = &call.body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let (media, values) = bodies(response).await;
    let what = format!("{} {} ({status} {media})", call.method, call.path);
    let schema = documented(doc, &call.method, call.template, status, &media);
    let validator = validator(schema, &doc["components"]).unwrap();
    assert!(!values.is_empty(), "{what}: no body");
    for value in &values {
        let errors: Vec<String> = validator.iter_errors(value).map(|e| e.to_string()).collect();
        assert!(
            errors.is_empty(),
            "{what} does not fit its schema: {errors:?}\n{value}"
        );
    }
    values[0].clone()
}

fn chat(model: &str, stream: bool) -> Value {
    json!({"model": model, "max_tokens": 64, "stream": stream,
        "messages": [{"role": "user", "content": "hello"}]})
}

#[tokio::test]
async fn every_v1_answer_fits_the_schema_the_document_gives_it() {
    let stack = TestStack::spawn().await;
    let doc: Value = serde_json::from_str(&keyway::openapi::document().unwrap()).unwrap();
    // mock-gpt is on the OpenAI wire and mock-claude on Anthropic's, so each
    // route is met both passed through and translated.
    for model in ["mock-gpt", "mock-claude"] {
        for stream in [false, true] {
            check(
                &stack,
                &doc,
                post("/v1/chat/completions", chat(model, stream), false),
            )
            .await;
            check(&stack, &doc, post("/v1/messages", chat(model, stream), true)).await;
            let responses = json!({"model": model, "input": "hello", "stream": stream});
            check(&stack, &doc, post("/v1/responses", responses, false)).await;
        }
    }
    let completion = json!({"model": "mock-instruct", "prompt": "hello"});
    check(&stack, &doc, post("/v1/completions", completion.clone(), false)).await;
    let mut streamed = completion;
    streamed["stream"] = json!(true);
    check(&stack, &doc, post("/v1/completions", streamed, false)).await;
    let embeddings = json!({"model": "mock-embed", "input": ["one two", "three"]});
    check(&stack, &doc, post("/v1/embeddings", embeddings, false)).await;
    let count = json!({"model": "mock-gpt", "input": "hello"});
    check(&stack, &doc, post("/v1/responses/input_tokens", count, false)).await;
    check(
        &stack,
        &doc,
        post("/v1/messages/count_tokens", chat("mock-claude", false), true),
    )
    .await;
    for anthropic in [false, true] {
        let models = Call {
            method: Method::GET,
            path: "/v1/models".into(),
            template: "/v1/models",
            body: None,
            anthropic,
        };
        check(&stack, &doc, models).await;
    }
    stored_response_routes(&stack, &doc).await;
}

/// The routes on a stored response, in an order that leaves each one
/// something to act on; cancel answers 400 (not a background response),
/// which is checked against the documented error shape.
async fn stored_response_routes(stack: &TestStack, doc: &Value) {
    let created = json!({"model": "mock-gpt", "input": "hello"});
    let created = check(stack, doc, post("/v1/responses", created, false)).await;
    let id = created["id"].as_str().unwrap();
    for (method, suffix, template) in [
        (Method::GET, "", "/v1/responses/{id}"),
        (Method::GET, "/input_items", "/v1/responses/{id}/input_items"),
        (Method::POST, "/cancel", "/v1/responses/{id}/cancel"),
        (Method::DELETE, "", "/v1/responses/{id}"),
    ] {
        let call = Call {
            method,
            path: format!("/v1/responses/{id}{suffix}"),
            template,
            body: None,
            anthropic: false,
        };
        check(stack, doc, call).await;
    }
}
