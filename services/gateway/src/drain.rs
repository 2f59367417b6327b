//! Reading and throwing away a request body nobody wants.
//!
//! hyper keeps a keep-alive connection only if the request body was read to
//! its end by the time the response is written; otherwise it closes the
//! connection after the response, and a client that already sent its next
//! request on it sees "connection closed" instead of an answer. So a body
//! the gateway refuses unread (bad key, unknown route, wrong method) is read
//! and thrown away first (`discard`), within the body limit and a short
//! deadline. When that is not possible, the HTTP front (`keyway`'s
//! `unread_body`) says `Connection: close` and reads the rest in the
//! background (`read_to_end`), as nginx's lingering close does.

use std::{pin::Pin, time::Duration};

use axum::http::{HeaderMap, header};
use http_body::Body;

/// How long a refused client may take to finish sending its body.
const DRAIN_DEADLINE: Duration = Duration::from_secs(2);

/// Reads `body` to its end and drops it, unless that would keep the client
/// waiting or invite a body we are about to refuse: it is declared over
/// `limit`, or the client waits for `100 Continue` before sending it. A body
/// left unread closes the connection after the answer (the front's
/// `unread_body`).
pub(crate) async fn discard<B: Body + Unpin>(headers: &HeaderMap, body: B, limit: usize) {
    if body.is_end_stream() || expects_continue(headers) {
        return;
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_none_or(|n| n <= limit as u64) {
        read_to_end(body, limit, DRAIN_DEADLINE).await;
    }
}

/// Whether the client waits for `100 Continue` before it sends its body:
/// reading the body would then ask for it.
pub fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// Reads `body` to its end and throws it away. `false` if it broke, or was
/// over `limit` bytes or `deadline` (then the rest is left unread).
pub async fn read_to_end<B: Body + Unpin>(mut body: B, limit: usize, deadline: Duration) -> bool {
    let read = async {
        let mut left = limit;
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
            let Ok(frame) = frame else { return false };
            let got = frame.data_ref().map_or(0, bytes::Buf::remaining);
            let Some(rest) = left.checked_sub(got) else {
                return false;
            };
            left = rest;
        }
        true
    };
    tokio::time::timeout(deadline, read).await.unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use axum::body::Body;

    use super::*;

    const LONG: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn a_body_within_the_limit_is_read_to_its_end_and_a_larger_one_is_not() {
        assert!(read_to_end(Body::empty(), 10, LONG).await);
        assert!(read_to_end(Body::from("0123456789"), 10, LONG).await);
        assert!(!read_to_end(Body::from("0123456789a"), 10, LONG).await);
    }

    #[tokio::test]
    async fn a_body_that_never_ends_is_given_up_at_the_deadline() {
        let (_sender, never) = futures::channel::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(1);
        let body = Body::from_stream(never);
        assert!(!read_to_end(body, 10, Duration::from_millis(20)).await);
    }

    #[test]
    fn only_an_expect_of_100_continue_waits() {
        let mut headers = HeaderMap::new();
        assert!(!expects_continue(&headers));
        headers.insert(
            header::EXPECT,
            axum::http::HeaderValue::from_static("100-Continue"),
        );
        assert!(expects_continue(&headers));
    }
}
