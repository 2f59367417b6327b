//! Keycloak sign-in to the console (authorization code + PKCE) against the
//! real `oidc-provider` (tests/oidc/server.mjs), following every redirect
//! by hand as a browser would: the console sends the browser to the
//! provider with an S256 challenge, the provider signs the test user in and
//! sends it back with code and state, the console exchanges the code and
//! the session lands in the user's tenant with their role. A callback in a
//! fresh browser (no pending sign-in, so no PKCE verifier), a wrong state
//! and a replayed callback are refused.

use std::{
    collections::HashMap,
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
};

use reqwest::{StatusCode, redirect::Policy};
use serde_json::{Value, json};

use crate::{
    helpers::{TestStack, repo_root},
    keys_api::call,
    oidc::{ROLE_MAP, tenant_for},
};

/// The OIDC peer with the console's client registered for `redirect_uri`,
/// on `port` (the stack must know the issuer before the peer knows the
/// stack's address).
struct Peer(Child);

impl Peer {
    fn start(port: u16, redirect_uri: &str, user: &Value, secret: Option<&str>) -> Self {
        let script = repo_root().join("tests/oidc/server.mjs");
        assert!(
            script.with_file_name("node_modules").exists(),
            "the OIDC peer is not installed: run `bash scripts/install-peers.sh`"
        );
        let mut child = Command::new("node")
            .arg(&script)
            .env("REALMS", "acme")
            .env("PORT", port.to_string())
            .env("AUDIENCE", "keyway")
            .env("CONSOLE_REDIRECT_URI", redirect_uri)
            .env("TEST_USER", user.to_string())
            .env("CONSOLE_CLIENT_SECRET", secret.unwrap_or_default())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node starts");
        let mut line = String::new();
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut stderr = child.stderr.take().expect("stderr");
        stdout.read_line(&mut line).expect("the peer prints its port");
        if !line.contains("\"port\"") {
            // It exited: its stderr says why.
            let mut why = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut why);
            panic!("OIDC peer on port {port} said {line:?}; stderr: {why}");
        }
        // oidc-provider prints notices later on; a closed pipe would kill it.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        Self(child)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    crate::ports::server_port()
}

/// A browser without JavaScript: one cookie jar (by name, as both servers
/// use distinct names), redirects followed by hand.
struct Browser {
    http: reqwest::Client,
    jar: HashMap<String, String>,
}

struct Answer {
    status: StatusCode,
    location: String,
    set_cookies: Vec<String>,
    body: String,
}

impl Browser {
    fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .unwrap(),
            jar: HashMap::new(),
        }
    }

    async fn get(&mut self, url: &str) -> Answer {
        let cookies = self
            .jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let response = self.http.get(url).header("cookie", cookies).send().await.unwrap();
        let base = response.url().clone();
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(|l| base.join(l).unwrap().to_string())
            .unwrap_or_default();
        let set_cookies: Vec<String> = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        for cookie in &set_cookies {
            let pair = cookie.split(';').next().unwrap_or_default();
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            if value.is_empty() || cookie.contains("Max-Age=0") || cookie.contains("max-age=0") {
                self.jar.remove(name.trim());
            } else {
                self.jar.insert(name.trim().to_owned(), value.to_owned());
            }
        }
        let status = response.status();
        Answer {
            status,
            location,
            set_cookies,
            body: response.text().await.unwrap(),
        }
    }

    /// From the console's start to the provider's redirect back: the
    /// authorization URL and the callback URL (not yet followed).
    async fn via_provider(&mut self, stack: &TestStack) -> (reqwest::Url, String) {
        let start = self.get(&stack.url("/console/oidc/start")).await;
        assert_eq!(start.status, StatusCode::SEE_OTHER, "{}", start.body);
        let authorize = reqwest::Url::parse(&start.location).unwrap();
        let mut next = start.location.clone();
        for _ in 0..6 {
            let answer = self.get(&next).await;
            assert!(
                answer.status.is_redirection(),
                "{} {}",
                answer.status,
                answer.body
            );
            if answer.location.starts_with(&stack.url("/console/oidc/callback")) {
                return (authorize, answer.location);
            }
            next = answer.location;
        }
        panic!("the provider never sent the browser back");
    }
}

