//! The spool shared by the publishing task and `record`'s overflow. The
//! spool does its file reads, writes and fsyncs on the blocking pool; this
//! serialises access to it and writes overflowing events from one task at a
//! time, so a burst costs few fsyncs and `record` never waits.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
};

use super::{
    spool::{Records, Spool},
    stats::UsageStats,
};

#[derive(Clone)]
pub(super) struct Spooler {
    spool: Arc<tokio::sync::Mutex<Spool>>,
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
            spool: Arc::new(tokio::sync::Mutex::new(spool)),
            stats,
            overflow: Arc::default(),
            writing: Arc::default(),
        })
    }

    /// No lock and no file I/O: the spool's size is mirrored in the stats.
    pub(super) fn is_empty(&self) -> bool {
        self.stats.spool_bytes.load(Ordering::Relaxed) == 0
    }

    /// Appends records with one fsync.
    pub(super) async fn append(&self, records: Vec<Vec<u8>>) {
        if records.is_empty() {
            return;
        }
        let n = records.len();
        let mut spool = self.spool.lock().await;
        match spool.append(&records).await {
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
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn(async move { this.drain_overflow().await })),
            // Outside a runtime (a meter dropped at exit): a thread of its own.
            Err(_) => drop(std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    rt.block_on(this.drain_overflow());
                }
            })),
        }
    }

    async fn drain_overflow(&self) {
        loop {
            let records = std::mem::take(&mut *self.overflow.lock().unwrap_or_else(PoisonError::into_inner));
            self.append(records).await;
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

    /// The oldest segment, to be read a batch at a time.
    pub(super) async fn oldest(&self) -> std::io::Result<Option<(PathBuf, Records)>> {
        self.spool.lock().await.oldest().await
    }

    pub(super) async fn remove(&self, path: PathBuf) -> std::io::Result<()> {
        let mut spool = self.spool.lock().await;
        spool.remove(&path)?;
        self.stats.spool_bytes.store(spool.bytes, Ordering::Relaxed);
        Ok(())
    }
}
