//! Reads one segment as a stream of records, a batch at a time, so replay
//! never holds a whole segment in memory. A bad span (torn tail, corrupt
//! record) is copied to the quarantine directory and skipped: framed
//! segments resume at the next record whose magic, length and CRC check
//! out, so no valid record before or after the damage is lost.

use std::{
    fs::File,
    io::{self, BufReader, Read, Seek, SeekFrom},
    path::{Path, PathBuf},
};

use super::{
    quarantine,
    record::{self, FILE_MAGIC, Fault, Layout, RECORD_MAGIC},
};

pub(crate) struct SegmentReader {
    path: PathBuf,
    quarantine_dir: PathBuf,
    file: BufReader<File>,
    layout: Layout,
    /// Where the next record starts.
    offset: u64,
    len: u64,
    done: bool,
}

enum Read1 {
    Record(Vec<u8>),
    End,
    Bad(Fault),
}

impl SegmentReader {
    pub(crate) fn open(path: &Path, quarantine_dir: &Path) -> io::Result<Self> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        let mut file = BufReader::new(file);
        let mut head = Vec::with_capacity(FILE_MAGIC.len());
        (&mut file).take(FILE_MAGIC.len() as u64).read_to_end(&mut head)?;
        // A segment whose header was cut short (a crash as it was created)
        // holds nothing: read it as framed and empty.
        let (layout, offset) = if FILE_MAGIC.starts_with(&head) {
            (Layout::Framed, head.len() as u64)
        } else {
            file.seek(SeekFrom::Start(0))?;
            (Layout::Legacy, 0)
        };
        Ok(Self {
            path: path.to_owned(),
            quarantine_dir: quarantine_dir.to_owned(),
            file,
            layout,
            offset,
            len,
            done: false,
        })
    }

    /// Up to `max` records; an empty batch means the segment is done.
    pub(crate) fn next_batch(&mut self, max: usize) -> io::Result<Vec<Vec<u8>>> {
        let mut batch = Vec::new();
        while batch.len() < max && !self.done {
            match self.read_one()? {
                Read1::Record(r) => batch.push(r),
                Read1::End => self.done = true,
                Read1::Bad(fault) => {
                    if let Some(r) = self.skip_bad(fault)? {
                        batch.push(r);
                    }
                }
            }
        }
        Ok(batch)
    }

    fn read_one(&mut self) -> io::Result<Read1> {
        if self.offset >= self.len {
            return Ok(Read1::End);
        }
        let header_len = record::header_len(self.layout);
        let mut header = [0u8; record::HEADER_LEN];
        if !read_fully(&mut self.file, &mut header[..header_len])? {
            return Ok(Read1::Bad(Fault::Torn));
        }
        let header = match record::header(self.layout, &header) {
            Ok(h) => h,
            Err(fault) => return Ok(Read1::Bad(fault)),
        };
        let mut payload = vec![0; header.len];
        if !read_fully(&mut self.file, &mut payload)? {
            return Ok(Read1::Bad(Fault::Torn));
        }
        if let Err(fault) = record::verify(&header, &payload) {
            return Ok(Read1::Bad(fault));
        }
        self.offset += (header_len + header.len) as u64;
        Ok(Read1::Record(payload))
    }

    /// Quarantines the bad span from `offset` and returns the next good
    /// record after it, if any.
    fn skip_bad(&mut self, fault: Fault) -> io::Result<Option<Vec<u8>>> {
        let start = self.offset;
        let mut from = start + 1;
        let resumed = loop {
            if self.layout == Layout::Legacy {
                break None; // no magic to resynchronise on
            }
            let Some(at) = find_magic(&mut self.file, from, self.len)? else {
                break None;
            };
            self.file.seek(SeekFrom::Start(at))?;
            self.offset = at;
            if let Read1::Record(r) = self.read_one()? {
                break Some((at, r));
            }
            from = at + 1;
        };
        let end = resumed.as_ref().map_or(self.len, |(at, _)| *at);
        quarantine::keep(&self.path, &self.quarantine_dir, start, end, fault)?;
        match resumed {
            Some((_, r)) => Ok(Some(r)),
            None => {
                self.done = true;
                Ok(None)
            }
        }
    }
}

/// Fills `buf`; `false` when the file ends first.
fn read_fully(file: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    match file.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

/// The offset of the next [`RECORD_MAGIC`] at or after `from`, read in
/// fixed-size chunks.
fn find_magic(file: &mut BufReader<File>, from: u64, len: u64) -> io::Result<Option<u64>> {
    const CHUNK: usize = 64 * 1024;
    let overlap = RECORD_MAGIC.len() - 1;
    let mut buf = vec![0u8; CHUNK];
    let mut pos = from;
    while pos + RECORD_MAGIC.len() as u64 <= len {
        file.seek(SeekFrom::Start(pos))?;
        let want = CHUNK.min((len - pos) as usize);
        if !read_fully(file, &mut buf[..want])? {
            return Ok(None);
        }
        if let Some(i) = buf[..want]
            .windows(RECORD_MAGIC.len())
            .position(|w| w == RECORD_MAGIC)
        {
            return Ok(Some(pos + i as u64));
        }
        if want < CHUNK {
            return Ok(None);
        }
        pos += (CHUNK - overlap) as u64;
    }
    Ok(None)
}
