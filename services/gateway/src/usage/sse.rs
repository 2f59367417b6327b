//! Server-sent-event framing for the usage tap: a pending buffer that is
//! scanned incrementally (each byte is looked at about once, however the
//! upstream splits its events) and capped, and the error event that ends a
//! client's stream, in the client's own wire shape, when an upstream never
//! frames an event within the cap.

use std::borrow::Cow;

use bytes::{Bytes, BytesMut};

/// Bytes of one stream that have not yet formed a whole event.
///
/// A chunk is kept as it came (`fresh`) and its events are split off it
/// without a copy: an upstream nearly always sends whole events, one or a
/// few a chunk. Only the unfinished tail of a chunk is copied, into
/// `pending`, where the next chunks join it. Copying every chunk into
/// `pending` and splitting each event off it cost about 160 instructions
/// more an event (the copy, and the shared allocation each split made;
/// `bench/instructions.sh`, streamed).
pub struct EventBuffer {
    /// The latest chunk, or what is left of it; only while `pending` is empty.
    fresh: Bytes,
    pending: BytesMut,
    /// No event terminator starts before this offset of `pending`.
    scanned: usize,
    max: usize,
}

impl EventBuffer {
    pub fn new(max: usize) -> Self {
        Self {
            fresh: Bytes::new(),
            pending: BytesMut::new(),
            scanned: 0,
            max,
        }
    }

    pub fn push(&mut self, chunk: Bytes) {
        if self.pending.is_empty() && self.fresh.is_empty() {
            self.fresh = chunk;
        } else {
            self.keep_fresh();
            self.pending.extend_from_slice(&chunk);
        }
    }

    /// The next complete event, with its blank-line terminator.
    pub fn next_event(&mut self) -> Option<Bytes> {
        if !self.fresh.is_empty() {
            match find_end(&self.fresh, 0) {
                Some(end) => return Some(self.fresh.split_to(end)),
                // An unfinished event: the next chunk joins it in `pending`.
                None => self.keep_fresh(),
            }
        }
        match find_end(&self.pending, self.scanned) {
            Some(end) => {
                self.scanned = 0;
                Some(self.pending.split_to(end).freeze())
            }
            None => {
                // A terminator is at most 3 bytes long ("\n\r\n"): only the
                // last two bytes may still start one once more arrives.
                self.scanned = self.pending.len().saturating_sub(2);
                None
            }
        }
    }

    /// Moves what is left of the latest chunk into `pending`.
    fn keep_fresh(&mut self) {
        if !self.fresh.is_empty() {
            self.pending.extend_from_slice(&std::mem::take(&mut self.fresh));
        }
    }

    /// An unfinished event is over the cap: the upstream is not framing.
    pub fn over_limit(&self) -> bool {
        self.fresh.len() + self.pending.len() > self.max
    }

    /// Whatever is left (the stream ended mid-event), emptying the buffer.
    pub fn take_rest(&mut self) -> Bytes {
        self.scanned = 0;
        if self.pending.is_empty() {
            return std::mem::take(&mut self.fresh);
        }
        self.keep_fresh();
        self.pending.split().freeze()
    }

    /// Drops the pending bytes and their allocation.
    pub(crate) fn discard(&mut self) {
        self.scanned = 0;
        self.fresh = Bytes::new();
        self.pending = BytesMut::new();
    }
}

/// The end (exclusive) of the first blank line at or after `from`: a line
/// feed followed by `\n` or `\r\n` (covers `\n\n`, `\r\n\r\n`, `\n\r\n`).
fn find_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(offset) = memchr::memchr(b'\n', buf.get(at..)?) {
        let lf = at + offset;
        match (buf.get(lf + 1), buf.get(lf + 2)) {
            (Some(b'\n'), _) => return Some(lf + 2),
            (Some(b'\r'), Some(b'\n')) => return Some(lf + 3),
            _ => at = lf + 1,
        }
    }
    None
}

/// Splits every complete event off `buf`, for re-reading kept frames.
pub fn split_events(buf: &mut BytesMut) -> impl Iterator<Item = BytesMut> + '_ {
    std::iter::from_fn(move || find_end(buf, 0).map(|end| buf.split_to(end)))
}

/// The joined `data:` lines of one event: borrowed when there is one, as
/// in nearly every event, so reading it allocates nothing.
pub fn data(event: &[u8]) -> Option<Cow<'_, str>> {
    data_of(std::str::from_utf8(event).ok()?)
}

fn data_of(text: &str) -> Option<Cow<'_, str>> {
    one_data_line(text)
        .map(Cow::Borrowed)
        .or_else(|| data_lines(text))
}

/// The data of an event that is one `data:` line and its blank line, as
/// nearly every streamed chunk is, found without splitting it into lines:
/// that split cost about 800 instructions a chunk (`bench/instructions.sh`,
/// streamed). `None` for any other shape, which [`data_lines`] reads.
fn one_data_line(text: &str) -> Option<&str> {
    let line = ["\r\n\r\n", "\n\r\n", "\n\n"]
        .into_iter()
        .find_map(|end| text.strip_suffix(end))?
        .strip_prefix("data:")?;
    if memchr::memchr2(b'\n', b'\r', line.as_bytes()).is_some() {
        return None;
    }
    Some(line.strip_prefix(' ').unwrap_or(line))
}

