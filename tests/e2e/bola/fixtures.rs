//! The two tenants of the BOLA matrix: a victim holding one of every kind of
//! resource the API names by id, and an attacker with one caller per role.

use serde_json::{Value, json};

use crate::{
    helpers::{TestStack, chat, eventually, random_secret},
    keys_api::{admin, call, new_api_key},
    oidc::{OidcPeer, tenant_for},
};

/// Everything of the victim tenant's that another caller could name.
pub(super) struct Victim {
    pub(super) tenant: String,
    pub(super) user: String,
    pub(super) key_id: String,
    pub(super) key: String,
    pub(super) webhook: String,
    pub(super) cursor: String,
    pub(super) response: String,
    /// Values that must never appear in an answer to another tenant.
    pub(super) secrets: Vec<String>,
}

/// A caller of the attacker tenant (or the platform admin).
pub(super) struct Caller {
    pub(super) role: &'static str,
    pub(super) credential: String,
    /// Platform admins may read any tenant by design: for them only a
    /// resource id put under the wrong tenant is tried.
    pub(super) platform: bool,
}

async fn created(stack: &TestStack, path: &str, body: Value) -> Value {
    let method = if path.contains("/cursors/") || path.contains("/byok/keys/") {
        "PUT"
    } else {
        "POST"
    };
    let (status, answer) = admin(stack, method, path, Some(body)).await;
    assert!((200..300).contains(&status), "{method} {path}: {status} {answer}");
    answer
}

pub(super) async fn victim(stack: &TestStack) -> Victim {
    let org = format!("victim-{}", crate::helpers::unique_id());
    let tenant = tenant_for(stack, &org, json!({})).await;
    let email = format!("{org}@victim.test");
    let user = created(
        stack,
        &format!("/api/v1/tenants/{tenant}/users"),
        json!({"email": email, "role": "member"}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (key_id, key) = new_api_key(stack, &tenant, json!({"name": "victim-key", "user_id": user})).await;
    let byok_secret = random_secret("sk-victim-byok-");
    created(
        stack,
        &format!("/api/v1/byok/keys/openai?tenant_id={tenant}&scope=tenant"),
        json!({"key": byok_secret, "label": "victim-label"}),
    )
    .await;
    let hook_url = format!("http://127.0.0.1:9/{org}-hook");
    let webhook = created(
        stack,
        &format!("/api/v1/usage/webhooks?tenant_id={tenant}"),
        json!({"url": hook_url}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cursor = format!("{org}-cursor");
    created(
        stack,
        &format!("/api/v1/usage/cursors/{cursor}"),
        json!({"cursor": "0", "tenant_id": tenant}),
    )
    .await;
    let (status, answer) = call(
        stack,
        &key,
        "POST",
        "/v1/responses",
        Some(json!({"model": "mock-gpt", "input": format!("{org} private prompt")})),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let response = answer["id"].as_str().unwrap().to_owned();
    // Usage of the victim's own, so lists of events and summaries have
    // something to leak.
    assert_eq!(
        call(
            stack,
            &key,
            "POST",
            "/v1/chat/completions",
            Some(chat("mock-gpt", "hi"))
        )
        .await
        .0,
        200
    );
    let events = format!("/api/v1/usage/events?tenant_id={tenant}");
    eventually("the victim's usage is folded", || async {
        admin(stack, "GET", &events, None).await.1["events"]
            .as_array()
            .is_some_and(|e| e.len() >= 2)
    })
    .await;
    let secrets = vec![
        tenant.clone(),
        org.clone(),
        email,
        user.clone(),
        key_id.clone(),
        key.clone(),
        byok_secret,
        "victim-label".into(),
        hook_url,
        webhook.clone(),
        cursor.clone(),
        response.clone(),
    ];
    Victim {
        tenant,
        user,
        key_id,
        key,
        webhook,
        cursor,
        response,
        secrets,
    }
}

/// The attacker tenant and its callers: API keys of each tenant role, the
/// same roles as JWTs of the OIDC peer, and the platform admin key.
pub(super) async fn attackers(stack: &TestStack, peer: &OidcPeer, realm: &str) -> (String, Vec<Caller>) {
    let org = "attacker-org";
    let tenant = tenant_for(stack, org, json!({})).await;
    let user = created(
        stack,
        &format!("/api/v1/tenants/{tenant}/users"),
        json!({"email": "mallory@attacker.test", "role": "member"}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, tenant_admin) = new_api_key(stack, &tenant, json!({"name": "ops", "role": "tenant-admin"})).await;
    let (_, member) = new_api_key(stack, &tenant, json!({"name": "m", "user_id": user})).await;
    let jwt_admin = peer
        .token(
            realm,
            json!({"sub": "kc-mallory-admin", "organization": [org],
                   "resource_access": {"keyway": {"roles": ["admin"]}}}),
        )
        .await;
    let jwt_member = peer
        .token(
            realm,
            json!({"sub": "kc-mallory", "organization": [org],
                   "realm_access": {"roles": ["llm-user"]}}),
        )
        .await;
    let caller = |role, credential: String, platform| Caller {
        role,
        credential,
        platform,
    };
    let callers = vec![
        caller("admin key", stack.admin_key.clone(), true),
        caller("tenant-admin key", tenant_admin, false),
        caller("member key", member, false),
        caller("tenant-admin JWT", jwt_admin, false),
        caller("member JWT", jwt_member, false),
    ];
    (tenant, callers)
}

/// After the matrix: every resource of the victim is still there, as it was.
pub(super) async fn assert_intact(stack: &TestStack, v: &Victim) {
    let t = &v.tenant;
    for path in [
        format!("/api/v1/tenants/{t}"),
        format!("/api/v1/tenants/{t}/users/{}", v.user),
        format!("/api/v1/usage/webhooks/{}?tenant_id={t}", v.webhook),
    ] {
        let (status, body) = admin(stack, "GET", &path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    let (_, key) = admin(
        stack,
        "GET",
        &format!("/api/v1/tenants/{t}/api-keys/{}", v.key_id),
        None,
    )
    .await;
    assert!(key["revoked_at"].is_null(), "the victim's key: {key}");
    let (_, byok) = admin(stack, "GET", &format!("/api/v1/byok/keys?tenant_id={t}"), None).await;
    assert!(
        byok.to_string().contains("victim-label"),
        "the victim's BYOK key: {byok}"
    );
    let (_, cursors) = admin(stack, "GET", "/api/v1/usage/cursors", None).await;
    let cursor = cursors["data"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == v.cursor.as_str());
    assert!(
        cursor.is_some_and(|c| c["tenant_id"] == t.as_str()),
        "the victim's cursor: {cursors}"
    );
    let response = format!("/v1/responses/{}", v.response);
    assert_eq!(call(stack, &v.key, "GET", &response, None).await.0, 200);
    assert_eq!(
        call(
            stack,
            &v.key,
            "POST",
            "/v1/chat/completions",
            Some(chat("mock-gpt", "still mine"))
        )
        .await
        .0,
        200
    );
}
