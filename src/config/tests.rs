//! Every kind of invalid value is refused with its key named; secrets never show.
//!
//! A catalogue of refusals, each going through the whole loader from TOML text with the same
//! three helpers; those of `[provisioning]` and the mailboxes it makes are in `provisioning`.

use secrecy::ExposeSecret;

use super::*;

mod provisioning;

fn load(text: &str) -> Result<Config, ConfigErrors> {
    Config::from_parts(text, &[], ConfigSource::BuiltInDefaults)
}

/// The configuration from `text` and environment variables `env` (also the sections' own tests').
pub(super) fn load_env(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
    let env: Vec<_> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_parts(text, &env, ConfigSource::BuiltInDefaults)
}

/// `[provisioning.nextcloud]` with user ids made of the email claim, which `[docs]` and
/// `[calendar]` default to.
pub(super) const NEXTCLOUD_BY_EMAIL: &str = "[provisioning.nextcloud]\n\
    url = \"https://docs.example.org/\"\nadmin_user = \"admin\"\n\
    admin_password = \"admin-password\"\nuid_claim = \"email\"\n";

/// The key of the first problem.
fn key_of(result: Result<Config, ConfigErrors>) -> String {
    result.expect_err("should be rejected").keys()[0].to_owned()
}

#[test]
fn empty_file_gives_development_defaults() {
    let config = load("").unwrap();
    assert_eq!(config.issuer.as_str(), "http://127.0.0.1:8080");
    assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(config.database_url.backend(), Backend::Sqlite);
    assert_eq!(config.keys_dir, PathBuf::from("keys"));
    assert!(config.directory.is_none());
    assert_eq!(config.metrics_listen, None, "metrics are off by default");
}

#[test]
fn the_metrics_listener_needs_a_port_of_its_own() {
    let config = load("metrics_listen = \"127.0.0.1:9464\"").unwrap();
    assert_eq!(
        config.metrics_listen,
        Some("127.0.0.1:9464".parse().unwrap())
    );
    let config = load_env("", &[("BHEEM_SSO_METRICS_LISTEN", "10.0.0.5:9100")]).unwrap();
    assert_eq!(
        config.metrics_listen,
        Some("10.0.0.5:9100".parse().unwrap())
    );
    assert_eq!(
        key_of(load("metrics_listen = \"localhost\"")),
        "metrics_listen"
    );
    for clash in [
        "listen = \"127.0.0.1:8080\"\nmetrics_listen = \"127.0.0.1:8080\"",
        "listen = \"0.0.0.0:8080\"\nmetrics_listen = \"127.0.0.1:8080\"",
        "listen = \"127.0.0.1:8080\"\nmetrics_listen = \"[::]:8080\"",
    ] {
        assert_eq!(key_of(load(clash)), "metrics_listen", "{clash}");
    }
    let apart = load("listen = \"10.0.0.5:8080\"\nmetrics_listen = \"127.0.0.1:8080\"").unwrap();
    assert!(apart.metrics_listen.is_some());
}

#[test]
fn unknown_key_is_named() {
    assert_eq!(
        key_of(load("issuer = \"http://a\"\nlisen = \"x\"\n")),
        "lisen"
    );
    assert_eq!(
        key_of(load(
            "[directory]\nurl = \"postgres://h/db\"\ntabel = \"x\"\n"
        )),
        "directory.tabel"
    );
}

#[test]
fn issuer_with_query_or_fragment_is_rejected() {
    let e = load("issuer = \"https://sso.example.com/?tenant=1\"").unwrap_err();
    assert_eq!(e.keys(), ["issuer"]);
    assert!(e.to_string().contains("query"), "{e}");
    let e = load("issuer = \"https://sso.example.com/#x\"").unwrap_err();
    assert!(e.to_string().contains("fragment"), "{e}");
}

