//! The BOLA matrix (issue 16): every tenant-scoped operation of the served
//! `/openapi.json` × the victim tenant's ids × each role of another tenant
//! (API keys and OIDC JWTs) and the platform admin. Every answer must be a
//! 404 in the API's own shape (not 403: another tenant's ids cannot even be
//! probed) that names nothing of the victim's; lists must not show the
//! victim's ids; and afterwards every resource of the victim is intact.
//!
//! The operations come from the document, so a new route is tried as soon
//! as it is served: one with a parameter or body the matrix has no fixture
//! for fails the test instead of being skipped. Run it alone with
//! `cargo test -p keyway --test e2e bola:: -- --nocapture`.

mod fixtures;

use serde_json::{Value, json};

use crate::{
    helpers::TestStack,
    oidc::{OidcPeer, oidc_stack},
};
use fixtures::{Caller, Victim};

/// One operation of the OpenAPI document.
struct Operation {
    method: String,
    path: String,
    /// `(name, in, required)` of each parameter.
    params: Vec<(String, String, bool)>,
    /// The name of the JSON body's schema, if it has one.
    body: Option<String>,
    /// The body's schema carries a `tenant_id` field.
    body_names_tenant: bool,
}

impl Operation {
    fn name(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    fn path_params(&self) -> impl Iterator<Item = &str> {
        self.params
            .iter()
            .filter(|(_, at, _)| at == "path")
            .map(|(name, _, _)| name.as_str())
    }

    /// Names a tenant or a resource of one: the operations a caller of
    /// another tenant must not reach.
    fn tenant_scoped(&self) -> bool {
        self.path_params().next().is_some()
            || self.params.iter().any(|(name, _, _)| name == "tenant_id")
            || self.body_names_tenant
    }

    /// Names a resource by an id minted for one tenant (not a name the
    /// caller chooses in its own namespace, such as a provider slug).
    fn names_a_resource_id(&self) -> bool {
        self.path_params()
            .any(|p| matches!(p, "user_id" | "key_id" | "id"))
    }
}

fn operations(doc: &Value) -> Vec<Operation> {
    let schemas = &doc["components"]["schemas"];
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let params = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    let text = |k: &str| p[k].as_str().unwrap().to_owned();
                    (text("name"), text("in"), p["required"] == true)
                })
                .collect();
            let schema = &op["requestBody"]["content"]["application/json"]["schema"];
            let body = schema.is_object().then(|| {
                schema["$ref"]
                    .as_str()
                    .map_or("inline", |r| r.rsplit('/').next().unwrap())
                    .to_owned()
            });
            let body_names_tenant = body
                .as_ref()
                .is_some_and(|name| !schemas[name]["properties"]["tenant_id"].is_null());
            found.push(Operation {
                method: method.to_uppercase(),
                path: path.clone(),
                params,
                body,
                body_names_tenant,
            });
        }
    }
    found
}

/// The victim's value for a parameter, with `tenant` as the tenant id (the
/// victim's, or the caller's own to put a victim's resource under it).
fn value(op: &Operation, param: &str, v: &Victim, tenant: &str) -> Option<String> {
    Some(match param {
        "tenant_id" => tenant.to_owned(),
        "user_id" => v.user.clone(),
        "key_id" => v.key_id.clone(),
        "id" if op.path.starts_with("/api/v1/usage/webhooks/") => v.webhook.clone(),
        "id" if op.path.starts_with("/v1/responses/") => v.response.clone(),
        "name" if op.path.starts_with("/api/v1/usage/cursors/") => v.cursor.clone(),
        "provider" => "openai".into(),
        "scope" => "tenant".into(),
        _ => return None,
    })
}

/// A valid body of each schema, so the scope check answers rather than
/// validation; `tenant` fills the body's own tenant field.
fn body(schema: &str, tenant: &str) -> Option<Value> {
    Some(match schema {
        "SetByokKey" => json!({"key": "sk-attacker-overwrite", "label": "pwned"}),
        "UpdateTenant" => json!({"name": "pwned"}),
        "CreateApiKey" => json!({"name": "pwned"}),
        "Limits" => json!({"requests_per_minute": 1}),
        "CreateUser" => json!({"email": "pwned@attacker.test"}),
        "UpdateUser" => json!({"display_name": "pwned"}),
        "PutCursor" => json!({"cursor": "0", "tenant_id": tenant}),
        "CreateWebhook" => json!({"url": "http://127.0.0.1:9/pwned"}),
        _ => return None,
    })
}

/// The concrete request for `op` against the victim, or why there is none.
fn request(op: &Operation, v: &Victim, tenant: &str) -> Result<(String, Option<Value>), String> {
    let mut path = op.path.clone();
    let mut query = Vec::new();
    for (name, at, required) in &op.params {
        match at.as_str() {
            "path" | "query" => match value(op, name, v, tenant) {
                Some(value) if at == "path" => path = path.replace(&format!("{{{name}}}"), &value),
                Some(value) => query.push(format!("{name}={value}")),
                None if at == "query" && !required => {}
                None => return Err(format!("no fixture for the {at} parameter {name}")),
            },
            _ if !required => {}
            _ => return Err(format!("no fixture for the {at} parameter {name}")),
        }
    }
    if !query.is_empty() {
        path = format!("{path}?{}", query.join("&"));
    }
    let body = match &op.body {
        Some(schema) => {
            Some(body(schema, tenant).ok_or_else(|| format!("no fixture body of schema {schema}"))?)
        }
        None => None,
    };
    Ok((path, body))
}

