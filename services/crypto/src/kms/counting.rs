//! Counts every KMS call by operation and result (`keyway_kms_calls_total`),
//! around whichever provider is configured. A KMS is remote and billed per
//! call, so the count is what an operator watches; the DEK cache's hit rate
//! (`keyway_dek_cache_lookups_total`) says how many it saves.

use async_trait::async_trait;
use zeroize::Zeroizing;

use super::{DataKey, EncryptionContext, Kms, KmsError};

/// The metric names this crate records; `keyway_common::metrics` lists them
/// with the rest.
pub const KMS_CALLS: &str = "keyway_kms_calls_total";
pub const DEK_CACHE: &str = "keyway_dek_cache_lookups_total";

pub(super) struct CountingKms<K>(pub(super) K);

fn count<T>(op: &'static str, result: &Result<T, KmsError>) {
    let result = if result.is_ok() { "ok" } else { "error" };
    metrics::counter!(KMS_CALLS, "op" => op, "result" => result).increment(1);
}

#[async_trait]
impl<K: Kms> Kms for CountingKms<K> {
    fn key_ref(&self) -> String {
        self.0.key_ref()
    }

    async fn generate_data_key(&self, ctx: &EncryptionContext) -> Result<DataKey, KmsError> {
        let r = self.0.generate_data_key(ctx).await;
        count("generate_data_key", &r);
        r
    }

    async fn decrypt(
        &self,
        wrapped: &[u8],
        ctx: &EncryptionContext,
    ) -> Result<Zeroizing<[u8; 32]>, KmsError> {
        let r = self.0.decrypt(wrapped, ctx).await;
        count("decrypt", &r);
        r
    }

    async fn rewrap(&self, wrapped: &[u8], ctx: &EncryptionContext) -> Result<Vec<u8>, KmsError> {
        let r = self.0.rewrap(wrapped, ctx).await;
        count("rewrap", &r);
        r
    }

    async fn rotate_kek(&self) -> Result<String, KmsError> {
        let r = self.0.rotate_kek().await;
        count("rotate_kek", &r);
        r
    }
}
