//! The happy path and rotation: every event of the tenant (published usage
//! events and real gateway traffic) reaches the receiver, signed, in ledger
//! order, with three instances racing for each webhook; a rotated secret
//! takes over without losing an event.

use serde_json::json;

use super::{
    ledger,
    receiver::{Receiver, now, verify},
    register, set, webhook,
};
use crate::{
    keys_api::{call, chat_status, new_api_key, new_tenant},
    projector::support::{Harness, events, export_cursor, kms, wait_for},
};

#[tokio::test]
async fn every_event_reaches_its_tenants_receiver_signed_in_ledger_order_and_a_rotated_secret_takes_over() {
    let h = Harness::start_with(&[
        ("KEYWAY_WEBHOOK_BATCH_SIZE", "20"),
        ("KEYWAY_WEBHOOK_POLL_MS", "100"),
        ("KEYWAY_WEBHOOK_RETRY_BASE_MS", "200"),
        ("KEYWAY_WEBHOOK_MAX_BACKOFF_MS", "1000"),
    ])
    .await;
    let s = &h.stack;
    let (a, b) = (new_tenant(s, "pro").await, new_tenant(s, "pro").await);
    let (_, admin_a) = new_api_key(s, &a, json!({"name": "billing", "role": "tenant-admin"})).await;
    let (_, app_a) = new_api_key(s, &a, json!({"name": "app", "role": "member"})).await;
    // Two more delivery workers on the same database: with the stack's own,
    // three instances race for every claim.
    let settings = keyway_projector::webhooks::WebhookSettings {
        batch_size: 20,
        poll_interval: std::time::Duration::from_millis(50),
        policy: keyway_common::outbound::OutboundPolicy {
            allow_private: true,
            require_https: false,
        },
        ..Default::default()
    };
    for _ in 0..2 {
        let webhooks = keyway_projector::webhooks::Webhooks::new(kms(s).await, settings.clone()).unwrap();
        tokio::spawn(keyway_projector::webhooks::run(
            h.pool.clone(),
            webhooks,
            h.stop.child_token(),
        ));
    }
    let (ra, rb) = (Receiver::start().await, Receiver::start().await);
    let hook_a = register(&h, &admin_a, None, &ra.url).await;
    ra.set_secret(hook_a["signing_secret"].as_str().unwrap());
    assert_eq!(
        (hook_a["tenant_id"].as_str(), hook_a["cursor"].as_str()),
        (Some(a.as_str()), Some(export_cursor(0).as_str()))
    );
    let hook_b = register(&h, &h.stack.admin_key, Some(&b), &rb.url).await;
    rb.set_secret(hook_b["signing_secret"].as_str().unwrap());
    let id_a = hook_a["id"].as_str().unwrap().to_owned();

    // Published usage events for both tenants, and real traffic for A.
    h.publish(&events(&[a.as_str(), a.as_str(), b.as_str()], 150))
        .await;
    for _ in 0..3 {
        assert_eq!(chat_status(s, &app_a, "mock-gpt").await.0, 200);
    }
    let total = |tenant: String| {
        let h = &h;
        async move { ledger(h, &tenant).await.0.len() }
    };
    wait_for("153 events in the ledger", 20, || async {
        total(a.clone()).await + total(b.clone()).await == 153
    })
    .await;
    wait_for("A's events at A's receiver", 20, || async {
        ra.ids() == set(&ledger(&h, &a).await.0)
    })
    .await;
    wait_for("B's events at B's receiver", 20, || async {
        rb.ids() == set(&ledger(&h, &b).await.0)
    })
    .await;

    let (ids_a, last_a) = ledger(&h, &a).await;
    assert_eq!(ids_a.len(), 103);
    let deliveries = ra.deliveries();
    assert!(
        deliveries.len() >= 103_usize.div_ceil(20),
        "{} deliveries",
        deliveries.len()
    );
    assert!(deliveries.iter().all(|d| (1..=20).contains(&d.ids.len())));
    assert!(deliveries.iter().all(|d| d.webhook_id == id_a));
    let delivery_ids: std::collections::BTreeSet<_> = deliveries.iter().map(|d| &d.delivery_id).collect();
    assert_eq!(
        delivery_ids.len(),
        deliveries.len(),
        "a Keyway-Delivery-Id per attempt"
    );
    let mut in_order: Vec<String> = Vec::new();
    for id in deliveries.iter().flat_map(|d| d.ids.clone()) {
        if !in_order.contains(&id) {
            in_order.push(id);
        }
    }
    assert_eq!(in_order, ids_a, "first deliveries follow ledger order");
    assert_eq!(
        ra.max_in_flight(),
        1,
        "one webhook is never delivered concurrently"
    );
    assert_eq!((ra.refused(), ra.problems()), (0, Vec::<String>::new()));
    assert!(
        rb.ids().is_disjoint(&ra.ids()),
        "each receiver gets its own tenant only"
    );
    // The receiver answers before the sender records the delivery.
    wait_for("the cursor past A's last event", 20, || async {
        webhook(&h, &admin_a, &id_a).await["cursor"] == export_cursor(last_a).as_str()
    })
    .await;
    let state = webhook(&h, &admin_a, &id_a).await;
    assert_eq!(
        (state["consecutive_failures"].as_i64(), &state["last_error"]),
        (Some(0), &serde_json::Value::Null)
    );
    assert!(state["last_delivered_at"].is_string() && state["last_attempt_at"].is_string());

    // What the receiver verified fails with another secret or another body.
    let first = &deliveries[0];
    let secret_a = hook_a["signing_secret"].as_str().unwrap();
    let t: i64 = first.signature[2..first.signature.find(',').unwrap()]
        .parse()
        .unwrap();
    assert!(verify(secret_a, &first.signature, &first.body, t));
    assert!(!verify(
        hook_b["signing_secret"].as_str().unwrap(),
        &first.signature,
        &first.body,
        t
    ));
    let mut tampered = first.body.to_vec();
    let digit = tampered.iter().position(u8::is_ascii_digit).unwrap();
    tampered[digit] = if tampered[digit] == b'9' {
        b'1'
    } else {
        tampered[digit] + 1
    };
    assert!(!verify(secret_a, &first.signature, &tampered, t));
    assert!(
        !verify(secret_a, &first.signature, &first.body, now() + 3600),
        "stale"
    );

    // Rotation: deliveries are signed with the new secret at once; until the
    // receiver has it they fail and are retried, and nothing is lost.
    let path = format!("/api/v1/usage/webhooks/{id_a}/rotate-secret");
    let (status, rotated) = call(s, &admin_a, "POST", &path, None).await;
    assert_eq!(status, 200, "{rotated}");
    let new_secret = rotated["signing_secret"].as_str().unwrap();
    assert!(new_secret.starts_with("whsec_") && new_secret != secret_a);
    h.publish(&events(&[a.as_str()], 30)).await;
    wait_for("a refused delivery after the rotation", 20, || async {
        let state = webhook(&h, &admin_a, &id_a).await;
        state["last_error"] == "http_401" && state["consecutive_failures"].as_i64() >= Some(1)
    })
    .await;
    assert!(ra.refused() >= 1);
    ra.set_secret(new_secret);
    wait_for("the rest delivered under the new secret", 20, || async {
        ra.ids() == set(&ledger(&h, &a).await.0)
    })
    .await;
    wait_for("the failure count reset", 20, || async {
        webhook(&h, &admin_a, &id_a).await["consecutive_failures"] == 0
    })
    .await;
    assert_eq!(ledger(&h, &a).await.0.len(), 133);
}

