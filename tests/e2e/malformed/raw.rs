//! Requests written byte for byte on a TCP socket, for what an HTTP client
//! library refuses to send: bare CRs and folded lines in headers, bodies
//! that are not UTF-8 with a length that lies, and so on.

use std::time::Duration;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// Generous: a hang is what the suite looks for, not a slow answer.
pub(super) const DEADLINE: Duration = Duration::from_secs(60);

/// What came back: the status, and the body (everything after the head).
#[derive(Debug)]
pub(super) struct RawAnswer {
    pub(super) status: u16,
    pub(super) body: String,
}

/// Sends `head` (request line and headers, each line ending in CRLF, without
/// the blank line) and `body`, with `Connection: close`, and reads the answer
/// to the end; panics on a hang.
pub(super) async fn send(base: &str, head: &str, body: &[u8]) -> RawAnswer {
    let addr = base.trim_start_matches("http://");
    let exchange = async {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let mut request = format!("{head}Host: {addr}\r\nConnection: close\r\n\r\n").into_bytes();
        request.extend_from_slice(body);
        // The server may answer (and close) before reading everything.
        let _ = tcp.write_all(&request).await;
        let mut answer = Vec::new();
        let _ = tcp.read_to_end(&mut answer).await;
        answer
    };
    let answer = tokio::time::timeout(DEADLINE, exchange)
        .await
        .unwrap_or_else(|_| panic!("no answer within {DEADLINE:?} to {head:?}"));
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    RawAnswer {
        status,
        body: dechunk(head, body),
    }
}

/// The body of a `Transfer-Encoding: chunked` answer, de-chunked.
fn dechunk(head: &str, body: &str) -> String {
    if !head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        return body.to_owned();
    }
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}
