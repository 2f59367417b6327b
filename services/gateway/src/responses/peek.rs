//! Reads a created response's id before the client does, records its owner,
//! and hands the untouched response on. A JSON body is read whole (it holds
//! the id at the top); a stream up to its first event, `response.created`.

use bytes::{Bytes, BytesMut};
use futures::{StreamExt, stream};
use serde_json::Value;

use super::{Owner, ResponseOwners};

/// The most bytes held back while looking for the id.
const MAX_PEEK: usize = 16 * 1024 * 1024;

/// Records `owner` for the response in `upstream` and returns a response
/// with the same status, headers and bytes. A failure to record is logged,
/// not fatal: the answer is already paid for, only retrieval by id is lost.
pub(crate) async fn remember(
    owners: &ResponseOwners,
    owner: &Owner,
    upstream: reqwest::Response,
    streamed: bool,
) -> reqwest::Response {
    let status = upstream.status();
    let headers = upstream.headers().clone();
    let mut body = upstream.bytes_stream();
    let mut held = BytesMut::new();
    let mut failure = None;
    let id = loop {
        match body.next().await {
            Some(Ok(chunk)) => {
                held.extend_from_slice(&chunk);
                if let Some(id) = find_id(&held, streamed) {
                    break id;
                }
                if held.len() > MAX_PEEK {
                    break None;
                }
            }
            Some(Err(e)) => {
                failure = Some(e);
                break None;
            }
            None => break find_id_at_end(&held),
        }
    };
    match &id {
        Some(id) => {
            if let Err(e) = owners.remember(id, owner).await {
                tracing::warn!(error = %e, "could not record the response's owner; it cannot be retrieved through Keyway");
            }
        }
        None => tracing::debug!("no response id in the upstream answer"),
    }
    let head = stream::iter([Ok::<Bytes, reqwest::Error>(held.freeze())]);
    let rest = stream::iter(failure.map(Err)).chain(body);
    let mut rebuilt = http::Response::new(reqwest::Body::wrap_stream(head.chain(rest)));
    *rebuilt.status_mut() = status;
    *rebuilt.headers_mut() = headers;
    reqwest::Response::from(rebuilt)
}

/// `Some(Some(id))` once found; `Some(None)` when the first event is complete
/// and has none; `None` to read on.
fn find_id(held: &[u8], streamed: bool) -> Option<Option<String>> {
    if !streamed {
        return None;
    }
    let end = held.windows(2).position(|w| w == b"\n\n")?;
    let event = std::str::from_utf8(&held[..end]).ok();
    let id = event.and_then(|text| {
        text.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .find_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
            .and_then(|v| v["response"]["id"].as_str().map(str::to_owned))
    });
    Some(id)
}

fn find_id_at_end(held: &[u8]) -> Option<String> {
    let body: Value = serde_json::from_slice(held).ok()?;
    body["id"].as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_comes_from_the_first_event_or_the_whole_body() {
        let created = b"event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\"}}\n\nevent: x";
        assert_eq!(find_id(created, true), Some(Some("resp_1".to_owned())));
        assert_eq!(find_id(&created[..30], true), None, "read on");
        assert_eq!(find_id(b"data: {}\n\n", true), Some(None));
        assert_eq!(find_id(br#"{"id":"resp_2"}"#, false), None);
        assert_eq!(
            find_id_at_end(br#"{"id":"resp_2","object":"response"}"#),
            Some("resp_2".to_owned())
        );
    }
}
