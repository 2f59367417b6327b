//! The real `keyway up` binary at debug log level registers, uses, rotates
//! and deletes webhooks with real gateway traffic; then no signing secret
//! it ever returned is in a `pg_dump` of its database, its JetStream
//! streams or its logs, raw or hex- or base64-encoded.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::receiver::Receiver;
use crate::{
    helpers::{KeywayProcess, chat},
    secret_scan::{Haystack, encodings, find, pg_dump, stream_messages},
};

async fn send(process: &KeywayProcess, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method.parse().unwrap(), format!("{}{path}", process.base))
        .bearer_auth(&process.isolation.admin_key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "not within 20 s: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn no_webhook_signing_secret_reaches_the_database_nats_or_the_logs() {
    let process = KeywayProcess::start(&[("RUST_LOG", "debug"), ("KEYWAY_WEBHOOK_POLL_MS", "100")]);
    let receiver = Receiver::start().await;
    let hooks = "/api/v1/usage/webhooks";
    let (status, created) = send(&process, "POST", hooks, Some(json!({"url": receiver.url}))).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let first = created["signing_secret"].as_str().unwrap().to_owned();
    receiver.set_secret(&first);
    let (status, doomed) = send(&process, "POST", hooks, Some(json!({"url": receiver.url}))).await;
    assert_eq!(status, 201);
    let deleted = doomed["signing_secret"].as_str().unwrap().to_owned();
    let doomed_path = format!("{hooks}/{}", doomed["id"].as_str().unwrap());
    assert_eq!(send(&process, "DELETE", &doomed_path, None).await.0, 204);

    // Real traffic (billed to the admin's `platform` tenant), delivered
    // under the first secret, then under the rotated one.
    let traffic = |n: usize| {
        let process = &process;
        async move {
            for _ in 0..n {
                let (status, body) = send(
                    process,
                    "POST",
                    "/v1/chat/completions",
                    Some(chat("mock-gpt", "bill me")),
                )
                .await;
                assert_eq!(status, 200, "{body}");
            }
        }
    };
    traffic(3).await;
    until("3 events delivered", || receiver.ids().len() == 3).await;
    let (status, rotated) = send(&process, "POST", &format!("{hooks}/{id}/rotate-secret"), None).await;
    assert_eq!(status, 200, "{rotated}");
    let second = rotated["signing_secret"].as_str().unwrap().to_owned();
    receiver.set_secret(&second);
    traffic(2).await;
    until("5 events delivered", || receiver.ids().len() == 5).await;
    assert_eq!(receiver.problems(), Vec::<String>::new());

    let dump = pg_dump(&process.isolation.db_name);
    let dump_text = String::from_utf8_lossy(&dump);
    assert!(
        dump_text.contains("COPY public.usage_webhooks") && dump_text.contains(&id),
        "the dump has no webhook rows to scan"
    );
    let logs = process.logs();
    assert!(
        logs.contains("DEBUG") && logs.contains("webhook batch delivered"),
        "no debug delivery logs"
    );
    let js = async_nats::jetstream::new(async_nats::connect(crate::helpers::nats_url()).await.unwrap());
    let prefix = process.isolation.nats_prefix.to_uppercase();
    let mut haystacks = vec![
        Haystack {
            place: format!("pg_dump of {}", process.isolation.db_name),
            bytes: dump,
        },
        Haystack {
            place: "the process logs".into(),
            bytes: logs.into_bytes(),
        },
    ];
    haystacks.extend(stream_messages(&js, &format!("{prefix}_USAGE")).await);
    haystacks.extend(stream_messages(&js, &format!("{prefix}_KEYS")).await);
    let mut leaks = Vec::new();
    for (name, secret) in [("first", &first), ("rotated", &second), ("deleted", &deleted)] {
        // The random part too: a leak without the `whsec_` prefix is a leak.
        let random = secret.trim_start_matches("whsec_");
        for value in [secret.as_str(), random] {
            for (form, needle) in encodings(value) {
                for hay in &haystacks {
                    if find(&hay.bytes, &needle).is_some() {
                        leaks.push(format!("the {name} secret ({form}) is in {}", hay.place));
                    }
                }
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "signing secret leaks:\n  {}",
        leaks.join("\n  ")
    );
}
