//! The spool shared by the publishing task and `record`'s overflow, with
//! every spool call (file reads, writes and fsyncs) run off the async
//! runtime on the blocking pool. Overflowing events are gathered and written
//! by one blocking task at a time, so a burst costs few fsyncs.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
};

use super::{spool::Spool, stats::UsageStats};

#[derive(Clone)]
pub(super) struct Spooler {
    spool: Arc<Mutex<Spool>>,
    stats: Arc<UsageStats>,
    /// Events `record` could not queue, waiting for the overflow writer.
    overflow: Arc<Mutex<Vec<Vec<u8>>>>,
    writing: Arc<AtomicBool>,
}

impl Spooler {
    pub(super) fn open(dir: &Path, max_bytes: u64, stats: Arc<UsageStats>) -> std::io::Result<Self> {
        let spool = Spool::open(dir, max_bytes)?;
        stats.spool_bytes.store(spool.bytes, Ordering::Relaxed);
        Ok(Self {
            spool: Arc::new(Mutex::new(spool)),
            stats,
            overflow: Arc::default(),
            writing: Arc::default(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Spool> {
        self.spool.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// No file I/O: the spool keeps its size in memory.
    pub(super) fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Appends records (one fsync) on the blocking pool.
    pub(super) async fn append(&self, records: Vec<Vec<u8>>) {
        if records.is_empty() {
            return;
        }
        let this = self.clone();
        let n = records.len() as u64;
        if tokio::task::spawn_blocking(move || this.append_now(&records))
            .await
            .is_err()
        {
            self.stats.dropped.fetch_add(n, Ordering::Relaxed);
            tracing::error!(events = n, "the usage spool writer panicked; events were dropped");
        }
    }

    fn append_now(&self, records: &[Vec<u8>]) {
        let n = records.len();
        let mut spool = self.lock();
        match spool.append(records) {
            Ok(refused) => {
                self.stats
                    .spooled
                    .fetch_add((n - refused) as u64, Ordering::Relaxed);
                if refused > 0 {
                    self.stats.dropped.fetch_add(refused as u64, Ordering::Relaxed);
                    tracing::error!(
                        refused,
                        "usage spool is full (KEYWAY_SPOOL_MAX_BYTES); events were dropped"
                    );
                }
            }
            Err(e) => {
                self.stats.dropped.fetch_add(n as u64, Ordering::Relaxed);
                tracing::error!(error = %e, events = n, "cannot write the usage spool; events were dropped");
            }
        }
        self.stats.spool_bytes.store(spool.bytes, Ordering::Relaxed);
    }

    /// From `record`, when the queue is full: never blocks the caller. The
    /// record waits in `overflow` for the one writer task, which takes
    /// everything gathered so far at each turn.
    pub(super) fn overflow(&self, record: Vec<u8>) {
        self.overflow
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(record);
        self.stats.overflowed.fetch_add(1, Ordering::Relaxed);
        if self.writing.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = self.clone();
        let write = move || this.drain_overflow();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(write)),
            Err(_) => write(),
        }
    }

    fn drain_overflow(&self) {
        loop {
            let records = std::mem::take(&mut *self.overflow.lock().unwrap_or_else(PoisonError::into_inner));
            if !records.is_empty() {
                self.append_now(&records);
            }
            self.writing.store(false, Ordering::Release);
            // A record pushed after the take but before the flag was cleared
            // saw a writer still running: take the turn for it.
            let more = !self
                .overflow
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_empty();
            if !more || self.writing.swap(true, Ordering::AcqRel) {
                return;
            }
        }
    }

    /// The oldest segment's records, read on the blocking pool.
    pub(super) async fn oldest(&self) -> std::io::Result<Option<(PathBuf, Vec<Vec<u8>>)>> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.lock().oldest())
            .await
            .map_err(std::io::Error::other)?
    }

    pub(super) async fn remove(&self, path: PathBuf) -> std::io::Result<()> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut spool = this.lock();
            spool.remove(&path)?;
            this.stats.spool_bytes.store(spool.bytes, Ordering::Relaxed);
            Ok(())
        })
        .await
        .map_err(std::io::Error::other)?
    }
}
