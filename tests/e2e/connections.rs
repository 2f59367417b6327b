//! What `/v1` answers before a handler reads the request: refusals that
//! leave the keep-alive connection usable, and oversized or misdirected
//! requests answered in JSON in the route's own shape (issue 9); and both
//! ways of serving connections, on front threads or on the main runtime.

use std::{collections::HashMap, time::Duration};

use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
};

use crate::{
    helpers::{TestStack, chat},
    keys_api::{new_api_key, new_tenant},
};

/// One HTTP/1.1 connection, used request after request, so a server that
/// closes it shows up as a failed request rather than a silent reconnect.
struct KeepAlive(BufReader<TcpStream>);

struct Answer {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl KeepAlive {
    async fn connect(base: &str) -> Self {
        let addr = base.trim_start_matches("http://");
        Self(BufReader::new(TcpStream::connect(addr).await.unwrap()))
    }

    /// `None` when the server closed the connection instead of answering.
    async fn send(&mut self, method: &str, path: &str, auth: Option<&str>, body: &str) -> Option<Answer> {
        let auth = auth.map_or(String::new(), |a| format!("authorization: {a}\r\n"));
        let head = format!(
            "{method} {path} HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n{auth}content-length: {}\r\n\r\n",
            body.len()
        );
        let stream = self.0.get_mut();
        stream.write_all(head.as_bytes()).await.ok()?;
        stream.write_all(body.as_bytes()).await.ok()?;
        self.answer().await
    }

    /// Reads the next answer (an interim `100 Continue` included).
    async fn answer(&mut self) -> Option<Answer> {
        let mut line = String::new();
        if self.0.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let status = line.split_whitespace().nth(1)?.parse().ok()?;
        let mut headers = HashMap::new();
        loop {
            line.clear();
            self.0.read_line(&mut line).await.ok()?;
            let Some((name, value)) = line.trim_end().split_once(':') else {
                break;
            };
            headers.insert(name.to_ascii_lowercase(), value.trim().to_owned());
        }
        let body = if headers.get("transfer-encoding").is_some_and(|t| t == "chunked") {
            self.chunked().await?
        } else {
            let length: usize = headers
                .get("content-length")
                .map_or(Some(0), |l| l.parse().ok())?;
            let mut body = vec![0; length];
            self.0.read_exact(&mut body).await.ok()?;
            body
        };
        Some(Answer {
            status,
            headers,
            body,
        })
    }

