//! The one retry loop: exponential backoff between attempts, stopped at once
//! by the shutdown token, so a worker waiting for NATS or Postgres never
//! holds shutdown up for longer than the attempt in flight.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Doubling delays from `initial` up to `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub const fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            next: initial,
        }
    }

    /// The same delay every time.
    pub const fn constant(delay: Duration) -> Self {
        Self::new(delay, delay)
    }

    /// Back to the first delay, after a success.
    pub fn reset(&mut self) {
        self.next = self.initial;
    }

    /// Sleeps the current delay, then doubles it; `false` means shutdown
    /// came first and the caller should stop.
    pub async fn wait(&mut self, shutdown: &CancellationToken) -> bool {
        pause(shutdown, self.advance()).await
    }

    /// The delay to wait now; the next one is twice as long, up to `max`.
    fn advance(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }
}

/// Sleeps `delay` unless shutdown comes first; `false` means stop.
pub async fn pause(shutdown: &CancellationToken, delay: Duration) -> bool {
    tokio::select! {
        () = shutdown.cancelled() => false,
        () = tokio::time::sleep(delay) => true,
    }
}

/// Runs `attempt` until it succeeds, handing each failure to `on_error` (to
/// log it) and waiting out `backoff` in between. `None` means shutdown came
/// first.
pub async fn until_ok<T, E, Fut>(
    shutdown: &CancellationToken,
    mut backoff: Backoff,
    mut attempt: impl FnMut() -> Fut,
    mut on_error: impl FnMut(E),
) -> Option<T>
where
    Fut: Future<Output = Result<T, E>>,
{
    loop {
        if shutdown.is_cancelled() {
            return None;
        }
        match attempt().await {
            Ok(value) => return Some(value),
            Err(e) => on_error(e),
        }
        if !backoff.wait(shutdown).await {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_reset() {
        let ms = Duration::from_millis;
        let mut backoff = Backoff::new(ms(100), ms(300));
        let delays: Vec<_> = (0..4).map(|_| backoff.advance()).collect();
        assert_eq!(delays, [ms(100), ms(200), ms(300), ms(300)]);
        backoff.reset();
        assert_eq!(backoff.advance(), ms(100));
    }

    #[tokio::test]
    async fn shutdown_stops_the_wait_at_once() {
        let token = CancellationToken::new();
        let mut backoff = Backoff::constant(Duration::from_secs(3600));
        let waiting = backoff.wait(&token);
        token.cancel();
        let stopped = tokio::time::timeout(Duration::from_secs(5), waiting).await;
        assert_eq!(stopped.ok(), Some(false));
    }

    #[tokio::test]
    async fn until_ok_retries_failures_and_stops_on_shutdown() {
        let token = CancellationToken::new();
        let mut failures = 0;
        let mut tries = 0;
        let got = until_ok(
            &token,
            Backoff::constant(Duration::from_millis(1)),
            || {
                tries += 1;
                let n = tries;
                async move { if n < 3 { Err(n) } else { Ok(n) } }
            },
            |_: i32| failures += 1,
        )
        .await;
        assert_eq!((got, failures), (Some(3), 2));

        token.cancel();
        let never: Option<()> = until_ok(
            &token,
            Backoff::constant(Duration::from_secs(1)),
            || async { Err(()) },
            |()| {},
        )
        .await;
        assert_eq!(never, None);
    }
}
