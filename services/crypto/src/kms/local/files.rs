//! On-disk handling of local master keys: a 0700 directory of 0600 files
//! named `master-v<N>.key`, each exactly 32 random bytes.
//!
//! A new version is written to a private temporary file and then published
//! with `hard_link`, which fails if the target exists. So a key file is never
//! overwritten, and a concurrent reader never sees a half-written key.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use rand::TryRngCore;
use rand::rngs::OsRng;
use zeroize::Zeroizing;

#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};

use super::MasterKeys;
use crate::kms::KmsError;

fn io_err(action: &str, path: &Path, e: io::Error) -> KmsError {
    KmsError::Io(format!("{action} {}: {e}", path.display()))
}

pub(super) fn key_path(dir: &Path, version: u32) -> PathBuf {
    dir.join(format!("master-v{version}.key"))
}

/// Parses `master-v<N>.key`, accepting only the exact form `key_path` writes.
fn parse_name(name: &str) -> Option<u32> {
    let n = name.strip_prefix("master-v")?.strip_suffix(".key")?;
    let version: u32 = n.parse().ok()?;
    (version > 0 && n == version.to_string()).then_some(version)
}

/// 32 bytes straight from the OS generator.
pub(super) fn random_key() -> Result<Zeroizing<[u8; 32]>, KmsError> {
    let mut key = Zeroizing::new([0u8; 32]);
    OsRng
        .try_fill_bytes(key.as_mut())
        .map_err(|e| KmsError::Io(format!("OS random generator failed: {e}")))?;
    Ok(key)
}

/// Creates `dir` with mode 0700, tightening it if it already exists wider.
pub(super) fn ensure_dir(dir: &Path) -> Result<(), KmsError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(0o700);
    builder
        .create(dir)
        .map_err(|e| io_err("create directory", dir, e))?;
    #[cfg(unix)]
    {
        let mode = fs::metadata(dir)
            .map_err(|e| io_err("stat", dir, e))?
            .permissions()
            .mode();
        if mode & 0o077 != 0
            && let Err(e) = fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        {
            tracing::warn!(path = %dir.display(), error = %e, "master key directory is accessible to other users");
        }
    }
    Ok(())
}

fn read_key(path: &Path) -> Result<Zeroizing<[u8; 32]>, KmsError> {
    let mut file = File::open(path).map_err(|e| io_err("open", path, e))?;
    let meta = file.metadata().map_err(|e| io_err("stat", path, e))?;
    if meta.len() != 32 {
        return Err(KmsError::Io(format!(
            "master key file {} has {} bytes, expected 32",
            path.display(),
            meta.len()
        )));
    }
    #[cfg(unix)]
    if meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!(path = %path.display(), "master key file is readable by other users; chmod 600 it");
    }
    let mut key = Zeroizing::new([0u8; 32]);
    file.read_exact(key.as_mut())
        .map_err(|e| io_err("read", path, e))?;
    Ok(key)
}

/// Whether `dir` holds a file named like a master key.
pub(super) fn has_any(dir: &Path) -> bool {
    fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|entry| entry.file_name().to_str().and_then(parse_name).is_some() && entry.path().is_file())
    })
}

/// Loads every `master-v<N>.key` in `dir`.
pub(super) fn load_all(dir: &Path) -> Result<MasterKeys, KmsError> {
    let mut keys = BTreeMap::new();
    for entry in fs::read_dir(dir).map_err(|e| io_err("list", dir, e))? {
        let entry = entry.map_err(|e| io_err("list", dir, e))?;
        let Some(version) = entry.file_name().to_str().and_then(parse_name) else {
            continue;
        };
        keys.insert(version, read_key(&entry.path())?);
    }
    Ok(keys)
}

fn write_new(path: &Path, key: &[u8; 32]) -> io::Result<()> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut file = opts.open(path)?;
    file.write_all(key)?;
    file.sync_all()
}

/// Creates master key `version`. `Ok(false)` means the file already existed
/// (another process made it); it is left untouched.
pub(super) fn create_version(dir: &Path, version: u32) -> Result<bool, KmsError> {
    let key = random_key()?;
    let path = key_path(dir, version);
    let tmp = dir.join(format!(
        ".master-v{version}.key.tmp-{:016x}",
        rand::random::<u64>()
    ));
    write_new(&tmp, &key).map_err(|e| io_err("write", &tmp, e))?;
    let published = fs::hard_link(&tmp, &path);
    if let Err(e) = fs::remove_file(&tmp) {
        tracing::warn!(path = %tmp.display(), error = %e, "could not remove temporary master key file");
    }
    match published {
        Ok(()) => {
            // Persist the new directory entry, so a crash cannot lose a key
            // that has already wrapped DEKs.
            if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
                tracing::warn!(path = %dir.display(), error = %e, "could not sync master key directory");
            }
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(io_err("create", &path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_name;

    #[test]
    fn only_canonical_key_file_names_parse() {
        assert_eq!(parse_name("master-v1.key"), Some(1));
        assert_eq!(parse_name("master-v42.key"), Some(42));
        for bad in [
            "master-v0.key",
            "master-v01.key",
            "master-v+1.key",
            "master-v1.key.tmp",
            ".master-v1.key.tmp-ab",
        ] {
            assert_eq!(parse_name(bad), None, "{bad}");
        }
    }
}
