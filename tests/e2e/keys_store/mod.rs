//! The key service's storage underneath the REST API: the event store and
//! its read models, the follower's snapshot rule, optimistic concurrency, the
//! transactional outbox to JetStream, and envelope encryption (tamper,
//! rotation, crypto-shredding, and the AWS KMS provider against moto).

mod aws;
mod envelope;
mod event_store;
mod outbox;

use std::{
    future::Future,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use futures::StreamExt;
use keyway_keys::{
    crypto::{Aad, EncryptionContext, Kms, LocalKms, open},
    error::KeysError,
    events::KeyEvent,
    store::{self, Meta, StoreError},
};
use keyway_proto::v1::KeyChanged;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection, PgPool, Row, postgres::PgPoolOptions};

use crate::helpers::{KeywayProcess, TestStack, chat, pg_url, random_secret};

/// The custom-catalog model that is served only with the tenant's BYOK key.
const TEAM_MODEL: &str = "team-gpt";

/// Generous: CI machines are slow and share Postgres and NATS.
const DEADLINE: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// The REST API of a stack (in-process or a subprocess), as the admin.
struct Api {
    base: String,
    admin_key: String,
    http: reqwest::Client,
}

impl Api {
    fn of(stack: &TestStack) -> Self {
        Self {
            base: stack.base.clone(),
            admin_key: stack.admin_key.clone(),
            http: stack.http.clone(),
        }
    }

    fn of_process(process: &KeywayProcess) -> Self {
        Self {
            base: process.base.clone(),
            admin_key: process.isolation.admin_key.clone(),
            http: reqwest::Client::new(),
        }
    }

    /// `method path` with `key` as bearer; status and JSON body (`null` if none).
    async fn call_as(&self, key: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_as(&self.admin_key, method, path, body).await
    }

    /// Like `call`, asserting the status.
    async fn expect(&self, status: u16, method: &str, path: &str, body: Option<Value>) -> Value {
        let (got, body) = self.call(method, path, body).await;
        assert_eq!(got, status, "{method} {path} answered {got}: {body}");
        body
    }

    async fn tenant(&self, name: &str, plan: &str) -> String {
        let body = json!({"name": name, "plan": plan});
        let created = self.expect(201, "POST", "/api/v1/tenants", Some(body)).await;
        created["id"].as_str().unwrap().to_owned()
    }

    async fn user(&self, tenant: &str, body: Value) -> String {
        let path = format!("/api/v1/tenants/{tenant}/users");
        let created = self.expect(201, "POST", &path, Some(body)).await;
        created["id"].as_str().unwrap().to_owned()
    }

    /// Issues an API key; returns `(id, key)`.
    async fn api_key(&self, tenant: &str, body: Value) -> (String, String) {
        let path = format!("/api/v1/tenants/{tenant}/api-keys");
        let issued = self.expect(201, "POST", &path, Some(body)).await;
        (
            issued["id"].as_str().unwrap().to_owned(),
            issued["key"].as_str().unwrap().to_owned(),
        )
    }

    /// Sets the tenant-scoped BYOK key for `provider`, as the platform admin.
    async fn tenant_byok(&self, tenant: &str, provider: &str, body: Value) -> Value {
        let path = format!("/api/v1/byok/keys/{provider}?tenant_id={tenant}");
        self.expect(200, "PUT", &path, Some(body)).await
    }

    /// A chat on the tenant-key model with `key`; status and body.
    async fn team_chat(&self, key: &str, text: &str) -> (u16, Value) {
        self.call_as(key, "POST", "/v1/chat/completions", Some(chat(TEAM_MODEL, text)))
            .await
    }
}

fn reply(body: &Value) -> &str {
    body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default()
}

/// What the mock answers for `text` sent with the key known as `identity`.
fn answer(text: &str, identity: &str) -> String {
    format!("Hello from mock-llm! You said: {text} [Authenticated as {identity}]")
}

/// Writes a catalog with one model that only a tenant-scoped openai key serves.
fn team_catalog(dir: &Path) -> PathBuf {
    let path = dir.join("models.yaml");
    std::fs::write(
        &path,
        format!(
            "models:\n  {TEAM_MODEL}:\n    provider: openai\n    upstream_model: mock-model\n    base_url: ${{KEYWAY_MOCK_URL}}/v1\n    key_source: [tenant]\n"
        ),
    )
    .unwrap();
    path
}

