//! One test per mapping rule, and the OpenAI → Anthropic → OpenAI round trip.

#![expect(clippy::unwrap_used)]

mod proptests;
mod requests;
mod responses;
mod responses_api;
mod roundtrip;
mod streams;

use serde_json::{Map, Value};

use super::{Bridge, Target, TranslatedRequest, Unsupported};
use crate::catalog::Wire;

const TO_ANTHROPIC: Bridge = Bridge {
    client: Wire::OpenAi,
    upstream: Wire::Anthropic,
    responses: false,
};
const TO_OPENAI: Bridge = Bridge {
    client: Wire::Anthropic,
    upstream: Wire::OpenAi,
    responses: false,
};

fn target(drop_unsupported: bool) -> Target<'static> {
    Target {
        provider: "openai",
        max_output_tokens: 8192,
        drop_unsupported,
    }
}

fn object(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

fn translate(bridge: Bridge, body: Value) -> Result<TranslatedRequest, Unsupported> {
    super::request(bridge, object(body), target(false))
}

fn to_anthropic(body: Value) -> Value {
    Value::Object(translate(TO_ANTHROPIC, body).unwrap().body)
}

fn to_openai(body: Value) -> Value {
    Value::Object(translate(TO_OPENAI, body).unwrap().body)
}
