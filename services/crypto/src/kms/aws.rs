//! The `aws` KMS provider: DEKs from AWS KMS `GenerateDataKey`, unwrapped with
//! `Decrypt` and moved between keys with `ReEncrypt`, always under the same
//! encryption context.
//!
//! KEK rotation on AWS is not done by Keyway: enable AWS automatic key
//! rotation (same key id, nothing else to do), or point `KEYWAY_KMS_KEY_ID` at
//! a new key and call [`Kms::rewrap`] on every DEK. `Decrypt` pins the
//! configured key id, so rewrap all DEKs before serving traffic on a new key
//! id; `ReEncrypt` does not pin the source key, so it can move old blobs.

use std::collections::HashMap;
use std::fmt;

use async_trait::async_trait;
use aws_config::meta::region::RegionProviderChain;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_kms::Client;
use aws_sdk_kms::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use zeroize::Zeroizing;

use super::{DataKey, EncryptionContext, Kms, KmsError};

const DEFAULT_REGION: &str = "us-east-1";

/// AWS KMS client bound to one key (id, ARN or `alias/…`).
#[derive(Clone)]
pub struct AwsKms {
    client: Client,
    key_id: String,
}

impl fmt::Debug for AwsKms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsKms")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// Maps an AWS error code to a [`KmsError`]. Pure so that codes the emulator
/// never returns (`DisabledException`, `KMSInvalidStateException`) are tested.
/// `detail` must not contain secrets; AWS error messages name keys, not data.
pub(crate) fn classify_error_code(code: Option<&str>, detail: String) -> KmsError {
    match code {
        Some("InvalidCiphertextException") => KmsError::InvalidCiphertext,
        Some(
            c @ ("DisabledException"
            | "KMSInvalidStateException"
            | "NotFoundException"
            | "KeyUnavailableException"),
        ) => KmsError::KeyUnavailable(format!("{c}: {detail}")),
        Some("AccessDeniedException" | "IncorrectKeyException") => KmsError::AccessDenied,
        _ => KmsError::Transport(detail),
    }
}

fn classify<E, R>(err: SdkError<E, R>) -> KmsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: fmt::Debug,
{
    let code = err.code().map(str::to_owned);
    let detail = match err.message() {
        Some(m) if !m.is_empty() => m.to_owned(),
        // No service message (or not a service error): keep the whole chain,
        // which for dispatch failures says what went wrong on the wire.
        _ => DisplayErrorContext(&err).to_string(),
    };
    classify_error_code(code.as_deref(), detail)
}

