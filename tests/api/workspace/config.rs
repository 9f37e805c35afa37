//! `[workspace]` and a client's `allowed_scopes` as an operator meets them: `config check` names
//! each problem by its key, and the variable that overrides a key.

use crate::cli::{bheem_sso, text};
use crate::support::{ClientSpec, TestConfig};

#[test]
fn config_check_names_a_bad_workspace_section_override_and_allowed_scope() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = TestConfig::default();
    config
        .set("database_url", "sqlite::memory:")
        .set("workspace.max_body_bytes", 100)
        .set("workspace.admin_roles", vec!["admin", ""])
        .client(
            ClientSpec::new("bheem-meet")
                .auth_method("none")
                .redirect_uri("https://meet.example.com/cb")
                .allowed_scope("meet")
                .allowed_scope("openid"),
        );
    let file = dir.path().join("sso.toml");
    std::fs::write(&file, config.to_string()).unwrap();
    let out = bheem_sso(dir.path())
        .args(["config", "check", "--config"])
        .arg(&file)
        .env("BHEEM_SSO_WORKSPACE_MAX_BODY_BYTES", "a lot")
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    let problems: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("problem: "))
        .collect();
    assert_eq!(
        problems,
        ["problem: `BHEEM_SSO_WORKSPACE_MAX_BODY_BYTES`: must be a whole number of bytes"],
        "{stdout}"
    );

    // The variable fixed, the file's own problems show, every one at once.
    let out = bheem_sso(dir.path())
        .args(["config", "check", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    let keys: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("problem: "))
        .map(|l| l.split('`').nth(1).unwrap_or_default())
        .collect();
    assert_eq!(
        keys,
        [
            "workspace.max_body_bytes",
            "workspace.admin_roles",
            r#"clients["bheem-meet"].allowed_scopes"#
        ],
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "`openid` is not a workspace area's scope (one of meet, docs, calendar, mail)"
        ),
        "{stdout}"
    );
}