#[test]
fn malformed_urls_are_rejected_with_their_key() {
    assert_eq!(key_of(load("issuer = \"not a url\"")), "issuer");
    assert_eq!(key_of(load("issuer = \"ftp://sso.example.com\"")), "issuer");
    assert_eq!(
        key_of(load("database_url = \"mysql://localhost/x\"")),
        "database_url"
    );
    assert_eq!(
        key_of(load("database_url = \"postgres://\"")),
        "database_url"
    );
    assert_eq!(
        key_of(load("[directory]\nurl = \"sqlite://x.db\"")),
        "directory.url"
    );
    assert_eq!(key_of(load("listen = \"localhost\"")), "listen");
    let client = r#"
        [[clients]]
        client_id = "docs"
        client_secret = "0123456789abcdef0123"
        redirect_uris = ["/relative/path"]
    "#;
    assert_eq!(key_of(load(client)), r#"clients["docs"].redirect_uris"#);
}

#[test]
fn missing_secret_is_rejected() {
    let client = r#"
        [[clients]]
        client_id = "docs"
        redirect_uris = ["https://docs.example.com/apps/user_oidc/code"]
    "#;
    assert_eq!(key_of(load(client)), r#"clients["docs"].client_secret"#);
    let from_env = r#"
        [[clients]]
        client_id = "docs"
        client_secret_env = "DOCS_SECRET"
        redirect_uris = ["https://docs.example.com/apps/user_oidc/code"]
    "#;
    assert_eq!(
        key_of(load(from_env)),
        r#"clients["docs"].client_secret_env"#
    );
    let config = load_env(from_env, &[("DOCS_SECRET", "a-long-enough-secret-value")]).unwrap();
    assert_eq!(
        config.clients[0]
            .client_secret
            .as_ref()
            .unwrap()
            .expose_secret(),
        "a-long-enough-secret-value"
    );
}

#[test]
fn wrongly_typed_values_are_rejected() {
    assert_eq!(
        key_of(load("key_grace_seconds = \"soon\"")),
        "key_grace_seconds"
    );
    assert_eq!(
        key_of(load("[password]\niterations = -1")),
        "password.iterations"
    );
    assert_eq!(
        key_of(load_env("", &[("BHEEM_SSO_KEY_GRACE_SECONDS", "soon")])),
        "BHEEM_SSO_KEY_GRACE_SECONDS"
    );
    assert_eq!(
        key_of(load(
            "[directory]\nurl = \"postgres://h/erp\"\n[directory.columns]\nemail = \"e; drop\""
        )),
        "directory.columns.email"
    );
    assert_eq!(
        key_of(load("[password]\nmemory_kib = 16")),
        "password.memory_kib"
    );
}

#[test]
fn environment_overrides_the_file() {
    let config = load_env(
        "issuer = \"http://a.example\"\n",
        &[
            ("BHEEM_SSO_ISSUER", "https://sso.example.com"),
            ("BHEEM_SSO_DATABASE_URL", "postgres://u:pw@db.example/sso"),
        ],
    )
    .unwrap();
    assert_eq!(config.issuer.as_str(), "https://sso.example.com");
    assert_eq!(config.database_url.backend(), Backend::Postgres);
    assert_eq!(
        key_of(load_env("", &[("BHEEM_SSO_ISUER", "x")])),
        "BHEEM_SSO_ISUER"
    );
    assert_eq!(
        key_of(load_env("", &[("BHEEM_SSO_ISSUER", "https://x/?a=b")])),
        "issuer"
    );
}

#[test]
fn secrets_never_show_in_debug() {
    let config = load(
        r#"
        database_url = "postgres://sso:hunter2-db-password@db.example/sso"
        [[clients]]
        client_id = "docs"
        client_secret = "super-secret-client-value"
        redirect_uris = ["https://docs.example.com/apps/user_oidc/code"]
        "#,
    )
    .unwrap();
    let debug = format!("{config:?}");
    assert!(!debug.contains("hunter2-db-password"), "{debug}");
    assert!(!debug.contains("super-secret-client-value"), "{debug}");
    assert!(config.database_url.redacted().contains("***"));
}

#[test]
fn the_example_configuration_is_valid() {
    let env = [
        ("ERP_DATABASE_URL", "postgres://erp-reader@erp-db/erp"),
        ("BHEEM_DOCS_CLIENT_SECRET", "placeholder-docs-secret-000"),
        ("BHEEM_MAIL_CLIENT_SECRET", "placeholder-mail-secret-000"),
        ("NEXTCLOUD_ADMIN_PASSWORD", "placeholder"),
        ("MAILCOW_API_KEY", "placeholder"),
        ("LIVEKIT_API_SECRET", "placeholder-livekit-secret"),
        ("MEET_S3_ACCESS_KEY", "placeholder"),
        ("MEET_S3_SECRET_KEY", "placeholder"),
        ("BHEEM_MAIL_MASTER_PASSWORD", "placeholder"),
    ];
    let config = load_env(include_str!("../../bheem-sso.example.toml"), &env).unwrap();
    let ids: Vec<_> = config
        .clients
        .iter()
        .map(|c| c.client_id.as_str())
        .collect();
    assert_eq!(ids, ["bheem-docs", "bheem-mail", "bheem-meet"]);
    assert!(
        config.clients[2].require_pkce,
        "a public client must use PKCE"
    );
    assert_eq!(config.clients[0].provision, [ProvisionTarget::Nextcloud]);
    assert!(config.provisioning.mailcow.is_some());
    assert!(config.meet_enabled());
    assert!(config.meet.as_ref().unwrap().recordings.is_some());
    assert!(config.mail_enabled());
    let erp = config.erp_sync.as_ref().expect("[erp_sync]");
    assert_eq!(erp.url.expose(), "postgres://erp-reader@erp-db/erp");
    assert_eq!(
        erp.room_bookings.to_string(),
        "project_management.pm_room_bookings"
    );
    assert_eq!(erp.documents.to_string(), "dms.documents");
    assert_eq!(erp.document_columns.created_by, "created_by");
}

#[test]
fn erp_table_and_columns_are_configurable() {
    let config = load(
        r#"
        [directory]
        url = "postgres://erp@127.0.0.1/erp"
        table = "auth.users"
        [directory.columns]
        password_hash = "password"
        "#,
    )
    .unwrap();
    let dir = config.directory.unwrap();
    assert_eq!((dir.schema.as_str(), dir.table.as_str()), ("auth", "users"));
    assert_eq!(dir.columns.password_hash, "password");
    assert_eq!(dir.columns.email, "email");
}

#[test]
fn public_clients_must_use_pkce_and_have_no_secret() {
    let config = load(
        r#"
        [[clients]]
        client_id = "bheem-meet"
        token_endpoint_auth_method = "none"
        redirect_uris = ["https://meet.example.com/callback"]
        "#,
    )
    .unwrap();
    assert!(config.clients[0].require_pkce);
    let with_secret = r#"
        [[clients]]
        client_id = "bheem-meet"
        client_secret = "0123456789abcdef0123"
        token_endpoint_auth_method = "none"
        redirect_uris = ["https://meet.example.com/callback"]
    "#;
    assert_eq!(
        key_of(load(with_secret)),
        r#"clients["bheem-meet"].client_secret"#
    );
}

const NEXTCLOUD: &str = r#"
[provisioning.nextcloud]
url = "https://docs.example.com"
admin_user = "admin"
admin_password = "nc-password"
"#;

#[test]
fn instance_admin_roles_are_per_company_and_off_by_default() {
    let acme = uuid::Uuid::from_u128(1);
    let config = load(NEXTCLOUD).unwrap();
    assert!(!config
        .provisioning
        .instance_admin_roles()
        .includes(acme, "admin"));
    let config = load(&format!(
        "{NEXTCLOUD}instance_admin_roles = {{ \"{acme}\" = [\"IT Admin\"] }}\n"
    ))
    .unwrap();
    let roles = config.provisioning.instance_admin_roles();
    assert!(roles.includes(acme, " it admin"));
    assert!(!roles.includes(acme, "admin"));
    assert!(!roles.includes(uuid::Uuid::from_u128(2), "IT Admin"));
    for bad in [
        "instance_admin_roles = { \"acme\" = [\"admin\"] }",
        "instance_admin_roles = { \"00000000-0000-0000-0000-000000000001\" = [] }",
        "instance_admin_roles = { \"00000000-0000-0000-0000-000000000001\" = [\" \"] }",
        "instance_admin_roles = [\"admin\"]",
    ] {
        let key = key_of(load(&format!("{NEXTCLOUD}{bad}\n")));
        assert!(key.starts_with("provisioning.nextcloud"), "{bad}: {key}");
    }
}

#[test]
fn the_header_read_timeout_has_a_default_and_a_sane_range() {
    assert_eq!(load("").unwrap().http.header_read_timeout_seconds, 10);
    let config = load("[http]\nheader_read_timeout_seconds = 30\n").unwrap();
    assert_eq!(config.http.header_read_timeout_seconds, 30);
    for bad in ["0", "301"] {
        assert_eq!(
            key_of(load(&format!(
                "[http]\nheader_read_timeout_seconds = {bad}\n"
            ))),
            "http.header_read_timeout_seconds"
        );
    }
    assert_eq!(
        key_of(load("[http]\nidle_seconds = 5\n")),
        "http.idle_seconds"
    );
}

#[test]
fn no_relying_party_may_take_the_workspaces_own_client_id() {
    let client = |id: &str| {
        format!(
            "[[clients]]\nclient_id = \"{id}\"\nclient_secret = \"0123456789abcdef0123\"\n\
             redirect_uris = [\"https://rp.example/cb\"]\n"
        )
    };
    assert_eq!(
        key_of(load(&client("bheem-workspace"))),
        r#"clients["bheem-workspace"].client_id"#
    );
    let renamed = format!("first_party_client_id = \"spa\"\n{}", client("spa"));
    assert_eq!(key_of(load(&renamed)), r#"clients["spa"].client_id"#);
    assert!(load(&client("bheem-docs")).is_ok());
}

#[test]
fn key_refresh_and_rotation_are_checked_and_the_kek_comes_from_the_environment_only() {
    let config = load("").unwrap();
    assert_eq!(config.key_refresh_seconds, 60);
    assert_eq!(config.key_rotation_days, None);
    assert!(config.key_encryption_key.is_none());
    for bad in ["key_refresh_seconds = 0", "key_refresh_seconds = 300"] {
        assert_eq!(key_of(load(bad)), "key_refresh_seconds", "{bad}");
    }
    assert_eq!(
        load("key_refresh_seconds = 299")
            .unwrap()
            .key_refresh_seconds,
        299
    );
    assert_eq!(key_of(load("key_rotation_days = 0")), "key_rotation_days");
    let config = load_env(
        "key_rotation_days = 90",
        &[
            ("BHEEM_SSO_KEY_REFRESH_SECONDS", "5"),
            ("BHEEM_SSO_KEY_ENCRYPTION_KEY", "a-kek-of-the-environment"),
        ],
    )
    .unwrap();
    assert_eq!(config.key_refresh_seconds, 5);
    assert_eq!(config.key_rotation_days, Some(90));
    assert_eq!(
        config.key_encryption_key.unwrap().expose_secret(),
        "a-kek-of-the-environment"
    );
    assert_eq!(
        key_of(load_env("", &[("BHEEM_SSO_KEY_ROTATION_DAYS", "monthly")])),
        "BHEEM_SSO_KEY_ROTATION_DAYS"
    );
    // Not in the file: a secret does not belong there.
    assert_eq!(
        key_of(load("key_encryption_key = \"a-kek-in-the-file\"")),
        "key_encryption_key"
    );
}
