//! The binary as an operator runs it, in a folder of its own with no configuration file: on the
//! built-in defaults, which admin commands take only with `--dev`, after `migrate` has made the
//! database. One file of about 450 lines: seven sessions at the command line sharing `run`, not
//! areas. What admin commands refuse is in `admin_commands`.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::admin_commands::{files_in, run_as_printed};
use crate::support::check_login;
use bheem_sso::clock::Clock;
use bheem_sso::config::DatabaseUrl;
use bheem_sso::directory::LocalDirectory;
use bheem_sso::login::{AuthOutcome, Failure};
use bheem_sso::password::Passwords;
use bheem_sso::store::sessions::SsoSession;
use bheem_sso::store::Db;

const COMPANY: &str = "0b6c1f0e-2f57-4f43-9a49-6a0e2f1f3c55";

/// The binary as installed: none of the caller's overrides, and not seen as run by cargo
/// (`cargo test` sets the variables `cargo run` sets, which would change the hints it prints).
pub fn bheem_sso(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bheem-sso"));
    command
        .current_dir(dir)
        .env("RUST_LOG", "info")
        .env_remove("CARGO")
        .env_remove("CARGO_PKG_NAME");
    for (name, _) in std::env::vars() {
        if name.starts_with("BHEEM_SSO_") {
            command.env_remove(name);
        }
    }
    command
}

pub fn run(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = bheem_sso(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command that refuses its arguments exits without reading its input, and may do so
    // before this write: the pipe is then closed, which is no failure of the test.
    match child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => panic!("writing to the command's input: {e}"),
    }
    child.wait_with_output().unwrap()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_explains_each_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let help = text(&run(dir.path(), &["--help"], "").stdout);
    for command in [
        "serve", "migrate", "users", "keys", "backup", "config", "--dev",
    ] {
        assert!(help.contains(command), "{command} missing from:\n{help}");
    }
    let config = text(&run(dir.path(), &["config", "--help"], "").stdout);
    assert!(config.contains("check"), "{config}");
    let users = text(&run(dir.path(), &["users", "add", "--help"], "").stdout);
    assert!(
        users.contains("--company-id") && users.contains("standard input"),
        "{users}"
    );
    let keys = text(&run(dir.path(), &["keys", "--help"], "").stdout);
    assert!(keys.contains("rotate") && keys.contains("list"), "{keys}");
}

#[tokio::test]
async fn users_add_reads_the_password_from_stdin_and_the_user_can_log_in() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run(dir.path(), &["--dev", "migrate"], "").status.success());
    let out = run(
        dir.path(),
        &[
            "--dev",
            "users",
            "add",
            "--email",
            "Ada@Example.com",
            "--name",
            "Ada Lovelace",
            "--company-id",
            COMPANY,
            "--username",
            "ada",
        ],
        "correct horse battery\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains("correct horse"));

    let listed = run(dir.path(), &["--dev", "users", "list"], "");
    assert!(
        text(&listed.stdout).contains("Ada@Example.com"),
        "{}",
        text(&listed.stdout)
    );

    let again = run(
        dir.path(),
        &[
            "--dev",
            "users",
            "add",
            "--email",
            "ada@example.com",
            "--name",
            "Ada",
            "--company-id",
            COMPANY,
        ],
        "another password\n",
    );
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("already exists"),
        "{}",
        text(&again.stderr)
    );

    let url = format!("sqlite://{}/data/bheem-sso.db", dir.path().display());
    let db = Db::connect(&DatabaseUrl::parse(&url).unwrap())
        .await
        .unwrap();
    let directory = LocalDirectory::new(db.clone(), Clock::System);
    let passwords = Passwords::new(&Default::default()).unwrap();
    let login = |who: &'static str, pw: &'static str| {
        let (directory, passwords) = (directory.clone(), passwords.clone());
        async move { check_login(&directory, &passwords, who, pw).await }
    };
    let AuthOutcome::Authenticated(user, _) = login("ADA", "correct horse battery").await else {
        panic!("login failed")
    };
    assert_eq!(user.company_id.to_string(), COMPANY);
    assert_eq!(user.role, "member");
    assert!(matches!(
        login("ada@example.com", "wrong horse battery").await,
        AuthOutcome::InvalidCredentials(Failure::WrongPassword(_))
    ));

    // An operator ends the user's sessions.
    let session = SsoSession::started("sid-1".into(), user.id.clone(), COMPANY.into(), 1, i64::MAX);
    db.create_sso_session(&session, &[]).await.unwrap();
    let logout = run(
        dir.path(),
        &["--dev", "users", "logout", "ada@example.com"],
        "",
    );
    assert!(
        text(&logout.stdout).contains("ended 1 session"),
        "{}",
        text(&logout.stderr)
    );
    assert!(db
        .sso_session("sid-1")
        .await
        .unwrap()
        .unwrap()
        .ended_at
        .is_some());
    let status = run(dir.path(), &["--dev", "provisioning", "status"], "");
    assert!(
        text(&status.stdout).contains("no jobs"),
        "{}",
        text(&status.stdout)
    );

    let disabled = run(dir.path(), &["--dev", "users", "disable", "ada"], "");
    assert!(disabled.status.success(), "{}", text(&disabled.stderr));
    assert!(matches!(
        login("ada", "correct horse battery").await,
        AuthOutcome::Inactive(_)
    ));
    db.close().await;
}