/// The ids of a users listing.
fn user_ids(listing: &Value) -> Vec<String> {
    let list = listing.get("data").unwrap_or(listing);
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|u| u["id"].as_str().map(str::to_owned))
        .collect()
}

/// A bearer token of the realm for `user`, as Keycloak would issue it.
async fn sign(port: u16, issuer: &str, user: &Value) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut claims = json!({"iss": issuer, "aud": "keyway", "iat": now, "exp": now + 600});
    for (k, v) in user.as_object().unwrap() {
        claims[k] = v.clone();
    }
    let reply: Value = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/test/realms/acme/sign"))
        .json(&json!({"claims": claims}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    reply["token"].as_str().unwrap().to_owned()
}

/// A stack whose console signs in at a fresh peer, the console's client
/// confidential when the peer has a secret (`at_peer`), Keyway sending
/// `at_keyway`. Returns the peer's port and issuer too.
async fn stack_and_peer(
    user: &Value,
    at_peer: Option<&str>,
    at_keyway: Option<&str>,
) -> (TestStack, Peer, u16, String) {
    let peer_port = free_port();
    let issuer = format!("http://127.0.0.1:{peer_port}/realms/acme");
    let mut env = vec![
        ("KEYWAY_OIDC_ISSUER", issuer.as_str()),
        ("KEYWAY_OIDC_AUDIENCE", "keyway"),
        ("KEYWAY_OIDC_ROLE_MAP", ROLE_MAP),
        ("KEYWAY_OIDC_KID_COOLDOWN_MS", "0"),
        ("KEYWAY_CONSOLE_OIDC_CLIENT_ID", "keyway-console"),
    ];
    if let Some(secret) = at_keyway {
        env.push(("KEYWAY_CONSOLE_OIDC_CLIENT_SECRET", secret));
    }
    let stack = TestStack::spawn_with(&env).await;
    let peer = Peer::start(peer_port, &stack.url("/console/oidc/callback"), user, at_peer);
    (stack, peer, peer_port, issuer)
}

fn param(url: &reqwest::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn a_keycloak_user_signs_in_with_code_and_pkce_and_lands_in_their_tenant() {
    let user = json!({"sub": "kc-erin", "organization": ["acme"], "realm_access": {"roles": ["admin"]}});
    let (stack, _peer, peer_port, issuer) = stack_and_peer(&user, None, None).await;
    let tenant = tenant_for(&stack, "acme", json!({})).await;

    let mut browser = Browser::new();
    let page = browser.get(&stack.url("/console/sign-in")).await;
    assert!(
        page.body.contains("Sign in with Keycloak") && page.body.contains("href=\"/console/oidc/start\"")
    );

    let (authorize, callback) = browser.via_provider(&stack).await;
    assert!(authorize.as_str().starts_with(&issuer), "{authorize}");
    assert_eq!(
        param(&authorize, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(param(&authorize, "code_challenge").map(|c| c.len()), Some(43));
    assert!(param(&authorize, "nonce").is_some());
    let state = param(&authorize, "state").unwrap();
    let back = reqwest::Url::parse(&callback).unwrap();
    assert_eq!(param(&back, "state"), Some(state.clone()));
    let code = param(&back, "code").unwrap();

    // The same code and state in a fresh browser: no pending sign-in there,
    // so no PKCE verifier to redeem the code with.
    let mut stranger = Browser::new();
    let refused = stranger.get(&callback).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert!(
        refused.body.contains("not started in this browser"),
        "{}",
        refused.body
    );
    assert!(
        !refused
            .set_cookies
            .iter()
            .any(|c| c.starts_with("keyway_console="))
    );

    let pending = browser.jar.get("keyway_console_oidc").cloned().unwrap();
    let signed = browser.get(&callback).await;
    assert_eq!(signed.status, StatusCode::OK, "{}", signed.body);
    let session = signed
        .set_cookies
        .iter()
        .find(|c| c.starts_with("keyway_console="))
        .expect("a session cookie");
    assert!(
        session.contains("HttpOnly")
            && session.contains("SameSite=Strict")
            && session.contains("Path=/console")
    );
    assert!(signed.body.contains("url=/console/models"));
    assert!(
        !signed.body.contains(&code) && !signed.body.contains("eyJ"),
        "no code or token is rendered"
    );

    let models = browser.get(&stack.url("/console/models")).await;
    assert_eq!(models.status, StatusCode::OK, "{}", models.body);
    assert!(models.body.contains(&tenant), "the person's tenant is shown");
    assert!(
        models.body.contains("tenant-admin"),
        "the role mapped from `admin`"
    );
    assert!(!models.body.contains("eyJ"), "the access token is never rendered");

    // The session is the same user a bearer token from the issuer is: the
    // sign-in made the user, and the token finds that user, not a new one.
    let users_path = format!("/api/v1/tenants/{tenant}/users");
    let users = || async { user_ids(&call(&stack, &stack.admin_key, "GET", &users_path, None).await.1) };
    let after_console = users().await;
    assert_eq!(after_console.len(), 1, "{after_console:?}");
    let bearer = sign(peer_port, &issuer, &user).await;
    let (status, listed) = call(&stack, &bearer, "GET", &users_path, None).await;
    assert_eq!(status, 200, "a tenant admin's token, like the session: {listed}");
    assert_eq!(users().await, after_console);
    let page = browser.get(&stack.url("/console/users")).await;
    assert!(
        page.body.contains(&after_console[0]),
        "the console lists the same user"
    );

    // Replaying the callback, even with the spent pending cookie, is refused.
    browser.jar.insert("keyway_console_oidc".into(), pending);
    let replayed = browser.get(&callback).await;
    assert_eq!(replayed.status, StatusCode::BAD_REQUEST, "{}", replayed.body);

    // A wrong state is refused, and spends the pending sign-in.
    let (_, callback) = browser.via_provider(&stack).await;
    let mut forged = reqwest::Url::parse(&callback).unwrap();
    let pairs: Vec<(String, String)> = forged
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" {
                "forged".into()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    forged.query_pairs_mut().clear().extend_pairs(pairs);
    let pending = browser.jar.get("keyway_console_oidc").cloned().unwrap();
    let wrong = browser.get(forged.as_str()).await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST, "{}", wrong.body);
    assert!(wrong.body.contains("did not match"), "{}", wrong.body);
    browser.jar.insert("keyway_console_oidc".into(), pending);
    let late = browser.get(&callback).await;
    assert_eq!(late.status, StatusCode::BAD_REQUEST, "{}", late.body);

    // The provider's own refusal is shown by its error code only.
    let (_, callback) = browser.via_provider(&stack).await;
    let state = param(&reqwest::Url::parse(&callback).unwrap(), "state").unwrap();
    let denied = browser
        .get(&stack.url(&format!(
            "/console/oidc/callback?error=access_denied&error_description=%3Cb%3Eno%3C%2Fb%3E&state={state}"
        )))
        .await;
    assert_eq!(denied.status, StatusCode::UNAUTHORIZED, "{}", denied.body);
    assert!(denied.body.contains("(access_denied)") && !denied.body.contains("<b>no"));
}

#[tokio::test]
async fn a_confidential_console_client_signs_in_with_its_secret_and_a_wrong_one_is_refused() {
    let user = json!({"sub": "kc-finn", "organization": ["acme"], "realm_access": {"roles": ["llm-user"]}});
    let secret = "console-client-secret-0123";
    for (sent, signed_in) in [(secret, true), ("not-the-secret", false)] {
        let (stack, _peer, _, _) = stack_and_peer(&user, Some(secret), Some(sent)).await;
        let tenant = tenant_for(&stack, "acme", json!({})).await;
        let mut browser = Browser::new();
        let (_, callback) = browser.via_provider(&stack).await;
        let answer = browser.get(&callback).await;
        if signed_in {
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
            let models = browser.get(&stack.url("/console/models")).await;
            assert!(
                models.body.contains(&tenant) && models.body.contains("member"),
                "{}",
                models.body
            );
        } else {
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
            assert!(answer.body.contains("(invalid_client)"), "{}", answer.body);
            assert!(!answer.body.contains(sent) && !answer.body.contains(secret));
        }
    }
}
