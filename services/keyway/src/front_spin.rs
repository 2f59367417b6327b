//! A front thread spins for a moment before it sleeps (experiment).
//!
//! At a paced rate each request puts a front to sleep twice (waiting for
//! the client, then for the upstream), and in a VM a sleep and a wake-up
//! cost more than the request's own work. Before the runtime parks, the
//! front polls its own epoll instance for up to `budget`, yielding the CPU
//! to anything else runnable between polls; an event that arrives in that
//! window is then taken without a sleep.

use std::{
    os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd},
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};

use rustix::event::{PollFd, PollFlags, Timespec, poll};

/// A handle of its own on the epoll instance of the runtime this is called
/// on: the one that a socket just registered with the runtime shows up in
/// (`tfd:` in its `/proc/self/fdinfo`). Taken through a pidfd
/// (`pidfd_getfd`, Linux 5.6) because a bare fd number cannot be borrowed
/// without `unsafe`.
pub(crate) fn runtime_epoll() -> Option<OwnedFd> {
    use std::os::fd::AsRawFd;
    let (probe, _peer) = tokio::net::UnixStream::pair().ok()?;
    let wanted = format!("tfd: {:>8} ", probe.as_raw_fd());
    let epoll: RawFd = std::fs::read_dir("/proc/self/fd")
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| std::fs::read_link(e.path()).is_ok_and(|t| t.as_os_str() == "anon_inode:[eventpoll]"))
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .find(|fd: &RawFd| {
            std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}"))
                .is_ok_and(|info| info.contains(&wanted))
        })?;
    let me =
        rustix::process::pidfd_open(rustix::process::getpid(), rustix::process::PidfdFlags::empty()).ok()?;
    rustix::process::pidfd_getfd(&me, epoll, rustix::process::PidfdGetfdFlags::empty()).ok()
}

/// The hook a front's runtime runs before it parks.
pub(crate) fn before_park(
    epoll: Arc<OnceLock<OwnedFd>>,
    budget: Duration,
) -> impl Fn() + Send + Sync + 'static {
    move || {
        if let Some(fd) = epoll.get() {
            spin(fd.as_fd(), budget);
        }
    }
}

fn spin(epoll: BorrowedFd<'_>, budget: Duration) {
    let start = Instant::now();
    let now = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let mut fds = [PollFd::from_borrowed_fd(epoll, PollFlags::IN)];
    loop {
        if poll(&mut fds, Some(&now)).is_ok_and(|n| n > 0) || start.elapsed() >= budget {
            return;
        }
        rustix::thread::sched_yield();
    }
}
