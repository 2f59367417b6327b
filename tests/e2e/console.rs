//! The tenant console (`/console`) over HTTP, as seed 002 asks of it: sign
//! in with an API key, the session cookie's flags, the Content-Security-
//! Policy, CSRF tokens refused when missing or wrong, tenant isolation (B's
//! session gets 404 for A's ids), and role-gated pages. `ConsoleClient` is
//! a cookie-keeping client the other console tests share.

use reqwest::{StatusCode, header::HeaderMap, redirect::Policy};
use serde_json::json;

use crate::{
    helpers::TestStack,
    keys_api::{admin, call, new_api_key, new_tenant, new_user},
};

/// A browser-like client: keeps the session cookie, reads each page's
/// CSRF token, never follows redirects (the tests look at them).
pub(crate) struct ConsoleClient {
    http: reqwest::Client,
    base: String,
    pub(crate) session: Option<String>,
    csrf: std::sync::Mutex<Option<String>>,
}

pub(crate) struct Page {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Page {
    pub(crate) fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Every `Set-Cookie` of the answer.
    pub(crate) fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }
}

/// The value of the first `name="csrf" value="…"` of a page.
pub(crate) fn csrf_of(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    Some(html[at..].split('"').next()?.to_owned())
}

impl ConsoleClient {
    pub(crate) fn new(stack: &TestStack) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .unwrap(),
            base: stack.base.clone(),
            session: None,
            csrf: std::sync::Mutex::new(None),
        }
    }

    async fn read(response: reqwest::Response) -> Page {
        Page {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }

    fn cookie_header(&self) -> String {
        self.session
            .as_ref()
            .map(|s| format!("keyway_console={s}"))
            .unwrap_or_default()
    }

    /// The CSRF token of the last page that had one.
    pub(crate) fn csrf(&self) -> Option<String> {
        self.csrf.lock().unwrap().clone()
    }

    pub(crate) async fn get(&self, path: &str) -> Page {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        let page = Self::read(response).await;
        if let Some(token) = csrf_of(&page.body) {
            *self.csrf.lock().unwrap() = Some(token);
        }
        page
    }

    /// Posts a form with the session cookie and, unless `csrf` is `None`,
    /// that CSRF token.
    pub(crate) async fn post_with(&self, path: &str, form: &[(&str, &str)], csrf: Option<&str>) -> Page {
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        if let Some(token) = csrf {
            fields.push(("csrf", token));
        }
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .form(&fields)
            .send()
            .await
            .unwrap();
        Self::read(response).await
    }

    /// Posts a form with this session's CSRF token.
    pub(crate) async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let csrf = self.csrf().expect("a page was loaded first");
        self.post_with(path, form, Some(&csrf)).await
    }

    /// Signs in with `key` through the sign-in form; returns the answer.
    pub(crate) async fn try_sign_in(&mut self, key: &str) -> Page {
        let form = self
            .http
            .get(format!("{}/console/sign-in", self.base))
            .send()
            .await
            .unwrap();
        let form = Self::read(form).await;
        assert_eq!(form.status, 200);
        let token = csrf_of(&form.body).expect("the sign-in form has a CSRF token");
        let pre = form
            .set_cookies()
            .into_iter()
            .find(|c| c.starts_with("keyway_console_csrf="))
            .expect("the sign-in form sets its double-submit cookie");
        let pre = pre.split(';').next().unwrap().to_owned();
        let response = self
            .http
            .post(format!("{}/console/sign-in", self.base))
            .header("cookie", pre)
            .form(&[("key", key), ("csrf", token.as_str())])
            .send()
            .await
            .unwrap();
        let page = Self::read(response).await;
        if let Some(cookie) = page
            .set_cookies()
            .iter()
            .find(|c| c.starts_with("keyway_console="))
        {
            let value = cookie.split(';').next().unwrap()["keyway_console=".len()..].to_owned();
            self.session = Some(value);
        }
        page
    }

    pub(crate) async fn sign_in(stack: &TestStack, key: &str) -> Self {
        let mut client = Self::new(stack);
        let page = client.try_sign_in(key).await;
        assert_eq!(
            page.status,
            StatusCode::SEE_OTHER,
            "sign-in refused: {}",
            page.body
        );
        assert_eq!(page.location(), "/console/models");
        let models = client.get("/console/models").await;
        assert_eq!(models.status, 200, "{}", models.body);
        client
    }
}

/// A tenant (plan starter) with an admin user and that admin's key.
pub(crate) async fn tenant_with_admin(stack: &TestStack) -> (String, String) {
    let tenant = new_tenant(stack, "starter").await;
    let user = new_user(stack, &tenant, "tenant-admin").await;
    let (_, key) = new_api_key(
        stack,
        &tenant,
        json!({"name": "admin", "user_id": user, "role": "tenant-admin"}),
    )
    .await;
    (tenant, key)
}