/// A stack serving `team-gpt`, whose mock knows `mock_keys`
/// (`secret=identity,...`), with the gateway's credential cache off so every
/// request resolves the BYOK key from the store.
async fn team_stack(mock_keys: &str) -> (TestStack, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let catalog = team_catalog(dir.path());
    let stack = TestStack::spawn_with(&[
        ("KEYWAY_MODELS", catalog.to_str().unwrap()),
        ("KEYWAY_MOCK_KEYS", mock_keys),
        ("KEYWAY_CREDENTIAL_CACHE_TTL_MS", "0"),
    ])
    .await;
    (stack, dir)
}

fn db_url(db_name: &str) -> String {
    pg_url(db_name)
}

async fn pool(db_name: &str) -> PgPool {
    PgPoolOptions::new()
        .max_connections(4)
        .connect(&db_url(db_name))
        .await
        .unwrap()
}

async fn connection(db_name: &str) -> PgConnection {
    PgConnection::connect(&db_url(db_name)).await.unwrap()
}

async fn count(pool: &PgPool, sql: &str, bind: &str) -> i64 {
    sqlx::query_scalar(sql).bind(bind).fetch_one(pool).await.unwrap()
}

/// Polls `check` until it gives `Some`, failing after `DEADLINE`.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every read model as JSON text, rows ordered by id.
async fn dump_read_models(pool: &PgPool) -> Vec<(String, String)> {
    let mut dump = Vec::new();
    for table in ["tenants", "users", "api_keys", "byok_keys"] {
        let rows: Option<String> =
            sqlx::query_scalar(&format!("SELECT json_agg(t ORDER BY id)::text FROM {table} t"))
                .fetch_one(pool)
                .await
                .unwrap();
        dump.push((table.to_owned(), rows.unwrap_or_default()));
    }
    dump
}

/// The byok_keys row of a tenant's tenant-scoped key: `(id, sealed, dek_version)`.
async fn byok_row(pool: &PgPool, tenant: &str, provider: &str) -> (String, Vec<u8>, i32) {
    let row = sqlx::query(
        "SELECT id, sealed, dek_version FROM byok_keys WHERE tenant_id = $1 AND scope = 'tenant' AND provider = $2",
    )
    .bind(tenant)
    .bind(provider)
    .fetch_one(pool)
    .await
    .unwrap();
    (row.get("id"), row.get("sealed"), row.get("dek_version"))
}

async fn set_sealed(pool: &PgPool, record_id: &str, sealed: &[u8]) {
    let updated = sqlx::query("UPDATE byok_keys SET sealed = $2 WHERE id = $1")
        .bind(record_id)
        .bind(sealed)
        .execute(pool)
        .await
        .unwrap();
    assert_eq!(updated.rows_affected(), 1);
}

/// The tenant's DEKs: `(version, wrapped, kek_ref)`, oldest first.
async fn deks(pool: &PgPool, tenant: &str) -> Vec<(i32, Vec<u8>, String)> {
    sqlx::query("SELECT version, wrapped, kek_ref FROM tenant_deks WHERE tenant_id = $1 ORDER BY version")
        .bind(tenant)
        .fetch_all(pool)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.get("version"), r.get("wrapped"), r.get("kek_ref")))
        .collect()
}

/// The encryption context a tenant's DEK is wrapped under (as the key
/// service builds it).
fn dek_context(tenant: &str, version: i32) -> EncryptionContext {
    EncryptionContext::from([
        ("tenant_id".to_owned(), tenant.to_owned()),
        ("dek_id".to_owned(), format!("{tenant}/v{version}")),
        ("purpose".to_owned(), "byok".to_owned()),
    ])
}

/// Inserts a raw event row in `conn`'s transaction; returns its position.
async fn insert_raw_event(conn: &mut PgConnection, stream_id: &str) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO key_events (event_id, stream_id, version, tenant_id, event_type, payload, actor)
         VALUES ($1, $2, 1, 'platform', 'tenant.deleted', '{\"type\":\"tenant_deleted\",\"tenant_id\":\"x\"}'::jsonb, 'test')
         RETURNING position",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(stream_id)
    .fetch_one(conn)
    .await
    .unwrap()
}
