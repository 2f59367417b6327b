//! The sealed-secret format: AES-256-GCM under a tenant DEK, bound to the row
//! it belongs to.
//!
//! Layout: `1u8 || nonce (12 random bytes) || ciphertext || tag (16)`. The AAD
//! is built from authoritative columns ([`Aad`]), so a ciphertext copied to
//! another tenant, record, provider or DEK version fails to open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use zeroize::Zeroizing;

use super::canonical::Canonical;

const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const DOMAIN: &str = "keyway/secret/v1";

/// The columns a sealed secret is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aad<'a> {
    pub tenant_id: &'a str,
    pub record_id: &'a str,
    pub provider: &'a str,
    pub dek_version: u32,
}

impl Aad<'_> {
    /// Canonical length-prefixed encoding with a domain tag, so no two
    /// distinct `Aad` values share bytes.
    fn encode(&self) -> Vec<u8> {
        let mut c = Canonical::new(DOMAIN);
        c.str(self.tenant_id)
            .str(self.record_id)
            .str(self.provider)
            .u32(self.dek_version);
        c.finish()
    }
}

/// Why sealing or opening failed. Deliberately vague: the caller learns only
/// that the secret cannot be opened here, never why in detail.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    /// Wrong key, wrong AAD, unknown format, truncated or tampered data.
    #[error("sealed secret is invalid or does not belong to this record")]
    Invalid,
    /// AES-GCM refused the input (only possible for absurdly large plaintexts).
    #[error("secret could not be sealed")]
    Encrypt,
}

/// Seals `plaintext` under `dek`, bound to `aad`.
pub fn seal(dek: &[u8; 32], aad: &Aad<'_>, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
    // A random 96-bit nonce per seal; a DEK seals few secrets, far below the
    // 2^32 messages at which random-nonce collisions become a concern.
    let nonce: [u8; NONCE_LEN] = rand::random();
    let cipher = Aes256Gcm::new(dek.into());
    let aad_bytes = aad.encode();
    let ciphertext = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &aad_bytes,
            },
        )
        .map_err(|_| SealError::Encrypt)?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
    out.push(FORMAT_V1);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// Opens a value made by [`seal`]; fails unless `dek` and every `aad` field match.
pub fn open(dek: &[u8; 32], aad: &Aad<'_>, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
    let (&format, rest) = sealed.split_first().ok_or(SealError::Invalid)?;
    if format != FORMAT_V1 || rest.len() < NONCE_LEN + TAG_LEN {
        return Err(SealError::Invalid);
    }
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    let cipher = Aes256Gcm::new(dek.into());
    let aad_bytes = aad.encode();
    cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: &aad_bytes,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| SealError::Invalid)
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::{Aad, SealError, open, seal};

    const DEK: [u8; 32] = [7; 32];
    const AAD: Aad<'static> = Aad {
        tenant_id: "tenant-a",
        record_id: "rec-1",
        provider: "openai",
        dek_version: 3,
    };

    #[test]
    fn sealed_secret_opens_with_the_same_key_and_aad() {
        let sealed = seal(&DEK, &AAD, b"sk-live-123").unwrap();
        assert_eq!(sealed[0], 1);
        assert_eq!(sealed.len(), 1 + 12 + b"sk-live-123".len() + 16);
        assert_eq!(open(&DEK, &AAD, &sealed).unwrap().as_slice(), b"sk-live-123");
    }

    #[test]
    fn changing_any_aad_field_makes_open_fail() {
        let sealed = seal(&DEK, &AAD, b"secret").unwrap();
        let variants = [
            Aad {
                tenant_id: "tenant-b",
                ..AAD
            },
            Aad {
                record_id: "rec-2",
                ..AAD
            },
            Aad {
                provider: "anthropic",
                ..AAD
            },
            Aad {
                dek_version: 4,
                ..AAD
            },
        ];
        for aad in variants {
            assert_eq!(open(&DEK, &aad, &sealed), Err(SealError::Invalid), "{aad:?}");
        }
    }

    #[test]
    fn shifting_text_between_aad_fields_makes_open_fail() {
        let a = Aad {
            tenant_id: "ab",
            record_id: "c",
            ..AAD
        };
        let b = Aad {
            tenant_id: "a",
            record_id: "bc",
            ..AAD
        };
        let sealed = seal(&DEK, &a, b"secret").unwrap();
        assert_eq!(open(&DEK, &b, &sealed), Err(SealError::Invalid));
    }

    #[test]
    fn a_different_dek_cannot_open() {
        let sealed = seal(&DEK, &AAD, b"secret").unwrap();
        assert_eq!(open(&[8; 32], &AAD, &sealed), Err(SealError::Invalid));
    }

    #[test]
    fn tampered_or_truncated_ciphertext_fails_to_open() {
        let sealed = seal(&DEK, &AAD, b"secret").unwrap();
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert_eq!(open(&DEK, &AAD, &bad), Err(SealError::Invalid), "byte {i}");
        }
        assert_eq!(
            open(&DEK, &AAD, &sealed[..sealed.len() - 1]),
            Err(SealError::Invalid)
        );
        assert_eq!(open(&DEK, &AAD, &[]), Err(SealError::Invalid));
    }

    #[test]
    fn two_seals_of_the_same_plaintext_differ() {
        let a = seal(&DEK, &AAD, b"secret").unwrap();
        let b = seal(&DEK, &AAD, b"secret").unwrap();
        assert_ne!(a, b);
        assert_ne!(a[1..13], b[1..13], "nonces must differ");
    }

    #[test]
    fn seal_error_message_reveals_nothing_secret() {
        assert_eq!(
            SealError::Invalid.to_string(),
            "sealed secret is invalid or does not belong to this record"
        );
    }
}
