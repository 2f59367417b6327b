//! The real `keyway` binary: secrets never reach its logs, and SIGTERM lets
//! an in-flight stream finish before the process exits.

use std::time::Duration;

use futures::StreamExt;
use serde_json::json;

use crate::helpers::{KeywayProcess, chat, eventually, random_secret};

#[tokio::test]
async fn keys_never_reach_the_logs_even_at_debug_level() {
    let system_key = random_secret("sk-system-secret-");
    let wrong_key = random_secret("kw_wrong_secret_");
    let process = KeywayProcess::start(&[
        ("RUST_LOG", "debug"),
        ("KEYWAY_MOCK_SYSTEM_KEY", system_key.as_str()),
        ("KEYWAY_LOG_FORMAT", "json"),
    ]);
    let admin_key = process.isolation.admin_key.clone();
    let http = reqwest::Client::new();
    let url = format!("{}/v1/chat/completions", process.base);
    let ok = http
        .post(&url)
        .bearer_auth(&admin_key)
        .json(&chat("mock-gpt", "hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert!(
        ok.text()
            .await
            .unwrap()
            .contains("[Authenticated as keyway-system]")
    );
    let mut streamed = chat("mock-gpt", "hello");
    streamed["stream"] = json!(true);
    let _ = http
        .post(&url)
        .bearer_auth(&admin_key)
        .json(&streamed)
        .send()
        .await
        .unwrap()
        .text()
        .await;
    let bad = http
        .post(&url)
        .bearer_auth(&wrong_key)
        .json(&chat("mock-gpt", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    let anthropic = http
        .post(format!("{}/v1/messages", process.base))
        .header("x-api-key", &admin_key)
        .json(
            &json!({"model": "mock-claude", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(anthropic.status(), 200);

    // The log files fill asynchronously: wait for the lines this test
    // expects before scanning them for secrets.
    eventually("the mock's auth line and the requests are logged", || {
        let logs = process.logs();
        async move { logs.contains("[AUTH]") && logs.contains("/v1/chat/completions") }
    })
    .await;
    let logs = process.logs();
    for (name, secret) in [
        ("admin key", &admin_key),
        ("system key", &system_key),
        ("wrong key", &wrong_key),
    ] {
        assert!(!logs.contains(secret.as_str()), "the {name} leaked into the logs");
    }
}

#[tokio::test]
async fn sigterm_drains_an_in_flight_stream_then_exits_cleanly() {
    let mut process = KeywayProcess::start(&[("KEYWAY_SHUTDOWN_GRACE_MS", "20000")]);
    let mut body = chat("mock-gpt", "drain me");
    body["stream"] = json!(true);
    body["mock"] = json!({"chunks": 8, "chunk_delay_ms": 200});
    let response = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", process.base))
        .bearer_auth(&process.isolation.admin_key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    let mut text = String::from_utf8(stream.next().await.unwrap().unwrap().to_vec()).unwrap();
    // A client that connected and never sent a byte must not hold up the
    // exit (the front waits for a connection's first bytes to tell HTTP/1
    // from HTTP/2).
    let _silent = tokio::net::TcpStream::connect(process.base.trim_start_matches("http://"))
        .await
        .unwrap();

    let pid = process.child.id();
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
    while let Some(chunk) = stream.next().await {
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    assert!(
        text.trim_end().ends_with("data: [DONE]"),
        "the stream was cut: {text}"
    );
    let status = process
        .terminate(Duration::from_secs(15))
        .expect("keyway exited after draining");
    assert!(
        status.success(),
        "exit status {status:?}; logs:\n{}",
        process.logs()
    );
}

/// The main runtime's workers: one where front threads serve the gateway,
/// since what is left there is background work, and as many as
/// `KEYWAY_WORKER_THREADS` says otherwise. The start-up line says which.
#[tokio::test]
async fn the_main_runtime_keeps_one_worker_beside_the_front_threads() {
    let set: &[(&str, &str)] = &[("KEYWAY_WORKER_THREADS", "3")];
    for (extra, workers) in [(&[][..], 1), (set, 3)] {
        let process = KeywayProcess::start(extra);
        let expected = format!("\"workers\":{workers}");
        eventually("the start-up line, with the main runtime's workers", || {
            let logs = process.logs();
            let found = logs
                .lines()
                .any(|l| l.contains("keyway started") && l.contains(&expected));
            async move { found }
        })
        .await;
    }
}

/// Front threads are pinned one to a CPU when there is one per CPU the
/// process may run on, and only then; `KEYWAY_PIN_FRONTS=off` leaves them
/// to the scheduler. Read from the kernel: each thread's CPU list.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn front_threads_are_pinned_one_to_each_cpu_of_the_process() {
    let allowed = cpu_list(&std::fs::read_to_string("/proc/self/status").unwrap());
    let one_each = allowed.len().to_string();
    let one_more = (allowed.len() + 1).to_string();
    let cases: [(&[(&str, &str)], bool); 3] = [
        (&[("KEYWAY_FRONT_THREADS", one_each.as_str())], true),
        (
            &[
                ("KEYWAY_FRONT_THREADS", one_each.as_str()),
                ("KEYWAY_PIN_FRONTS", "off"),
            ],
            false,
        ),
        (&[("KEYWAY_FRONT_THREADS", one_more.as_str())], false),
    ];
    for (extra, pinned) in cases {
        let process = KeywayProcess::start(extra);
        eventually("the front threads' start-up line", || {
            let found = process.logs().contains("front threads started");
            async move { found }
        })
        .await;
        let fronts = front_cpu_lists(process.child.id());
        assert!(!fronts.is_empty(), "no front thread found");
        if pinned {
            let mut cpus: Vec<usize> = fronts.iter().flatten().copied().collect();
            assert!(fronts.iter().all(|f| f.len() == 1), "{fronts:?}");
            cpus.sort_unstable();
            assert_eq!(cpus, allowed, "one front on each allowed CPU");
        } else {
            assert!(
                fronts.iter().all(|f| *f == allowed),
                "{fronts:?} against {allowed:?}"
            );
        }
    }
}

/// The CPU list of each `keyway-front-*` thread of `pid`.
#[cfg(target_os = "linux")]
fn front_cpu_lists(pid: u32) -> Vec<Vec<usize>> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|task| {
            let path = task.ok()?.path();
            let name = std::fs::read_to_string(path.join("comm")).ok()?;
            if !name.starts_with("keyway-front-") {
                return None;
            }
            Some(cpu_list(&std::fs::read_to_string(path.join("status")).ok()?))
        })
        .collect()
}

/// `Cpus_allowed_list` of a `/proc/…/status`, such as `0-3,6`, expanded.
#[cfg(target_os = "linux")]
fn cpu_list(status: &str) -> Vec<usize> {
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .expect("Cpus_allowed_list in the status")
        .trim();
    list.split(',')
        .flat_map(|range| {
            let (first, last) = range.split_once('-').unwrap_or((range, range));
            first.parse::<usize>().unwrap()..=last.parse::<usize>().unwrap()
        })
        .collect()
}
