//! Opaque pagination cursors: base64url (no padding) of a 6-byte check tag
//! followed by a small versioned JSON payload, `{"v":1,"l":<list>,"k":<key>}`.
//!
//! Opaque so the position behind a cursor (an id, a ledger sequence) can
//! change form without breaking clients; versioned so an old cursor is
//! either read or refused clearly, never misread; bound to its list so a
//! tenants cursor handed to the audit log is a 400, not a silent jump.
//!
//! The tag is an unkeyed SHA-256 prefix: it catches corrupted or hand-edited
//! cursors, not forgeries. A key would buy nothing — every list re-applies
//! the caller's scope, so a forged position shows nothing the caller could
//! not page to — and would cost persisted export cursors their validity
//! whenever the key changed.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The payload version this server writes and reads.
const VERSION: u64 = 1;
const TAG_LEN: usize = 6;
/// Far above any real cursor; refuses absurd input before decoding it.
const MAX_LEN: usize = 1024;

/// Why a cursor was refused. Messages never repeat the cursor itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    #[error("is malformed or was altered")]
    Malformed,
    #[error("belongs to another list")]
    OtherList,
    #[error("is of a format version this server cannot read")]
    Version,
}

#[derive(Deserialize)]
struct Payload {
    v: u64,
    l: String,
    k: String,
}

fn tag(payload: &[u8]) -> [u8; TAG_LEN] {
    let digest = Sha256::new()
        .chain_update(b"keyway-cursor\0")
        .chain_update(payload)
        .finalize();
    let mut tag = [0; TAG_LEN];
    tag.copy_from_slice(&digest[..TAG_LEN]);
    tag
}

/// The cursor of `list` just after the row with sort key `key`.
pub fn encode(list: &str, key: &str) -> String {
    let payload = serde_json::json!({"v": VERSION, "l": list, "k": key}).to_string();
    let mut bytes = tag(payload.as_bytes()).to_vec();
    bytes.extend_from_slice(payload.as_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The sort key behind a cursor of `list`.
pub fn decode(list: &str, cursor: &str) -> Result<String, CursorError> {
    if cursor.len() > MAX_LEN {
        return Err(CursorError::Malformed);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .map_err(|_| CursorError::Malformed)?;
    if bytes.len() <= TAG_LEN {
        return Err(CursorError::Malformed);
    }
    let (sent_tag, payload) = bytes.split_at(TAG_LEN);
    if sent_tag != tag(payload) {
        return Err(CursorError::Malformed);
    }
    let payload: Payload = serde_json::from_slice(payload).map_err(|_| CursorError::Malformed)?;
    if payload.v != VERSION {
        return Err(CursorError::Version);
    }
    if payload.l != list {
        return Err(CursorError::OtherList);
    }
    Ok(payload.k)
}

/// The cursor of a log just after position `seq`.
pub fn encode_seq(list: &str, seq: i64) -> String {
    encode(list, &seq.to_string())
}

/// The position behind a log cursor: a whole number, 0 or more.
pub fn decode_seq(list: &str, cursor: &str) -> Result<i64, CursorError> {
    decode(list, cursor)?
        .parse::<i64>()
        .ok()
        .filter(|seq| *seq >= 0)
        .ok_or(CursorError::Malformed)
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_is_url_safe() {
        for key in ["", "0197a3b0-0000-7000-8000-000000000001", "name\nscope", "é"] {
            let cursor = encode("tenants", key);
            assert!(
                cursor
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                "{cursor}"
            );
            assert_eq!(decode("tenants", &cursor).unwrap(), key);
        }
        assert_eq!(
            decode_seq("usage-events", &encode_seq("usage-events", 42)),
            Ok(42)
        );
    }

    #[test]
    fn a_cursor_is_refused_when_altered_truncated_or_of_another_list() {
        let cursor = encode("tenants", "abc");
        assert_eq!(decode("users", &cursor), Err(CursorError::OtherList));
        let mut altered = cursor.clone().into_bytes();
        let last = altered.len() - 1;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        assert_eq!(decode("tenants", &altered), Err(CursorError::Malformed));
        for bad in [
            "",
            "abc",
            "!!!",
            "42",
            &cursor[..cursor.len() - 3],
            &"A".repeat(2000),
        ] {
            assert_eq!(decode("tenants", bad), Err(CursorError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn a_well_tagged_payload_of_another_version_or_shape_is_refused() {
        let forge = |payload: &str| {
            let mut bytes = tag(payload.as_bytes()).to_vec();
            bytes.extend_from_slice(payload.as_bytes());
            URL_SAFE_NO_PAD.encode(bytes)
        };
        let v2 = forge(r#"{"v":2,"l":"tenants","k":"a"}"#);
        assert_eq!(decode("tenants", &v2), Err(CursorError::Version));
        let no_key = forge(r#"{"v":1,"l":"tenants"}"#);
        assert_eq!(decode("tenants", &no_key), Err(CursorError::Malformed));
        let negative = forge(r#"{"v":1,"l":"log","k":"-1"}"#);
        assert_eq!(decode_seq("log", &negative), Err(CursorError::Malformed));
    }
}