    async fn chunked(&mut self) -> Option<Vec<u8>> {
        let mut body = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            self.0.read_line(&mut line).await.ok()?;
            let size = usize::from_str_radix(line.trim(), 16).ok()?;
            let mut chunk = vec![0; size + 2];
            self.0.read_exact(&mut chunk).await.ok()?;
            if size == 0 {
                return Some(body);
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }
}

#[tokio::test]
async fn refusals_of_posts_with_bodies_keep_the_connection_alive() {
    let stack = TestStack::spawn().await;
    let tenant = new_tenant(&stack, "starter").await;
    let (_, viewer) = new_api_key(&stack, &tenant, json!({"name": "v", "role": "viewer"})).await;
    let (viewer, admin) = (format!("Bearer {viewer}"), format!("Bearer {}", stack.admin_key));
    let large = chat("mock-gpt", &"x".repeat(64 * 1024)).to_string();
    let valid = chat("mock-gpt", "hi").to_string();
    let cases = [
        (
            "POST",
            "/v1/chat/completions",
            Some("Bearer kw_wrong"),
            &large,
            401,
        ),
        ("POST", "/v1/messages", None, &large, 401),
        ("POST", "/v1/chat/completions", Some(viewer.as_str()), &large, 403),
        ("POST", "/v1/nothing", Some(admin.as_str()), &large, 404),
        ("PUT", "/v1/chat/completions", None, &large, 405),
        ("POST", "/v1/chat/completions", Some(admin.as_str()), &valid, 200),
    ];
    let mut connection = KeepAlive::connect(&stack.base).await;
    for round in 0..100 {
        for (method, path, auth, body, expected) in &cases {
            let answer = connection
                .send(method, path, *auth, body)
                .await
                .unwrap_or_else(|| panic!("round {round}: {method} {path} got no answer"));
            assert_eq!(answer.status, *expected, "round {round}: {method} {path}");
            assert_ne!(
                answer.headers.get("connection").map(String::as_str),
                Some("close"),
                "round {round}: {method} {path}"
            );
            let json: Value = serde_json::from_slice(&answer.body).unwrap();
            assert!(json.is_object(), "{method} {path}: {json}");
        }
    }
}

#[tokio::test]
async fn oversized_and_misdirected_requests_get_json_in_the_routes_shape() {
    let stack = TestStack::spawn_with(&[("KEYWAY_MAX_BODY_BYTES", "4096")]).await;
    let huge_header = "h".repeat(1 << 20);
    let over_body = chat("mock-gpt", &"word ".repeat(1000)).to_string();
    let claude_over = json!({"model": "mock-claude", "max_tokens": 5,
        "messages": [{"role": "user", "content": "word ".repeat(1000)}]})
    .to_string();
    // (method, path, a 1 MiB header?, body, status, Keyway code, Anthropic shape?, closes?)
    let table = [
        (
            "POST",
            "/v1/chat/completions",
            true,
            "{}",
            431,
            "KW-REQ-005",
            false,
            true,
        ),
        ("POST", "/v1/messages", true, "{}", 431, "KW-REQ-005", true, true),
        ("GET", "/v1/models", true, "", 431, "KW-REQ-005", false, true),
        (
            "PUT",
            "/v1/chat/completions",
            false,
            "{}",
            405,
            "KW-REQ-002",
            false,
            false,
        ),
        (
            "DELETE",
            "/v1/messages",
            false,
            "",
            405,
            "KW-REQ-002",
            true,
            false,
        ),
        ("POST", "/v1/models", false, "{}", 405, "KW-REQ-002", false, false),
        (
            "POST",
            "/v1/chat/completions",
            false,
            over_body.as_str(),
            413,
            "KW-REQ-003",
            false,
            true,
        ),
        (
            "POST",
            "/v1/embeddings",
            false,
            over_body.as_str(),
            413,
            "KW-REQ-003",
            false,
            true,
        ),
        (
            "POST",
            "/v1/messages",
            false,
            claude_over.as_str(),
            413,
            "KW-REQ-003",
            true,
            true,
        ),
        (
            "POST",
            "/v1/nothing",
            false,
            "{}",
            404,
            "KW-REQ-004",
            false,
            false,
        ),
    ];
    for (method, path, big_header, body, status, code, anthropic, closes) in table {
        let case = format!("{method} {path} (large header: {big_header})");
        let mut request = reqwest::Client::new()
            .request(method.parse().unwrap(), stack.url(path))
            .bearer_auth(&stack.admin_key)
            .header("content-type", "application/json")
            .body(body.to_owned());
        if big_header {
            request = request.header("x-padding", huge_header.as_str());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{case}");
        let connection = response
            .headers()
            .get("connection")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(connection.as_deref() == Some("close"), closes, "{case}");
        let json: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(json["error"]["keyway_code"], code, "{case}: {json}");
        assert!(json["error"]["message"].is_string(), "{case}: {json}");
        if anthropic {
            assert_eq!(json["type"], "error", "{case}: {json}");
        } else {
            assert!(json["error"]["code"].is_string(), "{case}: {json}");
        }
    }

    // A head over hyper's own read buffer never reaches the router: hyper
    // answers itself, with no body (docs/security.md §10.4).
    // (The client may still be writing when hyper closes: a reset is fine.)
    let sent = reqwest::Client::new()
        .get(stack.url("/v1/models"))
        .header("x-padding", "h".repeat(2 << 20))
        .send()
        .await;
    if let Ok(response) = sent {
        assert_eq!(response.status().as_u16(), 431);
        assert!(response.bytes().await.unwrap_or_default().is_empty());
    }
}

/// The front tells HTTP/1 from HTTP/2 (prior knowledge) by peeking at the
/// first bytes: both serve `/v1`, and a request whose first bytes arrive
/// one by one (`P`, a prefix of the HTTP/2 preface, then the rest) is
/// still read as HTTP/1.
#[tokio::test]
async fn http1_and_http2_prior_knowledge_are_both_served() {
    let stack = TestStack::spawn().await;
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let response = h2
        .post(format!("{}/v1/chat/completions", stack.base))
        .bearer_auth(&stack.admin_key)
        .json(&chat("mock-gpt", "over h2"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status(), 200);
    let json: Value = response.json().await.unwrap();
    assert!(json["choices"][0]["message"]["content"].is_string(), "{json}");

    let body = chat("mock-gpt", "dribbled").to_string();
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: test\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        stack.admin_key,
        body.len()
    );
    let addr = stack.base.trim_start_matches("http://");
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    for byte in request.as_bytes().iter().take(3) {
        tcp.write_all(&[*byte]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tcp.write_all(&request.as_bytes()[3..]).await.unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// A client that waits for `100 Continue` before sending its body is
/// refused without being asked for it, or invited and then answered on a
/// connection that stays open.
#[tokio::test]
async fn a_client_waiting_for_100_continue_is_asked_for_its_body_only_when_it_is_wanted() {
    let stack = TestStack::spawn().await;
    let body = chat("mock-gpt", "after 100 Continue").to_string();
    let head = |key: &str| {
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: test\r\nauthorization: Bearer {key}\r\ncontent-type: application/json\r\nexpect: 100-continue\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
    };
    let mut refused = KeepAlive::connect(&stack.base).await;
    refused
        .0
        .get_mut()
        .write_all(head("kw_wrong").as_bytes())
        .await
        .unwrap();
    let answer = refused.answer().await.expect("an answer without the body");
    assert_eq!(answer.status, 401, "not a 100 Continue");
    assert_eq!(
        answer.headers.get("connection").map(String::as_str),
        Some("close")
    );

    let mut invited = KeepAlive::connect(&stack.base).await;
    for _ in 0..2 {
        invited
            .0
            .get_mut()
            .write_all(head(&stack.admin_key).as_bytes())
            .await
            .unwrap();
        assert_eq!(invited.answer().await.unwrap().status, 100);
        invited.0.get_mut().write_all(body.as_bytes()).await.unwrap();
        let answer = invited.answer().await.expect("an answer on the same connection");
        assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
        assert_eq!(answer.headers.get("connection"), None);
    }
}

/// Connections are served on front threads (`KEYWAY_FRONT_THREADS`, one per
/// CPU by default) or, with 0, on the main runtime. Either way, keep-alive
/// connections open at once each get every answer, streamed or not.
#[tokio::test]
async fn connections_are_served_with_and_without_front_threads() {
    for fronts in ["0", "3"] {
        let stack = TestStack::spawn_with(&[("KEYWAY_FRONT_THREADS", fronts)]).await;
        let auth = format!("Bearer {}", stack.admin_key);
        let clients: Vec<_> = (0..6)
            .map(|client| {
                let (base, auth) = (stack.base.clone(), auth.clone());
                tokio::spawn(async move {
                    let mut connection = KeepAlive::connect(&base).await;
                    for n in 0..3 {
                        let mut body = chat("mock-gpt", &format!("client {client}, request {n}"));
                        let streamed = n == 2;
                        body["stream"] = json!(streamed);
                        let answer = connection
                            .send("POST", "/v1/chat/completions", Some(&auth), &body.to_string())
                            .await
                            .expect("an answer on the same connection");
                        let text = String::from_utf8_lossy(&answer.body).into_owned();
                        assert_eq!(answer.status, 200, "fronts {fronts}: {text}");
                        if streamed {
                            assert!(
                                text.trim_end().ends_with("data: [DONE]"),
                                "fronts {fronts}: {text}"
                            );
                        } else {
                            let json: Value = serde_json::from_str(&text).unwrap();
                            assert!(json["choices"][0]["message"]["content"].is_string(), "{json}");
                        }
                    }
                })
            })
            .collect();
        for client in clients {
            client.await.unwrap();
        }
    }
}
