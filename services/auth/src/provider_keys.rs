//! The contract for BYOK keys: the gateway asks for the caller's own (user)
//! or team (tenant) key for a provider; the key service unseals it.

use crate::{AuthError, Caller};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyScope {
    User,
    Tenant,
}

/// A provider key ready to send upstream. Dropping it wipes the secret.
pub struct ProviderKey {
    pub secret: zeroize::Zeroizing<String>,
    /// For `custom-<name>` providers: the endpoint the key belongs to.
    pub base_url: Option<String>,
}

impl std::fmt::Debug for ProviderKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderKey")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
pub trait ProviderKeys: Send + Sync + 'static {
    /// The key of `scope` for `provider`, if the caller has one.
    async fn provider_key(
        &self,
        caller: &Caller,
        scope: KeyScope,
        provider: &str,
    ) -> Result<Option<ProviderKey>, AuthError>;
}
