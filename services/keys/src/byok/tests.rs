#[test]
fn keys_are_masked_to_four_and_four() {
    assert_eq!(super::mask("sk-proj-abcdefgh-here"), "sk-p…here");
    assert_eq!(super::mask("short"), "****");
}
