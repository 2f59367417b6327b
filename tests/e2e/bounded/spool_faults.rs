//! The spool damaged on disk: events spooled while NATS is unreachable, over
//! two runs of the real binary (two segments); then one segment is cut in
//! the middle of its last record and another has a byte flipped inside a
//! record. With NATS back, every intact event is billed exactly once, the
//! two damaged ones are quarantined, and `/readyz` and `/metrics` show them.

use std::{path::PathBuf, time::Duration};

use prometheus_parse::Scrape;
use serde_json::Value;

use crate::{
    helpers::{KeywayProcess, chat, eventually_within},
    metrics::{count, value},
    usage_events::{PrivateNats, usage_events},
};

const PER_RUN: usize = 12;
/// The record magic of the spool's framed format (see the gateway's
/// `usage/spool/record.rs`): the test finds record boundaries by it.
const RECORD_MAGIC: &[u8] = b"KWr2";
const RECORD_HEADER: usize = 12;

async fn request(process: &KeywayProcess, path: &str) -> Option<reqwest::Response> {
    reqwest::Client::new()
        .get(format!("{}{path}", process.base))
        .bearer_auth(&process.isolation.admin_key)
        .send()
        .await
        .ok()
}

async fn get(process: &KeywayProcess, path: &str) -> Value {
    match request(process, path).await {
        Some(response) => response.json().await.unwrap_or_default(),
        None => Value::Null,
    }
}

/// Sends `PER_RUN` chats, then waits until all of them are in the spool.
async fn spool_a_run(process: &KeywayProcess, tag: &str) {
    let http = reqwest::Client::new();
    for i in 0..PER_RUN {
        let response = http
            .post(format!("{}/v1/chat/completions", process.base))
            .bearer_auth(&process.isolation.admin_key)
            .json(&chat("mock-gpt", &format!("{tag} {i}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "served while NATS is unreachable");
    }
    eventually_within(Duration::from_secs(60), "every event is in the spool", || async {
        get(process, "/readyz").await["usage_spool"]["spooled"] == PER_RUN
    })
    .await;
}

fn segments(spool: &std::path::Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(spool)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "spool"))
        .collect();
    found.sort();
    found
}

/// Where each record of a segment starts.
fn record_starts(bytes: &[u8]) -> Vec<usize> {
    bytes
        .windows(RECORD_MAGIC.len())
        .enumerate()
        .filter(|(_, w)| *w == RECORD_MAGIC)
        .map(|(i, _)| i)
        .collect()
}

/// The requests the billing views count for the admin's tenant.
async fn billed(process: &KeywayProcess) -> i64 {
    let summary = get(process, "/api/v1/usage/summary?tenant_id=platform").await;
    summary["totals"]["requests"].as_i64().unwrap_or(-1)
}

fn stop(process: &mut KeywayProcess) {
    let status = process.terminate(Duration::from_secs(30));
    assert!(status.is_some(), "keyway did not stop; logs:\n{}", process.logs());
}

#[tokio::test]
async fn a_torn_and_a_corrupt_segment_lose_only_the_damaged_records_and_are_reported() {
    let mut nats = PrivateNats::start();
    let url = nats.url();
    nats.down();
    let mut process = KeywayProcess::start(&[("KEYWAY_NATS_URL", url.as_str())]);
    spool_a_run(&process, "first").await;
    stop(&mut process);
    process.respawn();
    spool_a_run(&process, "second").await;
    stop(&mut process);

    let spool = process.isolation.data_dir.path().join("spool");
    let files = segments(&spool);
    assert_eq!(files.len(), 2, "one segment per run: {files:?}");
    let mut first = std::fs::read(&files[0]).unwrap();
    let starts = record_starts(&first);
    assert_eq!(starts.len(), PER_RUN);
    first[starts[5] + RECORD_HEADER + 3] ^= 0x5a;
    std::fs::write(&files[0], first).unwrap();
    let second = std::fs::read(&files[1]).unwrap();
    let last = *record_starts(&second).last().unwrap();
    std::fs::write(&files[1], &second[..last + RECORD_HEADER + 3]).unwrap();

    nats.up();
    process.respawn();
    let intact = (2 * PER_RUN - 2) as i64;
    eventually_within(
        Duration::from_secs(90),
        "every intact event is billed",
        || async { billed(&process).await >= intact },
    )
    .await;
    eventually_within(Duration::from_secs(30), "the spool is drained", || async {
        get(&process, "/readyz").await["usage_spool"]["pending_bytes"] == 0
    })
    .await;
    let ready = get(&process, "/readyz").await;
    let quarantined = ready["usage_spool"]["quarantined"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = quarantined.iter().filter_map(|q| q["file"].as_str()).collect();
    assert_eq!(names.len(), 2, "{ready}");
    assert!(
        names[0].starts_with("000000000001.") && names[0].ends_with(".corrupt"),
        "{ready}"
    );
    assert!(
        names[1].starts_with("000000000002.") && names[1].ends_with(".torn"),
        "{ready}"
    );
    assert_eq!(
        ready["status"], "ready",
        "a quarantine does not affect readiness: {ready}"
    );
    let text = request(&process, "/metrics").await.unwrap().text().await.unwrap();
    let metrics = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let bytes: u64 = quarantined.iter().filter_map(|q| q["bytes"].as_u64()).sum();
    assert_eq!(
        count(value(&metrics, "keyway_usage_spool_quarantined_spans", &[])),
        2.0,
        "/metrics counts the quarantined spans"
    );
    assert_eq!(
        count(value(&metrics, "keyway_usage_spool_quarantined_bytes", &[])),
        bytes as f64,
        "and their bytes"
    );

    let events = usage_events(&url, &process.isolation.nats_prefix).await;
    let ids: std::collections::HashSet<_> = events.iter().map(|(e, _, _)| e.event_id.clone()).collect();
    assert_eq!(
        (events.len(), ids.len()),
        (intact as usize, intact as usize),
        "published once each"
    );
    assert_eq!(billed(&process).await, intact, "billed exactly once each");
}
