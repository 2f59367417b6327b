//! The durable pull consumer: fetch a batch, write it in one transaction,
//! commit, then ack. Acking only after the commit means a crash at any point
//! leads to redelivery, never loss; the ledger's primary key turns every
//! redelivery (or a second instance on the same consumer) into a no-op.

use std::time::Duration;

use async_nats::jetstream::{
    self,
    consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull},
};
use futures::StreamExt;
use keyway_common::retry::{self, Backoff, pause};
use sqlx::PgPool;
use tokio::{
    sync::{mpsc, oneshot, watch},
    time::Instant,
};
use tokio_util::sync::CancellationToken;

use crate::{ProjectorSettings, held::Held, ledger, retention};

/// How long JetStream waits for an ack before redelivering. Long enough for
/// a slow commit, short enough that a crashed instance's events move on soon.
const ACK_WAIT: Duration = Duration::from_secs(30);
/// How many delivered-but-unacked events the consumer allows in total, across
/// instances: a few batches each in flight, bounded memory.
const MAX_ACK_PENDING: i64 = 20_000;
/// The most bytes one pull asks for: a `UsageBatch` message may carry
/// hundreds of events, so a pull is bounded by bytes as well as messages.
const PULL_MAX_BYTES: usize = 8 * 1024 * 1024;

/// Runs the projector until `shutdown`: the consumer loop, the follower of
/// tenant deletions and, when `retention_days` is set, retention pruning
/// (once at start, then hourly).
/// Errors are logged and retried; this only returns on shutdown. Cancelling
/// lets the batch in flight finish and ack first.
pub async fn run(
    pool: PgPool,
    nats: async_nats::Client,
    settings: ProjectorSettings,
    shutdown: CancellationToken,
) {
    let pruning = async {
        if let Some(days) = settings.retention_days {
            retention::run_hourly(&pool, days, &shutdown).await;
        }
    };
    futures::join!(
        consume(&pool, nats.clone(), &settings, &shutdown),
        pruning,
        crate::tenant_deletions::follow(&pool, nats, &settings, &shutdown)
    );
}

