//! NATS stopped under load: a private `nats-server` (never the shared one)
//! under a whole stack, SIGKILLed while four clients keep chatting, and
//! restarted after the outage. Every request must be served while it is
//! down (events go to the disk spool), and once it is back every request
//! must reach JetStream and the billing views exactly once.
//!
//! The outage lasts `KEYWAY_FAULT_NATS_OUTAGE_SECS` (5 in CI; the issue's
//! scenario is 30: `KEYWAY_FAULT_NATS_OUTAGE_SECS=30 cargo test -p keyway
//! --test e2e faults::nats -- --nocapture`).

use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::{Tally, events_by_request, reconcile};
use crate::{
    helpers::{TestStack, chat, eventually_within},
    usage_events::PrivateNats,
};

fn outage() -> Duration {
    let secs = std::env::var("KEYWAY_FAULT_NATS_OUTAGE_SECS")
        .ok()
        .map(|s| {
            s.parse()
                .expect("KEYWAY_FAULT_NATS_OUTAGE_SECS is a whole number of seconds")
        })
        .unwrap_or(5);
    Duration::from_secs(secs)
}

/// What the load saw: requests sent, the ids of those served, failures.
#[derive(Default)]
struct Load {
    sent: usize,
    served: Vec<String>,
    failures: Vec<String>,
}

/// `workers` clients chatting with a short pause until `stop`.
fn start_load(stack: &TestStack, workers: usize, stop: CancellationToken) -> tokio::task::JoinHandle<Load> {
    let (http, url, key) = (
        stack.http.clone(),
        stack.url("/v1/chat/completions"),
        stack.admin_key.clone(),
    );
    tokio::spawn(async move {
        let mut tasks = tokio::task::JoinSet::new();
        for w in 0..workers {
            let (http, url, key, stop) = (http.clone(), url.clone(), key.clone(), stop.clone());
            tasks.spawn(async move {
                let mut load = Load::default();
                while !stop.is_cancelled() {
                    let body = chat("mock-gpt", &format!("outage {w}/{}", load.sent));
                    load.sent += 1;
                    match http.post(&url).bearer_auth(&key).json(&body).send().await {
                        Ok(r) if r.status() == 200 => {
                            let id = r.headers().get("x-request-id").and_then(|v| v.to_str().ok());
                            load.served
                                .push(id.expect("every answer names its request").to_owned());
                            let _ = r.bytes().await;
                        }
                        Ok(r) => load.failures.push(format!(
                            "{} {}",
                            r.status(),
                            r.text().await.unwrap_or_default()
                        )),
                        Err(e) => load.failures.push(e.to_string()),
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                load
            });
        }
        let mut all = Load::default();
        for load in tasks.join_all().await {
            all.sent += load.sent;
            all.served.extend(load.served);
            all.failures.extend(load.failures);
        }
        all
    })
}

async fn billed_requests(stack: &TestStack) -> i64 {
    let url = stack.url("/api/v1/usage/summary?tenant_id=platform");
    let Ok(response) = stack.http.get(url).bearer_auth(&stack.admin_key).send().await else {
        return -1;
    };
    let summary: Value = response.json().await.unwrap_or_default();
    summary["totals"]["requests"].as_i64().unwrap_or(-1)
}

#[tokio::test]
async fn nats_stopped_under_load_fails_no_request_and_bills_each_exactly_once() {
    let mut nats = PrivateNats::start();
    let url = nats.url();
    let stack = TestStack::spawn_with(&[("KEYWAY_NATS_URL", url.as_str())]).await;
    let prefix = stack.isolation.nats_prefix.clone();

    let stop = CancellationToken::new();
    let load = start_load(&stack, 4, stop.clone());
    tokio::time::sleep(Duration::from_secs(2)).await;
    nats.down();
    tokio::time::sleep(outage()).await;
    nats.up();
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.cancel();
    let load = load.await.unwrap();

    let mut tally = Tally {
        sent: load.sent,
        served: load.served.len(),
        ..Tally::default()
    };
    // The spool replays in the background: wait until every served request
    // has its event (or the deadline), then count.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        reconcile(&mut tally, &load.served, &events_by_request(&url, &prefix).await);
        if tally.lost == 0 || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tally.print("nats_outage");
    assert!(load.failures.is_empty(), "no request fails: {:?}", load.failures);
    assert!(tally.served > 0 && tally.served == tally.sent, "{tally:?}");
    assert_eq!((tally.lost, tally.duplicated), (0, 0), "{tally:?}");

    let served = i64::try_from(tally.served).unwrap();
    eventually_within(
        Duration::from_secs(120),
        &format!("the billing views count {served} requests"),
        || async { billed_requests(&stack).await == served },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(billed_requests(&stack).await, served, "and not more");
}
