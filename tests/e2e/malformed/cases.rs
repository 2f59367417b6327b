//! The cases, each sent to every route of `ROUTES` through a raw socket.

use serde_json::{Value, json};

use super::{
    ROUTES, Route, Wire,
    raw::{RawAnswer, send},
};
use crate::helpers::KeywayProcess;

/// What a case must get back.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// A 4xx in the route's own error shape.
    Shaped,
    /// This 4xx in the route's own error shape.
    Status(u16),
    /// A 4xx; the HTTP parser may answer it bare, before any route runs.
    Refused,
}

struct Case {
    name: String,
    /// Extra header lines, each ending in CRLF.
    headers: String,
    /// `None`: the credential header is left to `headers`.
    auth: bool,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    /// Sent with `Transfer-Encoding: chunked` instead of a length.
    chunked: bool,
    expect: Expect,
}

impl Case {
    fn body(name: &str, body: impl Into<Vec<u8>>, expect: Expect) -> Self {
        Self {
            name: name.to_owned(),
            headers: String::new(),
            auth: true,
            content_type: Some("application/json"),
            body: body.into(),
            chunked: false,
            expect,
        }
    }

    fn header(name: &str, lines: String, expect: Expect, valid: &Value) -> Self {
        Self {
            headers: lines,
            ..Self::body(name, valid.to_string(), expect)
        }
    }
}

/// `valid` with `field` set to the raw JSON text `raw`.
fn with_raw(valid: &Value, field: &str, raw: &str) -> Vec<u8> {
    let mut text = valid.to_string();
    text.pop();
    format!("{text},\"{field}\":{raw}}}").into_bytes()
}

fn cases(route: &Route, admin_key: &str) -> Vec<Case> {
    let valid = (route.body)();
    let keyway = route.wire == Wire::Keyway;
    let mut cases = Vec::new();
    let pad = "x".repeat(11 << 20);
    cases.push(Case::body(
        "a body over the limit (sized)",
        with_raw(&valid, "pad", &format!("\"{pad}\"")),
        Expect::Status(413),
    ));
    cases.push(Case {
        chunked: true,
        ..Case::body(
            "a body over the limit (chunked)",
            with_raw(&valid, "pad", &format!("\"{pad}\"")),
            Expect::Status(413),
        )
    });
    let mut utf8 = with_raw(&valid, "note", "\"caf\u{e9}\"");
    let at = utf8.len() - 4;
    utf8[at] = 0xff;
    cases.push(Case::body("invalid UTF-8 in a string", utf8, Expect::Status(400)));
    // Deep enough for any recursive parser, small enough for `/api/v1`'s
    // 64 KiB body limit.
    let deep = 8_000;
    let arrays = format!("{}{}", "[".repeat(deep), "]".repeat(deep));
    cases.push(Case::body(
        "arrays nested 8,000 deep",
        with_raw(&valid, "deep", &arrays),
        Expect::Status(400),
    ));
    let objects = format!("{}1{}", "{\"a\":".repeat(deep), "}".repeat(deep));
    cases.push(Case::body(
        "objects nested 8,000 deep",
        with_raw(&valid, "deep", &objects),
        Expect::Status(400),
    ));
    cases.push(Case::body(
        "unclosed nesting",
        "[".repeat(deep),
        Expect::Status(400),
    ));
    // The last of duplicate keys wins, for the gateway as for the body it
    // forwards (it sends what it parsed): a valid first value must not
    // hide an invalid last one.
    let (field, last, status) = if keyway {
        ("plan", "\"gold\"", 400)
    } else {
        ("model", "\"no-such-model\"", 404)
    };
    cases.push(Case::body(
        "a duplicate key, the last invalid",
        with_raw(&valid, field, last),
        Expect::Status(status),
    ));
    let number_field = if keyway { "limits" } else { "temperature" };
    let number = |n: &str| {
        if keyway {
            format!("{{\"requests_per_minute\":{n}}}")
        } else {
            n.to_owned()
        }
    };
    cases.push(Case::body(
        "1e400",
        with_raw(&valid, number_field, &number("1e400")),
        Expect::Status(400),
    ));
    cases.push(Case::body(
        "-1e400",
        with_raw(&valid, number_field, &number("-1e400")),
        Expect::Status(400),
    ));
    let absurd_values: &[&str] = if keyway {
        &["18446744073709551616", "-1", "0.5", "1e400"]
    } else {
        &["18446744073709551616", "9223372036854775807", "-1", "1e18", "0.5"]
    };
    for absurd in absurd_values {
        let mut body = valid.clone();
        body.as_object_mut().unwrap().remove("max_tokens");
        let body = if keyway {
            with_raw(&body, "limits", &format!("{{\"tokens_per_minute\":{absurd}}}"))
        } else {
            with_raw(&body, "max_tokens", absurd)
        };
        cases.push(Case::body(&format!("max_tokens {absurd}"), body, Expect::Shaped));
    }
    cases.push(Case {
        content_type: Some("text/plain"),
        ..Case::body(
            "a JSON body sent as text/plain",
            valid.to_string(),
            Expect::Status(415),
        )
    });
    cases.push(Case {
        content_type: Some("application/x-www-form-urlencoded"),
        ..Case::body("a form body", "model=mock-gpt&messages=hi", Expect::Shaped)
    });
    cases.push(Case::header(
        "a bare CR in a header value",
        "X-Note: a\rb\r\n".into(),
        Expect::Refused,
        &valid,
    ));
    cases.push(Case::header(
        "a folded header line",
        "X-Note: a\r\n b\r\n".into(),
        Expect::Refused,
        &valid,
    ));
    cases.push(Case::header(
        "a NUL in a header value",
        "X-Note: a\0b\r\n".into(),
        Expect::Refused,
        &valid,
    ));
    cases.push(Case::header(
        "a space before the colon",
        "X-Note : a\r\n".into(),
        Expect::Refused,
        &valid,
    ));
    // `/v1` caps headers at 64 KiB; `/api/v1` takes what hyper's buffer
    // holds (1 MiB + 64 KiB), as the 2 MiB case shows.
    if !keyway {
        cases.push(Case::header(
            "a 64 KiB header",
            format!("X-Pad: {}\r\n", "a".repeat(64 << 10)),
            Expect::Status(431),
            &valid,
        ));
    }
    cases.push(Case::header(
        "a 2 MiB header",
        format!("X-Pad: {}\r\n", "a".repeat(2 << 20)),
        Expect::Refused,
        &valid,
    ));
    let wrong = "kw_dev_0000000000000000_notakey";
    for (name, lines) in [
        (
            "a valid bearer and another x-api-key",
            format!("Authorization: Bearer {admin_key}\r\nx-api-key: {wrong}\r\n"),
        ),
        (
            "a wrong bearer and a valid x-api-key",
            format!("Authorization: Bearer {wrong}\r\nx-api-key: {admin_key}\r\n"),
        ),
        (
            "two Authorization headers",
            format!("Authorization: Bearer {admin_key}\r\nAuthorization: Bearer {wrong}\r\n"),
        ),
    ] {
        cases.push(Case {
            auth: false,
            ..Case::header(name, lines, Expect::Shaped, &valid)
        });
    }
    cases
}

