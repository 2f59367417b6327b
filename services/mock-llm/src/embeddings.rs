//! `POST /v1/embeddings`: the OpenAI embeddings API with small deterministic
//! vectors, as floats or (the openai Python SDK's default) base64.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;

use crate::errors::{Api, json_response};
use crate::pipeline::{self, MODEL_REQUIRED, invalid};
use crate::state::AppState;
use crate::text::count_words;

const ROUTE: &str = "/v1/embeddings";
const DIMENSIONS: usize = 8;

#[derive(Serialize)]
struct EmbeddingList<'a> {
    object: &'static str,
    data: Vec<Embedding>,
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<EmbeddingUsage>,
}

#[derive(Serialize)]
struct Embedding {
    object: &'static str,
    index: usize,
    embedding: Vector,
}

/// `float` gives a JSON array; `base64` the little-endian f32 bytes, base64-encoded.
#[derive(Serialize)]
#[serde(untagged)]
enum Vector {
    Float([f32; DIMENSIONS]),
    Base64(String),
}

#[derive(Serialize)]
struct EmbeddingUsage {
    prompt_tokens: u64,
    total_tokens: u64,
}

/// One input: text, or pre-tokenised ids (each id counts as one token).
enum Input<'a> {
    Text(&'a str),
    Tokens(&'a [Value]),
}

impl Input<'_> {
    fn tokens(&self) -> u64 {
        match self {
            Self::Text(text) => count_words(text),
            Self::Tokens(ids) => ids.len() as u64,
        }
    }

    /// FNV-1a: stable across Rust versions and runs, unlike `DefaultHasher`.
    fn hash(&self) -> u64 {
        let mut hash = 0xcbf2_9ce4_8422_2325_u64;
        let mut feed = |bytes: &[u8]| {
            for &b in bytes {
                hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
        };
        match self {
            Self::Text(text) => feed(text.as_bytes()),
            Self::Tokens(ids) => ids
                .iter()
                .for_each(|id| feed(&id.as_i64().unwrap_or(0).to_le_bytes())),
        }
        hash
    }
}

/// Accepts a string, an array of strings, an array of token ids, or an array of id arrays.
fn parse_inputs(input: &Value) -> Result<Vec<Input<'_>>, &'static str> {
    const SHAPE: &str =
        "input: expected a string, an array of strings, an array of integers or an array of integer arrays";
    let is_ids = |items: &[Value]| !items.is_empty() && items.iter().all(Value::is_i64);
    match input {
        Value::String(text) => Ok(vec![Input::Text(text)]),
        Value::Array(items) if items.is_empty() => Err("input: must not be empty"),
        Value::Array(items) if is_ids(items) => Ok(vec![Input::Tokens(items)]),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(text) => Ok(Input::Text(text)),
                Value::Array(ids) if is_ids(ids) => Ok(Input::Tokens(ids)),
                _ => Err(SHAPE),
            })
            .collect(),
        _ => Err(SHAPE),
    }
}

/// A unit-length vector seeded by the input's hash (splitmix64 steps).
fn embed(seed: u64) -> [f32; DIMENSIONS] {
    let mut state = seed;
    let mut vector = [0.0_f32; DIMENSIONS];
    for value in &mut vector {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        // Top 24 bits -> [-1, 1); 24 bits is all an f32 mantissa holds.
        *value = ((z >> 40) as f32 / (1u64 << 23) as f32) - 1.0;
    }
    let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|v| *v /= norm);
    }
    vector
}

fn encode_base64(vector: &[f32; DIMENSIONS]) -> String {
    let mut bytes = [0_u8; DIMENSIONS * 4];
    for (chunk, value) in bytes.chunks_exact_mut(4).zip(vector) {
        chunk.copy_from_slice(&value.to_le_bytes());
    }
    BASE64.encode(bytes)
}

