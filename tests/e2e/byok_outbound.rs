//! Custom BYOK base URLs are URLs the tenant points this process at: the
//! key test must not work as a port scanner, and in production the URL must
//! be https (the provider key goes in its headers) and public.

use std::{collections::HashMap, sync::Arc};

use keyway_common::{Config, outbound::OutboundPolicy};
use keyway_keys::{KeyService, KeyServiceSettings};
use serde_json::{Value, json};
use tokio::{io::AsyncWriteExt, net::TcpListener};

use crate::{
    helpers::{TestStack, local_kms, pg_url},
    keys_api::{call, chat_status, new_api_key, new_tenant, new_user},
};

/// A loopback port nothing listens on: connecting is refused.
async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

/// A loopback port that accepts and answers `reply` to every connection,
/// then hangs up: the connection succeeds, the HTTP request fails.
async fn port_answering(reply: &'static [u8]) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let _ = socket.write_all(reply).await;
            let _ = socket.shutdown().await;
        }
    });
    port
}

#[tokio::test]
async fn testing_a_custom_base_url_says_the_same_for_every_transport_failure() {
    let stack = TestStack::spawn().await;
    let tenant = new_tenant(&stack, "starter").await;
    let admin = stack.admin_key.clone();
    let targets = [
        ("refused", closed_port().await),
        ("hung-up", port_answering(b"").await),
        ("not-http", port_answering(b"SSH-2.0-OpenSSH_9.2\r\n").await),
    ];
    let mut answers = Vec::new();
    for (name, port) in targets {
        let slug = format!("custom-{name}");
        let path = format!("/api/v1/byok/keys/{slug}?tenant_id={tenant}&scope=tenant");
        let body = json!({"key": "sk-probe-0123456789", "base_url": format!("http://127.0.0.1:{port}/v1")});
        let (status, stored) = call(&stack, &admin, "PUT", &path, Some(body)).await;
        assert_eq!(status, 200, "{name}: {stored}");
        let test = format!("/api/v1/byok/keys/{slug}/test?tenant_id={tenant}&scope=tenant");
        let (status, result) = call(&stack, &admin, "POST", &test, None).await;
        assert_eq!(result["ok"], false, "{name}: {result}");
        answers.push((name, status, result));
    }
    let (_, first_status, first) = &answers[0];
    for (name, status, result) in &answers[1..] {
        assert_eq!(
            (status, result),
            (first_status, first),
            "{name} must be indistinguishable from a refused connection"
        );
    }
    assert_eq!(
        (*first_status, &first["status"], first["message"].as_str()),
        (200, &Value::Null, Some("the provider could not be reached"))
    );
}

/// The key service as `KEYWAY_ENV=prod` configures it, on the stack's
/// database, mounted on a port of its own.
async fn production_keys(stack: &TestStack) -> String {
    keys_beside(stack, production_policy(stack), "live").await
}

fn production_policy(stack: &TestStack) -> OutboundPolicy {
    // Production needs the local KMS's master key to exist: the stack's has one.
    let data_dir = stack.isolation.data_dir.path().display().to_string();
    let vars: HashMap<String, String> = [
        ("KEYWAY_ENV", "prod"),
        ("KEYWAY_DATA_DIR", data_dir.as_str()),
        ("KEYWAY_ADMIN_KEY", stack.admin_key.as_str()),
        ("KEYWAY_MOCK", "false"),
        ("KEYWAY_MODELS", "/nonexistent/models.yaml"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let config = Config::from_vars(vars).unwrap();
    let policy = OutboundPolicy::for_config(&config);
    assert_eq!(
        policy,
        OutboundPolicy {
            allow_private: false,
            require_https: true
        }
    );
    policy
}

/// A key service with `policy` on the stack's database and KMS, mounted on
/// a port of its own; its base URL.
async fn keys_beside(stack: &TestStack, policy: OutboundPolicy, key_env: &str) -> String {
    let pool = sqlx::PgPool::connect(&pg_url(&stack.isolation.db_name))
        .await
        .unwrap();
    let kms = local_kms(stack).await;
    let settings = KeyServiceSettings {
        key_env: key_env.into(),
        nats_prefix: stack.isolation.nats_prefix.clone(),
        base_url_policy: policy,
    };
    let service = KeyService::start(pool, kms, &stack.admin_key, settings)
        .await
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, keyway_keys::http::router(Arc::new(service))).into_future());
    base
}

