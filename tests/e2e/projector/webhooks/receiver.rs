//! A real webhook receiver on port 0, written from the documented contract
//! only: it checks the headers, verifies every `Keyway-Signature` with its
//! own HMAC over `"<t>.<body>"` (refusing with 401 what does not verify or
//! is older than 5 minutes), and records the CloudEvent ids it accepted. A
//! script of replies makes it fail on purpose.

use std::{
    collections::{BTreeSet, VecDeque},
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{body::Bytes, extract::State, http::HeaderMap, http::StatusCode, routing::post};
use keyway_keys::crypto::hmac_sha256;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// What the receiver does with the next request instead of accepting it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Reply {
    Status(u16),
    /// Answers only after this long: longer than the sender's timeout.
    Hang(Duration),
}

/// One accepted delivery.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub(crate) webhook_id: String,
    pub(crate) delivery_id: String,
    pub(crate) signature: String,
    pub(crate) body: Bytes,
    pub(crate) ids: Vec<String>,
}

#[derive(Default)]
struct Inner {
    secret: Mutex<String>,
    script: Mutex<VecDeque<Reply>>,
    failing: Mutex<Option<u16>>,
    accepted: Mutex<Vec<Delivery>>,
    problems: Mutex<Vec<String>>,
    attempts: AtomicUsize,
    refused: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

pub(crate) struct Receiver {
    pub(crate) url: String,
    inner: Arc<Inner>,
    stop: CancellationToken,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Receiver {
    pub(crate) async fn start() -> Self {
        Self::on(TcpListener::bind("127.0.0.1:0").await.unwrap())
    }

    /// A receiver on an address that refused connections until now.
    pub(crate) async fn start_at(addr: SocketAddr) -> Self {
        Self::on(TcpListener::bind(addr).await.unwrap())
    }

    fn on(listener: TcpListener) -> Self {
        let url = format!("http://{}/hooks/usage", listener.local_addr().unwrap());
        let inner = Arc::new(Inner::default());
        let stop = CancellationToken::new();
        let app = axum::Router::new()
            .route("/hooks/usage", post(receive))
            .with_state(inner.clone());
        tokio::spawn(
            axum::serve(listener, app)
                .with_graceful_shutdown(stop.clone().cancelled_owned())
                .into_future(),
        );
        Self { url, inner, stop }
    }

    pub(crate) fn set_secret(&self, secret: &str) {
        *self.inner.secret.lock().unwrap() = secret.to_owned();
    }

    pub(crate) fn script(&self, replies: &[Reply]) {
        self.inner.script.lock().unwrap().extend(replies);
    }

    /// Answers every request with `status` until called with `None`.
    pub(crate) fn fail_with(&self, status: Option<u16>) {
        *self.inner.failing.lock().unwrap() = status;
    }

    /// Every event id accepted so far.
    pub(crate) fn ids(&self) -> BTreeSet<String> {
        self.deliveries().into_iter().flat_map(|d| d.ids).collect()
    }

    pub(crate) fn deliveries(&self) -> Vec<Delivery> {
        self.inner.accepted.lock().unwrap().clone()
    }

    /// Header problems seen on requests with a valid signature.
    pub(crate) fn problems(&self) -> Vec<String> {
        self.inner.problems.lock().unwrap().clone()
    }

    pub(crate) fn attempts(&self) -> usize {
        self.inner.attempts.load(Ordering::SeqCst)
    }

    /// Requests refused because the signature did not verify.
    pub(crate) fn refused(&self) -> usize {
        self.inner.refused.load(Ordering::SeqCst)
    }

    /// The most requests this receiver ever had in flight at once.
    pub(crate) fn max_in_flight(&self) -> usize {
        self.inner.max_in_flight.load(Ordering::SeqCst)
    }
}

/// Counts a request in flight for as long as it lives.
struct InFlight(Arc<Inner>);

impl InFlight {
    fn enter(inner: &Arc<Inner>) -> Self {
        let now = inner.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        inner.max_in_flight.fetch_max(now, Ordering::SeqCst);
        Self(inner.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn receive(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let _in_flight = InFlight::enter(&inner);
    inner.attempts.fetch_add(1, Ordering::SeqCst);
    let scripted = inner.script.lock().unwrap().pop_front();
    let failing = *inner.failing.lock().unwrap();
    match (scripted, failing) {
        (Some(Reply::Status(status)), _) | (None, Some(status)) => {
            return StatusCode::from_u16(status).unwrap();
        }
        (Some(Reply::Hang(delay)), _) => {
            tokio::time::sleep(delay).await;
            return StatusCode::OK;
        }
        (None, None) => {}
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let signature = header("keyway-signature");
    let secret = inner.secret.lock().unwrap().clone();
    if !verify(&secret, &signature, &body, now()) {
        inner.refused.fetch_add(1, Ordering::SeqCst);
        return StatusCode::UNAUTHORIZED;
    }
    let mut problems = Vec::new();
    if header("content-type") != "application/cloudevents-batch+json" {
        problems.push(format!("content-type {:?}", header("content-type")));
    }
    if !header("user-agent").starts_with("keyway-webhooks/") {
        problems.push(format!("user-agent {:?}", header("user-agent")));
    }
    let events: Vec<Value> = serde_json::from_slice(&body).unwrap_or_default();
    if events.is_empty() || events.iter().any(|e| e["specversion"] != "1.0") {
        problems.push(format!(
            "not a CloudEvents batch: {}",
            String::from_utf8_lossy(&body)
        ));
    }
    // Keeps the request open a little, so overlapping deliveries of one
    // webhook would show up in `max_in_flight`.
    tokio::time::sleep(Duration::from_millis(20)).await;
    inner.problems.lock().unwrap().extend(problems);
    inner.accepted.lock().unwrap().push(Delivery {
        webhook_id: header("keyway-webhook-id"),
        delivery_id: header("keyway-delivery-id"),
        signature,
        ids: events
            .iter()
            .map(|e| e["id"].as_str().unwrap_or_default().to_owned())
            .collect(),
        body,
    });
    // Any 2xx counts as accepted.
    StatusCode::NO_CONTENT
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The documented check: `t` within 5 minutes, and some `v1` equal to the
/// hex HMAC-SHA256 of `"<t>.<body>"` keyed with the whole secret.
pub(crate) fn verify(secret: &str, header: &str, body: &[u8], now: i64) -> bool {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", mac)) => signatures.push(mac.to_owned()),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else {
        return false;
    };
    if (now - timestamp).abs() > 300 {
        return false;
    }
    let mut message = format!("{timestamp}.").into_bytes();
    message.extend_from_slice(body);
    let expected: String = hmac_sha256(secret.as_bytes(), &message)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    signatures.contains(&expected)
}
