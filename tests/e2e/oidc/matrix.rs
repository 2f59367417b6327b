//! Seed 003's matrix and more: which tokens are accepted, as whom, and
//! which are refused — each refusal a 401 in the API's own error shape.

use serde_json::{Value, json};

use super::{OidcPeer, get, oidc_stack, tenant_for};
use crate::keys_api::{call, chat_status};

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test]
async fn keycloak_claim_layouts_map_to_tenants_users_and_roles() {
    let peer = OidcPeer::start("acme");
    let stack = oidc_stack(&peer.issuer("acme"), &[]).await;
    let tenant = tenant_for(&stack, "acme", json!({})).await;

    // Platform admin through a realm role the role map names.
    let ops = peer
        .token(
            "acme",
            json!({"sub": "ops-1", "realm_access": {"roles": ["ops"]}}),
        )
        .await;
    assert_eq!(get(&stack, &ops, "/api/v1/tenants").await.0, 200);

    // Tenant admin through the audience client's roles, organization as a list.
    let admin_claims = json!({"sub": "kc-admin", "email": "ann@acme.test", "organization": ["acme"],
        "resource_access": {"keyway": {"roles": ["admin"]}, "account": {"roles": ["manage-account"]}}});
    let admin = peer.token("acme", admin_claims).await;
    let (status, users) = get(&stack, &admin, &format!("/api/v1/tenants/{tenant}/users")).await;
    assert_eq!(status, 200, "{users}");
    let ann = &users["data"][0];
    assert_eq!(
        (
            ann["external_subject"].as_str(),
            ann["email"].as_str(),
            ann["role"].as_str()
        ),
        (Some("kc-admin"), Some("ann@acme.test"), Some("tenant-admin")),
        "first sight records the user: {users}"
    );
    assert_eq!(
        get(&stack, &admin, "/api/v1/tenants").await.0,
        403,
        "a tenant admin is not a platform admin"
    );

    // Member through a realm role, organization as a map of name to {id}.
    let member = peer
        .token(
            "acme",
            json!({"sub": "kc-bob", "organization": {"acme": {"id": "org-uuid-1"}},
        "realm_access": {"roles": ["offline_access", "llm-user"]}}),
        )
        .await;
    let (status, body) = chat_status(&stack, &member, "mock-gpt").await;
    assert_eq!(status, 200, "{body}");

    // Viewer through a group; viewers read but never spend.
    let viewer = peer
        .token(
            "acme",
            json!({"sub": "kc-vic", "organization": ["acme"], "groups": ["/acme/viewer"]}),
        )
        .await;
    assert_eq!(chat_status(&stack, &viewer, "mock-gpt").await.0, 403);
    assert_eq!(
        get(&stack, &viewer, &format!("/api/v1/tenants/{tenant}")).await.0,
        200
    );

    // `azp` without `aud` (Keycloak's `aud: account` tokens).
    let azp = peer
        .token(
            "acme",
            json!({"sub": "kc-bob", "aud": "account", "azp": "keyway",
        "organization": ["acme"], "realm_access": {"roles": ["llm-user"]}}),
        )
        .await;
    assert_eq!(chat_status(&stack, &azp, "mock-gpt").await.0, 200);

    // A token from the provider's own token endpoint (client credentials,
    // `typ: at+jwt`), its claims set by the provider.
    let service = peer.client_credentials("acme").await;
    assert_eq!(get(&stack, &service, "/api/v1/tenants").await.0, 200);

    // The user's role follows the IdP: promoted there, promoted here.
    let promoted = peer
        .token(
            "acme",
            json!({"sub": "kc-bob", "organization": ["acme"],
        "resource_access": {"keyway": {"roles": ["admin"]}}}),
        )
        .await;
    assert_eq!(
        get(&stack, &promoted, &format!("/api/v1/tenants/{tenant}/users"))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn bad_tokens_are_refused_with_401_in_each_apis_shape() {
    let peer = OidcPeer::start("acme,elsewhere");
    let stack = oidc_stack(&peer.issuer("acme"), &[]).await;
    let tenant = tenant_for(&stack, "acme", json!({})).await;
    let good = json!({"sub": "kc-1", "organization": ["acme"], "realm_access": {"roles": ["llm-user"]}});
    let with = |extra: Value| {
        let mut claims = good.clone();
        for (k, v) in extra.as_object().into_iter().flatten() {
            claims[k] = v.clone();
        }
        claims
    };
    let valid = peer.token("acme", good.clone()).await;
    assert_eq!(
        chat_status(&stack, &valid, "mock-gpt").await.0,
        200,
        "the control token works"
    );

    let issuer = peer.issuer("acme");
    let full = |extra: Value| {
        let mut claims = with(extra);
        claims["iss"] = json!(issuer);
        claims["aud"] = claims.get("aud").cloned().unwrap_or(json!("keyway"));
        claims
    };
    let h = |v: &Value| b64(&v.to_string());
    let unsigned = format!(
        "{}.{}.",
        h(&json!({"alg": "none", "typ": "JWT"})),
        h(&full(json!({"exp": now() + 600})))
    );
    let cases = vec![
        (
            "expired",
            peer.token("acme", with(json!({"exp": now() - 3600}))).await,
        ),
        (
            "not yet valid",
            peer.token("acme", with(json!({"nbf": now() + 3600}))).await,
        ),
        (
            "bad signature",
            peer.sign_raw("acme", json!({}), full(json!({"exp": now() + 600})), "stranger")
                .await,
        ),
        (
            "HS256 keyed with the RSA public key",
            peer.sign_raw(
                "acme",
                json!({}),
                full(json!({"exp": now() + 600})),
                "hs256-public-key",
            )
            .await,
        ),
        ("alg none", unsigned),
        ("wrong issuer", peer.token("elsewhere", good.clone()).await),
        (
            "wrong audience",
            peer.token("acme", with(json!({"aud": "someone-else"}))).await,
        ),
        ("no subject", peer.token("acme", with(json!({"sub": null}))).await),
        (
            "no expiry",
            peer.sign_raw("acme", json!({}), full(json!({})), "realm").await,
        ),
        (
            "unknown organization",
            peer.token("acme", with(json!({"organization": ["initech"]})))
                .await,
        ),
        (
            "no Keyway role",
            peer.token(
                "acme",
                with(json!({"realm_access": {"roles": ["offline_access"]}})),
            )
            .await,
        ),
        (
            "a refresh token's type",
            peer.sign_raw(
                "acme",
                json!({"typ": "Refresh"}),
                full(json!({"exp": now() + 600})),
                "realm",
            )
            .await,
        ),
        ("malformed", "eyJhbGciOiJSUzI1NiJ9.not-json.sig".to_owned()),
    ];
    for (what, token) in cases {
        let (status, body) = chat_status(&stack, &token, "mock-gpt").await;
        assert_eq!(status, 401, "{what} on /v1: {body}");
        assert_eq!(
            body["error"]["type"], "authentication_error",
            "{what}: OpenAI's shape on /v1: {body}"
        );
        let (status, body) = get(&stack, &token, &format!("/api/v1/tenants/{tenant}")).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (401, Some("KW-AUTH-002")),
            "{what} on /api/v1: {body}"
        );
        let (status, _) = call(&stack, &token, "GET", "/api/v1/usage/summary", None).await;
        assert_eq!(status, 401, "{what} on the usage API");
    }
}

#[tokio::test]
async fn a_token_for_another_tenant_gets_404_on_this_tenants_resources() {
    let peer = OidcPeer::start("acme");
    let stack = oidc_stack(&peer.issuer("acme"), &[]).await;
    let acme = tenant_for(&stack, "acme", json!({})).await;
    tenant_for(&stack, "globex", json!({})).await;
    let globex_admin = peer
        .token(
            "acme",
            json!({"sub": "g-1", "organization": ["globex"],
        "resource_access": {"keyway": {"roles": ["admin"]}}}),
        )
        .await;
    for path in [
        format!("/api/v1/tenants/{acme}"),
        format!("/api/v1/tenants/{acme}/users"),
        format!("/api/v1/tenants/{acme}/api-keys"),
        format!("/api/v1/usage/summary?tenant_id={acme}"),
    ] {
        let (status, body) = get(&stack, &globex_admin, &path).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
}

fn b64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}
