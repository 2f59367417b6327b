//! Tenant admins manage their tenant's users: list, create, change role,
//! disable or enable, delete. Another tenant's user id is a 404, as in the
//! API (the API answers it; the console shows its 404).

use axum::{Form, extract::Path, http::Method, response::Response};
use keyway_auth::Role;
use serde::Deserialize;
use serde_json::json;

use super::{Signed, filled, items};
use crate::api::segment;

pub(crate) async fn list(signed: Signed) -> Response {
    if let Some(refused) = signed.refuse_below(Role::TenantAdmin) {
        return refused;
    }
    match signed
        .api
        .get(&format!("{}/users?limit=200", signed.tenant_path()))
        .await
    {
        Ok(page) => signed.page("users.html", json!({"users": items(&page), "page": "users"})),
        Err(e) => signed.fail(e),
    }
}

#[derive(Deserialize)]
pub(crate) struct NewUser {
    email: Option<String>,
    display_name: Option<String>,
    role: Option<String>,
}

pub(crate) async fn create(signed: Signed, Form(form): Form<NewUser>) -> Response {
    let body = json!({
        "email": filled(&form.email),
        "display_name": filled(&form.display_name),
        "role": filled(&form.role),
    });
    let result = signed
        .api
        .post(&format!("{}/users", signed.tenant_path()), &body)
        .await
        .map(|u| {
            format!(
                "User {} created.",
                u["email"]
                    .as_str()
                    .unwrap_or_else(|| u["id"].as_str().unwrap_or(""))
            )
        });
    signed.after(result, "/console/users")
}

pub(crate) async fn detail(signed: Signed, Path(user_id): Path<String>) -> Response {
    if let Some(refused) = signed.refuse_below(Role::TenantAdmin) {
        return refused;
    }
    let path = format!("{}/users/{}", signed.tenant_path(), segment(&user_id));
    let user = match signed.api.get(&path).await {
        Ok(user) => user,
        Err(e) => return signed.fail(e),
    };
    let keys: Vec<_> = match signed
        .api
        .get(&format!("{}/api-keys?limit=200", signed.tenant_path()))
        .await
    {
        Ok(page) => items(&page)
            .into_iter()
            .filter(|k| k["user_id"] == user["id"])
            .collect(),
        Err(e) => return signed.fail(e),
    };
    signed.page("users.html", json!({"user": user, "keys": keys, "page": "users"}))
}

#[derive(Deserialize)]
pub(crate) struct UserAction {
    /// `role`, `disable`, `enable` or `delete`.
    action: String,
    role: Option<String>,
}

pub(crate) async fn update(
    signed: Signed,
    Path(user_id): Path<String>,
    Form(form): Form<UserAction>,
) -> Response {
    let path = format!("{}/users/{}", signed.tenant_path(), segment(&user_id));
    let back = format!("/console/users/{}", segment(&user_id));
    let (method, body, notice) = match form.action.as_str() {
        "role" => (
            Method::PATCH,
            Some(json!({"role": filled(&form.role)})),
            "Role changed.",
        ),
        "disable" => (
            Method::PATCH,
            Some(json!({"status": "disabled"})),
            "User disabled; their keys stop working.",
        ),
        "enable" => (Method::PATCH, Some(json!({"status": "active"})), "User enabled."),
        "delete" => (
            Method::DELETE,
            None,
            "User deleted, with their API keys and BYOK keys.",
        ),
        _ => return signed.fail(crate::error::PageError::NotFound),
    };
    let result = signed
        .api
        .json(method, &path, body.as_ref())
        .await
        .map(|_| notice.to_owned());
    let to = if form.action == "delete" {
        "/console/users"
    } else {
        back.as_str()
    };
    signed.after(result, to)
}
