//! Signing secrets: generated here, shown to the caller once, stored only
//! sealed. Each secret version gets a fresh data key from the KMS, bound to
//! `{tenant_id, webhook_id, purpose}`; the secret is sealed under it with an
//! AAD of tenant, webhook id and version, so a ciphertext copied to another
//! row never opens. Unwrapped data keys live in a bounded `DekCache`.

use std::{fmt, sync::Arc, time::Duration};

use base64::Engine;
use keyway_crypto::{Aad, DekCache, EncryptionContext, Kms, KmsError, SealError};
use rand::Rng;
use uuid::Uuid;
use zeroize::Zeroizing;

/// Every signing secret starts with this, so it is recognisable in a vault.
pub(crate) const PREFIX: &str = "whsec_";
const PURPOSE: &str = "webhook-signing";

/// A plaintext signing secret: `whsec_` and 32 random bytes, base64url.
/// Wiped from memory when dropped; `Debug` never shows it.
pub(crate) struct SigningSecret(Zeroizing<String>);

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(<redacted>)")
    }
}

impl SigningSecret {
    pub(crate) fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rng().fill(&mut bytes[..]);
        let encoded = Zeroizing::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes[..]));
        Self(Zeroizing::new(format!("{PREFIX}{}", encoded.as_str())))
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

/// What the database holds instead of the secret.
pub(crate) struct Sealed {
    pub(crate) kms_key_ref: String,
    pub(crate) wrapped_dek: Vec<u8>,
    pub(crate) sealed_secret: Vec<u8>,
}

/// Why a secret could not be sealed or opened; never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(transparent)]
    Kms(#[from] KmsError),
    #[error(transparent)]
    Seal(#[from] SealError),
}

/// Where a webhook's secret belongs: its AAD and KMS context come from here.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Binding<'a> {
    pub(crate) tenant_id: &'a str,
    pub(crate) webhook_id: Uuid,
    pub(crate) version: u32,
}

impl Binding<'_> {
    fn context(&self) -> EncryptionContext {
        EncryptionContext::from([
            ("tenant_id".to_owned(), self.tenant_id.to_owned()),
            ("webhook_id".to_owned(), self.webhook_id.to_string()),
            ("purpose".to_owned(), PURPOSE.to_owned()),
        ])
    }
}

/// Seals secrets for storage and opens them for delivery.
pub(crate) struct SecretBox {
    kms: Arc<dyn Kms>,
    /// Keyed by webhook id and secret version.
    deks: DekCache,
}

impl SecretBox {
    pub(crate) fn new(kms: Arc<dyn Kms>) -> Self {
        // Delivery opens the secret for every batch; the cache keeps that off
        // the KMS (a network call with `aws`) while bounding how long a data
        // key stays unwrapped.
        Self {
            kms,
            deks: DekCache::new(Duration::from_secs(300), 10_000, 4_096),
        }
    }

    pub(crate) async fn seal(&self, at: Binding<'_>, secret: &SigningSecret) -> Result<Sealed, SecretError> {
        let id = at.webhook_id.to_string();
        let dek = self.kms.generate_data_key(&at.context()).await?;
        let sealed_secret = keyway_crypto::seal(&dek.plaintext, &aad(&at, &id), secret.expose().as_bytes())?;
        Ok(Sealed {
            kms_key_ref: self.kms.key_ref(),
            wrapped_dek: dek.wrapped,
            sealed_secret,
        })
    }

