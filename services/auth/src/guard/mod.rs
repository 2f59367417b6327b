//! Brute-force protection. After `KEYWAY_AUTH_FAILURE_LIMIT` failed
//! authentications from one client within `KEYWAY_AUTH_FAILURE_WINDOW_MS`
//! (default 5 per 15 minutes), every request of that client is refused with
//! 429 and `Retry-After` until a window has passed since the last failure.
//! API keys, OIDC tokens and the admin key count alike: an `Invalid`
//! answer counts. A request without any credential does not: it guesses
//! nothing, and counting it would let a misconfigured client (or a browser
//! behind the same NAT) lock everyone at that address out. A credential
//! store that is down (`Unavailable`) is not the client's fault either.
//! A success resets nothing, so a valid key does not wipe an attacker's
//! count at a shared address.
//!
//! The counts live in NATS KV (`<PREFIX>_AUTH_FAILURES`), so N gateways
//! still allow N failures in total, not N each. Only failures touch it: a
//! client's block is remembered locally once seen, so successes and blocked
//! clients cost no round trip. When NATS KV cannot be reached, each process
//! counts on its own (logged): the limit still holds per process.
//!
//! The HTTP front puts the guard and the request's [`ClientIp`] into every
//! request's extensions; `authenticate_request` consults them.

mod client_ip;
mod local;
mod record;
mod settings;

use std::{
    net::IpAddr,
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use keyway_common::kv::{KvBucket, KvError, Update};

pub use client_ip::{ClientIp, TrustedProxies};
pub use settings::GuardSettings;

use crate::{AuthError, Authenticator, Caller, Rejection};
use local::Local;
use record::{IpKey, Record, Verdict, retry_after_secs};

/// How long a failure waits for NATS KV before it is counted locally.
pub const KV_TIMEOUT: Duration = Duration::from_millis(500);

pub struct AuthGuard {
    settings: GuardSettings,
    /// `KEYWAY_AUTH=off` (dev only): every request is the platform admin.
    auth_off: bool,
    shared: Option<KvBucket>,
    local: Local,
    /// Unix seconds of the last "NATS KV unreachable" warning.
    last_warned: AtomicU64,
}

impl AuthGuard {
    /// Counts failures in `shared` (see [`AuthGuard::bucket`]), or only
    /// locally without it.
    pub fn new(settings: GuardSettings, shared: Option<KvBucket>) -> Self {
        Self {
            settings,
            auth_off: false,
            shared,
            local: Local::default(),
            last_warned: AtomicU64::new(0),
        }
    }

    /// Authentication turned off: every request acts as the platform admin,
    /// whatever it presents. Production refuses this configuration.
    pub fn auth_off() -> Self {
        Self {
            auth_off: true,
            ..Self::new(GuardSettings::default(), None)
        }
    }

    pub fn is_auth_off(&self) -> bool {
        self.auth_off
    }

    /// The shared bucket for `settings`, named `<bucket_prefix>_FAILURES`.
    /// An entry is useless a window after its last write, so it lives that
    /// long, plus a minute for clock skew between gateways.
    pub fn bucket(client: async_nats::Client, bucket_prefix: &str, settings: &GuardSettings) -> KvBucket {
        let max_age = settings.window + Duration::from_secs(60);
        KvBucket::new(client, format!("{bucket_prefix}_FAILURES"), max_age, KV_TIMEOUT)
    }

    /// The client address of a request that came from `peer`.
    pub fn client_ip(&self, peer: IpAddr, headers: &http::HeaderMap) -> IpAddr {
        self.settings.trusted_proxies.client_ip(peer, headers)
    }

    pub(crate) async fn authenticate<A>(
        &self,
        parts: &http::request::Parts,
        authenticator: &A,
    ) -> Result<Caller, Rejection>
    where
        A: Authenticator + ?Sized,
    {
        if self.auth_off {
            return Ok(Caller::platform_admin());
        }
        let client = parts.extensions.get::<ClientIp>().map(|c| c.0);
        if let Some(ip) = client
            && let Some(until) = self.local.blocked_until(IpKey::of(ip), now_ms())
        {
            return Err(too_many(until));
        }
        match crate::authenticate_headers(&parts.headers, authenticator).await {
            Err(AuthError::Invalid) => Err(match client {
                Some(ip) => self.failed(ip).await.map_or(AuthError::Invalid.into(), too_many),
                None => AuthError::Invalid.into(),
            }),
            outcome => outcome.map_err(Rejection::Credential),
        }
    }

    /// Counts a failure of `ip`; `Some(until)` when it was blocked already
    /// (by this process or another), so this request is refused as such.
    async fn failed(&self, ip: IpAddr) -> Option<u64> {
        let (key, now) = (IpKey::of(ip), now_ms());
        let limit = self.settings.failure_limit;
        let window = self.settings.window.as_millis() as u64;
        let verdict = match &self.shared {
            Some(bucket) => bucket
                .update(&key.kv_key(), |value| {
                    let mut record = Record::decode(value);
                    match record.fail(now, limit, window) {
                        verdict @ Verdict::AlreadyBlocked(_) => Update::Keep(verdict),
                        verdict => Update::Write(record.encode(), verdict),
                    }
                })
                .await
                .unwrap_or_else(|e| {
                    self.warn_unreachable(&e);
                    self.local.fail(key, now, limit, window)
                }),
            None => self.local.fail(key, now, limit, window),
        };
        match verdict {
            Verdict::Counted => None,
            Verdict::NowBlocked(until) => {
                tracing::warn!(
                    client = %ip,
                    failures = limit,
                    retry_after_secs = retry_after_secs(until, now),
                    "too many failed authentications; refusing the client until the window passes"
                );
                self.local.block(key, until, now);
                None
            }
            Verdict::AlreadyBlocked(until) => {
                self.local.block(key, until, now);
                Some(until)
            }
        }
    }

    /// Once per 10 s at most, so an outage does not log once per failure.
    fn warn_unreachable(&self, error: &KvError) {
        let now = now_ms() / 1000;
        let last = self.last_warned.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= 10
            && self
                .last_warned
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                error = %error,
                "failed-authentication counters unreachable; counting in this process only"
            );
        }
    }
}

fn too_many(until: u64) -> Rejection {
    Rejection::TooManyFailures {
        retry_after_secs: retry_after_secs(until, now_ms()),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests;
