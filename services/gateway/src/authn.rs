//! A caching wrapper around the authenticator: a verified key is remembered
//! (by a SHA-256 of it, never the key itself) for a short TTL, and forgotten
//! as soon as a key-change event for its tenant arrives. Failures are not
//! cached, so a newly created key works at once. A key in use is verified
//! again before its entry expires (see `cache`).

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
        let caller = self
            .cache
            .get_or_fetch(
                &digest,
                || self.inner.authenticate(presented),
                |caller| caller.tenant_id.as_str().into(),
                |e| *e == AuthError::Unavailable,
            )
            .await?;
        if caller.is_expired_at(now) {
            return Err(AuthError::Invalid);
        }
        Ok(caller)
    }
}
