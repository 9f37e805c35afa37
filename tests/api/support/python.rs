//! The Python the tests run vendor tools with (LiveKit's SDK, botocore, moto): `$PYTHON`, else
//! `python3`.

use std::process::{Command, Stdio};

/// The Python to run, when it can `import` `modules` (`"livekit.api"`, `"moto.server, flask"`).
/// Without them: `None` with a message outside CI, where the test skips; a failure in CI, which
/// must run every test (`scripts/test` installs them). `package` and `purpose` are for the
/// messages: what to `pip install`, and what the test needs it for.
pub fn with_modules(modules: &str, package: &str, purpose: &str) -> Option<String> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let installed = Command::new(&python)
        .args(["-c", &format!("import {modules}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if installed {
        return Some(python);
    }
    if std::env::var_os("CI").is_none() {
        eprintln!(
            "SKIPPED: {package} is not installed for {python}; `pip install '{package}'` to run this test"
        );
        return None;
    }
    panic!("CI must {purpose}, but {python} has no {package}");
}
