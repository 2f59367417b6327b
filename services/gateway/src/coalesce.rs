//! Sends a streamed response on in as few writes as the data allows.
//!
//! hyper hands an upstream body over one chunk per task wake-up, and the
//! server side flushes whenever the body has nothing ready, so a streamed
//! answer whose SSE frames all arrived in one read would still leave in one
//! system call per frame. `Coalesce` yields after each chunk, which lets the
//! upstream connection pass on what it has already read, and sends what it
//! holds once `IDLE_TURNS` scheduler turns in a row bring nothing new. A
//! token that arrives alone is therefore held for a couple of scheduler
//! turns (microseconds), never for a timer, and nothing that has not arrived
//! yet is waited for.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use bytes::{Bytes, BytesMut};
use futures::Stream;

/// Above this, what is held is sent without waiting for more.
const MAX_HELD_BYTES: usize = 64 * 1024;
/// How many empty scheduler turns to wait before sending what is held.
/// Measured on two workers: with 1 the other worker often polls this task
/// again before the upstream connection has run, so nothing coalesces; with
/// 8 the extra polls cost more than the writes they save.
const IDLE_TURNS: u8 = 2;

pub(crate) struct Coalesce<S, E> {
    inner: S,
    held: Vec<Bytes>,
    held_bytes: usize,
    /// Scheduler turns in a row that brought nothing new.
    idle_turns: u8,
    /// An error or the end arrived while data was held: deliver it next.
    after_held: Option<Option<E>>,
}

impl<S, E> Coalesce<S, E> {
    pub(crate) fn new(inner: S) -> Self {
        Self {
            inner,
            held: Vec::new(),
            held_bytes: 0,
            idle_turns: 0,
            after_held: None,
        }
    }

    fn take_held(&mut self) -> Bytes {
        self.held_bytes = 0;
        self.idle_turns = 0;
        match self.held.len() {
            0 => Bytes::new(),
            1 => self.held.pop().unwrap_or_default(),
            _ => {
                let mut joined = BytesMut::with_capacity(self.held.iter().map(Bytes::len).sum());
                for chunk in self.held.drain(..) {
                    joined.extend_from_slice(&chunk);
                }
                joined.freeze()
            }
        }
    }
}

impl<S, E> Stream for Coalesce<S, E>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Unpin,
{
    type Item = Result<Bytes, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(after) = this.after_held.take() {
            if !this.held.is_empty() {
                this.after_held = Some(after);
                return Poll::Ready(Some(Ok(this.take_held())));
            }
            return Poll::Ready(after.map(Err));
        }
        loop {
            match Pin::new(&mut this.inner).poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    if chunk.is_empty() {
                        continue;
                    }
                    this.held_bytes += chunk.len();
                    this.held.push(chunk);
                    this.idle_turns = 0;
                    if this.held_bytes >= MAX_HELD_BYTES {
                        return Poll::Ready(Some(Ok(this.take_held())));
                    }
                }
                Poll::Ready(end) => {
                    let error = end.and_then(Result::err);
                    if this.held.is_empty() {
                        return Poll::Ready(error.map(Err));
                    }
                    this.after_held = Some(error);
                    return Poll::Ready(Some(Ok(this.take_held())));
                }
                Poll::Pending if this.held.is_empty() => return Poll::Pending,
                Poll::Pending if this.idle_turns >= IDLE_TURNS => {
                    return Poll::Ready(Some(Ok(this.take_held())));
                }
                Poll::Pending => {
                    // Woken again at once, after the tasks already queued —
                    // among them the connection that feeds `inner`.
                    this.idle_turns += 1;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
            }
        }
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use futures::{StreamExt, stream};

    use super::*;

    fn ok(s: &'static str) -> Result<Bytes, &'static str> {
        Ok(Bytes::from_static(s.as_bytes()))
    }

    #[tokio::test]
    async fn chunks_that_are_ready_together_leave_together() {
        let out: Vec<_> = Coalesce::new(stream::iter([ok("a"), ok("b"), ok("c")]))
            .collect()
            .await;
        assert_eq!(out, vec![ok("abc")]);
    }

    #[tokio::test]
    async fn a_chunk_is_not_held_for_one_that_has_not_arrived() {
        let (tx, rx) = futures::channel::mpsc::unbounded();
        let mut body = Coalesce::new(rx);
        tx.unbounded_send(ok("first")).unwrap();
        // The second chunk only comes after the first was sent on.
        let first = tokio::time::timeout(Duration::from_secs(5), body.next())
            .await
            .unwrap();
        assert_eq!(first, Some(ok("first")));
        tx.unbounded_send(ok("second")).unwrap();
        drop(tx);
        assert_eq!(body.next().await, Some(ok("second")));
        assert_eq!(body.next().await, None);
    }

    #[tokio::test]
    async fn an_error_comes_after_the_data_before_it() {
        let items = [ok("a"), ok("b"), Err("broken"), ok("never")];
        let out: Vec<_> = Coalesce::new(stream::iter(items)).collect().await;
        assert_eq!(out[..2], [ok("ab"), Err("broken")]);
    }

    #[tokio::test]
    async fn a_large_burst_is_sent_in_bounded_pieces() {
        let big = Bytes::from(vec![b'x'; MAX_HELD_BYTES]);
        let items = [
            Ok::<_, ()>(big.clone()),
            Ok(big.clone()),
            Ok(Bytes::from_static(b"y")),
        ];
        let out: Vec<_> = Coalesce::new(stream::iter(items))
            .map(Result::unwrap)
            .collect()
            .await;
        assert_eq!(
            out.iter().map(Bytes::len).collect::<Vec<_>>(),
            [MAX_HELD_BYTES, MAX_HELD_BYTES, 1]
        );
    }
}
