//! Proof that no plaintext secret is ever persisted or logged: the real
//! `keyway` binary (at debug log level) goes through the whole key life cycle
//! (API keys issued, rotated and revoked; BYOK keys set, replaced, used,
//! tested and deleted; wrong keys presented), then its Postgres database
//! (`pg_dump`), every message of its JetStream streams and its logs are
//! searched for every secret it ever saw, raw and hex- or base64-encoded.

use std::{
    process::Command,
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use reqwest::Method as M;

use crate::helpers::{KeywayProcess, chat, eventually, key_outbox_drained, nats_url, random_secret};

/// One secret the stack saw, and the name a failure reports it under.
struct Secret {
    name: String,
    value: String,
}

/// One place searched: its label and its bytes.
pub(crate) struct Haystack {
    pub(crate) place: String,
    pub(crate) bytes: Vec<u8>,
}

/// A thin REST client for the process under test.
struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        bearer: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(bearer);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let text = response.text().await.expect("response body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn expect(
        &self,
        method: reqwest::Method,
        path: &str,
        bearer: &str,
        body: Option<Value>,
        want: u16,
    ) -> Value {
        let what = format!("{method} {path}");
        let (status, answer) = self.send(method, path, bearer, body).await;
        assert_eq!(status, want, "{what} answered {status}: {answer}");
        answer
    }

    async fn chat(&self, bearer: &str, model: &str) -> (u16, Value) {
        self.send(
            reqwest::Method::POST,
            "/v1/chat/completions",
            bearer,
            Some(chat(model, "scan me")),
        )
        .await
    }

    /// Polls a chat call until it answers `want` (evictions travel through
    /// NATS, so a revocation takes effect within about a second, not at once).
    async fn chat_until(&self, bearer: &str, model: &str, want: u16) -> Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (status, body) = self.chat(bearer, model).await;
            if status == want {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "{model} still answered {status} (not {want}) after 5 s: {body}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("an id in the answer").to_owned()
}

fn key_of(v: &Value) -> String {
    v["key"].as_str().expect("a key in the answer").to_owned()
}

fn content_of(v: &Value) -> &str {
    v["choices"][0]["message"]["content"].as_str().unwrap_or_default()
}

/// The mock's base URL from the banner line `mock upstream (in-process): URL`.
pub(crate) fn mock_url(logs: &str) -> String {
    logs.split("mock upstream (in-process): ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the banner names the in-process mock")
        .to_owned()
}

/// The encodings under which a secret would still be plaintext: raw, hex
/// (how `pg_dump` prints `bytea`) and base64 in each of the three byte
/// alignments (the core that does not depend on the neighbouring bytes).
pub(crate) fn encodings(secret: &str) -> Vec<(&'static str, Vec<u8>)> {
    let bytes = secret.as_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut forms = vec![
        ("raw", bytes.to_vec()),
        ("hex", hex.clone().into_bytes()),
        ("HEX", hex.to_uppercase().into_bytes()),
    ];
    for skip in 0..3 {
        let aligned = &bytes[skip..];
        let core = &aligned[..aligned.len() / 3 * 3];
        let standard = base64_core(core);
        let url_safe = standard.replace('+', "-").replace('/', "_");
        if url_safe != standard {
            forms.push(("base64url", url_safe.into_bytes()));
        }
        forms.push(("base64", standard.into_bytes()));
    }
    forms
}

/// Base64 of whole 3-byte groups (no padding needed).
fn base64_core(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    bytes
        .chunks_exact(3)
        .flat_map(|c| {
            let n = (u32::from(c[0]) << 16) | (u32::from(c[1]) << 8) | u32::from(c[2]);
            [18, 12, 6, 0].map(|shift| char::from(ALPHABET[((n >> shift) & 63) as usize]))
        })
        .collect()
}

pub(crate) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Where in the haystack a hit is: the line, with the secret blanked out,
/// and for a `pg_dump` the table whose COPY block it is in.
fn locate(haystack: &[u8], at: usize, needle_len: usize, name: &str) -> String {
    let start = haystack[..at]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let end = haystack[at..]
        .iter()
        .position(|b| *b == b'\n')
        .map_or(haystack.len(), |i| at + i);
    let line_no = haystack[..at].iter().filter(|b| **b == b'\n').count() + 1;
    let line = format!(
        "{}<{name}>{}",
        String::from_utf8_lossy(&haystack[start..at]),
        String::from_utf8_lossy(&haystack[at + needle_len..end])
    );
    let line: String = line.chars().take(300).collect();
    let before = String::from_utf8_lossy(&haystack[..at]);
    let table = before
        .rfind("\nCOPY ")
        .map(|i| {
            before[i + 6..]
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .map_or_else(String::new, |t| format!(" (COPY block of {t})"));
    format!("line {line_no}{table}: {line}")
}

pub(crate) fn pg_dump(db: &str) -> Vec<u8> {
    let output = Command::new("pg_dump")
        .args(["-h", "127.0.0.1", "-U", "postgres", "--no-password", db])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "pg_dump could not be run ({e}); it comes with Debian's postgresql-client and must be on PATH"
            )
        });
    assert!(
        output.status.success(),
        "pg_dump {db} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Every message of the stream, one haystack each: subject, headers, payload.
pub(crate) async fn stream_messages(js: &async_nats::jetstream::Context, name: &str) -> Vec<Haystack> {
    let mut stream = js
        .get_stream(name)
        .await
        .unwrap_or_else(|e| panic!("JetStream stream {name}: {e}"));
    let state = stream.info().await.expect("stream info").state.clone();
    let mut found = Vec::new();
    if state.messages == 0 {
        return found;
    }
    for seq in state.first_sequence..=state.last_sequence {
        let Ok(message) = stream.get_raw_message(seq).await else {
            continue; // deleted from the middle of the stream: nothing to scan
        };
        let mut bytes = format!("{}\n", message.subject).into_bytes();
        for (header, values) in message.headers.iter() {
            for value in values {
                bytes.extend_from_slice(format!("{header}: {value}\n").as_bytes());
            }
        }
        bytes.extend_from_slice(&message.payload);
        found.push(Haystack {
            place: format!("NATS {name} seq {seq} (subject {})", message.subject),
            bytes,
        });
    }
    found
}

#[tokio::test]
#[expect(clippy::print_stdout, reason = "what was searched is the test's report")]
async fn no_plaintext_secret_reaches_postgres_nats_or_the_logs() {
    // Fail early and clearly if the dump tool is missing.
    assert!(
        Command::new("pg_dump").arg("--version").output().is_ok(),
        "pg_dump is not on PATH: install Debian's postgresql-client"
    );
    let system_key = random_secret("sk-scan-system-");
    let alice_old = random_secret("sk-scan-alice-old-");
    let alice_byok = random_secret("sk-scan-alice-");
    let bob_byok = random_secret("sk-scan-bob-");
    let tenant_byok = random_secret("sk-scan-tenant-");
    let custom_byok = random_secret("sk-scan-custom-");
    let wrong_raw = random_secret("sk-scan-wrong-");
    let mock_keys = format!(
        "{alice_old}=scan-alice-old,{alice_byok}=scan-alice,{bob_byok}=scan-bob,{tenant_byok}=scan-tenant,{custom_byok}=scan-custom"
    );
    let process = KeywayProcess::start(&[
        ("RUST_LOG", "debug"),
        ("KEYWAY_MOCK_SYSTEM_KEY", system_key.as_str()),
        ("KEYWAY_MOCK_KEYS", mock_keys.as_str()),
    ]);
    let admin = process.isolation.admin_key.clone();
    let mock = mock_url(&process.logs());
    let api = Api {
        base: process.base.clone(),
        http: reqwest::Client::new(),
    };

    // Tenant, two users, two user-bound keys and a service key.
    let tenant = id_of(
        &api.expect(
            M::POST,
            "/api/v1/tenants",
            &admin,
            Some(json!({"name": "secret-scan", "plan": "starter"})),
            201,
        )
        .await,
    );
    let users = format!("/api/v1/tenants/{tenant}/users");
    let keys = format!("/api/v1/tenants/{tenant}/api-keys");
    let alice = id_of(
        &api.expect(M::POST, &users, &admin, Some(json!({"role": "member"})), 201)
            .await,
    );
    let bob = id_of(
        &api.expect(M::POST, &users, &admin, Some(json!({"role": "member"})), 201)
            .await,
    );
    let alice_issued = api
        .expect(
            M::POST,
            &keys,
            &admin,
            Some(json!({"name": "alice", "user_id": alice})),
            201,
        )
        .await;
    let bob_issued = api
        .expect(
            M::POST,
            &keys,
            &admin,
            Some(json!({"name": "bob", "user_id": bob})),
            201,
        )
        .await;
    let service_issued = api
        .expect(M::POST, &keys, &admin, Some(json!({"name": "service"})), 201)
        .await;
    let (alice_key, bob_old_key, service_key) = (
        key_of(&alice_issued),
        key_of(&bob_issued),
        key_of(&service_issued),
    );

    // Rotation: the old secret stops working, the new one works.
    let bob_id = id_of(&bob_issued);
    let bob_key = key_of(
        &api.expect(M::POST, &format!("{keys}/{bob_id}/rotate"), &admin, None, 200)
            .await,
    );
    assert_ne!(bob_key, bob_old_key);
    api.chat_until(&bob_old_key, "mock-gpt", 401).await;

    // BYOK: user keys (Alice's replaced once), a tenant key, a custom provider
    // pointing at the in-process mock.
    let byok = "/api/v1/byok/keys";
    for secret in [&alice_old, &alice_byok] {
        api.expect(
            M::PUT,
            &format!("{byok}/openai"),
            &alice_key,
            Some(json!({"key": secret})),
            200,
        )
        .await;
    }
    api.expect(
        M::PUT,
        &format!("{byok}/openai"),
        &bob_key,
        Some(json!({"key": bob_byok})),
        200,
    )
    .await;
    api.expect(
        M::PUT,
        &format!("{byok}/openai?tenant_id={tenant}"),
        &admin,
        Some(json!({"key": tenant_byok, "scope": "tenant"})),
        200,
    )
    .await;
    api.expect(
        M::PUT,
        &format!("{byok}/custom-scan?tenant_id={tenant}"),
        &admin,
        Some(json!({"key": custom_byok, "scope": "tenant", "base_url": mock})),
        200,
    )
    .await;

    // Traffic: each user's own BYOK key reaches the mock; the service key uses the system key.
    for (key, identity) in [(&alice_key, "scan-alice"), (&bob_key, "scan-bob")] {
        let body = api.chat_until(key, "mock-gpt-byok", 200).await;
        assert!(
            content_of(&body).contains(&format!("[Authenticated as {identity}]")),
            "{identity}'s BYOK key did not reach the mock: {body}"
        );
    }
    let (status, body) = api.chat(&service_key, "mock-gpt").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        content_of(&body).contains("[Authenticated as keyway-system]"),
        "{body}"
    );
    let mut streamed = chat("mock-gpt-byok", "stream me");
    streamed["stream"] = json!(true);
    let sse = api
        .http
        .post(format!("{}/v1/chat/completions", api.base))
        .bearer_auth(&alice_key)
        .json(&streamed)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(sse.contains("scan-alice"), "the streamed BYOK call failed: {sse}");

    // The provider test sends the custom key to the mock's /models.
    let tested = api
        .expect(
            M::POST,
            &format!("{byok}/custom-scan/test?tenant_id={tenant}"),
            &admin,
            None,
            200,
        )
        .await;
    assert_eq!(tested["ok"], true, "{tested}");

    // Listings show masks, never secrets (searched below with everything else).
    let (_, alice_listing) = api.send(M::GET, byok, &alice_key, None).await;
    let (_, tenant_listing) = api
        .send(M::GET, &format!("{byok}?tenant_id={tenant}"), &admin, None)
        .await;
    let (_, key_listing) = api.send(M::GET, &keys, &admin, None).await;

    // Deleting Bob's BYOK key, revoking the service key, wrong keys.
    api.expect(M::DELETE, &format!("{byok}/openai"), &bob_key, None, 204)
        .await;
    let refused = api.chat_until(&bob_key, "mock-gpt-byok", 400).await;
    assert_eq!(refused["error"]["code"], "key_required", "{refused}");
    let service_id = id_of(&service_issued);
    api.expect(M::DELETE, &format!("{keys}/{service_id}"), &admin, None, 204)
        .await;
    api.chat_until(&service_key, "mock-gpt", 401).await;
    // A key of the right shape with a made-up secret, and a raw one.
    let mut wrong_kw = key_of(&alice_issued);
    let cut = wrong_kw.rfind('_').unwrap() + 1;
    wrong_kw.replace_range(cut.., &"Z".repeat(30));
    for wrong in [&wrong_kw, &wrong_raw] {
        let (status, _) = api.chat(wrong, "mock-gpt").await;
        assert_eq!(status, 401);
        let (status, _) = api.send(M::GET, byok, wrong, None).await;
        assert_eq!(status, 401);
    }

    // Let the outbox drain to JetStream and the logs flush.
    key_outbox_drained(&process.isolation.db_name).await;
    let nats = async_nats::connect(nats_url()).await.expect("NATS");
    let js = async_nats::jetstream::new(nats);
    let prefix = process.isolation.nats_prefix.to_uppercase();
    // Usage events are published and log lines written in the background:
    // wait until what the checks below look for is there.
    eventually("usage events reach JetStream and the logs flush", || async {
        let logs = process.logs();
        !stream_messages(&js, &format!("{prefix}_USAGE")).await.is_empty()
            && logs.contains("[AUTH]")
            && logs.contains("scan-alice")
            && logs.contains("DEBUG")
    })
    .await;

    // Collect everything the stack wrote.
    let dump = pg_dump(&process.isolation.db_name);
    let mut nats_messages = stream_messages(&js, &format!("{prefix}_KEYS")).await;
    nats_messages.extend(stream_messages(&js, &format!("{prefix}_USAGE")).await);
    let logs = process.logs();

    // The scan is not vacuous.
    let dump_text = String::from_utf8_lossy(&dump);
    assert!(dump_text.contains(&tenant), "the dump does not hold the tenant");
    assert!(
        dump_text.contains("CREATE TABLE public.byok_keys"),
        "the dump has no byok_keys table"
    );
    let custom_masked = format!("{}…{}", &custom_byok[..4], &custom_byok[custom_byok.len() - 4..]);
    assert!(
        dump_text.contains("COPY public.byok_keys") && dump_text.contains(&custom_masked),
        "the dump has no BYOK rows"
    );
    assert!(!nats_messages.is_empty(), "no NATS message was found to scan");
    assert!(
        nats_messages
            .iter()
            .any(|m| m.place.ends_with(&format!("{tenant})"))),
        "no key-change event for the tenant reached JetStream"
    );
    assert!(
        logs.contains("[AUTH]") && logs.contains("scan-alice"),
        "the mock's auth lines are not in the logs"
    );
    assert!(logs.contains("DEBUG"), "the logs are not at debug level");

    let mut secrets = vec![
        Secret {
            name: "admin key".into(),
            value: admin.clone(),
        },
        Secret {
            name: "KEYWAY_MOCK_SYSTEM_KEY".into(),
            value: system_key.clone(),
        },
        Secret {
            name: "Alice's first BYOK key (replaced)".into(),
            value: alice_old.clone(),
        },
        Secret {
            name: "Alice's BYOK key".into(),
            value: alice_byok.clone(),
        },
        Secret {
            name: "Bob's BYOK key (deleted)".into(),
            value: bob_byok.clone(),
        },
        Secret {
            name: "the tenant BYOK key".into(),
            value: tenant_byok.clone(),
        },
        Secret {
            name: "the custom-provider BYOK key".into(),
            value: custom_byok.clone(),
        },
        Secret {
            name: "a wrong raw key".into(),
            value: wrong_raw.clone(),
        },
    ];
    for (name, key) in [
        ("Alice's API key", &alice_key),
        ("Bob's API key before rotation", &bob_old_key),
        ("Bob's API key after rotation", &bob_key),
        ("the service API key (revoked)", &service_key),
        ("a wrong API key", &wrong_kw),
    ] {
        let tail = key.split('_').nth(3).expect("kw_<env>_<id>_<secret>").to_owned();
        secrets.push(Secret {
            name: format!("{name} (secret part)"),
            value: tail[..24].to_owned(),
        });
        secrets.push(Secret {
            name: format!("{name} (4th part)"),
            value: tail,
        });
        secrets.push(Secret {
            name: name.to_owned(),
            value: key.clone(),
        });
    }

    let mut haystacks = vec![
        Haystack {
            place: format!("pg_dump of {}", process.isolation.db_name),
            bytes: dump,
        },
        Haystack {
            place: "the process logs (stdout + stderr)".into(),
            bytes: logs.into_bytes(),
        },
        Haystack {
            place: "GET /api/v1/byok/keys (Alice)".into(),
            bytes: alice_listing.to_string().into_bytes(),
        },
        Haystack {
            place: "GET /api/v1/byok/keys (tenant)".into(),
            bytes: tenant_listing.to_string().into_bytes(),
        },
        Haystack {
            place: "GET .../api-keys".into(),
            bytes: key_listing.to_string().into_bytes(),
        },
    ];
    let nats_count = nats_messages.len();
    haystacks.extend(nats_messages);

    let mut leaks = Vec::new();
    let mut needles = 0;
    for secret in &secrets {
        for (form, needle) in encodings(&secret.value) {
            needles += 1;
            for hay in &haystacks {
                if let Some(at) = find(&hay.bytes, &needle) {
                    leaks.push(format!(
                        "{} ({form}) is in {}, {}",
                        secret.name,
                        hay.place,
                        locate(&hay.bytes, at, needle.len(), &secret.name)
                    ));
                }
            }
        }
    }
    // What was searched, for docs/security.md: `--nocapture` shows it.
    println!(
        "secret_scan: {} secrets as {needles} encodings over {} places, {nats_count} of them NATS messages ({} bytes): {} leaks",
        secrets.len(),
        haystacks.len(),
        haystacks.iter().map(|h| h.bytes.len()).sum::<usize>(),
        leaks.len()
    );
    assert!(
        leaks.is_empty(),
        "{} plaintext secret leak(s) found:\n  {}",
        leaks.len(),
        leaks.join("\n  ")
    );
}
