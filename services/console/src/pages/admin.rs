//! Tenant admins' pages besides users and API keys: the tenant's own BYOK
//! keys, limits, and usage webhooks. A webhook's signing secret, like an
//! API key's, is shown once in the answer that made it.

use axum::{
    Form,
    extract::Path,
    http::Method,
    response::{IntoResponse, Redirect, Response},
};
use keyway_auth::Role;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Signed, filled, items};
use crate::api::segment;

pub(crate) async fn byok_page(signed: Signed) -> Response {
    if let Some(refused) = signed.refuse_below(Role::TenantAdmin) {
        return refused;
    }
    let providers = match signed.api.get("/api/v1/byok/providers").await {
        Ok(p) => p.as_array().cloned().unwrap_or_else(|| items(&p)),
        Err(e) => return signed.fail(e),
    };
    let keys: Vec<Value> = match signed.api.get("/api/v1/byok/keys?limit=200").await {
        Ok(page) => items(&page)
            .into_iter()
            .filter(|k| k["scope"] == "tenant")
            .collect(),
        Err(e) => return signed.fail(e),
    };
    signed.page(
        "byok.html",
        json!({"providers": providers, "keys": keys, "page": "tenant-keys"}),
    )
}

#[derive(Deserialize)]
pub(crate) struct ByokAction {
    /// `save`, `test` or `remove`.
    action: String,
    provider: String,
    key: Option<String>,
    label: Option<String>,
    base_url: Option<String>,
}

pub(crate) async fn byok_action(signed: Signed, Form(form): Form<ByokAction>) -> Response {
    let path = format!("/api/v1/byok/keys/{}", segment(&form.provider));
    let back = "/console/tenant-keys";
    let result = match form.action.as_str() {
        "save" => {
            let body = json!({"key": filled(&form.key).unwrap_or_default(), "label": filled(&form.label),
                              "base_url": filled(&form.base_url), "scope": "tenant"});
            signed.api.json(Method::PUT, &path, Some(&body)).await.map(|k| {
                format!(
                    "Tenant key {} stored for {}.",
                    k["masked"].as_str().unwrap_or(""),
                    form.provider
                )
            })
        }
        "test" => match signed
            .api
            .post(&format!("{path}/test?scope=tenant"), &json!({}))
            .await
        {
            Ok(r) => {
                let ok = r["ok"] == true;
                let message = r["message"].as_str().unwrap_or("");
                signed.session.flash(ok, format!("{}: {message}", form.provider));
                return Redirect::to(back).into_response();
            }
            Err(e) => Err(e),
        },
        "remove" => signed
            .api
            .json(Method::DELETE, &format!("{path}?scope=tenant"), None)
            .await
            .map(|_| format!("The tenant's {} key was removed.", form.provider)),
        _ => return signed.fail(crate::error::PageError::NotFound),
    };
    signed.after(result, back)
}

pub(crate) async fn limits_page(signed: Signed) -> Response {
    if let Some(refused) = signed.refuse_below(Role::TenantAdmin) {
        return refused;
    }
    let tenant = match signed.api.get(&signed.tenant_path()).await {
        Ok(t) => t,
        Err(e) => return signed.fail(e),
    };
    match signed
        .api
        .get(&format!("{}/api-keys?limit=200", signed.tenant_path()))
        .await
    {
        Ok(page) => signed.page(
            "limits.html",
            json!({"tenant": tenant, "keys": items(&page), "page": "limits"}),
        ),
        Err(e) => signed.fail(e),
    }
}

#[derive(Deserialize)]
pub(crate) struct LimitsForm {
    requests_per_minute: Option<String>,
    tokens_per_minute: Option<String>,
    monthly_budget_micros: Option<String>,
}

impl LimitsForm {
    /// The API's `Limits`; an empty field is no limit. A field that is not
    /// a whole number is sent as written, for the API to refuse by name.
    pub(crate) fn to_json(&self) -> Value {
        let field = |f: &Option<String>| match filled(f) {
            None => Value::Null,
            Some(raw) => raw.parse::<u64>().map(Value::from).unwrap_or_else(|_| json!(raw)),
        };
        json!({
            "requests_per_minute": field(&self.requests_per_minute),
            "tokens_per_minute": field(&self.tokens_per_minute),
            "monthly_budget_micros": field(&self.monthly_budget_micros),
        })
    }
}

pub(crate) async fn key_limits(
    signed: Signed,
    Path(key_id): Path<String>,
    Form(form): Form<LimitsForm>,
) -> Response {
    let path = format!("{}/api-keys/{}/limits", signed.tenant_path(), segment(&key_id));
    let result = signed
        .api
        .json(Method::PUT, &path, Some(&form.to_json()))
        .await
        .map(|_| format!("Limits of key {key_id} saved."));
    signed.after(result, "/console/limits")
}

async fn webhooks(signed: &Signed, created: Option<Value>) -> Response {
    match signed.api.get("/api/v1/usage/webhooks?limit=200").await {
        Ok(page) => signed.page(
            "webhooks.html",
            json!({"webhooks": items(&page), "created": created, "page": "webhooks"}),
        ),
        Err(e) => signed.fail(e),
    }
}

pub(crate) async fn webhooks_page(signed: Signed) -> Response {
    if let Some(refused) = signed.refuse_below(Role::TenantAdmin) {
        return refused;
    }
    webhooks(&signed, None).await
}

#[derive(Deserialize)]
pub(crate) struct NewWebhook {
    url: String,
    description: Option<String>,
}

pub(crate) async fn webhook_create(signed: Signed, Form(form): Form<NewWebhook>) -> Response {
    let body = json!({"url": form.url.trim(), "description": filled(&form.description)});
    match signed.api.post("/api/v1/usage/webhooks", &body).await {
        Ok(created) => webhooks(&signed, Some(created)).await,
        Err(e) => signed.after(Err(e), "/console/webhooks"),
    }
}

pub(crate) async fn webhook_delete(signed: Signed, Path(id): Path<String>) -> Response {
    let path = format!("/api/v1/usage/webhooks/{}", segment(&id));
    let result = signed
        .api
        .json(Method::DELETE, &path, None)
        .await
        .map(|_| "Webhook deleted.".to_owned());
    signed.after(result, "/console/webhooks")
}

pub(crate) async fn webhook_rotate(signed: Signed, Path(id): Path<String>) -> Response {
    let path = format!("/api/v1/usage/webhooks/{}/rotate-secret", segment(&id));
    match signed.api.post(&path, &json!({})).await {
        Ok(created) => webhooks(&signed, Some(created)).await,
        Err(e) => signed.after(Err(e), "/console/webhooks"),
    }
}
