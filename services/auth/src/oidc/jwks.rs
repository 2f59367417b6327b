//! One issuer's signing keys, cached. Discovery and the key fetch go through
//! `openidconnect`. The cache refreshes on a timer, and on an unknown `kid`
//! at most once per cooldown; when the IdP is down it keeps serving the keys
//! it has, and with no keys at all verification fails closed (503).

use std::{
    sync::{Arc, RwLock, Weak},
    time::{Duration, Instant},
};

use openidconnect::{
    IssuerUrl, JsonWebKey, JwsSigningAlgorithm,
    core::{CoreJsonWebKey, CoreJwsSigningAlgorithm, CoreProviderMetadata},
    reqwest,
};

use super::TokenError;

pub(crate) struct IssuerKeys {
    issuer: String,
    http: reqwest::Client,
    keys: RwLock<Arc<Vec<CoreJsonWebKey>>>,
    /// When the last fetch was attempted; held across the fetch, so
    /// concurrent misses wait for one fetch instead of each making one.
    last_attempt: tokio::sync::Mutex<Option<Instant>>,
    kid_cooldown: Duration,
}

impl IssuerKeys {
    /// Starts with no keys and fetches them in the background right away
    /// and then every `refresh`, so start-up never waits on the IdP.
    pub(crate) fn start(
        issuer: &str,
        http: reqwest::Client,
        refresh: Duration,
        kid_cooldown: Duration,
    ) -> Arc<Self> {
        let keys = Arc::new(Self {
            issuer: issuer.to_owned(),
            http,
            keys: RwLock::new(Arc::new(Vec::new())),
            last_attempt: tokio::sync::Mutex::new(None),
            kid_cooldown,
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(refresh_every(Arc::downgrade(&keys), refresh));
        }
        keys
    }

    /// The keys that may have signed a token with this `kid` and `alg`: the
    /// key with that id, or without a `kid` every key of the right type.
    pub(crate) async fn candidates(
        &self,
        kid: Option<&str>,
        alg: &CoreJwsSigningAlgorithm,
    ) -> Result<Vec<CoreJsonWebKey>, TokenError> {
        let found = matching(&self.current(), kid, alg);
        if !found.is_empty() {
            return Ok(found);
        }
        self.refresh_after_cooldown().await;
        let keys = self.current();
        if keys.is_empty() {
            return Err(TokenError::NoKeys);
        }
        let found = matching(&keys, kid, alg);
        if found.is_empty() {
            Err(TokenError::UnknownKey)
        } else {
            Ok(found)
        }
    }

    fn current(&self) -> Arc<Vec<CoreJsonWebKey>> {
        match self.keys.read() {
            Ok(keys) => keys.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    async fn refresh_after_cooldown(&self) {
        let mut last = self.last_attempt.lock().await;
        if last.is_some_and(|at| at.elapsed() < self.kid_cooldown) {
            return;
        }
        *last = Some(Instant::now());
        self.fetch().await;
    }

    async fn refresh_now(&self) {
        let mut last = self.last_attempt.lock().await;
        *last = Some(Instant::now());
        self.fetch().await;
    }

    /// Discovery, then the JWKS it names. A failure keeps the old keys: an
    /// IdP outage must not log everyone out.
    async fn fetch(&self) {
        let fetched = match IssuerUrl::new(self.issuer.clone()) {
            Ok(issuer) => CoreProviderMetadata::discover_async(issuer, &self.http)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match fetched {
            Ok(metadata) => {
                let keys: Vec<CoreJsonWebKey> = metadata.jwks().keys().clone();
                tracing::info!(issuer = %self.issuer, keys = keys.len(), "fetched the issuer's signing keys");
                match self.keys.write() {
                    Ok(mut slot) => *slot = Arc::new(keys),
                    Err(poisoned) => *poisoned.into_inner() = Arc::new(keys),
                }
            }
            Err(error) => {
                tracing::warn!(issuer = %self.issuer, %error, "could not fetch the issuer's signing keys; keeping the cached ones");
            }
        }
    }
}

async fn refresh_every(keys: Weak<IssuerKeys>, every: Duration) {
    loop {
        match keys.upgrade() {
            Some(keys) => keys.refresh_now().await,
            None => return,
        }
        tokio::time::sleep(every).await;
    }
}

fn matching(
    keys: &[CoreJsonWebKey],
    kid: Option<&str>,
    alg: &CoreJwsSigningAlgorithm,
) -> Vec<CoreJsonWebKey> {
    keys.iter()
        .filter(|key| match kid {
            Some(kid) => key.key_id().is_some_and(|id| id.as_str() == kid),
            None => true,
        })
        .filter(|key| Some(key.key_type()) == alg.key_type().as_ref())
        .cloned()
        .collect()
}