/// `None` for an empty context, so the request carries no empty map.
fn context_map(ctx: &EncryptionContext) -> Option<HashMap<String, String>> {
    (!ctx.is_empty()).then(|| ctx.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

fn dek_from_blob(blob: Option<Blob>) -> Result<Zeroizing<[u8; 32]>, KmsError> {
    // Take ownership so the SDK's copy is wiped when we are done with it.
    let bytes = Zeroizing::new(blob.map(Blob::into_inner).unwrap_or_default());
    let mut dek = Zeroizing::new([0u8; 32]);
    if bytes.len() != dek.len() {
        return Err(KmsError::Transport(format!(
            "KMS returned a {}-byte data key, expected 32",
            bytes.len()
        )));
    }
    dek.copy_from_slice(&bytes);
    Ok(dek)
}

fn blob_bytes(blob: Option<Blob>, what: &str) -> Result<Vec<u8>, KmsError> {
    blob.map(Blob::into_inner)
        .ok_or_else(|| KmsError::Transport(format!("KMS response lacks {what}")))
}

impl AwsKms {
    /// Uses the default AWS configuration chain (credentials, `AWS_REGION`
    /// or profile, `AWS_ENDPOINT_URL[_KMS]`), region defaulting to
    /// `us-east-1`, and `endpoint_url` as an explicit override when given.
    pub async fn new(key_id: String, endpoint_url: Option<String>) -> Result<Self, KmsError> {
        let region = RegionProviderChain::default_provider().or_else(DEFAULT_REGION);
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(region);
        if let Some(url) = endpoint_url {
            loader = loader.endpoint_url(url);
        }
        Self::from_sdk_config(key_id, &loader.load().await)
    }

    /// Uses a caller-built SDK configuration, e.g. with static credentials
    /// for an emulator in tests.
    pub fn from_sdk_config(key_id: String, config: &SdkConfig) -> Result<Self, KmsError> {
        if key_id.trim().is_empty() {
            return Err(KmsError::Config("KEYWAY_KMS_KEY_ID is empty".to_owned()));
        }
        Ok(Self {
            client: Client::new(config),
            key_id,
        })
    }
}

#[async_trait]
impl Kms for AwsKms {
    fn key_ref(&self) -> String {
        self.key_id.clone()
    }

    async fn generate_data_key(&self, ctx: &EncryptionContext) -> Result<DataKey, KmsError> {
        let out = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context(context_map(ctx))
            .send()
            .await
            .map_err(classify)?;
        // Plaintext first, so it is wiped even if the ciphertext is missing.
        let plaintext = dek_from_blob(out.plaintext)?;
        let wrapped = blob_bytes(out.ciphertext_blob, "the ciphertext")?;
        Ok(DataKey { plaintext, wrapped })
    }

    async fn decrypt(
        &self,
        wrapped: &[u8],
        ctx: &EncryptionContext,
    ) -> Result<Zeroizing<[u8; 32]>, KmsError> {
        let out = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(wrapped))
            .set_encryption_context(context_map(ctx))
            .send()
            .await
            .map_err(classify)?;
        dek_from_blob(out.plaintext)
    }

    async fn rewrap(&self, wrapped: &[u8], ctx: &EncryptionContext) -> Result<Vec<u8>, KmsError> {
        let out = self
            .client
            .re_encrypt()
            .ciphertext_blob(Blob::new(wrapped))
            .set_source_encryption_context(context_map(ctx))
            .destination_key_id(&self.key_id)
            .set_destination_encryption_context(context_map(ctx))
            .send()
            .await
            .map_err(classify)?;
        blob_bytes(out.ciphertext_blob, "the ciphertext")
    }

    /// Keyway cannot rotate an AWS key itself; see the module docs.
    async fn rotate_kek(&self) -> Result<String, KmsError> {
        Ok(self.key_id.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::{KmsError, classify_error_code};

    #[test]
    fn disabled_and_invalid_state_keys_are_unavailable() {
        for code in [
            "DisabledException",
            "KMSInvalidStateException",
            "NotFoundException",
            "KeyUnavailableException",
        ] {
            match classify_error_code(Some(code), "key arn:aws:kms:…:key/1 is disabled".to_owned()) {
                KmsError::KeyUnavailable(msg) => assert!(msg.starts_with(code), "{msg}"),
                other => panic!("{code} gave {other:?}"),
            }
        }
    }

    #[test]
    fn access_denied_and_incorrect_key_are_access_denied() {
        for code in ["AccessDeniedException", "IncorrectKeyException"] {
            assert!(
                matches!(
                    classify_error_code(Some(code), String::new()),
                    KmsError::AccessDenied
                ),
                "{code}"
            );
        }
    }

    #[test]
    fn invalid_ciphertext_is_invalid_ciphertext() {
        let err = classify_error_code(Some("InvalidCiphertextException"), String::new());
        assert!(matches!(err, KmsError::InvalidCiphertext));
    }

    #[test]
    fn anything_else_is_transport_with_the_detail() {
        let err = classify_error_code(Some("ThrottlingException"), "rate exceeded".to_owned());
        assert!(
            matches!(&err, KmsError::Transport(d) if d == "rate exceeded"),
            "{err:?}"
        );
        let err = classify_error_code(None, "connection refused".to_owned());
        assert!(
            matches!(&err, KmsError::Transport(d) if d == "connection refused"),
            "{err:?}"
        );
    }
}