#[tokio::test]
async fn signing_in_sets_a_strict_http_only_cookie_and_every_page_carries_the_csp() {
    let stack = TestStack::spawn().await;
    let (_, key) = tenant_with_admin(&stack).await;

    let mut client = ConsoleClient::new(&stack);
    let wrong = client.try_sign_in("kw_dev_nope_notakey").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(client.session.is_none(), "a refused sign-in opens no session");
    assert!(wrong.body.contains("That key is not valid."));

    let page = client.try_sign_in(&key).await;
    let cookie = page
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("keyway_console="))
        .expect("a session cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(cookie.contains(flag), "{flag} missing: {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http: no Secure flag: {cookie}");
    assert!(!cookie.contains(&key), "the key never goes into a cookie");

    let models = client.get("/console/models").await;
    let csp = models.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(models.headers["cache-control"], "no-store");
    assert!(
        !models.body.contains(&key),
        "the page never shows the key signed in with"
    );
    // No inline script: every <script> loads a file served by Keyway.
    for tag in models.body.split("<script").skip(1) {
        assert!(
            tag.trim_start().starts_with("src=\"/console/static/"),
            "inline script: {tag}"
        );
    }
    let script = client.get("/console/static/console.js").await;
    assert_eq!(script.status, 200);
    assert!(
        script.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );

    // Behind a TLS-terminating proxy the cookie is Secure.
    let http = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let form = http
        .get(stack.url("/console/sign-in"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    let pre = form.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(pre.ends_with("; Secure"), "{pre}");

    // Signing out ends the session on the server, not only in the browser.
    let old = client.session.clone();
    let out = client.post("/console/sign-out", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    client.session = old;
    let after = client.get("/console/models").await;
    assert_eq!(
        (after.status, after.location()),
        (StatusCode::SEE_OTHER, "/console/sign-in")
    );
}

#[tokio::test]
async fn a_post_without_a_valid_csrf_token_is_refused_and_changes_nothing() {
    let stack = TestStack::spawn().await;
    let (tenant, key) = tenant_with_admin(&stack).await;
    let client = ConsoleClient::sign_in(&stack, &key).await;
    client.get("/console/users").await;

    let form = [("email", "mallory@acme.test"), ("role", "member")];
    let missing = client.post_with("/console/users", &form, None).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    let wrong = client
        .post_with("/console/users", &form, Some("forged-token"))
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    // Another session's token is wrong for this one too.
    let other = ConsoleClient::sign_in(&stack, &key).await;
    let borrowed = client
        .post_with("/console/users", &form, other.csrf().as_deref())
        .await;
    assert_eq!(borrowed.status, StatusCode::FORBIDDEN);
    let (_, users) = admin(&stack, "GET", &format!("/api/v1/tenants/{tenant}/users"), None).await;
    assert!(!users.to_string().contains("mallory"), "{users}");

    // The sign-in form checks its double-submit token as well.
    let http = reqwest::Client::new();
    let forged = http
        .post(stack.url("/console/sign-in"))
        .form(&[("key", key.as_str()), ("csrf", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);

    let ok = client.post("/console/users", &form).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    let (_, users) = admin(&stack, "GET", &format!("/api/v1/tenants/{tenant}/users"), None).await;
    assert!(users.to_string().contains("mallory@acme.test"), "{users}");
}

#[tokio::test]
async fn tenant_b_gets_404_for_tenant_a_ids_and_members_do_not_see_admin_pages() {
    let stack = TestStack::spawn().await;
    let (tenant_a, key_a) = tenant_with_admin(&stack).await;
    let (_, key_b) = tenant_with_admin(&stack).await;
    let user_a = new_user(&stack, &tenant_a, "member").await;
    let (key_id_a, member_key_a) =
        new_api_key(&stack, &tenant_a, json!({"name": "m", "user_id": user_a})).await;

    let a = ConsoleClient::sign_in(&stack, &key_a).await;
    assert_eq!(a.get(&format!("/console/users/{user_a}")).await.status, 200);

    let b = ConsoleClient::sign_in(&stack, &key_b).await;
    let page = b.get(&format!("/console/users/{user_a}")).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND, "{}", page.body);
    assert!(!page.body.contains(&user_a), "the 404 page names nothing of A's");
    let revoke = b.post(&format!("/console/api-keys/{key_id_a}/revoke"), &[]).await;
    assert_eq!(revoke.status, StatusCode::NOT_FOUND, "{}", revoke.body);
    let users = b.get("/console/users").await;
    assert!(!users.body.contains(&user_a), "B's user list shows A's user");
    let (status, _) = call(&stack, &member_key_a, "GET", "/v1/models", None).await;
    assert_eq!(status, 200, "A's key still works after B's attempt");

    // Members and tenant admins alike never see the platform's pages.
    let member = ConsoleClient::sign_in(&stack, &member_key_a).await;
    assert_eq!(member.get("/console/users").await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        member.get("/console/webhooks").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(a.get("/console/tenants").await.status, StatusCode::NOT_FOUND);
    let platform = ConsoleClient::sign_in(&stack, &stack.admin_key).await;
    let tenants = platform.get("/console/tenants").await;
    assert_eq!(tenants.status, 200);
    assert!(tenants.body.contains(&tenant_a) && tenants.body.contains("enterprise"));
}
