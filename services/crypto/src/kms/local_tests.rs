//! Tests for the `local` KMS: wrap/unwrap semantics, file safety, rotation.
#![expect(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;

use super::{EncryptionContext, Kms, KmsError, LocalKms};

fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn tenant_ctx() -> EncryptionContext {
    ctx(&[
        ("tenant_id", "tenant-a"),
        ("dek_id", "dek-1"),
        ("purpose", "secrets"),
    ])
}

fn version_of(blob: &[u8]) -> u32 {
    u32::from_be_bytes(blob[4..8].try_into().unwrap())
}

fn open(dir: &Path) -> LocalKms {
    LocalKms::open(dir, true).unwrap()
}

#[tokio::test]
async fn generated_key_decrypts_back_to_the_same_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let kms = open(dir.path());
    let key = kms.generate_data_key(&tenant_ctx()).await.unwrap();
    assert_eq!(kms.key_ref(), "local:v1");
    assert_eq!(&key.wrapped[..4], b"kwl1");
    assert_eq!(version_of(&key.wrapped), 1);
    assert_eq!(key.wrapped.len(), 4 + 4 + 12 + 32 + 16);
    let plain = kms.decrypt(&key.wrapped, &tenant_ctx()).await.unwrap();
    assert_eq!(*plain, *key.plaintext);
    assert_ne!(*plain, [0u8; 32]);
}

#[tokio::test]
async fn wrong_or_missing_context_is_invalid_ciphertext() {
    let dir = tempfile::tempdir().unwrap();
    let kms = open(dir.path());
    let key = kms.generate_data_key(&tenant_ctx()).await.unwrap();
    let other_tenant = ctx(&[
        ("tenant_id", "tenant-b"),
        ("dek_id", "dek-1"),
        ("purpose", "secrets"),
    ]);
    for bad in [
        other_tenant,
        EncryptionContext::new(),
        ctx(&[("tenant_id", "tenant-a")]),
    ] {
        let err = kms.decrypt(&key.wrapped, &bad).await.unwrap_err();
        assert!(matches!(err, KmsError::InvalidCiphertext), "{bad:?}: {err:?}");
    }
}

#[tokio::test]
async fn contexts_that_concatenate_alike_do_not_collide() {
    let dir = tempfile::tempdir().unwrap();
    let kms = open(dir.path());
    let key = kms.generate_data_key(&ctx(&[("ab", "c")])).await.unwrap();
    let err = kms.decrypt(&key.wrapped, &ctx(&[("a", "bc")])).await.unwrap_err();
    assert!(matches!(err, KmsError::InvalidCiphertext), "{err:?}");
}

#[tokio::test]
async fn tampered_or_truncated_blob_fails() {
    let dir = tempfile::tempdir().unwrap();
    let kms = open(dir.path());
    let key = kms.generate_data_key(&tenant_ctx()).await.unwrap();
    for i in 0..key.wrapped.len() {
        let mut bad = key.wrapped.clone();
        bad[i] ^= 0x01;
        let err = kms.decrypt(&bad, &tenant_ctx()).await.unwrap_err();
        if (4..8).contains(&i) {
            // A changed version names a master key that does not exist.
            assert!(matches!(err, KmsError::KeyUnavailable(_)), "byte {i}: {err:?}");
        } else {
            assert!(matches!(err, KmsError::InvalidCiphertext), "byte {i}: {err:?}");
        }
    }
    let short = &key.wrapped[..key.wrapped.len() - 1];
    assert!(matches!(
        kms.decrypt(short, &tenant_ctx()).await,
        Err(KmsError::InvalidCiphertext)
    ));
}

#[cfg(unix)]
#[test]
fn master_key_file_is_0600_and_its_directory_0700() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("data/kms");
    open(&dir);
    let file_mode = std::fs::metadata(dir.join("master-v1.key"))
        .unwrap()
        .permissions()
        .mode();
    let dir_mode = std::fs::metadata(&dir).unwrap().permissions().mode();
    assert_eq!(file_mode & 0o777, 0o600);
    assert_eq!(dir_mode & 0o777, 0o700);
    assert_eq!(std::fs::metadata(dir.join("master-v1.key")).unwrap().len(), 32);
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["master-v1.key"], "no temporary files are left behind");
}