/// Sends one case; returns what went wrong, if anything.
async fn run(base: &str, route: &Route, case: &Case, admin_key: &str) -> (RawAnswer, Option<String>) {
    let mut head = format!("POST {} HTTP/1.1\r\n{}", route.path, case.headers);
    if case.auth {
        head.push_str(&format!("Authorization: Bearer {admin_key}\r\n"));
    }
    if let Some(ct) = case.content_type {
        head.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    if route.wire == Wire::Anthropic {
        head.push_str("anthropic-version: 2023-06-01\r\n");
    }
    let body = if case.chunked {
        head.push_str("Transfer-Encoding: chunked\r\n");
        let mut chunked = Vec::new();
        for chunk in case.body.chunks(64 << 10) {
            chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            chunked.extend_from_slice(chunk);
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        chunked
    } else {
        head.push_str(&format!("Content-Length: {}\r\n", case.body.len()));
        case.body.clone()
    };
    let answer = send(base, &head, &body).await;
    let code = route.wire.code(&answer.body);
    let shaped_4xx = (400..500).contains(&answer.status) && code.is_some();
    let ok = match case.expect {
        Expect::Shaped => shaped_4xx,
        Expect::Status(status) => shaped_4xx && answer.status == status,
        // The parser's bare answer has no body; a route's has its shape.
        Expect::Refused => (400..500).contains(&answer.status) && (answer.body.is_empty() || code.is_some()),
    };
    let problem = (!ok).then(|| {
        let body: String = answer.body.chars().take(300).collect();
        format!(
            "{} {}: expected {:?}, got {} {body}",
            route.path, case.name, case.expect, answer.status
        )
    });
    (answer, problem)
}

/// A tenant-admin key of a new tenant with a tokens-per-minute limit and a
/// monthly budget.
async fn limited_tenant_key(base: &str, admin_key: &str) -> String {
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        http.post(format!("{base}{path}"))
            .bearer_auth(admin_key)
            .json(&body)
            .send()
    };
    // Under the dev models' 4,096-token output cap, to which an absurd
    // `max_tokens` is lowered: what is left must still not fit.
    let limits = json!({"tokens_per_minute": 1_000, "monthly_budget_micros": 1_000_000_000});
    let tenant: Value = post(
        "/api/v1/tenants",
        json!({"name": "Limited", "plan": "pro", "limits": limits}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let path = format!("/api/v1/tenants/{}/api-keys", tenant["id"].as_str().unwrap());
    let key: Value = post(
        &path,
        json!({"name": "malformed", "role": "tenant-admin", "limits": limits}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    key["key"].as_str().unwrap().to_owned()
}

#[tokio::test]
#[expect(clippy::print_stdout, reason = "the counts by status are the test's report")]
async fn malformed_requests_get_a_shaped_4xx_and_never_a_5xx_a_panic_or_a_hang() {
    let process = KeywayProcess::start(&[]);
    let admin_key = process.isolation.admin_key.clone();
    // `/v1` is called with a tenant's key that has limits, so absurd
    // `max_tokens` reach the reservation arithmetic too.
    let tenant_key = limited_tenant_key(&process.base, &admin_key).await;
    let (mut sent, mut problems, mut by_status) = (0, Vec::new(), std::collections::BTreeMap::new());
    for route in &ROUTES {
        let key = if route.wire == Wire::Keyway {
            &admin_key
        } else {
            &tenant_key
        };
        for case in cases(route, key) {
            let (answer, problem) = run(&process.base, route, &case, key).await;
            sent += 1;
            *by_status.entry(answer.status).or_insert(0) += 1;
            problems.extend(problem);
        }
    }
    let logs = process.logs();
    let panics = logs.matches("panicked").count();
    let server_errors: u32 = by_status.iter().filter(|(s, _)| **s >= 500).map(|(_, n)| n).sum();
    println!(
        "malformed: {sent} requests over {} routes, by status {by_status:?}: {server_errors} 5xx, {panics} panics, 0 hangs, {} not as expected",
        ROUTES.len(),
        problems.len()
    );
    assert_eq!(panics, 0, "the server panicked:\n{logs}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
