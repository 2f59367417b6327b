//! CORS is off unless `KEYWAY_CORS_ORIGINS` lists origins; then only those
//! origins get preflights answered and responses they may read.

use reqwest::{Method, Response};

use crate::helpers::TestStack;

const APP: &str = "https://app.example.com";

async fn preflight(stack: &TestStack, origin: &str) -> Response {
    stack
        .http
        .request(Method::OPTIONS, stack.url("/v1/chat/completions"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type, x-stainless-os",
        )
        .send()
        .await
        .unwrap()
}

fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn without_configured_origins_no_response_carries_cors_headers() {
    let stack = TestStack::spawn().await;
    let answer = preflight(&stack, APP).await;
    assert_eq!(header(&answer, "access-control-allow-origin"), None);
    let models = stack
        .http
        .get(stack.url("/v1/models"))
        .bearer_auth(&stack.admin_key)
        .header("origin", APP)
        .send()
        .await
        .unwrap();
    assert_eq!(models.status(), 200);
    assert!(
        !models
            .headers()
            .keys()
            .any(|k| k.as_str().starts_with("access-control-")),
        "{:?}",
        models.headers()
    );
}

#[tokio::test]
async fn listed_origins_get_preflights_answered_and_others_get_nothing() {
    let stack = TestStack::spawn_with(&[(
        "KEYWAY_CORS_ORIGINS",
        "https://app.example.com,http://localhost:5173",
    )])
    .await;
    let answer = preflight(&stack, APP).await;
    assert!(answer.status().is_success(), "{}", answer.status());
    assert_eq!(header(&answer, "access-control-allow-origin"), Some(APP));
    assert!(header(&answer, "access-control-allow-methods").is_some_and(|m| m.contains("POST")));
    let allowed = header(&answer, "access-control-allow-headers").unwrap_or_default();
    assert!(
        allowed.contains("authorization") && allowed.contains("x-stainless-os"),
        "{allowed}"
    );
    // Bearer keys are not browser credentials: no credentialed CORS by default.
    assert_eq!(header(&answer, "access-control-allow-credentials"), None);

    let stranger = preflight(&stack, "https://evil.example.com").await;
    assert_eq!(header(&stranger, "access-control-allow-origin"), None);

    // Real answers, refusals included, are readable by the listed origin.
    let refused = stack
        .http
        .get(stack.url("/api/v1/tenants"))
        .header("origin", APP)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(header(&refused, "access-control-allow-origin"), Some(APP));
    let exposed = header(&refused, "access-control-expose-headers").unwrap_or_default();
    assert!(exposed.contains("retry-after"), "{exposed}");
}
