//! The OpenAI Responses API: `POST /v1/responses` (JSON or SSE, text or a
//! function call when the request offers function tools), the stored
//! response's `GET`/`DELETE`, `GET …/input_items` and `POST …/cancel`, and
//! `POST /v1/responses/input_tokens`.
//!
//! Responses created with `background: true` stay `in_progress` (the mock
//! never finishes them), so `cancel` has something to cancel; cancelling any
//! other response is a 400, as upstream.

mod input;
mod object;
mod stream;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use self::object::{Answer, Ids, Shape};
use crate::errors::{Api, ErrorKind, error_response, json_response};
use crate::pipeline::{self, MODEL_REQUIRED, Prepared, invalid};
use crate::response_store::Stored;
use crate::state::{AppState, unix_now};
use crate::usage;
use crate::{sse, text};

const ROUTE: &str = "/v1/responses";

pub(crate) async fn create(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let request = match pipeline::prepare(&state, &headers, Some(&body), Api::OpenAi, ROUTE).await {
        Ok(request) => request,
        Err(response) => return response,
    };
    let body = &request.body;
    let Some(model) = pipeline::model(body) else {
        return invalid(Api::OpenAi, MODEL_REQUIRED);
    };
    if !matches!(body.get("input"), Some(Value::String(_) | Value::Array(_))) {
        return invalid(Api::OpenAi, "input: a string or an array of items is required");
    }
    let n = state.next_id();
    let ids = Ids::new(n);
    let items = input::items(body);
    let (answer, output_words) = answer(&request, &items);
    let usage = usage::reported(input::prompt_words(body, &items), output_words, &request.controls);
    let shape = Shape {
        request: body,
        model,
        id: &ids.response,
        created_at: unix_now(),
    };
    let background = body.get("background").and_then(Value::as_bool) == Some(true);
    let done = if background {
        shape.build("in_progress", Vec::new(), None)
    } else {
        shape.build("completed", vec![object::item(&answer, &ids, true)], usage)
    };
    if body.get("store").and_then(Value::as_bool) != Some(false) {
        let stored = Stored {
            response: done.clone(),
            input_items: object::listed_input(items, n),
        };
        state.responses().put(ids.response.clone(), stored);
    }
    if body.get("stream").and_then(Value::as_bool) != Some(true) || background {
        return json_response(StatusCode::OK, &done);
    }
    let started = shape.build("in_progress", Vec::new(), None);
    stream_answer(&state, &request, answer, ids, &started, &done)
}

/// The answer and its output tokens (words): a call to the first function
/// tool offered, else the echo of the last user message.
fn answer(request: &Prepared, items: &[Value]) -> (Answer, u64) {
    match input::tool_to_call(&request.body, items) {
        Some((name, arguments)) => {
            let words = text::count_words(&name) + text::count_words(&arguments);
            (Answer::Call { name, arguments }, words)
        }
        None => {
            let reply = text::build_reply(&input::last_user_text(items), request.identity.as_deref());
            let words = text::count_words(&reply);
            (Answer::Text(reply), words)
        }
    }
}

fn stream_answer(
    state: &AppState,
    request: &Prepared,
    answer: Answer,
    ids: Ids,
    started: &Value,
    done: &Value,
) -> Response {
    let streamed = match &answer {
        Answer::Text(text) => text.clone(),
        Answer::Call { arguments, .. } => arguments.clone(),
    };
    let pieces = text::split_reply(&streamed, request.controls.chunks);
    let seq = stream::Sequence::starting_at(0);
    let frames = stream::head(&seq, started, &answer, &ids).and_then(|head| {
        let first_tail = (head.len() + pieces.len()) as u64;
        Ok((head, stream::tail(first_tail, &answer, &ids, done)?))
    });
    let Ok((head, tail)) = frames else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let item_id = ids.item;
    sse::response(sse::Plan {
        head,
        pieces,
        reply: streamed,
        tail,
        delay: request.controls.chunk_delay,
        faults: sse::Faults::of(&request.controls),
        shutdown: state.shutdown().clone(),
        delta: move |piece: &str| stream::delta(&seq, &answer, &item_id, piece),
    })
}

/// The shared steps for the routes on a stored response (auth, controls).
async fn prepared(state: &AppState, headers: &HeaderMap) -> Result<(), Response> {
    pipeline::prepare(state, headers, None, Api::OpenAi, ROUTE)
        .await
        .map(|_| ())
}

fn no_such_response(id: &str) -> Response {
    error_response(
        Api::OpenAi,
        ErrorKind::NotFound,
        &format!("No response found with id '{id}'."),
    )
}

pub(crate) async fn retrieve(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(response) = prepared(&state, &headers).await {
        return response;
    }
    match state.responses().with(&id, |s| s.response.clone()) {
        Some(response) => json_response(StatusCode::OK, &response),
        None => no_such_response(&id),
    }
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(response) = prepared(&state, &headers).await {
        return response;
    }
    if !state.responses().remove(&id) {
        return no_such_response(&id);
    }
    json_response(
        StatusCode::OK,
        &json!({"id": id, "object": "response", "deleted": true}),
    )
}

pub(crate) async fn input_items(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(response) = prepared(&state, &headers).await {
        return response;
    }
    let Some(data) = state.responses().with(&id, |s| s.input_items.clone()) else {
        return no_such_response(&id);
    };
    let first = data.first().map(|i| i["id"].clone());
    let last = data.last().map(|i| i["id"].clone());
    let list = json!({"object": "list", "data": data, "first_id": first, "last_id": last, "has_more": false});
    json_response(StatusCode::OK, &list)
}

pub(crate) async fn cancel(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(response) = prepared(&state, &headers).await {
        return response;
    }
    let outcome = state.responses().with(&id, |s| {
        let background = s.response["background"] == json!(true);
        if background && s.response["status"] == "in_progress" {
            s.response["status"] = json!("cancelled");
        }
        background.then(|| s.response.clone())
    });
    match outcome {
        None => no_such_response(&id),
        Some(None) => invalid(
            Api::OpenAi,
            "Only responses created with background=true can be cancelled.",
        ),
        Some(Some(response)) => json_response(StatusCode::OK, &response),
    }
}

/// `POST /v1/responses/input_tokens`: the prompt's token count, uncharged.
pub(crate) async fn input_tokens(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let request = match pipeline::prepare(&state, &headers, Some(&body), Api::OpenAi, ROUTE).await {
        Ok(request) => request,
        Err(response) => return response,
    };
    let items = input::items(&request.body);
    let count = input::prompt_words(&request.body, &items);
    json_response(
        StatusCode::OK,
        &json!({"object": "response.input_tokens", "input_tokens": count}),
    )
}

#[cfg(test)]
mod tests;
