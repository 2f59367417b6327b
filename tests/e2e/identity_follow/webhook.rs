//! The signed webhook: a bad signature or an old timestamp is refused and
//! changes nothing; a good one makes the follower re-read the named user at
//! once (here polling is effectively off, so only the webhook can apply the
//! change). Replaying a good request cannot force an old state: the body is
//! only a trigger, Keycloak's answer is what is applied.

use keyway_keys::identity_follow::webhook::{PATH, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
use serde_json::{Value, json};

use super::{
    keycloak_double::KeycloakDouble,
    support::{ALICE_SECRET, followed_stack, person, refused_with, works},
};
use crate::{
    helpers::{TestStack, eventually, random_secret},
    keys_api::new_tenant,
};

async fn send(stack: &TestStack, secret: &str, stamp: i64, body: &str) -> (u16, Value) {
    let response = stack
        .http
        .post(stack.url(PATH))
        .header(TIMESTAMP_HEADER, stamp.to_string())
        .header(SIGNATURE_HEADER, sign(secret.as_bytes(), stamp, body.as_bytes()))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test]
async fn a_signed_webhook_applies_at_once_and_a_forged_or_stale_one_is_refused() {
    let kc = KeycloakDouble::start().await;
    let secret = random_secret("webhook-secret-0123456789-");
    let stack = followed_stack(
        &kc,
        &[
            // Polls and reconciliations an hour apart: only the webhook acts.
            ("KEYWAY_KEYCLOAK_POLL_MS", "3600000"),
            ("KEYWAY_KEYCLOAK_RECONCILE_MS", "3600000"),
            ("KEYWAY_KEYCLOAK_STALE_AFTER_MS", "7200000"),
            ("KEYWAY_KEYCLOAK_WEBHOOK_SECRET", secret.as_str()),
        ],
    )
    .await;
    let tenant = new_tenant(&stack, "starter").await;
    let alice = person(&stack, &kc, &tenant, "alice", ALICE_SECRET).await;
    assert!(works(&stack, &alice).await);
    // Disabled in Keycloak without an admin event: nothing polls it.
    kc.set_enabled(&alice.kc_id, false, false);
    let event = json!({"time": now() * 1000, "realmId": "r", "operationType": "UPDATE",
        "resourceType": "USER", "resourcePath": format!("users/{}", alice.kc_id),
        "representation": "{\"enabled\":false}"})
    .to_string();

    let (status, body) = send(&stack, "not-the-secret-at-all-0123456789", now(), &event).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("KW-AUTH-002")),
        "{body}"
    );
    let (status, _) = send(&stack, &secret, now() - 600, &event).await;
    assert_eq!(status, 401, "a timestamp ten minutes old is refused");
    let unsigned = stack
        .http
        .post(stack.url(PATH))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status().as_u16(), 401);
    assert!(works(&stack, &alice).await, "nothing was applied");

    let stamp = now();
    let (status, body) = send(&stack, &secret, stamp, &event).await;
    assert_eq!((status, body["checked"].as_u64()), (200, Some(1)), "{body}");
    // The change committed before the answer, and this process's gateway
    // was told at commit: no wait is needed.
    assert!(refused_with(&stack, &alice, "KW-AUTH-002").await);

    // Re-enabled in Keycloak; replaying the very same "disabled" request
    // re-reads Keycloak and so enables her, whatever the body said.
    kc.set_enabled(&alice.kc_id, true, false);
    let (status, _) = send(&stack, &secret, stamp, &event).await;
    assert_eq!(status, 200);
    eventually("the replay applied Keycloak's answer, not the body", || {
        works(&stack, &alice)
    })
    .await;

    // A list of events, naming a user Keyway does not follow: not checked.
    let list = json!([{"time": 1, "operationType": "DELETE", "resourceType": "USER", "resourcePath": "users/unknown"}]);
    let (status, body) = send(&stack, &secret, now(), &list.to_string()).await;
    assert_eq!((status, body["checked"].as_u64()), (200, Some(0)), "{body}");
}

#[tokio::test]
async fn without_a_webhook_secret_there_is_no_webhook_route() {
    let kc = KeycloakDouble::start().await;
    let stack = followed_stack(&kc, &[]).await;
    let response = stack
        .http
        .post(stack.url(PATH))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
}
