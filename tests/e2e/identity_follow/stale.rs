//! Failing closed: while Keycloak cannot be reached, a followed user's
//! credentials keep working only until their status was last confirmed
//! `KEYWAY_KEYCLOAK_STALE_AFTER_MS` ago; then they are refused with
//! KW-AUTH-005, and work again once Keycloak answers. Also: the follower's
//! position in the admin events survives a restart.

use std::time::Duration;

use serde_json::json;

use super::{
    keycloak_double::KeycloakDouble,
    support::{ALICE_SECRET, follow_env, followed_stack, person, refused_with, works},
};
use crate::{
    helpers::{KeywayProcess, eventually, eventually_within},
    keys_api::{call, new_tenant},
};

#[tokio::test]
async fn credentials_fail_closed_when_keycloak_cannot_confirm_the_user_in_time() {
    let kc = KeycloakDouble::start().await;
    let stack = followed_stack(
        &kc,
        &[
            ("KEYWAY_KEYCLOAK_RECONCILE_MS", "300"),
            ("KEYWAY_KEYCLOAK_STALE_AFTER_MS", "2000"),
            ("KEYWAY_CREDENTIAL_CACHE_TTL_MS", "500"),
        ],
    )
    .await;
    let tenant = new_tenant(&stack, "starter").await;
    let alice = person(&stack, &kc, &tenant, "alice", ALICE_SECRET).await;
    eventually("alice works while Keycloak answers", || works(&stack, &alice)).await;
    // Well past the stale limit, with Keycloak up: confirmations keep coming.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(works(&stack, &alice).await);

    kc.set_down(true);
    eventually("alice's credentials fail closed", || {
        refused_with(&stack, &alice, "KW-AUTH-005")
    })
    .await;
    // The key service's own API refuses the key the same way.
    let (status, body) = call(&stack, &alice.key, "GET", "/api/v1/byok/keys", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("KW-AUTH-005")),
        "{body}"
    );
    // Keys of users Keycloak does not know about are not followed.
    let (_, service_key) = crate::keys_api::new_api_key(&stack, &tenant, json!({"name": "svc"})).await;
    assert_eq!(
        crate::keys_api::chat_status(&stack, &service_key, "mock-gpt")
            .await
            .0,
        200
    );

    kc.set_down(false);
    eventually("alice works again once Keycloak confirms her", || {
        works(&stack, &alice)
    })
    .await;
}

/// The cursor is kept in the database: after a restart, the first poll
/// starts where the last one ended, not at the restart nor at the start of
/// Keycloak's history.
#[tokio::test]
async fn the_follower_resumes_from_its_remembered_position_after_a_restart() {
    let kc = KeycloakDouble::start().await;
    let env = follow_env(&kc, &[]);
    let refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut keyway = KeywayProcess::start(&refs);
    let client = reqwest::Client::new();
    let admin_key = keyway.isolation.admin_key.clone();
    let post = |base: String, path: String, body: serde_json::Value| {
        let (client, admin_key) = (client.clone(), admin_key.clone());
        async move {
            let r = client
                .post(format!("{base}{path}"))
                .bearer_auth(admin_key)
                .json(&body)
                .send()
                .await
                .unwrap();
            r.json::<serde_json::Value>().await.unwrap()
        }
    };
    let tenant = post(
        keyway.base.clone(),
        "/api/v1/tenants".into(),
        json!({"name": "T", "plan": "starter"}),
    )
    .await;
    let tenant = tenant["id"].as_str().unwrap().to_owned();
    let kc_id = kc.add_user("alice");
    let users = format!("/api/v1/tenants/{tenant}/users");
    post(keyway.base.clone(), users, json!({"external_subject": kc_id})).await;
    kc.set_enabled(&kc_id, false, true);
    let last_event = kc.latest_event_time().unwrap();
    eventually("the follower polled past the event", || async {
        kc.date_froms().last().is_some_and(|from| *from >= last_event)
    })
    .await;

    // A clean stop gives the lease up, so the new process follows at once.
    assert!(
        keyway.terminate(Duration::from_secs(30)).is_some(),
        "{}",
        keyway.logs()
    );
    keyway.respawn();
    let before = kc.date_froms().len();
    eventually_within(
        Duration::from_secs(60),
        "the restarted follower polls",
        || async { kc.date_froms().len() > before },
    )
    .await;
    let first_after_restart = kc.date_froms()[before];
    assert_eq!(
        first_after_restart, last_event,
        "resumes at the remembered event time"
    );
}
