//! Platform admins: the tenants and their plans. Create a tenant, change
//! its plan or its limits, and look at its users and keys.

use axum::{Form, extract::Path, http::Method, response::Response};
use keyway_auth::Role;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Signed, admin::LimitsForm, filled, items};
use crate::api::segment;

/// The plans (`Plan` in the API) and what each allows.
fn plans() -> Value {
    json!([
        {"name": "free", "byok": false, "note": "platform keys only; BYOK is refused (403)"},
        {"name": "starter", "byok": true, "note": "BYOK: tenant and user keys"},
        {"name": "pro", "byok": true, "note": "BYOK: tenant and user keys"},
        {"name": "enterprise", "byok": true, "note": "BYOK: tenant and user keys"},
    ])
}

pub(crate) async fn list(signed: Signed) -> Response {
    if let Some(refused) = signed.refuse_below(Role::PlatformAdmin) {
        return refused;
    }
    match signed.api.get("/api/v1/tenants?limit=200").await {
        Ok(page) => signed.page(
            "tenants.html",
            json!({"tenants": items(&page), "plans": plans(), "page": "tenants"}),
        ),
        Err(e) => signed.fail(e),
    }
}

#[derive(Deserialize)]
pub(crate) struct NewTenant {
    name: String,
    plan: String,
    external_id: Option<String>,
}

pub(crate) async fn create(signed: Signed, Form(form): Form<NewTenant>) -> Response {
    let body = json!({"name": form.name.trim(), "plan": form.plan, "external_id": filled(&form.external_id)});
    let result = signed.api.post("/api/v1/tenants", &body).await.map(|t| {
        format!(
            "Tenant {} created ({}).",
            t["name"].as_str().unwrap_or(""),
            t["id"].as_str().unwrap_or("")
        )
    });
    signed.after(result, "/console/tenants")
}

pub(crate) async fn detail(signed: Signed, Path(tenant_id): Path<String>) -> Response {
    if let Some(refused) = signed.refuse_below(Role::PlatformAdmin) {
        return refused;
    }
    let path = format!("/api/v1/tenants/{}", segment(&tenant_id));
    let tenant = match signed.api.get(&path).await {
        Ok(t) => t,
        Err(e) => return signed.fail(e),
    };
    let users = signed
        .api
        .get(&format!("{path}/users?limit=200"))
        .await
        .map(|p| items(&p));
    let keys = signed
        .api
        .get(&format!("{path}/api-keys?limit=200"))
        .await
        .map(|p| items(&p));
    match (users, keys) {
        (Ok(users), Ok(keys)) => signed.page(
            "tenants.html",
            json!({"tenant": tenant, "users": users, "keys": keys, "plans": plans(), "page": "tenants"}),
        ),
        (Err(e), _) | (_, Err(e)) => signed.fail(e),
    }
}

#[derive(Deserialize)]
pub(crate) struct TenantUpdate {
    plan: Option<String>,
    #[serde(flatten)]
    limits: LimitsForm,
    /// `plan` or `limits`: which form was sent.
    action: String,
}

pub(crate) async fn update(
    signed: Signed,
    Path(tenant_id): Path<String>,
    Form(form): Form<TenantUpdate>,
) -> Response {
    let path = format!("/api/v1/tenants/{}", segment(&tenant_id));
    let body = match form.action.as_str() {
        "plan" => json!({"plan": filled(&form.plan)}),
        "limits" => json!({"limits": form.limits.to_json()}),
        _ => return signed.fail(crate::error::PageError::NotFound),
    };
    let result = signed
        .api
        .json(Method::PATCH, &path, Some(&body))
        .await
        .map(|_| "Tenant updated.".to_owned());
    signed.after(result, &format!("/console/tenants/{}", segment(&tenant_id)))
}
