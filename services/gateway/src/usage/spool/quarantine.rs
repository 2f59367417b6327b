//! Bad spans of spool segments, moved aside rather than dropped: each is
//! copied to `<spool>/quarantine/<segment>.<start>-<end>.<fault>` (byte
//! offsets in the segment) before the segment is deleted, so an operator can
//! inspect it. `/readyz` lists them until they are removed by hand.

use std::{
    fs::{self, File},
    io::{self, Read, Seek, SeekFrom},
    path::{Path, PathBuf},
};

use super::record::Fault;

/// The quarantine directory of a spool directory.
pub(crate) fn dir(spool_dir: &Path) -> PathBuf {
    spool_dir.join("quarantine")
}

/// Copies bytes `start..end` of `segment` aside. Replaying a segment again
/// (after an interrupted replay) finds the same span and keeps one copy.
pub(crate) fn keep(segment: &Path, quarantine: &Path, start: u64, end: u64, fault: Fault) -> io::Result<()> {
    let stem = segment
        .file_stem()
        .map_or_else(|| "segment".into(), |s| s.to_string_lossy());
    let target = quarantine.join(format!("{stem}.{start}-{end}.{}", fault.as_str()));
    tracing::error!(
        segment = %segment.display(),
        start,
        end,
        fault = fault.as_str(),
        moved_to = %target.display(),
        "a usage spool segment holds a bad span; it is quarantined and the valid records around it are replayed"
    );
    if target.exists() {
        return Ok(());
    }
    fs::create_dir_all(quarantine)?;
    let mut source = File::open(segment)?;
    source.seek(SeekFrom::Start(start))?;
    let partial = target.with_extension("partial");
    let mut out = File::create(&partial)?;
    io::copy(&mut source.take(end.saturating_sub(start)), &mut out)?;
    out.sync_all()?;
    fs::rename(&partial, &target)
}

/// One quarantined span, as `/readyz` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantined {
    /// `<segment>.<start>-<end>.<torn|corrupt>`.
    pub file: String,
    pub bytes: u64,
}

/// Every quarantined span under `spool_dir`, by name; none when the
/// directory does not exist.
pub fn list(spool_dir: &Path) -> io::Result<Vec<Quarantined>> {
    let entries = match fs::read_dir(dir(spool_dir)) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut found: Vec<Quarantined> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let file = e.file_name().into_string().ok()?;
            (!file.ends_with(".partial")).then_some(())?;
            Some(Quarantined {
                bytes: e.metadata().ok()?.len(),
                file,
            })
        })
        .collect();
    found.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(found)
}
