//! The request side of the translation layer: any JSON object a client
//! sends is translated or refused without panicking, on every bridge a
//! route can take (OpenAI chat -> Anthropic messages, the reverse, and the
//! Responses API onto either), with `drop_unsupported` off and on.

#![no_main]

use keyway_gateway::fuzzing::translate::{Wire, request};
use libfuzzer_sys::fuzz_target;

const BRIDGES: [(Wire, Wire, bool); 4] = [
    (Wire::OpenAi, Wire::Anthropic, false),
    (Wire::Anthropic, Wire::OpenAi, false),
    (Wire::OpenAi, Wire::OpenAi, true),
    (Wire::OpenAi, Wire::Anthropic, true),
];

fuzz_target!(|input: &[u8]| {
    let Ok(serde_json::Value::Object(body)) = serde_json::from_slice(input) else {
        return;
    };
    for (client, upstream, responses) in BRIDGES {
        for drop_unsupported in [false, true] {
            let _ = request(client, upstream, responses, drop_unsupported, body.clone());
        }
    }
});
