//! BYOK keys through the CLI with a user's own API key (masked, the
//! plaintext read from stdin and never printed), then what the requests
//! left behind: the usage summary, the export (JSON lines and CSV, one
//! event per page to prove it follows cursors), a webhook, rotations and
//! the audit log.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{AdminCli, chat_as, id, stack};
use crate::{helpers::eventually, secret_scan::mock_url};

const ALICE_SECRET: &str = "sk-alice-admin-cli-0123456789-secret";

#[tokio::test]
async fn byok_keys_are_added_tested_and_removed_masked_and_usage_is_reported() {
    let keys = format!("{ALICE_SECRET}=alice-identity");
    let (process, cli) = stack(&[("KEYWAY_MOCK_KEYS", keys.as_str())]);
    let tenant = id(&cli.json(&["tenants", "create", "--name", "Byok", "--plan", "starter"]));
    let alice = id(&cli.json(&[
        "users",
        "create",
        "--tenant",
        &tenant,
        "--email",
        "alice@example.com",
    ]));
    let issued = cli.json(&[
        "api-keys", "create", "--tenant", &tenant, "--name", "alice", "--user", &alice,
    ]);
    let alice_key = issued["key"].as_str().unwrap().to_owned();
    let alice_cli = cli.with_key(&alice_key);

    let stored = byok(&alice_cli, &["add", "openai", "--label", "mine"], ALICE_SECRET);
    assert!(
        stored.contains("sk-a…cret") && stored.contains("mine"),
        "{stored}"
    );
    let listed = alice_cli.json(&["byok", "list"]);
    assert_eq!(listed["data"][0]["masked"], "sk-a…cret", "{listed}");
    eventually("alice's own key reaches the upstream", || async {
        let (status, body) = chat_as(&process.base, &alice_key, "mock-gpt-byok").await;
        status == 200 && body.to_string().contains("[Authenticated as alice-identity]")
    })
    .await;

    // `test` asks the provider: the in-process mock passes, a closed port fails.
    let mock = mock_url(&process.logs()); // the banner names it with its /v1
    byok(
        &alice_cli,
        &["add", "custom-mock", "--base-url", &mock],
        ALICE_SECRET,
    );
    let passed = alice_cli.ok(&["byok", "test", "custom-mock"]);
    assert!(passed.stdout.contains("true"), "{}", passed.stdout);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    byok(
        &alice_cli,
        &["add", "custom-gone", "--base-url", &format!("http://{closed}/v1")],
        ALICE_SECRET,
    );
    let failed = alice_cli.run(&["byok", "test", "custom-gone"]);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert!(failed.stderr.contains("did not pass"), "{}", failed.stderr);

    let stats = cli.json(&["byok", "stats", "--tenant", &tenant]);
    assert_eq!(stats["user_keys"], 3, "{stats}");
    assert_eq!(
        alice_cli.json(&["byok", "remove", "openai"]),
        serde_json::json!({})
    );
    let left = alice_cli.json(&["byok", "list"]);
    assert!(
        left["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["provider"] != "openai"),
        "{left}"
    );

    usage_is_summarized_and_exported(&cli, &tenant);
    webhooks_rotations_and_audit(&cli, &tenant);
    cli.assert_never_printed("BYOK plaintext", ALICE_SECRET);
    cli.assert_never_printed("admin key", &cli.key);
}

/// `byok <args>` with the key piped on stdin; the table it printed.
fn byok(cli: &AdminCli, args: &[&str], key: &str) -> String {
    let mut full = vec!["byok"];
    full.extend_from_slice(args);
    let run = cli.run_with(
        &full,
        &[("KEYWAY_ADMIN_KEY", &cli.key)],
        Some(&format!("{key}\n")),
    );
    assert_eq!(run.code, 0, "byok {args:?}: {}", run.stderr);
    run.stdout
}

fn usage_is_summarized_and_exported(cli: &AdminCli, tenant: &str) {
    let wide = [
        "--from",
        "2000-01-01",
        "--to",
        "2100-01-01",
        "--group-by",
        "model",
    ];
    let mut summary_args = vec!["usage", "summary", "--tenant", tenant];
    summary_args.extend(wide);
    let summary = retry("the summary has a mock-gpt-byok row", || {
        let summary = cli.json(&summary_args);
        let rows = summary["rows"].as_array().unwrap();
        rows.iter()
            .any(|r| r["key"] == "mock-gpt-byok")
            .then_some(summary)
    });
    let requests = summary["totals"]["requests"].as_u64().unwrap();
    let table = cli.ok(&summary_args);
    assert!(
        table.stdout.contains("mock-gpt-byok") && table.stdout.contains("TOTAL"),
        "{}",
        table.stdout
    );

    // The export holds a row back while any older transaction still runs
    // (docs/billing.md), so it may trail the summary by a moment.
    let (export, events) = retry("the export holds every summarized request", || {
        let export = cli.ok(&["usage", "export", "--tenant", tenant]);
        let events: Vec<Value> = export
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (events.len() as u64 >= requests).then_some((export, events))
    });
    assert!(events.iter().all(|e| e["data"]["tenant_id"] == tenant));
    assert!(
        export.stderr.contains("resume with --cursor"),
        "{}",
        export.stderr
    );
    // The ledger only grows (a late event may still land): pages of one
    // follow the cursors through at least everything one big page saw.
    let one_by_one = cli.ok(&["usage", "export", "--tenant", tenant, "--page-size", "1"]);
    assert!(
        one_by_one.stdout.starts_with(&export.stdout),
        "{}",
        one_by_one.stdout
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("usage.csv");
    let file_arg = file.display().to_string();
    let args = [
        "usage", "export", "--tenant", tenant, "--format", "csv", "-o", &file_arg,
    ];
    assert!(cli.ok(&args).stdout.is_empty(), "the export went to the file");
    let csv = std::fs::read_to_string(&file).unwrap();
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().starts_with("id,time,tenant_id,"), "{csv}");
    let byok_rows = lines.filter(|l| l.contains(",mock-gpt-byok,")).count();
    let byok_events = events
        .iter()
        .filter(|e| e["data"]["model"] == "mock-gpt-byok")
        .count();
    assert!(byok_rows >= byok_events && byok_events >= 1, "{csv}");
    billing_cursor_is_registered(cli, tenant, &export.stderr);
}

/// Registers the export's resume cursor as a billing consumer's, then
/// unregisters it.
fn billing_cursor_is_registered(cli: &AdminCli, tenant: &str, export_note: &str) {
    let resume = export_note
        .split("resume with --cursor ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the export names its resume cursor")
        .to_owned();
    let stored = cli.json(&["usage", "cursors", "set", "billing", &resume, "--tenant", tenant]);
    assert_eq!(
        (stored["name"].as_str(), stored["cursor"].as_str()),
        (Some("billing"), Some(resume.as_str()))
    );
    let listed = cli.ok(&["usage", "cursors", "list"]);
    assert!(listed.stdout.contains("billing"), "{}", listed.stdout);
    cli.ok(&["usage", "cursors", "delete", "billing", "--tenant", tenant]);
    let left = cli.json(&["usage", "cursors", "list", "--all"]);
    assert!(
        left["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["name"] != "billing"),
        "{left}"
    );
}

/// Runs `attempt` until it gives a value, for at most 30 s (the CLI runs
/// as a blocking subprocess, so this polls with a plain sleep).
fn retry<T>(what: &str, mut attempt: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(value) = attempt() {
            return value;
        }
        assert!(Instant::now() < deadline, "not within 30 s: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn webhooks_rotations_and_audit(cli: &AdminCli, tenant: &str) {
    let hook = cli.json(&[
        "webhooks",
        "create",
        "--tenant",
        tenant,
        "http://127.0.0.1:9/usage",
        "--description",
        "billing",
    ]);
    let signing_secret = hook["signing_secret"].as_str().unwrap().to_owned();
    assert!(signing_secret.starts_with("whsec_"), "{hook}");
    let hook_id = id(&hook);
    let listed = cli.ok(&["webhooks", "list", "--tenant", tenant]);
    assert!(
        listed.stdout.contains("billing") && !listed.stdout.contains(&signing_secret),
        "{}",
        listed.stdout
    );
    let rotated = cli.json(&["rotate", "webhook-secret", &hook_id, "--tenant", tenant]);
    assert_ne!(rotated["signing_secret"].as_str().unwrap(), signing_secret);
    let shown = cli.ok(&["webhooks", "show", &hook_id, "--tenant", tenant, "--json"]);
    assert!(!shown.stdout.contains("whsec_"), "{}", shown.stdout);
    cli.ok(&["webhooks", "delete", &hook_id, "--tenant", tenant]);

    let dek = cli.json(&["rotate", "dek", "--tenant", tenant]);
    assert_eq!(dek["tenant_id"], tenant, "{dek}");
    let kek = cli.json(&["rotate", "kek"]);
    assert!(kek["rewrapped"].as_u64().unwrap() >= 1, "{kek}");

    let audit = cli.json(&["audit", "list", "--tenant", tenant, "--all", "--limit", "2"]);
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in ["tenant.created", "api_key.created", "byok_key.set"] {
        assert!(actions.contains(&action), "{action} not in {actions:?}");
    }
    let table = cli.ok(&["audit", "list", "--tenant", tenant]);
    assert!(table.stdout.contains("byok_key.set"), "{}", table.stdout);
}
