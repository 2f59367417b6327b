//! Front threads: `KEYWAY_FRONT_THREADS` threads, each running a Tokio
//! runtime of its own (a current-thread one), among which the accept loop
//! shares out the connections.
//!
//! Why: on the main (work-stealing) runtime, a request woken by its socket
//! on one worker often wakes another worker too, to steal it. At a paced
//! 1,000 requests/s on two cores that was 1.25 of a request's 3 wake-ups,
//! and on a VM a wake-up costs more than the request's own work
//! (docs/benchmarks.md). On a front, a connection's requests, and the
//! upstream connections they use (`keyway_gateway::use_pool`), stay on one
//! thread. Background work (NATS, the outbox, the projector) stays on the
//! main runtime.
//!
//! A front's runtime lives as long as the stack, not only as long as its
//! connections: what a request opened on it (a pooled Postgres connection,
//! a task that settles a limit) is driven by it until the stack stops.
//!
//! With one front per CPU the process may run on, each front is pinned to
//! its own CPU (`KEYWAY_PIN_FRONTS`, on by default). A front's connections
//! wait for it alone, and unpinned, the scheduler may stack two fronts on
//! one CPU for a while: pinned, Keyway served 13% more requests a second
//! at saturation, at the same CPU a request (docs/scaling.md).
//! Fewer fronts than CPUs (a CPU quota narrower than the CPU set, or a
//! count set by hand) are left to the scheduler, which may use every CPU.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use tokio::{net::TcpStream, sync::mpsc};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::serve::Handler;

type Accepted = (std::net::TcpStream, SocketAddr);

pub(crate) struct Fronts {
    fronts: Vec<Front>,
    /// Fronts stop taking connections and let theirs finish.
    closing: CancellationToken,
    /// Fronts stop their runtimes, dropping whatever is still open.
    stop: CancellationToken,
}

struct Front {
    accepted: mpsc::UnboundedSender<Accepted>,
    /// Connections open on this front, to hand the next to the least busy.
    open: Arc<AtomicUsize>,
    /// Cancelled once the front's connections have all finished.
    drained: CancellationToken,
}

impl Fronts {
    /// Starts `count` front threads, pinned one to a CPU when `pin` allows
    /// it ([`cpus_to_pin`]): `None` for 0, or if none starts (then the main
    /// runtime serves, as with 0).
    pub(crate) fn start(count: usize, pin: bool, handler: &Arc<Handler>) -> Option<Self> {
        let (closing, stop) = (CancellationToken::new(), CancellationToken::new());
        let cpus = cpus_to_pin(count, pin, allowed_cpus());
        let cpu = |index: usize| cpus.as_ref().map(|cpus| cpus[index]);
        let fronts: Vec<Front> = (0..count)
            .map_while(|index| Front::start(index, cpu(index), handler.clone(), &closing, &stop))
            .collect();
        let pinned_to = cpus.unwrap_or_default();
        tracing::info!(fronts = fronts.len(), ?pinned_to, "front threads started");
        (!fronts.is_empty()).then_some(Self {
            fronts,
            closing,
            stop,
        })
    }