#[test]
fn users_add_rejects_bad_input_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run(dir.path(), &["--dev", "migrate"], "").status.success());
    let before = files_in(dir.path());
    let cases: [(&[&str], &str, &str); 4] = [
        (
            &[
                "--email",
                "not-an-email",
                "--name",
                "X",
                "--company-id",
                COMPANY,
            ],
            "long enough pw\n",
            "--email",
        ),
        (
            &[
                "--email",
                "x@example.com",
                "--name",
                "X",
                "--company-id",
                "acme",
            ],
            "long enough pw\n",
            "--company-id",
        ),
        (
            &[
                "--email",
                "x@example.com",
                "--name",
                "X",
                "--company-id",
                COMPANY,
            ],
            "short\n",
            "at least 8",
        ),
        (
            &[
                "--email",
                "x@example.com",
                "--name",
                "X",
                "--company-id",
                COMPANY,
                "--username",
                "a b",
            ],
            "long enough pw\n",
            "--username",
        ),
    ];
    for (args, stdin, expected) in cases {
        let mut full = vec!["--dev", "users", "add"];
        full.extend_from_slice(args);
        let out = run(dir.path(), &full, stdin);
        assert!(!out.status.success());
        assert!(
            text(&out.stderr).contains(expected),
            "{expected}: {}",
            text(&out.stderr)
        );
    }
    assert_eq!(files_in(dir.path()), before, "bad input created files");
    let listed = text(&run(dir.path(), &["--dev", "users", "list"], "").stdout);
    assert_eq!(listed.lines().count(), 1, "{listed}");
}

#[test]
fn keys_rotate_and_list_show_kid_algorithm_state_and_created() {
    let dir = tempfile::tempdir().unwrap();
    let no_database = run(dir.path(), &["--dev", "keys", "list"], "");
    assert!(!no_database.status.success());
    assert!(
        text(&no_database.stderr).contains("no database at"),
        "{}",
        text(&no_database.stderr)
    );
    assert!(run(dir.path(), &["--dev", "migrate"], "").status.success());
    // Listing reads the database only: the key-encryption key is not needed.
    let empty = run(dir.path(), &["--dev", "keys", "list"], "");
    assert!(
        text(&empty.stdout).contains("no keys"),
        "{}",
        text(&empty.stdout)
    );
    // On an empty database the first key is made, then the new one added, to sign later.
    assert!(run(dir.path(), &["--dev", "keys", "rotate"], "")
        .status
        .success());
    let listed = text(&run(dir.path(), &["--dev", "keys", "list"], "").stdout);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 3, "{listed}");
    assert!(
        lines[0].contains("kid")
            && lines[0].contains("alg")
            && lines[0].contains("state")
            && lines[0].contains("created")
    );
    assert!(
        lines[1].contains("RS256") && lines[1].contains("next: signs from"),
        "{listed}"
    );
    assert!(lines[2].contains("signing"), "{listed}");

    let now = run(dir.path(), &["--dev", "keys", "rotate", "--now"], "");
    assert!(now.status.success());
    assert!(
        text(&now.stdout).contains("reject its tokens until they fetch the JWKS again"),
        "{}",
        text(&now.stdout)
    );
    // The key-encryption key is not needed to list the keys, only to add one.
    let kek = dir.path().join("keys/encryption.key");
    std::fs::rename(&kek, dir.path().join("kek-elsewhere")).unwrap();
    let listed = text(&run(dir.path(), &["--dev", "keys", "list"], "").stdout);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 4, "{listed}");
    assert!(lines[1].contains("signing"), "{listed}");
    assert!(lines[2].contains("published until"), "{listed}");
    assert!(lines[3].contains("published until"), "{listed}");
    let refused = run(dir.path(), &["--dev", "keys", "rotate"], "");
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("holds the deployment's signing keys"),
        "{}",
        text(&refused.stderr)
    );
    assert!(!kek.exists(), "no KEK made while the database holds keys");
}

