//! The key service's REST API through the real HTTP stack: tenants, users,
//! gateway API keys, roles, tenant scoping, and revocation reaching /v1.

use serde_json::{Value, json};

use crate::helpers::{TestStack, chat, eventually};

/// Sends `method path` with `key` as bearer; returns status and JSON body.
pub(crate) async fn call(
    stack: &TestStack,
    key: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = stack
        .http
        .request(method.parse().unwrap(), stack.url(path))
        .bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub(crate) async fn admin(stack: &TestStack, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    call(stack, &stack.admin_key.clone(), method, path, body).await
}

pub(crate) async fn new_tenant(stack: &TestStack, plan: &str) -> String {
    let (status, body) = admin(
        stack,
        "POST",
        "/api/v1/tenants",
        Some(json!({"name": "Acme", "plan": plan})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

pub(crate) async fn new_user(stack: &TestStack, tenant: &str, role: &str) -> String {
    let path = format!("/api/v1/tenants/{tenant}/users");
    let (status, body) = admin(stack, "POST", &path, Some(json!({"role": role}))).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// Issues an API key as the admin; returns `(id, key)`.
pub(crate) async fn new_api_key(stack: &TestStack, tenant: &str, body: Value) -> (String, String) {
    let (status, body) = admin(
        stack,
        "POST",
        &format!("/api/v1/tenants/{tenant}/api-keys"),
        Some(body),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    (
        body["id"].as_str().unwrap().to_owned(),
        body["key"].as_str().unwrap().to_owned(),
    )
}

pub(crate) async fn chat_status(stack: &TestStack, key: &str, model: &str) -> (u16, Value) {
    call(
        stack,
        key,
        "POST",
        "/v1/chat/completions",
        Some(chat(model, "hi")),
    )
    .await
}

#[tokio::test]
async fn tenants_are_created_read_updated_and_validated() {
    let stack = TestStack::spawn().await;
    let (status, body) = admin(
        &stack,
        "POST",
        "/api/v1/tenants",
        Some(json!({"name": "A", "plan": "gold"})),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("KW-ADM-002"))
    );
    let id = new_tenant(&stack, "free").await;
    let (status, body) = admin(
        &stack,
        "PATCH",
        &format!("/api/v1/tenants/{id}"),
        Some(json!({"plan": "pro", "external_id": "org-1"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["plan"].as_str(), body["external_id"].as_str()),
        (Some("pro"), Some("org-1"))
    );
    let (status, body) = admin(
        &stack,
        "POST",
        "/api/v1/tenants",
        Some(json!({"name": "B", "plan": "pro", "external_id": "org-1"})),
    )
    .await;
    assert_eq!(status, 409, "external_id is unique: {body}");
    let (status, list) = admin(&stack, "GET", "/api/v1/tenants?limit=1", None).await;
    assert_eq!(status, 200);
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    let cursor = list["next_cursor"].as_str().unwrap();
    let (_, next) = admin(
        &stack,
        "GET",
        &format!("/api/v1/tenants?limit=1&cursor={cursor}"),
        None,
    )
    .await;
    assert_ne!(next["data"][0]["id"], list["data"][0]["id"]);
    // Pages of one walk the whole list once; only the last has no successor.
    let (_, whole) = admin(&stack, "GET", "/api/v1/tenants", None).await;
    let (mut seen, mut page) = (Vec::new(), list.clone());
    loop {
        seen.extend(page["data"].as_array().unwrap().iter().map(|t| t["id"].clone()));
        let Some(cursor) = page["next_cursor"].as_str() else {
            break;
        };
        page = admin(
            &stack,
            "GET",
            &format!("/api/v1/tenants?limit=1&cursor={cursor}"),
            None,
        )
        .await
        .1;
    }
    let all: Vec<_> = whole["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].clone())
        .collect();
    assert_eq!((seen, &whole["next_cursor"]), (all, &serde_json::Value::Null));
    let cursor = list["next_cursor"].as_str().unwrap();
    a_list_refuses_what_its_contract_does_not_allow(&stack, cursor).await;
}

/// One contract for every list: a bad `limit` or the retired `after` is
/// KW-REQ-002; a cursor that is altered or of another list is KW-REQ-007.
async fn a_list_refuses_what_its_contract_does_not_allow(stack: &TestStack, tenants_cursor: &str) {
    let mut altered = tenants_cursor.as_bytes().to_vec();
    altered[8] = if altered[8] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    let cases = [
        ("/api/v1/tenants?limit=0".to_owned(), "KW-REQ-002"),
        ("/api/v1/tenants?limit=201".to_owned(), "KW-REQ-002"),
        ("/api/v1/audit/events?limit=1001".to_owned(), "KW-REQ-002"),
        ("/api/v1/audit/events?after=1".to_owned(), "KW-REQ-002"),
        (format!("/api/v1/tenants?cursor={altered}"), "KW-REQ-007"),
        ("/api/v1/tenants?cursor=0197a3b0".to_owned(), "KW-REQ-007"),
        (
            format!("/api/v1/audit/events?cursor={tenants_cursor}"),
            "KW-REQ-007",
        ),
        (format!("/api/v1/byok/keys?cursor={tenants_cursor}"), "KW-REQ-007"),
    ];
    for (path, code) in cases {
        let (status, body) = admin(stack, "GET", &path, None).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some(code)),
            "{path}: {body}"
        );
        assert!(body["error"]["message"].is_string(), "{body}");
    }
}

#[tokio::test]
async fn a_tenant_api_key_is_shown_once_works_on_v1_and_has_the_documented_format() {
    let stack = TestStack::spawn().await;
    let tenant = new_tenant(&stack, "starter").await;
    let (id, key) = new_api_key(&stack, &tenant, json!({"name": "svc", "role": "member"})).await;
    let parts: Vec<&str> = key.split('_').collect();
    assert_eq!(parts.len(), 4, "{key}");
    assert_eq!((parts[0], parts[1], parts[2]), ("kw", "dev", id.as_str()));
    assert!(parts[3].chars().all(|c| c.is_ascii_alphanumeric()) && parts[3].len() >= 22);

    let (status, listed) = admin(&stack, "GET", &format!("/api/v1/tenants/{tenant}/api-keys"), None).await;
    assert_eq!(status, 200);
    assert!(
        !listed.to_string().contains(parts[3]),
        "the secret is never shown again"
    );

    let (status, body) = chat_status(&stack, &key, "mock-gpt").await;
    assert_eq!(status, 200, "{body}");
    // A typo fails the checksum; an unknown id is refused the same way.
    // (The replacement must differ from the last character: one key in 62
    // ends in any given one.)
    let last = if key.ends_with('x') { 'y' } else { 'x' };
    let typo = format!("{}{last}", &key[..key.len() - 1]);
    assert_eq!(chat_status(&stack, &typo, "mock-gpt").await.0, 401);
}

#[tokio::test]
async fn another_tenants_ids_are_not_found_before_any_role_check() {
    let stack = TestStack::spawn().await;
    let (a, b) = (new_tenant(&stack, "pro").await, new_tenant(&stack, "pro").await);
    let b_user = new_user(&stack, &b, "member").await;
    let (b_key_id, _) = new_api_key(&stack, &b, json!({"name": "b"})).await;
    let (_, a_admin) = new_api_key(&stack, &a, json!({"name": "a-admin", "role": "tenant-admin"})).await;
    for path in [
        format!("/api/v1/tenants/{b}"),
        format!("/api/v1/tenants/{b}/users"),
        format!("/api/v1/tenants/{b}/users/{b_user}"),
        format!("/api/v1/tenants/{b}/api-keys/{b_key_id}"),
    ] {
        let (status, body) = call(&stack, &a_admin, "GET", &path, None).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    // B's user id inside A's tenant path is also unknown.
    let (status, _) = call(
        &stack,
        &a_admin,
        "GET",
        &format!("/api/v1/tenants/{a}/users/{b_user}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = call(
        &stack,
        &a_admin,
        "DELETE",
        &format!("/api/v1/tenants/{b}/api-keys/{b_key_id}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = call(&stack, &a_admin, "GET", "/api/v1/tenants", None).await;
    assert_eq!(status, 403, "listing tenants is for platform admins");
}

#[tokio::test]
async fn roles_limit_what_each_caller_may_do() {
    let stack = TestStack::spawn().await;
    let tenant = new_tenant(&stack, "pro").await;
    let (alice, bob) = (
        new_user(&stack, &tenant, "member").await,
        new_user(&stack, &tenant, "member").await,
    );
    let (_, alice_key) = new_api_key(&stack, &tenant, json!({"name": "alice", "user_id": alice})).await;
    let (_, admin_key) = new_api_key(&stack, &tenant, json!({"name": "ta", "role": "tenant-admin"})).await;
    let keys = format!("/api/v1/tenants/{tenant}/api-keys");

    // A member may mint their own user-bound key, but not a service key or Bob's.
    let (status, _) = call(
        &stack,
        &alice_key,
        "POST",
        &keys,
        Some(json!({"name": "mine", "user_id": alice})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = call(&stack, &alice_key, "POST", &keys, Some(json!({"name": "svc"}))).await;
    assert_eq!(status, 403);
    let (status, _) = call(
        &stack,
        &alice_key,
        "POST",
        &keys,
        Some(json!({"name": "bob", "user_id": bob})),
    )
    .await;
    assert_eq!(status, 403);
    // A tenant admin cannot bind a key to someone else either.
    let (status, _) = call(
        &stack,
        &admin_key,
        "POST",
        &keys,
        Some(json!({"name": "bob", "user_id": bob})),
    )
    .await;
    assert_eq!(status, 403);
    // Nobody grants above their own role.
    let users = format!("/api/v1/tenants/{tenant}/users");
    let (status, _) = call(
        &stack,
        &alice_key,
        "POST",
        &users,
        Some(json!({"role": "member"})),
    )
    .await;
    assert_eq!(status, 403, "members do not create users");
    let (status, _) = call(
        &stack,
        &admin_key,
        "POST",
        &users,
        Some(json!({"role": "tenant-admin"})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = call(
        &stack,
        &alice_key,
        "POST",
        &keys,
        Some(json!({"name": "up", "user_id": alice, "role": "tenant-admin"})),
    )
    .await;
    assert_eq!(status, 403);
    // Members list only their own keys.
    let (_, mine) = call(&stack, &alice_key, "GET", &keys, None).await;
    assert!(
        mine["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["user_id"] == alice.as_str())
    );
    // Viewers read but never spend.
    let (_, viewer_key) = new_api_key(&stack, &tenant, json!({"name": "v", "role": "viewer"})).await;
    let (status, body) = chat_status(&stack, &viewer_key, "mock-gpt").await;
    assert_eq!(
        (status, body["error"]["keyway_code"].as_str()),
        (403, Some("KW-AUTH-003"))
    );
}

#[tokio::test]
async fn a_revoked_key_is_refused_and_a_rotated_key_replaces_the_old_secret() {
    let stack = TestStack::spawn().await;
    let tenant = new_tenant(&stack, "starter").await;
    let (id, key) = new_api_key(&stack, &tenant, json!({"name": "k"})).await;
    // Warm the gateway's credential cache first, so eviction is what is tested.
    assert_eq!(chat_status(&stack, &key, "mock-gpt").await.0, 200);
    assert_eq!(chat_status(&stack, &key, "mock-gpt").await.0, 200);
    let (status, _) = admin(
        &stack,
        "DELETE",
        &format!("/api/v1/tenants/{tenant}/api-keys/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    eventually("the revoked key is refused", || async {
        chat_status(&stack, &key, "mock-gpt").await.0 == 401
    })
    .await;

    let (rid, old) = new_api_key(&stack, &tenant, json!({"name": "r"})).await;
    assert_eq!(chat_status(&stack, &old, "mock-gpt").await.0, 200);
    let (status, rotated) = admin(
        &stack,
        "POST",
        &format!("/api/v1/tenants/{tenant}/api-keys/{rid}/rotate"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["key"].as_str().unwrap().to_owned();
    assert!(new.contains(&rid), "rotation keeps the public id");
    assert_eq!(chat_status(&stack, &new, "mock-gpt").await.0, 200);
    eventually("the old secret is refused", || async {
        chat_status(&stack, &old, "mock-gpt").await.0 == 401
    })
    .await;
}

#[tokio::test]
async fn scopes_expiry_and_a_disabled_user_limit_a_key() {
    let stack = TestStack::spawn().await;
    let tenant = new_tenant(&stack, "starter").await;
    let (_, scoped) = new_api_key(&stack, &tenant, json!({"name": "s", "scopes": ["mock-claude"]})).await;
    let (status, body) = chat_status(&stack, &scoped, "mock-gpt").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("model_not_found"))
    );
    let (_, models) = call(&stack, &scoped, "GET", "/v1/models", None).await;
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["mock-claude"]);

    let (status, _) = admin(
        &stack,
        "POST",
        &format!("/api/v1/tenants/{tenant}/api-keys"),
        Some(json!({"name": "old", "expires_at": "2001-01-01T00:00:00Z"})),
    )
    .await;
    assert_eq!(status, 400, "an expiry in the past is refused");

    let user = new_user(&stack, &tenant, "member").await;
    let (_, key) = new_api_key(&stack, &tenant, json!({"name": "u", "user_id": user})).await;
    assert_eq!(chat_status(&stack, &key, "mock-gpt").await.0, 200);
    let (status, _) = admin(
        &stack,
        "PATCH",
        &format!("/api/v1/tenants/{tenant}/users/{user}"),
        Some(json!({"status": "disabled"})),
    )
    .await;
    assert_eq!(status, 200);
    eventually("a disabled user's key is refused", || async {
        chat_status(&stack, &key, "mock-gpt").await.0 == 401
    })
    .await;
}

#[tokio::test]
async fn the_audit_log_names_actor_action_and_target_and_never_a_secret() {
    let stack = TestStack::spawn().await;
    let tenant = new_tenant(&stack, "starter").await;
    let (id, key) = new_api_key(&stack, &tenant, json!({"name": "k"})).await;
    admin(
        &stack,
        "DELETE",
        &format!("/api/v1/tenants/{tenant}/api-keys/{id}"),
        None,
    )
    .await;
    let (status, audit) = admin(
        &stack,
        "GET",
        &format!("/api/v1/audit/events?tenant_id={tenant}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["tenant.created", "api_key.created", "api_key.revoked"]);
    let revoked = &audit["events"][2];
    assert_eq!(revoked["actor"], "platform-admin");
    assert_eq!(revoked["target"], format!("api_key:{id}"));
    assert!(!audit.to_string().contains(key.rsplit('_').next().unwrap()));
}

#[tokio::test]
async fn a_gateway_running_apart_resolves_keys_over_the_internal_api() {
    use keyway::Services;
    let token = crate::helpers::random_secret("internal-token-");
    let keys = TestStack::spawn_services(Services::KEYS, &[("KEYWAY_INTERNAL_TOKEN", token.as_str())]).await;
    let prefix = keys.isolation.nats_prefix.clone();
    let gateway = TestStack::spawn_services(
        Services::GATEWAY,
        &[
            ("KEYWAY_KEYS_URL", keys.base.as_str()),
            ("KEYWAY_INTERNAL_TOKEN", token.as_str()),
            ("KEYWAY_NATS_PREFIX", prefix.as_str()),
            ("KEYWAY_MOCK_KEYS", "sk-remote-user-secret=remote-user"),
        ],
    )
    .await;
    let tenant = new_tenant(&keys, "starter").await;
    let user = new_user(&keys, &tenant, "member").await;
    let (id, key) = new_api_key(&keys, &tenant, json!({"name": "u", "user_id": user})).await;
    assert_eq!(chat_status(&gateway, &key, "mock-gpt").await.0, 200);

    let (status, _) = call(
        &keys,
        &key,
        "PUT",
        "/api/v1/byok/keys/openai",
        Some(json!({"key": "sk-remote-user-secret"})),
    )
    .await;
    assert_eq!(status, 200);
    eventually("the user's key is resolved over the internal API", || async {
        let (status, body) = chat_status(&gateway, &key, "mock-gpt-byok").await;
        status == 200 && body.to_string().contains("[Authenticated as remote-user]")
    })
    .await;

    admin(
        &keys,
        "DELETE",
        &format!("/api/v1/tenants/{tenant}/api-keys/{id}"),
        None,
    )
    .await;
    eventually("the other process refuses the revoked key", || async {
        chat_status(&gateway, &key, "mock-gpt").await.0 == 401
    })
    .await;

    let anonymous = keys
        .http
        .post(keys.url("/internal/v1/authenticate"))
        .json(&json!({"key": key}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401, "internal routes need the internal token");
}
