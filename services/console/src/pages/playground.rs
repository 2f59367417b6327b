//! The playground: a small chat box over `/v1/chat/completions`. With the
//! script, the browser posts to `/console/playground/stream` and reads the
//! SSE stream as it comes (the console forwards it from the gateway as it
//! is, acting with the session's credential, which never reaches the
//! browser); without it, the form posts and the whole answer is rendered.
//! A model whose key is missing cannot be chosen: its option is disabled,
//! and the console refuses it too.

use axum::{
    Form, Json,
    body::Body,
    http::{Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Signed, models::models};

pub(crate) async fn page(signed: Signed) -> Response {
    render(&signed, None, "", None, None).await
}

async fn render(
    signed: &Signed,
    chosen: Option<&str>,
    prompt: &str,
    answer: Option<&str>,
    error: Option<&str>,
) -> Response {
    match models(signed).await {
        Ok(models) => signed.page(
            "playground.html",
            json!({"models": models, "chosen": chosen, "prompt": prompt, "answer": answer,
                   "error": error, "page": "playground"}),
        ),
        Err(e) => signed.fail(e),
    }
}

#[derive(Deserialize)]
pub(crate) struct Send {
    model: String,
    message: String,
}

/// The form without the script: one message, the whole answer.
pub(crate) async fn send(signed: Signed, Form(form): Form<Send>) -> Response {
    if let Err(refusal) = selectable(&signed, &form.model).await {
        return render(&signed, Some(&form.model), &form.message, None, Some(&refusal)).await;
    }
    let body = json!({"model": form.model, "messages": [{"role": "user", "content": form.message}]});
    match signed.api.post("/v1/chat/completions", &body).await {
        Ok(answer) => {
            let text = answer["choices"][0]["message"]["content"].as_str().unwrap_or("");
            render(&signed, Some(&form.model), &form.message, Some(text), None).await
        }
        Err(e) => render(&signed, Some(&form.model), &form.message, None, Some(&e.message)).await,
    }
}

#[derive(Deserialize)]
pub(crate) struct Message {
    role: String,
    content: String,
}

#[derive(Deserialize)]
pub(crate) struct StreamRequest {
    model: String,
    messages: Vec<Message>,
}

/// The script's request: the conversation so far, streamed back as SSE.
pub(crate) async fn stream(signed: Signed, Json(req): Json<StreamRequest>) -> Response {
    if let Err(refusal) = selectable(&signed, &req.model).await {
        let body = json!({"error": {"message": refusal, "code": "key_required"}});
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    }
    let messages: Vec<Value> = req
        .messages
        .iter()
        .filter(|m| matches!(m.role.as_str(), "user" | "assistant" | "system"))
        .map(|m| json!({"role": m.role, "content": m.content}))
        .collect();
    let body = json!({"model": req.model, "messages": messages, "stream": true});
    let upstream = signed
        .api
        .raw(
            Method::POST,
            "/v1/chat/completions",
            Some(body.to_string().into_bytes()),
        )
        .await;
    // Forward status, type and body only: the gateway's other headers
    // (limits, request id) are the API's business, not the page's.
    let status = upstream.status();
    let content_type = upstream.headers().get(header::CONTENT_TYPE).cloned();
    let mut response = Response::new(Body::new(upstream.into_body()));
    *response.status_mut() = status;
    if let Some(content_type) = content_type {
        response.headers_mut().insert(header::CONTENT_TYPE, content_type);
    }
    response
}

/// Refuses a model that is not listed for this caller or whose key is
/// missing, with the sentence the page shows.
async fn selectable(signed: &Signed, model: &str) -> Result<(), String> {
    let models = models(signed).await.map_err(|e| e.message)?;
    match models.iter().find(|m| m["id"] == model) {
        None => Err(format!("There is no model named {model} for you.")),
        Some(m) if m["selectable"] != true => Err(format!(
            "{model} needs a key for {}: add one on the models page first.",
            m["provider"].as_str().unwrap_or("its provider")
        )),
        Some(_) => Ok(()),
    }
}