/// Waits for the stream (the stack creates it) and binds the durable consumer.
async fn bind(
    nats: &async_nats::Client,
    settings: &ProjectorSettings,
    shutdown: &CancellationToken,
) -> Option<PullConsumer> {
    let js = jetstream::new(nats.clone());
    let js = &js;
    let bind_once = || async move {
        let stream = js
            .get_stream(settings.stream_name())
            .await
            .map_err(|e| e.to_string())?;
        stream
            .get_or_create_consumer(
                &settings.consumer_name(),
                pull::Config {
                    durable_name: Some(settings.consumer_name()),
                    filter_subject: settings.filter_subject(),
                    ack_policy: AckPolicy::Explicit,
                    deliver_policy: DeliverPolicy::All,
                    ack_wait: ACK_WAIT,
                    max_ack_pending: MAX_ACK_PENDING,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| e.to_string())
    };
    retry::until_ok(
        shutdown,
        Backoff::new(Duration::from_millis(100), Duration::from_secs(5)),
        bind_once,
        |e| tracing::warn!(error = %e, stream = %settings.stream_name(), "usage stream not ready; retrying"),
    )
    .await
}

/// The collector pulls and batches; `settings.writers` writers write and
/// ack. They run side by side so the database never waits for the next batch
/// to be gathered, decoded or acked. A writer asks for work when it is idle;
/// a batch is handed over when it is full, or when the linger has passed and
/// no write is in flight. So a lone event under light load waits only
/// `settings.linger`, under moderate load batches grow while one write is in flight
/// (as with a single writer: fewer, larger transactions cost the database
/// less per event), and only a backlog, which fills batches, keeps several
/// writers busy.
async fn consume(
    pool: &PgPool,
    nats: async_nats::Client,
    settings: &ProjectorSettings,
    shutdown: &CancellationToken,
) {
    let (ask, asks) = mpsc::channel::<oneshot::Sender<Held>>(1);
    let (busy, writing) = watch::channel(0usize);
    let consumer_name = settings.consumer_name();
    let writer = || async {
        loop {
            let (give, take) = oneshot::channel();
            if ask.send(give).await.is_err() {
                return;
            }
            // The collector dropped the request: it is shutting down.
            let Ok(held) = take.await else { return };
            busy.send_modify(|n| *n += 1);
            let written = project(pool, &consumer_name, &held, shutdown).await;
            busy.send_modify(|n| *n -= 1);
            if !written {
                return;
            }
        }
    };
    let writers = futures::future::join_all((0..settings.writers.max(1)).map(|_| writer()));
    futures::join!(collect(nats, settings, shutdown, asks, writing), writers);
}

async fn collect(
    nats: async_nats::Client,
    settings: &ProjectorSettings,
    shutdown: &CancellationToken,
    mut asks: mpsc::Receiver<oneshot::Sender<Held>>,
    mut writing: watch::Receiver<usize>,
) {
    let batch_size = settings.batch_size.max(1);
    let mut idle_writer: Option<oneshot::Sender<Held>> = None;
    'bind: loop {
        let Some(consumer) = bind(&nats, settings, shutdown).await else {
            return;
        };
        let messages = consumer
            .stream()
            .max_messages_per_batch(batch_size.saturating_mul(2).min(MAX_ACK_PENDING as usize))
            .max_bytes_per_batch(PULL_MAX_BYTES)
            .heartbeat(Duration::from_secs(5))
            .expires(Duration::from_secs(30))
            .messages()
            .await;
        let mut messages = match messages {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "cannot pull usage events; retrying");
                if !pause(shutdown, Duration::from_secs(1)).await {
                    return;
                }
                continue 'bind;
            }
        };
        tracing::info!(consumer = %settings.consumer_name(), "projector consuming usage events");
        let mut held = Held::default();
        let mut deadline = Instant::now();
        let mut broken = false;
        loop {
            let lingered = !held.is_empty() && Instant::now() >= deadline;
            let in_flight = *writing.borrow_and_update();
            if (held.len() >= batch_size || (lingered && in_flight == 0) || broken)
                && !held.is_empty()
                && let Some(writer) = idle_writer.take()
            {
                let batch = std::mem::take(&mut held);
                if writer.send(batch).is_err() {
                    return;
                }
                continue;
            }
            if broken && held.is_empty() {
                if !pause(shutdown, Duration::from_millis(500)).await {
                    return;
                }
                continue 'bind;
            }
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return,
                asked = asks.recv(), if idle_writer.is_none() => match asked {
                    Some(writer) => idle_writer = Some(writer),
                    None => return,
                },
                next = messages.next(), if held.len() < batch_size && !broken => match next {
                    Some(Ok(m)) => {
                        if held.is_empty() {
                            deadline = Instant::now() + settings.linger;
                        }
                        held.push(m);
                    }
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "usage event pull failed; reconnecting");
                        broken = true;
                    }
                    None => broken = true,
                },
                _ = tokio::time::sleep_until(deadline), if !held.is_empty() && Instant::now() < deadline => {}
                _ = writing.changed(), if lingered && in_flight > 0 => {}
            }
        }
    }
}

/// Writes and acks one batch. Returns `false` when shutdown came before the
/// write succeeded: the batch stays unacked and is redelivered.
async fn project(pool: &PgPool, consumer: &str, held: &Held, shutdown: &CancellationToken) -> bool {
    let batch = &held.batch;
    let write = || async move {
        match ledger::write_batch(pool, consumer, batch).await {
            Err(e) if ledger::is_data_error(&e) => {
                tracing::warn!(error = %e, events = held.len(), "usage batch refused; writing its events one by one");
                ledger::write_isolated(pool, consumer, batch).await
            }
            other => other,
        }
    };
    let written = retry::until_ok(
        shutdown,
        Backoff::new(Duration::from_millis(100), Duration::from_secs(5)),
        write,
        |e| tracing::warn!(error = %e, events = held.len(), "cannot write usage batch; retrying"),
    )
    .await;
    let Some(inserted) = written else {
        return false;
    };
    tracing::debug!(
        messages = held.messages.len(),
        events = held.len(),
        inserted,
        dead = batch.dead.len(),
        "usage batch committed"
    );
    for message in &held.messages {
        // A lost ack only means a redelivery, which the ledger absorbs.
        if let Err(e) = message.ack().await {
            tracing::warn!(error = %e, "cannot ack a usage event; it will be redelivered");
        }
    }
    true
}