#[tokio::test]
async fn in_production_a_custom_base_url_must_be_https_and_public() {
    let stack = TestStack::spawn().await;
    let tenant = new_tenant(&stack, "starter").await;
    let base = production_keys(&stack).await;
    for (url, why) in [
        ("http://llm.example.com/v1", "base_url must be an https URL"),
        ("http://127.0.0.1:8080/v1", "base_url must be an https URL"),
        ("https://[::127.0.0.1]/v1", "not publicly routable"),
        ("https://[64:ff9b::a00:1]/v1", "not publicly routable"),
        ("https://[2002:a9fe:a9fe::]/v1", "not publicly routable"),
        ("https://198.18.0.1/v1", "not publicly routable"),
        ("https://0.0.0.0/v1", "not publicly routable"),
    ] {
        let response = stack
            .http
            .put(format!(
                "{base}/api/v1/byok/keys/custom-acme?tenant_id={tenant}&scope=tenant"
            ))
            .bearer_auth(&stack.admin_key)
            .json(&json!({"key": "sk-live-0123456789", "base_url": url}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("KW-ADM-002")),
            "{url}: {body}"
        );
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(why), "{url}: {body}");
    }
}

/// DNS rebinding: a base URL that was public when it was checked may later
/// resolve inside the network. Simulated with a key stored through a key
/// service that allowed private addresses (as if `localhost` had been public
/// then) while the serving stack does not: the gateway refuses to connect
/// there, and the operator's own catalog upstream on loopback still works.
#[tokio::test]
async fn a_byok_base_url_that_now_resolves_inside_is_refused_when_connecting() {
    let catalog = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        catalog.path(),
        "models:\n  mock-gpt:\n    provider: openai\n    upstream_model: mock-model\n    base_url: ${KEYWAY_MOCK_URL}/v1\n    \
         key_source: [system]\n    api_key_env: KEYWAY_MOCK_SYSTEM_KEY\n  own-endpoint:\n    provider: custom-mock\n    \
         upstream_model: mock-model\n    base_url: ${KEYWAY_MOCK_URL}/v1\n    key_source: [user]\n",
    )
    .unwrap();
    let models = catalog.path().display().to_string();
    let stack = TestStack::spawn_with(&[
        ("KEYWAY_MODELS", models.as_str()),
        ("KEYWAY_ALLOW_PRIVATE_URLS", "false"),
    ])
    .await;
    let tenant = new_tenant(&stack, "starter").await;
    let user = new_user(&stack, &tenant, "member").await;
    let (_, key) = new_api_key(&stack, &tenant, json!({"name": "alice", "user_id": user})).await;
    let lenient = OutboundPolicy {
        allow_private: true,
        require_https: false,
    };
    // Keys issued by the dev stack carry its `dev` environment.
    let lenient_keys = keys_beside(&stack, lenient, "dev").await;
    let mock = stack.mock_url.clone().expect("the dev stack runs the mock");
    let port = mock.rsplit(':').next().unwrap();
    let response = stack
        .http
        .put(format!("{lenient_keys}/api/v1/byok/keys/custom-mock"))
        .bearer_auth(&key)
        .json(&json!({"key": "sk-rebound-0123456789", "base_url": format!("http://localhost:{port}/v1")}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());

    let (status, body) = chat_status(&stack, &key, "own-endpoint").await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(
        (
            body["error"]["keyway_code"].as_str(),
            body["error"]["message"].as_str()
        ),
        (
            Some("KW-UP-002"),
            Some("The upstream provider failed: could not connect to the upstream provider")
        ),
        "{body}"
    );
    assert!(!body.to_string().contains("sk-rebound"), "{body}");
    let (status, body) = chat_status(&stack, &key, "mock-gpt").await;
    assert_eq!(status, 200, "catalog upstreams may be private: {body}");
}
