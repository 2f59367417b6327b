//! The stream events' JSON check (`keyway_common::json_scan::is_json`):
//! for any bytes, the same answer as serde_json's own validating scan
//! (`from_slice::<IgnoredAny>`), and never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let ours = keyway_common::json_scan::is_json(bytes);
    let serde = serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok();
    assert_eq!(ours, serde, "{:?}", String::from_utf8_lossy(bytes));
});
