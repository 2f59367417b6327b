//! How the gateway reads an untranslated LLM request body
//! (`keyway_gateway::request`, one scan that checks the body, finds its
//! members and counts the prompt's text): for any bytes, the body is read
//! exactly when serde_json reads it as the gateway must, and the text it
//! counts is what the limits' estimate counts on the parsed body. Never a
//! panic.

#![no_main]

use keyway_gateway::fuzzing::request::{estimate, read, serde_reads};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|bytes: &[u8]| {
    let serde = serde_reads(bytes);
    let ours = read(bytes);
    assert_eq!(ours.is_some(), serde, "{:?}", String::from_utf8_lossy(bytes));
    if let (Some(text), Ok(body)) = (ours, serde_json::from_slice::<Value>(bytes)) {
        assert_eq!(text, estimate(&body), "{:?}", String::from_utf8_lossy(bytes));
    }
});
