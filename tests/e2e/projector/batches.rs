//! Batches on the wire (`UsageBatch`, one JetStream message per tenant and
//! up to N events) stay exactly-once: JetStream dedupes a republished batch
//! by its `Nats-Msg-Id`, and the ledger dedupes every event by its own id
//! whatever message carried it — a batch republished under another id, the
//! same events regrouped (a spool replay), or a batch of which some events
//! were already committed before a crash, published one by one.

use keyway_proto::v1::UsageEvent;

use super::support::{Harness, event, events, expected, view_sums};

fn of_tenant<'a>(all: &'a [(UsageEvent, String)], tenant: &str) -> Vec<&'a UsageEvent> {
    all.iter()
        .map(|(e, _)| e)
        .filter(|e| e.tenant_id == tenant)
        .collect()
}

async fn dead_letters(h: &Harness) -> Vec<(String, Vec<u8>)> {
    sqlx::query_as("SELECT error, payload FROM usage_dead_letters ORDER BY id")
        .fetch_all(&h.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_batch_redelivered_under_another_msg_id_or_regrouped_is_billed_once() {
    let h = Harness::start().await;
    let _projector = h.projector(100);
    let published = events(&["batch-a", "batch-b"], 600);
    for tenant in ["batch-a", "batch-b"] {
        let mine = of_tenant(&published, tenant);
        for (n, chunk) in mine.chunks(50).enumerate() {
            h.publish_batch(chunk, &format!("{tenant}-first-{n}")).await;
        }
        // The same batches again under other ids: past JetStream's dedupe.
        for (n, chunk) in mine.chunks(50).enumerate() {
            h.publish_batch(chunk, &format!("{tenant}-again-{n}")).await;
        }
        // Regrouped, as a replay of the spool would: other boundaries.
        for (n, chunk) in mine.chunks(70).enumerate() {
            h.publish_batch(chunk, &format!("{tenant}-regrouped-{n}")).await;
        }
    }
    h.settle(600, 120).await;
    let want = expected(&published);
    assert_eq!(view_sums(&h.pool, "usage_daily").await, want);
    assert_eq!(view_sums(&h.pool, "usage_monthly").await, want);
    assert!(dead_letters(&h).await.is_empty());
}

#[tokio::test]
async fn a_batch_split_across_a_crash_folds_only_the_events_not_yet_committed() {
    let h = Harness::start().await;
    let published = events(&["split-a"], 400);
    let all = of_tenant(&published, "split-a");
    // Before the "crash": every third event made it on its own (an older
    // gateway, or a spool replay of the events one by one), and the first
    // batch of 100 was committed whole.
    let early: Vec<(UsageEvent, String)> = published.iter().step_by(3).cloned().collect();
    {
        let (first, _) = h.projector(64);
        h.publish(&early).await;
        h.publish_batch(&all[..100], "split-first-100").await;
        let committed = early.len() + (0..100).filter(|i| i % 3 != 0).count();
        h.settle(committed as i64, 120).await;
        first.abort();
        let _ = first.await;
    }
    // After it: the whole backlog arrives again, batched differently, under
    // new ids, to a fresh instance.
    let _second = h.projector(64);
    for (n, chunk) in all.chunks(128).enumerate() {
        h.publish_batch(chunk, &format!("split-after-{n}")).await;
    }
    h.settle(400, 120).await;
    let want = expected(&published);
    assert_eq!(view_sums(&h.pool, "usage_daily").await, want);
    assert_eq!(view_sums(&h.pool, "usage_monthly").await, want);
}

#[tokio::test]
async fn an_invalid_event_in_a_batch_is_dead_lettered_with_its_message_and_the_rest_billed() {
    let h = Harness::start().await;
    let _projector = h.projector(100);
    let good: Vec<(UsageEvent, String)> = (0..4)
        .map(|_| {
            let e = event("mixed-a", "u1", "k1", "mock-gpt");
            let id = e.event_id.clone();
            (e, id)
        })
        .collect();
    let bad = UsageEvent {
        event_id: "not-a-uuid".into(),
        ..good[0].0.clone()
    };
    let mut batch: Vec<&UsageEvent> = good.iter().map(|(e, _)| e).collect();
    batch.insert(2, &bad);
    h.publish_batch(&batch, "mixed-batch").await;
    h.settle(4, 60).await;
    assert_eq!(view_sums(&h.pool, "usage_monthly").await, expected(&good));
    let dead = dead_letters(&h).await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(dead[0].0.contains("not-a-uuid"), "{}", dead[0].0);
    // The whole message is kept: republishing it later bills nothing twice.
    let kept: keyway_proto::v1::UsageBatch = prost::Message::decode(dead[0].1.as_slice()).unwrap();
    assert_eq!(kept.events.len(), 5);
}
