//! The key service's storage underneath the REST API: the event store and
//! its read models, the follower's snapshot rule, optimistic concurrency, the
//! transactional outbox to JetStream, and envelope encryption (tamper,
//! rotation, crypto-shredding, and the AWS KMS provider against moto).

use std::{
    future::Future,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
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

use crate::helpers::{KeywayProcess, PG_BASE, TestStack, chat, random_secret};

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
    format!("{PG_BASE}/{db_name}")
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

/// A minimal protobuf decoder for `KeyChanged` (strings and varints only):
/// the e2e crate has no `prost` dependency to call `Message::decode` with.
fn decode_key_changed(bytes: &[u8]) -> KeyChanged {
    fn varint(buf: &mut &[u8]) -> u64 {
        let mut value = 0u64;
        let mut shift = 0;
        loop {
            let (&byte, rest) = buf.split_first().expect("truncated varint");
            *buf = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return value;
            }
            shift += 7;
            assert!(shift < 64, "varint too long");
        }
    }
    let mut out = KeyChanged::default();
    let mut rest = bytes;
    while !rest.is_empty() {
        let tag = varint(&mut rest);
        match (tag >> 3, tag & 7) {
            (4, 0) => out.version = varint(&mut rest),
            (8, 0) => out.occurred_at_unix_ms = varint(&mut rest) as i64,
            (field, 2) => {
                let len = usize::try_from(varint(&mut rest)).unwrap();
                let (text, tail) = rest.split_at(len);
                rest = tail;
                let text = String::from_utf8(text.to_vec()).unwrap();
                match field {
                    1 => out.event_id = text,
                    2 => out.tenant_id = text,
                    3 => out.stream_id = text,
                    5 => out.kind = text,
                    6 => out.subject_id = text,
                    7 => out.actor = text,
                    other => panic!("KeyChanged has no string field {other}"),
                }
            }
            (field, wire) => panic!("unexpected field {field} with wire type {wire}"),
        }
    }
    out
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

// ---------------------------------------------------------------------------
// Event store and read models
// ---------------------------------------------------------------------------

#[tokio::test]
async fn rebuilding_the_read_models_from_the_event_store_gives_identical_rows() {
    let stack = TestStack::spawn().await;
    let api = Api::of(&stack);

    // Tenants: one renamed, one with a rotated DEK, one deleted with its data.
    let acme = api.tenant("Acme", "starter").await;
    let globex = api.tenant("Globex", "pro").await;
    let doomed = api.tenant("Doomed", "free").await;
    api.expect(
        200,
        "PATCH",
        &format!("/api/v1/tenants/{acme}"),
        Some(json!({"name": "Acme Corp", "external_id": "org-acme"})),
    )
    .await;

    // Users: one updated, one disabled, one deleted.
    let admin_user = api
        .user(&acme, json!({"role": "tenant-admin", "email": "ada@acme.test"}))
        .await;
    let member = api
        .user(&acme, json!({"role": "member", "email": "bob@acme.test"}))
        .await;
    let leaver = api.user(&acme, json!({"role": "viewer"})).await;
    api.expect(
        200,
        "PATCH",
        &format!("/api/v1/tenants/{acme}/users/{member}"),
        Some(json!({"display_name": "Bob B.", "email": "bob@acme.example"})),
    )
    .await;
    api.expect(
        200,
        "PATCH",
        &format!("/api/v1/tenants/{acme}/users/{admin_user}"),
        Some(json!({"status": "disabled"})),
    )
    .await;

    // API keys: a service key, a user-bound scoped key with an expiry, one
    // revoked, one rotated.
    api.api_key(&acme, json!({"name": "ci"})).await;
    let (_, member_key) = api
        .api_key(
            &acme,
            json!({"name": "bob laptop", "user_id": member, "role": "member",
                   "scopes": ["mock-gpt", "mock-claude"], "expires_at": "2099-01-01T00:00:00Z"}),
        )
        .await;
    let (revoked, _) = api.api_key(&acme, json!({"name": "old"})).await;
    api.expect(
        204,
        "DELETE",
        &format!("/api/v1/tenants/{acme}/api-keys/{revoked}"),
        None,
    )
    .await;
    let (rotated, _) = api
        .api_key(&acme, json!({"name": "rotating", "role": "tenant-admin"}))
        .await;
    api.expect(
        200,
        "POST",
        &format!("/api/v1/tenants/{acme}/api-keys/{rotated}/rotate"),
        None,
    )
    .await;
    api.user(&acme, json!({"role": "member"})).await;
    api.expect(
        204,
        "DELETE",
        &format!("/api/v1/tenants/{acme}/users/{leaver}"),
        None,
    )
    .await;

    // BYOK keys: set and replaced, set and deleted, a custom provider with a
    // base URL and label, a user-scoped key, and a tenant with a rotated DEK.
    api.tenant_byok(
        &acme,
        "openai",
        json!({"key": random_secret("sk-first-"), "scope": "tenant"}),
    )
    .await;
    api.tenant_byok(
        &acme,
        "openai",
        json!({"key": random_secret("sk-second-"), "scope": "tenant", "label": "prod"}),
    )
    .await;
    api.tenant_byok(
        &acme,
        "groq",
        json!({"key": random_secret("gsk_"), "scope": "tenant"}),
    )
    .await;
    api.expect(
        204,
        "DELETE",
        &format!("/api/v1/byok/keys/groq?tenant_id={acme}&scope=tenant"),
        None,
    )
    .await;
    api.tenant_byok(
        &acme,
        "custom-acme",
        json!({"key": random_secret("ak-"), "scope": "tenant", "base_url": "http://127.0.0.1:9/v1/", "label": "on-prem"}),
    )
    .await;
    let (status, body) = api
        .call_as(
            &member_key,
            "PUT",
            "/api/v1/byok/keys/anthropic",
            Some(json!({"key": random_secret("sk-ant-")})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "user");
    api.tenant_byok(
        &globex,
        "openai",
        json!({"key": random_secret("sk-globex-"), "scope": "tenant"}),
    )
    .await;
    let rotated_dek = api
        .expect(200, "POST", &format!("/api/v1/tenants/{globex}/dek/rotate"), None)
        .await;
    assert_eq!(rotated_dek["dek_version"], 2);

    let doomed_user = api.user(&doomed, json!({"role": "member"})).await;
    api.api_key(&doomed, json!({"name": "d", "user_id": doomed_user}))
        .await;
    api.expect(204, "DELETE", &format!("/api/v1/tenants/{doomed}"), None)
        .await;

    let db = pool(&stack.isolation.db_name).await;
    let before = dump_read_models(&db).await;
    // The dump is not trivially equal: every kind of row is there.
    assert_eq!(
        count(&db, "SELECT count(*) FROM tenants WHERE id <> $1", "platform").await,
        2
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM users WHERE tenant_id = $1", &acme).await,
        3
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM api_keys WHERE tenant_id = $1", &acme).await,
        4
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM api_keys WHERE tenant_id = $1 AND revoked_at IS NOT NULL",
            &acme
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM api_keys WHERE tenant_id = $1 AND rotated_at IS NOT NULL",
            &acme
        )
        .await,
        1
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM byok_keys WHERE tenant_id = $1", &acme).await,
        3
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM byok_keys WHERE tenant_id = $1 AND dek_version = 2",
            &globex
        )
        .await,
        1
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM users WHERE tenant_id = $1", &doomed).await,
        0
    );
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM key_events")
        .fetch_one(&db)
        .await
        .unwrap();

    let mut conn = connection(&stack.isolation.db_name).await;
    let mut tx = conn.begin().await.unwrap();
    let applied = store::rebuild(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(applied, u64::try_from(events).unwrap());

    let after = dump_read_models(&db).await;
    for ((table, rows_before), (_, rows_after)) in before.iter().zip(&after) {
        assert_eq!(rows_before, rows_after, "table {table} differs after the rebuild");
    }
}

#[tokio::test]
async fn a_follower_never_skips_a_late_commit() {
    let stack = TestStack::spawn().await;
    let db = &stack.isolation.db_name;
    let mut reader = connection(db).await;
    let last: i64 = sqlx::query_scalar("SELECT coalesce(max(position), 0) FROM key_events")
        .fetch_one(&mut reader)
        .await
        .unwrap();

    // A takes the smaller position but commits last.
    let mut conn_a = connection(db).await;
    let mut conn_b = connection(db).await;
    let mut a = conn_a.begin().await.unwrap();
    let position_a = insert_raw_event(&mut a, "test:a").await;
    let mut b = conn_b.begin().await.unwrap();
    let position_b = insert_raw_event(&mut b, "test:b").await;
    b.commit().await.unwrap();
    assert!(position_a < position_b);

    // B's row is committed and visible to a plain query...
    let visible: Vec<i64> =
        sqlx::query_scalar("SELECT position FROM key_events WHERE position > $1 ORDER BY position")
            .bind(last)
            .fetch_all(&mut reader)
            .await
            .unwrap();
    assert_eq!(visible, vec![position_b]);
    // ...but a follower must not consume it: A could still commit behind it.
    let read = store::read_committed_after(&mut reader, last, None, 100)
        .await
        .unwrap();
    assert!(
        read.is_empty(),
        "the follower read {:?} while an older transaction was still open",
        read.iter().map(|r| r.position).collect::<Vec<_>>()
    );

    a.commit().await.unwrap();
    // The snapshot horizon is cluster-wide, so other databases' transactions
    // can hold it back for a moment: poll.
    let start = Instant::now();
    let read = loop {
        let read = store::read_committed_after(&mut reader, last, None, 100)
            .await
            .unwrap();
        if read.len() >= 2 || start.elapsed() > DEADLINE {
            break read;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let seen: Vec<(i64, &str)> = read.iter().map(|r| (r.position, r.stream_id.as_str())).collect();
    assert_eq!(seen, vec![(position_a, "test:a"), (position_b, "test:b")]);
    for r in &read {
        assert_eq!(
            r.event,
            KeyEvent::TenantDeleted {
                tenant_id: "x".into()
            }
        );
        assert_eq!(
            (r.version, r.tenant_id.as_str(), r.actor.as_str()),
            (1, "platform", "test")
        );
    }
}

#[tokio::test]
async fn a_stale_version_is_a_conflict() {
    let stack = TestStack::spawn().await;
    let db = &stack.isolation.db_name;
    let prefix = &stack.isolation.nats_prefix;
    let tenant = uuid::Uuid::now_v7().to_string();
    let stream = format!("tenant:{tenant}");
    let meta = Meta {
        actor: "test".into(),
        request_id: Some("req-conflict".into()),
    };
    let created = |name: &str| KeyEvent::TenantCreated {
        tenant_id: tenant.clone(),
        name: name.into(),
        plan: "starter".into(),
        external_id: None,
    };

    // Two writers both expect version 0; the second blocks on the first's
    // uncommitted row and loses once it commits.
    let mut conn_1 = connection(db).await;
    let mut conn_2 = connection(db).await;
    let mut first = conn_1.begin().await.unwrap();
    let recorded = store::append(
        &mut first,
        prefix,
        &meta,
        stream.clone(),
        0,
        &tenant,
        created("first"),
    )
    .await
    .unwrap();
    assert_eq!(recorded.version, 1);
    let mut second = conn_2.begin().await.unwrap();
    let racing = store::append(
        &mut second,
        prefix,
        &meta,
        stream.clone(),
        0,
        &tenant,
        created("second"),
    );
    let commit_first = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        first.commit().await
    };
    let (lost, committed) = tokio::join!(racing, commit_first);
    committed.unwrap();
    assert!(matches!(lost, Err(StoreError::Conflict)), "{lost:?}");
    drop(second);

    // Once more, after the fact, with the same stale version.
    let mut tx = conn_2.begin().await.unwrap();
    let stale = store::append(
        &mut tx,
        prefix,
        &meta,
        stream.clone(),
        0,
        &tenant,
        created("third"),
    )
    .await;
    assert!(matches!(stale, Err(StoreError::Conflict)), "{stale:?}");
    tx.rollback().await.unwrap();

    // The current version wins.
    let mut tx = conn_2.begin().await.unwrap();
    let update = KeyEvent::TenantUpdated {
        tenant_id: tenant.clone(),
        name: "renamed".into(),
        plan: "pro".into(),
        external_id: None,
    };
    let recorded = store::append(&mut tx, prefix, &meta, stream.clone(), 1, &tenant, update)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(recorded.version, 2);

    let db = pool(db).await;
    let versions: Vec<(i64, String)> =
        sqlx::query_as("SELECT version, event_type FROM key_events WHERE stream_id = $1 ORDER BY version")
            .bind(&stream)
            .fetch_all(&db)
            .await
            .unwrap();
    assert_eq!(
        versions,
        vec![(1, "tenant.created".to_owned()), (2, "tenant.updated".to_owned())]
    );
    let (name, plan, version): (String, String, i64) =
        sqlx::query_as("SELECT name, plan, version FROM tenants WHERE id = $1")
            .bind(&tenant)
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!((name.as_str(), plan.as_str(), version), ("renamed", "pro", 2));

    // The HTTP edge answers a conflict with 409 and its stable code.
    let error = KeysError::from(StoreError::Conflict);
    assert_eq!(error.status(), 409);
    assert_eq!(error.code(), "KW-ADM-003");
}

// ---------------------------------------------------------------------------
// Outbox to JetStream
// ---------------------------------------------------------------------------

#[tokio::test]
async fn every_key_change_reaches_jetstream_once_with_cloudevents_headers() {
    let stack = TestStack::spawn().await;
    let api = Api::of(&stack);
    let tenant = api.tenant("Outboxed", "free").await;
    let (key_id, key) = api.api_key(&tenant, json!({"name": "ci"})).await;
    api.expect(
        204,
        "DELETE",
        &format!("/api/v1/tenants/{tenant}/api-keys/{key_id}"),
        None,
    )
    .await;

    let db = pool(&stack.isolation.db_name).await;
    eventually("the outbox is drained", || {
        let db = db.clone();
        async move {
            let left: i64 = sqlx::query_scalar("SELECT count(*) FROM key_outbox")
                .fetch_one(&db)
                .await
                .unwrap();
            (left == 0).then_some(())
        }
    })
    .await;

    let prefix = &stack.isolation.nats_prefix;
    let subject = format!("{prefix}.keys.v1.{tenant}");
    let js = async_nats::jetstream::new(async_nats::connect("nats://127.0.0.1:4222").await.unwrap());
    let stream = js
        .get_stream(format!("{}_KEYS", prefix.to_uppercase()))
        .await
        .unwrap();
    let mut consumer: async_nats::jetstream::consumer::PullConsumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            filter_subject: subject.clone(),
            deliver_policy: async_nats::jetstream::consumer::DeliverPolicy::All,
            ack_policy: async_nats::jetstream::consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = Vec::new();
    let start = Instant::now();
    while messages.len() < 3 && start.elapsed() < DEADLINE {
        let mut batch = consumer
            .batch()
            .max_messages(10)
            .expires(Duration::from_secs(1))
            .messages()
            .await
            .unwrap();
        while let Some(message) = batch.next().await {
            messages.push(message.unwrap());
        }
    }
    // Nothing beyond the three: each change was published once.
    assert_eq!(consumer.info().await.unwrap().num_pending, 0);

    let stored: Vec<(uuid::Uuid, String, String, i64)> = sqlx::query_as(
        "SELECT event_id, event_type, stream_id, version FROM key_events WHERE tenant_id = $1 ORDER BY position",
    )
    .bind(&tenant)
    .fetch_all(&db)
    .await
    .unwrap();
    let kinds: Vec<&str> = stored.iter().map(|(_, kind, _, _)| kind.as_str()).collect();
    assert_eq!(kinds, ["tenant.created", "api_key.created", "api_key.revoked"]);
    assert_eq!(messages.len(), 3, "expected one message per key change");

    let secret = keyway_keys::key_format::parse(&key).unwrap().secret.to_owned();
    for (message, (event_id, kind, stream_id, version)) in messages.iter().zip(&stored) {
        assert_eq!(message.subject.as_str(), subject);
        let change = decode_key_changed(&message.payload);
        assert_eq!(change.event_id, event_id.to_string());
        assert_eq!(change.kind, *kind);
        assert_eq!(change.tenant_id, tenant);
        assert_eq!(change.stream_id, *stream_id);
        assert_eq!(change.version, u64::try_from(*version).unwrap());
        assert_eq!(change.actor, "platform-admin");
        let expected_subject = if kind.starts_with("api_key.") {
            &key_id
        } else {
            &tenant
        };
        assert_eq!(&change.subject_id, expected_subject);
        assert!(change.occurred_at_unix_ms > 1_700_000_000_000);

        let headers = message.headers.as_ref().expect("CloudEvents headers");
        let header = |name: &str| {
            headers
                .get(name)
                .unwrap_or_else(|| panic!("header {name} missing from {headers:?}"))
                .as_str()
                .to_owned()
        };
        // The client parses `Nats-Msg-Id` into a standard name, which a
        // string lookup (a custom name) does not match.
        let msg_id = headers
            .get(async_nats::header::NATS_MESSAGE_ID)
            .expect("Nats-Msg-Id header");
        assert_eq!(msg_id.as_str(), change.event_id);
        assert_eq!(async_nats::header::NATS_MESSAGE_ID.to_string(), "Nats-Msg-Id");
        assert_eq!(header("ce-id"), change.event_id);
        assert_eq!(
            uuid::Uuid::parse_str(&header("ce-id")).unwrap().get_version_num(),
            7
        );
        assert_eq!(header("ce-specversion"), "1.0");
        assert_eq!(header("ce-type"), "dev.keyway.keys.v1");
        assert_eq!(header("ce-source"), "keyway/keys");
        assert_eq!(header("ce-subject"), tenant);
        assert_eq!(header("ce-datacontenttype"), "application/protobuf");
        assert!(header("ce-time").starts_with("20"));

        let body = String::from_utf8_lossy(&message.payload);
        assert!(
            !body.contains(&key) && !body.contains(&secret),
            "a message body holds the API key"
        );
        for (name, values) in headers.iter() {
            for value in values {
                assert!(
                    !value.as_str().contains(&secret),
                    "header {name} holds the API key's secret"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Envelope encryption
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_ciphertext_copied_to_another_row_or_tenant_fails_to_open() {
    let (secret_a, secret_b, groq_b) = (
        random_secret("sk-a-"),
        random_secret("sk-b-"),
        random_secret("gsk-b-"),
    );
    let mock_keys = format!("{secret_a}=team-a,{secret_b}=team-b,{groq_b}=team-b-groq");
    let (stack, _catalog) = team_stack(&mock_keys).await;
    let api = Api::of(&stack);
    let tenant_a = api.tenant("A", "starter").await;
    let tenant_b = api.tenant("B", "starter").await;
    api.tenant_byok(&tenant_a, "openai", json!({"key": secret_a, "scope": "tenant"}))
        .await;
    api.tenant_byok(&tenant_b, "openai", json!({"key": secret_b, "scope": "tenant"}))
        .await;
    api.tenant_byok(&tenant_b, "groq", json!({"key": groq_b, "scope": "tenant"}))
        .await;
    let (_, key_a) = api.api_key(&tenant_a, json!({"name": "a"})).await;
    let (_, key_b) = api.api_key(&tenant_b, json!({"name": "b"})).await;

    // Untampered, each tenant reaches the upstream with its own key.
    let (status, body) = api.team_chat(&key_b, "before").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(reply(&body), answer("before", "team-b"));
    let (status, body) = api.team_chat(&key_a, "a").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(reply(&body), answer("a", "team-a"));

    let db = pool(&stack.isolation.db_name).await;
    let (b_openai, b_sealed, b_version) = byok_row(&db, &tenant_b, "openai").await;
    let (_, b_groq_sealed, _) = byok_row(&db, &tenant_b, "groq").await;
    let (_, a_sealed, a_version) = byok_row(&db, &tenant_a, "openai").await;
    assert_eq!(
        (a_version, b_version),
        (1, 1),
        "same DEK version: only the binding differs"
    );
    assert!(!String::from_utf8_lossy(&b_sealed).contains(&secret_b));

    // Another row of the same tenant (same DEK, other record and provider).
    set_sealed(&db, &b_openai, &b_groq_sealed).await;
    let (status, body) = api.team_chat(&key_b, "swapped row").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["keyway_code"], "KW-AUTH-004");
    assert!(!body.to_string().contains("team-b-groq"), "{body}");

    // Put back, it opens again: the tamper was the only cause.
    set_sealed(&db, &b_openai, &b_sealed).await;
    let (status, body) = api.team_chat(&key_b, "restored").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(reply(&body), answer("restored", "team-b"));

    // Another tenant's ciphertext.
    set_sealed(&db, &b_openai, &a_sealed).await;
    let (status, body) = api.team_chat(&key_b, "swapped tenant").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["keyway_code"], "KW-AUTH-004");
    assert!(!body.to_string().contains("team-a"), "{body}");
    let text = body.to_string();
    assert!(!text.contains(&secret_a) && !text.contains(&secret_b), "{body}");

    // Tenant A is unaffected.
    let (status, body) = api.team_chat(&key_a, "still a").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(reply(&body), answer("still a", "team-a"));
}

#[tokio::test]
async fn dek_rotation_reseals_without_downtime_and_kek_rotation_only_rewraps() {
    let secret = random_secret("sk-rot-");
    let (stack, _catalog) = team_stack(&format!("{secret}=rotating-team")).await;
    let api = Api::of(&stack);
    let tenant = api.tenant("Rotating", "pro").await;
    api.tenant_byok(&tenant, "openai", json!({"key": secret, "scope": "tenant"}))
        .await;
    let (_, key) = api.api_key(&tenant, json!({"name": "svc"})).await;
    let (status, body) = api.team_chat(&key, "v1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(reply(&body), answer("v1", "rotating-team"));

    let db = pool(&stack.isolation.db_name).await;
    let (record, sealed_v1, version) = byok_row(&db, &tenant, "openai").await;
    assert_eq!(version, 1);
    assert_eq!(deks(&db, &tenant).await.len(), 1);

    // DEK rotation: traffic keeps flowing while it runs.
    let chats = async {
        let mut answered = Vec::new();
        for i in 0..20 {
            let text = format!("during {i}");
            let (status, body) = api.team_chat(&key, &text).await;
            answered.push((status, reply(&body) == answer(&text, "rotating-team"), body));
        }
        answered
    };
    let rotate_path = format!("/api/v1/tenants/{tenant}/dek/rotate");
    let rotate = api.call("POST", &rotate_path, None);
    let (answered, (status, rotated)) = tokio::join!(chats, rotate);
    assert_eq!(status, 200, "{rotated}");
    assert_eq!(rotated["tenant_id"], tenant.as_str());
    assert_eq!(rotated["dek_version"], 2);
    for (status, same_identity, body) in &answered {
        assert!(
            *status == 200 && *same_identity,
            "a chat failed during DEK rotation: {status} {body}"
        );
    }

    let (status, body) = api.team_chat(&key, "v2").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(reply(&body), answer("v2", "rotating-team"));
    let after_dek = deks(&db, &tenant).await;
    let versions: Vec<i32> = after_dek.iter().map(|(v, _, _)| *v).collect();
    assert_eq!(versions, vec![2], "the old DEK is destroyed");
    let (same_record, sealed_v2, version) = byok_row(&db, &tenant, "openai").await;
    assert_eq!((same_record.as_str(), version), (record.as_str(), 2));
    assert_ne!(sealed_v2, sealed_v1, "the secret is re-sealed");
    assert_eq!(
        count(
            &db,
            "SELECT min_dek_version::bigint FROM tenants WHERE id = $1",
            &tenant
        )
        .await,
        2
    );

    // The local KMS, opened independently, unwraps DEK v2, which opens the
    // re-sealed secret.
    let kms = LocalKms::open(&stack.isolation.data_dir.path().join("kms"), false).unwrap();
    let (_, wrapped_before, kek_before) = after_dek[0].clone();
    assert_eq!(kek_before, "local:v1");
    let dek_before = kms
        .decrypt(&wrapped_before, &dek_context(&tenant, 2))
        .await
        .unwrap();
    let aad = Aad {
        tenant_id: &tenant,
        record_id: &record,
        provider: "openai",
        dek_version: 2,
    };
    assert_eq!(*open(&dek_before, &aad, &sealed_v2).unwrap(), secret.as_bytes());

    // KEK rotation: every wrapped DEK and the pepper move to the new KEK;
    // no secret is re-sealed.
    let wrapped_total: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM tenant_deks) + (SELECT count(*) FROM service_secrets)",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    let events_before: i64 = sqlx::query_scalar("SELECT count(*) FROM key_events")
        .fetch_one(&db)
        .await
        .unwrap();
    let rotated = api
        .expect(200, "POST", "/api/v1/admin/kms/rotate-kek", None)
        .await;
    let kek = rotated["kek"].as_str().unwrap().to_owned();
    assert_eq!(kek, "local:v2");
    assert!(rotated["rewrapped"].as_i64().unwrap() >= 1);
    assert_eq!(rotated["rewrapped"].as_i64().unwrap(), wrapped_total);

    let after_kek = deks(&db, &tenant).await;
    assert_eq!(after_kek.len(), 1);
    let (version, wrapped_after, kek_ref) = after_kek[0].clone();
    assert_eq!((version, kek_ref.as_str()), (2, kek.as_str()));
    assert_ne!(wrapped_after, wrapped_before, "the DEK is rewrapped");
    let pepper_keks: Vec<String> = sqlx::query_scalar("SELECT kek_ref FROM service_secrets")
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(pepper_keks, vec![kek.clone()]);
    let (_, sealed_after_kek, version) = byok_row(&db, &tenant, "openai").await;
    assert_eq!(version, 2);
    assert_eq!(
        sealed_after_kek, sealed_v2,
        "KEK rotation must not re-seal secrets"
    );
    let events_after: i64 = sqlx::query_scalar("SELECT count(*) FROM key_events")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(events_after, events_before, "KEK rotation appends no events");

    // Same DEK inside the new wrapping.
    let kms = LocalKms::open(&stack.isolation.data_dir.path().join("kms"), false).unwrap();
    let dek_after = kms
        .decrypt(&wrapped_after, &dek_context(&tenant, 2))
        .await
        .unwrap();
    assert_eq!(*dek_after, *dek_before);

    let (status, body) = api.team_chat(&key, "after kek").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(reply(&body), answer("after kek", "rotating-team"));
}

#[tokio::test]
async fn deleting_a_tenant_crypto_shreds_its_secrets() {
    let (doomed_secret, survivor_secret) = (random_secret("sk-doomed-"), random_secret("sk-survivor-"));
    let (stack, _catalog) = team_stack(&format!(
        "{doomed_secret}=doomed-team,{survivor_secret}=survivor-team"
    ))
    .await;
    let api = Api::of(&stack);
    let doomed = api.tenant("Doomed", "starter").await;
    let survivor = api.tenant("Survivor", "starter").await;
    api.tenant_byok(
        &doomed,
        "openai",
        json!({"key": doomed_secret, "scope": "tenant"}),
    )
    .await;
    api.tenant_byok(
        &survivor,
        "openai",
        json!({"key": survivor_secret, "scope": "tenant"}),
    )
    .await;
    let (_, doomed_key) = api.api_key(&doomed, json!({"name": "d"})).await;
    let (_, survivor_key) = api.api_key(&survivor, json!({"name": "s"})).await;
    let (status, body) = api.team_chat(&doomed_key, "last words").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(reply(&body), answer("last words", "doomed-team"));

    let db = pool(&stack.isolation.db_name).await;
    assert_eq!(deks(&db, &doomed).await.len(), 1);
    api.expect(204, "DELETE", &format!("/api/v1/tenants/{doomed}"), None)
        .await;

    // Key material and read models are gone...
    assert!(deks(&db, &doomed).await.is_empty(), "the tenant's DEKs survived");
    for table in [
        "tenants WHERE id",
        "users WHERE tenant_id",
        "api_keys WHERE tenant_id",
        "byok_keys WHERE tenant_id",
    ] {
        let left = count(&db, &format!("SELECT count(*) FROM {table} = $1"), &doomed).await;
        assert_eq!(left, 0, "{table} still has rows of the deleted tenant");
    }
    // ...while the append-only history still holds the sealed secret, which
    // now has no DEK to open it.
    let sealed: Vec<String> = sqlx::query_scalar(
        "SELECT payload->>'sealed' FROM key_events WHERE tenant_id = $1 AND event_type = 'byok_key.set'",
    )
    .bind(&doomed)
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(sealed.len(), 1);
    assert!(sealed[0].len() > 40, "sealed: {:?}", sealed[0]);
    let leaks = count(
        &db,
        "SELECT count(*) FROM key_events WHERE strpos(payload::text, $1) > 0",
        &doomed_secret,
    )
    .await;
    assert_eq!(leaks, 0, "the event store holds the plaintext secret");
    let deleted = count(
        &db,
        "SELECT count(*) FROM key_events WHERE tenant_id = $1 AND event_type = 'tenant.deleted'",
        &doomed,
    )
    .await;
    assert_eq!(deleted, 1);
    let any_dek = count(
        &db,
        "SELECT count(*) FROM tenant_deks WHERE tenant_id = $1",
        &doomed,
    )
    .await;
    assert_eq!(any_dek, 0, "no DEK of any version can open the sealed secret");
    // The KEK itself is intact: shredding is per tenant, not a lost master key.
    assert!(
        stack
            .isolation
            .data_dir
            .path()
            .join("kms/master-v1.key")
            .is_file()
    );

    // The tenant's API key is refused at the gateway.
    let (status, body) = api.team_chat(&doomed_key, "still there?").await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["keyway_code"], "KW-AUTH-002");

    // The other tenant is untouched.
    assert_eq!(deks(&db, &survivor).await.len(), 1);
    let (status, body) = api.team_chat(&survivor_key, "fine").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(reply(&body), answer("fine", "survivor-team"));
}

// ---------------------------------------------------------------------------
// AWS KMS against moto
// ---------------------------------------------------------------------------

/// A running `moto_server`; killed when dropped, also when a test panics.
struct Moto {
    child: Child,
    url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn peers_venv() -> PathBuf {
    std::env::var_os("KEYWAY_PEERS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/keyway/peers-venv")
        })
}

async fn start_moto() -> Moto {
    let venv = peers_venv();
    let bin = venv.join("bin/moto_server");
    assert!(
        bin.is_file(),
        "{} not found; run `bash scripts/install-peers.sh` to install the test peers",
        bin.display()
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server starts");
    let mut moto = Moto {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let http = reqwest::Client::new();
    let start = Instant::now();
    loop {
        let ready = http
            .get(format!("{}/moto-api/", moto.url))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        if ready {
            return moto;
        }
        if let Some(status) = moto.child.try_wait().unwrap() {
            panic!("moto_server exited early with {status}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "moto_server did not answer on {} within 20 s",
            moto.url
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Creates a KMS key in moto with the venv's boto3 (the e2e crate has no
/// AWS SDK to sign requests with); returns its key id.
fn create_moto_key(moto: &Moto) -> String {
    let python = peers_venv().join("bin/python");
    let output = Command::new(&python)
        .args([
            "-c",
            "import sys, boto3; kms = boto3.client('kms', endpoint_url=sys.argv[1]); print(kms.create_key(Description='keyway e2e')['KeyMetadata']['KeyId'])",
            &moto.url,
        ])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{} cannot run: {e}", python.display()));
    assert!(
        output.status.success(),
        "boto3 create_key failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let id = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(!id.is_empty(), "boto3 printed no key id");
    id
}

/// The AWS SDK takes its credentials from the process environment, not from
/// the stack's config map, so this runs the real binary as a subprocess with
/// its own environment.
#[tokio::test]
async fn the_aws_kms_provider_works_end_to_end_against_moto() {
    let moto = start_moto().await;
    let key_id = create_moto_key(&moto);
    let secret = random_secret("sk-aws-");
    let mock_keys = format!("{secret}=aws-team");
    let dir = tempfile::tempdir().unwrap();
    let catalog = team_catalog(dir.path());
    let process = KeywayProcess::start(&[
        ("KEYWAY_KMS", "aws"),
        ("KEYWAY_KMS_KEY_ID", key_id.as_str()),
        ("AWS_ENDPOINT_URL", moto.url.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("KEYWAY_MODELS", catalog.to_str().unwrap()),
        ("KEYWAY_MOCK_KEYS", mock_keys.as_str()),
        ("KEYWAY_CREDENTIAL_CACHE_TTL_MS", "0"),
    ]);
    let api = Api::of_process(&process);

    let tenant = api.tenant("Cloudy", "starter").await;
    let set = api
        .tenant_byok(&tenant, "openai", json!({"key": secret, "scope": "tenant"}))
        .await;
    assert_eq!(set["scope"], "tenant");
    let (_, key) = api.api_key(&tenant, json!({"name": "svc"})).await;
    let (status, body) = api.team_chat(&key, "via aws kms").await;
    assert_eq!(status, 200, "{body}\n{}", process.logs());
    assert_eq!(reply(&body), answer("via aws kms", "aws-team"));

    let db = pool(&process.isolation.db_name).await;
    let tenant_deks = deks(&db, &tenant).await;
    assert_eq!(tenant_deks.len(), 1);
    let (version, wrapped, kek_ref) = &tenant_deks[0];
    assert_eq!((*version, kek_ref.as_str()), (1, key_id.as_str()));
    assert!(
        !wrapped.starts_with(b"kwl1"),
        "the DEK is wrapped by the local KMS"
    );
    let pepper: Vec<(String, String)> = sqlx::query_as("SELECT name, kek_ref FROM service_secrets")
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(pepper, vec![("api_key_pepper".to_owned(), key_id.clone())]);
    assert!(
        !process.isolation.data_dir.path().join("kms").exists(),
        "the local KMS was used"
    );

    // The DEK can be rotated through AWS too, and traffic still flows.
    let rotated = api
        .expect(200, "POST", &format!("/api/v1/tenants/{tenant}/dek/rotate"), None)
        .await;
    assert_eq!(rotated["dek_version"], 2);
    let (status, body) = api.team_chat(&key, "after rotation").await;
    assert_eq!(status, 200, "{body}\n{}", process.logs());
    assert_eq!(reply(&body), answer("after rotation", "aws-team"));
    let versions: Vec<(i32, String)> = deks(&db, &tenant)
        .await
        .into_iter()
        .map(|(v, _, k)| (v, k))
        .collect();
    assert_eq!(versions, vec![(2, key_id.clone())]);
}

#[tokio::test]
async fn zz_experiment_rotation_race() {
    let secret = random_secret("sk-rot-");
    let (stack, _catalog) = team_stack(&format!("{secret}=rotating-team")).await;
    let api = Api::of(&stack);
    let tenant = api.tenant("Rotating", "pro").await;
    api.tenant_byok(&tenant, "openai", json!({"key": secret, "scope": "tenant"}))
        .await;
    let (_, key) = api.api_key(&tenant, json!({"name": "svc"})).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for _ in 0..16 {
        let (base, key, stop) = (stack.base.clone(), key.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut failures = Vec::new();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = http
                    .post(format!("{base}/v1/chat/completions"))
                    .bearer_auth(&key)
                    .json(&chat(TEAM_MODEL, "x"))
                    .send()
                    .await
                    .unwrap();
                n += 1;
                if r.status() != 200 {
                    failures.push(r.text().await.unwrap());
                }
            }
            (n, failures)
        }));
    }
    let rotate_path = format!("/api/v1/tenants/{tenant}/dek/rotate");
    for _ in 0..30 {
        api.expect(200, "POST", &rotate_path, None).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    let mut failed = Vec::new();
    for w in workers {
        let (n, f) = w.await.unwrap();
        total += n;
        failed.extend(f);
    }
    panic!("total {total} failed {} {:?}", failed.len(), failed.first());
}
