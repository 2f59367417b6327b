//! API keys: tenant admins see and manage all of their tenant's, members
//! their own. A new or rotated key's secret is rendered once, in the answer
//! to the form that made it, and never again (it is not stored anywhere).

use axum::{Form, extract::Path, http::Method, response::Response};
use keyway_auth::Role;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Signed, filled, items};
use crate::api::{ApiError, segment};

async fn keys(signed: &Signed) -> Result<Vec<Value>, ApiError> {
    Ok(items(
        &signed
            .api
            .get(&format!("{}/api-keys?limit=200", signed.tenant_path()))
            .await?,
    ))
}

async fn render(signed: &Signed, issued: Option<Value>) -> Response {
    let keys = match keys(signed).await {
        Ok(keys) => keys,
        Err(e) => return signed.fail(e),
    };
    // Tenant admins may bind a key to any of their users.
    let users = if signed.session.is(Role::TenantAdmin) {
        signed
            .api
            .get(&format!("{}/users?limit=200", signed.tenant_path()))
            .await
            .map(|p| items(&p))
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    signed.page(
        "api_keys.html",
        json!({"keys": keys, "users": users, "issued": issued, "page": "api-keys"}),
    )
}

pub(crate) async fn list(signed: Signed) -> Response {
    if let Some(refused) = signed.refuse_below(Role::Member) {
        return refused;
    }
    render(&signed, None).await
}

#[derive(Deserialize)]
pub(crate) struct NewKey {
    name: String,
    role: Option<String>,
    user_id: Option<String>,
}

pub(crate) async fn create(signed: Signed, Form(form): Form<NewKey>) -> Response {
    // Members may only make keys bound to themselves.
    let user_id = filled(&form.user_id).map(str::to_owned).or_else(|| {
        (!signed.session.is(Role::TenantAdmin))
            .then(|| signed.session.user_id.clone())
            .flatten()
    });
    let body = json!({"name": form.name.trim(), "role": filled(&form.role), "user_id": user_id});
    match signed
        .api
        .post(&format!("{}/api-keys", signed.tenant_path()), &body)
        .await
    {
        Ok(issued) => render(&signed, Some(issued)).await,
        Err(e) => signed.after(Err(e), "/console/api-keys"),
    }
}

pub(crate) async fn revoke(signed: Signed, Path(key_id): Path<String>) -> Response {
    let path = format!("{}/api-keys/{}", signed.tenant_path(), segment(&key_id));
    let result = signed
        .api
        .json(Method::DELETE, &path, None)
        .await
        .map(|_| format!("Key {key_id} revoked; gateways refuse it within about a second."));
    signed.after(result, "/console/api-keys")
}

pub(crate) async fn rotate(signed: Signed, Path(key_id): Path<String>) -> Response {
    let path = format!("{}/api-keys/{}/rotate", signed.tenant_path(), segment(&key_id));
    match signed.api.post(&path, &json!({})).await {
        Ok(issued) => render(&signed, Some(issued)).await,
        Err(e) => signed.after(Err(e), "/console/api-keys"),
    }
}
