//! The console's static files, embedded in the binary and served by
//! Keyway itself: one stylesheet and one small script (progressive: every
//! page works without it).

use std::sync::Arc;

use axum::{Router, http::header, response::IntoResponse, routing::get};

use crate::Console;

const SCRIPT: &str = include_str!("../static/console.js");
const STYLE: &str = include_str!("../static/console.css");

pub(crate) fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/console/static/console.js", get(script))
        .route("/console/static/console.css", get(style))
}

async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        SCRIPT,
    )
}

async fn style() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        STYLE,
    )
}
