//! HMAC-SHA256, used to store gateway API keys as peppered digests.

use hmac::Mac;

/// HMAC-SHA256 as a `hmac` type, for callers that stream input.
pub type Hmac256 = hmac::Hmac<sha2::Sha256>;

fn keyed(key: &[u8]) -> Hmac256 {
    match <Hmac256 as Mac>::new_from_slice(key) {
        Ok(mac) => mac,
        // HMAC accepts keys of any length (long keys are hashed first), so
        // `InvalidLength` is impossible here.
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    }
}

/// Returns HMAC-SHA256(key, message).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = keyed(key);
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Checks `tag` against HMAC-SHA256(key, message) in constant time, so a
/// caller comparing stored API key digests leaks nothing through timing.
pub fn verify_hmac_sha256(key: &[u8], message: &[u8], tag: &[u8]) -> bool {
    let mut mac = keyed(key);
    mac.update(message);
    mac.verify_slice(tag).is_ok()
}

#[cfg(test)]
mod tests {
    use super::{hmac_sha256, verify_hmac_sha256};

    #[test]
    fn hmac_matches_rfc_4231_test_case_1() {
        let tag = hmac_sha256(&[0x0b; 20], b"Hi There");
        assert_eq!(
            hex::encode(tag),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
    }

    #[test]
    fn hmac_matches_rfc_4231_test_case_2_with_a_short_key() {
        let tag = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(tag),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn verify_accepts_the_right_tag_and_rejects_a_changed_one() {
        let mut tag = hmac_sha256(b"pepper", b"kw_live_abc");
        assert!(verify_hmac_sha256(b"pepper", b"kw_live_abc", &tag));
        tag[0] ^= 1;
        assert!(!verify_hmac_sha256(b"pepper", b"kw_live_abc", &tag));
        assert!(!verify_hmac_sha256(b"pepper", b"kw_live_abc", &tag[..16]));
    }
}
