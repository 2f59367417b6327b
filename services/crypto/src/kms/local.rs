//! The embedded `local` KMS: versioned 32-byte master keys in
//! `<dir>/master-v<N>.key` (0600, directory 0700), wrapping DEKs with
//! AES-256-GCM.
//!
//! Wrapped format: `b"kwl1" || version (u32 BE) || nonce (12) || AES-GCM(DEK)
//! || tag (16)`; the AAD is a canonical, length-prefixed encoding of the
//! master version and the encryption context, so a wrong context fails like
//! AWS KMS does. Losing the master key files loses every tenant's secrets:
//! back up the whole directory.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{PoisonError, RwLock};

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use async_trait::async_trait;
use zeroize::Zeroizing;

use super::{DataKey, EncryptionContext, Kms, KmsError};
use crate::canonical::Canonical;

mod files;

const MAGIC: &[u8; 4] = b"kwl1";
const DOMAIN: &str = "keyway/local-kms/v1";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = MAGIC.len() + 4 + NONCE_LEN;
const WRAPPED_LEN: usize = HEADER_LEN + 32 + TAG_LEN;

type MasterKeys = BTreeMap<u32, Zeroizing<[u8; 32]>>;

/// File-backed KMS; see the module docs for formats and backup duty.
pub struct LocalKms {
    dir: PathBuf,
    // Newest version is current. Written only on rotation or when another
    // process's new version is discovered.
    keys: RwLock<MasterKeys>,
}

impl fmt::Debug for LocalKms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalKms")
            .field("dir", &self.dir)
            .field("key_ref", &self.key_ref())
            .finish()
    }
}

fn key_ref_of(version: u32) -> String {
    format!("local:v{version}")
}

fn context_aad(version: u32, ctx: &EncryptionContext) -> Vec<u8> {
    let mut c = Canonical::new(DOMAIN);
    c.u32(version).u32(u32::try_from(ctx.len()).unwrap_or(u32::MAX));
    for (k, v) in ctx {
        c.str(k).str(v);
    }
    c.finish()
}

fn wrap(version: u32, master: &[u8; 32], ctx: &EncryptionContext, dek: &[u8; 32]) -> Vec<u8> {
    let nonce: [u8; NONCE_LEN] = rand::random();
    let mut buf = Zeroizing::new(*dek);
    let tag = Aes256Gcm::new(master.into())
        .encrypt_in_place_detached(
            Nonce::from_slice(&nonce),
            &context_aad(version, ctx),
            buf.as_mut(),
        )
        // AES-GCM only fails for inputs near 64 GiB; a 32-byte DEK cannot.
        .unwrap_or_else(|_| unreachable!("AES-GCM accepts a 32-byte message"));
    let mut out = Vec::with_capacity(WRAPPED_LEN);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(buf.as_ref());
    out.extend_from_slice(&tag);
    out
}

/// The parts of a wrapped blob.
struct Parsed<'a> {
    version: u32,
    nonce: &'a [u8],
    ciphertext: &'a [u8],
    tag: &'a [u8],
}

/// Splits a blob into its parts after a shape check.
fn parse(wrapped: &[u8]) -> Result<Parsed<'_>, KmsError> {
    if wrapped.len() != WRAPPED_LEN || !wrapped.starts_with(MAGIC) {
        return Err(KmsError::InvalidCiphertext);
    }
    let (version, rest) = wrapped[MAGIC.len()..].split_at(4);
    let version = u32::from_be_bytes([version[0], version[1], version[2], version[3]]);
    let (nonce, rest) = rest.split_at(NONCE_LEN);
    let (ciphertext, tag) = rest.split_at(32);
    Ok(Parsed {
        version,
        nonce,
        ciphertext,
        tag,
    })
}

impl LocalKms {
    /// Whether the key directory `dir` (normally `<data_dir>/kms`) holds at
    /// least one master key, without creating or reading anything: the
    /// production check refuses to start a store that would generate one.
    pub fn has_master_key(dir: &Path) -> bool {
        files::has_any(dir)
    }

