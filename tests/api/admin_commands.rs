//! What admin commands act on: each says it first (one line on stderr), refuses the built-in
//! development defaults without `--dev`, refuses a SQLite database that does not exist instead
//! of creating one (`migrate` creates it), and finds a configuration file's relative paths
//! beside the file. And the first-user hint of `serve`, a command that works as printed.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::cli::{bheem_sso, run, text};
use crate::support::{ClientSpec, TestApp, TestConfig};

const DEFAULTS: &str =
    "configuration: built-in development defaults; database: sqlite://data/bheem-sso.db";

/// Every admin command, with the first line it prints on the built-in defaults.
fn admin_commands() -> Vec<(Vec<&'static str>, String)> {
    let database = |args: &[&'static str]| (args.to_vec(), DEFAULTS.to_owned());
    vec![
        database(&["migrate"]),
        database(&["users", "list"]),
        database(&["users", "disable", "ada@example.com"]),
        database(&["provisioning", "status"]),
        database(&["audit"]),
        database(&["backup", "--to", "copy.db"]),
        database(&["keys", "list"]),
        (vec!["keys", "rotate"], format!("{DEFAULTS}; keys: keys")),
    ]
}

#[test]
fn admin_commands_refuse_the_built_in_defaults_without_dev_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for (args, first_line) in admin_commands() {
        let out = run(dir.path(), &args, "");
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().next(), Some(first_line.as_str()), "{args:?}");
        assert!(
            stderr.contains("built-in development defaults")
                && stderr.contains("--config FILE")
                && stderr.contains("BHEEM_SSO_CONFIG")
                && stderr.contains("--dev"),
            "{args:?}: {stderr}"
        );
    }
    assert_eq!(files_in(dir.path()), Vec::<String>::new());
}

#[test]
fn with_dev_a_missing_database_is_refused_not_created_until_migrate_makes_it() {
    let dir = tempfile::tempdir().unwrap();
    for (args, _) in admin_commands() {
        if args[0] == "migrate" || args == ["keys", "list"] {
            continue;
        }
        let mut dev = vec!["--dev"];
        dev.extend(&args);
        let out = run(dir.path(), &dev, "");
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{args:?}: {stderr}");
        assert!(
            stderr
                .contains("no database at data/bheem-sso.db; start `serve` or run `migrate` first"),
            "{args:?}: {stderr}"
        );
    }
    assert_eq!(files_in(dir.path()), Vec::<String>::new());

    let migrated = run(dir.path(), &["--dev", "migrate"], "");
    assert!(migrated.status.success(), "{}", text(&migrated.stderr));
    assert!(dir.path().join("data/bheem-sso.db").is_file());
    let listed = run(dir.path(), &["--dev", "users", "list"], "");
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    assert_eq!(text(&listed.stderr).lines().next(), Some(DEFAULTS));
}

/// An operator who configures by environment alone has named the database: no `--dev`.
#[test]
fn a_database_named_by_an_environment_override_needs_no_dev() {
    let dir = tempfile::tempdir().unwrap();
    let out = bheem_sso(dir.path())
        .arg("migrate")
        .env("BHEEM_SSO_DATABASE_URL", "sqlite://state/sso.db")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr).lines().next(),
        Some("configuration: built-in development defaults; database: sqlite://state/sso.db")
    );
    // Relative to the current directory, as a path typed at a shell prompt is.
    assert!(dir.path().join("state/sso.db").is_file());
}

#[test]
fn relative_paths_in_a_configuration_file_are_found_beside_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("conf")).unwrap();
    std::fs::create_dir_all(dir.path().join("work")).unwrap();
    std::fs::write(
        dir.path().join("conf/sso.toml"),
        "database_url = \"sqlite:data/sso.db\"\nkeys_dir = \"keys\"\n",
    )
    .unwrap();
    let work = dir.path().join("work");
    let migrated = run(&work, &["--config", "../conf/sso.toml", "migrate"], "");
    assert!(migrated.status.success(), "{}", text(&migrated.stderr));
    assert_eq!(
        text(&migrated.stderr).lines().next(),
        Some("configuration: ../conf/sso.toml; database: sqlite://../conf/data/sso.db")
    );
    let rotated = run(
        &work,
        &["--config", "../conf/sso.toml", "keys", "rotate"],
        "",
    );
    assert!(rotated.status.success(), "{}", text(&rotated.stderr));
    assert!(dir.path().join("conf/data/sso.db").is_file());
    assert_eq!(
        std::fs::read_dir(dir.path().join("conf/keys"))
            .unwrap()
            .count(),
        1
    );
    assert_eq!(
        files_in(&work),
        Vec::<String>::new(),
        "nothing in the current directory"
    );
}

