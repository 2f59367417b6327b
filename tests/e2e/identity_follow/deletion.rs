//! A user deleted in Keycloak is deleted in Keyway: their API keys are
//! revoked, their own BYOK keys deleted, and the tenant's data key rotated
//! so the deleted keys' sealed copies in the append-only event store can
//! never be opened again. The tenant's other users keep working.

use sqlx::Row;

use super::{
    keycloak_double::KeycloakDouble,
    support::{ALICE_SECRET, BOB_SECRET, audit, followed_stack, person, works},
};
use crate::{
    helpers::{eventually, pg_url},
    keys_api::{admin, chat_status, new_tenant},
};

#[tokio::test]
async fn a_user_deleted_in_keycloak_loses_their_keys_and_their_byok_secrets_are_shredded() {
    let kc = KeycloakDouble::start().await;
    let stack = followed_stack(&kc, &[]).await;
    let tenant = new_tenant(&stack, "starter").await;
    let alice = person(&stack, &kc, &tenant, "alice", ALICE_SECRET).await;
    let bob = person(&stack, &kc, &tenant, "bob", BOB_SECRET).await;
    eventually("both work", || async {
        works(&stack, &alice).await && works(&stack, &bob).await
    })
    .await;

    kc.delete_user(&alice.kc_id, true);
    let user_path = format!("/api/v1/tenants/{tenant}/users/{}", alice.user_id);
    eventually("alice is deleted in Keyway", || async {
        admin(&stack, "GET", &user_path, None).await.0 == 404
    })
    .await;
    assert_eq!(chat_status(&stack, &alice.key, "mock-gpt").await.0, 401);
    eventually("the tenant's data key was rotated", || async {
        audit(&stack, &tenant)
            .await
            .iter()
            .any(|(_, a, _)| a == "tenant.dek_rotated")
    })
    .await;
    assert!(
        works(&stack, &bob).await,
        "bob's key was resealed and still works"
    );

    let trail = audit(&stack, &tenant).await;
    let by_follower: Vec<(&str, &str)> = trail
        .iter()
        // Either of the follower's paths may act first: the admin-event
        // poll, or, on a loaded box, the reconcile sweep.
        .filter(|(actor, _, _)| actor == "keycloak:admin_events" || actor == "keycloak:reconcile")
        .map(|(_, action, target)| (action.as_str(), target.as_str()))
        .collect();
    let (user_target, key_target) = (
        format!("user:{}", alice.user_id),
        format!("api_key:{}", key_id(&alice.key)),
    );
    assert!(
        by_follower.contains(&("api_key.revoked", key_target.as_str())),
        "{by_follower:?}"
    );
    assert!(
        by_follower.iter().any(|(a, _)| *a == "byok_key.deleted"),
        "{by_follower:?}"
    );
    assert!(
        by_follower.contains(&("user.deleted", user_target.as_str())),
        "{by_follower:?}"
    );

    // Crypto-shredding: the data key alice's BYOK key was sealed under is
    // gone, so the ciphertext the event store keeps cannot be opened.
    let pool = sqlx::PgPool::connect(&pg_url(&stack.isolation.db_name))
        .await
        .unwrap();
    let sealed_under: Vec<i32> = sqlx::query(
        "SELECT (payload->>'dek_version')::int AS v FROM key_events
         WHERE event_type = 'byok_key.set' AND payload->>'user_id' = $1",
    )
    .bind(&alice.user_id)
    .fetch_all(&pool)
    .await
    .unwrap()
    .iter()
    .map(|r| r.get("v"))
    .collect();
    assert!(!sealed_under.is_empty());
    let live: Vec<i32> = sqlx::query_scalar("SELECT version FROM tenant_deks WHERE tenant_id = $1")
        .bind(&tenant)
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(
        sealed_under.iter().all(|v| !live.contains(v)),
        "sealed under {sealed_under:?}, live DEKs {live:?}"
    );
    let (queued,): (i64,) = sqlx::query_as("SELECT count(*) FROM identity_shreds")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(queued, 0, "nothing is left to shred");
}

/// `kw_<env>_<id>_<secret>`: the public id is the third part.
fn key_id(key: &str) -> &str {
    key.split('_').nth(2).unwrap()
}