    /// Opens the key directory `dir` (normally `<data_dir>/kms`), loading every
    /// master version. With none present, generates v1 if `allow_generate`,
    /// else fails with [`KmsError::Config`].
    pub fn open(dir: &Path, allow_generate: bool) -> Result<Self, KmsError> {
        files::ensure_dir(dir)?;
        let mut keys = files::load_all(dir)?;
        if keys.is_empty() {
            let first = files::key_path(dir, 1);
            if !allow_generate {
                return Err(KmsError::Config(format!(
                    "no local master key in {}; set KEYWAY_KMS=aws or provide {}",
                    dir.display(),
                    first.display()
                )));
            }
            if files::create_version(dir, 1)? {
                tracing::warn!(
                    path = %first.display(),
                    "generated a development master key; back it up: without it every stored secret is lost"
                );
            }
            // Re-read even after our own create: another process may have won.
            keys = files::load_all(dir)?;
        }
        if keys.is_empty() {
            return Err(KmsError::Io(format!(
                "no master key readable in {}",
                dir.display()
            )));
        }
        Ok(Self {
            dir: dir.to_owned(),
            keys: RwLock::new(keys),
        })
    }

    fn current(&self) -> Result<(u32, Zeroizing<[u8; 32]>), KmsError> {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        keys.last_key_value()
            .map(|(v, k)| (*v, k.clone()))
            .ok_or_else(|| KmsError::Io("no master key loaded".to_owned()))
    }

    /// Master key for `version`, re-scanning the directory once on a miss
    /// because another process sharing it may have rotated.
    fn version(&self, version: u32) -> Result<Zeroizing<[u8; 32]>, KmsError> {
        if let Some(k) = self
            .keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&version)
        {
            return Ok(k.clone());
        }
        let fresh = files::load_all(&self.dir)?;
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        keys.extend(fresh);
        keys.get(&version).cloned().ok_or_else(|| {
            KmsError::KeyUnavailable(format!(
                "local master key v{version} not found in {}",
                self.dir.display()
            ))
        })
    }

    fn unwrap_dek(&self, wrapped: &[u8], ctx: &EncryptionContext) -> Result<Zeroizing<[u8; 32]>, KmsError> {
        let Parsed {
            version,
            nonce,
            ciphertext,
            tag,
        } = parse(wrapped)?;
        let master = self.version(version)?;
        let mut dek = Zeroizing::new([0u8; 32]);
        dek.copy_from_slice(ciphertext);
        Aes256Gcm::new(master.as_ref().into())
            .decrypt_in_place_detached(
                Nonce::from_slice(nonce),
                &context_aad(version, ctx),
                dek.as_mut(),
                Tag::from_slice(tag),
            )
            .map_err(|_| KmsError::InvalidCiphertext)?;
        Ok(dek)
    }
}

#[async_trait]
impl Kms for LocalKms {
    fn key_ref(&self) -> String {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        key_ref_of(keys.last_key_value().map_or(0, |(v, _)| *v))
    }

    async fn generate_data_key(&self, ctx: &EncryptionContext) -> Result<DataKey, KmsError> {
        let (version, master) = self.current()?;
        let plaintext = files::random_key()?;
        let wrapped = wrap(version, &master, ctx, &plaintext);
        Ok(DataKey { plaintext, wrapped })
    }

    async fn decrypt(
        &self,
        wrapped: &[u8],
        ctx: &EncryptionContext,
    ) -> Result<Zeroizing<[u8; 32]>, KmsError> {
        self.unwrap_dek(wrapped, ctx)
    }

    async fn rewrap(&self, wrapped: &[u8], ctx: &EncryptionContext) -> Result<Vec<u8>, KmsError> {
        let dek = self.unwrap_dek(wrapped, ctx)?;
        let (version, master) = self.current()?;
        Ok(wrap(version, &master, ctx, &dek))
    }

    async fn rotate_kek(&self) -> Result<String, KmsError> {
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        // Another process may create the same version first; then re-scan and
        // try the next number, never overwriting its file.
        for _ in 0..8 {
            keys.extend(files::load_all(&self.dir)?);
            let next = keys
                .last_key_value()
                .map_or(Some(1), |(v, _)| v.checked_add(1))
                .ok_or_else(|| KmsError::Config("local master key versions exhausted".to_owned()))?;
            if files::create_version(&self.dir, next)? {
                keys.extend(files::load_all(&self.dir)?);
                tracing::info!(version = next, dir = %self.dir.display(), "rotated local master key");
                return Ok(key_ref_of(next));
            }
        }
        Err(KmsError::Io(format!(
            "could not create a new master key version in {}",
            self.dir.display()
        )))
    }
}
