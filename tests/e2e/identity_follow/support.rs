//! What the identity-following tests share: a stack that follows the
//! double, a followed user with an API key and their own BYOK key, and
//! checks of what the gateway answers them.

use serde_json::{Value, json};

use super::keycloak_double::KeycloakDouble;
use crate::{
    helpers::TestStack,
    keys_api::{admin, call, chat_status, new_api_key},
};

pub(crate) const ALICE_SECRET: &str = "sk-alice-follow-0123456789";
pub(crate) const BOB_SECRET: &str = "sk-bob-follow-9876543210";

/// The settings every following stack gets unless `extra` overrides them:
/// a fast poll, and reconciliation and staleness far enough away not to
/// interfere with what a test looks at.
pub(crate) fn follow_env(kc: &KeycloakDouble, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = kc.env().into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    let defaults = [
        ("KEYWAY_KEYCLOAK_POLL_MS", "200"),
        ("KEYWAY_KEYCLOAK_RECONCILE_MS", "600000"),
        ("KEYWAY_KEYCLOAK_STALE_AFTER_MS", "1200000"),
        (
            "KEYWAY_MOCK_KEYS",
            "sk-alice-follow-0123456789=alice-identity,sk-bob-follow-9876543210=bob-identity",
        ),
    ];
    // Later entries win: defaults first, then the test's own.
    env.extend(
        defaults
            .iter()
            .chain(extra)
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    env
}

pub(crate) async fn followed_stack(kc: &KeycloakDouble, extra: &[(&str, &str)]) -> TestStack {
    let env = follow_env(kc, extra);
    let refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    TestStack::spawn_with(&refs).await
}

/// A Keyway user following a Keycloak user, with a user-bound API key and
/// their own openai BYOK key.
pub(crate) struct Person {
    pub(crate) user_id: String,
    pub(crate) kc_id: String,
    pub(crate) key: String,
    /// What the mock upstream says the BYOK key belongs to.
    pub(crate) identity: &'static str,
}

pub(crate) async fn person(
    stack: &TestStack,
    kc: &KeycloakDouble,
    tenant: &str,
    name: &'static str,
    byok_secret: &str,
) -> Person {
    let kc_id = kc.add_user(name);
    let (status, user) = admin(
        stack,
        "POST",
        &format!("/api/v1/tenants/{tenant}/users"),
        Some(json!({"role": "member", "external_subject": kc_id, "display_name": name})),
    )
    .await;
    assert_eq!(status, 201, "{user}");
    let user_id = user["id"].as_str().unwrap().to_owned();
    let (_, key) = new_api_key(stack, tenant, json!({"name": name, "user_id": user_id})).await;
    let (status, body) = call(
        stack,
        &key,
        "PUT",
        "/api/v1/byok/keys/openai",
        Some(json!({"key": byok_secret})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    Person {
        user_id,
        kc_id,
        key,
        identity: if byok_secret == ALICE_SECRET {
            "alice-identity"
        } else {
            "bob-identity"
        },
    }
}

/// Status and `keyway_code` of a chat through the gateway.
pub(crate) async fn chat_code(stack: &TestStack, key: &str, model: &str) -> (u16, String) {
    let (status, body) = chat_status(stack, key, model).await;
    (
        status,
        body["error"]["keyway_code"].as_str().unwrap_or("").to_owned(),
    )
}

/// Both the system-key model and the user's own BYOK key answer.
pub(crate) async fn works(stack: &TestStack, person: &Person) -> bool {
    let (status, body) = chat_status(stack, &person.key, "mock-gpt-byok").await;
    let byok = status == 200 && content(&body).ends_with(&format!("[Authenticated as {}]", person.identity));
    byok && chat_status(stack, &person.key, "mock-gpt").await.0 == 200
}

/// Both are refused with `code`.
pub(crate) async fn refused_with(stack: &TestStack, person: &Person, code: &str) -> bool {
    chat_code(stack, &person.key, "mock-gpt").await == (401, code.to_owned())
        && chat_code(stack, &person.key, "mock-gpt-byok").await == (401, code.to_owned())
}

fn content(body: &Value) -> &str {
    body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default()
}

/// The tenant's audit trail as `(actor, action, target)`.
pub(crate) async fn audit(stack: &TestStack, tenant: &str) -> Vec<(String, String, String)> {
    let (status, body) = admin(
        stack,
        "GET",
        &format!("/api/v1/audit/events?tenant_id={tenant}&limit=500"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
            (s("actor"), s("action"), s("target"))
        })
        .collect()
}