fn data_lines(text: &str) -> Option<Cow<'_, str>> {
    let mut lines = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| d.strip_prefix(' ').unwrap_or(d));
    let first = lines.next()?;
    let Some(second) = lines.next() else {
        return Some(Cow::Borrowed(first));
    };
    let mut joined = String::with_capacity(text.len());
    joined.push_str(first);
    for line in std::iter::once(second).chain(lines) {
        joined.push('\n');
        joined.push_str(line);
    }
    Some(Cow::Owned(joined))
}

/// The event that ends a stream whose upstream sent an event over the cap:
/// OpenAI's SDKs raise on a `data` chunk holding an `error` object, and
/// Anthropic's on `event: error`. The leading blank line closes whatever
/// partial line the client may hold.
pub(crate) fn too_large_error(anthropic: bool, max: usize) -> Bytes {
    let message = format!(
        "The upstream sent a stream event larger than {max} bytes (KEYWAY_SSE_MAX_EVENT_BYTES); the stream was ended."
    );
    error_event(anthropic, keyway_common::codes::UP_EVENT_TOO_LARGE, &message)
}

/// The event that ends a stream the upstream broke off (the connection
/// reset, or silent past `KEYWAY_UPSTREAM_TIMEOUT_MS`): a clean error in the
/// client's wire shape instead of a connection cut mid-body.
pub(crate) fn broken_off_error(anthropic: bool) -> Bytes {
    let message =
        "The upstream provider broke off the stream (connection lost or timed out); the stream was ended.";
    error_event(anthropic, keyway_common::codes::UP_FAILED, message)
}

/// The event that ends a stream whose upstream sent an event whose data is
/// not JSON.
pub(crate) fn garbage_error(anthropic: bool) -> Bytes {
    let message = "The upstream provider sent a stream event that is not JSON; the stream was ended.";
    error_event(anthropic, keyway_common::codes::UP_FAILED, message)
}

/// Every data payload of `event` is JSON or OpenAI's `[DONE]` (an event
/// without data, a comment or a bare `event:` line, is well formed too).
/// A validating scan (`json_scan`), nothing is built: the hot path still
/// parses no content frame into values.
pub fn well_formed(event: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(event) else {
        return false;
    };
    match data_of(text) {
        None => true,
        Some(data) => data == "[DONE]" || keyway_common::json_scan::is_json(data.as_bytes()),
    }
}

/// An error event of either wire carrying `code` and `message`.
fn error_event(anthropic: bool, code: &str, message: &str) -> Bytes {
    let frame = if anthropic {
        let body = serde_json::json!({"type": "error", "error": {
            "type": "api_error", "message": message, "keyway_code": code}});
        format!("\n\nevent: error\ndata: {body}\n\n")
    } else {
        let body = serde_json::json!({"error": {
            "message": message, "type": "server_error", "param": null,
            "code": "upstream_error", "keyway_code": code}});
        format!("\n\ndata: {body}\n\n")
    };
    Bytes::from(frame)
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn events(parts: &[&str], max: usize) -> (Vec<String>, bool) {
        let mut buf = EventBuffer::new(max);
        let mut out = Vec::new();
        for p in parts {
            buf.push(Bytes::copy_from_slice(p.as_bytes()));
            while let Some(e) = buf.next_event() {
                out.push(String::from_utf8(e.to_vec()).unwrap());
            }
        }
        (out, buf.over_limit())
    }

    #[test]
    fn terminators_split_across_chunks_are_found() {
        let (out, _) = events(&["data: a\n", "\ndata: b\r", "\n\r", "\ndata: c\n\r\nrest"], 64);
        assert_eq!(out, ["data: a\n\n", "data: b\r\n\r\n", "data: c\n\r\n"]);
    }

    #[test]
    fn an_unframed_upstream_goes_over_the_cap_and_a_framed_one_never_does() {
        let unframed: Vec<String> = (0..10).map(|_| "x".repeat(10)).collect();
        let parts: Vec<&str> = unframed.iter().map(String::as_str).collect();
        assert!(events(&parts, 64).1);
        let framed: Vec<String> = (0..10).map(|i| format!("data: {i}\n\n")).collect();
        let parts: Vec<&str> = framed.iter().map(String::as_str).collect();
        assert_eq!(events(&parts, 16), (framed.clone(), false));
    }

    #[test]
    fn the_error_event_has_each_wire_shape() {
        let openai = String::from_utf8(too_large_error(false, 9).to_vec()).unwrap();
        let json: serde_json::Value = serde_json::from_str(&data(openai.trim().as_bytes()).unwrap()).unwrap();
        assert_eq!(json["error"]["keyway_code"], "KW-UP-004");
        let anthropic = String::from_utf8(too_large_error(true, 9).to_vec()).unwrap();
        assert!(anthropic.contains("\nevent: error\ndata: {"), "{anthropic}");
        let json: serde_json::Value =
            serde_json::from_str(&data(anthropic.trim().as_bytes()).unwrap()).unwrap();
        assert_eq!(
            (json["type"].as_str(), json["error"]["type"].as_str()),
            (Some("error"), Some("api_error"))
        );
    }
}
