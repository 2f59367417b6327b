//! `client_wires` and `drop_unsupported`: the catalog side of translation.

#![expect(clippy::unwrap_used)]

use super::*;

#[test]
fn client_wires_default_to_both_and_may_be_narrowed() {
    let entry = |extra: &str| {
        format!(
            "models:\n  m:\n    provider: anthropic\n    upstream_model: x\n    base_url: http://h/v1\n    key_source: [user]\n{extra}"
        )
    };
    let c = Catalog::parse(&entry(""), |_| None).unwrap();
    let m = c.get("m").unwrap();
    assert_eq!(m.client_wires, vec![Wire::OpenAi, Wire::Anthropic]);
    assert!(!m.drop_unsupported);
    let c = Catalog::parse(
        &entry("    client_wires: [anthropic]\n    drop_unsupported: true\n"),
        |_| None,
    )
    .unwrap();
    let m = c.get("m").unwrap();
    assert_eq!(m.client_wires, vec![Wire::Anthropic]);
    assert!(m.drop_unsupported);
    assert!(Catalog::parse(&entry("    client_wires: []\n"), |_| None).is_err());
    assert!(Catalog::parse(&entry("    client_wires: [grpc]\n"), |_| None).is_err());
}
