//! Shared harness of the projector tests: a stack, the usage API mounted
//! locally, projector instances on the stack's durable consumer, and real
//! `UsageEvent`s published to JetStream with the CloudEvents headers.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use async_nats::{HeaderMap, jetstream};
use keyway_common::outbound::OutboundPolicy;
use keyway_keys::{KeyService, KeyServiceSettings};
use keyway_projector::{
    ProjectorSettings,
    webhooks::{WebhookSettings, Webhooks},
};
use keyway_proto::{
    cloudevents as ce,
    v1::{UsageBatch, UsageEvent},
};
use prost::Message;
use rand::Rng;
use serde_json::Value;
use sqlx::PgPool;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::helpers::{TestStack, nats_url, pg_url};

pub(crate) const DAY_MS: i64 = 86_400_000;
pub(crate) const WIDE: &str = "from=2000-01-01&to=2100-01-01";

/// A stack, a pool on its database, JetStream, and the usage API mounted
/// locally (authenticated by a key service on the same database).
pub(crate) struct Harness {
    pub(crate) stack: TestStack,
    pub(crate) pool: PgPool,
    pub(crate) nats: async_nats::Client,
    pub(crate) js: jetstream::Context,
    pub(crate) usage: String,
    pub(crate) settings: ProjectorSettings,
    pub(crate) stop: CancellationToken,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Harness {
    pub(crate) async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// A harness whose stack gets `extra` environment variables.
    pub(crate) async fn start_with(extra: &[(&str, &str)]) -> Self {
        let stack = TestStack::spawn_with(extra).await;
        let url = pg_url(&stack.isolation.db_name);
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect(&url)
            .await
            .unwrap();
        keyway_projector::migrate(&pool).await.unwrap();
        let kms = kms(&stack).await;
        let settings = ProjectorSettings::new(stack.isolation.nats_prefix.clone());
        let keys_settings = KeyServiceSettings {
            key_env: "dev".into(),
            nats_prefix: settings.nats_prefix.clone(),
            base_url_policy: OutboundPolicy {
                allow_private: true,
                require_https: false,
            },
        };
        let webhook_settings = WebhookSettings {
            policy: OutboundPolicy {
                allow_private: true,
                require_https: false,
            },
            ..WebhookSettings::default()
        };
        let webhooks = Webhooks::new(kms.clone(), webhook_settings).unwrap();
        let keys = Arc::new(
            KeyService::start(pool.clone(), kms, &stack.admin_key, keys_settings)
                .await
                .unwrap(),
        );
        let stop = CancellationToken::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let usage = format!("http://{}", listener.local_addr().unwrap());
        let app = keyway_projector::http::router(pool.clone(), keys, webhooks);
        tokio::spawn(
            axum::serve(listener, app)
                .with_graceful_shutdown(stop.clone().cancelled_owned())
                .into_future(),
        );
        let nats = async_nats::connect(nats_url()).await.unwrap();
        let js = jetstream::new(nats.clone());
        wait_for("the usage stream", 20, || async {
            js.get_stream(settings.stream_name()).await.is_ok()
        })
        .await;
        Self {
            stack,
            pool,
            nats,
            js,
            usage,
            settings,
            stop,
        }
    }

    /// Starts one more projector instance on the shared durable consumer.
    pub(crate) fn projector(&self, batch_size: usize) -> (JoinHandle<()>, CancellationToken) {
        let settings = ProjectorSettings {
            batch_size,
            ..self.settings.clone()
        };
        let stop = self.stop.child_token();
        let nats = self.nats.clone();
        (
            tokio::spawn(keyway_projector::run(
                self.pool.clone(),
                nats,
                settings,
                stop.clone(),
            )),
            stop,
        )
    }

    /// Publishes `(event, Nats-Msg-Id)` pairs with the CloudEvents headers
    /// and waits for every JetStream ack.
    pub(crate) async fn publish(&self, events: &[(UsageEvent, String)]) {
        let mut acks = Vec::with_capacity(events.len());
        for (e, msg_id) in events {
            acks.push(self.publish_raw(&e.tenant_id, e.encode_to_vec(), msg_id).await);
        }
        for ack in acks {
            ack.await.unwrap();
        }
    }

    pub(crate) async fn publish_raw(
        &self,
        tenant: &str,
        payload: Vec<u8>,
        msg_id: &str,
    ) -> jetstream::context::PublishAckFuture {
        self.publish_typed(ce::USAGE_TYPE, tenant, payload, msg_id).await
    }

    /// Publishes `events` (all of one tenant) as one `UsageBatch` message,
    /// as the gateway does with batching on, and waits for the ack.
    pub(crate) async fn publish_batch(&self, events: &[&UsageEvent], msg_id: &str) {
        let batch = UsageBatch {
            events: events.iter().map(|e| (*e).clone()).collect(),
        };
        self.publish_typed(
            ce::USAGE_BATCH_TYPE,
            &events[0].tenant_id,
            batch.encode_to_vec(),
            msg_id,
        )
        .await
        .await
        .unwrap();
    }

    async fn publish_typed(
        &self,
        ce_type: &str,
        tenant: &str,
        payload: Vec<u8>,
        msg_id: &str,
    ) -> jetstream::context::PublishAckFuture {
        let mut headers = HeaderMap::new();
        headers.insert(ce::NATS_MSG_ID, msg_id);
        for (name, value) in [
            (ce::SPECVERSION, "1.0"),
            (ce::ID, msg_id),
            (ce::SOURCE, "keyway/gateway"),
            (ce::TYPE, ce_type),
            (ce::SUBJECT, tenant),
            (ce::DATACONTENTTYPE, ce::PROTOBUF),
        ] {
            headers.insert(name, value);
        }
        let subject = keyway_proto::subjects::usage(&self.settings.nats_prefix, tenant);
        self.js
            .publish_with_headers(subject, headers, payload.into())
            .await
            .unwrap()
    }

    /// Waits until the ledger holds `rows` rows and every published message
    /// has been acked, so duplicates have been seen too.
    pub(crate) async fn settle(&self, rows: i64, secs: u64) {
        wait_for(&format!("{rows} ledger rows, all acked"), secs, || async {
            let count: i64 = sqlx::query_scalar("SELECT count(*) FROM usage_ledger")
                .fetch_one(&self.pool)
                .await
                .unwrap();
            let mut stream = self.js.get_stream(self.settings.stream_name()).await.unwrap();
            let last = stream.info().await.unwrap().state.last_sequence;
            let mut consumer = stream
                .get_consumer::<jetstream::consumer::pull::Config>(&self.settings.consumer_name())
                .await
                .unwrap();
            count == rows && consumer.info().await.unwrap().ack_floor.stream_sequence >= last
        })
        .await;
    }

    pub(crate) async fn get(&self, key: &str, path: &str) -> (u16, Value) {
        self.send(key, "GET", path, None).await
    }

    pub(crate) async fn send(
        &self,
        key: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .stack
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.usage))
            .bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        (
            response.status().as_u16(),
            response.json().await.unwrap_or(Value::Null),
        )
    }

    /// The views as JSON rows, in key order, for exact comparisons.
    pub(crate) async fn views(&self) -> Vec<String> {
        let mut rows = Vec::new();
        for view in ["usage_daily", "usage_monthly"] {
            let sql = format!(
                "SELECT row_to_json(v)::text FROM {view} v ORDER BY tenant_id, period, model, api_key_id, user_id, currency"
            );
            rows.extend(
                sqlx::query_scalar::<_, String>(&sql)
                    .fetch_all(&self.pool)
                    .await
                    .unwrap(),
            );
        }
        rows
    }
}

