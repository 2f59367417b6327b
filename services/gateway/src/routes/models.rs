//! `GET /v1/models`: the models this caller may use, OpenAI-shaped or, when
//! the request carries `anthropic-version`, Anthropic-shaped. Each entry says
//! where its upstream key comes from and whether one is still missing.

use std::sync::Arc;

use axum::{Json, extract::State, http::HeaderMap};
use serde_json::{Value, json};

use crate::{Gateway, auth::Authed, catalog::Model};

/// Lists the models the caller may use.
#[utoipa::path(get, path = "/v1/models", tag = "llm",
    params(("anthropic-version" = Option<String>, Header, description = "When present, the answer is Anthropic-shaped")),
    responses((status = 200, description = "The models; each has `keyway: {key_source, key_required}`",
        body = super::schemas_openai::ModelList,
        example = json!({"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model", "created": 0,
            "owned_by": "openai", "keyway": {"key_source": ["user", "system"], "key_required": false}}]})),
        (status = 401)),
    security(("bearer" = []), ("x_api_key" = [])))]
pub(crate) async fn list_models(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Authed(caller): Authed,
) -> Json<Value> {
    let mut usable: Vec<(&Model, Value)> = Vec::new();
    for m in gw.catalog.iter().filter(|m| caller.may_use_model(&m.name)) {
        let has_key = gw.credentials.resolve(&caller, m).await.is_ok();
        usable.push((m, json!({"key_source": m.key_source, "key_required": !has_key})));
    }
    if headers.contains_key("anthropic-version") {
        let data: Vec<Value> = usable
            .into_iter()
            .map(|(m, keyway)| {
                json!({
                    "type": "model",
                    "id": m.name,
                    "display_name": m.name,
                    "created_at": "1970-01-01T00:00:00Z",
                    "keyway": keyway,
                })
            })
            .collect();
        let first = data.first().and_then(|m| m.get("id")).cloned();
        let last = data.last().and_then(|m| m.get("id")).cloned();
        Json(json!({"data": data, "has_more": false, "first_id": first, "last_id": last}))
    } else {
        let data: Vec<Value> = usable
            .into_iter()
            .map(|(m, keyway)| {
                json!({
                    "id": m.name,
                    "object": "model",
                    "created": 0,
                    "owned_by": m.provider,
                    "keyway": keyway,
                })
            })
            .collect();
        Json(json!({"object": "list", "data": data}))
    }
}
