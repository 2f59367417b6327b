//! A real `keyway run projector` process killed with SIGKILL in the middle
//! of a backlog, then restarted: unacknowledged batches are redelivered, the
//! ledger's primary key drops what was already committed, and the views end
//! exactly equal to the events published.

use std::time::Duration;

use async_nats::{HeaderMap, jetstream};
use keyway_proto::cloudevents as ce;
use prost::Message;

use super::support::{events, expected, view_sums};
use crate::helpers::{KeywayProcess, eventually_within, nats_url, pg_url};

async fn ledger_rows(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM usage_ledger")
        .fetch_one(pool)
        .await
        .unwrap_or(0)
}

#[tokio::test]
async fn a_projector_process_killed_with_sigkill_mid_batch_double_counts_nothing() {
    const N: usize = 30_000;
    let mut process =
        KeywayProcess::start_args(&["run", "projector"], &[("KEYWAY_PROJECTOR_BATCH_SIZE", "250")]);
    let prefix = process.isolation.nats_prefix.clone();
    let pool = sqlx::PgPool::connect(&pg_url(&process.isolation.db_name))
        .await
        .unwrap();
    let js = jetstream::new(async_nats::connect(nats_url()).await.unwrap());

    let published = events(&["kill-a", "kill-b"], N);
    let mut acks = Vec::with_capacity(N);
    for (event, id) in &published {
        let mut headers = HeaderMap::new();
        headers.insert(ce::NATS_MSG_ID, id.as_str());
        let subject = keyway_proto::subjects::usage(&prefix, &event.tenant_id);
        acks.push(
            js.publish_with_headers(subject, headers, event.encode_to_vec().into())
                .await
                .unwrap(),
        );
    }
    for ack in acks {
        ack.await.unwrap();
    }

    // Kill it while the backlog is being folded.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while ledger_rows(&pool).await == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the projector never started folding"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &process.child.id().to_string()])
        .status();
    let _ = process.child.wait();
    let at_kill = ledger_rows(&pool).await;
    assert!(
        at_kill < N as i64,
        "the kill came too late to test anything ({at_kill} of {N} folded)"
    );

    process.respawn();
    // Unacknowledged messages come back after the consumer's ack wait.
    // The views are folded in the ledger insert's own statement, so once
    // every row is in they are final; a late redelivery hits the ledger's
    // primary key and changes neither.
    eventually_within(
        Duration::from_secs(120),
        "the restarted projector folds the whole backlog",
        || async { ledger_rows(&pool).await >= N as i64 },
    )
    .await;
    assert_eq!(ledger_rows(&pool).await, N as i64, "one ledger row per event");
    let want = expected(&published);
    assert_eq!(
        view_sums(&pool, "usage_daily").await,
        want,
        "daily views, killed at {at_kill} of {N}"
    );
    assert_eq!(view_sums(&pool, "usage_monthly").await, want, "monthly views");
}