    /// Hands a connection to the front with the fewest open connections.
    pub(crate) fn hand_over(&self, tcp: TcpStream, peer: SocketAddr) {
        let Some(front) = self.fronts.iter().min_by_key(|f| f.open.load(Ordering::Relaxed)) else {
            return;
        };
        // Out of this runtime's reactor, into the front's.
        match tcp.into_std() {
            Ok(tcp) => {
                front.open.fetch_add(1, Ordering::Relaxed);
                if front.accepted.send((tcp, peer)).is_err() {
                    front.open.fetch_sub(1, Ordering::Relaxed);
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot hand a connection to a front thread"),
        }
    }

    /// Lets the fronts' connections finish, and returns once they have.
    pub(crate) async fn drain(&self) {
        self.closing.cancel();
        for front in &self.fronts {
            tokio::select! {
                () = front.drained.cancelled() => {}
                () = self.stop.cancelled() => return,
            }
        }
    }

    /// Stops the front threads; what is still open on them is dropped.
    pub(crate) fn stop(&self) {
        self.stop.cancel();
    }
}

impl Drop for Fronts {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Front {
    fn start(
        index: usize,
        cpu: Option<usize>,
        handler: Arc<Handler>,
        closing: &CancellationToken,
        stop: &CancellationToken,
    ) -> Option<Self> {
        let (accepted, incoming) = mpsc::unbounded_channel::<Accepted>();
        let (open, drained) = (Arc::new(AtomicUsize::new(0)), CancellationToken::new());
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime,
            Err(e) => {
                tracing::error!(error = %e, "cannot start a front thread's runtime");
                return None;
            }
        };
        let serving = Serving {
            handler,
            incoming,
            open: open.clone(),
            connections: TaskTracker::new(),
        };
        let (closing, stop, done) = (closing.clone(), stop.clone(), drained.clone());
        // The thread says when it runs, named and pinned, so that the
        // start-up line ("front threads started") is true when written.
        let (ready, running) = std::sync::mpsc::sync_channel::<()>(1);
        let run = move || {
            // Threads this one starts (a blocking task's) inherit its CPU:
            // they serve its connections.
            if let Some(cpu) = cpu
                && let Err(e) = pin_to(cpu)
            {
                tracing::warn!(cpu, error = %e, "cannot pin a front thread to its CPU; it runs unpinned");
            }
            // Pool 0 is the main runtime's.
            keyway_gateway::use_pool(index + 1);
            let _ = ready.send(());
            runtime.block_on(async move {
                tokio::select! {
                    () = serving.run(closing, done) => stop.cancelled().await,
                    () = stop.cancelled() => {}
                }
            });
            // Without waiting for a blocking task (a DNS lookup) to end.
            runtime.shutdown_background();
        };
        match std::thread::Builder::new()
            .name(format!("keyway-front-{index}"))
            .spawn(run)
        {
            Ok(_) => {
                // An error here is a thread that ended before it said so.
                let _ = running.recv();
                Some(Self {
                    accepted,
                    open,
                    drained,
                })
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot start a front thread");
                None
            }
        }
    }
}

/// A front's side: takes connections until `closing`, then lets them end.
struct Serving {
    handler: Arc<Handler>,
    incoming: mpsc::UnboundedReceiver<Accepted>,
    open: Arc<AtomicUsize>,
    connections: TaskTracker,
}

impl Serving {
    async fn run(mut self, closing: CancellationToken, drained: CancellationToken) {
        loop {
            tokio::select! {
                biased;
                Some(accepted) = self.incoming.recv() => self.take(accepted),
                () = closing.cancelled() => break,
            }
        }
        // Those handed over before the accept loop stopped are served too.
        self.incoming.close();
        while let Ok(accepted) = self.incoming.try_recv() {
            self.take(accepted);
        }
        self.connections.close();
        self.connections.wait().await;
        drained.cancel();
    }

    fn take(&self, (tcp, peer): Accepted) {
        let tcp = match TcpStream::from_std(tcp) {
            Ok(tcp) => tcp,
            Err(e) => {
                self.open.fetch_sub(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "a front thread cannot take a connection");
                return;
            }
        };
        let (handler, open) = (self.handler.clone(), self.open.clone());
        self.connections.spawn(async move {
            handler.connection(tcp, peer).await;
            open.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

/// The CPU of each front when they are pinned: the CPUs this process may
/// run on (`allowed`, its affinity mask), in order, when `pin` is on and
/// there are exactly `count` of them. Otherwise `None`, and the scheduler
/// places the fronts: with fewer fronts than CPUs, pinning would leave
/// some CPUs to other work alone, and with more, fronts would share.
fn cpus_to_pin(count: usize, pin: bool, allowed: Option<Vec<usize>>) -> Option<Vec<usize>> {
    allowed.filter(|cpus| pin && count > 0 && cpus.len() == count)
}

/// The CPUs the calling thread may run on: the process's, as its CPU set
/// or `taskset` gave them.
#[cfg(target_os = "linux")]
fn allowed_cpus() -> Option<Vec<usize>> {
    use rustix::thread::{CpuSet, sched_getaffinity};
    let set = sched_getaffinity(None).ok()?;
    Some((0..CpuSet::MAX_CPU).filter(|&cpu| set.is_set(cpu)).collect())
}

/// Elsewhere nothing is pinned.
#[cfg(not(target_os = "linux"))]
fn allowed_cpus() -> Option<Vec<usize>> {
    None
}

/// Confines the calling thread to `cpu`.
#[cfg(target_os = "linux")]
fn pin_to(cpu: usize) -> std::io::Result<()> {
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu);
    Ok(rustix::thread::sched_setaffinity(None, &set)?)
}

#[cfg(not(target_os = "linux"))]
fn pin_to(_cpu: usize) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fronts_are_pinned_only_one_to_each_allowed_cpu() {
        let cpus = |ids: &[usize]| Some(ids.to_vec());
        assert_eq!(cpus_to_pin(2, true, cpus(&[0, 1])), cpus(&[0, 1]));
        // A process confined to CPUs 4 and 6 pins to those.
        assert_eq!(cpus_to_pin(2, true, cpus(&[4, 6])), cpus(&[4, 6]));
        assert_eq!(cpus_to_pin(2, false, cpus(&[0, 1])), None);
        // Fewer fronts than CPUs (a quota, or a count set by hand), or more.
        assert_eq!(cpus_to_pin(2, true, cpus(&[0, 1, 2, 3])), None);
        assert_eq!(cpus_to_pin(3, true, cpus(&[0, 1])), None);
        assert_eq!(cpus_to_pin(0, true, cpus(&[])), None);
        // The mask could not be read.
        assert_eq!(cpus_to_pin(2, true, None), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_thread_may_run_on_some_cpu() {
        assert!(allowed_cpus().is_some_and(|cpus| !cpus.is_empty()));
    }
}
