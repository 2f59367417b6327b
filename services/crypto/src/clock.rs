//! Where the DEK cache reads the time. The real clock by default; tests use
//! a manual one and advance it instead of sleeping.
//!
//! `keyway-gateway` has a twin that also reads wall-clock time: the two
//! crates share no dependency, and a shared crate for a dozen lines would
//! cost more than it saves.

use std::{
    fmt,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

/// Cheap to clone; clones of a manual clock share its time.
#[derive(Clone, Default)]
pub struct Clock(Option<Arc<Mutex<Instant>>>);

impl Clock {
    /// The real clock: no allocation, and each reading is one branch and a
    /// plain `Instant::now()` call.
    pub fn system() -> Self {
        Self(None)
    }

    /// A clock that starts at the current time and then moves only when
    /// [`Clock::advance`] is called.
    pub fn manual() -> Self {
        Self(Some(Arc::new(Mutex::new(Instant::now()))))
    }

    /// Moves a manual clock forward; the real clock cannot be moved, so
    /// this does nothing to it.
    pub fn advance(&self, by: Duration) {
        if let Some(now) = &self.0 {
            *lock(now) += by;
        }
    }

    #[inline]
    pub fn now(&self) -> Instant {
        match &self.0 {
            None => Instant::now(),
            Some(now) => *lock(now),
        }
    }
}

fn lock(now: &Mutex<Instant>) -> std::sync::MutexGuard<'_, Instant> {
    // An `Instant` cannot be left half-written, so a poisoned lock still
    // holds a valid time.
    now.lock().unwrap_or_else(PoisonError::into_inner)
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
