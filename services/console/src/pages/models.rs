//! The models page (seed 000): each model with the state of the key it
//! needs — an orange key when none is stored, green when one is — and a
//! dialog to add, test or remove the signed-in person's own key for its
//! provider through `/api/v1/byok/keys`.

use axum::{
    Form,
    extract::Query,
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Signed, filled};
use crate::api::segment;

/// A model as `/v1/models` lists it, with its key state.
pub(crate) async fn models(signed: &Signed) -> Result<Vec<Value>, crate::api::ApiError> {
    let listed = signed.api.get("/v1/models").await?;
    Ok(listed["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let sources: Vec<String> = m["keyway"]["key_source"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect();
            let missing = m["keyway"]["key_required"].as_bool().unwrap_or(false);
            // System-only models use the platform's key: nothing to bring.
            let brings_key = sources.iter().any(|s| s == "user" || s == "tenant");
            let state = match (brings_key, missing) {
                (_, true) => "missing",
                (true, false) => "stored",
                (false, false) => "platform",
            };
            json!({
                "id": m["id"],
                "provider": m["owned_by"],
                "key_source": sources.join(", "),
                "state": state,
                "selectable": !missing,
            })
        })
        .collect())
}

/// Which BYOK scope this session's own keys use: a person's own key when
/// signed in as a user, else (service keys, admins) the tenant's.
fn own_scope(signed: &Signed) -> &'static str {
    if signed.session.user_id.is_some() {
        "user"
    } else {
        "tenant"
    }
}

#[derive(Deserialize)]
pub(crate) struct PageQuery {
    /// The model whose key dialog is open (without the script, the dialog
    /// is opened by the server).
    key: Option<String>,
}

pub(crate) async fn page(signed: Signed, Query(q): Query<PageQuery>) -> Response {
    let models = match models(&signed).await {
        Ok(models) => models,
        Err(e) => return signed.fail(e),
    };
    let scope = own_scope(&signed);
    // Viewers may not hold keys: the list is then empty, not an error.
    let keys: Vec<Value> = signed
        .api
        .get("/api/v1/byok/keys?limit=200")
        .await
        .map(|page| super::items(&page))
        .unwrap_or_default()
        .into_iter()
        .filter(|k| k["scope"] == scope)
        .collect();
    let models: Vec<Value> = models
        .into_iter()
        .map(|mut m| {
            let stored = keys.iter().find(|k| k["provider"] == m["provider"]).cloned();
            m["own_key"] = stored.unwrap_or(Value::Null);
            m
        })
        .collect();
    signed.page(
        "models.html",
        json!({"models": models, "open": q.key, "scope": scope, "page": "models"}),
    )
}

#[derive(Deserialize)]
pub(crate) struct KeyAction {
    model: String,
    provider: String,
    /// `save`, `test` or `remove`.
    action: String,
    key: Option<String>,
    label: Option<String>,
}

pub(crate) async fn key_action(signed: Signed, Form(form): Form<KeyAction>) -> Response {
    let scope = own_scope(&signed);
    let path = format!("/api/v1/byok/keys/{}", segment(&form.provider));
    let back = format!("/console/models?key={}", segment(&form.model));
    let result = match form.action.as_str() {
        "save" => {
            let Some(key) = filled(&form.key) else {
                signed.session.flash(false, "Paste the key first.");
                return Redirect::to(&back).into_response();
            };
            let body = json!({"key": key, "label": filled(&form.label), "scope": scope});
            signed
                .api
                .json(axum::http::Method::PUT, &path, Some(&body))
                .await
                .map(|stored| {
                    format!(
                        "Key {} stored for {}.",
                        stored["masked"].as_str().unwrap_or(""),
                        form.provider
                    )
                })
        }
        "test" => match signed
            .api
            .post(&format!("{path}/test?scope={scope}"), &json!({}))
            .await
        {
            Ok(r) => {
                let ok = r["ok"] == true;
                let verdict = if ok { "works" } else { "was refused" };
                let message = r["message"].as_str().unwrap_or("");
                signed
                    .session
                    .flash(ok, format!("The {} key {verdict}: {message}", form.provider));
                return Redirect::to(&back).into_response();
            }
            Err(e) => Err(e),
        },
        "remove" => signed
            .api
            .json(axum::http::Method::DELETE, &format!("{path}?scope={scope}"), None)
            .await
            .map(|_| format!("Your {} key was removed.", form.provider)),
        _ => return signed.fail(crate::error::PageError::NotFound),
    };
    signed.after(result, &back)
}