/// Sends one probe; returns a description of what went wrong, if anything.
async fn probe(
    stack: &TestStack,
    caller: &Caller,
    v: &Victim,
    op: &Operation,
    path: &str,
    body: Option<Value>,
) -> Option<String> {
    let mut request = stack
        .http
        .request(op.method.parse().unwrap(), stack.url(path))
        .bearer_auth(&caller.credential);
    let sent = format!(
        "{path} {}",
        body.as_ref().map(Value::to_string).unwrap_or_default()
    );
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let what = format!("{} as {}: {path} -> {status} {text}", op.method, caller.role);
    if status != 404 {
        return Some(what);
    }
    // Keyway's envelope on /api/v1, the wire's own shape on /v1.
    let code = if path.starts_with("/v1/") {
        &answer["error"]["keyway_code"]
    } else {
        &answer["error"]["code"]
    };
    if !code.as_str().is_some_and(|c| c.starts_with("KW-")) {
        return Some(format!("not in the API's shape: {what}"));
    }
    leaked(v, &text, &sent).map(|s| format!("names {s:?}: {what}"))
}

/// The first of the victim's values that `text` shows, if any, besides
/// those the caller sent itself (an unknown id may be echoed back).
fn leaked<'a>(v: &'a Victim, text: &str, sent: &str) -> Option<&'a String> {
    v.secrets
        .iter()
        .find(|s| text.contains(s.as_str()) && !sent.contains(s.as_str()))
}

#[tokio::test]
#[expect(clippy::print_stdout, reason = "the matrix's counts are the test's report")]
async fn no_caller_of_another_tenant_reaches_any_tenant_scoped_operation() {
    let peer = OidcPeer::start("attackers");
    let stack = oidc_stack(&peer.issuer("attackers"), &[]).await;
    let victim = fixtures::victim(&stack).await;
    let (own_tenant, callers) = fixtures::attackers(&stack, &peer, "attackers").await;
    let doc: Value = stack
        .http
        .get(stack.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ops = operations(&doc);

    let (mut probes, mut failures, mut scoped) = (0, Vec::new(), 0);
    for op in ops.iter().filter(|op| op.tenant_scoped()) {
        scoped += 1;
        // The victim's tenant with its resources, then (for operations that
        // name a resource id) the caller's own tenant with the victim's
        // resources: both must be "not found".
        let mut variants = vec![(victim.tenant.as_str(), false)];
        if op.names_a_resource_id() {
            variants.push((own_tenant.as_str(), true));
        }
        for caller in &callers {
            for (tenant, mixed) in &variants {
                if caller.platform && !mixed {
                    continue;
                }
                // The platform admin's own tenant is `platform`.
                let tenant = if caller.platform {
                    own_tenant.as_str()
                } else {
                    tenant
                };
                let (path, body) = request(op, &victim, tenant)
                    .unwrap_or_else(|why| panic!("{}: {why}; add a fixture to tests/e2e/bola", op.name()));
                probes += 1;
                failures.extend(probe(&stack, caller, &victim, op, &path, body).await);
            }
        }
    }

    // Lists and summaries without ids: nothing of the victim's shows.
    let mut lists = 0;
    for op in ops.iter().filter(|op| op.method == "GET" && !op.tenant_scoped()) {
        for caller in callers.iter().filter(|c| !c.platform) {
            let text = stack
                .http
                .get(stack.url(&op.path))
                .bearer_auth(&caller.credential)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap_or_default();
            lists += 1;
            if let Some(secret) = leaked(&victim, &text, &op.path) {
                failures.push(format!("GET {} as {} shows {secret:?}", op.path, caller.role));
            }
        }
    }
    println!(
        "bola: {scoped} tenant-scoped operations, {} callers, {probes} probes, {lists} list reads, {} leaks",
        callers.len(),
        failures.len()
    );
    assert!(scoped >= 25, "only {scoped} tenant-scoped operations were found");
    assert!(
        failures.is_empty(),
        "{} leaks:\n{}",
        failures.len(),
        failures.join("\n")
    );
    fixtures::assert_intact(&stack, &victim).await;
}

#[test]
fn an_operation_without_a_fixture_is_refused_not_skipped() {
    let v = Victim {
        tenant: "t".into(),
        user: "u".into(),
        key_id: "k".into(),
        key: "kw".into(),
        webhook: "w".into(),
        cursor: "c".into(),
        response: "r".into(),
        secrets: Vec::new(),
    };
    let op = |path: &str, params: Vec<(&str, &str, bool)>, body: Option<&str>| Operation {
        method: "POST".into(),
        path: path.into(),
        params: params
            .into_iter()
            .map(|(n, at, r)| (n.into(), at.into(), r))
            .collect(),
        body: body.map(Into::into),
        body_names_tenant: false,
    };
    let new_route = op(
        "/api/v1/tenants/{tenant_id}/widgets/{widget_id}",
        vec![("tenant_id", "path", true), ("widget_id", "path", true)],
        None,
    );
    assert!(new_route.tenant_scoped());
    assert!(request(&new_route, &v, "t").unwrap_err().contains("widget_id"));
    let new_body = op(
        "/api/v1/tenants/{tenant_id}/widgets",
        vec![("tenant_id", "path", true)],
        Some("CreateWidget"),
    );
    assert!(request(&new_body, &v, "t").unwrap_err().contains("CreateWidget"));
    let known = op(
        "/api/v1/tenants/{tenant_id}/users/{user_id}",
        vec![("tenant_id", "path", true), ("user_id", "path", true)],
        Some("UpdateUser"),
    );
    assert_eq!(request(&known, &v, "t").unwrap().0, "/api/v1/tenants/t/users/u");
}
