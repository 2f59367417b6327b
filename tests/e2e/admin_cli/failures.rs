//! Every failure exits non-zero with a message that says what went wrong,
//! each kind with its own code (docs/admin-cli.md): 2 usage, 3 API error,
//! 4 unreachable, 5 not Keyway's answer. The keys involved, right or
//! wrong, are never echoed.

use super::{AdminCli, stack};
use crate::{helpers::random_secret, secret_scan::mock_url};

#[tokio::test]
async fn failures_exit_non_zero_with_the_apis_code_or_a_clear_reason() {
    let (process, cli) = stack(&[]);

    let wrong_key = random_secret("kw_admin_wrong_");
    let wrong = cli.with_key(&wrong_key);
    let refused = wrong.run(&["tenants", "list"]);
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("KW-AUTH-002") && refused.stderr.contains("KEYWAY_ADMIN_KEY"),
        "{}",
        refused.stderr
    );
    wrong.assert_never_printed("wrong key", &wrong_key);

    for args in [
        vec!["tenants", "show", "01890000-0000-7000-8000-000000000000"],
        vec!["users", "list", "--tenant", "no-such-tenant"],
    ] {
        let missing = cli.run(&args);
        assert_eq!(missing.code, 3, "{args:?}: {}", missing.stderr);
        assert!(
            missing.stderr.contains("KW-ADM-001") && missing.stderr.contains("(404)"),
            "{}",
            missing.stderr
        );
    }

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let nowhere = AdminCli::new(&format!("http://{closed}"), &cli.key);
    let unreachable = nowhere.run(&["tenants", "list"]);
    assert_eq!(unreachable.code, 4, "{}", unreachable.stderr);
    assert!(
        unreachable
            .stderr
            .contains(&format!("cannot reach Keyway at http://{closed}")),
        "{}",
        unreachable.stderr
    );
    nowhere.assert_never_printed("admin key", &cli.key);

    // The in-process mock upstream answers HTTP, but not as Keyway does.
    let not_keyway = AdminCli::new(&mock_url(&process.logs()), &cli.key);
    let odd = not_keyway.run(&["tenants", "list"]);
    assert_eq!(odd.code, 5, "{}", odd.stderr);
    assert!(odd.stderr.contains("unexpected answer"), "{}", odd.stderr);

    for args in [
        vec!["tenants", "frobnicate"],
        vec!["tenants", "update", "some-id"],
        vec!["limits", "set", "--tenant", "t"],
        vec!["--url", "not a url", "tenants", "list"],
    ] {
        let usage = cli.run(&args);
        assert_eq!(usage.code, 2, "{args:?}: {}", usage.stderr);
        assert!(!usage.stderr.trim().is_empty(), "{args:?} said nothing");
    }
    cli.assert_never_printed("admin key", &cli.key);
}

#[tokio::test]
async fn the_key_is_read_from_the_data_dir_and_config_never_shows_it() {
    let (_process, cli) = stack(&[]);
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().display().to_string();

    let none = cli.run_with(&["tenants", "list"], &[("KEYWAY_DATA_DIR", &data_dir)], None);
    assert_eq!(none.code, 2, "{}", none.stderr);
    assert!(
        none.stderr.contains("KEYWAY_ADMIN_KEY") && none.stderr.contains("admin.key"),
        "{}",
        none.stderr
    );

    // Where `keyway up` stores a generated dev key.
    std::fs::write(dir.path().join("admin.key"), format!("{}\n", cli.key)).unwrap();
    let from_file = cli.run_with(
        &["tenants", "list", "--json"],
        &[("KEYWAY_DATA_DIR", &data_dir)],
        None,
    );
    assert_eq!(from_file.code, 0, "{}", from_file.stderr);
    assert!(from_file.json()["data"].is_array());

    let config = cli.run_with(&["config"], &[("KEYWAY_DATA_DIR", &data_dir)], None);
    assert_eq!(config.code, 0, "{}", config.stderr);
    assert!(
        config.stdout.contains("admin.key") && config.stdout.contains(&cli.url),
        "{}",
        config.stdout
    );
    let config = cli.run(&["config", "--json"]).json();
    assert_eq!(config["key_from"], "KEYWAY_ADMIN_KEY");
    cli.assert_never_printed("admin key", &cli.key);
}
