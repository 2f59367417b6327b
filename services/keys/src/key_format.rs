//! The gateway API key format: `kw_<env>_<id>_<secret><checksum>`, all
//! base62, so the only underscores are the three separators. The id is
//! public (it is how a key is looked up); the secret carries ~143 bits; the
//! checksum lets a typo be refused without touching the database.

use rand::{Rng, distr::Alphanumeric};
use sha2::{Digest, Sha256};

pub const ID_LEN: usize = 16;
pub const SECRET_LEN: usize = 24;
const CHECKSUM_LEN: usize = 6;
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A freshly minted key. `full` is shown to the caller once, then dropped.
pub struct MintedKey {
    pub id: String,
    pub secret: String,
    pub full: String,
}

impl std::fmt::Debug for MintedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintedKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// The parts of a presented key that passed the format and checksum checks.
#[derive(PartialEq, Eq)]
pub struct ParsedKey<'a> {
    pub env: &'a str,
    pub id: &'a str,
    pub secret: &'a str,
}

pub fn random_base62(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

pub fn mint(env: &str) -> MintedKey {
    mint_for_id(env, random_base62(ID_LEN))
}

/// A new secret for an existing id (rotation keeps the public id).
pub fn mint_for_id(env: &str, id: String) -> MintedKey {
    let secret = random_base62(SECRET_LEN);
    let full = render(env, &id, &secret);
    MintedKey { id, secret, full }
}

/// The full key for these parts, its checksum appended: what [`parse`]
/// reads back.
pub fn render(env: &str, id: &str, secret: &str) -> String {
    format!("kw_{env}_{id}_{secret}{}", checksum(env, id, secret))
}

pub fn parse(presented: &str) -> Option<ParsedKey<'_>> {
    let rest = presented.strip_prefix("kw_")?;
    let (env, rest) = rest.split_once('_')?;
    let (id, tail) = rest.split_once('_')?;
    let base62 = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
    if !base62(env)
        || id.len() != ID_LEN
        || !base62(id)
        || tail.len() != SECRET_LEN + CHECKSUM_LEN
        || !base62(tail)
    {
        return None;
    }
    let (secret, sum) = tail.split_at(SECRET_LEN);
    (checksum(env, id, secret) == sum).then_some(ParsedKey { env, id, secret })
}

fn checksum(env: &str, id: &str, secret: &str) -> String {
    let digest = Sha256::digest(format!("kw_{env}_{id}_{secret}").as_bytes());
    digest[..CHECKSUM_LEN]
        .iter()
        .map(|b| BASE62[(*b as usize) % 62] as char)
        .collect()
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_key_parses_back_to_its_parts() {
        let key = mint("dev");
        assert_eq!(key.full.matches('_').count(), 3);
        let parsed = parse(&key.full).unwrap();
        assert_eq!(
            (parsed.env, parsed.id, parsed.secret),
            ("dev", key.id.as_str(), key.secret.as_str())
        );
    }

    #[test]
    fn a_typo_fails_the_checksum() {
        let key = mint("live");
        let mut bytes = key.full.clone().into_bytes();
        let i = bytes.len() - 10;
        bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
        assert!(parse(&String::from_utf8(bytes).unwrap()).is_none());
    }

    #[test]
    fn malformed_keys_are_refused() {
        for bad in [
            "",
            "kw_",
            "kw_dev_x_y",
            "sk-abc",
            "kw_dev_0123456789abcdef_short",
            "kw_d-v_0123456789abcdef_x",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn rotation_keeps_the_id_and_changes_the_secret() {
        let first = mint("dev");
        let second = mint_for_id("dev", first.id.clone());
        assert_eq!(first.id, second.id);
        assert_ne!(first.secret, second.secret);
    }
}
