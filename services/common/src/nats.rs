//! NATS and JetStream: connect without blocking startup on NATS, and create
//! the streams idempotently. Every name comes from `KEYWAY_NATS_PREFIX`, so
//! stacks sharing one NATS server never see each other's events.

use std::time::Duration;

use async_nats::{
    Client, ConnectOptions,
    connection::State,
    jetstream::{self, stream},
};

use keyway_proto::subjects;

use crate::{
    config::Config,
    retry::{self, Backoff},
};

/// The kinds of event stream Keyway owns: `<prefix>.<kind>.v1.<tenant>`.
pub const STREAM_KINDS: [&str; 2] = [subjects::USAGE, subjects::KEYS];

#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    #[error("cannot connect to NATS: {0}")]
    Connect(String),
    #[error("cannot create JetStream stream {name}: {reason}")]
    Stream { name: String, reason: String },
}

/// Connects in the background: when NATS is down at start the client keeps
/// retrying, so the process still serves and reports NATS as not connected.
/// Given a cluster's servers, the client learns the rest of the cluster
/// from them and reconnects to a live node when its node dies.
pub async fn connect(config: &Config, name: &str) -> Result<Client, NatsError> {
    let nats = &config.nats;
    let mut options = ConnectOptions::new()
        .name(name)
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(2));
    if let Some(path) = &nats.creds_file {
        options = options
            .credentials_file(path)
            .await
            .map_err(|e| NatsError::Connect(format!("KEYWAY_NATS_CREDS={}: {e}", path.display())))?;
    }
    if let Some(seed) = &nats.nkey_seed {
        options = options.nkey(seed.clone());
    }
    if let Some(ca) = &nats.tls_ca {
        options = options.add_root_certificates(ca.clone()).require_tls(true);
    }
    options
        .connect(nats.servers.as_slice())
        .await
        .map_err(|e| NatsError::Connect(e.to_string()))
}

pub fn is_connected(client: &Client) -> bool {
    client.connection_state() == State::Connected
}

/// Creates (or keeps) every Keyway stream. Idempotent; safe to run from
/// several processes at once.
pub async fn ensure_streams(client: &Client, config: &Config) -> Result<(), NatsError> {
    let js = jetstream::new(client.clone());
    for kind in STREAM_KINDS {
        let name = config.stream_name(kind);
        let wanted = stream::Config {
            name: name.clone(),
            subjects: vec![subjects::all(&config.nats_prefix, kind)],
            storage: stream::StorageType::File,
            // Dedupe on Nats-Msg-Id for retried publishes; the ledger's
            // primary key is the permanent guard beyond this window.
            duplicate_window: Duration::from_secs(120),
            max_age: Duration::from_secs(30 * 24 * 3600),
            num_replicas: config.nats.replicas,
            ..Default::default()
        };
        let stream = js
            .get_or_create_stream(wanted)
            .await
            .map_err(|e| NatsError::Stream {
                name: name.clone(),
                reason: e.to_string(),
            })?;
        warn_on_other_replicas(
            &name,
            stream.cached_info().config.num_replicas,
            config.nats.replicas,
        );
    }
    Ok(())
}

/// An existing stream keeps its replicas: changing them is an operator's
/// decision (`nats stream edit`), never a silent recreate that could lose
/// events. A difference is reported at start.
pub fn warn_on_other_replicas(name: &str, actual: usize, wanted: usize) {
    if actual != wanted {
        tracing::warn!(
            stream = name,
            actual,
            wanted,
            "the stream exists with another replica count than KEYWAY_NATS_REPLICAS; it is left as it is"
        );
    }
}

/// Retries `ensure_streams` until NATS accepts, so a stack started while NATS
/// is down becomes fully ready when it returns. Returns `true` once done.
pub async fn ensure_streams_until_ready(
    client: &Client,
    config: &Config,
    shutdown: &tokio_util::sync::CancellationToken,
) -> bool {
    retry::until_ok(
        shutdown,
        Backoff::new(Duration::from_millis(200), Duration::from_secs(5)),
        || ensure_streams(client, config),
        |e| tracing::warn!(error = %e, "JetStream not ready; retrying"),
    )
    .await
    .is_some()
}

/// Passed to `follow_key_changes` callbacks to mean "every tenant".
pub const ALL_TENANTS: &str = "*";

/// Calls `on_tenant` with the tenant of every key-change event
/// (`<prefix>.keys.v1.<tenant>`) until shutdown. It is a core subscription,
/// so events sent while this process was disconnected are missed: on every
/// reconnect it calls `on_tenant(ALL_TENANTS)` so caches start afresh.
pub async fn follow_key_changes(
    client: Client,
    prefix: String,
    shutdown: tokio_util::sync::CancellationToken,
    on_tenant: impl Fn(&str) + Send + 'static,
) {
    use futures::StreamExt;
    let subject = subjects::all(&prefix, subjects::KEYS);
    let subscribed = retry::until_ok(
        &shutdown,
        Backoff::constant(Duration::from_secs(1)),
        || client.subscribe(subject.clone()),
        |e| tracing::warn!(error = %e, "cannot subscribe to key changes; retrying"),
    )
    .await;
    let Some(mut subscription) = subscribed else {
        return;
    };
    let mut check = tokio::time::interval(Duration::from_millis(250));
    let mut was_connected = is_connected(&client);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = check.tick() => {
                let connected = is_connected(&client);
                if connected && !was_connected {
                    on_tenant(ALL_TENANTS);
                }
                was_connected = connected;
            }
            message = subscription.next() => match message {
                Some(m) => {
                    if let Some(tenant) = m.subject.as_str().rsplit('.').next() {
                        on_tenant(tenant);
                    }
                }
                None => return,
            },
        }
    }
}