pub(crate) async fn create(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let api = Api::OpenAi;
    let request = match pipeline::prepare(&state, &headers, Some(&body), api, ROUTE).await {
        Ok(request) => request,
        Err(response) => return response,
    };
    let body = &request.body;
    let Some(model) = pipeline::model(body) else {
        return invalid(api, MODEL_REQUIRED);
    };
    let Some(input) = body.get("input") else {
        return invalid(api, "input: a value is required");
    };
    let inputs = match parse_inputs(input) {
        Ok(inputs) => inputs,
        Err(message) => return invalid(api, message),
    };
    let base64 = match body.get("encoding_format").and_then(Value::as_str) {
        None | Some("float") => false,
        Some("base64") => true,
        Some(_) => return invalid(api, "encoding_format: expected \"float\" or \"base64\""),
    };

    let data = inputs
        .iter()
        .enumerate()
        .map(|(index, input)| {
            let vector = embed(input.hash());
            let embedding = if base64 {
                Vector::Base64(encode_base64(&vector))
            } else {
                Vector::Float(vector)
            };
            Embedding {
                object: "embedding",
                index,
                embedding,
            }
        })
        .collect();
    let tokens = inputs.iter().map(Input::tokens).sum();
    let list = EmbeddingList {
        object: "list",
        data,
        model,
        usage: (!request.controls.omit_usage).then_some(EmbeddingUsage {
            prompt_tokens: tokens,
            total_tokens: tokens,
        }),
    };
    json_response(StatusCode::OK, &list)
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use base64::Engine as _;
    use serde_json::{Value, json};

    use super::BASE64;
    use crate::MockConfig;
    use crate::test_support::{post, send};

    async fn embed(body: Value) -> crate::test_support::Reply {
        send(MockConfig::default(), post("/v1/embeddings", &body, &[])).await
    }

    fn floats(value: &Value) -> Vec<f32> {
        value
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect()
    }

    #[tokio::test]
    async fn float_embeddings_are_deterministic_unit_vectors() {
        let body = json!({"model": "mock-embed-model", "input": ["hello world", "bye", "hello world"]});
        let reply = embed(body.clone()).await;
        assert_eq!(reply.status, 200);
        let json = reply.json();
        assert_eq!(json["object"], "list");
        assert_eq!(json["model"], "mock-embed-model");
        assert_eq!(json["usage"], json!({"prompt_tokens": 5, "total_tokens": 5}));
        let data = json["data"].as_array().unwrap();
        assert_eq!(data.len(), 3);
        assert_eq!(data[2]["index"], 2);
        assert_eq!(data[0]["object"], "embedding");

        let first = floats(&data[0]["embedding"]);
        assert_eq!(first.len(), 8);
        let norm: f32 = first.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
        assert_eq!(first, floats(&data[2]["embedding"]), "same input, same vector");
        assert_ne!(first, floats(&data[1]["embedding"]));
        assert_eq!(
            embed(body).await.json()["data"],
            json["data"],
            "stable across calls"
        );
    }

    #[tokio::test]
    async fn base64_embeddings_decode_to_the_float_vector() {
        let float = embed(json!({"model": "m", "input": "some text"})).await.json();
        let encoded = embed(json!({"model": "m", "input": "some text", "encoding_format": "base64"}))
            .await
            .json();
        let bytes = BASE64
            .decode(encoded["data"][0]["embedding"].as_str().unwrap())
            .unwrap();
        assert_eq!(bytes.len(), 32);
        let decoded: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(decoded, floats(&float["data"][0]["embedding"]));
    }

    #[tokio::test]
    async fn token_id_inputs_count_one_token_per_id() {
        let single = embed(json!({"model": "m", "input": [1, 2, 3]})).await.json();
        assert_eq!(single["data"].as_array().unwrap().len(), 1);
        assert_eq!(single["usage"]["prompt_tokens"], 3);
        let batch = embed(json!({"model": "m", "input": [[1, 2], [3]]})).await.json();
        assert_eq!(batch["data"].as_array().unwrap().len(), 2);
        assert_eq!(batch["usage"]["prompt_tokens"], 3);
    }

    #[tokio::test]
    async fn malformed_inputs_are_400s() {
        for body in [
            json!({"model": "m"}),
            json!({"model": "m", "input": []}),
            json!({"model": "m", "input": [{"text": "x"}]}),
            json!({"model": "m", "input": "x", "encoding_format": "int8"}),
            json!({"input": "x"}),
        ] {
            let reply = embed(body.clone()).await;
            assert_eq!(reply.status, 400, "{body}");
            assert_eq!(reply.json()["error"]["type"], "invalid_request_error", "{body}");
        }
    }
}