#[test]
fn an_invalid_config_stops_start_up_with_one_line_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    // Literal TOML on purpose: the file as an operator would write it, mistake and all.
    std::fs::write(
        dir.path().join("bheem-sso.toml"),
        "issuer = \"https://sso.example.com/?x=1\"\n",
    )
    .unwrap();
    let out = run(dir.path(), &["serve"], "");
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("`issuer`") && stderr.contains("query"),
        "{stderr}"
    );

    let out = bheem_sso(dir.path())
        .args(["migrate"])
        .env("BHEEM_SSO_DATABSE_URL", "x")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("BHEEM_SSO_DATABSE_URL"),
        "{}",
        text(&out.stderr)
    );
}

/// The README's first command, on a folder with nothing in it.
#[tokio::test]
async fn serve_on_the_embedded_default_answers_discovery_and_prints_the_first_user_hint() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = bheem_sso(dir.path())
        .arg("serve")
        .env("BHEEM_SSO_LISTEN", format!("127.0.0.1:{port}"))
        .env("BHEEM_SSO_ISSUER", format!("http://127.0.0.1:{port}"))
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
    let mut seen = String::new();
    while !seen.contains("users add") && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            seen.push_str(&line);
            seen.push('\n');
        }
    }
    assert!(
        seen.contains("No users yet") && seen.contains("bheem-sso --dev users add --email"),
        "{seen}"
    );
    // The hint is a command that works, as printed.
    let hint = seen
        .lines()
        .find(|line| line.contains("users add"))
        .unwrap()
        .trim();
    let added = run_as_printed(dir.path(), hint, "first user password\n");
    assert!(added.status.success(), "{hint}: {}", text(&added.stderr));
    let listed = text(&run(dir.path(), &["--dev", "users", "list"], "").stdout);
    assert!(listed.contains("you@example.com"), "{listed}");
    let doc: serde_json::Value = reqwest::get(format!(
        "http://127.0.0.1:{port}/.well-known/openid-configuration"
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(doc["issuer"], format!("http://127.0.0.1:{port}"));
    assert!(dir.path().join("data/bheem-sso.db").exists());
    // The keys are in the database; the folder holds the key-encryption key they need.
    let keys: Vec<_> = std::fs::read_dir(dir.path().join("keys"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(keys, ["encryption.key"]);
    // SIGTERM: graceful shutdown, exit 0.
    terminate(child.id());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

/// Signals sent as soon as the port takes connections meet their handlers: SIGHUP (reload the
/// keys) leaves the server running, SIGTERM shuts it down gracefully. Both used to be installed
/// only once serving had begun, so an early signal met the default action and killed the process.
#[tokio::test]
async fn signals_sent_as_soon_as_the_port_is_open_are_handled() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = bheem_sso(dir.path())
        .arg("serve")
        .env("BHEEM_SSO_LISTEN", format!("127.0.0.1:{port}"))
        .env("BHEEM_SSO_ISSUER", format!("http://127.0.0.1:{port}"))
        .stderr(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the server never opened its port"
        );
        assert!(child.try_wait().unwrap().is_none(), "the server exited");
    }
    // At once, not through kill(1): the window this test guards was under a millisecond wide.
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGHUP) }, 0);
    let doc: serde_json::Value = reqwest::get(format!(
        "http://127.0.0.1:{port}/.well-known/openid-configuration"
    ))
    .await
    .expect("the server should outlive a SIGHUP")
    .json()
    .await
    .unwrap();
    assert_eq!(doc["issuer"], format!("http://127.0.0.1:{port}"));
    assert!(
        child.try_wait().unwrap().is_none(),
        "SIGHUP ended the server"
    );
    terminate(child.id());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

fn terminate(pid: u32) {
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}
