//! A Keycloak console session outlives its access token: the provider
//! issues a refresh token with a short-lived access token (3 s here, five
//! minutes in Keycloak's default realm), the console renews the token
//! server-side before it runs out, and pages keep working long after the
//! first token expired. When the provider cannot renew an expired token,
//! the session ends and the person is sent to sign in again.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Browser, stack_and_peer_with};
use crate::oidc::tenant_for;

async fn grants(peer_port: u16) -> Value {
    reqwest::get(format!("http://127.0.0.1:{peer_port}/test/realms/acme/grants"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn peer_up(peer_port: u16, up: bool) {
    let path = if up { "up" } else { "down" };
    let response = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{peer_port}/test/{path}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_keycloak_session_renews_its_short_lived_token_and_ends_when_it_cannot() {
    let user = json!({"sub": "kc-gil", "organization": ["acme"], "realm_access": {"roles": ["admin"]}});
    // No leeway: an expired access token is refused at once, so a page
    // that still works after expiry proves the token was renewed.
    let (stack, _peer, peer_port, _) = stack_and_peer_with(
        &user,
        None,
        None,
        &[("ACCESS_TOKEN_TTL", "3")],
        &[("KEYWAY_OIDC_LEEWAY_SECS", "0")],
    )
    .await;
    let tenant = tenant_for(&stack, "acme", json!({})).await;
    let mut browser = Browser::new();
    let (_, callback) = browser.via_provider(&stack).await;
    let signed = browser.get(&callback).await;
    assert_eq!(signed.status, StatusCode::OK, "{}", signed.body);
    assert_eq!(grants(peer_port).await["authorization_code"], 1);

    // Three lifetimes of the first token, a page every second.
    for _ in 0..9 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let page = browser.get(&stack.url("/console/users")).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains(&tenant), "still the person's tenant");
        assert!(!page.body.contains("eyJ"), "no token is rendered");
    }
    let renewed = grants(peer_port).await["refresh_token"].as_u64().unwrap_or(0);
    assert!(renewed >= 2, "the token was renewed along the way: {renewed}");
    let cookie = browser.jar.get("keyway_console").cloned();

    // The provider goes down: the session lasts as long as its token, then
    // ends; the sign-in page it lands on offers Keycloak again.
    peer_up(peer_port, false).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let ended = browser.get(&stack.url("/console/users")).await;
    assert_eq!(ended.status, StatusCode::SEE_OTHER, "{}", ended.body);
    assert!(ended.location.ends_with("/console/sign-in"), "{}", ended.location);
    peer_up(peer_port, true).await;
    let again = browser.get(&stack.url("/console/users")).await;
    assert!(
        again.status == StatusCode::SEE_OTHER && again.location.ends_with("/console/sign-in"),
        "an ended session stays ended when the provider is back ({cookie:?})"
    );
}
