//! The API-key parser (`keyway_keys::key_format`): whatever a client
//! presents is parsed or refused without panicking, and a key that parses
//! is exactly what its parts render to (nothing ignored, nothing
//! normalised); and any parts render to a key that parses back to them.

#![no_main]

use keyway_keys::key_format::{ID_LEN, SECRET_LEN, parse, render};
use libfuzzer_sys::fuzz_target;

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fuzz_target!(|input: &[u8]| {
    if let Ok(presented) = std::str::from_utf8(input)
        && let Some(key) = parse(presented)
    {
        assert_eq!(render(key.env, key.id, key.secret), presented);
    }

    // The same bytes read as the parts of a key: an env of 1 to 12
    // characters, then the id and the secret, all mapped onto base62.
    let Some((&n, rest)) = input.split_first() else {
        return;
    };
    let env_len = 1 + usize::from(n % 12);
    let Some(chars) = rest.get(..env_len + ID_LEN + SECRET_LEN) else {
        return;
    };
    let chars: String = chars
        .iter()
        .map(|b| char::from(BASE62[usize::from(b % 62)]))
        .collect();
    let (env, rest) = chars.split_at(env_len);
    let (id, secret) = rest.split_at(ID_LEN);
    let full = render(env, id, secret);
    assert_eq!(full.matches('_').count(), 3, "{full}");
    let Some(parsed) = parse(&full) else {
        panic!("{full} was refused");
    };
    assert_eq!((parsed.env, parsed.id, parsed.secret), (env, id, secret));
});