#[tokio::test]
async fn a_kek_rotation_rewraps_webhook_keys_and_delivery_keeps_signing_with_the_same_secret() {
    let h = Harness::start_with(&[("KEYWAY_WEBHOOK_POLL_MS", "100")]).await;
    let s = &h.stack;
    let tenant = new_tenant(s, "pro").await;
    let (_, app) = new_api_key(s, &tenant, json!({"name": "app", "role": "member"})).await;
    let receiver = Receiver::start().await;
    let hook = register(&h, &s.admin_key, Some(&tenant), &receiver.url).await;
    receiver.set_secret(hook["signing_secret"].as_str().unwrap());
    let id = hook["id"].as_str().unwrap().to_owned();
    let wrapping = || async {
        sqlx::query_as::<_, (String, Vec<u8>)>(
            "SELECT kms_key_ref, wrapped_dek FROM usage_webhooks WHERE id = $1::uuid",
        )
        .bind(&id)
        .fetch_one(&h.pool)
        .await
        .unwrap()
    };
    let before = wrapping().await;

    let (status, rotated) = call(s, &s.admin_key, "POST", "/api/v1/admin/kms/rotate-kek", None).await;
    assert_eq!(status, 200, "{rotated}");
    let after = wrapping().await;
    assert_eq!(
        after.0,
        rotated["kek"].as_str().unwrap(),
        "rewrapped under the new KEK"
    );
    assert_ne!((&after.0, &after.1), (&before.0, &before.1));

    // Delivery opens the secret through the new wrapping (a fresh worker has
    // no cached data key) and signs with the secret the receiver knows.
    let settings = keyway_projector::webhooks::WebhookSettings {
        poll_interval: std::time::Duration::from_millis(50),
        policy: keyway_common::outbound::OutboundPolicy {
            allow_private: true,
            require_https: false,
        },
        ..Default::default()
    };
    let fresh = keyway_projector::webhooks::Webhooks::new(kms(s).await, settings).unwrap();
    tokio::spawn(keyway_projector::webhooks::run(
        h.pool.clone(),
        fresh,
        h.stop.child_token(),
    ));
    for _ in 0..3 {
        assert_eq!(chat_status(s, &app, "mock-gpt").await.0, 200);
    }
    wait_for("the tenant's events at its receiver", 20, || async {
        let ledger = ledger(&h, &tenant).await.0;
        ledger.len() == 3 && receiver.ids() == set(&ledger)
    })
    .await;
    assert!(receiver.problems().is_empty(), "{:?}", receiver.problems());
}
