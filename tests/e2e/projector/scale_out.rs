//! Three real `keyway run projector` processes share the durable consumer
//! and drain one backlog of batched and single messages; one of them is
//! killed with SIGKILL in the middle. The views end exactly equal to the
//! events published: the ledger's event ids absorb every redelivery. The
//! processes write side by side (no global lock), and a billing consumer
//! following the export through the whole drain gets every event once.

use std::{collections::HashSet, time::Duration};

use async_nats::{HeaderMap, jetstream};
use keyway_proto::{
    cloudevents as ce,
    v1::{UsageBatch, UsageEvent},
};
use prost::Message;

use super::support::{events, expected, view_sums};
use crate::helpers::{KeywayProcess, eventually_within, nats_url, pg_url};

async fn ledger_rows(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM usage_ledger")
        .fetch_one(pool)
        .await
        .unwrap_or(0)
}

/// Follows the export from the start, as a billing consumer does, until
/// `want` events came or four minutes passed; returns the event ids handed
/// out, in order.
async fn follow_export(base: String, key: String, want: usize) -> Vec<String> {
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    let (mut ids, mut cursor) = (Vec::new(), String::new());
    while ids.len() < want && tokio::time::Instant::now() < deadline {
        let url = format!("{base}/api/v1/usage/events?limit=1000&cursor={cursor}");
        let page: serde_json::Value = match http.get(url).bearer_auth(&key).send().await {
            Ok(response) => response.json().await.unwrap(),
            // The process is still starting.
            Err(_) => serde_json::Value::Null,
        };
        if let Some(events) = page["events"].as_array() {
            ids.extend(events.iter().map(|e| e["id"].as_str().unwrap().to_owned()));
            cursor = page["resume_cursor"].as_str().unwrap().to_owned();
        }
        if page["next_cursor"].is_null() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    ids
}

async fn publish(
    js: &jetstream::Context,
    prefix: &str,
    ce_type: &str,
    tenant: &str,
    payload: Vec<u8>,
    id: &str,
) {
    let mut headers = HeaderMap::new();
    headers.insert(ce::NATS_MSG_ID, id);
    headers.insert(ce::TYPE, ce_type);
    let subject = keyway_proto::subjects::usage(prefix, tenant);
    js.publish_with_headers(subject, headers, payload.into())
        .await
        .unwrap()
        .await
        .unwrap();
}

#[tokio::test]
async fn three_projector_processes_share_a_backlog_and_one_killed_bills_nothing_twice() {
    const N: usize = 60_000;
    let extra = [("KEYWAY_PROJECTOR_BATCH_SIZE", "500")];
    let mut first = KeywayProcess::start_args(&["run", "projector"], &extra);
    let prefix = first.isolation.nats_prefix.clone();
    let pool = sqlx::PgPool::connect(&pg_url(&first.isolation.db_name))
        .await
        .unwrap();
    let js = jetstream::new(async_nats::connect(nats_url()).await.unwrap());
    let second = first.sibling(2);
    let _third = first.sibling(3);
    let reader = tokio::spawn(follow_export(
        second.base.clone(),
        first.isolation.admin_key.clone(),
        N,
    ));

    // Batches of 40 per tenant, and every 7th batch's first event also on
    // its own, as a spool replay or an older gateway would add. The first
    // process is killed once folding has begun, while publishing goes on.
    let published = events(&["scale-a", "scale-b", "scale-c"], N);
    for (t, tenant) in ["scale-a", "scale-b", "scale-c"].into_iter().enumerate() {
        let mine: Vec<&UsageEvent> = published
            .iter()
            .map(|(e, _)| e)
            .filter(|e| e.tenant_id == tenant)
            .collect();
        for (n, chunk) in mine.chunks(40).enumerate() {
            let batch = UsageBatch {
                events: chunk.iter().map(|e| (*e).clone()).collect(),
            };
            let id = format!("{tenant}-{n}");
            publish(
                &js,
                &prefix,
                ce::USAGE_BATCH_TYPE,
                tenant,
                batch.encode_to_vec(),
                &id,
            )
            .await;
            if n % 7 == 0 {
                let e = chunk[0];
                publish(
                    &js,
                    &prefix,
                    ce::USAGE_TYPE,
                    tenant,
                    e.encode_to_vec(),
                    &e.event_id,
                )
                .await;
            }
        }
        if t == 0 {
            eventually_within(
                Duration::from_secs(60),
                "the projectors start folding",
                || async { ledger_rows(&pool).await > 0 },
            )
            .await;
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &first.child.id().to_string()])
                .status();
            let _ = first.child.wait();
        }
    }

    // The killed process's unacked messages come back after the ack wait
    // (30 s) to the two survivors.
    eventually_within(
        Duration::from_secs(180),
        "the surviving projectors fold the whole backlog",
        || async { ledger_rows(&pool).await >= N as i64 },
    )
    .await;
    assert_eq!(ledger_rows(&pool).await, N as i64, "one ledger row per event");
    let want = expected(&published);
    assert_eq!(view_sums(&pool, "usage_daily").await, want, "daily views");
    assert_eq!(view_sums(&pool, "usage_monthly").await, want, "monthly views");
    let exported = reader.await.unwrap();
    let unique: HashSet<&String> = exported.iter().collect();
    assert_eq!(
        (exported.len(), unique.len()),
        (N, N),
        "the export, followed during the drain, hands out every event once"
    );
}
