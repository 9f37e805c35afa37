//! What an operator's command acts on, said before it acts, and refused when it is probably not
//! what the operator meant.
//!
//! Without a configuration file the provider runs on built-in development defaults (SQLite in
//! ./data, keys in ./keys). That is right for `cargo run -- serve` on a laptop, and wrong for
//! `bheem-sso users disable …` typed on a production host in a folder where the file is not:
//! the command would quietly create an empty database beside the operator, disable nobody, and
//! say it did. So each admin command first prints the configuration and the database it uses,
//! refuses the built-in defaults unless `--dev` says they are meant, and (SQLite) refuses a
//! database that does not exist yet instead of creating one. `migrate` is the command that
//! creates one; `serve` is unchanged.
//!
//! A command whose state is named by an environment override (`BHEEM_SSO_DATABASE_URL` for the
//! database, `BHEEM_SSO_KEYS_DIR` for the keys) is not acting on the defaults, file or no file:
//! an operator who configures by environment alone needs no `--dev`, which would say the
//! opposite of what they mean.

use std::path::Path;

use anyhow::bail;

use crate::config::{Config, ConfigSource};

/// What an admin command needs to exist before it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Needs {
    /// Opens the provider's database, which must exist already.
    Database,
    /// Creates the database if need be (`migrate`).
    CreatesDatabase,
    /// Opens the database and the key-encryption key, which is in the keys folder unless the
    /// environment holds it (`keys rotate`).
    KeysAndDatabase,
}

impl Needs {
    /// Whether the state this command acts on is the built-in defaults': no file, and no
    /// override naming it.
    fn on_defaults(self, config: &Config, env: &[(String, String)]) -> bool {
        let named = |var: &str| env.iter().any(|(k, v)| k == var && !v.is_empty());
        let database = named("BHEEM_SSO_DATABASE_URL");
        let keys = named("BHEEM_SSO_KEYS_DIR") || named("BHEEM_SSO_KEY_ENCRYPTION_KEY");
        config.source == ConfigSource::BuiltInDefaults
            && match self {
                Needs::Database | Needs::CreatesDatabase => !database,
                Needs::KeysAndDatabase => !(database && keys),
            }
    }
}

/// Prints what `command` acts on (one line on stderr), then refuses what it must not act on.
/// `env` is the process environment ([`Config::process_env`]).
pub fn announce_and_check(
    config: &Config,
    command: &str,
    needs: Needs,
    dev: bool,
    env: &[(String, String)],
) -> anyhow::Result<()> {
    eprintln!("{}", announcement(config, needs));
    if needs.on_defaults(config, env) && !dev {
        let here = std::env::current_dir()
            .map(|dir| format!(" in {}", dir.display()))
            .unwrap_or_default();
        bail!(
            "refusing to run `{command}` on the built-in development defaults (database {}, \
             keys folder {}{here}): no configuration file was found (--config, \
             BHEEM_SSO_CONFIG, ./bheem-sso.toml). Name it with --config FILE or \
             BHEEM_SSO_CONFIG, or pass --dev to really use ./data and ./keys",
            config.database_url.redacted(),
            config.keys_dir.display(),
        );
    }
    if matches!(needs, Needs::Database | Needs::KeysAndDatabase) {
        if let Some(file) = config.database_url.sqlite_file() {
            if !file.is_file() {
                bail!(
                    "no database at {}; start `serve` or run `migrate` first",
                    file.display()
                );
            }
        }
    }
    Ok(())
}

fn announcement(config: &Config, needs: Needs) -> String {
    match needs {
        Needs::KeysAndDatabase => format!(
            "configuration: {}; database: {}; keys: {}",
            config.source,
            config.database_url.redacted(),
            config.keys_dir.display()
        ),
        Needs::Database | Needs::CreatesDatabase => format!(
            "configuration: {}; database: {}",
            config.source,
            config.database_url.redacted()
        ),
    }
}

/// How the operator started this process: decides how a command they should type next is
/// written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invocation {
    /// `cargo run -- …`, in the source tree.
    Cargo,
    /// The installed binary.
    Installed,
}

