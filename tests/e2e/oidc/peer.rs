//! The OIDC peer: the real `oidc-provider` (npm), shaped like Keycloak by
//! tests/oidc/server.mjs, run as a Node process per test. Installed by
//! scripts/install-peers.sh, which the test command runs first.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
};

use serde_json::{Value, json};

pub(crate) struct OidcPeer {
    child: Child,
    pub(crate) port: u16,
    realms: String,
    http: reqwest::Client,
}

fn server_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/oidc/server.mjs")
}

fn start(realms: &str, port: u16) -> (Child, u16) {
    let script = server_script();
    assert!(
        script.with_file_name("node_modules").exists(),
        "the OIDC peer is not installed: run `bash scripts/install-peers.sh` (scripts/test.sh does)"
    );
    let mut child = Command::new("node")
        .arg(&script)
        .env("REALMS", realms)
        .env("PORT", port.to_string())
        .env("AUDIENCE", "keyway")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("node starts (is Node.js installed?)");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("stdout piped");
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the OIDC peer prints its port");
    let ready: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("OIDC peer said {line:?}"));
    (child, ready["port"].as_u64().expect("port") as u16)
}

impl OidcPeer {
    /// A provider serving `realms` (comma-separated), each its own issuer.
    pub(crate) fn start(realms: &str) -> Self {
        let (child, port) = start(realms, 0);
        Self {
            child,
            port,
            realms: realms.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// The IdP restarts on the same port with new signing keys, as after a
    /// key rotation.
    pub(crate) fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (child, _) = start(&self.realms, self.port);
        self.child = child;
        // Pooled connections went to the old process.
        self.http = reqwest::Client::new();
    }

    /// The IdP stops answering at all (connection refused).
    pub(crate) fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub(crate) fn issuer(&self, realm: &str) -> String {
        format!("http://127.0.0.1:{}/realms/{realm}", self.port)
    }

    /// A token signed by `signer` ("realm", "stranger" or
    /// "hs256-public-key") with these header fields and claims as given.
    pub(crate) async fn sign_raw(&self, realm: &str, header: Value, claims: Value, signer: &str) -> String {
        let url = format!("http://127.0.0.1:{}/test/realms/{realm}/sign", self.port);
        let body = json!({"header": header, "claims": claims, "signer": signer});
        let reply: Value = self
            .http
            .post(url)
            .json(&body)
            .send()
            .await
            .expect("sign")
            .json()
            .await
            .expect("json");
        reply["token"].as_str().expect("token").to_owned()
    }

    /// A Keycloak-shaped access token of the realm for `claims`, with
    /// `iss`, `aud`, `iat` and `exp` (in 10 minutes) filled in unless given.
    pub(crate) async fn token(&self, realm: &str, claims: Value) -> String {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut full = json!({"iss": self.issuer(realm), "aud": "keyway", "iat": now, "exp": now + 600, "typ": "Bearer"});
        for (k, v) in claims.as_object().expect("claims object") {
            full[k] = v.clone();
        }
        self.sign_raw(realm, json!({}), full, "realm").await
    }

    /// A token from the provider's own token endpoint (client credentials
    /// of the `keyway-service` client), typed `at+jwt` as RFC 9068 says.
    pub(crate) async fn client_credentials(&self, realm: &str) -> String {
        let url = format!("{}/protocol/openid-connect/token", self.issuer(realm));
        let reply: Value = self
            .http
            .post(url)
            .basic_auth("keyway-service", Some("keyway-test-secret"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("token endpoint")
            .json()
            .await
            .expect("json");
        reply["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token: {reply}"))
            .to_owned()
    }

    /// Every realm route answers 503 (`true`) or works again (`false`).
    pub(crate) async fn set_down(&self, down: bool) {
        let url = format!(
            "http://127.0.0.1:{}/test/{}",
            self.port,
            if down { "down" } else { "up" }
        );
        self.http.post(url).send().await.expect("toggle");
    }
}

impl Drop for OidcPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
