//! How a console handler fails: the API's refusal or a missing page, each
//! rendered as a page. Another tenant's id is a 404 here as in the API.

use axum::{http::StatusCode, response::Response};
use serde_json::json;

use crate::{Console, api::ApiError, session::Session};

pub(crate) enum PageError {
    /// The API refused; its status and message are shown.
    Api(ApiError),
    NotFound,
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        if e.status == StatusCode::NOT_FOUND {
            PageError::NotFound
        } else {
            PageError::Api(e)
        }
    }
}

impl PageError {
    pub(crate) fn render(self, console: &Console, session: Option<&Session>) -> Response {
        let (status, title, message, code) = match self {
            PageError::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is no such page.".to_owned(),
                String::new(),
            ),
            PageError::Api(e) => (e.status, "Refused", e.message, e.code),
        };
        console.templates.page_with_status(
            status,
            "error.html",
            session,
            json!({"title": title, "message": message, "code": code}),
        )
    }
}
