//! Failure semantics: a receiver answering 5xx, hanging past the timeout or
//! refusing connections gets retries with backoff (visible in the delivery
//! state) and eventually every event; retention never prunes past a
//! webhook that has not delivered.

use std::{collections::BTreeSet, time::Duration};

use serde_json::{Value, json};

use super::{
    ledger,
    receiver::{Receiver, Reply},
    register, set, webhook,
};
use crate::{
    keys_api::{new_api_key, new_tenant},
    projector::support::{Harness, aged_events, events, export_cursor, wait_for},
};

/// The `(last_error, consecutive_failures)` states seen while polling.
async fn watch_until_delivered(
    h: &Harness,
    key: &str,
    id: &str,
    receiver: &Receiver,
    tenant: &str,
) -> BTreeSet<(String, i64)> {
    let mut seen = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let state = webhook(h, key, id).await;
        if let Some(error) = state["last_error"].as_str() {
            seen.insert((error.to_owned(), state["consecutive_failures"].as_i64().unwrap()));
        }
        if receiver.ids() == set(&ledger(h, tenant).await.0) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not every event delivered within 20 s; states seen: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    seen
}

#[tokio::test]
async fn failed_deliveries_are_retried_with_backoff_until_the_receiver_takes_them() {
    let h = Harness::start_with(&[
        ("KEYWAY_WEBHOOK_POLL_MS", "100"),
        ("KEYWAY_WEBHOOK_TIMEOUT_MS", "700"),
        ("KEYWAY_WEBHOOK_RETRY_BASE_MS", "600"),
        ("KEYWAY_WEBHOOK_MAX_BACKOFF_MS", "2000"),
    ])
    .await;
    let s = &h.stack;
    let (a, b) = (new_tenant(s, "pro").await, new_tenant(s, "pro").await);
    let (_, admin_a) = new_api_key(s, &a, json!({"name": "billing", "role": "tenant-admin"})).await;
    let (_, admin_b) = new_api_key(s, &b, json!({"name": "billing", "role": "tenant-admin"})).await;

    let flaky = Receiver::start().await;
    flaky.script(&[
        Reply::Status(500),
        Reply::Status(500),
        Reply::Status(503),
        Reply::Hang(Duration::from_secs(3)),
    ]);
    let hook_a = register(&h, &admin_a, None, &flaky.url).await;
    flaky.set_secret(hook_a["signing_secret"].as_str().unwrap());
    let id_a = hook_a["id"].as_str().unwrap().to_owned();
    // Nothing listens here yet: connections are refused.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed_addr = closed.local_addr().unwrap();
    drop(closed);
    let hook_b = register(&h, &admin_b, None, &format!("http://{closed_addr}/hooks/usage")).await;
    let id_b = hook_b["id"].as_str().unwrap().to_owned();

    h.publish(&events(&[a.as_str(), b.as_str()], 40)).await;
    h.settle(40, 20).await;
    let seen = watch_until_delivered(&h, &admin_a, &id_a, &flaky, &a).await;
    for state in [("http_500", 1), ("http_503", 3), ("timeout", 4)] {
        assert!(
            seen.contains(&(state.0.to_owned(), state.1)),
            "{state:?} not seen in {seen:?}"
        );
    }
    assert!(flaky.attempts() >= 5, "4 failures, then success");
    // The receiver answers before the sender records the success.
    wait_for("the failures cleared", 20, || async {
        let state = webhook(&h, &admin_a, &id_a).await;
        state["consecutive_failures"] == 0 && state["last_error"] == Value::Null
    })
    .await;
    // The failed batch was the first one: it was retried, not skipped.
    let (ids_a, _) = ledger(&h, &a).await;
    assert_eq!(flaky.deliveries()[0].ids[0], ids_a[0]);

    // Connection refused: recorded, retried, and delivered once a receiver listens.
    wait_for("a refused connection recorded", 20, || async {
        let state = webhook(&h, &admin_b, &id_b).await;
        state["last_error"] == "connect" && state["consecutive_failures"].as_i64() >= Some(1)
    })
    .await;
    let state = webhook(&h, &admin_b, &id_b).await;
    assert!(
        state["next_attempt_at"].is_string() && state["last_delivered_at"].is_null(),
        "{state}"
    );
    assert_eq!(state["cursor"], export_cursor(0).as_str());
    let late = Receiver::start_at(closed_addr).await;
    late.set_secret(hook_b["signing_secret"].as_str().unwrap());
    watch_until_delivered(&h, &admin_b, &id_b, &late, &b).await;
    assert_eq!(late.refused(), 0);
}

#[tokio::test]
async fn retention_never_prunes_events_a_webhook_has_not_delivered() {
    let h = Harness::start_with(&[
        ("KEYWAY_WEBHOOK_POLL_MS", "100"),
        ("KEYWAY_WEBHOOK_RETRY_BASE_MS", "200"),
        ("KEYWAY_WEBHOOK_MAX_BACKOFF_MS", "500"),
        ("KEYWAY_WEBHOOK_BATCH_SIZE", "4"),
    ])
    .await;
    let s = &h.stack;
    let (a, b) = (new_tenant(s, "pro").await, new_tenant(s, "pro").await);
    let (_, admin_a) = new_api_key(s, &a, json!({"name": "billing", "role": "tenant-admin"})).await;
    let down = Receiver::start().await;
    down.fail_with(Some(500));
    let hook = register(&h, &admin_a, None, &down.url).await;
    down.set_secret(hook["signing_secret"].as_str().unwrap());
    let id = hook["id"].as_str().unwrap().to_owned();
    let published = aged_events(&a, &b, 24, 20);
    h.publish(&published).await;
    h.settle(24, 20).await;
    wait_for("a failed delivery", 20, || async {
        webhook(&h, &admin_a, &id).await["consecutive_failures"].as_i64() >= Some(1)
    })
    .await;
    // B has no webhook and no cursor: its 10 old rows go; A's are held back.
    assert_eq!(keyway_projector::prune(&h.pool, 30).await.unwrap(), 10);
    assert_eq!(ledger(&h, &a).await.0.len(), 12);
    assert_eq!(ledger(&h, &b).await.0.len(), 2);
    down.fail_with(None);
    wait_for("A's events delivered", 20, || async {
        down.ids() == set(&ledger(&h, &a).await.0)
    })
    .await;
    assert_eq!(down.ids().len(), 12, "the held-back rows were delivered");
    let last = export_cursor(ledger(&h, &a).await.1);
    wait_for("the cursor past A's last event", 20, || async {
        webhook(&h, &admin_a, &id).await["cursor"] == last.as_str()
    })
    .await;
    assert_eq!(keyway_projector::prune(&h.pool, 30).await.unwrap(), 10);
    assert_eq!(ledger(&h, &a).await.0.len(), 2, "recent rows stay");
}
