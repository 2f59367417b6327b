//! Seed 000 through the console over HTTP: a `[user]` model shows an orange
//! (missing) key and cannot be chosen in the playground; the user stores
//! their key in the dialog and it turns green, the playground answers
//! through it (mock-llm names the key's identity), streaming included; the
//! user removes it and it is orange and unselectable again. Secrets — a
//! BYOK key, a new API key, a webhook's signing secret — are never rendered
//! back after the answer that made them. Also: usage charts and the CSV.

use serde_json::json;

use crate::{
    console::{ConsoleClient, tenant_with_admin},
    helpers::{TestStack, eventually},
    keys_api::{new_api_key, new_user},
    secret_scan::{encodings, find},
};

const ALICE_SECRET: &str = "sk-alice-console-0123456789-secret";

/// The `data-state` of a model's row on the models page.
fn state_of(html: &str, model: &str) -> String {
    let row = format!("data-model=\"{model}\" data-state=\"");
    let at = html.find(&row).unwrap_or_else(|| panic!("{model} is not listed")) + row.len();
    html[at..].split('"').next().unwrap().to_owned()
}

/// Whether the playground's option for `model` is disabled.
fn option_disabled(html: &str, model: &str) -> bool {
    let option = format!("<option value=\"{model}\" ");
    let at = html.find(&option).unwrap_or_else(|| panic!("no option {model}")) + option.len();
    html[at..].split('>').next().unwrap().contains("disabled")
}

/// Fails when any console page shows `secret` in any encoding.
async fn assert_never_rendered(client: &ConsoleClient, secret: &str) {
    for path in [
        "/console/models",
        "/console/models?key=mock-gpt-byok",
        "/console/playground",
        "/console/api-keys",
        "/console/tenant-keys",
        "/console/webhooks",
        "/console/limits",
        "/console/users",
        "/console/usage",
    ] {
        let page = client.get(path).await;
        for (encoding, needle) in encodings(secret) {
            assert!(
                find(page.body.as_bytes(), &needle).is_none(),
                "{path} shows the secret ({encoding})"
            );
        }
    }
}