    pub(crate) async fn open(
        &self,
        at: Binding<'_>,
        wrapped_dek: &[u8],
        sealed_secret: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SecretError> {
        let (id, context) = (at.webhook_id.to_string(), at.context());
        let dek = self
            .deks
            .get_or_load(&id, at.version, || self.kms.decrypt(wrapped_dek, &context))
            .await?;
        Ok(keyway_crypto::open(&dek, &aad(&at, &id), sealed_secret)?)
    }

    /// Forgets the data keys of a deleted or rotated webhook.
    pub(crate) fn forget(&self, webhook_id: Uuid) {
        self.deks.evict_tenant(&webhook_id.to_string());
    }
}

/// KEK rotation: rewraps every webhook's data key under the KMS's current
/// master key. The data keys, and so the sealed secrets, do not change; a
/// row whose secret was rotated meanwhile already has a fresh key and is
/// left alone. Returns how many keys were rewrapped.
pub async fn rewrap_data_keys(pool: &sqlx::PgPool, kms: &dyn Kms) -> Result<u64, RewrapError> {
    // The key service calls this on its database, which holds the
    // projector's tables only when both share it.
    let here: bool = sqlx::query_scalar("SELECT to_regclass('usage_webhooks') IS NOT NULL")
        .fetch_one(pool)
        .await?;
    if !here {
        return Ok(0);
    }
    let rows: Vec<(Uuid, String, Vec<u8>)> =
        sqlx::query_as("SELECT id, tenant_id, wrapped_dek FROM usage_webhooks ORDER BY id")
            .fetch_all(pool)
            .await?;
    let key_ref = kms.key_ref();
    let mut rewrapped = 0;
    for (webhook_id, tenant_id, wrapped) in rows {
        let context = Binding {
            tenant_id: &tenant_id,
            webhook_id,
            version: 0,
        }
        .context();
        let fresh = kms.rewrap(&wrapped, &context).await?;
        rewrapped += sqlx::query(
            "UPDATE usage_webhooks SET wrapped_dek = $2, kms_key_ref = $3 WHERE id = $1 AND wrapped_dek = $4",
        )
        .bind(webhook_id)
        .bind(fresh)
        .bind(&key_ref)
        .bind(&wrapped)
        .execute(pool)
        .await?
        .rows_affected();
    }
    Ok(rewrapped)
}

#[derive(Debug, thiserror::Error)]
pub enum RewrapError {
    #[error(transparent)]
    Kms(#[from] KmsError),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

fn aad<'a>(at: &Binding<'a>, id: &'a str) -> Aad<'a> {
    Aad {
        tenant_id: at.tenant_id,
        record_id: id,
        provider: PURPOSE,
        dek_version: at.version,
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;
    use keyway_crypto::LocalKms;

    fn secret_box(dir: &std::path::Path) -> SecretBox {
        SecretBox::new(Arc::new(LocalKms::open(dir, true).unwrap()))
    }

    #[test]
    fn secrets_are_prefixed_random_and_never_debug_printed() {
        let (a, b) = (SigningSecret::generate(), SigningSecret::generate());
        assert!(a.expose().starts_with(PREFIX));
        assert_eq!(a.expose().len(), PREFIX.len() + 43);
        assert_ne!(a.expose(), b.expose());
        assert_eq!(format!("{a:?}"), "SigningSecret(<redacted>)");
    }

    #[tokio::test]
    async fn a_sealed_secret_opens_only_for_its_own_tenant_webhook_and_version() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = secret_box(dir.path());
        let secret = SigningSecret::generate();
        let at = Binding {
            tenant_id: "t-a",
            webhook_id: Uuid::now_v7(),
            version: 1,
        };
        let sealed = secrets.seal(at, &secret).await.unwrap();
        assert!(!sealed.sealed_secret.windows(6).any(|w| w == PREFIX.as_bytes()));
        let opened = secrets
            .open(at, &sealed.wrapped_dek, &sealed.sealed_secret)
            .await
            .unwrap();
        assert_eq!(opened.as_slice(), secret.expose().as_bytes());
        for other in [
            Binding {
                tenant_id: "t-b",
                ..at
            },
            Binding {
                webhook_id: Uuid::now_v7(),
                ..at
            },
            Binding { version: 2, ..at },
        ] {
            // A fresh box, so no cached data key hides a KMS refusal.
            let fresh = secret_box(dir.path());
            assert!(
                fresh
                    .open(other, &sealed.wrapped_dek, &sealed.sealed_secret)
                    .await
                    .is_err(),
                "{other:?}"
            );
        }
    }
}