/// Run by cargo, on a configuration file: the hint says `cargo run -- --config FILE`, and the
/// rest of it works as printed.
#[test]
fn the_first_user_hint_names_the_file_and_cargo_when_run_by_cargo() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::create_dir_all(dir.path().join("conf")).unwrap();
    std::fs::write(
        dir.path().join("conf/sso.toml"),
        format!(
            "issuer = \"http://127.0.0.1:{port}\"\nlisten = \"127.0.0.1:{port}\"\n\
             database_url = \"sqlite://data/sso.db\"\n"
        ),
    )
    .unwrap();
    let mut child = bheem_sso(dir.path())
        .args(["--config", "conf/sso.toml", "serve"])
        .env("CARGO", "/usr/local/bin/cargo")
        .env("CARGO_PKG_NAME", "bheem-sso")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut hint = None;
    while hint.is_none() && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            hint = line.contains("users add").then(|| line.trim().to_owned());
        }
    }
    let hint = hint.expect("no first-user hint");
    let rest = hint
        .strip_prefix("cargo run -- --config conf/sso.toml users add --email")
        .unwrap_or_else(|| panic!("{hint}"));
    let added = run_as_printed(
        dir.path(),
        &format!("bheem-sso --config conf/sso.toml users add --email{rest}"),
        "first user password\n",
    );
    assert!(added.status.success(), "{}", text(&added.stderr));
    let _ = child.kill();
    let _ = child.wait();
    assert!(dir.path().join("conf/data/sso.db").is_file());
}

