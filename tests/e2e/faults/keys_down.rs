//! The key service down while the services run apart (`keyway run keys`,
//! `keyway run gateway`): keys the gateway has cached keep serving until
//! `KEYWAY_CREDENTIAL_CACHE_TTL_MS` runs out, keys it has not seen get a
//! clean 503 (`KW-AUTH-004`) in the wire's shape, and once the key service
//! is back every key works again; every request served is billed once.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Tally, events_by_request, reconcile};
use crate::helpers::{KeywayProcess, chat, eventually_within, key_outbox_drained, nats_url, random_secret};

// Generous: the first call and the checks below run on a loaded CI box.
const TTL: Duration = Duration::from_secs(20);

fn free_port() -> u16 {
    crate::ports::server_port()
}

/// Status, `KW-` code (if an error in the OpenAI shape) and request id.
async fn chat_via(gateway: &KeywayProcess, key: &str) -> (u16, Option<String>, String) {
    let response = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", gateway.base))
        .bearer_auth(key)
        .timeout(Duration::from_secs(60))
        .json(&chat("mock-gpt", "keys down"))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body: Value = response.json().await.unwrap_or_default();
    (
        status,
        body["error"]["keyway_code"].as_str().map(str::to_owned),
        id,
    )
}

async fn admin(keys: &KeywayProcess, path: &str, body: Value) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", keys.base))
        .bearer_auth(&keys.isolation.admin_key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

/// Waits until every key-change event is on JetStream, then a moment for
/// the gateway to consume them.
async fn settle_key_changes(keys: &KeywayProcess) {
    key_outbox_drained(&keys.isolation.db_name).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn with_the_key_service_down_cached_keys_serve_until_their_ttl_and_new_ones_get_a_clean_503() {
    let token = random_secret("internal-token-");
    // A fixed port, so the gateway finds the key service again after its restart.
    let listen = format!("127.0.0.1:{}", free_port());
    let mut keys = KeywayProcess::start_args(
        &["run", "keys"],
        &[
            ("KEYWAY_INTERNAL_TOKEN", token.as_str()),
            ("KEYWAY_LISTEN", listen.as_str()),
        ],
    );
    let prefix = keys.isolation.nats_prefix.clone();
    let ttl_ms = TTL.as_millis().to_string();
    let gateway = KeywayProcess::start_args(
        &["run", "gateway"],
        &[
            ("KEYWAY_KEYS_URL", keys.base.as_str()),
            ("KEYWAY_INTERNAL_TOKEN", token.as_str()),
            ("KEYWAY_NATS_PREFIX", prefix.as_str()),
            ("KEYWAY_CREDENTIAL_CACHE_TTL_MS", ttl_ms.as_str()),
        ],
    );
    let tenant = admin(&keys, "/api/v1/tenants", json!({"name": "Down", "plan": "pro"})).await;
    let keys_path = format!("/api/v1/tenants/{}/api-keys", tenant["id"].as_str().unwrap());
    let cached = admin(&keys, &keys_path, json!({"name": "cached"})).await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let unseen = admin(&keys, &keys_path, json!({"name": "unseen"})).await["key"]
        .as_str()
        .unwrap()
        .to_owned();

    // Every key-change event evicts the tenant's cached credentials in the
    // gateway (correctly): let the two creations reach it before caching, or
    // a late event would empty the cache this test relies on.
    settle_key_changes(&keys).await;

    let mut tally = Tally::default();
    let mut to_bill = Vec::new();
    let mut record = |(status, code, id): (u16, Option<String>, String), want: u16, what: &str| {
        tally.sent += 1;
        let clean = status == want && (status == 200 || code.as_deref() == Some("KW-AUTH-004"));
        assert!(clean, "{what}: {status} {code:?}, expected {want}");
        tally.served += 1;
        if status == 200 {
            to_bill.push(id);
        }
    };
    record(chat_via(&gateway, &cached).await, 200, "the key, cached");
    let cached_at = Instant::now();

    let _ = keys.child.kill();
    let _ = keys.child.wait();
    // Within the TTL (less the time the first call took to be cached).
    while cached_at.elapsed() < TTL / 2 {
        record(
            chat_via(&gateway, &cached).await,
            200,
            "a cached key with the key service down",
        );
        record(
            chat_via(&gateway, &unseen).await,
            503,
            "an unseen key with the key service down",
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let deadline = Instant::now() + TTL * 4;
    loop {
        let answer = chat_via(&gateway, &cached).await;
        if answer.0 == 503 {
            record(answer, 503, "a cached key past its TTL");
            break;
        }
        record(answer, 200, "a cached key until its TTL runs out");
        assert!(
            Instant::now() < deadline,
            "the cached key outlived its TTL by far"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    keys.respawn();
    eventually_within(Duration::from_secs(60), "every key works again", || async {
        chat_via(&gateway, &cached).await.0 == 200 && chat_via(&gateway, &unseen).await.0 == 200
    })
    .await;
    record(
        chat_via(&gateway, &cached).await,
        200,
        "the cached key, the key service back",
    );
    record(
        chat_via(&gateway, &unseen).await,
        200,
        "the unseen key, the key service back",
    );

    eventually_within(
        Duration::from_secs(60),
        "every request served is billed",
        || async {
            let events = events_by_request(nats_url(), &prefix).await;
            to_bill.iter().all(|id| events.contains_key(id))
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    reconcile(
        &mut tally,
        &to_bill,
        &events_by_request(nats_url(), &prefix).await,
    );
    tally.print("keys_down");
    assert_eq!(
        (tally.billed, tally.lost, tally.duplicated),
        (to_bill.len(), 0, 0)
    );
}
