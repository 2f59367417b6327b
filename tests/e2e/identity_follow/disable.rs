//! A user disabled in Keycloak loses the use of their API key and their own
//! BYOK key — in this process's gateway, in a gateway of another process,
//! and on the key service's internal API — and gets it back when re-enabled.

use serde_json::{Value, json};

use super::{
    keycloak_double::KeycloakDouble,
    support::{ALICE_SECRET, BOB_SECRET, audit, follow_env, followed_stack, person, refused_with, works},
};
use crate::{
    helpers::{TestStack, eventually, random_secret},
    keys_api::new_tenant,
};

#[tokio::test]
async fn a_user_disabled_in_keycloak_is_refused_and_works_again_when_re_enabled() {
    let kc = KeycloakDouble::start().await;
    let stack = followed_stack(&kc, &[]).await;
    let tenant = new_tenant(&stack, "starter").await;
    let alice = person(&stack, &kc, &tenant, "alice", ALICE_SECRET).await;
    let bob = person(&stack, &kc, &tenant, "bob", BOB_SECRET).await;
    eventually("alice's key and BYOK key work", || works(&stack, &alice)).await;

    kc.set_enabled(&alice.kc_id, false, true);
    eventually("alice is refused once Keycloak disabled her", || {
        refused_with(&stack, &alice, "KW-AUTH-002")
    })
    .await;
    assert!(works(&stack, &bob).await, "bob is not affected");

    kc.set_enabled(&alice.kc_id, true, true);
    eventually("alice works again once re-enabled", || works(&stack, &alice)).await;

    // Two changes, each recorded by the follower: usually by the admin-event
    // poll, but on a loaded box the first check of a newly followed user
    // (which the follower makes as a reconcile) may be the one that sees the
    // disable.
    let followed: Vec<(String, String)> = audit(&stack, &tenant)
        .await
        .into_iter()
        .filter(|(_, action, _)| action == "user.identity_changed")
        .map(|(actor, _, target)| (actor, target))
        .collect();
    let target = format!("user:{}", alice.user_id);
    assert_eq!(followed.len(), 2, "{followed:?}");
    for (actor, changed) in &followed {
        assert!(
            actor == "keycloak:admin_events" || actor == "keycloak:reconcile",
            "{followed:?}"
        );
        assert_eq!(changed, &target);
    }
}

#[tokio::test]
async fn a_keyway_admins_own_disable_is_not_undone_by_keycloak() {
    let kc = KeycloakDouble::start().await;
    let stack = followed_stack(&kc, &[]).await;
    let tenant = new_tenant(&stack, "starter").await;
    let alice = person(&stack, &kc, &tenant, "alice", ALICE_SECRET).await;
    let path = format!("/api/v1/tenants/{tenant}/users/{}", alice.user_id);
    let (status, _) =
        crate::keys_api::admin(&stack, "PATCH", &path, Some(json!({"status": "disabled"}))).await;
    assert_eq!(status, 200);
    let followed = |n: usize| {
        let (stack, tenant) = (&stack, &tenant);
        async move {
            audit(stack, tenant)
                .await
                .iter()
                .filter(|(_, action, _)| action == "user.identity_changed")
                .count()
                == n
        }
    };
    // Keycloak disables and re-enables her: Keyway's own status still wins.
    kc.set_enabled(&alice.kc_id, false, true);
    eventually("the follower has seen the disable", || followed(1)).await;
    kc.set_enabled(&alice.kc_id, true, true);
    eventually("the follower has seen the re-enable", || followed(2)).await;
    assert!(refused_with(&stack, &alice, "KW-AUTH-002").await);
}

/// The internal provider-key route answers for a caller the gateway has
/// already verified (and may hold in its cache): the user's own key is
/// refused there too while the user is disabled.
#[tokio::test]
async fn a_disabled_users_own_byok_key_is_refused_even_to_an_already_verified_caller() {
    let kc = KeycloakDouble::start().await;
    let token = random_secret("internal-token-");
    let stack = followed_stack(&kc, &[("KEYWAY_INTERNAL_TOKEN", token.as_str())]).await;
    let tenant = new_tenant(&stack, "starter").await;
    let alice = person(&stack, &kc, &tenant, "alice", ALICE_SECRET).await;
    let internal = |path: &'static str, body: Value| {
        let (stack, token) = (&stack, token.clone());
        async move {
            let response = stack
                .http
                .post(stack.url(path))
                .header("x-keyway-internal-token", token)
                .json(&body)
                .send()
                .await
                .unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, caller) = internal("/internal/v1/authenticate", json!({"key": alice.key})).await;
    assert_eq!(status, 200, "{caller}");
    let ask = json!({"caller": caller, "scope": "user", "provider": "openai"});
    let (status, key) = internal("/internal/v1/provider-key", ask.clone()).await;
    assert_eq!((status, key["secret"].as_str()), (200, Some(ALICE_SECRET)));

    kc.set_enabled(&alice.kc_id, false, true);
    eventually("the user's own key is refused to the verified caller", || async {
        internal("/internal/v1/provider-key", ask.clone()).await.0 == 401
    })
    .await;
    let (_, refused) = internal("/internal/v1/provider-key", ask.clone()).await;
    assert!(!refused.to_string().contains(ALICE_SECRET));
}

#[tokio::test]
async fn a_gateway_in_another_process_refuses_a_user_disabled_in_keycloak() {
    use keyway::Services;
    let kc = KeycloakDouble::start().await;
    let token = random_secret("internal-token-");
    let env = follow_env(&kc, &[("KEYWAY_INTERNAL_TOKEN", token.as_str())]);
    let refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let keys = TestStack::spawn_services(Services::KEYS, &refs).await;
    let prefix = keys.isolation.nats_prefix.clone();
    let mock_keys = env
        .iter()
        .find(|(k, _)| k == "KEYWAY_MOCK_KEYS")
        .unwrap()
        .1
        .clone();
    // The default credential cache TTL (10 s): the refusal must come from
    // the key-change event over NATS, or at worst from the TTL.
    let gateway = TestStack::spawn_services(
        Services::GATEWAY,
        &[
            ("KEYWAY_KEYS_URL", keys.base.as_str()),
            ("KEYWAY_INTERNAL_TOKEN", token.as_str()),
            ("KEYWAY_NATS_PREFIX", prefix.as_str()),
            ("KEYWAY_MOCK_KEYS", mock_keys.as_str()),
        ],
    )
    .await;
    let tenant = new_tenant(&keys, "starter").await;
    let alice = person(&keys, &kc, &tenant, "alice", ALICE_SECRET).await;
    eventually("alice works through the other gateway", || {
        works(&gateway, &alice)
    })
    .await;
    kc.set_enabled(&alice.kc_id, false, true);
    eventually("the other gateway refuses alice", || {
        refused_with(&gateway, &alice, "KW-AUTH-002")
    })
    .await;
    kc.set_enabled(&alice.kc_id, true, true);
    eventually("and serves her again", || works(&gateway, &alice)).await;
}
