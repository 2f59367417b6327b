//! Postgres restarted under load: a private cluster (`initdb` + `pg_ctl` on
//! a port and directory of its own, never the shared server) under one
//! `keyway up`. While it is down the gateway keeps serving the cached key,
//! and the admin API and unseen keys answer a clean 503; once it is back
//! everything recovers without help, and the billing views count exactly
//! the requests served: nothing lost, nothing counted twice.

use std::{path::PathBuf, process::Command, time::Duration};

use serde_json::{Value, json};

use super::{Tally, events_by_request, reconcile};
use crate::helpers::{KeywayProcess, chat, eventually_within, nats_url};

/// A Postgres cluster of this test's own, run as the `postgres` user.
struct PrivatePostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

/// `initdb` of the newest Postgres installed under /usr/lib/postgresql.
fn pg_bin() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed under /usr/lib/postgresql")
        .filter_map(|e| Some(e.ok()?.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    found.sort();
    found.pop().expect("an initdb under /usr/lib/postgresql/*/bin")
}

/// Runs `program args` as `postgres` when this process is root (initdb
/// refuses root).
fn as_postgres(program: PathBuf, args: &[&str]) {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    let mut command = if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    let output = command.args(args).output().expect("runs");
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

impl PrivatePostgres {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let _ = Command::new("chown")
            .arg("postgres:postgres")
            .arg(dir.path())
            .status();
        let port = crate::ports::server_port();
        let pg = Self {
            bin: pg_bin(),
            dir,
            port,
        };
        let data = pg.data();
        as_postgres(
            pg.bin.join("initdb"),
            &["-D", &data, "-U", "postgres", "-A", "trust"],
        );
        pg.up();
        pg
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    fn up(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("pg.log").display().to_string();
        as_postgres(
            self.bin.join("pg_ctl"),
            &["-D", &self.data(), "-o", &options, "-l", &log, "-w", "start"],
        );
    }

    fn down(&self) {
        as_postgres(
            self.bin.join("pg_ctl"),
            &["-D", &self.data(), "-m", "fast", "-w", "stop"],
        );
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| self.down());
    }
}

async fn call(base: &str, key: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value, String) {
    let mut request = reqwest::Client::new()
        .request(method.parse().unwrap(), format!("{base}{path}"))
        .bearer_auth(key)
        .timeout(Duration::from_secs(60));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, response.json().await.unwrap_or_default(), id)
}

#[tokio::test]
#[expect(clippy::print_stdout, reason = "what the outage showed is the test's report")]
async fn postgres_restarted_under_load_loses_nothing_and_everything_recovers() {
    let pg = PrivatePostgres::start();
    let db_url = pg.url("keyway_faults");
    let process = KeywayProcess::start(&[
        ("KEYWAY_DATABASE_URL", db_url.as_str()),
        ("KEYWAY_CREDENTIAL_CACHE_TTL_MS", "600000"),
    ]);
    let (base, admin_key) = (process.base.clone(), process.isolation.admin_key.clone());
    let (status, tenant, _) = call(
        &base,
        &admin_key,
        "POST",
        "/api/v1/tenants",
        Some(json!({"name": "Restart", "plan": "pro"})),
    )
    .await;
    assert_eq!(status, 201, "{tenant}");
    let tenant = tenant["id"].as_str().unwrap().to_owned();
    let keys_path = format!("/api/v1/tenants/{tenant}/api-keys");
    let mut keys = Vec::new();
    for name in ["cached", "unseen"] {
        let (status, key, _) = call(&base, &admin_key, "POST", &keys_path, Some(json!({"name": name}))).await;
        assert_eq!(status, 201, "{key}");
        keys.push(key["key"].as_str().unwrap().to_owned());
    }
    let (cached, unseen) = (keys[0].clone(), keys[1].clone());

    // Load: one client sending with the cached key until told to stop;
    // it returns how many it sent, the ids of those served, and failures.
    let stop = tokio_util::sync::CancellationToken::new();
    let load = tokio::spawn({
        let (base, cached, stop) = (base.clone(), cached.clone(), stop.clone());
        async move {
            let (mut sent, mut ids, mut failures) = (0usize, Vec::new(), Vec::new());
            while !stop.is_cancelled() {
                let (status, body, id) = call(
                    &base,
                    &cached,
                    "POST",
                    "/v1/chat/completions",
                    Some(chat("mock-gpt", "load")),
                )
                .await;
                sent += 1;
                if status == 200 {
                    ids.push(id);
                } else {
                    failures.push(format!("{status} {body}"));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (sent, ids, failures)
        }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;

    pg.down();
    let (admin_status, admin_body, _) = call(
        &base,
        &admin_key,
        "GET",
        &format!("/api/v1/tenants/{tenant}"),
        None,
    )
    .await;
    let (unseen_status, unseen_body, _) = call(
        &base,
        &unseen,
        "POST",
        "/v1/chat/completions",
        Some(chat("mock-gpt", "x")),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    pg.up();

    eventually_within(
        Duration::from_secs(90),
        "the admin API and the unseen key work again",
        || async {
            call(
                &base,
                &admin_key,
                "GET",
                &format!("/api/v1/tenants/{tenant}"),
                None,
            )
            .await
            .0 == 200
                && call(
                    &base,
                    &unseen,
                    "POST",
                    "/v1/chat/completions",
                    Some(chat("mock-gpt", "back")),
                )
                .await
                .0 == 200
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.cancel();
    let (sent, ids, failures) = load.await.unwrap();

    // The billing views, folded through the restart, count every request
    // of the tenant (the load's and the unseen key's) exactly once.
    let summary_path = format!("/api/v1/usage/summary?tenant_id={tenant}");
    let mut requests = -1;
    let _ = tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            let (_, summary, _) = call(&base, &admin_key, "GET", &summary_path, None).await;
            let events = events_by_request(nats_url(), &process.isolation.nats_prefix).await;
            requests = summary["totals"]["requests"].as_i64().unwrap_or(-1);
            let expected = events.values().sum::<usize>() as i64;
            if ids.iter().all(|id| events.contains_key(id)) && requests == expected {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
    .await;
    let events = events_by_request(nats_url(), &process.isolation.nats_prefix).await;
    let mut tally = Tally {
        sent,
        served: ids.len(),
        ..Tally::default()
    };
    reconcile(&mut tally, &ids, &events);
    tally.print("postgres");
    println!(
        "faults::postgres: while down, the admin API answered {admin_status} {} and an unseen key {unseen_status} {}; the views count {requests} requests for {} events",
        admin_body["error"]["code"],
        unseen_body["error"]["keyway_code"],
        events.values().sum::<usize>()
    );
    assert!(
        failures.is_empty(),
        "the cached key failed during the restart: {failures:?}"
    );
    assert_eq!(
        (admin_status, admin_body["error"]["code"].as_str()),
        (503, Some("KW-DB-001"))
    );
    assert_eq!(
        (unseen_status, unseen_body["error"]["keyway_code"].as_str()),
        (503, Some("KW-AUTH-004"))
    );
    assert_eq!(
        (tally.served, tally.billed, tally.lost, tally.duplicated),
        (tally.sent, tally.sent, 0, 0)
    );
    assert_eq!(
        requests,
        events.values().sum::<usize>() as i64,
        "the views count every event once"
    );
}
