//! `Connection: close` on an HTTP/1 answer given before its request's body
//! was read to the end (a 413, say).
//!
//! hyper cannot reuse such a connection: it drains what it has buffered
//! already, else closes the connection after the answer, but without
//! saying so. A client that pools connections may then send its next
//! request on the closing connection and get a reset (reqwest did, after
//! a 413, once the answer came from another thread than the client's).
//! Saying `close` in the answer keeps the client from reusing it, and the
//! rest of the body is read and thrown away, so that the client
//! gets the answer at all.

use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll, ready},
    time::Duration,
};

use axum::http::{HeaderValue, Request, Response, Version, header};
use http_body::{Body, Frame, SizeHint};
use keyway_gateway::drain::{expects_continue, read_to_end};
use pin_project_lite::pin_project;
use tokio::runtime::Handle;

/// At most this much of an unread body is read and thrown away, for at
/// most this long.
const DRAIN_MAX_BYTES: usize = 64 << 20;
const DRAIN_MAX_TIME: Duration = Duration::from_secs(10);

/// A request body that records whether it was read to the end, and, if
/// it is dropped before, reads the rest and throws it away.
pub(crate) struct Watched<B: Body + Unpin + Send + 'static> {
    inner: Option<B>,
    read: Option<Arc<AtomicBool>>,
    /// `false` when the client waits for `100 Continue`: it has not sent
    /// its body, and reading it would ask for it. Closing is enough.
    drain_if_dropped: bool,
}

pin_project! {
    /// The answer's future: adds `Connection: close` if the body was not
    /// read to the end by the time the answer is ready.
    pub(crate) struct CloseIfUnread<F> {
        #[pin]
        inner: F,
        read: Option<Arc<AtomicBool>>,
    }
}

/// Watches the body of an HTTP/1 request that has one (HTTP/2 closes a
/// stream, not the connection, and forbids the header).
pub(crate) fn watch<B: Body + Unpin + Send + 'static>(
    request: Request<B>,
) -> (Request<Watched<B>>, Option<Arc<AtomicBool>>) {
    let watched = request.version() <= Version::HTTP_11 && !request.body().is_end_stream();
    let read = watched.then(|| Arc::new(AtomicBool::new(false)));
    let drain_if_dropped = watched && !expects_continue(request.headers());
    let request = request.map(|inner| Watched {
        inner: Some(inner),
        read: read.clone(),
        drain_if_dropped,
    });
    (request, read)
}

impl<F> CloseIfUnread<F> {
    pub(crate) fn new(inner: F, read: Option<Arc<AtomicBool>>) -> Self {
        Self { inner, read }
    }
}

impl<B: Body + Unpin + Send + 'static> Body for Watched<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let frame = ready!(Pin::new(&mut *inner).poll_frame(cx));
        let ended = match &frame {
            None => true,
            // With a known length, the last frame already ends it.
            Some(Ok(_)) => inner.is_end_stream(),
            Some(Err(_)) => false,
        };
        if ended && let Some(read) = &self.read {
            read.store(true, Ordering::Release);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.as_ref().map(Body::size_hint).unwrap_or_default()
    }
}

impl<B: Body + Unpin + Send + 'static> Drop for Watched<B> {
    fn drop(&mut self) {
        let unread = self.drain_if_dropped
            && self
                .read
                .as_ref()
                .is_some_and(|read| !read.load(Ordering::Acquire));
        // Read what is left, as nginx's lingering close does: closed with
        // it unread, the socket would answer the client, still sending it,
        // with a reset, and the client would see a broken pipe rather than
        // the answer (a 413). Bounded, for a client that never stops.
        if let (true, Some(body), Ok(runtime)) = (unread, self.inner.take(), Handle::try_current()) {
            runtime.spawn(read_to_end(body, DRAIN_MAX_BYTES, DRAIN_MAX_TIME));
        }
    }
}

impl<F, R, E> Future for CloseIfUnread<F>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let mut answer = ready!(this.inner.poll(cx));
        if let (Ok(response), Some(read)) = (&mut answer, this.read.as_ref())
            && !read.load(Ordering::Acquire)
        {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        Poll::Ready(answer)
    }
}
