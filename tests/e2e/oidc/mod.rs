//! Identity through a real OpenID provider (`oidc-provider`, shaped like
//! Keycloak): the seed-003 token matrix, claim layouts, JWKS outages and key
//! rotation, issuer binding, provisioning, and seed 000/004 done with a
//! token alone.

mod journey;
mod matrix;
mod peer;
mod resilience;

use serde_json::{Value, json};

use crate::{helpers::TestStack, keys_api::call};
pub(crate) use peer::OidcPeer;

pub(crate) const ROLE_MAP: &str = "admin=tenant-admin,llm-user=member,ops=platform-admin";

/// A stack trusting `issuers` (comma-separated) for audience `keyway`, and
/// whatever `extra` adds.
pub(crate) async fn oidc_stack(issuers: &str, extra: &[(&str, &str)]) -> TestStack {
    let mut env = vec![
        ("KEYWAY_OIDC_ISSUER", issuers),
        ("KEYWAY_OIDC_AUDIENCE", "keyway"),
        ("KEYWAY_OIDC_ROLE_MAP", ROLE_MAP),
    ];
    env.extend_from_slice(extra);
    TestStack::spawn_with(&env).await
}

/// A tenant for organization `org`, with `extra` fields (e.g. a bound issuer).
pub(crate) async fn tenant_for(stack: &TestStack, org: &str, extra: Value) -> String {
    let mut body = json!({"name": org, "plan": "pro", "external_id": org});
    for (k, v) in extra.as_object().into_iter().flatten() {
        body[k] = v.clone();
    }
    let response = stack.post("/api/v1/tenants", body).await;
    let status = response.status();
    let created: Value = response.json().await.unwrap_or_default();
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap_or_default().to_owned()
}

/// The status of a GET with `token`, and the body.
pub(crate) async fn get(stack: &TestStack, token: &str, path: &str) -> (u16, Value) {
    call(stack, token, "GET", path, None).await
}
