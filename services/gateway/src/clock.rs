//! Where the gateway's time-based logic reads the time: credential cache
//! TTLs, idle rate-limit leases and limit windows. The real clock by
//! default; tests use a manual one and advance it instead of sleeping.
//!
//! `keyway-crypto` has its own, monotonic-only twin for the DEK cache: the
//! two crates share no dependency, and a shared crate for a dozen lines
//! would cost more than it saves.

use std::{
    fmt,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use time::OffsetDateTime;

/// Cheap to clone; clones of a manual clock share its time.
#[derive(Clone, Default)]
pub struct Clock(Option<Arc<Manual>>);

struct Manual {
    start: Instant,
    start_utc: OffsetDateTime,
    elapsed: Mutex<Duration>,
}

impl Clock {
    /// The real clock: no allocation, and each reading is one branch and
    /// the plain `Instant::now()` / `OffsetDateTime::now_utc()` call.
    pub fn system() -> Self {
        Self(None)
    }

    /// A clock that starts at the current time and then moves only when
    /// [`Clock::advance`] is called.
    pub fn manual() -> Self {
        Self(Some(Arc::new(Manual {
            start: Instant::now(),
            start_utc: OffsetDateTime::now_utc(),
            elapsed: Mutex::new(Duration::ZERO),
        })))
    }

    /// Moves a manual clock forward; the real clock cannot be moved, so
    /// this does nothing to it.
    pub fn advance(&self, by: Duration) {
        if let Some(manual) = &self.0 {
            *manual.elapsed() += by;
        }
    }

    #[inline]
    pub fn now(&self) -> Instant {
        match &self.0 {
            None => Instant::now(),
            Some(manual) => manual.start + *manual.elapsed(),
        }
    }

    /// Wall-clock time, for windows tied to the calendar (UTC minutes and
    /// months).
    #[inline]
    pub fn now_utc(&self) -> OffsetDateTime {
        match &self.0 {
            None => OffsetDateTime::now_utc(),
            Some(manual) => manual.start_utc + *manual.elapsed(),
        }
    }
}

impl Manual {
    fn elapsed(&self) -> std::sync::MutexGuard<'_, Duration> {
        // A `Duration` cannot be left half-written, so a poisoned lock
        // still holds a valid time.
        self.elapsed.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Clock::manual"
        } else {
            "Clock::system"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_advanced_and_clones_share_it() {
        let clock = Clock::manual();
        let (t0, u0) = (clock.now(), clock.now_utc());
        std::thread::yield_now();
        assert_eq!((clock.now(), clock.now_utc()), (t0, u0));
        let other = clock.clone();
        other.advance(Duration::from_secs(90));
        assert_eq!(clock.now() - t0, Duration::from_secs(90));
        assert_eq!(clock.now_utc() - u0, time::Duration::seconds(90));

        let system = Clock::system();
        let before = Instant::now();
        system.advance(Duration::from_secs(3600));
        assert!(system.now() - before < Duration::from_secs(3600));
    }
}
