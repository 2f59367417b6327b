//! Publishes usage events to JetStream without ever blocking a response:
//! `record` only queues, into a bounded queue (`KEYWAY_USAGE_QUEUE_CAPACITY`);
//! when it is full, the event goes to the spool instead, written off the
//! request path. One task gathers queued events into JetStream messages
//! (batched per tenant, see `wire`) and publishes them; when NATS is down or
//! slow, events go to the fsync'd spool and are replayed when it returns —
//! also after a restart.

use std::{
    path::Path,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use async_nats::jetstream;
use keyway_proto::v1::UsageEvent;
use prost::Message;
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio_util::sync::CancellationToken;

pub use super::stats::UsageStats;
use super::{
    UsageSink,
    settings::PublisherSettings,
    spooler::Spooler,
    wire::{self, Record},
};

const ACK_TIMEOUT: Duration = Duration::from_secs(5);
/// The most events one round of the publishing task takes from the queue.
const ROUND_MAX: usize = 4_096;
/// Spooled records read (and published) at a time during replay.
const REPLAY_BATCH: usize = 1024;

pub struct UsagePublisher {
    queue: mpsc::Sender<UsageEvent>,
    spooler: Spooler,
    pub stats: Arc<UsageStats>,
}

impl UsageSink for UsagePublisher {
    fn record(&self, event: UsageEvent) {
        match self.queue.try_send(event) {
            Ok(()) => {}
            Err(TrySendError::Full(event)) => self.spooler.overflow(event.encode_to_vec()),
            Err(TrySendError::Closed(event)) => {
                // After shutdown (a late stream ending): the spool keeps it
                // for the next start.
                tracing::warn!("usage publisher stopped; spooling the event");
                self.spooler.overflow(event.encode_to_vec());
            }
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
        settings: PublisherSettings,
        shutdown: CancellationToken,
    ) -> std::io::Result<(Arc<Self>, impl std::future::Future<Output = ()> + Send + 'static)> {
        let stats = Arc::new(UsageStats::default());
        let spooler = Spooler::open(spool_dir, max_spool_bytes, stats.clone())?;
        let (queue, rx) = mpsc::channel(settings.queue_capacity.max(1));
        let worker = Worker {
            js: jetstream::new(nats.clone()),
            nats,
            prefix,
            spooler: spooler.clone(),
            stats: stats.clone(),
            settings,
        };
        let publisher = Self {
            queue,
            spooler,
            stats,
        };
        Ok((Arc::new(publisher), worker.run(rx, shutdown)))
    }
}

struct Worker {
    nats: async_nats::Client,
    js: jetstream::Context,
    prefix: String,
    spooler: Spooler,
    stats: Arc<UsageStats>,
    settings: PublisherSettings,
}

impl Worker {
    async fn run(self, mut rx: mpsc::Receiver<UsageEvent>, shutdown: CancellationToken) {
        let mut replay = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                biased;
                received = rx.recv() => {
                    let Some(first) = received else { return };
                    let round = self.gather(first, &mut rx).await;
                    self.deliver(round).await;
                }
                _ = replay.tick() => self.replay().await,
                _ = shutdown.cancelled() => {
                    rx.close();
                    let mut rest = Vec::new();
                    while let Ok(e) = rx.try_recv() {
                        rest.push(e.encode_to_vec());
                    }
                    // Shutting down: keep order simple and durable.
                    self.spooler.append(rest).await;
                    return;
                }
            }
        }
    }

    /// One round: what is queued, up to `ROUND_MAX`. Unless a batch's worth
    /// is queued already, the round first sleeps out the linger after the
    /// first event. Sleeping, rather than waiting on the queue until the
    /// deadline, keeps the events that arrive meanwhile from waking this task
    /// one by one (each wake a poll and a new timer) on the workers that
    /// serve requests.
    async fn gather(&self, first: UsageEvent, rx: &mut mpsc::Receiver<UsageEvent>) -> Vec<Record> {
        let batch_max = self.settings.batch_max;
        if batch_max > 1 && rx.len() + 1 < batch_max {
            tokio::time::sleep(self.settings.batch_linger).await;
        }
        let mut round = vec![Record::of(&first)];
        while round.len() < ROUND_MAX {
            match rx.try_recv() {
                Ok(e) => round.push(Record::of(&e)),
                Err(_) => break,
            }
        }
        round
    }

    fn connected(&self) -> bool {
        self.nats.connection_state() == async_nats::connection::State::Connected
    }

    /// Publishes a round (pipelined acks); whatever NATS does not take goes
    /// to the spool. While the spool holds a backlog, new events join it, so
    /// replay keeps their order.
    async fn deliver(&self, round: Vec<Record>) {
        if !self.spooler.is_empty() || !self.connected() {
            self.spooler
                .append(round.into_iter().map(|r| r.bytes).collect())
                .await;
            return;
        }
        let failed = self.publish_all(round).await;
        self.spooler
            .append(failed.into_iter().map(|r| r.bytes).collect())
            .await;
    }

    /// Returns the records whose message was not acknowledged.
    async fn publish_all(&self, records: Vec<Record>) -> Vec<Record> {
        let outgoing = wire::messages(&self.prefix, records, self.settings.batch_max);
        let mut pending = Vec::with_capacity(outgoing.len());
        let mut failed = Vec::new();
        for message in outgoing {
            match self
                .js
                .publish_with_headers(message.subject, message.headers, message.payload.into())
                .await
            {
                Ok(ack) => pending.push((message.records, ack)),
                Err(_) => failed.extend(message.records),
            }
        }
        for (records, ack) in pending {
            match tokio::time::timeout(ACK_TIMEOUT, ack).await {
                Ok(Ok(_)) => {
                    self.stats.messages.fetch_add(1, Ordering::Relaxed);
                    self.stats
                        .published
                        .fetch_add(records.len() as u64, Ordering::Relaxed);
                }
                _ => failed.extend(records),
            }
        }
        failed
    }

    /// Replays the oldest spool segment when NATS is reachable, batched like
    /// live events (each event keeps its id, so the ledger dedupes).
    async fn replay(&self) {
        while !self.spooler.is_empty() && self.connected() {
            let (path, mut records) = match self.spooler.oldest().await {
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
                let read = batch.len();
                let batch: Vec<Record> = batch.into_iter().filter_map(Record::decode).collect();
                if batch.len() < read {
                    tracing::error!(
                        skipped = read - batch.len(),
                        "spool records that are not usage events were skipped"
                    );
                }
                let failed = self.publish_all(batch).await;
                if !failed.is_empty() {
                    // Keep the segment; everything in it is replayed again
                    // later (the acknowledged ones are deduped by event id).
                    tracing::warn!(
                        failed = failed.len(),
                        total,
                        "usage replay interrupted; will retry"
                    );
                    return;
                }
            }
            if let Err(e) = self.spooler.remove(path).await {
                tracing::error!(error = %e, "cannot remove a replayed spool segment");
                return;
            }
            tracing::info!(events = total, "replayed spooled usage events");
        }
    }
}
