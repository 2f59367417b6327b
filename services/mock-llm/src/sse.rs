//! Lazy server-sent-event streaming shared by the OpenAI and Anthropic routes:
//! frame encoding, pacing between deltas, deliberate breakage, and stopping on
//! client disconnect (hyper drops the stream) or server shutdown.

use std::io;
use std::ops::Range;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

/// Encodes one SSE frame: optional `event:` line, `data:` line, blank line.
pub(crate) fn frame(event: Option<&str>, data: &impl Serialize) -> io::Result<Bytes> {
    let mut buf = Vec::with_capacity(256);
    if let Some(event) = event {
        buf.extend_from_slice(b"event: ");
        buf.extend_from_slice(event.as_bytes());
        buf.push(b'\n');
    }
    buf.extend_from_slice(b"data: ");
    serde_json::to_writer(&mut buf, data).map_err(io::Error::other)?;
    buf.extend_from_slice(b"\n\n");
    Ok(Bytes::from(buf))
}

/// Deliberate breakage of a stream.
pub(crate) struct Faults {
    /// Break the connection after this many deltas, never sending `tail`.
    pub(crate) break_after: Option<usize>,
    /// Instead of the deltas and `tail`, this many bytes with no event
    /// boundary (see `Controls::unframed_bytes`).
    pub(crate) unframed: Option<u64>,
}

impl Faults {
    pub(crate) fn of(controls: &crate::controls::Controls) -> Self {
        Self {
            break_after: controls.error_after_chunks,
            unframed: controls.unframed_bytes,
        }
    }
}

/// Everything needed to play one streamed reply.
pub(crate) struct Plan<F> {
    /// Frames sent before the first delta.
    pub(crate) head: Vec<Bytes>,
    pub(crate) reply: String,
    /// Byte ranges of `reply`, one per delta.
    pub(crate) pieces: Vec<Range<usize>>,
    /// Frames sent after the last delta.
    pub(crate) tail: Vec<Bytes>,
    /// Pause between consecutive deltas.
    pub(crate) delay: Duration,
    pub(crate) faults: Faults,
    pub(crate) shutdown: CancellationToken,
    /// Formats one delta's text as a frame.
    pub(crate) delta: F,
}

struct Cursor<F> {
    head: std::vec::IntoIter<Bytes>,
    reply: String,
    pieces: Vec<Range<usize>>,
    next_piece: usize,
    tail: std::vec::IntoIter<Bytes>,
    delay: Duration,
    break_at: Option<usize>,
    unframed: Option<u64>,
    shutdown: CancellationToken,
    delta: F,
    finished: bool,
}

/// Streams `plan` as a `text/event-stream` response. Frames are produced one
/// at a time as the client reads, so nothing is buffered up front.
pub(crate) fn response<F>(plan: Plan<F>) -> Response
where
    F: Fn(&str) -> io::Result<Bytes> + Send + 'static,
{
    let break_at = plan.faults.break_after.map(|n| n.min(plan.pieces.len()));
    let cursor = Cursor {
        head: plan.head.into_iter(),
        reply: plan.reply,
        pieces: plan.pieces,
        next_piece: 0,
        tail: plan.tail.into_iter(),
        delay: plan.delay,
        break_at,
        unframed: plan.faults.unframed,
        shutdown: plan.shutdown,
        delta: plan.delta,
        finished: false,
    };
    let stream = futures::stream::unfold(cursor, next_frame);
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

async fn next_frame<F>(mut c: Cursor<F>) -> Option<(io::Result<Bytes>, Cursor<F>)>
where
    F: Fn(&str) -> io::Result<Bytes>,
{
    if c.finished {
        return None;
    }
    if let Some(frame) = c.head.next() {
        return Some((Ok(frame), c));
    }
    if let Some(left) = c.unframed {
        return unframed(c, left);
    }
    if c.break_at == Some(c.next_piece) {
        // An error item makes hyper abort the response mid-body, which is what
        // a crashing upstream looks like to a client.
        c.finished = true;
        let broken = io::Error::other("mock-llm: stream broken on purpose (error_after_chunks)");
        return Some((Err(broken), c));
    }
    if let Some(range) = c.pieces.get(c.next_piece).cloned() {
        if c.next_piece > 0 && !c.delay.is_zero() {
            tokio::select! {
                () = c.shutdown.cancelled() => return None,
                () = tokio::time::sleep(c.delay) => {}
            }
        }
        c.next_piece += 1;
        let frame = (c.delta)(c.reply.get(range).unwrap_or_default());
        c.finished = frame.is_err();
        return Some((frame, c));
    }
    c.tail.next().map(|frame| (Ok(frame), c))
}

/// A short stream sent whole, with nothing to pace (tool calls).
pub(crate) fn whole(frames: Vec<Bytes>) -> Response {
    let stream = futures::stream::iter(frames.into_iter().map(Ok::<_, io::Error>));
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

/// Filler that never ends an SSE event: no line feed at all.
static FILLER: [u8; 64 * 1024] = [b'x'; 64 * 1024];

/// The next piece of an unframed stream; the stream ends after the last.
fn unframed<F>(mut c: Cursor<F>, left: u64) -> Option<(io::Result<Bytes>, Cursor<F>)> {
    if left == 0 {
        return None;
    }
    let n = left.min(FILLER.len() as u64);
    c.unframed = Some(left - n);
    Some((Ok(Bytes::from_static(&FILLER[..n as usize])), c))
}
