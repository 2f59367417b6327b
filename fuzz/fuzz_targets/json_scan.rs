//! The stream events' JSON check (`keyway_common::json_scan::is_json`):
//! for any bytes, the same answer as serde_json's own validating scan
//! (`from_slice::<IgnoredAny>`), and never a panic. The skip of one value
//! (`value_end`, which the request's reading uses) ends where that value
//! does: what it skips, serde_json reads as one value.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let ours = keyway_common::json_scan::is_json(bytes);
    let serde = serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok();
    assert_eq!(ours, serde, "{:?}", String::from_utf8_lossy(bytes));
    match keyway_common::json_scan::value_end(bytes, 0) {
        Some((end, _)) => {
            let value = serde_json::from_slice::<serde::de::IgnoredAny>(&bytes[..end]);
            assert!(value.is_ok(), "{:?}", String::from_utf8_lossy(bytes));
            assert!(!ours || bytes[end..].trim_ascii().is_empty(), "{:?}", String::from_utf8_lossy(bytes));
        }
        None => assert!(!ours, "{:?}", String::from_utf8_lossy(bytes)),
    }
});
