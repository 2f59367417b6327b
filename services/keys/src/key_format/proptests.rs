//! Properties of the API-key parser: whatever a client presents, `parse`
//! answers without panicking; a minted key parses back to its parts; and
//! any change to a minted key (a typo, a cut, an extra character) is
//! refused by the format or the checksum, never read as another valid key.

#![expect(clippy::unwrap_used)]

use proptest::prelude::*;

use super::*;

fn env() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9]{1,12}"
}

proptest! {
    #[test]
    fn anything_presented_is_parsed_or_refused_without_panicking(presented in any::<String>()) {
        if let Some(parsed) = parse(&presented) {
            prop_assert_eq!(
                presented.len(),
                4 + parsed.env.len() + 1 + ID_LEN + 1 + SECRET_LEN + CHECKSUM_LEN
            );
        }
    }

    #[test]
    fn key_shaped_text_is_parsed_or_refused_without_panicking(presented in "kw_[a-zA-Z0-9_]{0,8}_[a-zA-Z0-9_]{0,20}_[a-zA-Z0-9_]{0,40}") {
        let _ = parse(&presented);
    }

    #[test]
    fn a_minted_key_parses_back_to_its_parts(env in env()) {
        let key = mint(&env);
        let parsed = parse(&key.full).unwrap();
        prop_assert_eq!(parsed.env, env.as_str());
        prop_assert_eq!(parsed.id, key.id.as_str());
        prop_assert_eq!(parsed.secret, key.secret.as_str());
        // Exactly three separators, so no part can swallow another.
        prop_assert_eq!(key.full.matches('_').count(), 3);
    }

    #[test]
    fn one_changed_character_is_refused(
        env in env(),
        at in any::<proptest::sample::Index>(),
        with in proptest::char::range('0', 'z'),
    ) {
        let key = mint(&env);
        // Only the id, secret and checksum: a changed env is another key's.
        let start = 4 + env.len();
        let at = start + at.index(key.full.len() - start);
        let mut changed: Vec<char> = key.full.chars().collect();
        prop_assume!(changed[at] != with);
        changed[at] = with;
        let changed: String = changed.into_iter().collect();
        prop_assert!(parse(&changed).is_none(), "{} was accepted", changed);
    }

    #[test]
    fn a_cut_or_lengthened_key_is_refused(env in env(), cut in any::<proptest::sample::Index>(), extra in "[a-zA-Z0-9_]{1,4}") {
        let key = mint(&env);
        let cut_at = cut.index(key.full.len());
        prop_assert!(parse(&key.full[..cut_at]).is_none());
        let (longer, prefixed) = (format!("{}{extra}", key.full), format!("{extra}{}", key.full));
        prop_assert!(parse(&longer).is_none());
        prop_assert!(parse(&prefixed).is_none());
    }
}
