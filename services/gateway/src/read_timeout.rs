//! An upstream answer's body with a bound on the silence between its parts
//! (`KEYWAY_UPSTREAM_TIMEOUT_MS`): past it, the body ends with an error.
//!
//! Why not tower-http's `TimeoutBody`: it drops its timer with every frame
//! and registers a new one on the next poll, about 200 instructions each
//! time and several times a frame (11,000 a streamed request,
//! `bench/instructions.sh`). Here one timer is kept for the whole body: a
//! frame only notes when it came, and the timer, when it fires, is moved on
//! to where the silence would really end if a frame came since.

use std::{
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

pin_project_lite::pin_project! {
    pub(crate) struct ReadTimeout<B> {
        #[pin]
        inner: B,
        #[pin]
        timer: Sleep,
        timeout: Duration,
        // When the last frame came, or the body was handed over.
        last: Instant,
    }
}

impl<B> ReadTimeout<B> {
    pub(crate) fn new(inner: B, timeout: Duration) -> Self {
        Self {
            inner,
            timer: tokio::time::sleep(timeout),
            timeout,
            last: Instant::now(),
        }
    }
}

/// The upstream sent nothing for longer than the timeout.
#[derive(Debug, thiserror::Error)]
#[error("the upstream sent no data within the read timeout")]
pub(crate) struct Silent;

impl<B> Body for ReadTimeout<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        if let Poll::Ready(frame) = this.inner.poll_frame(cx) {
            *this.last = Instant::now();
            return Poll::Ready(frame.map(|r| r.map_err(Into::into)));
        }
        // Fires at most once a timeout; ends the body only if no frame came
        // in that time.
        while this.timer.as_mut().poll(cx).is_ready() {
            let end = *this.last + *this.timeout;
            if Instant::now() >= end {
                return Poll::Ready(Some(Err(Box::new(Silent))));
            }
            this.timer.as_mut().reset(end);
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use bytes::Bytes;
    use futures::StreamExt as _;
    use http_body_util::{BodyExt as _, StreamBody};

    use super::*;

    /// A body whose frames come after the given silences.
    fn paced(silences: &[u64]) -> impl Body<Data = Bytes, Error = BoxError> {
        let frames = futures::stream::iter(silences.to_vec()).then(|ms| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok::<_, BoxError>(Frame::data(Bytes::from_static(b"x")))
        });
        StreamBody::new(frames)
    }

    #[tokio::test(start_paused = true)]
    async fn frames_closer_than_the_timeout_all_arrive_however_long_the_body() {
        let body = ReadTimeout::new(paced(&[90, 90, 90, 90, 90]), Duration::from_millis(100));
        let collected = body.collect().await.unwrap().to_bytes();
        assert_eq!(collected.len(), 5, "450 ms in all, never 100 ms silent");
    }

    #[tokio::test(start_paused = true)]
    async fn a_silence_longer_than_the_timeout_ends_the_body_with_an_error() {
        let mut body = std::pin::pin!(ReadTimeout::new(paced(&[10, 250]), Duration::from_millis(100)));
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), Bytes::from_static(b"x"));
        let started = Instant::now();
        let error = body.frame().await.unwrap().unwrap_err();
        assert!(error.is::<Silent>(), "{error}");
        assert_eq!(
            started.elapsed(),
            Duration::from_millis(100),
            "ended when the silence passed the bound"
        );
    }
}
