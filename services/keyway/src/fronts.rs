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
    /// Starts `count` front threads: `None` for 0, or if none starts (then
    /// the main runtime serves, as with 0).
    pub(crate) fn start(count: usize, handler: &Arc<Handler>) -> Option<Self> {
        let (closing, stop) = (CancellationToken::new(), CancellationToken::new());
        let fronts: Vec<Front> = (0..count)
            .map_while(|index| Front::start(index, handler.clone(), &closing, &stop))
            .collect();
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
        let run = move || {
            // Pool 0 is the main runtime's.
            keyway_gateway::use_pool(index + 1);
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
            Ok(_) => Some(Self {
                accepted,
                open,
                drained,
            }),
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
