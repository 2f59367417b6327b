//! Exactly-once folding: duplicates inside and beyond JetStream's dedupe
//! window, two instances on one consumer, and a rebuild matching the
//! incremental views row for row.

use super::support::{Harness, WIDE, events, expected, totals, view_sums};

#[tokio::test]
async fn every_event_lands_in_the_views_exactly_once_even_when_published_twice() {
    let h = Harness::start().await;
    let _projector = h.projector(100);
    let distinct = events(&["t-a", "t-b"], 400);
    let mut published = distinct.clone();
    // The same Nats-Msg-Id: JetStream's dedupe window drops these.
    published.extend(distinct[..50].iter().cloned());
    // A retry outside the window: a new message, the same event id.
    published.extend(
        distinct[50..100]
            .iter()
            .map(|(e, _)| (e.clone(), format!("late-{}", e.event_id))),
    );
    h.publish(&published).await;
    h.settle(400, 60).await;
    let want = expected(&distinct);
    for view in ["usage_daily", "usage_monthly"] {
        assert_eq!(view_sums(&h.pool, view).await, want, "{view}");
    }
    for tenant in ["t-a", "t-b"] {
        let (status, summary) = h
            .get(
                &h.stack.admin_key,
                &format!("/api/v1/usage/summary?{WIDE}&group_by=model&tenant_id={tenant}"),
            )
            .await;
        assert_eq!(status, 200, "{summary}");
        assert_eq!(totals(&summary), want[tenant], "{summary}");
        assert_eq!(summary["totals"]["currency"], "USD");
        assert_eq!(
            summary["rows"].as_array().unwrap().len(),
            2,
            "one row per model: {summary}"
        );
    }
    let disconnects: i64 = sqlx::query_scalar("SELECT sum(disconnects)::bigint FROM usage_daily")
        .fetch_one(&h.pool)
        .await
        .unwrap();
    assert_eq!(
        disconnects,
        distinct.iter().filter(|(e, _)| e.client_disconnected).count() as i64
    );
}

#[tokio::test]
async fn two_projector_instances_on_one_consumer_count_each_event_once() {
    let h = Harness::start().await;
    let (_one, _two) = (h.projector(50), h.projector(50));
    let distinct = events(&["t-a", "t-b"], 3_000);
    let mut published = distinct.clone();
    published.extend(
        distinct
            .iter()
            .step_by(3)
            .map(|(e, _)| (e.clone(), format!("again-{}", e.event_id))),
    );
    h.publish(&published).await;
    h.settle(3_000, 90).await;
    assert_eq!(view_sums(&h.pool, "usage_daily").await, expected(&distinct));
    assert_eq!(view_sums(&h.pool, "usage_monthly").await, expected(&distinct));
}

#[tokio::test]
async fn rebuilding_the_views_from_the_ledger_gives_identical_rows() {
    let h = Harness::start().await;
    // Small batches: the incremental views are built from many folds.
    let (_projector, stop) = h.projector(37);
    let distinct = events(&["t-a", "t-b", "t-c"], 600);
    h.publish(&distinct).await;
    h.settle(600, 60).await;
    stop.cancel();
    let incremental = h.views().await;
    assert!(!incremental.is_empty());
    assert_eq!(keyway_projector::rebuild(&h.pool).await.unwrap(), 600);
    assert_eq!(h.views().await, incremental);
}
