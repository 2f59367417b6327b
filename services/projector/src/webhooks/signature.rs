//! The `Keyway-Signature` header: `t=<unix seconds>,v1=<hex HMAC-SHA256>`,
//! where the MAC is keyed with the webhook's signing secret (the whole
//! `whsec_…` string as bytes) over `"<t>.<raw body>"`. Signing the timestamp
//! with the body lets a receiver refuse replays of old deliveries.

use keyway_crypto::{hmac_sha256, verify_hmac_sha256};

/// The header that carries the signature.
pub const HEADER: &str = "Keyway-Signature";

/// How old a delivery a receiver should still accept (documented: 5 min).
pub const TOLERANCE_SECS: i64 = 300;

/// Why a signature was refused. None of them carries the secret or the MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header is malformed")]
    Malformed,
    #[error("the signature's timestamp is outside the tolerance")]
    Stale,
    #[error("no v1 signature matches the body")]
    Mismatch,
}

/// The header value for `body` signed at `timestamp` (unix seconds).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!(
        "t={timestamp},v1={}",
        hex(&hmac_sha256(secret, &signed_payload(timestamp, body)))
    )
}

/// Checks a header value against `body`, as a receiver should: the
/// timestamp within `tolerance_secs` of `now` and any `v1` entry matching
/// in constant time. Several `v1` entries are allowed, so a sender may sign
/// with two secrets while one is being replaced.
pub fn verify(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut macs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = Some(t.parse::<i64>().map_err(|_| SignatureError::Malformed)?),
            Some(("v1", mac)) => macs.push(unhex(mac).ok_or(SignatureError::Malformed)?),
            // Unknown schemes are skipped, so newer ones can be added.
            Some(_) => {}
            None => return Err(SignatureError::Malformed),
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if macs.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now - timestamp).abs() > tolerance_secs {
        return Err(SignatureError::Stale);
    }
    let payload = signed_payload(timestamp, body);
    if macs.iter().any(|mac| verify_hmac_sha256(secret, &payload, mac)) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

fn signed_payload(timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut payload = format!("{timestamp}.").into_bytes();
    payload.extend_from_slice(body);
    payload
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]])
        .map(char::from)
        .collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok()))
        .collect()
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test-secret";
    const BODY: &[u8] = br#"[{"id":"0197a3c4-5e1f-7cc2-9a41-3f0d2b6e8a10"}]"#;
    const NOW: i64 = 1_750_000_000;

    #[test]
    fn a_signature_matches_an_independent_hmac_of_timestamp_dot_body() {
        let header = sign(SECRET, NOW, BODY);
        let mut message = b"1750000000.".to_vec();
        message.extend_from_slice(BODY);
        let expected = hex(&hmac_sha256(SECRET, &message));
        assert_eq!(header, format!("t=1750000000,v1={expected}"));
        assert_eq!(expected.len(), 64);
        assert_eq!(verify(SECRET, &header, BODY, NOW + 10, TOLERANCE_SECS), Ok(()));
    }

    #[test]
    fn a_tampered_body_or_a_wrong_secret_fails_verification() {
        let header = sign(SECRET, NOW, BODY);
        let mut tampered = BODY.to_vec();
        tampered[10] ^= 1;
        assert_eq!(
            verify(SECRET, &header, &tampered, NOW, TOLERANCE_SECS),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"whsec_other", &header, BODY, NOW, TOLERANCE_SECS),
            Err(SignatureError::Mismatch)
        );
        // Moving the signature to another timestamp breaks it too.
        let moved = header.replace("t=1750000000", "t=1750000001");
        assert_eq!(
            verify(SECRET, &moved, BODY, NOW, TOLERANCE_SECS),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn old_timestamps_and_malformed_headers_are_refused() {
        let header = sign(SECRET, NOW, BODY);
        assert_eq!(
            verify(SECRET, &header, BODY, NOW + 301, TOLERANCE_SECS),
            Err(SignatureError::Stale)
        );
        for bad in [
            "",
            "t=abc,v1=00",
            "v1=00",
            "t=1750000000",
            "t=1750000000,v1=zz",
            "garbage",
        ] {
            assert_eq!(
                verify(SECRET, bad, BODY, NOW, TOLERANCE_SECS),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
    }

    #[test]
    fn any_matching_v1_entry_is_enough_and_unknown_schemes_are_skipped() {
        let good = sign(SECRET, NOW, BODY);
        let mac = good.split("v1=").nth(1).unwrap();
        let header = format!("t={NOW},v0=legacy,v1={},v1={mac}", "00".repeat(32));
        assert_eq!(verify(SECRET, &header, BODY, NOW, TOLERANCE_SECS), Ok(()));
    }
}
