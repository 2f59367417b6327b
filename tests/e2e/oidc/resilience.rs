//! The JWKS cache under an IdP that goes down, restarts with new keys, or
//! never answered; and the two Keycloak layouts side by side: one realm with
//! organizations, one realm per tenant (a tenant bound to its issuer).

use serde_json::json;

use super::{OidcPeer, get, oidc_stack, tenant_for};
use crate::{helpers::eventually, keys_api::chat_status};

fn member(org: &str, sub: &str) -> serde_json::Value {
    json!({"sub": sub, "organization": [org], "realm_access": {"roles": ["llm-user"]}})
}

#[tokio::test]
async fn cached_keys_outlive_an_idp_outage_and_a_restart_brings_its_new_key() {
    let mut peer = OidcPeer::start("acme");
    // No cooldown, so the test need not wait for an unknown-kid refresh.
    let stack = oidc_stack(&peer.issuer("acme"), &[("KEYWAY_OIDC_KID_COOLDOWN_MS", "0")]).await;
    tenant_for(&stack, "acme", json!({})).await;
    let before = peer.token("acme", member("acme", "kc-1")).await;
    assert_eq!(chat_status(&stack, &before, "mock-gpt").await.0, 200);

    // The IdP answers 503: tokens keep verifying against the cached keys.
    peer.set_down(true).await;
    let during = peer.token("acme", member("acme", "kc-2")).await;
    assert_eq!(
        chat_status(&stack, &during, "mock-gpt").await.0,
        200,
        "cached keys still verify"
    );

    // The IdP restarts with a new signing key (a new `kid`): the first token
    // signed with it makes Keyway fetch the keys again.
    peer.restart();
    let rotated = peer.token("acme", member("acme", "kc-3")).await;
    let (status, body) = chat_status(&stack, &rotated, "mock-gpt").await;
    assert_eq!(status, 200, "the unknown kid triggers a refresh: {body}");

    // The IdP is gone (connection refused): the new key stays cached.
    let after = peer.token("acme", member("acme", "kc-4")).await;
    peer.stop();
    assert_eq!(
        chat_status(&stack, &after, "mock-gpt").await.0,
        200,
        "a network error keeps the cache"
    );
}

#[tokio::test]
async fn with_no_keys_at_all_tokens_fail_closed_with_503() {
    let peer = OidcPeer::start("acme");
    let token = peer.token("acme", member("acme", "kc-1")).await;
    let issuer = peer.issuer("acme");
    drop(peer);
    let stack = oidc_stack(&issuer, &[]).await;
    tenant_for(&stack, "acme", json!({})).await;
    let (status, body) = chat_status(&stack, &token, "mock-gpt").await;
    assert_eq!(status, 503, "{body}");
    let (status, body) = get(&stack, &token, "/api/v1/byok/keys").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("KW-AUTH-004")),
        "{body}"
    );
    // API keys and the admin key do not depend on the IdP.
    assert_eq!(get(&stack, &stack.admin_key, "/api/v1/tenants").await.0, 200);
}

#[tokio::test]
async fn several_issuers_and_a_tenant_bound_to_its_own_realm() {
    let peer = OidcPeer::start("shared,solo");
    let (shared, solo) = (peer.issuer("shared"), peer.issuer("solo"));
    let stack = oidc_stack(&format!("{shared},{solo}"), &[]).await;
    // One realm with organizations...
    tenant_for(&stack, "acme", json!({})).await;
    // ...and one realm per tenant: tokens there carry no organization.
    let bound = tenant_for(&stack, "solo-co", json!({"oidc_issuer": solo})).await;

    let acme = peer.token("shared", member("acme", "a-1")).await;
    assert_eq!(chat_status(&stack, &acme, "mock-gpt").await.0, 200);
    let solo_user = peer
        .token(
            "solo",
            json!({"sub": "s-1", "realm_access": {"roles": ["llm-user"]}}),
        )
        .await;
    let (status, body) = get(&stack, &solo_user, &format!("/api/v1/tenants/{bound}")).await;
    assert_eq!(status, 200, "a token of the tenant's own realm finds it: {body}");
    // The bound tenant refuses another trusted issuer, even naming it.
    let intruder = peer.token("shared", member("solo-co", "x-1")).await;
    assert_eq!(chat_status(&stack, &intruder, "mock-gpt").await.0, 401);
    // Binding to an issuer Keyway does not trust is a clear 400.
    let response = stack
        .post(
            "/api/v1/tenants",
            json!({"name": "x", "plan": "pro", "oidc_issuer": "https://evil/realms/x"}),
        )
        .await;
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn unknown_organizations_are_refused_unless_auto_provisioning_is_on() {
    let peer = OidcPeer::start("acme");
    let off = oidc_stack(&peer.issuer("acme"), &[]).await;
    let token = peer.token("acme", member("newco", "n-1")).await;
    assert_eq!(chat_status(&off, &token, "mock-gpt").await.0, 401);

    let on = oidc_stack(&peer.issuer("acme"), &[("KEYWAY_OIDC_AUTO_PROVISION", "true")]).await;
    assert_eq!(
        chat_status(&on, &token, "mock-gpt").await.0,
        200,
        "first sight provisions the tenant"
    );
    eventually("the provisioned tenant is listed", || async {
        let (_, tenants) = get(&on, &on.admin_key, "/api/v1/tenants").await;
        tenants["data"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|t| t["external_id"] == "newco" && t["oidc_issuer"] == peer.issuer("acme").as_str())
    })
    .await;
}
