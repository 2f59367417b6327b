//! The console's pages, by concern. Handlers take [`Signed`] (who is signed
//! in, and the API as them) and draw every page from the API's answers.

mod admin;
mod api_keys;
mod auth;
mod models;
mod oidc;
mod playground;
mod tenants;
mod usage;
mod users;

use std::sync::Arc;

use axum::{
    Router,
    extract::FromRequestParts,
    http::request::Parts,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use keyway_auth::Role;
use serde_json::Value;

use crate::{
    Console,
    api::{self, ApiError},
    error::PageError,
    session::{self, COOKIE, Session},
};

pub(crate) fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/console", get(auth::home))
        .route("/console/", get(auth::home))
        .route("/console/sign-in", get(auth::sign_in_page).post(auth::sign_in))
        .route("/console/sign-out", post(auth::sign_out))
        .route("/console/oidc/start", get(oidc::start))
        .route(crate::oidc::CALLBACK_PATH, get(oidc::callback))
        .route("/console/models", get(models::page))
        .route("/console/models/key", post(models::key_action))
        .route(
            "/console/playground",
            get(playground::page).post(playground::send),
        )
        .route("/console/playground/stream", post(playground::stream))
        .route("/console/users", get(users::list).post(users::create))
        .route("/console/users/{user_id}", get(users::detail).post(users::update))
        .route("/console/api-keys", get(api_keys::list).post(api_keys::create))
        .route("/console/api-keys/{key_id}/revoke", post(api_keys::revoke))
        .route("/console/api-keys/{key_id}/rotate", post(api_keys::rotate))
        .route("/console/api-keys/{key_id}/limits", post(admin::key_limits))
        .route(
            "/console/tenant-keys",
            get(admin::byok_page).post(admin::byok_action),
        )
        .route("/console/limits", get(admin::limits_page))
        .route(
            "/console/webhooks",
            get(admin::webhooks_page).post(admin::webhook_create),
        )
        .route("/console/webhooks/{id}/delete", post(admin::webhook_delete))
        .route("/console/webhooks/{id}/rotate", post(admin::webhook_rotate))
        .route("/console/usage", get(usage::page))
        .route("/console/usage/export.csv", get(usage::export_csv))
        .route("/console/tenants", get(tenants::list).post(tenants::create))
        .route(
            "/console/tenants/{tenant_id}",
            get(tenants::detail).post(tenants::update),
        )
}

/// A signed-in request: the session and the API as its credential.
pub(crate) struct Signed {
    pub(crate) console: Arc<Console>,
    pub(crate) session: Arc<Session>,
    pub(crate) api: api::Caller,
}

impl FromRequestParts<Arc<Console>> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, console: &Arc<Console>) -> Result<Self, Self::Rejection> {
        let session = session::cookie(&parts.headers, COOKIE)
            .and_then(|id| console.sessions.get(id))
            .ok_or_else(|| Redirect::to("/console/sign-in").into_response())?;
        let api = console
            .api
            .as_caller(session.credential.clone(), &parts.extensions);
        Ok(Self {
            console: console.clone(),
            session,
            api,
        })
    }
}

impl Signed {
    pub(crate) fn page(&self, name: &str, context: Value) -> Response {
        self.console.templates.page(name, Some(&self.session), context)
    }

    pub(crate) fn fail(&self, error: impl Into<PageError>) -> Response {
        error.into().render(&self.console, Some(&self.session))
    }

    /// A page only `role` and above may see: others get a 404 (returned
    /// here), as the API hides what a caller may not reach.
    pub(crate) fn refuse_below(&self, role: Role) -> Option<Response> {
        (!self.session.is(role)).then(|| self.fail(PageError::NotFound))
    }

    /// The signed-in tenant's API prefix, `/api/v1/tenants/<id>`.
    pub(crate) fn tenant_path(&self) -> String {
        format!("/api/v1/tenants/{}", api::segment(&self.session.tenant_id))
    }

    /// After a form: a notice, then back to `to` (303, so a reload does not
    /// post again). A 404 from the API is the console's 404.
    pub(crate) fn after(&self, result: Result<String, ApiError>, to: &str) -> Response {
        match result {
            Ok(notice) => {
                self.session.flash(true, notice);
                Redirect::to(to).into_response()
            }
            Err(e) if e.status == axum::http::StatusCode::NOT_FOUND => self.fail(e),
            Err(e) => {
                let code = if e.code.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", e.code)
                };
                self.session.flash(false, format!("{}{code}", e.message));
                Redirect::to(to).into_response()
            }
        }
    }
}

/// The `data` array of a paged list answer.
pub(crate) fn items(page: &Value) -> Vec<Value> {
    page["data"].as_array().cloned().unwrap_or_default()
}

/// A form's optional text field: trimmed, `None` when empty.
pub(crate) fn filled(field: &Option<String>) -> Option<&str> {
    field.as_deref().map(str::trim).filter(|s| !s.is_empty())
}
