//! The local, fsync'd spool for usage events NATS could not take. Records
//! (one encoded `UsageEvent` each, framed with a length cap and a CRC: see
//! [`record`]) go to numbered segment files under `<data dir>/spool/`,
//! which rotate past [`SEGMENT_BYTES`]. The oldest segment is replayed first,
//! a batch at a time, and deleted only once every record in it is
//! acknowledged, so a crash replays (JetStream dedupes on the event id, the
//! ledger's primary key does the rest). A torn or corrupt span is moved to
//! `quarantine/` (see [`quarantine`]), never crashing replay and never
//! costing the valid records around it.
//!
//! Writes, fsyncs and reads run on Tokio's blocking pool, never on a
//! runtime worker that serves responses.

mod quarantine;
mod reader;
pub(crate) mod record;

use std::{
    fs::{self, File, OpenOptions},
    io::{self, Write},
    path::{Path, PathBuf},
};

pub use quarantine::{Quarantined, list as quarantined};
use reader::SegmentReader;

/// Segments rotate once past this size, so replay works on files of a
/// bounded size however long NATS stays away.
pub(crate) const SEGMENT_BYTES: u64 = 8 << 20;

pub(crate) struct Spool {
    dir: PathBuf,
    writer: Option<Writer>,
    next_segment: u64,
    pub(crate) bytes: u64,
    max_bytes: u64,
    segment_bytes: u64,
}

struct Writer {
    n: u64,
    file: File,
    len: u64,
}

impl Spool {
    pub(crate) fn open(dir: &Path, max_bytes: u64) -> io::Result<Self> {
        Self::open_with(dir, max_bytes, SEGMENT_BYTES)
    }

    pub(crate) fn open_with(dir: &Path, max_bytes: u64, segment_bytes: u64) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let found = segments(dir)?;
        let bytes = found
            .iter()
            .map(|(_, p)| fs::metadata(p).map_or(0, |m| m.len()))
            .sum();
        Ok(Self {
            dir: dir.to_owned(),
            writer: None,
            next_segment: found.last().map_or(1, |(n, _)| n + 1),
            bytes,
            max_bytes,
            segment_bytes,
        })
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    /// Appends records and fsyncs once, on the blocking pool. Returns how
    /// many did not fit (the spool's bound, or a record over the cap).
    pub(crate) async fn append(&mut self, records: &[Vec<u8>]) -> io::Result<usize> {
        let mut refused = 0;
        let mut buf = Vec::new();
        for r in records {
            let framed = (buf.len() + record::HEADER_LEN + r.len()) as u64;
            if self.bytes + framed > self.max_bytes || !record::encode(r, &mut buf) {
                refused += 1;
            }
        }
        if buf.is_empty() {
            return Ok(refused);
        }
        let fresh = FILE_HEADER_LEN;
        let rotate = self
            .writer
            .as_ref()
            .is_none_or(|w| w.len > fresh && w.len + buf.len() as u64 > self.segment_bytes);
        let (writer, create) = if rotate {
            self.writer = None;
            self.next_segment += 1;
            (None, Some((self.dir.clone(), self.next_segment - 1)))
        } else {
            (self.writer.take(), None)
        };
        let (writer, added) = tokio::task::spawn_blocking(move || write(writer, create, &buf))
            .await
            .map_err(io::Error::other)??;
        self.writer = Some(writer);
        self.bytes += added;
        Ok(refused)
    }

    /// The oldest segment, to be read a batch at a time. The active segment
    /// is closed first, so new records go to a fresh one while this one is
    /// replayed.
    pub(crate) async fn oldest(&mut self) -> io::Result<Option<(PathBuf, Records)>> {
        let dir = self.dir.clone();
        let opened = tokio::task::spawn_blocking(move || -> io::Result<_> {
            let Some((n, path)) = segments(&dir)?.into_iter().next() else {
                return Ok(None);
            };
            let reader = SegmentReader::open(&path, &quarantine::dir(&dir))?;
            Ok(Some((n, path, reader)))
        })
        .await
        .map_err(io::Error::other)??;
        let Some((n, path, reader)) = opened else {
            return Ok(None);
        };
        if self.writer.as_ref().is_some_and(|w| w.n == n) {
            self.writer = None;
        }
        Ok(Some((path, Records { reader: Some(reader) })))
    }

    pub(crate) fn remove(&mut self, path: &Path) -> io::Result<()> {
        let len = fs::metadata(path).map_or(0, |m| m.len());
        fs::remove_file(path)?;
        self.bytes = self.bytes.saturating_sub(len);
        Ok(())
    }
}

/// One segment's records, streamed.
pub(crate) struct Records {
    reader: Option<SegmentReader>,
}

impl Records {
    /// Up to `max` records, read on the blocking pool; empty at the end.
    pub(crate) async fn next_batch(&mut self, max: usize) -> io::Result<Vec<Vec<u8>>> {
        let Some(mut reader) = self.reader.take() else {
            return Ok(Vec::new());
        };
        let (reader, batch) = tokio::task::spawn_blocking(move || {
            let batch = reader.next_batch(max);
            (reader, batch)
        })
        .await
        .map_err(io::Error::other)?;
        self.reader = Some(reader);
        batch
    }
}

const FILE_HEADER_LEN: u64 = record::FILE_MAGIC.len() as u64;

/// Writes `buf` to the current segment, or to a new one numbered `create.1`;
/// returns the writer and the bytes the spool grew by.
fn write(writer: Option<Writer>, create: Option<(PathBuf, u64)>, buf: &[u8]) -> io::Result<(Writer, u64)> {
    let (mut writer, mut added) = match (writer, create) {
        (Some(w), _) => (w, 0),
        (None, Some((dir, n))) => (new_segment(&dir, n)?, FILE_HEADER_LEN),
        (None, None) => return Err(io::Error::other("no spool segment to write to")),
    };
    writer.file.write_all(buf)?;
    writer.file.sync_data()?;
    writer.len += buf.len() as u64;
    added += buf.len() as u64;
    Ok((writer, added))
}

fn new_segment(dir: &Path, n: u64) -> io::Result<Writer> {
    let mut file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(segment_path(dir, n))?;
    file.write_all(record::FILE_MAGIC)?;
    // The new name must survive a crash too.
    File::open(dir)?.sync_all()?;
    Ok(Writer {
        n,
        file,
        len: FILE_HEADER_LEN,
    })
}

fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:012}.spool"))
}

fn segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut found: Vec<(u64, PathBuf)> = fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let n = name.strip_suffix(".spool")?.parse().ok()?;
            Some((n, e.path()))
        })
        .collect();
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
