//! Every problem of a file in one run, clients named by their id, and relative paths taken
//! from the file's folder. Beside `tests.rs`, which catalogues the refusals one at a time.

use std::path::{Path, PathBuf};

use super::*;

fn env_of(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn problems(text: &str, env: &[(&str, &str)]) -> Vec<String> {
    Config::from_parts(text, &env_of(env), ConfigSource::BuiltInDefaults)
        .expect_err("should be rejected")
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn every_problem_is_reported_in_one_run_one_line_each() {
    let text = r#"
        issuer = "https://sso.example.com/?x=1"
        listen = "localhost"
        [password]
        memory_kib = 16
        [[clients]]
        client_id = "bheem-docs"
        client_secret_env = "BHEEM_DOCS_SECRET"
        redirect_uris = ["https://docs.example.com/cb"]
        [[clients]]
        client_id = "bheem-mail"
        client_secret = "short"
        redirect_uris = ["/relative"]
    "#;
    let errors = Config::from_parts(text, &[], ConfigSource::BuiltInDefaults).unwrap_err();
    assert_eq!(
        errors.keys(),
        [
            "issuer",
            "listen",
            "password.memory_kib",
            r#"clients["bheem-docs"].client_secret_env"#,
            r#"clients["bheem-mail"].client_secret"#,
            r#"clients["bheem-mail"].redirect_uris"#,
        ]
    );
    let shown = errors.to_string();
    assert_eq!(shown.lines().count(), 6, "{shown}");
    assert!(
        shown.contains(
            r#"`clients["bheem-docs"].client_secret_env`: environment variable BHEEM_DOCS_SECRET is not set"#
        ),
        "{shown}"
    );
}

#[test]
fn a_secret_from_the_environment_names_its_variable_and_the_client() {
    let text = r#"
        [[clients]]
        client_id = "bheem-docs"
        client_secret_env = "BHEEM_DOCS_SECRET"
        redirect_uris = ["https://docs.example.com/cb"]
    "#;
    let empty = problems(text, &[("BHEEM_DOCS_SECRET", "")]);
    assert!(empty[0].contains("BHEEM_DOCS_SECRET is empty"), "{empty:?}");
    let short = problems(text, &[("BHEEM_DOCS_SECRET", "tooshort")]);
    assert!(
        short[0].contains(r#"clients["bheem-docs"].client_secret_env"#)
            && short[0].contains("BHEEM_DOCS_SECRET must be at least 16 characters")
            && !short[0].contains("tooshort"),
        "{short:?}"
    );
    let repeated = problems(text, &[("BHEEM_DOCS_SECRET", "xxxxxxxxxxxxxxxxxxxx")]);
    assert!(
        repeated[0].contains("one character repeated"),
        "{repeated:?}"
    );
}

#[test]
fn a_client_without_a_usable_id_is_named_by_its_position() {
    let text = r#"
        [[clients]]
        client_id = "bheem-docs"
        client_secret = "0123456789abcdef0123"
        redirect_uris = ["https://docs.example.com/cb"]
        [[clients]]
        client_id = "has space"
        client_secret = "0123456789abcdef0123"
        redirect_uris = ["https://x.example.com/cb"]
        [[clients]]
        client_id = "bheem-docs"
        client_secret = "0123456789abcdef0123"
        redirect_uris = ["https://docs.example.com/cb"]
    "#;
    let errors = Config::from_parts(text, &[], ConfigSource::BuiltInDefaults).unwrap_err();
    assert_eq!(
        errors.keys(),
        ["clients[1].client_id", "clients[2].client_id"]
    );
}

#[test]
fn environment_overrides_are_all_reported() {
    let keys: Vec<String> = Config::from_parts(
        "",
        &env_of(&[("BHEEM_SSO_ISUER", "x"), ("BHEEM_SSO_ACCESS_LOG", "maybe")]),
        ConfigSource::BuiltInDefaults,
    )
    .unwrap_err()
    .keys()
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(keys, ["BHEEM_SSO_ISUER", "BHEEM_SSO_ACCESS_LOG"]);
}

fn from_file(text: &str, env: &[(&str, &str)]) -> Config {
    let file = PathBuf::from("/etc/bheem-sso/bheem-sso.toml");
    Config::from_parts(text, &env_of(env), ConfigSource::File(file)).unwrap()
}

fn sqlite_file(config: &Config) -> Option<PathBuf> {
    config.database_url.sqlite_file()
}

#[test]
fn relative_paths_in_a_file_are_relative_to_the_file() {
    let config = from_file(
        "keys_dir = \"keys\"\ndatabase_url = \"sqlite:data/sso.db\"\n",
        &[],
    );
    assert_eq!(config.keys_dir, Path::new("/etc/bheem-sso/keys"));
    assert_eq!(
        sqlite_file(&config).as_deref(),
        Some(Path::new("/etc/bheem-sso/data/sso.db"))
    );
    let config = from_file("database_url = \"sqlite://data/sso.db?mode=rwc\"\n", &[]);
    assert_eq!(
        config.database_url.expose(),
        "sqlite:///etc/bheem-sso/data/sso.db?mode=rwc"
    );
}

#[test]
fn absolute_paths_memory_and_postgres_are_left_as_written() {
    let config = from_file(
        "keys_dir = \"/var/lib/sso/keys\"\ndatabase_url = \"sqlite:///var/lib/sso/sso.db\"\n",
        &[],
    );
    assert_eq!(config.keys_dir, Path::new("/var/lib/sso/keys"));
    assert_eq!(config.database_url.expose(), "sqlite:///var/lib/sso/sso.db");
    let memory = from_file("database_url = \"sqlite::memory:\"\n", &[]);
    assert_eq!(memory.database_url.expose(), "sqlite::memory:");
    assert_eq!(sqlite_file(&memory), None);
    let pg = from_file("database_url = \"postgres://u@db/sso\"\n", &[]);
    assert_eq!(pg.database_url.expose(), "postgres://u@db/sso");
}

/// A path typed at a shell prompt means the shell's current directory.
#[test]
fn relative_paths_from_the_environment_and_the_defaults_stay_relative_to_the_current_directory() {
    let config = from_file(
        "keys_dir = \"keys\"\n",
        &[
            ("BHEEM_SSO_KEYS_DIR", "my-keys"),
            ("BHEEM_SSO_DATABASE_URL", "sqlite://here/sso.db"),
        ],
    );
    assert_eq!(config.keys_dir, Path::new("my-keys"));
    assert_eq!(
        sqlite_file(&config).as_deref(),
        Some(Path::new("here/sso.db"))
    );
    let defaults = Config::from_parts("", &[], ConfigSource::BuiltInDefaults).unwrap();
    assert_eq!(defaults.keys_dir, Path::new("keys"));
    assert_eq!(
        sqlite_file(&defaults).as_deref(),
        Some(Path::new("data/bheem-sso.db"))
    );
    // A file in the current directory: the same folder either way.
    let here = Config::from_parts(
        "keys_dir = \"keys\"\n",
        &[],
        ConfigSource::File(PathBuf::from("bheem-sso.toml")),
    )
    .unwrap();
    assert_eq!(here.keys_dir, Path::new("keys"));
}
