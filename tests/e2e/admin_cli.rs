//! `keyway admin` against a real `keyway up`: the built binary run as an
//! operator would run it, over the REST API only. Tenants, users and API
//! keys (the secret shown once, then usable on /v1), paging, limits that
//! the gateway enforces, BYOK keys (masked; the plaintext never printed),
//! usage summary and export after real requests, webhooks, rotation and
//! audit; and every failure exits non-zero with a clear message.

mod byok_usage;
mod failures;
mod runner;

use std::time::Duration;

use serde_json::{Value, json};

use self::runner::AdminCli;
use crate::helpers::{KeywayProcess, chat, eventually, eventually_within};

/// Starts `keyway up` and a CLI pointed at it with the platform admin key.
fn stack(extra: &[(&str, &str)]) -> (KeywayProcess, AdminCli) {
    let process = KeywayProcess::start(extra);
    let cli = AdminCli::new(&process.base, &process.isolation.admin_key);
    (process, cli)
}

fn id(value: &Value) -> String {
    value["id"].as_str().expect("an id").to_owned()
}

/// `POST /v1/chat/completions` with `key`; the status and body.
async fn chat_as(base: &str, key: &str, model: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(key)
        .json(&chat(model, "hello from the admin cli test"))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn tenants_are_created_listed_by_page_shown_updated_and_deleted() {
    let (_process, cli) = stack(&[]);
    let names = ["Acme", "Globex", "Initech"];
    let ids: Vec<String> = names
        .iter()
        .map(|name| id(&cli.json(&["tenants", "create", "--name", name, "--plan", "starter"])))
        .collect();

    let first = cli.json(&["tenants", "list", "--limit", "2"]);
    assert_eq!(first["data"].as_array().unwrap().len(), 2, "{first}");
    let cursor = first["next_cursor"].as_str().expect("a second page").to_owned();
    let second = cli.json(&["tenants", "list", "--limit", "2", "--cursor", &cursor]);
    let paged: Vec<&Value> = first["data"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["data"].as_array().unwrap())
        .map(|t| &t["id"])
        .collect();
    let all = cli.json(&["tenants", "list", "--all", "--limit", "1"]);
    assert_eq!(all["next_cursor"], Value::Null);
    let followed: Vec<&Value> = all["data"].as_array().unwrap().iter().map(|t| &t["id"]).collect();
    assert_eq!(
        paged, followed,
        "--all with pages of one sees what two pages of two saw"
    );
    for tenant in &ids {
        assert!(followed.contains(&&json!(tenant)), "{tenant} missing from {all}");
    }

    // The table names each tenant, and says how to get the next page.
    let table = cli.ok(&["tenants", "list", "--limit", "2"]);
    assert!(
        table.stdout.contains("Acme") && table.stdout.contains("starter"),
        "{}",
        table.stdout
    );
    assert!(table.stderr.contains("--cursor"), "{}", table.stderr);

    let shown = cli.ok(&["tenants", "show", &ids[0]]);
    assert!(
        shown.stdout.contains(&ids[0]) && shown.stdout.contains("Acme"),
        "{}",
        shown.stdout
    );
    let updated = cli.json(&[
        "tenants",
        "update",
        &ids[0],
        "--name",
        "Acme Renamed",
        "--plan",
        "pro",
    ]);
    assert_eq!(
        (updated["name"].as_str(), updated["plan"].as_str()),
        (Some("Acme Renamed"), Some("pro"))
    );

    let refused = cli.run(&["tenants", "delete", &ids[2]]);
    assert_eq!(
        refused.code, 2,
        "deleting without --yes is a usage error: {}",
        refused.stderr
    );
    assert_eq!(cli.json(&["tenants", "delete", &ids[2], "--yes"]), json!({}));
    let gone = cli.run(&["tenants", "show", &ids[2]]);
    assert_eq!(gone.code, 3, "{}", gone.stderr);
    assert!(gone.stderr.contains("KW-ADM-001"), "{}", gone.stderr);
    cli.assert_never_printed("admin key", &cli.key);
}

#[tokio::test]
async fn users_and_api_keys_the_secret_shown_once_works_on_v1_and_limits_apply() {
    let (process, cli) = stack(&[]);
    let tenant = id(&cli.json(&["tenants", "create", "--name", "Keys Inc", "--plan", "starter"]));
    let user = cli.json(&[
        "users",
        "create",
        "--tenant",
        &tenant,
        "--email",
        "ada@example.com",
    ]);
    assert_eq!(user["role"], "member");
    let users = cli.ok(&["users", "list", "--tenant", &tenant]);
    assert!(users.stdout.contains("ada@example.com"), "{}", users.stdout);
    let disabled = cli.json(&[
        "users",
        "update",
        "--tenant",
        &tenant,
        &id(&user),
        "--status",
        "disabled",
    ]);
    assert_eq!(disabled["status"], "disabled");

    // Created through the table output: the secret is printed with a note.
    let created = cli.ok(&[
        "api-keys",
        "create",
        "--tenant",
        &tenant,
        "--name",
        "ci",
        "--role",
        "tenant-admin",
    ]);
    assert!(
        created.stderr.contains("shown this one time"),
        "{}",
        created.stderr
    );
    let secret = created
        .stdout
        .split_whitespace()
        .find(|word| word.starts_with("kw_"))
        .expect("the secret in the table")
        .to_owned();
    let key_id = cli.json(&["api-keys", "list", "--tenant", &tenant])["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for listing in [
        cli.ok(&["api-keys", "list", "--tenant", &tenant]),
        cli.ok(&["api-keys", "show", "--tenant", &tenant, &key_id, "--json"]),
    ] {
        assert!(!listing.stdout.contains(&secret), "the secret was shown again");
    }
    let (status, body) = chat_as(&process.base, &secret, "mock-gpt").await;
    assert_eq!(status, 200, "{body}");

    // A tenant admin's key drives the tenant's own commands, not the platform's.
    let tenant_cli = cli.with_key(&secret);
    let own = tenant_cli.json(&["users", "list", "--tenant", &tenant]);
    assert_eq!(own["data"].as_array().unwrap().len(), 1);
    let refused = tenant_cli.run(&["tenants", "list"]);
    assert_eq!(refused.code, 3);
    assert!(refused.stderr.contains("KW-AUTH-003"), "{}", refused.stderr);

    let limited = cli.json(&[
        "limits",
        "set",
        "--tenant",
        &tenant,
        "--api-key",
        &key_id,
        "--rpm",
        "1",
    ]);
    assert_eq!(limited["limits"]["requests_per_minute"], 1, "{limited}");
    eventually("the gateway enforces the key's new limit", || async {
        chat_as(&process.base, &secret, "mock-gpt").await.0 == 429
    })
    .await;
    cli.ok(&["limits", "clear", "--tenant", &tenant, "--api-key", &key_id]);
    let tenant_limits = cli.json(&[
        "limits",
        "set",
        "--tenant",
        &tenant,
        "--tpm",
        "50000",
        "--budget-micros",
        "9000000",
    ]);
    assert_eq!(
        tenant_limits["limits"]["tokens_per_minute"], 50000,
        "{tenant_limits}"
    );
    let shown = cli.ok(&["limits", "show", "--tenant", &tenant]);
    assert!(shown.stdout.contains("9000000"), "{}", shown.stdout);

    let rotated = cli.json(&["rotate", "api-key", "--tenant", &tenant, &key_id]);
    let new_secret = rotated["key"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    eventually_within(
        Duration::from_secs(30),
        "the old secret stops working",
        || async { chat_as(&process.base, &secret, "mock-gpt").await.0 == 401 },
    )
    .await;
    cli.ok(&["api-keys", "revoke", "--tenant", &tenant, &key_id]);
    eventually("the revoked key is refused", || async {
        chat_as(&process.base, &new_secret, "mock-gpt").await.0 == 401
    })
    .await;
    cli.assert_never_printed("admin key", &cli.key);
}
