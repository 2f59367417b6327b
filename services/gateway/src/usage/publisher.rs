//! Publishes usage events to JetStream without ever blocking a response:
//! `record` only queues. One task publishes with `Nats-Msg-Id` = event id;
//! when NATS is down or slow, events go to the fsync'd spool and are
//! replayed in order when it returns — also after a restart.

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use async_nats::{HeaderMap, jetstream};
use keyway_proto::{cloudevents as ce, subjects, v1::UsageEvent};
use prost::Message;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{UsageSink, spool::Spool};

const ACK_TIMEOUT: Duration = Duration::from_secs(5);
/// Spooled records published per round of acks during replay.
const REPLAY_BATCH: usize = 1024;

/// Counters for `/readyz` and the logs.
#[derive(Default)]
pub struct UsageStats {
    pub published: AtomicU64,
    pub spooled: AtomicU64,
    pub spool_bytes: AtomicU64,
    /// Events refused because the spool was full: the one way data is lost.
    pub dropped: AtomicU64,
}

pub struct UsagePublisher {
    queue: mpsc::UnboundedSender<UsageEvent>,
    pub stats: Arc<UsageStats>,
}

impl UsageSink for UsagePublisher {
    fn record(&self, event: UsageEvent) {
        if self.queue.send(event).is_err() {
            tracing::error!("usage publisher stopped; an event was not recorded");
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl UsagePublisher {
    /// Opens the spool; the returned future is the publishing task (spawn
    /// it). It ends after `shutdown`, once everything queued is published or
    /// spooled — so cancel it only after the HTTP front has drained.
    pub fn start(
        nats: async_nats::Client,
        prefix: String,
        spool_dir: &Path,
        max_spool_bytes: u64,
        shutdown: CancellationToken,
    ) -> std::io::Result<(Arc<Self>, impl std::future::Future<Output = ()> + Send + 'static)> {
        let spool = Spool::open(spool_dir, max_spool_bytes)?;
        let stats = Arc::new(UsageStats::default());
        stats.spool_bytes.store(spool.bytes, Ordering::Relaxed);
        let (queue, rx) = mpsc::unbounded_channel();
        let worker = Worker {
            js: jetstream::new(nats.clone()),
            nats,
            prefix,
            spool,
            stats: stats.clone(),
        };
        Ok((Arc::new(Self { queue, stats }), worker.run(rx, shutdown)))
    }
}

struct Worker {
    nats: async_nats::Client,
    js: jetstream::Context,
    prefix: String,
    spool: Spool,
    stats: Arc<UsageStats>,
}

impl Worker {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<UsageEvent>, shutdown: CancellationToken) {
        let mut replay = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                biased;
                received = rx.recv() => {
                    let Some(first) = received else { return };
                    let mut batch = vec![first];
                    while batch.len() < 1024 {
                        match rx.try_recv() {
                            Ok(e) => batch.push(e),
                            Err(_) => break,
                        }
                    }
                    self.deliver(batch).await;
                }
                _ = replay.tick() => self.replay().await,
                _ = shutdown.cancelled() => {
                    rx.close();
                    let mut rest = Vec::new();
                    while let Ok(e) = rx.try_recv() {
                        rest.push(e);
                    }
                    // Shutting down: keep order simple and durable.
                    self.spool_records(rest.iter().map(Message::encode_to_vec).collect()).await;
                    return;
                }
            }
        }
    }

    fn connected(&self) -> bool {
        self.nats.connection_state() == async_nats::connection::State::Connected
    }

    /// Publishes a batch (pipelined acks); whatever NATS does not take goes
    /// to the spool. While the spool holds a backlog, new events join it, so
    /// replay keeps their order.
    async fn deliver(&mut self, batch: Vec<UsageEvent>) {
        if !self.spool.is_empty() || !self.connected() {
            self.spool_records(batch.iter().map(Message::encode_to_vec).collect())
                .await;
            return;
        }
        let failed = self
            .publish_all(batch.iter().map(Message::encode_to_vec).collect())
            .await;
        self.spool_records(failed).await;
    }

    /// Returns the records that were not acknowledged.
    async fn publish_all(&self, records: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
        let mut pending = Vec::with_capacity(records.len());
        let mut failed = Vec::new();
        for record in records {
            let Ok(event) = UsageEvent::decode(record.as_slice()) else {
                continue;
            };
            let subject = subjects::usage(&self.prefix, &event.tenant_id);
            match self
                .js
                .publish_with_headers(subject, headers(&event), record.clone().into())
                .await
            {
                Ok(ack) => pending.push((record, ack)),
                Err(_) => failed.push(record),
            }
        }
        for (record, ack) in pending {
            match tokio::time::timeout(ACK_TIMEOUT, ack).await {
                Ok(Ok(_)) => {
                    self.stats.published.fetch_add(1, Ordering::Relaxed);
                }
                _ => failed.push(record),
            }
        }
        failed
    }

    async fn spool_records(&mut self, records: Vec<Vec<u8>>) {
        if records.is_empty() {
            return;
        }
        let n = records.len();
        match self.spool.append(&records).await {
            Ok(refused) => {
                self.stats
                    .spooled
                    .fetch_add((n - refused) as u64, Ordering::Relaxed);
                if refused > 0 {
                    self.stats.dropped.fetch_add(refused as u64, Ordering::Relaxed);
                    tracing::error!(
                        refused,
                        "usage spool is full (KEYWAY_SPOOL_MAX_BYTES); events were dropped"
                    );
                }
            }
            Err(e) => {
                self.stats.dropped.fetch_add(n as u64, Ordering::Relaxed);
                tracing::error!(error = %e, events = n, "cannot write the usage spool; events were dropped");
            }
        }
        self.stats.spool_bytes.store(self.spool.bytes, Ordering::Relaxed);
    }

    /// Replays the oldest spool segment when NATS is reachable.
    async fn replay(&mut self) {
        while !self.spool.is_empty() && self.connected() {
            let (path, mut records) = match self.spool.oldest().await {
                Ok(Some(segment)) => segment,
                Ok(None) => return,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the usage spool");
                    return;
                }
            };
            // A segment is read a batch at a time, never whole.
            let mut total = 0;
            loop {
                let batch = match records.next_batch(REPLAY_BATCH).await {
                    Ok(batch) if batch.is_empty() => break,
                    Ok(batch) => batch,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot read the usage spool");
                        return;
                    }
                };
                total += batch.len();
                let failed = self.publish_all(batch).await;
                if !failed.is_empty() {
                    // Keep the segment; everything in it is replayed again later
                    // (the acknowledged ones are deduped by their event id).
                    tracing::warn!(
                        failed = failed.len(),
                        total,
                        "usage replay interrupted; will retry"
                    );
                    return;
                }
            }
            if let Err(e) = self.spool.remove(&path) {
                tracing::error!(error = %e, "cannot remove a replayed spool segment");
                return;
            }
            self.stats.spool_bytes.store(self.spool.bytes, Ordering::Relaxed);
            tracing::info!(events = total, "replayed spooled usage events");
        }
    }
}

/// CloudEvents NATS binding headers, plus JetStream's dedupe id.
fn headers(event: &UsageEvent) -> HeaderMap {
    ce::Event {
        id: &event.event_id,
        source: "keyway/gateway",
        kind: ce::USAGE_TYPE,
        subject: &event.tenant_id,
        time: &rfc3339_millis(event.occurred_at_unix_ms),
    }
    .headers()
}

fn rfc3339_millis(unix_ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
