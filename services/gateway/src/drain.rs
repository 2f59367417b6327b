//! Discarding a request body the gateway refuses without reading.
//!
//! hyper keeps a keep-alive connection only if the request body was read to
//! its end by the time the response is written; otherwise it closes the
//! connection after the response, and a client that already sent its next
//! request on it sees "connection closed" instead of an answer. So a body
//! refused unread (bad key, unknown route, wrong method) is read and thrown
//! away first, within the body limit and a short deadline. When that is not
//! possible the response says `Connection: close`, which clients honour.

use std::time::Duration;

use axum::{
    body::{Body, HttpBody},
    http::{HeaderMap, HeaderValue, header},
    response::Response,
};
use futures::StreamExt;

/// How long a refused client may take to finish sending its body.
const DRAIN_DEADLINE: Duration = Duration::from_secs(2);

/// Reads `body` to its end and drops it. `false` when the connection cannot
/// stay usable: the body is over `limit`, too slow, broken, or the client
/// waits for `100 Continue` before sending it.
pub(crate) async fn discard(headers: &HeaderMap, body: Body, limit: usize) -> bool {
    if body.is_end_stream() {
        return true;
    }
    if headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
    {
        // Reading would invite a body we are about to refuse.
        return false;
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return false;
    }
    let read = async {
        let mut stream = body.into_data_stream();
        let mut seen = 0usize;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => seen = seen.saturating_add(bytes.len()),
                Err(_) => return false,
            }
            if seen > limit {
                return false;
            }
        }
        true
    };
    tokio::time::timeout(DRAIN_DEADLINE, read).await.unwrap_or(false)
}

/// Marks `response` as the connection's last unless its body was drained.
pub(crate) fn closing_unless(drained: bool, mut response: Response) -> Response {
    if !drained {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[tokio::test]
    async fn a_body_within_the_limit_is_drained_and_a_larger_one_is_not() {
        assert!(discard(&headers(&[]), Body::empty(), 10).await);
        assert!(discard(&headers(&[]), Body::from("0123456789"), 10).await);
        assert!(!discard(&headers(&[]), Body::from("0123456789a"), 10).await);
        let declared = headers(&[("content-length", "11")]);
        assert!(!discard(&declared, Body::from("short"), 10).await);
        let expecting = headers(&[("expect", "100-continue")]);
        assert!(!discard(&expecting, Body::from("x"), 10).await);
    }

    #[test]
    fn an_undrained_answer_closes_the_connection() {
        let closing = closing_unless(false, Response::new(Body::empty()));
        assert_eq!(closing.headers()[header::CONNECTION], "close");
        assert!(
            closing_unless(true, Response::new(Body::empty()))
                .headers()
                .is_empty()
        );
    }
}