/// Downstream services and the database as `config check` sees them: any HTTP answer counts (a
/// 404 too), a port nobody listens on is a problem named by its key, as is a database that does
/// not answer and a secret variable that is set but empty.
#[tokio::test]
async fn config_check_names_each_service_that_does_not_answer() {
    let Some(h) = TestApp::builder().start().await else {
        return;
    };
    let closed = || {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let (nextcloud, database, docs, calendar) = (closed(), closed(), closed(), closed());
    let dir = tempfile::tempdir().unwrap();
    let mut config = TestConfig::default();
    config
        .set(
            "database_url",
            format!("postgres://nobody@127.0.0.1:{database}/sso"),
        )
        .set(
            "provisioning.nextcloud.url",
            format!("http://127.0.0.1:{nextcloud}"),
        )
        .set("provisioning.nextcloud.admin_user", "admin")
        .set(
            "provisioning.nextcloud.admin_password",
            "nextcloud-admin-pw",
        )
        .set("provisioning.mailcow.url", h.app.url("/no-such-page"))
        .set("provisioning.mailcow.api_key_env", "MAILCOW_KEY_FOR_CHECK")
        .set("provisioning.mailcow.domain", "example.com")
        .set("docs.nextcloud_url", format!("http://127.0.0.1:{docs}"))
        .set(
            "calendar.nextcloud_url",
            format!("http://127.0.0.1:{calendar}"),
        )
        .client(
            ClientSpec::new("bheem-mail")
                .secret("a-long-enough-mail-secret")
                .redirect_uri("https://mail.example.com/cb")
                .backchannel_logout_uri(h.app.url("/logout-here")),
        );
    let file = dir.path().join("sso.toml");
    std::fs::write(&file, config.to_string()).unwrap();
    let mut check = bheem_sso(dir.path());
    check
        .args(["config", "check", "--config"])
        .arg(&file)
        .env("MAILCOW_KEY_FOR_CHECK", "");
    // Awaited, not waited for: the app it asks runs on this test's runtime.
    let out = tokio::process::Command::from(check).output().await.unwrap();
    let stdout = text(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    let problems: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("problem: "))
        .collect();
    let keys: Vec<&str> = problems
        .iter()
        .map(|l| l.split('`').nth(1).unwrap_or_default())
        .collect();
    assert_eq!(
        keys,
        [
            "provisioning.mailcow.api_key_env",
            "database_url",
            "provisioning.nextcloud.url",
            "docs.nextcloud_url",
            "calendar.nextcloud_url"
        ],
        "{stdout}"
    );
    assert!(
        problems[0].contains("environment variable MAILCOW_KEY_FOR_CHECK is empty"),
        "{stdout}"
    );
    assert!(problems[1].contains("does not answer"), "{stdout}");
    assert!(
        problems[2].contains(&format!("http://127.0.0.1:{nextcloud} does not answer")),
        "{stdout}"
    );
    assert!(
        problems[3].contains(&format!(
            "http://127.0.0.1:{docs}/status.php does not answer"
        )),
        "{stdout}"
    );
    assert!(
        problems[4].contains(&format!(
            "http://127.0.0.1:{calendar}/status.php does not answer"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "ok: {} answers (404 Not Found)",
            h.app.url("/logout-here")
        )),
        "{stdout}"
    );
    assert!(!stdout.contains("nextcloud-admin-pw"), "{stdout}");
}

#[test]
fn config_check_opens_the_signing_keys_with_the_key_encryption_key_as_start_up_would() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sso.toml");
    std::fs::write(
        &file,
        "database_url = \"sqlite://sso.db\"\nkeys_dir = \"keys\"\n",
    )
    .unwrap();
    let config = file.to_str().unwrap();
    assert!(run(dir.path(), &["migrate", "--config", config], "")
        .status
        .success());
    let check = |kek: Option<&str>| {
        let mut command = bheem_sso(dir.path());
        command.args(["config", "check", "--config", config]);
        if let Some(kek) = kek {
            command.env("BHEEM_SSO_KEY_ENCRYPTION_KEY", kek);
        }
        let out = command.output().unwrap();
        (out.status.success(), text(&out.stdout))
    };
    let (ok, stdout) = check(None);
    assert!(ok, "{stdout}");
    assert!(stdout.contains("no signing keys yet"), "{stdout}");

    // The first key, and the KEK file beside it, as the first start makes them.
    assert!(run(dir.path(), &["keys", "rotate", "--config", config], "")
        .status
        .success());
    let (ok, stdout) = check(None);
    assert!(ok, "{stdout}");
    assert!(
        stdout.contains("signing key(s) in the database, decrypted with the key-encryption key"),
        "{stdout}"
    );

    // Another KEK, from the environment, which wins over the file: the keys do not open.
    use base64::Engine;
    let other = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>());
    let (ok, stdout) = check(Some(&other));
    assert!(!ok, "{stdout}");
    assert!(
        stdout.contains("problem: `key_encryption_key`:")
            && stdout.contains("does not decrypt them"),
        "{stdout}"
    );
    assert!(!stdout.contains(&other), "{stdout}");

    // No KEK at all: the file moved away.
    std::fs::rename(
        dir.path().join("keys/encryption.key"),
        dir.path().join("kek-elsewhere"),
    )
    .unwrap();
    let (ok, stdout) = check(None);
    assert!(!ok, "{stdout}");
    assert!(
        stdout.contains("problem: `key_encryption_key`:") && stdout.contains("does not exist"),
        "{stdout}"
    );
}

/// The files under `dir`, with the folders they are in, sorted: SQLite's -wal and -shm files
/// left out, which come and go with connections.
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut folders = vec![dir.to_owned()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            let name = path.strip_prefix(dir).unwrap().display().to_string();
            if path.is_dir() {
                folders.push(path);
            }
            if !name.ends_with("-wal") && !name.ends_with("-shm") {
                found.push(name);
            }
        }
    }
    found.sort();
    found
}

/// Runs a command line printed for an operator, `bheem-sso …`, through a shell, with this
/// build's binary for `bheem-sso`, in the environment [`bheem_sso`] gives it.
pub fn run_as_printed(dir: &Path, line: &str, stdin: &str) -> Output {
    let args = line
        .strip_prefix("bheem-sso ")
        .unwrap_or_else(|| panic!("not a bheem-sso command: {line}"));
    let mut shell = Command::new("sh");
    shell
        .current_dir(dir)
        .arg("-c")
        .arg(format!("exec \"$SSO_BINARY\" {args}"))
        .env("SSO_BINARY", env!("CARGO_BIN_EXE_bheem-sso"))
        .env("RUST_LOG", "info")
        .env_remove("CARGO")
        .env_remove("CARGO_PKG_NAME");
    for (name, _) in std::env::vars() {
        if name.starts_with("BHEEM_SSO_") {
            shell.env_remove(name);
        }
    }
    let mut child = shell
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}
