//! Colour in the log is for a person at a terminal: the binary writing to a pipe (journald, a
//! file, a log shipper) writes no escape codes, `NO_COLOR` unset or not.

use std::process::{Command, Stdio};

#[test]
fn text_log_lines_written_to_a_pipe_carry_no_escape_codes() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_bheem-sso"));
        for (name, _) in std::env::vars() {
            if name.starts_with("BHEEM_SSO_") {
                command.env_remove(name);
            }
        }
        // Not NO_COLOR: the pipe alone must be enough.
        command
            .current_dir(dir.path())
            .env_remove("NO_COLOR")
            .env("RUST_LOG", "info")
            .env("BHEEM_SSO_LOG_FORMAT", "text")
            .arg("--dev")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .unwrap()
    };
    let migrated = run(&["migrate"]);
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    let out = run(&["keys", "rotate"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // The rotation's audit line, at least: there is something that could have been coloured.
    assert!(stderr.contains(" INFO "), "{stderr}");
    assert!(
        !out.stderr.contains(&0x1b),
        "an escape code in:\n{stderr:?}"
    );
}
