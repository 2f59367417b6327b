//! Envelope encryption for Keyway: per-tenant data keys (DEKs) wrapped by a
//! key-encryption key held in a KMS (`local` file-backed or AWS KMS), secrets
//! sealed with AES-256-GCM under those DEKs, a bounded cache of unwrapped DEKs,
//! and HMAC-SHA256 for gateway API key digests.
//!
//! Layout: [`kms`] owns KEK providers, [`seal`] owns the secret format,
//! [`dek_cache`] owns plaintext DEK lifetime in memory, [`mac`] owns HMAC, and
//! `canonical` owns the unambiguous byte encoding used for every AAD.

mod canonical;
pub mod clock;
pub mod dek_cache;
pub mod kms;
pub mod mac;
pub mod seal;
#[cfg(any(test, feature = "test-support"))]
pub mod test_support;

pub use clock::Clock;
pub use dek_cache::DekCache;
pub use kms::{
    AwsKms, DEK_CACHE, DataKey, EncryptionContext, KMS_CALLS, Kms, KmsConfig, KmsError, KmsProvider,
    LocalKms, build_kms,
};
pub use mac::{Hmac256, hmac_sha256, verify_hmac_sha256};
pub use seal::{Aad, SealError, open, seal};
