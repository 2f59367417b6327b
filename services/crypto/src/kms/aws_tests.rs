//! Tests for the `aws` provider against a real `moto_server` (the KMS
//! emulator from the peers venv), started per test and killed on drop.
//! moto enforces encryption contexts but joins them without separators, so
//! negative tests use clearly different values.
#![expect(clippy::unwrap_used, clippy::expect_used)]

use super::{AwsKms, EncryptionContext, Kms, KmsError};
use crate::test_support::{Moto, start_moto};
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_kms::config::{Credentials, Region};

/// SDK config for the emulator: fixed region and dummy static credentials
/// (moto still needs SigV4-signed requests to route them).
async fn sdk_config(moto: &Moto) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .endpoint_url(&moto.url)
        .load()
        .await
}

async fn create_key(config: &SdkConfig) -> String {
    let out = aws_sdk_kms::Client::new(config)
        .create_key()
        .send()
        .await
        .unwrap();
    out.key_metadata().expect("key metadata").key_id().to_owned()
}

fn ctx(tenant: &str) -> EncryptionContext {
    [("tenant_id", tenant), ("dek_id", "dek-1"), ("purpose", "secrets")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[tokio::test]
async fn aws_generated_key_decrypts_back_to_the_same_plaintext() {
    let moto = start_moto().await;
    let config = sdk_config(&moto).await;
    let key_id = create_key(&config).await;
    let kms = AwsKms::from_sdk_config(key_id.clone(), &config).unwrap();
    assert_eq!(kms.key_ref(), key_id);

    let key = kms.generate_data_key(&ctx("tenant-alpha")).await.unwrap();
    assert!(key.wrapped.len() > 32);
    assert_ne!(*key.plaintext, [0u8; 32]);
    let plain = kms.decrypt(&key.wrapped, &ctx("tenant-alpha")).await.unwrap();
    assert_eq!(*plain, *key.plaintext);
    assert_eq!(
        kms.rotate_kek().await.unwrap(),
        key_id,
        "AWS rotation keeps the key id"
    );
}

#[tokio::test]
async fn aws_wrong_or_missing_context_is_invalid_ciphertext() {
    let moto = start_moto().await;
    let config = sdk_config(&moto).await;
    let kms = AwsKms::from_sdk_config(create_key(&config).await, &config).unwrap();
    let key = kms.generate_data_key(&ctx("tenant-alpha")).await.unwrap();

    let err = kms
        .decrypt(&key.wrapped, &ctx("tenant-zzz-other"))
        .await
        .unwrap_err();
    assert!(matches!(err, KmsError::InvalidCiphertext), "{err:?}");
    let err = kms
        .decrypt(&key.wrapped, &EncryptionContext::new())
        .await
        .unwrap_err();
    assert!(matches!(err, KmsError::InvalidCiphertext), "{err:?}");
}

#[tokio::test]
async fn aws_rewrap_moves_a_dek_to_a_second_key() {
    let moto = start_moto().await;
    let config = sdk_config(&moto).await;
    let first = AwsKms::from_sdk_config(create_key(&config).await, &config).unwrap();
    let second = AwsKms::from_sdk_config(create_key(&config).await, &config).unwrap();
    assert_ne!(first.key_ref(), second.key_ref());
    let key = first.generate_data_key(&ctx("tenant-alpha")).await.unwrap();

    let rewrapped = second.rewrap(&key.wrapped, &ctx("tenant-alpha")).await.unwrap();
    assert_ne!(rewrapped, key.wrapped);
    assert_eq!(
        *second.decrypt(&rewrapped, &ctx("tenant-alpha")).await.unwrap(),
        *key.plaintext
    );
    // Decrypt pins the configured key, so the first key no longer opens it
    // (moto says AccessDenied where AWS says IncorrectKey; both map here).
    let err = first.decrypt(&rewrapped, &ctx("tenant-alpha")).await.unwrap_err();
    assert!(matches!(err, KmsError::AccessDenied), "{err:?}");

    let err = second
        .rewrap(&key.wrapped, &ctx("tenant-zzz-other"))
        .await
        .unwrap_err();
    assert!(matches!(err, KmsError::InvalidCiphertext), "{err:?}");
}

#[tokio::test]
async fn an_unreachable_endpoint_is_a_transport_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .load()
        .await;
    let kms = AwsKms::from_sdk_config("alias/keyway".to_owned(), &config).unwrap();
    let err = kms.generate_data_key(&ctx("tenant-alpha")).await.unwrap_err();
    assert!(matches!(err, KmsError::Transport(_)), "{err:?}");
}

#[test]
fn an_empty_key_id_is_a_config_error() {
    let config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .build();
    assert!(matches!(
        AwsKms::from_sdk_config(" ".to_owned(), &config),
        Err(KmsError::Config(_))
    ));
}
