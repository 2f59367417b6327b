//! Authenticated by default: every operation of the OpenAPI document except
//! the public ones answers 401 without credentials; and a key with an
//! unknown id gets exactly the answer a known id with a wrong secret gets.

use serde_json::{Value, json};

use crate::{
    helpers::TestStack,
    keys_api::{new_api_key, new_tenant},
};

/// The only routes served without credentials (besides `/docs`, which is
/// not an operation of the document).
const PUBLIC: [&str; 3] = ["/healthz", "/readyz", "/openapi.json"];

/// Routes authenticated by a signature rather than a credential. The
/// Keycloak webhook is mounted only with `KEYWAY_KEYCLOAK_WEBHOOK_SECRET`
/// and refuses a missing or bad signature: `identity_follow::webhook` tests
/// both.
const SIGNED: [&str; 1] = ["/api/v1/identity/keycloak/events"];

/// `path` with each `{parameter}` filled in with a plausible value.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| match segment {
            "{provider}" => "openai",
            s if s.starts_with('{') => "route-walk",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_documented_route_but_the_public_ones_needs_credentials() {
    let stack = TestStack::spawn().await;
    for public in PUBLIC.iter().chain(&["/docs/"]) {
        let status = stack.http.get(stack.url(public)).send().await.unwrap().status();
        assert_eq!(status, 200, "{public} must be public");
    }
    let doc: Value = stack
        .http
        .get(stack.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut walked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        if PUBLIC.contains(&path.as_str()) || SIGNED.contains(&path.as_str()) {
            continue;
        }
        for method in item.as_object().unwrap().keys() {
            let mut request = stack
                .http
                .request(method.to_uppercase().parse().unwrap(), stack.url(&concrete(path)));
            if matches!(method.as_str(), "post" | "put" | "patch") {
                request = request.json(&json!({}));
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            assert_eq!(status, 401, "{method} {path} without credentials: {body}");
            // `/v1` answers in the wire's shape; everything else (`/api/v1`,
            // `/metrics`) in Keyway's envelope.
            let code = if path.starts_with("/v1/") {
                &body["error"]["keyway_code"]
            } else {
                &body["error"]["code"]
            };
            assert!(
                code.as_str().is_some_and(|c| c.starts_with("KW-AUTH-00")),
                "{method} {path}: {body}"
            );
            walked += 1;
        }
    }
    assert!(walked > 30, "only {walked} operations were walked");
}

#[tokio::test]
async fn an_unknown_key_id_and_a_wrong_secret_get_byte_identical_answers() {
    let stack = TestStack::spawn().await;
    let tenant = new_tenant(&stack, "pro").await;
    let (id, key) = new_api_key(&stack, &tenant, json!({"name": "real"})).await;
    // Both well formed, with valid checksums, so both reach the lookup.
    let wrong_secret = keyway_keys::key_format::mint_for_id("dev", id).full;
    let unknown_id = keyway_keys::key_format::mint("dev").full;
    assert_ne!(wrong_secret, key);
    let answer = |presented: String, path: &'static str| {
        let request = if path.starts_with("/v1/") {
            stack
                .http
                .post(stack.url(path))
                .json(&crate::helpers::chat("mock-gpt", "x"))
        } else {
            stack.http.get(stack.url(path))
        };
        async move {
            let response = request.bearer_auth(presented).send().await.unwrap();
            let status = response.status();
            let mut headers = response.headers().clone();
            // Per-response, not per-key.
            headers.remove("date");
            headers.remove("x-request-id");
            (status, headers, response.bytes().await.unwrap())
        }
    };
    for path in ["/v1/chat/completions", "/api/v1/tenants", "/api/v1/usage/summary"] {
        let known = answer(wrong_secret.clone(), path).await;
        let unknown = answer(unknown_id.clone(), path).await;
        assert_eq!(known.0, 401, "{path}");
        assert_eq!(known, unknown, "{path}: the answers differ");
    }
}