pub(crate) use crate::helpers::local_kms as kms;

pub(crate) async fn wait_for<F, Fut>(what: &str, secs: u64, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {secs} s: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A random usage event: tokens, cost, status, spread over three days.
pub(crate) fn event(tenant: &str, user: &str, key: &str, model: &str) -> UsageEvent {
    let mut rng = rand::rng();
    let input = rng.random_range(0..5_000u64);
    let status = [200, 200, 200, 200, 429, 502][rng.random_range(0..6)];
    UsageEvent {
        event_id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant.into(),
        user_id: user.into(),
        api_key_id: key.into(),
        model: model.into(),
        provider: "openai".into(),
        key_source: 3,
        route: "/v1/chat/completions".into(),
        input_tokens: input,
        output_tokens: rng.random_range(0..2_000),
        cached_tokens: rng.random_range(0..=input),
        cost_micros: rng.random_range(0..100_000),
        currency: "USD".into(),
        status,
        streamed: rng.random_bool(0.5),
        estimated: rng.random_bool(0.1),
        client_disconnected: rng.random_bool(0.05),
        latency_ms: rng.random_range(1..3_000),
        occurred_at_unix_ms: now_ms() - rng.random_range(0..3 * DAY_MS),
        ..Default::default()
    }
}

/// `n` events alternating between tenants `a` and `b`, the first `old` of
/// them 40 days old (past any retention the tests set), the rest recent.
pub(crate) fn aged_events(a: &str, b: &str, n: usize, old: usize) -> Vec<(UsageEvent, String)> {
    (0..n)
        .map(|i| {
            let mut e = event(if i % 2 == 0 { a } else { b }, "", "", "mock-gpt");
            if i < old {
                e.occurred_at_unix_ms -= 40 * DAY_MS;
            }
            let id = e.event_id.clone();
            (e, id)
        })
        .collect()
}

/// `n` random events over two tenants, two models, several keys and users.
pub(crate) fn events(tenants: &[&str], n: usize) -> Vec<(UsageEvent, String)> {
    let mut rng = rand::rng();
    (0..n)
        .map(|i| {
            let tenant = tenants[i % tenants.len()];
            let user = ["", "u1", "u2"][rng.random_range(0..3)];
            let key = ["", "k1", "k2", "k3"][rng.random_range(0..4)];
            let e = event(
                tenant,
                user,
                key,
                ["mock-gpt", "mock-claude"][rng.random_range(0..2)],
            );
            let id = e.event_id.clone();
            (e, id)
        })
        .collect()
}

/// Exact sums per tenant: requests, errors, input, output, cached, cost.
pub(crate) fn expected(events: &[(UsageEvent, String)]) -> BTreeMap<String, [i64; 6]> {
    let mut sums: BTreeMap<String, [i64; 6]> = BTreeMap::new();
    for (e, _) in events {
        let s = sums.entry(e.tenant_id.clone()).or_default();
        let add = [
            1,
            i64::from(e.status >= 400),
            e.input_tokens as i64,
            e.output_tokens as i64,
            e.cached_tokens as i64,
            e.cost_micros,
        ];
        s.iter_mut().zip(add).for_each(|(a, b)| *a += b);
    }
    sums
}

/// The same sums read from a view.
pub(crate) async fn view_sums(pool: &PgPool, view: &str) -> BTreeMap<String, [i64; 6]> {
    let sql = format!(
        "SELECT tenant_id, sum(requests)::bigint, sum(errors)::bigint, sum(input_tokens)::bigint, sum(output_tokens)::bigint,
             sum(cached_tokens)::bigint, sum(cost_micros)::bigint FROM {view} GROUP BY tenant_id"
    );
    let rows: Vec<(String, i64, i64, i64, i64, i64, i64)> =
        sqlx::query_as(&sql).fetch_all(pool).await.unwrap();
    rows.into_iter()
        .map(|r| (r.0, [r.1, r.2, r.3, r.4, r.5, r.6]))
        .collect()
}

pub(crate) fn totals(summary: &Value) -> [i64; 6] {
    let t = &summary["totals"];
    [
        "requests",
        "errors",
        "input_tokens",
        "output_tokens",
        "cached_tokens",
        "cost_micros",
    ]
    .map(|f| t[f].as_i64().unwrap())
}

/// The export cursor just past ledger position `seq`, as the usage API
/// shows it (export pages, registered cursors, webhooks).
pub(crate) fn export_cursor(seq: i64) -> String {
    keyway_common::api::cursor::encode_seq("usage-events", seq)
}

/// Pages through the export with `key` from `cursor` (empty: the start)
/// until `want` events came and the export has nothing more; returns them and
/// the cursor to resume from. Waits (up to 10 s) when the export holds rows
/// back because some write transaction in the cluster is still running.
pub(crate) async fn export(h: &Harness, key: &str, mut cursor: String, want: usize) -> (Vec<Value>, String) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut all = Vec::new();
    loop {
        let path = format!("/api/v1/usage/events?limit=100&cursor={cursor}");
        let (status, page) = h.get(key, &path).await;
        assert_eq!(status, 200, "{page}");
        let events = page["events"].as_array().unwrap();
        all.extend(events.iter().cloned());
        // The contract: only a full page can announce a successor.
        assert!(page["next_cursor"].is_null() || events.len() == 100, "{page}");
        cursor = page["resume_cursor"].as_str().unwrap().to_owned();
        if page["next_cursor"].is_null() {
            if all.len() >= want || tokio::time::Instant::now() > deadline {
                return (all, cursor);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