#[tokio::test]
async fn a_second_open_of_the_same_dir_reads_the_same_key() {
    let dir = tempfile::tempdir().unwrap();
    let first = open(dir.path());
    let key = first.generate_data_key(&tenant_ctx()).await.unwrap();
    let second = LocalKms::open(dir.path(), false).unwrap();
    assert_eq!(
        *second.decrypt(&key.wrapped, &tenant_ctx()).await.unwrap(),
        *key.plaintext
    );
}

#[tokio::test]
async fn concurrent_first_opens_agree_on_one_master_key() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let dir = Arc::clone(&dir);
            std::thread::spawn(move || LocalKms::open(dir.path(), true).unwrap())
        })
        .collect();
    let all: Vec<LocalKms> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let key = all[0].generate_data_key(&tenant_ctx()).await.unwrap();
    for kms in &all {
        assert_eq!(kms.key_ref(), "local:v1");
        assert_eq!(
            *kms.decrypt(&key.wrapped, &tenant_ctx()).await.unwrap(),
            *key.plaintext
        );
    }
}

#[test]
fn empty_dir_without_allow_generate_is_a_config_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let Err(KmsError::Config(msg)) = LocalKms::open(dir.path(), false) else {
        panic!("expected a config error");
    };
    assert!(msg.contains("no local master key"), "{msg}");
    assert!(msg.contains("KEYWAY_KMS=aws"), "{msg}");
    assert!(
        msg.contains(&dir.path().join("master-v1.key").display().to_string()),
        "{msg}"
    );
    assert!(!dir.path().join("master-v1.key").exists());
}

#[test]
fn a_key_file_of_the_wrong_length_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("master-v1.key"), [1u8; 31]).unwrap();
    let Err(KmsError::Io(msg)) = LocalKms::open(dir.path(), true) else {
        panic!("expected an io error");
    };
    assert!(msg.contains("has 31 bytes, expected 32"), "{msg}");
}

#[tokio::test]
async fn rotate_then_rewrap_moves_the_dek_to_the_new_version() {
    let dir = tempfile::tempdir().unwrap();
    let kms = open(dir.path());
    let old = kms.generate_data_key(&tenant_ctx()).await.unwrap();

    assert_eq!(kms.rotate_kek().await.unwrap(), "local:v2");
    assert_eq!(kms.key_ref(), "local:v2");
    assert!(dir.path().join("master-v2.key").is_file());

    let rewrapped = kms.rewrap(&old.wrapped, &tenant_ctx()).await.unwrap();
    assert_eq!(version_of(&rewrapped), 2);
    assert_eq!(
        *kms.decrypt(&rewrapped, &tenant_ctx()).await.unwrap(),
        *old.plaintext
    );
    assert_eq!(
        *kms.decrypt(&old.wrapped, &tenant_ctx()).await.unwrap(),
        *old.plaintext
    );

    let fresh = kms.generate_data_key(&tenant_ctx()).await.unwrap();
    assert_eq!(version_of(&fresh.wrapped), 2);
}

#[tokio::test]
async fn rewrap_with_the_wrong_context_fails() {
    let dir = tempfile::tempdir().unwrap();
    let kms = open(dir.path());
    let key = kms.generate_data_key(&tenant_ctx()).await.unwrap();
    let err = kms
        .rewrap(&key.wrapped, &ctx(&[("tenant_id", "tenant-b")]))
        .await
        .unwrap_err();
    assert!(matches!(err, KmsError::InvalidCiphertext), "{err:?}");
}

#[tokio::test]
async fn a_version_rotated_by_another_process_is_found_on_decrypt() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(dir.path());
    let b = open(dir.path());
    assert_eq!(b.rotate_kek().await.unwrap(), "local:v2");
    let key = b.generate_data_key(&tenant_ctx()).await.unwrap();
    assert_eq!(
        *a.decrypt(&key.wrapped, &tenant_ctx()).await.unwrap(),
        *key.plaintext
    );
    // Rotating from the stale process skips the taken number instead of overwriting it.
    assert_eq!(a.rotate_kek().await.unwrap(), "local:v3");
    assert_eq!(
        *b.decrypt(&key.wrapped, &tenant_ctx()).await.unwrap(),
        *key.plaintext
    );
}
