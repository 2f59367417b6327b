//! A caching wrapper around the authenticator: a verified key is remembered
//! (by a SHA-256 of it, never the key itself) for a short TTL, and forgotten
//! as soon as a key-change event for its tenant arrives. Failures are not
//! cached, so a newly created key works at once.

use std::sync::Arc;

use keyway_auth::{AuthError, Authenticator, Caller};
use sha2::{Digest, Sha256};

use crate::cache::TenantCache;

pub(crate) struct CachedAuthenticator {
    pub(crate) inner: Arc<dyn Authenticator>,
    pub(crate) cache: TenantCache<[u8; 32], Caller>,
}

#[async_trait::async_trait]
impl Authenticator for CachedAuthenticator {
    async fn authenticate(&self, presented: &str) -> Result<Caller, AuthError> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        if let Some(caller) = self.cache.get(&digest) {
            if caller.is_expired_at(now) {
                return Err(AuthError::Invalid);
            }
            return Ok(caller);
        }
        let ticket = self.cache.ticket();
        let caller = self.inner.authenticate(presented).await?;
        self.cache
            .insert(ticket, digest, &caller.tenant_id.clone(), caller.clone());
        Ok(caller)
    }
}