#[tokio::test]
async fn seed_000_key_turns_green_then_orange_and_the_playground_follows() {
    let keys = format!("{ALICE_SECRET}=alice-identity");
    let stack = TestStack::spawn_with(&[("KEYWAY_MOCK_KEYS", keys.as_str())]).await;
    let (tenant, _) = tenant_with_admin(&stack).await;
    let alice = new_user(&stack, &tenant, "member").await;
    let (_, alice_key) = new_api_key(&stack, &tenant, json!({"name": "alice", "user_id": alice})).await;
    let client = ConsoleClient::sign_in(&stack, &alice_key).await;

    let models = client.get("/console/models").await;
    assert_eq!(
        state_of(&models.body, "mock-gpt-byok"),
        "missing",
        "orange at first"
    );
    assert_eq!(state_of(&models.body, "mock-gpt"), "platform");
    let playground = client.get("/console/playground").await;
    assert!(option_disabled(&playground.body, "mock-gpt-byok"));
    assert!(!option_disabled(&playground.body, "mock-gpt"));
    let refused = client
        .post(
            "/console/playground",
            &[("model", "mock-gpt-byok"), ("message", "hi")],
        )
        .await;
    assert!(
        refused.body.contains("needs a key for openai"),
        "{}",
        refused.body
    );

    let form = [
        ("model", "mock-gpt-byok"),
        ("provider", "openai"),
        ("action", "save"),
        ("key", ALICE_SECRET),
    ];
    let saved = client.post("/console/models/key", &form).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let models = client.get("/console/models?key=mock-gpt-byok").await;
    assert_eq!(
        state_of(&models.body, "mock-gpt-byok"),
        "stored",
        "green once stored"
    );
    assert!(
        models.body.contains("sk-a…cret"),
        "the dialog shows the masked key"
    );
    assert_never_rendered(&client, ALICE_SECRET).await;

    let tested = client
        .post(
            "/console/models/key",
            &[
                ("model", "mock-gpt-byok"),
                ("provider", "openai"),
                ("action", "test"),
            ],
        )
        .await;
    assert_eq!(tested.status, 303);
    let after_test = client.get("/console/models").await;
    assert!(
        after_test.body.contains("The openai key"),
        "the test's verdict is shown"
    );

    eventually("the playground answers through alice's own key", || async {
        let page = client
            .post(
                "/console/playground",
                &[("model", "mock-gpt-byok"), ("message", "hello")],
            )
            .await;
        page.body.contains("[Authenticated as alice-identity]")
    })
    .await;
    // The script's path: SSE from the gateway, forwarded as it comes.
    let stream = reqwest::Client::new()
        .post(stack.url("/console/playground/stream"))
        .header(
            "cookie",
            format!("keyway_console={}", client.session.clone().unwrap()),
        )
        .header("x-csrf-token", client.csrf().unwrap())
        .json(&json!({"model": "mock-gpt-byok", "messages": [{"role": "user", "content": "stream please"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert!(
        stream.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let sse = stream.text().await.unwrap();
    assert!(sse.contains("data: ") && sse.contains("[DONE]"), "{sse}");
    assert!(sse.contains("alice-identity"), "{sse}");
    let no_token = reqwest::Client::new()
        .post(stack.url("/console/playground/stream"))
        .header(
            "cookie",
            format!("keyway_console={}", client.session.clone().unwrap()),
        )
        .json(&json!({"model": "mock-gpt", "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 403, "the stream needs the CSRF header too");

    let removed = client
        .post(
            "/console/models/key",
            &[
                ("model", "mock-gpt-byok"),
                ("provider", "openai"),
                ("action", "remove"),
            ],
        )
        .await;
    assert_eq!(removed.status, 303);
    eventually("the key is orange and unselectable again", || async {
        let models = client.get("/console/models").await;
        let playground = client.get("/console/playground").await;
        state_of(&models.body, "mock-gpt-byok") == "missing"
            && option_disabled(&playground.body, "mock-gpt-byok")
    })
    .await;
}

#[tokio::test]
async fn new_secrets_are_shown_once_and_never_again() {
    let stack = TestStack::spawn().await;
    let (_, admin_key) = tenant_with_admin(&stack).await;
    let client = ConsoleClient::sign_in(&stack, &admin_key).await;
    client.get("/console/api-keys").await;

    let created = client
        .post("/console/api-keys", &[("name", "ci"), ("role", "member")])
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let secret = created
        .body
        .split("<pre id=\"issued-secret\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    assert!(secret.starts_with("kw_"), "{secret}");
    let (status, _) = crate::keys_api::call(&stack, &secret, "GET", "/v1/models", None).await;
    assert_eq!(status, 200, "the secret shown is the working key");

    client.get("/console/webhooks").await;
    let hook = client
        .post("/console/webhooks", &[("url", "http://127.0.0.1:9/hook")])
        .await;
    assert_eq!(hook.status, 200, "{}", hook.body);
    let signing = hook
        .body
        .split("<pre id=\"issued-secret\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    assert!(signing.starts_with("whsec_"), "{signing}");

    client.get("/console/tenant-keys").await;
    let tenant_secret = "sk-tenant-console-secret-42";
    let saved = client
        .post(
            "/console/tenant-keys",
            &[("action", "save"), ("provider", "openai"), ("key", tenant_secret)],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let keys_page = client.get("/console/tenant-keys").await;
    assert!(keys_page.body.contains("sk-t…t-42"), "masked: {}", keys_page.body);

    for secret in [secret.as_str(), signing.as_str(), tenant_secret] {
        assert_never_rendered(&client, secret).await;
    }
}

#[tokio::test]
async fn usage_is_charted_by_day_and_model_and_exported_as_csv() {
    let stack = TestStack::spawn().await;
    let (_, admin_key) = tenant_with_admin(&stack).await;
    let client = ConsoleClient::sign_in(&stack, &admin_key).await;
    client.get("/console/playground").await;
    let chat = client
        .post(
            "/console/playground",
            &[("model", "mock-gpt"), ("message", "count me")],
        )
        .await;
    assert_eq!(chat.status, 200);
    assert!(chat.body.contains("class=\"msg assistant\""), "{}", chat.body);

    eventually("the usage page charts the request", || async {
        let page = client.get("/console/usage").await;
        page.status == 200 && page.body.contains("<rect") && page.body.contains("<td>mock-gpt</td>")
    })
    .await;
    let page = client.get("/console/usage").await;
    assert!(page.body.contains("<svg") && page.body.contains("Requests by day"));
    // The export holds a row back while any transaction that began before
    // its commit is still open, anywhere on the database server (its
    // cursor rule); parallel tests keep such transactions open for a while.
    eventually("the export lists the request", || async {
        client.get("/console/usage/export.csv").await.body.lines().count() > 1
    })
    .await;
    let csv = client.get("/console/usage/export.csv").await;
    assert_eq!(csv.status, 200);
    assert!(
        csv.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("keyway-usage.csv")
    );
    let mut lines = csv.body.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("id,time,tenant_id,user_id,api_key_id,model")
    );
    let row = lines.next().expect("one event exported");
    assert!(row.contains(",mock-gpt,"), "{row}");
}
