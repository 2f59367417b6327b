//! Ledger positions follow transaction ids (migration 2007), so writers that
//! run side by side cannot make the export skip an event: a row committed
//! late by a transaction that began early sorts before everything the export
//! could have shown while that transaction ran.

use sqlx::Connection;

use super::support::{Harness, events, export, wait_for};
use crate::helpers::pg_url;

/// The interleaving that made identity positions skip events without a
/// global lock. An early transaction takes its id; a projector batch draws
/// its positions and then waits (the test holds the checkpoint row); the
/// early transaction writes a row and commits, and the export hands out a
/// cursor past it. With identity values that row came after the batch's, so
/// the cursor passed the batch before it committed. Now the batch's
/// positions come from its later transaction id, after the cursor.
#[tokio::test]
async fn a_batch_committed_after_an_earlier_transaction_is_still_exported_after_its_cursor() {
    let h = Harness::start().await;
    let _projector = h.projector(100);
    let published = events(&["pos-a"], 51);
    h.publish(&published[..1]).await;
    h.settle(1, 60).await;
    let url = pg_url(&h.stack.isolation.db_name);
    let mut early = sqlx::PgConnection::connect(&url).await.unwrap();
    let mut holder = sqlx::PgConnection::connect(&url).await.unwrap();

    sqlx::query("BEGIN").execute(&mut early).await.unwrap();
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut early)
        .await
        .unwrap();
    sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
    sqlx::query("SELECT 1 FROM projector_checkpoints FOR UPDATE")
        .execute(&mut holder)
        .await
        .unwrap();
    h.publish(&published[1..]).await;
    wait_for("a projector batch waiting on the checkpoint row", 60, || async {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'
               AND query LIKE '%INSERT INTO usage_ledger%'",
        )
        .fetch_one(&h.pool)
        .await
        .unwrap();
        waiting > 0
    })
    .await;

    // Another writer's row, through the column default, as a projector of
    // an earlier release writes during a rolling upgrade.
    let late: String = sqlx::query_scalar(
        "INSERT INTO usage_ledger (event_id, tenant_id, model, provider, key_source, input_tokens,
             output_tokens, cached_tokens, cost_micros, currency, status, streamed, estimated,
             occurred_at, event)
         VALUES (gen_random_uuid(), 'pos-a', 'm', 'openai', 'system', 1, 1, 0, 1, 'USD', 200,
             false, false, now(), '\\x')
         RETURNING event_id::text",
    )
    .fetch_one(&mut early)
    .await
    .unwrap();
    sqlx::query("COMMIT").execute(&mut early).await.unwrap();
    let (seen, cursor) = export(&h, &h.stack.admin_key, String::new(), 2).await;
    let ids: Vec<&str> = seen.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [published[0].0.event_id.as_str(), late.as_str()],
        "the first event and the early transaction's row; the waiting batch is not visible yet"
    );

    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    h.settle(52, 60).await;
    let (rest, _) = export(&h, &h.stack.admin_key, cursor, 50).await;
    let mut rest: Vec<&str> = rest.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let mut want: Vec<&str> = published[1..].iter().map(|(e, _)| e.event_id.as_str()).collect();
    rest.sort_unstable();
    want.sort_unstable();
    assert_eq!(
        rest, want,
        "the batch, after the cursor that passed the early row"
    );
}
