//! An upstream streams 50 MB without ever ending an SSE event. Keyway holds
//! at most `KEYWAY_SSE_MAX_EVENT_BYTES` (1 MiB by default) of it, ends the
//! client's stream with an error event in the client's wire shape, and
//! bills the request once, with what it saw.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use serde_json::{Value, json};

use super::proc_kib;
use crate::{
    helpers::{KeywayProcess, chat, nats_url},
    usage_events::usage_events,
};

const UNFRAMED: u64 = 50_000_000;
/// How far Keyway's RSS may rise above its level before the two requests:
/// the 1 MiB cap, one upstream read, allocator slack. Holding the 50 MB
/// stream would be far above it.
const RSS_RISE_CAP_KIB: u64 = 16 * 1024;

/// Samples the process's RSS until stopped; returns the highest seen.
fn sample_rss(pid: u32, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    let peak = Arc::new(AtomicU64::new(0));
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            peak.fetch_max(proc_kib(pid, "VmRSS"), Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(5));
        }
        peak.load(Ordering::Relaxed)
    })
}

/// The JSON of the last `data:` line of an SSE body.
fn last_data(body: &str) -> Value {
    let data = body
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("data: "))
        .unwrap_or_else(|| panic!("no data line in {body}"));
    serde_json::from_str(data).unwrap()
}

async fn stream(process: &KeywayProcess, route: &str, mut body: Value) -> String {
    body["stream"] = json!(true);
    body["mock"] = json!({"unframed_bytes": UNFRAMED});
    let response = reqwest::Client::new()
        .post(format!("{}{route}", process.base))
        .bearer_auth(&process.isolation.admin_key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // `text()` fails on a broken transfer: the stream must end cleanly.
    let text = response.text().await.expect("the stream ends cleanly");
    assert!(text.len() < 64 * 1024, "{} bytes reached the client", text.len());
    assert!(
        !text.contains("xxxx"),
        "part of the oversized event reached the client"
    );
    text
}

#[tokio::test]
#[expect(clippy::print_stdout, reason = "the RSS figures are the test's report")]
async fn an_upstream_that_never_frames_an_event_is_cut_with_a_clean_error_in_bounded_memory() {
    let process = KeywayProcess::start(&[]);
    let pid = process.child.id();
    // Without usage the reply is estimated: this loads the tokenizer
    // (tens of MiB, once per process) before the baseline is taken.
    let mut warm = chat("mock-gpt", "warm up");
    warm["mock"] = json!({"omit_usage": true});
    let warm = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", process.base))
        .bearer_auth(&process.isolation.admin_key)
        .json(&warm)
        .send()
        .await
        .unwrap();
    assert_eq!(warm.status(), 200);
    let before = proc_kib(pid, "VmRSS");
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample_rss(pid, stop.clone());

    let openai = stream(&process, "/v1/chat/completions", chat("mock-gpt", "never framed")).await;
    let error = last_data(&openai);
    assert_eq!(error["error"]["keyway_code"], "KW-UP-004", "{openai}");
    assert_eq!(error["error"]["type"], "server_error");
    let anthropic = json!({"model": "mock-claude", "max_tokens": 9,
        "messages": [{"role": "user", "content": "never framed either"}]});
    let anthropic = stream(&process, "/v1/messages", anthropic).await;
    assert!(anthropic.contains("\nevent: error\ndata: "), "{anthropic}");
    let error = last_data(&anthropic);
    assert_eq!(
        (error["type"].as_str(), error["error"]["type"].as_str()),
        (Some("error"), Some("api_error"))
    );
    assert_eq!(error["error"]["keyway_code"], "KW-UP-004");

    stop.store(true, Ordering::Relaxed);
    let peak = sampler.join().unwrap().max(proc_kib(pid, "VmRSS"));
    println!(
        "keyway RSS: {before} KiB before, {peak} KiB peak while 2 × {UNFRAMED} unframed bytes were offered (cap: +{RSS_RISE_CAP_KIB} KiB); VmHWM {} KiB",
        proc_kib(pid, "VmHWM")
    );
    assert!(
        peak <= before + RSS_RISE_CAP_KIB,
        "RSS rose from {before} KiB to {peak} KiB"
    );

    // Billed once each, with what was seen, flagged by the error code.
    let prefix = &process.isolation.nats_prefix;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let events = loop {
        let events = usage_events(nats_url(), prefix).await;
        if events.len() >= 3 || std::time::Instant::now() > deadline {
            break events;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(events.len(), 3, "one event per request");
    let cut: Vec<_> = events
        .iter()
        .map(|(e, _, _)| e)
        .filter(|e| e.error_code == "KW-UP-004")
        .collect();
    assert_eq!(cut.len(), 2, "{events:?}");
    for e in cut {
        assert!(e.streamed && e.status == 200 && e.input_tokens > 0, "{e:?}");
    }
}
