//! The local, fsync'd spool for usage events NATS could not take. Records
//! are length-prefixed protobuf in numbered segment files under
//! `<data dir>/spool/`; the oldest segment is replayed first and deleted only
//! once every record in it is acknowledged, so a crash replays (JetStream
//! dedupes on the event id, the ledger's primary key does the rest).

use std::{
    fs::{self, File, OpenOptions},
    io::{self, BufReader, Read, Write},
    path::{Path, PathBuf},
};

pub(crate) struct Spool {
    dir: PathBuf,
    writer: Option<(u64, File)>,
    pub(crate) bytes: u64,
    max_bytes: u64,
}

impl Spool {
    pub(crate) fn open(dir: &Path, max_bytes: u64) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let bytes = segments(dir)?
            .iter()
            .map(|(_, p)| fs::metadata(p).map_or(0, |m| m.len()))
            .sum();
        Ok(Self {
            dir: dir.to_owned(),
            writer: None,
            bytes,
            max_bytes,
        })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    /// Appends records and fsyncs once. Returns how many did not fit.
    pub(crate) fn append(&mut self, records: &[Vec<u8>]) -> io::Result<usize> {
        let mut refused = 0;
        let mut buf = Vec::new();
        for r in records {
            if self.bytes + (buf.len() + 4 + r.len()) as u64 > self.max_bytes {
                refused += 1;
                continue;
            }
            buf.extend_from_slice(&(r.len() as u32).to_be_bytes());
            buf.extend_from_slice(r);
        }
        if buf.is_empty() {
            return Ok(refused);
        }
        let file = match &mut self.writer {
            Some((_, f)) => f,
            None => {
                let next = segments(&self.dir)?.last().map_or(1, |(n, _)| n + 1);
                let file = OpenOptions::new()
                    .create_new(true)
                    .append(true)
                    .open(segment_path(&self.dir, next))?;
                &mut self.writer.insert((next, file)).1
            }
        };
        file.write_all(&buf)?;
        file.sync_data()?;
        self.bytes += buf.len() as u64;
        Ok(refused)
    }

    /// The oldest segment's records. The active segment is closed first, so
    /// new records go to a fresh one while this one is replayed.
    pub(crate) fn oldest(&mut self) -> io::Result<Option<(PathBuf, Vec<Vec<u8>>)>> {
        let Some((n, path)) = segments(&self.dir)?.into_iter().next() else {
            return Ok(None);
        };
        if self.writer.as_ref().is_some_and(|(w, _)| *w == n) {
            self.writer = None;
        }
        let mut reader = BufReader::new(File::open(&path)?);
        let mut records = Vec::new();
        let mut len = [0u8; 4];
        loop {
            match reader.read_exact(&mut len) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(e),
            }
            let mut record = vec![0; u32::from_be_bytes(len) as usize];
            // A torn final record (crash mid-write) was never acknowledged
            // to anyone; stop there.
            if reader.read_exact(&mut record).is_err() {
                break;
            }
            records.push(record);
        }
        Ok(Some((path, records)))
    }

    pub(crate) fn remove(&mut self, path: &Path) -> io::Result<()> {
        let len = fs::metadata(path).map_or(0, |m| m.len());
        fs::remove_file(path)?;
        self.bytes = self.bytes.saturating_sub(len);
        Ok(())
    }
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
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn records_come_back_in_order_across_segments_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), 1 << 20).unwrap();
        spool.append(&[b"a".to_vec(), b"bb".to_vec()]).unwrap();
        let (first, records) = spool.oldest().unwrap().unwrap();
        assert_eq!(records, vec![b"a".to_vec(), b"bb".to_vec()]);
        spool.append(&[b"c".to_vec()]).unwrap();
        spool.remove(&first).unwrap();
        drop(spool);
        let mut reopened = Spool::open(dir.path(), 1 << 20).unwrap();
        assert!(!reopened.is_empty());
        let (second, records) = reopened.oldest().unwrap().unwrap();
        assert_eq!(records, vec![b"c".to_vec()]);
        reopened.remove(&second).unwrap();
        assert!(reopened.is_empty() && reopened.oldest().unwrap().is_none());
    }

    #[test]
    fn a_full_spool_refuses_and_says_how_many() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), 10).unwrap();
        assert_eq!(spool.append(&[vec![0; 4], vec![0; 4]]).unwrap(), 1);
    }
}