impl Invocation {
    /// `cargo run` sets `CARGO` (the path of cargo) and `CARGO_PKG_NAME` for the program it
    /// runs; an installed binary started from a shell has neither, unless that shell is itself
    /// run by cargo for another package, which the package name tells apart.
    pub fn from_env(env: &[(String, String)]) -> Self {
        let var = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        match (var("CARGO"), var("CARGO_PKG_NAME")) {
            (Some(cargo), Some(package))
                if !cargo.is_empty() && package == env!("CARGO_PKG_NAME") =>
            {
                Self::Cargo
            }
            _ => Self::Installed,
        }
    }
}

/// A command line that runs `args` on the same configuration this process used: with
/// `--config FILE` when a file was used, `--dev` on the built-in defaults.
pub fn command_line(invocation: Invocation, source: &ConfigSource, args: &str) -> String {
    let program = match invocation {
        Invocation::Cargo => "cargo run --",
        Invocation::Installed => "bheem-sso",
    };
    match source {
        ConfigSource::File(path) => {
            format!("{program} --config {} {args}", shell_word(path))
        }
        ConfigSource::BuiltInDefaults => format!("{program} --dev {args}"),
    }
}

/// The path as one shell word: quoted when it holds anything a shell would split or expand.
fn shell_word(path: &Path) -> String {
    let text = path.display().to_string();
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+,:@%".contains(c));
    if plain {
        text
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn only_state_named_by_neither_a_file_nor_an_override_is_the_defaults() {
        let defaults = Config::from_parts("", &[], ConfigSource::BuiltInDefaults).unwrap();
        let database = env(&[("BHEEM_SSO_DATABASE_URL", "sqlite:///srv/sso.db")]);
        assert!(Needs::Database.on_defaults(&defaults, &[]));
        assert!(!Needs::Database.on_defaults(&defaults, &database));
        assert!(Needs::KeysAndDatabase.on_defaults(&defaults, &database));
        let database_and_kek = env(&[
            ("BHEEM_SSO_DATABASE_URL", "sqlite:///srv/sso.db"),
            ("BHEEM_SSO_KEY_ENCRYPTION_KEY", "a key"),
        ]);
        assert!(!Needs::KeysAndDatabase.on_defaults(&defaults, &database_and_kek));
        let empty = env(&[("BHEEM_SSO_DATABASE_URL", "")]);
        assert!(Needs::Database.on_defaults(&defaults, &empty));
        let file = ConfigSource::File(PathBuf::from("/etc/bheem-sso/bheem-sso.toml"));
        let from_file = Config::from_parts("", &[], file).unwrap();
        assert!(!Needs::KeysAndDatabase.on_defaults(&from_file, &[]));
    }

    #[test]
    fn cargo_run_is_told_apart_from_the_installed_binary() {
        let by_cargo = env(&[
            ("CARGO", "/home/me/.cargo/bin/cargo"),
            ("CARGO_PKG_NAME", "bheem-sso"),
        ]);
        assert_eq!(Invocation::from_env(&by_cargo), Invocation::Cargo);
        assert_eq!(Invocation::from_env(&[]), Invocation::Installed);
        let other_package = env(&[("CARGO", "/usr/bin/cargo"), ("CARGO_PKG_NAME", "other")]);
        assert_eq!(Invocation::from_env(&other_package), Invocation::Installed);
    }

    #[test]
    fn the_command_names_the_configuration_it_needs() {
        let file = ConfigSource::File(PathBuf::from("/etc/bheem-sso/bheem-sso.toml"));
        assert_eq!(
            command_line(Invocation::Installed, &file, "users list"),
            "bheem-sso --config /etc/bheem-sso/bheem-sso.toml users list"
        );
        assert_eq!(
            command_line(
                Invocation::Cargo,
                &ConfigSource::BuiltInDefaults,
                "users list"
            ),
            "cargo run -- --dev users list"
        );
        let spaced = ConfigSource::File(PathBuf::from("my conf/it's.toml"));
        assert_eq!(
            command_line(Invocation::Installed, &spaced, "users list"),
            r"bheem-sso --config 'my conf/it'\''s.toml' users list"
        );
    }
}
